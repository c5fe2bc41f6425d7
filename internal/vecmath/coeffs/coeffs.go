// Package coeffs holds the polynomial coefficients and range constants of package vecmath's
// elementwise functions, in one place for both the pure-Go kernels and the assembly generator
// (vecmath/asm). They come from vecmath's fit.go: least squares refined by Lawson's iteration
// to the minimax relative error, against package math in float64.
package coeffs

// e^r = 1 + r + r²·(expP0 + expP1·r + … + expP5·r⁵) on |r| ≤ ln2/2: 1.1e-9 relative.
var ExpPoly = [...]float32{0.5, 0.166666657, 0.0416662954, 0.00833349675, 0.00139446498, 0.000197903573}

// e^r = 1 + r + r²·(sigP0 + sigP1·r + … + sigP4·r⁴) on |r| ≤ ln2/2: 3.8e-9 relative, for Sigmoid
// and SiLU: one multiply-add fewer than ExpPoly and still far below float32's rounding (one
// term fewer, 1.1e-7, took Sigmoid to 2.999e-7 against its 3e-7 bound).
var SigmoidExpPoly = [...]float32{0.49999994, 0.166665211, 0.041668389, 0.00836871006, 0.00138146104}

// tanh(x) = x + x³·(tanhP0 + tanhP1·x² + …) on |x| ≤ TanhSmall: 8.6e-9 relative.
var TanhPoly = [...]float32{-0.333332807, 0.133314416, -0.0537397154, 0.0206390899, -0.00570499059}

// erf(a) = a·(erfP0 + erfP1·a² + …) on |a| ≤ ErfSmall: 5.8e-8 relative (erfP0 = 2/√π rounded).
var ErfPoly = [...]float32{1.12837923, -0.376126379, 0.112837739, -0.0268631205, 0.00520031201, -0.000769290491}

// erfc(u/√2)·e^(u²/2) = Σ erfcR_k·t^k with t = 1/(1 + ErfcT·u), for u in [0, UMax]: 7.1e-8
// relative. Multiplied by e^(−u²/2) this gives 2·Φ(−u), the normal tail GELU needs, with
// relative accuracy all the way out (no 1 − erf cancellation).
var ErfcPoly = [...]float32{1.49908828e-05, 0.238964185, 0.243920922, 0.189052179, 0.285812616,
	-0.154089406, 0.458263338, -0.338789582, 0.0768508017}

const (
	ErfcT = 0.3
	// UMax bounds u = |x| in the erfc tail: Φ(−15) ≈ 3.7e−51 is far below float32's smallest
	// denormal, so larger |x| give the same float32 results.
	UMax = 15

	TanhSmall = 0.625
	ErfSmall  = 0.5

	// exp's clamp: below ExpLo the result rounds to 0 (e^−104 < 2^−150), above ExpHi it
	// overflows to +Inf; clamping keeps n = round(x·log2 e) in [−150, 129].
	ExpLo = -104
	ExpHi = 89

	Log2e = 1.44269504088896341
	// ln2 in two parts: Ln2Hi has 9 significant bits, so n·Ln2Hi is exact for |n| < 2^15 and
	// x − n·Ln2Hi loses nothing.
	Ln2Hi = 0.693359375
	Ln2Lo = -2.12194440e-4

	// GeluTanhC is √(2/π) and GeluTanhK the cubic coefficient of GELU's tanh form.
	GeluTanhC = 0.7978845608028654
	GeluTanhK = 0.044715
	// GeluTanhLo: below it the tanh-form GELU is 0 in float32 (the input is clamped there so
	// that −Inf gives −0 rather than −Inf·0 = NaN).
	GeluTanhLo = -20
)
