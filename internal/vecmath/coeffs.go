package vecmath

// Polynomial coefficients shared by the pure-Go kernels and the assembly (asm/gen.go imports
// nothing from here, so it repeats them; TestAsmConstants pins the two copies together). They
// come from fit.go: least squares refined by Lawson's iteration to the minimax relative error,
// against package math in float64.

// e^r = 1 + r + r²·(expP0 + expP1·r + … + expP5·r⁵) on |r| ≤ ln2/2: 1.1e-9 relative.
var expPoly = [...]float32{0.5, 0.166666657, 0.0416662954, 0.00833349675, 0.00139446498, 0.000197903573}

// tanh(x) = x + x³·(tanhP0 + tanhP1·x² + …) on |x| ≤ tanhSmall: 8.6e-9 relative.
var tanhPoly = [...]float32{-0.333332807, 0.133314416, -0.0537397154, 0.0206390899, -0.00570499059}

// erf(a) = a·(erfP0 + erfP1·a² + …) on |a| ≤ erfSmall: 5.8e-8 relative (erfP0 = 2/√π rounded).
var erfPoly = [...]float32{1.12837923, -0.376126379, 0.112837739, -0.0268631205, 0.00520031201, -0.000769290491}

// erfc(u/√2)·e^(u²/2) = Σ erfcR_k·t^k with t = 1/(1 + erfcT·u), for u in [0, uMax]: 7.1e-8
// relative. Multiplied by e^(−u²/2) this gives 2·Φ(−u), the normal tail GELU needs, with
// relative accuracy all the way out (no 1 − erf cancellation).
var erfcPoly = [...]float32{1.49908828e-05, 0.238964185, 0.243920922, 0.189052179, 0.285812616,
	-0.154089406, 0.458263338, -0.338789582, 0.0768508017}

const (
	erfcT = 0.3
	// uMax bounds u = |x| in the erfc tail: Φ(−15) ≈ 3.7e−51 is far below float32's smallest
	// denormal, so larger |x| give the same float32 results.
	uMax = 15

	tanhSmall = 0.625
	erfSmall  = 0.5

	// exp's clamp: below expLo the result rounds to 0 (e^−104 < 2^−150), above expHi it
	// overflows to +Inf; clamping keeps n = round(x·log2 e) in [−150, 129].
	expLo = -104
	expHi = 89

	log2e = 1.44269504088896341
	// ln2 in two parts: ln2Hi has 9 significant bits, so n·ln2Hi is exact for |n| < 2^15 and
	// x − n·ln2Hi loses nothing.
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4

	// geluTanhC is √(2/π) and geluTanhK the cubic coefficient of GELU's tanh form.
	geluTanhC = 0.7978845608028654
	geluTanhK = 0.044715
	// geluTanhLo: below it the tanh-form GELU is 0 in float32 (the input is clamped there so
	// that −Inf gives −0 rather than −Inf·0 = NaN).
	geluTanhLo = -20
)
