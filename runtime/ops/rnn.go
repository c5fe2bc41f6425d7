package ops

import (
	"fmt"
	"math"
	"strings"

	"github.com/actswap/actswap/tensor"
)

// Recurrent layers: RNN, GRU and LSTM as ONNX defines them (what torch.nn.RNN/GRU/LSTM export
// to). One loop serves all three: per direction and time step, gates = X_t·Wᵀ + H_{t−1}·Rᵀ + biases,
// then the cell's update. Evaluated in float64 and rounded once to X's type. sequence_lens masks
// steps past each batch item's length (zero Y there, Y_h/Y_c from its last valid step).

func init() {
	for _, v := range []int{1, 7, 14, 22} {
		Register(DefaultDomain, "RNN", v, recurrentFactory(cellRNN))
		Register(DefaultDomain, "GRU", v, recurrentFactory(cellGRU))
		Register(DefaultDomain, "LSTM", v, recurrentFactory(cellLSTM))
	}
}

type cellKind int

const (
	cellRNN cellKind = iota
	cellGRU
	cellLSTM
)

// gates is how many hidden-sized blocks W and R stack; acts how many activations a direction uses.
func (k cellKind) gates() int { return [...]int{1, 3, 4}[k] }
func (k cellKind) acts() int  { return [...]int{1, 2, 3}[k] }
func (k cellKind) String() string {
	return [...]string{"RNN", "GRU", "LSTM"}[k]
}

type recurrentConfig struct {
	kind              cellKind
	hidden            int
	dirs              int
	reverseOnly       bool
	clip              float64 // 0: none
	layout            int
	inputForget       bool
	linearBeforeReset bool
	acts              []func(float64) float64 // acts() per direction, forward first
}

func recurrentFactory(kind cellKind) Factory {
	return func(n *Node) (Kernel, error) {
		c := recurrentConfig{kind: kind, hidden: int(n.AttrInt("hidden_size", 0)), layout: int(n.AttrInt("layout", 0)),
			inputForget: n.AttrInt("input_forget", 0) != 0, linearBeforeReset: n.AttrInt("linear_before_reset", 0) != 0}
		if c.hidden <= 0 {
			return nil, fmt.Errorf("%v: hidden_size must be positive, got %d", kind, c.hidden)
		}
		if c.layout != 0 && c.layout != 1 {
			return nil, fmt.Errorf("%v: layout must be 0 or 1, got %d", kind, c.layout)
		}
		switch d := n.AttrString("direction", "forward"); d {
		case "forward":
			c.dirs = 1
		case "reverse":
			c.dirs, c.reverseOnly = 1, true
		case "bidirectional":
			c.dirs = 2
		default:
			return nil, fmt.Errorf("%v: direction %q is not forward, reverse or bidirectional", kind, d)
		}
		if n.HasAttr("clip") {
			c.clip = float64(n.AttrFloat("clip", 0))
			if c.clip <= 0 {
				return nil, fmt.Errorf("%v: clip must be positive, got %g", kind, c.clip)
			}
		}
		names := n.AttrStrings("activations", nil)
		if names == nil {
			def := [][]string{{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}}[kind]
			for range c.dirs {
				names = append(names, def...)
			}
		}
		if len(names) != kind.acts()*c.dirs {
			return nil, fmt.Errorf("%v: %d activations given, want %d for %d direction(s)", kind, len(names), kind.acts()*c.dirs, c.dirs)
		}
		alphas, betas := n.AttrFloats("activation_alpha", nil), n.AttrFloats("activation_beta", nil)
		for _, name := range names {
			f, err := rnnActivation(name, &alphas, &betas)
			if err != nil {
				return nil, fmt.Errorf("%v: %w", kind, err)
			}
			c.acts = append(c.acts, f)
		}
		return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return c.run(ctx, n, in)
		}), nil
	}
}

// rnnActivation resolves one activation name; those with parameters take the next values of the
// alpha/beta lists (consumed in activation order) or their defaults when the lists run out.
func rnnActivation(name string, alphas, betas *[]float32) (func(float64) float64, error) {
	next := func(list *[]float32, def float64) float64 {
		if len(*list) == 0 {
			return def
		}
		v := float64((*list)[0])
		*list = (*list)[1:]
		return v
	}
	switch strings.ToLower(name) {
	case "sigmoid":
		return sigmoid, nil
	case "tanh":
		return math.Tanh, nil
	case "relu":
		return func(x float64) float64 { return max(x, 0) }, nil
	case "softsign":
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil
	case "softplus":
		return softplus, nil
	case "affine":
		a, b := next(alphas, 1), next(betas, 0)
		return func(x float64) float64 { return a*x + b }, nil
	case "leakyrelu":
		a := next(alphas, 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return a * x
			}
			return x
		}, nil
	case "thresholdedrelu":
		a := next(alphas, 1)
		return func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := next(alphas, 1), next(betas, 1)
		return func(x float64) float64 { return a * math.Tanh(b*x) }, nil
	case "hardsigmoid":
		a, b := next(alphas, 0.2), next(betas, 0.5)
		return func(x float64) float64 { return max(0, min(1, a*x+b)) }, nil
	case "elu":
		a := next(alphas, 1)
		return func(x float64) float64 {
			if x < 0 {
				return a * (math.Exp(x) - 1)
			}
			return x
		}, nil
	}
	return nil, fmt.Errorf("activation %q is not supported", name)
}

// run computes Y, Y_h (and Y_c for LSTM).
func (c recurrentConfig) run(ctx *Context, n *Node, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, err
	}
	x, w, r := in[0], in[1], in[2]
	if err := requireFloat(x, "X"); err != nil {
		return nil, err
	}
	if len(x.Shape) != 3 {
		return nil, fmt.Errorf("X has shape %v, want rank 3", x.Shape)
	}
	seq, batch, inSize := x.Shape[0], x.Shape[1], x.Shape[2]
	if c.layout == 1 {
		seq, batch = batch, seq
	}
	h, g := c.hidden, c.kind.gates()
	want := func(t *tensor.Tensor, name string, shape ...int) error {
		if t.DType != x.DType || !tensor.SameShape(t.Shape, shape) {
			return fmt.Errorf("%s is %v%v, want %v%v", name, t.DType, t.Shape, x.DType, shape)
		}
		return nil
	}
	if err := want(w, "W", c.dirs, g*h, inSize); err != nil {
		return nil, err
	}
	if err := want(r, "R", c.dirs, g*h, h); err != nil {
		return nil, err
	}
	stateShape := []int{c.dirs, batch, h}
	if c.layout == 1 {
		stateShape = []int{batch, c.dirs, h}
	}
	xs, ws, rs := toFloat64s(x), toFloat64s(w), toFloat64s(r)
	var bs, h0, c0, ps []float64
	if b := optional(in, 3); b != nil {
		if err := want(b, "B", c.dirs, 2*g*h); err != nil {
			return nil, err
		}
		bs = toFloat64s(b)
	}
	lens := make([]int, batch)
	for i := range lens {
		lens[i] = seq
	}
	if sl := optional(in, 4); sl != nil {
		v := asInt64s(sl)
		if v == nil || len(v) != batch {
			return nil, fmt.Errorf("sequence_lens is %v%v, want int32 [%d]", sl.DType, sl.Shape, batch)
		}
		for i, l := range v {
			if l < 0 || l > int64(seq) {
				return nil, fmt.Errorf("sequence_lens[%d] = %d is outside [0, %d]", i, l, seq)
			}
			lens[i] = int(l)
		}
	}
	if t := optional(in, 5); t != nil {
		if err := want(t, "initial_h", stateShape...); err != nil {
			return nil, err
		}
		h0 = toFloat64s(t)
	}
	if c.kind == cellLSTM {
		if t := optional(in, 6); t != nil {
			if err := want(t, "initial_c", stateShape...); err != nil {
				return nil, err
			}
			c0 = toFloat64s(t)
		}
		if t := optional(in, 7); t != nil {
			if err := want(t, "P", c.dirs, 3*h); err != nil {
				return nil, err
			}
			ps = toFloat64s(t)
		}
	}
	// Index helpers for the two layouts.
	xAt := func(t, b int) []float64 {
		if c.layout == 1 {
			return xs[(b*seq+t)*inSize:][:inSize]
		}
		return xs[(t*batch+b)*inSize:][:inSize]
	}
	stateAt := func(s []float64, d, b int) []float64 {
		if c.layout == 1 {
			return s[(b*c.dirs+d)*h:][:h]
		}
		return s[(d*batch+b)*h:][:h]
	}
	y := make([]float64, seq*c.dirs*batch*h)
	yAt := func(t, d, b int) []float64 {
		if c.layout == 1 {
			return y[((b*seq+t)*c.dirs+d)*h:][:h]
		}
		return y[((t*c.dirs+d)*batch+b)*h:][:h]
	}
	yh := make([]float64, c.dirs*batch*h)
	yc := make([]float64, c.dirs*batch*h)
	clip := func(v float64) float64 {
		if c.clip > 0 {
			return max(-c.clip, min(c.clip, v))
		}
		return v
	}
	for d := range c.dirs {
		reverse := c.reverseOnly || d == 1
		wd, rd := ws[d*g*h*inSize:][:g*h*inSize], rs[d*g*h*h:][:g*h*h]
		var wb, rb []float64
		if bs != nil {
			wb, rb = bs[d*2*g*h:][:g*h], bs[d*2*g*h+g*h:][:g*h]
		}
		act := c.acts[d*c.kind.acts():][:c.kind.acts()]
		xg := make([]float64, g*h) // X_t·Wᵀ + Wb
		rg := make([]float64, g*h) // H_{t−1}·Rᵀ + Rb
		for b := range batch {
			hPrev, cPrev := make([]float64, h), make([]float64, h)
			if h0 != nil {
				copy(hPrev, stateAt(h0, d, b))
			}
			if c0 != nil {
				copy(cPrev, stateAt(c0, d, b))
			}
			for step := range lens[b] {
				t := step
				if reverse {
					t = lens[b] - 1 - step
				}
				xt := xAt(t, b)
				for j := range g * h {
					s, q := 0.0, 0.0
					for k, v := range xt {
						s += v * wd[j*inSize+k]
					}
					for k, v := range hPrev {
						q += v * rd[j*h+k]
					}
					if wb != nil {
						s += wb[j]
						q += rb[j]
					}
					xg[j], rg[j] = s, q
				}
				hNew := yAt(t, d, b)
				switch c.kind {
				case cellRNN:
					for j := range h {
						hNew[j] = act[0](clip(xg[j] + rg[j]))
					}
				case cellGRU: // gate blocks z, r, h
					for j := range h {
						z := act[0](clip(xg[j] + rg[j]))
						rr := act[0](clip(xg[h+j] + rg[h+j]))
						var pre float64
						if c.linearBeforeReset {
							pre = xg[2*h+j] + rr*rg[2*h+j]
						} else {
							// (r ⊙ H_{t−1})·R_hᵀ + Rb_h needs r for every hidden unit first.
							pre = xg[2*h+j]
						}
						hNew[j] = z // stash z; finished below
						xg[2*h+j] = pre
						rg[j] = rr
					}
					if !c.linearBeforeReset {
						for j := range h {
							q := 0.0
							for k := range h {
								q += rg[k] * hPrev[k] * rd[(2*h+j)*h+k]
							}
							if rb != nil {
								q += rb[2*h+j]
							}
							xg[2*h+j] += q
						}
					}
					for j := range h {
						z := hNew[j]
						hNew[j] = (1-z)*act[1](clip(xg[2*h+j])) + z*hPrev[j]
					}
				case cellLSTM: // gate blocks i, o, f, c
					for j := range h {
						pi, pf := 0.0, 0.0
						if ps != nil {
							pi, pf = ps[d*3*h+j]*cPrev[j], ps[d*3*h+2*h+j]*cPrev[j]
						}
						i := act[0](clip(xg[j] + rg[j] + pi))
						f := act[0](clip(xg[2*h+j] + rg[2*h+j] + pf))
						if c.inputForget {
							f = 1 - i
						}
						cc := act[1](clip(xg[3*h+j] + rg[3*h+j]))
						cPrev[j] = f*cPrev[j] + i*cc
						po := 0.0
						if ps != nil {
							po = ps[d*3*h+h+j] * cPrev[j]
						}
						o := act[0](clip(xg[h+j] + rg[h+j] + po))
						hNew[j] = o * act[2](cPrev[j])
					}
				}
				copy(hPrev, hNew)
			}
			copy(yh[(d*batch+b)*h:][:h], hPrev)
			copy(yc[(d*batch+b)*h:][:h], cPrev)
		}
	}
	outs := make([]*tensor.Tensor, 3)
	yShape := []int{seq, c.dirs, batch, h}
	if c.layout == 1 {
		yShape = []int{batch, seq, c.dirs, h}
	}
	store := func(vals []float64, shape []int, layoutState bool) (*tensor.Tensor, error) {
		if layoutState && c.layout == 1 { // [dirs, batch, h] → [batch, dirs, h]
			t := make([]float64, len(vals))
			for d := range c.dirs {
				for b := range batch {
					copy(t[(b*c.dirs+d)*h:][:h], vals[(d*batch+b)*h:][:h])
				}
			}
			vals = t
		}
		out := ctx.Alloc(x.DType, shape)
		return out, storeFloats(vals, out)
	}
	var err error
	if outs[0], err = store(y, yShape, false); err != nil {
		return nil, err
	}
	if n.HasOutput(1) {
		if outs[1], err = store(yh, stateShape, true); err != nil {
			return nil, err
		}
	}
	if c.kind == cellLSTM && n.HasOutput(2) {
		if outs[2], err = store(yc, stateShape, true); err != nil {
			return nil, err
		}
	}
	if c.kind != cellLSTM {
		outs = outs[:2]
	}
	return outs, nil
}
