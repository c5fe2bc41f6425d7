package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// DFT (opset 17: axis attribute; opset 20: axis input) and STFT (opset 17). Signals carry a last
// dimension of 1 (real) or 2 (real, imaginary). The transform is the direct O(n²) sum in float64
// with exact twiddles: these ops appear in audio front ends on short frames, and the direct sum
// needs no power-of-two length. An inverse onesided DFT is irfft: the half spectrum is extended
// by conjugate symmetry and the output is real.

func init() {
	Register(DefaultDomain, "DFT", 17, newDFT)
	Register(DefaultDomain, "DFT", 20, newDFT)
	Register(DefaultDomain, "STFT", 17, newSTFT)
}

func newDFT(n *Node) (Kernel, error) {
	inverse := n.AttrInt("inverse", 0) != 0
	onesided := n.AttrInt("onesided", 0) != 0
	axisAttr, axisIsInput := int(n.AttrInt("axis", 1)), n.Version >= 20
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, fmt.Errorf("DFT: %w", err)
		}
		x := in[0]
		rank := len(x.Shape)
		if rank < 2 || x.Shape[rank-1] != 1 && x.Shape[rank-1] != 2 {
			return nil, fmt.Errorf("DFT: input %v must end in a dimension of 1 (real) or 2 (complex)", x.Shape)
		}
		axis := axisAttr
		if axisIsInput {
			axis = -2
			if len(in) > 2 && in[2] != nil {
				v, err := toInt64s(in[2])
				if err != nil || len(v) != 1 {
					return nil, fmt.Errorf("DFT: axis must be an integer scalar")
				}
				axis = int(v[0])
			}
		}
		if axis < 0 {
			axis += rank
		}
		if axis < 0 || axis >= rank-1 {
			return nil, fmt.Errorf("DFT: axis %d is not a signal axis of %v", axis, x.Shape)
		}
		m := x.Shape[axis]
		length := m
		if inverse && onesided {
			length = 2 * (m - 1)
		}
		if len(in) > 1 && in[1] != nil {
			v, err := toInt64s(in[1])
			if err != nil || len(v) != 1 || v[0] < 1 {
				return nil, fmt.Errorf("DFT: dft_length must be a positive integer scalar")
			}
			length = int(v[0])
		}
		outer := tensor.NumElements(x.Shape[:axis])
		inner := tensor.NumElements(x.Shape[axis+1 : rank-1])
		comps := x.Shape[rank-1]
		xv := toFloat64s(x)
		shape := append([]int(nil), x.Shape...)
		shape[rank-1] = 2
		bins := length
		switch {
		case inverse && onesided:
			shape[rank-1] = 1
		case onesided:
			bins = length/2 + 1
		}
		shape[axis] = bins
		y := make([]float64, tensor.NumElements(shape))
		re, im := make([]float64, length), make([]float64, length)
		outRe, outIm := make([]float64, length), make([]float64, length)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				clear(re)
				clear(im)
				at := func(k int) int { return ((o*m+k)*inner + i) * comps }
				if inverse && onesided {
					// Rebuild the full spectrum X[k] = conj(X[length−k]) from its first half.
					for k := 0; k < length; k++ {
						src, conj := k, 1.0
						if k >= m {
							src, conj = length-k, -1
						}
						if src < m {
							re[k] = xv[at(src)]
							if comps == 2 {
								im[k] = conj * xv[at(src)+1]
							}
						}
					}
				} else {
					for k := 0; k < min(m, length); k++ {
						re[k] = xv[at(k)]
						if comps == 2 {
							im[k] = xv[at(k)+1]
						}
					}
				}
				directDFT(re, im, outRe, outIm, inverse)
				outComps := shape[rank-1]
				for k := 0; k < bins; k++ {
					p := ((o*bins+k)*inner + i) * outComps
					y[p] = outRe[k]
					if outComps == 2 {
						y[p+1] = outIm[k]
					}
				}
			}
		}
		out := ctx.Alloc(x.DType, shape)
		if err := storeFloats(y, out); err != nil {
			return nil, fmt.Errorf("DFT: %w", err)
		}
		return ctx.Result(out), nil
	}), nil
}

// directDFT sets (outRe, outIm) to the DFT of (re, im): sign −1, or +1 and a 1/n scale when
// inverse. Twiddle angles are reduced modulo n before the cosine, so large k·j stay exact.
func directDFT(re, im, outRe, outIm []float64, inverse bool) {
	n := len(re)
	sign := -1.0
	if inverse {
		sign = 1
	}
	for k := 0; k < n; k++ {
		var sr, si float64
		for j := 0; j < n; j++ {
			a := sign * 2 * math.Pi * float64(k*j%n) / float64(n)
			c, s := math.Cos(a), math.Sin(a)
			sr += re[j]*c - im[j]*s
			si += re[j]*s + im[j]*c
		}
		if inverse {
			sr /= float64(n)
			si /= float64(n)
		}
		outRe[k], outIm[k] = sr, si
	}
}

// STFT frames the signal [B, L, 1|2] every frame_step samples, multiplies each frame by the
// window and transforms it: output [B, frames, bins, 2], bins = frame_length/2+1 when onesided.
func newSTFT(n *Node) (Kernel, error) {
	onesided := n.AttrInt("onesided", 1) != 0
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, fmt.Errorf("STFT: %w", err)
		}
		x := in[0]
		if len(x.Shape) != 3 || x.Shape[2] != 1 && x.Shape[2] != 2 {
			return nil, fmt.Errorf("STFT: signal %v is not [batch, length, 1|2]", x.Shape)
		}
		stepV, err := toInt64s(in[1])
		if err != nil || len(stepV) != 1 || stepV[0] < 1 {
			return nil, fmt.Errorf("STFT: frame_step must be a positive integer scalar")
		}
		step := int(stepV[0])
		var window []float64
		if len(in) > 2 && in[2] != nil {
			window = toFloat64s(in[2])
		}
		frameLen := len(window)
		if len(in) > 3 && in[3] != nil {
			v, err := toInt64s(in[3])
			if err != nil || len(v) != 1 || v[0] < 1 {
				return nil, fmt.Errorf("STFT: frame_length must be a positive integer scalar")
			}
			frameLen = int(v[0])
		}
		if frameLen == 0 {
			return nil, fmt.Errorf("STFT: neither window nor frame_length gives the frame length")
		}
		if window != nil && len(window) != frameLen {
			return nil, fmt.Errorf("STFT: window has %d values, frame_length is %d", len(window), frameLen)
		}
		batches, length, comps := x.Shape[0], x.Shape[1], x.Shape[2]
		if frameLen > length {
			return nil, fmt.Errorf("STFT: frame_length %d exceeds the signal length %d", frameLen, length)
		}
		frames := 1 + (length-frameLen)/step
		bins := frameLen
		if onesided {
			bins = frameLen/2 + 1
		}
		xv := toFloat64s(x)
		y := make([]float64, batches*frames*bins*2)
		re, im := make([]float64, frameLen), make([]float64, frameLen)
		outRe, outIm := make([]float64, frameLen), make([]float64, frameLen)
		for b := 0; b < batches; b++ {
			for f := 0; f < frames; f++ {
				for j := 0; j < frameLen; j++ {
					p := (b*length + f*step + j) * comps
					w := 1.0
					if window != nil {
						w = window[j]
					}
					re[j] = xv[p] * w
					im[j] = 0
					if comps == 2 {
						im[j] = xv[p+1] * w
					}
				}
				directDFT(re, im, outRe, outIm, false)
				for k := 0; k < bins; k++ {
					p := ((b*frames+f)*bins + k) * 2
					y[p], y[p+1] = outRe[k], outIm[k]
				}
			}
		}
		out := ctx.Alloc(x.DType, []int{batches, frames, bins, 2})
		if err := storeFloats(y, out); err != nil {
			return nil, fmt.Errorf("STFT: %w", err)
		}
		return ctx.Result(out), nil
	}), nil
}
