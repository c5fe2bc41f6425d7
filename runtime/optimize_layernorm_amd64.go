package runtime

import "golang.org/x/sys/cpu"

var lnHasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func lnSumAVX2(x []float32, shift float32) float32

//go:noescape
func lnSqDevAVX2(x []float32, mean float32) float32

//go:noescape
func lnAffineAVX2(dst, x, scale, bias []float32, mean, rest, inv float32)

// normalizeLane writes (x-mean)/√(var+eps)·scale + bias for one lane, with the mean and the
// variance (two passes) summed in float32 over 8 lanes, then the tail in float64. Sums are of
// x-x[0], small where a lane sits far from zero, so float32 keeps their precision. The mean is
// carried as a float32 plus the rest it rounded off: with a mean large against the spread, the
// rounding of the mean alone would be a visible share of x-mean.
func normalizeLane(dst, x, scale, bias []float32, eps float32) {
	n := len(x)
	body := 0
	if lnHasAVX2 {
		body = n &^ 7
	}
	shift := x[0]
	sum := 0.0
	if body > 0 {
		sum = float64(lnSumAVX2(x[:body], shift))
	}
	for _, v := range x[body:] {
		sum += float64(v) - float64(shift)
	}
	mean64 := float64(shift) + sum/float64(n)
	mean := float32(mean64)
	rest := mean64 - float64(mean)
	sq := 0.0
	if body > 0 {
		sq = float64(lnSqDevAVX2(x[:body], mean))
	}
	for _, v := range x[body:] {
		d := float64(v - mean)
		sq += d * d
	}
	// Σ(x-mean32)²/n = variance + rest².
	inv := float32(1 / sqrt64(max(sq/float64(n)-rest*rest, 0)+float64(eps)))
	if body > 0 {
		lnAffineAVX2(dst[:body], x[:body], scale[:body], bias[:body], mean, float32(rest), inv)
	}
	for i := body; i < n; i++ {
		dst[i] = (x[i]-mean-float32(rest))*inv*scale[i] + bias[i]
	}
}
