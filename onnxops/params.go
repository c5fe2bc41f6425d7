package onnxops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// ParamTensors builds the float32 parameter inputs of an operator (the tensors after X, in the
// order of ParamInputNames) from one parameter set per channel. One set gives the per-tensor
// shapes (epsilon [], bounds [2], heights [N+1], slopes [2], params [8]); C > 1 sets give the
// per-channel shapes ([C], [C,2], [C,N+1], [C,2], [C,8]). Every set must belong to fam, PWLU
// sets must share N, and Zorro sets must agree on Gate (an attribute, not a tensor).
func ParamTensors(fam Family, channels []Params) ([]*tensor.Tensor, error) {
	return ParamTensorsAs(tensor.Float32, fam, channels)
}

// ParamTensorsAs is ParamTensors with the element type of the tensors (Float32, Float64 or
// Float16); it must match X's type for the function body to type-check in other runtimes.
func ParamTensorsAs(dt tensor.DType, fam Family, channels []Params) ([]*tensor.Tensor, error) {
	c := len(channels)
	if c == 0 {
		return nil, fmt.Errorf("%s: no parameter sets", fam)
	}
	for i, p := range channels {
		if p == nil || p.Family() != fam {
			return nil, fmt.Errorf("%s: channel %d: parameter set is %v, not %s", fam, i, familyOf(p), fam)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("channel %d: %w", i, err)
		}
	}
	// lead is the leading shape: none for per-tensor parameters, [C] per channel.
	lead := []int{}
	if c > 1 {
		lead = []int{c}
	}
	var values [][]float64
	var shapes [][]int
	switch fam {
	case FamilyCRReLU:
		eps := make([]float64, c)
		for i, p := range channels {
			eps[i] = p.(CRReLUParams).Epsilon
		}
		values, shapes = [][]float64{eps}, [][]int{lead}
	case FamilyPWLU:
		n := channels[0].(PWLUParams).N()
		var bounds, heights, slopes []float64
		for i, p := range channels {
			q := p.(PWLUParams)
			if q.N() != n {
				return nil, fmt.Errorf("PWLU: channel %d has N=%d, channel 0 has N=%d (per-channel heights need one N)", i, q.N(), n)
			}
			bounds = append(bounds, q.BL, q.BR)
			heights = append(heights, q.Heights...)
			slopes = append(slopes, q.KL, q.KR)
		}
		values = [][]float64{bounds, heights, slopes}
		shapes = [][]int{append(lead, 2), append(append([]int{}, lead...), n+1), append(append([]int{}, lead...), 2)}
	case FamilyZorro:
		gate := channels[0].(ZorroParams).Gate
		var vec []float64
		for i, p := range channels {
			q := p.(ZorroParams)
			if q.Gate != gate {
				return nil, fmt.Errorf("Zorro: channel %d has gate=%v, channel 0 has gate=%v (gate is one attribute per node)", i, q.Gate, gate)
			}
			v := q.Vector()
			vec = append(vec, v[:]...)
		}
		values, shapes = [][]float64{vec}, [][]int{append(lead, 8)}
	default:
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	out := make([]*tensor.Tensor, len(values))
	for i := range values {
		t, err := floatTensor(dt, shapes[i], values[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fam, err)
		}
		out[i] = t
	}
	return out, nil
}

func familyOf(p Params) any {
	if p == nil {
		return "nil"
	}
	return p.Family()
}

func floatTensor(dt tensor.DType, shape []int, v []float64) (*tensor.Tensor, error) {
	switch dt {
	case tensor.Float32:
		d := make([]float32, len(v))
		for i, x := range v {
			d[i] = float32(x)
		}
		return tensor.New(shape, d), nil
	case tensor.Float64:
		return tensor.New(shape, append([]float64(nil), v...)), nil
	case tensor.Float16:
		d := make([]tensor.Float16Bits, len(v))
		for i, x := range v {
			d[i] = tensor.Float16FromFloat32(float32(x))
		}
		return tensor.New(shape, d), nil
	}
	return nil, fmt.Errorf("parameter tensors must be float16, float32 or float64, not %v", dt)
}

// float64s reads a float tensor's elements as float64.
func float64s(t *tensor.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out, nil
	case []float64:
		return d, nil
	case []tensor.Float16Bits:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x.Float32())
		}
		return out, nil
	case []tensor.BFloat16Bits:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x.Float32())
		}
		return out, nil
	}
	return nil, fmt.Errorf("element type %v is not a float type", t.DType)
}

// paramShape checks one parameter tensor: rank perTensorRank (per tensor) or perTensorRank+1
// with a leading channel dimension, and a trailing dimension of width (0: any width ≥ minWidth).
// It returns the channel count (1 per tensor) and the trailing width.
func paramShape(name string, t *tensor.Tensor, perTensorRank, width, minWidth int) (c, w int, err error) {
	if t == nil {
		return 0, 0, fmt.Errorf("input %q is missing", name)
	}
	shape := t.Shape
	switch len(shape) {
	case perTensorRank:
		c = 1
	case perTensorRank + 1:
		c = shape[0]
		shape = shape[1:]
	default:
		return 0, 0, fmt.Errorf("input %q has shape %s, want rank %d (per tensor) or %d (per channel)", name, tensor.ShapeString(t.Shape), perTensorRank, perTensorRank+1)
	}
	if c < 1 {
		return 0, 0, fmt.Errorf("input %q has shape %s: zero channels", name, tensor.ShapeString(t.Shape))
	}
	w = 1
	if perTensorRank == 1 {
		w = shape[0]
		if width > 0 && w != width {
			return 0, 0, fmt.Errorf("input %q has shape %s, want last dimension %d", name, tensor.ShapeString(t.Shape), width)
		}
		if w < minWidth {
			return 0, 0, fmt.Errorf("input %q has shape %s, want last dimension ≥ %d", name, tensor.ShapeString(t.Shape), minWidth)
		}
	}
	return c, w, nil
}

// channelCount combines the channel counts of several parameter inputs: each is 1 (applies to all
// channels) or the common C.
func channelCount(names []string, counts []int) (int, error) {
	c := 1
	for _, k := range counts {
		if k > 1 {
			c = k
			break
		}
	}
	for i, k := range counts {
		if k != 1 && k != c {
			return 0, fmt.Errorf("input %q has %d channels, another parameter input has %d", names[i], k, c)
		}
	}
	return c, nil
}

// ParamsFromTensors decodes and validates an operator's parameter inputs (the tensors after X)
// into one parameter set per channel: a single set when every input is per tensor. An input with
// leading dimension 1 counts as per tensor; per-tensor inputs beside per-channel ones apply to
// every channel. Zorro sets come back with Gate false: gate is the node's attribute.
func ParamsFromTensors(fam Family, ts []*tensor.Tensor) ([]Params, error) {
	names := ParamInputNames(fam)
	if names == nil {
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	if len(ts) != len(names) {
		return nil, fmt.Errorf("%s: %d parameter inputs, want %d (%v)", fam, len(ts), len(names), names)
	}
	vals := make([][]float64, len(ts))
	counts := make([]int, len(ts))
	widths := make([]int, len(ts))
	for i, t := range ts {
		var err error
		switch {
		case fam == FamilyCRReLU:
			counts[i], widths[i], err = paramShape(names[i], t, 0, 0, 0)
		case fam == FamilyZorro:
			counts[i], widths[i], err = paramShape(names[i], t, 1, 8, 0)
		case names[i] == "heights":
			counts[i], widths[i], err = paramShape(names[i], t, 1, 0, 2)
		default:
			counts[i], widths[i], err = paramShape(names[i], t, 1, 2, 0)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fam, err)
		}
		if vals[i], err = float64s(t); err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", fam, names[i], err)
		}
	}
	c, err := channelCount(names, counts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fam, err)
	}
	// row returns channel ch's slice of input i, broadcasting per-tensor inputs.
	row := func(i, ch int) []float64 {
		if counts[i] == 1 {
			ch = 0
		}
		return vals[i][ch*widths[i] : (ch+1)*widths[i]]
	}
	out := make([]Params, c)
	for ch := 0; ch < c; ch++ {
		var p Params
		switch fam {
		case FamilyCRReLU:
			p = CRReLUParams{Epsilon: row(0, ch)[0]}
		case FamilyPWLU:
			b, s := row(0, ch), row(2, ch)
			p = PWLUParams{BL: b[0], BR: b[1], Heights: append([]float64(nil), row(1, ch)...), KL: s[0], KR: s[1]}
		case FamilyZorro:
			var v [8]float64
			copy(v[:], row(0, ch))
			p = ZorroFromVector(v, false)
		}
		if err := p.Validate(); err != nil {
			if c > 1 {
				return nil, fmt.Errorf("channel %d: %w", ch, err)
			}
			return nil, err
		}
		out[ch] = p
	}
	return out, nil
}
