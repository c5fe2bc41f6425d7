package actkernel

import "math"

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

// Constants of exp32 (and of the generated assembly, which takes them from internal/actkernel/asm).
const (
	expLo = -87.0
	expHi = 88.0
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
	expP0 = 1.9875691500e-4
	expP1 = 1.3981999507e-3
	expP2 = 8.3334519073e-3
	expP3 = 4.1665795894e-2
	expP4 = 1.6666665459e-1
	expP5 = 5.0000001201e-1
)
