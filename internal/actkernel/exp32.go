package actkernel

import (
	"math"

	"github.com/actswap/actswap/internal/actkernel/coeffs"
)

// exp32 is e^x in float32 by the Cephes expf scheme, the same steps as the AVX2 kernels so that
// both paths round alike: clamp x to [expLo, expHi], n = x·log2 e rounded to nearest even, r = x − n·ln2 (ln2 split
// in two for an exact product), e^r by a degree-7 minimax polynomial on |r| ≤ ln2/2, times 2^n.
// Relative error ≤ 2 ulp (≈ 2.4e-7) on the clamped range (Cephes expf documents 1.0e-7 peak over
// ±88 in IEEE arithmetic; the FMA form here only rounds less). Inputs below expLo return
// e^expLo ≈ 1.6e-38 instead of a smaller number or 0; callers guard where that matters.
func exp32(x float32) float32 {
	x = min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - n*ln2Hi
	r = r - n*ln2Lo
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// The constants are package coeffs's, shared with the generated assembly.
const (
	expLo = coeffs.ExpLo
	expHi = coeffs.ExpHi
	log2e = coeffs.Log2e
	ln2Hi = coeffs.Ln2Hi
	ln2Lo = coeffs.Ln2Lo
	expP0 = coeffs.ExpP0
	expP1 = coeffs.ExpP1
	expP2 = coeffs.ExpP2
	expP3 = coeffs.ExpP3
	expP4 = coeffs.ExpP4
	expP5 = coeffs.ExpP5
)
