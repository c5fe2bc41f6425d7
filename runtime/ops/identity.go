package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "Identity", 1, newIdentity)
	Register(DefaultDomain, "Dropout", 1, newDropout)
	Register(DefaultDomain, "Dropout", 7, newDropout)
	Register(DefaultDomain, "Dropout", 12, newDropout)
}

func newIdentity(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		// Sequences and optionals (dtype Undefined) are immutable values: pass them on as they are.
		if x.DType == tensor.Undefined {
			return ctx.Result(x), nil
		}
		out, err := moveCopy(ctx, x, x.Shape)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

// newDropout builds inference-time Dropout: the output is the input and the optional mask is all
// true. Training mode is only accepted with ratio 0, where it means the same thing; real dropout
// would need the random stream of whichever framework the model came from.
func newDropout(n *Node) (Kernel, error) {
	if n.Version < 7 && n.AttrInt("is_test", 0) == 0 && n.AttrFloat("ratio", 0.5) != 0 {
		return nil, fmt.Errorf("Dropout-%d with is_test=0 (training) is not supported", n.Version)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "data")
		if err != nil {
			return nil, err
		}
		if len(inputs) > 2 && inputs[2] != nil {
			training, ok := inputs[2].Data.([]bool)
			if !ok || len(training) != 1 {
				return nil, fmt.Errorf("input 2 (training_mode) must be a bool scalar")
			}
			if training[0] && !dropoutZeroRatio(inputs) {
				return nil, fmt.Errorf("training_mode=true with a nonzero ratio is not supported (inference only)")
			}
		}
		out, err := moveCopy(ctx, x, x.Shape)
		if err != nil {
			return nil, err
		}
		outs := []*tensor.Tensor{out, nil}
		if n.HasOutput(1) {
			// The mask is bool from opset 10; before that it had the input's type, all ones.
			maskType := tensor.Bool
			if n.Version < 10 {
				maskType = x.DType
			}
			one := tensor.Zeros(maskType, []int{1})
			if err := padSetValue(one, 1); err != nil {
				return nil, err
			}
			m, err := moverFor(maskType)
			if err != nil {
				return nil, err
			}
			mask := ctx.Alloc(maskType, x.Shape)
			m.fill(mask.Data, 0, mask.Len(), one.Data)
			outs[1] = mask
		}
		return outs, nil
	}), nil
}

// dropoutZeroRatio reports whether the ratio input is present and 0 (the default is 0.5).
func dropoutZeroRatio(inputs []*tensor.Tensor) bool {
	if len(inputs) < 2 || inputs[1] == nil {
		return false
	}
	r := onehotFloat64s(inputs[1])
	return len(r) == 1 && r[0] == 0
}
