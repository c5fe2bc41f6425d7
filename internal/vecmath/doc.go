// Package vecmath is vectorised float32 math over slices for the runtime's activation and
// softmax kernels: Exp, Sigmoid, Tanh, Erf, GELU (erf form, x·Φ(x)), GELUTanh, HardSwish, Relu, Clamp,
// the softmax row helpers Max, ExpSumShifted(To) and Scale, the layer normalisation row helpers
// MeanVar and Normalize, MaxInto (elementwise max of two rows, for max pooling), Pool2D
// (2-D max and average pools of whole planes) and MaxPool2x2, and the
// float32 arithmetic of ONNX Add/Sub/Mul/Div: Arith (x[i] op y[i]), ArithScalar (x[i] op s) and
// ScalarArith (s op x[i]).
//
// On amd64 with AVX2 and FMA they run in avo-generated assembly (asm/gen.go → vecmath_amd64.s),
// 8 lanes at a time, the last partial block through masked loads and stores; other CPUs and
// other architectures use pure-Go versions of the same algorithms (scalar.go). On CPUs with
// AVX512F the softmax row helpers Max, ExpSumShifted(To) and Scale (asm/avx512.go) and the
// elementwise Exp, Sigmoid, Tanh, Erf, GELU, GELUTanh and HardSwish (asm/unary512.go) run 16
// lanes at a time, the tail under an opmask, with the same results as the AVX2 kernels (the
// elementwise ones and the exponentials bit for bit); a softmax row of 197 (BenchmarkSoftmaxRows)
// then takes ≈ 130 ns instead of ≈ 215 with AVX2. The polynomial coefficients come from fit.go
// (`go run fit.go`). Every function accepts dst == src (in place); other overlaps are not
// allowed, and dst must be at least as long as src.
//
// Throughput on a 64 KiB buffer (BenchmarkKernels, one core of a shared AMD EPYC, best of 4), in
// ns/element with AVX-512 (AVX2 in brackets): Exp 0.21 (0.41; a plain copy ≈ 0.07), Sigmoid
// 0.34 (0.81), Tanh 0.51 (1.1), Erf 0.66 (1.0), GELU 0.68 (0.93), GELUTanh 0.57 (1.07),
// HardSwish 0.08 (0.10); AVX2 only: Relu and Clamp 0.08–0.09, Arith 0.12 (Div included),
// ArithScalar 0.08. The pure-Go kernels are 4–30× slower (Clamp's branchy Go loop 2.6
// ns/element on random data, Arith's loops 0.5–1.1).
//
// Accuracy, measured by the tests against package math in float64 over the whole float32 range
// (dense sweeps plus NaN, ±Inf, ±0, denormals and huge magnitudes); "relative" holds for results
// that are normal floats, denormal results are within a few units of 2^−149:
//   - Exp: ≤ 1.5e-7 relative (measured 8.2e-8). Exactly 0 below −103.97, +Inf above 88.72.
//   - Sigmoid: ≤ 3e-7 relative on both sides (measured 1.9e-7; 2.03e-7 over every float32 of
//     magnitude 1e-8 to 86); the negative side is e/(1+e) with e = e^x, so there is no 1 − …
//     cancellation. Its e^−|x| has no upper clamp and a polynomial one term shorter than Exp's
//     (coeffs.SigmoidExpPoly, 3.8e-9): Sigmoid and SiLU ≈ 13% faster, the same worst errors.
//     That polynomial runs by Horner's rule to its constant term (two multiply-adds where
//     Exp's p·r² + r + 1 takes three operations): 2.00e-7 over every float32 of magnitude 1e-8
//     to 86 (2.03e-7 before).
//   - SiLU: x·σ(x), ≤ 4e-7 relative (2.32e-7 over every float32 of magnitude 1e-8 to 86; 2.49e-7
//     as Sigmoid's result times x); where σ(x) is subnormal (x < −87) its few units of 2^−149
//     are multiplied by |x|. Computed as x/(1+e), the dividend x·e where x < 0, e = e^−|x|:
//     four vector operations after e instead of Sigmoid's five and a product, ≈ 8% less time
//     over EfficientNet's 1.2 M-value expansion (BenchmarkExpandDepthwiseEfficientNet's silu,
//     CPU time, 4 alternating runs, Zen 5, load 12: 270–298 → 252–269 µs).
//   - Tanh: ≤ 3e-7 relative (measured 1.5e-7).
//   - Erf: ≤ 4e-7 relative (measured 3.5e-7): a polynomial in x² for |x| < 0.5, so small
//     arguments keep full relative accuracy; 1 − e^(−x²)·R beyond.
//   - GELU: ≤ 6e-7 relative everywhere (measured 4.6e-7), the negative tail included: Φ(−u) is
//     computed directly as ½·e^(−u²/2)·R(u), R a degree-8 polynomial in 1/(1 + 0.3u), with
//     −u²/2 split exactly into two floats. GELU(−Inf) = −0 (the limit), GELU(+Inf) = +Inf.
//   - GELUTanh: ≤ 4e-7·max(1, 2|z|) relative (measured 2.5e-7 where 2|z| ≤ 1), z the tanh
//     argument √(2/π)(x + 0.044715x³): z is rounded to float32 before e^(2z) magnifies that by
//     2|z| in the negative tail (about 1e-5 relative at x = −6, where results are ~1e-12).
//     Computed as x·σ(2z), so the negative side does not cancel. GELUTanh(−Inf) = −0.
//   - HardSwish: x·clip(x/6 + ½, 0, 1) in float32 as the ONNX reference computes it; near x = −3
//     the clip argument cancels, so the error is ≤ 2.5e-7 relative plus 2e-7·|x| absolute.
//   - ExpSumShifted: each exponential as Exp; the sum in float32 over 8 lanes (32 with
//     AVX-512).
//   - Arith, ArithScalar, ScalarArith: exact, one IEEE operation per element as in Go.
//   - Relu, MaxInto, MaxPool2x2 and Pool2D's max pools: exact, with Go's max semantics (NaN
//     wins, max(−0, +0) = +0). Pool2D's averages: float32 sums in a fixed order (each window
//     column, then the columns left to right) divided by the count, the same bits on every level.
//   - Clamp: exact, as the comparisons x < lo ? lo : x, then x > hi ? hi : x (NaN input kept,
//     NaN bounds ignored, −0 kept against a zero bound, lo > hi gives hi).
//   - MeanVar: two passes summing in float64 (the second over squared deviations from the
//     mean), so the mean is within ~1e-15 of the mean magnitude and the variance within ~1e-15
//     relative (tested ≤ 1e-14 and 1e-13), however large the mean against the spread.
//   - Normalize: a few float32 roundings of (x − mean)·invStd·gamma and of beta (≤ 5e-7
//     relative to their magnitudes); the mean is subtracted as a float32 and then the rest
//     it rounded off.
//
// NaN inputs give NaN outputs everywhere (Max returns NaN if any element is NaN, MeanVar NaN
// for both results if any element is NaN or infinite).
package vecmath

//go:generate go run ./asm -out vecmath_amd64.s -stubs stub_amd64.go -pkg vecmath
