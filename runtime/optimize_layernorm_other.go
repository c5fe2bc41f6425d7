//go:build !amd64

package runtime

// normalizeLane writes (x-mean)/√(var+eps)·scale + bias for one lane (two passes, float64 sums).
func normalizeLane(dst, x, scale, bias []float32, eps float32) {
	n := len(x)
	sum := 0.0
	for _, v := range x {
		sum += float64(v)
	}
	mean64 := sum / float64(n)
	mean := float32(mean64)
	rest := mean64 - float64(mean) // what the float32 mean rounded off
	sq := 0.0
	for _, v := range x {
		d := float64(v - mean)
		sq += d * d
	}
	inv := float32(1 / sqrt64(max(sq/float64(n)-rest*rest, 0)+float64(eps)))
	for i, v := range x {
		dst[i] = (v-mean-float32(rest))*inv*scale[i] + bias[i]
	}
}
