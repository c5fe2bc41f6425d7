package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// HannWindow, HammingWindow and BlackmanWindow (opset 17): generalised cosine windows
// w[n] = a0 − a1·cos(2πn/N) + a2·cos(4πn/N), with N = size for periodic windows (the default)
// and size − 1 for symmetric ones.

func init() {
	Register(DefaultDomain, "HannWindow", 17, windowFactory(0.5, 0.5, 0))
	Register(DefaultDomain, "HammingWindow", 17, windowFactory(25.0/46, 21.0/46, 0))
	Register(DefaultDomain, "BlackmanWindow", 17, windowFactory(0.42, 0.5, 0.08))
}

func windowFactory(a0, a1, a2 float64) Factory {
	return func(n *Node) (Kernel, error) {
		dt := tensor.DType(n.AttrInt("output_datatype", int64(tensor.Float32)))
		if !dt.Supported() || dt == tensor.String || dt == tensor.Bool {
			return nil, fmt.Errorf("output_datatype %v is not supported", dt)
		}
		periodic := n.AttrInt("periodic", 1) != 0
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 1); err != nil {
				return nil, err
			}
			sz, err := toInt64s(in[0])
			if err != nil || len(sz) != 1 {
				return nil, fmt.Errorf("size must be an integer scalar")
			}
			size := sz[0]
			if size < 0 || size > 1<<30 {
				return nil, fmt.Errorf("window size %d out of range", size)
			}
			denom := float64(size)
			if !periodic {
				denom = float64(size - 1)
			}
			w := make([]float64, size)
			for i := range w {
				x := 2 * math.Pi * float64(i) / denom
				w[i] = a0 - a1*math.Cos(x) + a2*math.Cos(2*x)
			}
			if size == 1 {
				w[0] = 1 // a one-point window is the identity
			}
			out, err := floatOut(ctx, dt, []int{int(size)}, w)
			return []*tensor.Tensor{out}, err
		}), nil
	}
}
