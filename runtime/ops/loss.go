package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (the latter is LogSoftmax over the class
// axis followed by the former). Inputs are [N, C, d1…] scores and [N, d1…] integer targets; an
// optional weight gives one factor per class, and targets equal to ignore_index contribute
// nothing. "mean" divides by the summed weights of the counted targets.

func init() {
	Register(DefaultDomain, "NegativeLogLikelihoodLoss", 12, lossFactory(false))
	Register(DefaultDomain, "SoftmaxCrossEntropyLoss", 12, lossFactory(true))
}

func lossFactory(softmax bool) Factory {
	return func(n *Node) (Kernel, error) {
		reduction := n.AttrString("reduction", "mean")
		if reduction != "none" && reduction != "sum" && reduction != "mean" {
			return nil, fmt.Errorf("reduction must be none, sum or mean, got %q", reduction)
		}
		hasIgnore := n.HasAttr("ignore_index")
		ignore := n.AttrInt("ignore_index", 0)
		wantLogProb := n.HasOutput(1)
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := needInputs(in, 2); err != nil {
				return nil, err
			}
			x, target := in[0], in[1]
			if err := requireFloat(x, "scores"); err != nil {
				return nil, err
			}
			if x.Rank() < 2 {
				return nil, fmt.Errorf("scores must have rank ≥ 2, got %v", x.Shape)
			}
			nb, c, d, _ := channelSplit(x.Shape)
			wantTarget := append([]int{nb}, x.Shape[2:]...)
			if !tensor.SameShape(target.Shape, wantTarget) {
				return nil, fmt.Errorf("target shape %v, want %v", target.Shape, wantTarget)
			}
			labels, err := toInt64s(target)
			if err != nil {
				return nil, fmt.Errorf("target: %w", err)
			}
			var weight []float64
			if len(in) > 2 && in[2] != nil {
				if weight = toFloat64s(in[2]); len(weight) != c {
					return nil, fmt.Errorf("weight has %d elements, want %d", len(weight), c)
				}
			}
			logp := toFloat64s(x)
			if softmax {
				logSoftmaxChannels(logp, nb, c, d)
			}
			losses := make([]float64, nb*d)
			weightSum := 0.0
			for b := 0; b < nb; b++ {
				for p := 0; p < d; p++ {
					label := labels[b*d+p]
					if hasIgnore && label == ignore {
						continue
					}
					if label < 0 || label >= int64(c) {
						return nil, fmt.Errorf("target %d outside [0, %d)", label, c)
					}
					w := 1.0
					if weight != nil {
						w = weight[label]
					}
					losses[b*d+p] = -logp[(b*c+int(label))*d+p] * w
					weightSum += w
				}
			}
			var out *tensor.Tensor
			switch reduction {
			case "none":
				out, err = floatOut(ctx, x.DType, wantTarget, losses)
			default:
				total := 0.0
				for _, v := range losses {
					total += v
				}
				if reduction == "mean" {
					if weight != nil || hasIgnore {
						total /= weightSum
					} else {
						total /= float64(len(losses))
					}
				}
				out, err = floatOut(ctx, x.DType, []int{}, []float64{total})
			}
			if err != nil {
				return nil, err
			}
			if !softmax || !wantLogProb {
				return ctx.Result(out), nil
			}
			logProb, err := floatOut(ctx, x.DType, x.Shape, logp)
			if err != nil {
				return nil, err
			}
			return []*tensor.Tensor{out, logProb}, nil
		}), nil
	}
}

// logSoftmaxChannels replaces v (laid out [N, C, D]) by its log-softmax over C.
func logSoftmaxChannels(v []float64, nb, c, d int) {
	for b := 0; b < nb; b++ {
		for p := 0; p < d; p++ {
			base := b*c*d + p
			peak := math.Inf(-1)
			for k := 0; k < c; k++ {
				peak = math.Max(peak, v[base+k*d])
			}
			sum := 0.0
			for k := 0; k < c; k++ {
				sum += math.Exp(v[base+k*d] - peak)
			}
			logSum := peak + math.Log(sum)
			for k := 0; k < c; k++ {
				v[base+k*d] -= logSum
			}
		}
	}
}
