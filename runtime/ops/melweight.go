package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

func init() {
	Register(DefaultDomain, "MelWeightMatrix", 17, newMelWeightMatrix)
}

// maxMelWeights bounds MelWeightMatrix's output, which its scalar inputs size.
const maxMelWeights = 1 << 26

// newMelWeightMatrix (opset 17): the [dft_length/2+1, num_mel_bins] matrix that maps a one-sided
// spectrum to mel bands — triangular filters whose edges are num_mel_bins+2 points spaced by
// 1/(num_mel_bins+2) of the mel range (mel = 2595·log10(1 + hz/700)) from lower_edge_hertz up,
// each edge snapped to the spectrogram bin floor((dft_length+1)·hz/sample_rate), as the ONNX
// reference implementation computes them.
func newMelWeightMatrix(n *Node) (Kernel, error) {
	dt := tensor.DType(n.AttrInt("output_datatype", int64(tensor.Float32)))
	if !dt.Supported() || dt == tensor.String || dt == tensor.Bool {
		return nil, fmt.Errorf("output_datatype %v is not supported", dt)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 5); err != nil {
			return nil, err
		}
		var args [5]float64
		for i, name := range []string{"num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz", "upper_edge_hertz"} {
			v, ok := tensor.ScalarValue(in[i])
			if !ok {
				return nil, fmt.Errorf("input %s must be a scalar, got %v", name, in[i])
			}
			args[i] = v
		}
		bins, dftLength, rate, lower, upper := int(args[0]), int(args[1]), args[2], args[3], args[4]
		spectrum := dftLength/2 + 1
		switch {
		case bins <= 0 || dftLength <= 0 || rate <= 0:
			return nil, fmt.Errorf("num_mel_bins %d, dft_length %d and sample_rate %g must be positive", bins, dftLength, rate)
		case lower < 0 || upper < lower:
			return nil, fmt.Errorf("want 0 ≤ lower_edge_hertz (%g) ≤ upper_edge_hertz (%g)", lower, upper)
		case spectrum*bins > maxMelWeights:
			return nil, fmt.Errorf("a %d×%d mel weight matrix is too large", spectrum, bins)
		}
		// The band edges in float64, as the reference computes them.
		lowMel, highMel := 2595*math.Log10(1+lower/700), 2595*math.Log10(1+upper/700)
		// The reference divides the mel range by the number of points, not of intervals: the last
		// point stays below upper_edge_hertz.
		step := (highMel - lowMel) / float64(bins+2)
		edges := make([]int, bins+2)
		for i := range edges {
			hz := 700 * (math.Pow(10, (float64(i)*step+lowMel)/2595) - 1)
			edges[i] = int(math.Floor(float64(dftLength+1) * hz / rate))
			if edges[i] < 0 || edges[i] >= spectrum {
				return nil, fmt.Errorf("mel band edge %g Hz falls outside the %d spectrogram bins (upper_edge_hertz far above sample_rate/2?)", hz, spectrum)
			}
		}
		w := make([]float64, spectrum*bins)
		for i := range bins {
			left, center, right := edges[i], edges[i+1], edges[i+2]
			if up := center - left; up == 0 {
				w[center*bins+i] = 1
			} else {
				for j := left; j <= center; j++ {
					w[j*bins+i] = float64(j-left) / float64(up)
				}
			}
			if down := right - center; down > 0 {
				for j := center; j < right; j++ {
					w[j*bins+i] = float64(right-j) / float64(down)
				}
			}
		}
		out, err := floatOut(ctx, dt, []int{spectrum, bins}, w)
		return []*tensor.Tensor{out}, err
	}), nil
}
