package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Resize (opsets 10–19) and the older Upsample. Resampling is separable: each resized axis gets a
// table of taps (source index, weight) per output coordinate, built in float64 exactly as the ONNX
// definition derives them, and the axes are resampled one pass at a time. Nearest-neighbour
// resizing never does arithmetic on the elements, so it is a gather that works for every type.

func init() {
	Register(DefaultDomain, "Resize", 10, newResize)
	Register(DefaultDomain, "Resize", 11, newResize)
	Register(DefaultDomain, "Resize", 13, newResize)
	Register(DefaultDomain, "Resize", 18, newResize)
	Register(DefaultDomain, "Resize", 19, newResize)
	Register(DefaultDomain, "Upsample", 7, newUpsample)
	Register(DefaultDomain, "Upsample", 9, newUpsample)
}

type resizeMode int

const (
	resizeNearest resizeMode = iota
	resizeLinear
	resizeCubic
)

type resizeCoord int

const (
	resizeHalfPixel resizeCoord = iota
	resizePytorchHalfPixel
	resizeAlignCorners
	resizeAsymmetric
	resizeTFCropAndResize
	resizeTFHalfPixelForNN
	resizeHalfPixelSymmetric
)

type resizeNearestMode int

const (
	resizeRoundPreferFloor resizeNearestMode = iota
	resizeRoundPreferCeil
	resizeFloor
	resizeCeil
)

type resizeKeepAspect int

const (
	resizeStretch resizeKeepAspect = iota
	resizeNotLarger
	resizeNotSmaller
)

// resizeConfig is everything the attributes decide.
type resizeConfig struct {
	mode           resizeMode
	coord          resizeCoord
	nearest        resizeNearestMode
	cubicA         float64
	excludeOutside bool
	extrapolation  float64
	antialias      bool
	keepAspect     resizeKeepAspect
	axes           []int64 // nil: all axes
	// Where scales and sizes come from: Resize-10 and Upsample-9 read scales from input 1,
	// Upsample-7 from an attribute, Resize-11+ reads roi, scales and sizes from inputs 1–3.
	scalesInput int
	attrScales  []float32
	modern      bool
}

func newResize(n *Node) (Kernel, error) {
	cfg := resizeConfig{cubicA: -0.75}
	var err error
	if cfg.mode, err = resizeParseMode(n.AttrString("mode", "nearest")); err != nil {
		return nil, err
	}
	if n.Version < 11 {
		// Resize-10 has no coordinate modes; it behaves like Upsample: asymmetric, floor.
		cfg.coord, cfg.nearest, cfg.scalesInput = resizeAsymmetric, resizeFloor, 1
		if cfg.mode == resizeCubic {
			return nil, fmt.Errorf("Resize-10 has no cubic mode")
		}
		return resizeKernel(cfg), nil
	}
	cfg.modern, cfg.scalesInput = true, 2
	switch c := n.AttrString("coordinate_transformation_mode", "half_pixel"); c {
	case "half_pixel":
		cfg.coord = resizeHalfPixel
	case "pytorch_half_pixel":
		cfg.coord = resizePytorchHalfPixel
	case "align_corners":
		cfg.coord = resizeAlignCorners
	case "asymmetric":
		cfg.coord = resizeAsymmetric
	case "tf_crop_and_resize":
		cfg.coord = resizeTFCropAndResize
	case "tf_half_pixel_for_nn":
		if n.Version >= 18 {
			return nil, fmt.Errorf("coordinate_transformation_mode tf_half_pixel_for_nn was removed in opset 18")
		}
		cfg.coord = resizeTFHalfPixelForNN
	case "half_pixel_symmetric":
		if n.Version < 19 {
			return nil, fmt.Errorf("coordinate_transformation_mode half_pixel_symmetric needs opset 19")
		}
		cfg.coord = resizeHalfPixelSymmetric
	default:
		return nil, fmt.Errorf("unknown coordinate_transformation_mode %q", c)
	}
	switch m := n.AttrString("nearest_mode", "round_prefer_floor"); m {
	case "round_prefer_floor":
		cfg.nearest = resizeRoundPreferFloor
	case "round_prefer_ceil":
		cfg.nearest = resizeRoundPreferCeil
	case "floor":
		cfg.nearest = resizeFloor
	case "ceil":
		cfg.nearest = resizeCeil
	default:
		return nil, fmt.Errorf("unknown nearest_mode %q", m)
	}
	cfg.cubicA = float64(n.AttrFloat("cubic_coeff_a", -0.75))
	cfg.excludeOutside = n.AttrInt("exclude_outside", 0) != 0
	cfg.extrapolation = float64(n.AttrFloat("extrapolation_value", 0))
	cfg.antialias = n.AttrInt("antialias", 0) != 0
	if cfg.antialias && cfg.mode == resizeNearest {
		return nil, fmt.Errorf("antialias needs mode linear or cubic")
	}
	switch p := n.AttrString("keep_aspect_ratio_policy", "stretch"); p {
	case "stretch":
		cfg.keepAspect = resizeStretch
	case "not_larger":
		cfg.keepAspect = resizeNotLarger
	case "not_smaller":
		cfg.keepAspect = resizeNotSmaller
	default:
		return nil, fmt.Errorf("unknown keep_aspect_ratio_policy %q", p)
	}
	if n.HasAttr("axes") {
		cfg.axes = n.AttrInts("axes", nil)
	}
	return resizeKernel(cfg), nil
}

func newUpsample(n *Node) (Kernel, error) {
	cfg := resizeConfig{coord: resizeAsymmetric, nearest: resizeFloor, cubicA: -0.75}
	var err error
	if cfg.mode, err = resizeParseMode(n.AttrString("mode", "nearest")); err != nil {
		return nil, err
	}
	if cfg.mode == resizeCubic {
		return nil, fmt.Errorf("Upsample has no cubic mode")
	}
	if n.Version < 9 {
		if !n.HasAttr("scales") {
			return nil, fmt.Errorf("Upsample-%d needs the scales attribute", n.Version)
		}
		cfg.attrScales, cfg.scalesInput = n.AttrFloats("scales", nil), -1
	} else {
		cfg.scalesInput = 1
	}
	return resizeKernel(cfg), nil
}

func resizeParseMode(m string) (resizeMode, error) {
	switch m {
	case "nearest":
		return resizeNearest, nil
	case "linear", "bilinear":
		return resizeLinear, nil
	case "cubic":
		return resizeCubic, nil
	}
	return 0, fmt.Errorf("unknown mode %q", m)
}

func resizeKernel(cfg resizeConfig) Kernel {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "X")
		if err != nil {
			return nil, err
		}
		plan, err := cfg.plan(x.Shape, inputs)
		if err != nil {
			return nil, err
		}
		out, err := plan.run(ctx, x)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	})
}

// resizePlan holds, per axis, the taps of a resampling pass (nil for an axis left as it is).
type resizePlan struct {
	cfg   *resizeConfig
	shape []int // output shape
	taps  []*resizeTaps
}

// resizeTaps resamples one axis: output coordinate o reads n source indices idx[o*n:] with
// weights w[o*n:], or is the extrapolation value when extrap[o].
type resizeTaps struct {
	n      int
	idx    []int
	w      []float64
	extrap []bool
	any    bool // some extrap entry is set
}

// plan resolves scales, sizes, roi and axes into an output shape and per-axis taps.
func (cfg *resizeConfig) plan(inShape []int, inputs []*tensor.Tensor) (*resizePlan, error) {
	rank := len(inShape)
	var scales, roi []float64
	var sizes []int64
	switch {
	case cfg.scalesInput < 0:
		for _, s := range cfg.attrScales {
			scales = append(scales, float64(s))
		}
	case cfg.scalesInput < len(inputs) && inputs[cfg.scalesInput] != nil:
		scales = onehotFloat64s(inputs[cfg.scalesInput])
		if scales == nil {
			return nil, fmt.Errorf("input %d (scales) must be a float tensor", cfg.scalesInput)
		}
	}
	if cfg.modern {
		if len(inputs) > 1 && inputs[1] != nil && inputs[1].Len() > 0 {
			if roi = onehotFloat64s(inputs[1]); roi == nil {
				return nil, fmt.Errorf("input 1 (roi) must be a float tensor")
			}
		}
		var err error
		if sizes, err = moveInput(inputs, 3, "sizes"); err != nil {
			return nil, err
		}
	}
	axes := make([]int, rank)
	for i := range axes {
		axes[i] = i
	}
	if cfg.axes != nil {
		var err error
		if axes, err = moveAxes(cfg.axes, rank); err != nil {
			return nil, err
		}
	}
	scale := make([]float64, rank)
	shape := append([]int(nil), inShape...)
	for i := range scale {
		scale[i] = 1
	}
	switch {
	case len(sizes) > 0:
		if len(scales) > 0 {
			return nil, fmt.Errorf("scales and sizes are both given")
		}
		if len(sizes) != len(axes) {
			return nil, fmt.Errorf("sizes %v has %d entries for %d axes", sizes, len(sizes), len(axes))
		}
		for i, a := range axes {
			if sizes[i] < 0 {
				return nil, fmt.Errorf("sizes %v has a negative entry", sizes)
			}
			shape[a] = int(sizes[i])
			scale[a] = float64(sizes[i]) / float64(inShape[a])
		}
		if cfg.keepAspect != resizeStretch {
			s := scale[axes[0]]
			for _, a := range axes[1:] {
				if cfg.keepAspect == resizeNotLarger {
					s = min(s, scale[a])
				} else {
					s = max(s, scale[a])
				}
			}
			for _, a := range axes {
				scale[a] = s
				shape[a] = int(s*float64(inShape[a]) + 0.5)
			}
		}
	case len(scales) > 0:
		if len(scales) != len(axes) {
			return nil, fmt.Errorf("scales %v has %d entries for %d axes", scales, len(scales), len(axes))
		}
		for i, a := range axes {
			if !(scales[i] > 0) {
				return nil, fmt.Errorf("scales %v must be positive", scales)
			}
			scale[a] = scales[i]
			shape[a] = int(math.Floor(scales[i] * float64(inShape[a])))
		}
	default:
		return nil, fmt.Errorf("neither scales nor sizes is given")
	}
	roiStart, roiEnd := make([]float64, rank), make([]float64, rank)
	for i := range roiEnd {
		roiEnd[i] = 1
	}
	if cfg.coord == resizeTFCropAndResize {
		if len(roi) != 2*len(axes) {
			return nil, fmt.Errorf("tf_crop_and_resize needs roi with %d entries, got %d", 2*len(axes), len(roi))
		}
		for i, a := range axes {
			roiStart[a], roiEnd[a] = roi[i], roi[len(axes)+i]
		}
	}
	if err := moveSized(shape); err != nil {
		return nil, err
	}
	p := &resizePlan{cfg: cfg, shape: shape, taps: make([]*resizeTaps, rank)}
	for a := range rank {
		if shape[a] == inShape[a] && scale[a] == 1 && cfg.coord != resizeTFCropAndResize {
			continue // every mode maps coordinate o to o exactly when nothing changes
		}
		if inShape[a] == 0 && shape[a] > 0 {
			return nil, fmt.Errorf("cannot resize an empty axis %d to %d", a, shape[a])
		}
		p.taps[a] = cfg.taps(inShape[a], shape[a], scale[a], roiStart[a], roiEnd[a])
	}
	return p, nil
}

// taps builds one axis's resampling table following the ONNX reference: map the output
// coordinate to the input, take the neighbours around it (preferring the left one, so the
// fractional ratio lies in (0, 1]), weight them by the mode's kernel and clamp at the edges.
func (cfg *resizeConfig) taps(in, out int, scale, roiStart, roiEnd float64) *resizeTaps {
	outW := scale * float64(in) // the reference uses the unrounded output width
	var start, n int            // neighbours base+start … base+start+n−1
	var support float64         // antialias: kernel scale min(scale, 1)
	switch {
	case cfg.mode == resizeNearest || (cfg.mode == resizeLinear && !cfg.antialias):
		start, n = 0, 2
	case cfg.mode == resizeCubic && !cfg.antialias:
		start, n = -1, 4
	case cfg.mode == resizeLinear:
		support = min(scale, 1)
		start = int(math.Floor(-1/support)) + 1
		n = 2 - 2*start
	default: // antialiased cubic
		support = min(scale, 1)
		start = int(math.Floor(-2/support)) + 1
		n = 2 - 2*start
	}
	t := &resizeTaps{n: n, idx: make([]int, out*n), w: make([]float64, out*n), extrap: make([]bool, out)}
	coeffs := make([]float64, n)
	for o := range out {
		xo := float64(o)
		var xi float64
		switch cfg.coord {
		case resizeAlignCorners:
			if outW != 1 {
				xi = xo * float64(in-1) / (outW - 1)
			}
		case resizeAsymmetric:
			xi = xo / scale
		case resizeTFCropAndResize:
			if outW == 1 {
				xi = (roiEnd - roiStart) * float64(in-1) / 2
			} else {
				xi = xo * (roiEnd - roiStart) * float64(in-1) / (outW - 1)
			}
			xi += roiStart * float64(in-1)
			if xi < 0 || xi > float64(in-1) {
				t.extrap[o], t.any = true, true
				continue
			}
		case resizePytorchHalfPixel:
			if outW == 1 {
				xi = -0.5
			} else {
				xi = (xo+0.5)/scale - 0.5
			}
		case resizeTFHalfPixelForNN:
			xi = (xo + 0.5) / scale
		case resizeHalfPixelSymmetric:
			adjustment := float64(out) / outW
			center := float64(in) / 2
			xi = center*(1-adjustment) + (xo+0.5)/scale - 0.5
		default: // half_pixel
			xi = (xo+0.5)/scale - 0.5
		}
		base := math.Floor(xi)
		ratio := xi - base
		if ratio == 0 {
			base, ratio = xi-1, 1
		}
		cfg.coefficients(coeffs, ratio, support, start)
		sum := 0.0
		for k := range n {
			j := int(base) + start + k
			if cfg.excludeOutside && (j < 0 || j >= in) {
				coeffs[k] = 0
			}
			sum += coeffs[k]
			t.idx[o*n+k] = min(max(j, 0), in-1)
		}
		for k := range n {
			if cfg.excludeOutside && sum != 0 {
				coeffs[k] /= sum
			}
			t.w[o*n+k] = coeffs[k]
		}
	}
	return t
}

// coefficients fills c with the kernel weights for neighbours at offsets start… from the left
// neighbour, the sample lying ratio ∈ (0, 1] to the right of it.
func (cfg *resizeConfig) coefficients(c []float64, ratio, support float64, start int) {
	switch {
	case cfg.mode == resizeNearest:
		up := false
		switch {
		case ratio == 1:
			up = true
		case cfg.nearest == resizeRoundPreferFloor:
			up = ratio > 0.5
		case cfg.nearest == resizeRoundPreferCeil:
			up = ratio >= 0.5
		case cfg.nearest == resizeCeil:
			up = true
		}
		c[0], c[1] = 1, 0
		if up {
			c[0], c[1] = 0, 1
		}
	case cfg.mode == resizeLinear && support == 0:
		c[0], c[1] = 1-ratio, ratio
	case cfg.mode == resizeCubic && support == 0:
		a := cfg.cubicA
		r1, q, q1 := ratio+1, 1-ratio, 2-ratio
		c[0] = ((a*r1-5*a)*r1+8*a)*r1 - 4*a
		c[1] = ((a+2)*ratio-(a+3))*ratio*ratio + 1
		c[2] = ((a+2)*q-(a+3))*q*q + 1
		c[3] = ((a*q1-5*a)*q1+8*a)*q1 - 4*a
	default: // antialiased: the kernel stretched by 1/support, normalised to sum 1
		sum := 0.0
		for k := range c {
			d := math.Abs(float64(start+k)-ratio) * support
			if cfg.mode == resizeLinear {
				c[k] = min(max(1-d, 0), 1)
			} else {
				c[k] = resizeCubicKernel(d, cfg.cubicA)
			}
			sum += c[k]
		}
		for k := range c {
			c[k] /= sum
		}
	}
}

// resizeCubicKernel is Keys' cubic convolution kernel with parameter a at distance d ≥ 0.
func resizeCubicKernel(d, a float64) float64 {
	switch {
	case d <= 1:
		return ((a+2)*d-(a+3))*d*d + 1
	case d < 2:
		return ((a*d-5*a)*d+8*a)*d - 4*a
	}
	return 0
}

func (p *resizePlan) run(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	if p.cfg.mode == resizeNearest && !p.anyExtrapolation() {
		return p.runNearest(ctx, x)
	}
	switch d := x.Data.(type) {
	case []float32:
		return p.finish(ctx, x.DType, resizePasses(ctx, p, x.Shape, d, float32(p.cfg.extrapolation)))
	case []float64:
		return p.finish(ctx, x.DType, resizePasses(ctx, p, x.Shape, d, p.cfg.extrapolation))
	}
	wide := onehotFloat64s(x)
	if wide == nil {
		return nil, fmt.Errorf("mode needs a numeric input, got %v", x.DType)
	}
	res := resizePasses(ctx, p, x.Shape, wide, p.cfg.extrapolation)
	out := ctx.Alloc(x.DType, p.shape)
	if err := resizeNarrow(out, res); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *resizePlan) anyExtrapolation() bool {
	for _, t := range p.taps {
		if t != nil && t.any {
			return true
		}
	}
	return false
}

func (p *resizePlan) finish(ctx *Context, dt tensor.DType, data any) (*tensor.Tensor, error) {
	out := ctx.Alloc(dt, p.shape)
	m, err := moverFor(dt)
	if err != nil {
		return nil, err
	}
	m.copyRange(out.Data, 0, data, 0, out.Len())
	return out, nil
}

// runNearest gathers: each output element copies the single input element its taps select.
func (p *resizePlan) runNearest(ctx *Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	m, err := moverFor(x.DType)
	if err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	inStrides := tensor.Strides(x.Shape)
	maps := make([][]int, rank)
	for a := range rank {
		maps[a] = make([]int, p.shape[a])
		t := p.taps[a]
		for o := range maps[a] {
			src := o
			if t != nil {
				for k := range t.n {
					if t.w[o*t.n+k] != 0 {
						src = t.idx[o*t.n+k]
					}
				}
			}
			maps[a][o] = src * inStrides[a]
		}
	}
	out := ctx.Alloc(x.DType, p.shape)
	moveByAxisMaps(m, out, x, maps)
	return out, nil
}

// resizePasses resamples src (of shape) one axis at a time and returns data of the plan's shape.
func resizePasses[F float32 | float64](ctx *Context, p *resizePlan, shape []int, src []F, extrap F) []F {
	cur := append([]int(nil), shape...)
	data := src
	for a, t := range p.taps {
		if t == nil {
			continue
		}
		outer := tensor.NumElements(cur[:a])
		inner := tensor.NumElements(cur[a+1:])
		in, out := cur[a], p.shape[a]
		dst := make([]F, outer*out*inner)
		w := make([]F, len(t.w))
		for i, v := range t.w {
			w[i] = F(v)
		}
		ctx.Parallel(outer, max(1, (1<<15)/max(out*inner, 1)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				s, d := data[o*in*inner:(o+1)*in*inner], dst[o*out*inner:(o+1)*out*inner]
				if inner == 1 {
					resizeRowTaps(d, s, t, w, extrap)
					continue
				}
				for x := range out {
					row := d[x*inner : (x+1)*inner]
					if t.extrap[x] {
						for i := range row {
							row[i] = extrap
						}
						continue
					}
					for k := range t.n {
						wk := w[x*t.n+k]
						if wk == 0 {
							continue
						}
						from := s[t.idx[x*t.n+k]*inner:][:inner]
						for i, v := range from {
							row[i] += wk * v
						}
					}
				}
			}
		})
		data = dst
		cur[a] = out
	}
	if len(data) > 0 && &data[0] == &src[0] {
		data = append([]F(nil), data...)
	}
	return data
}

// resizeRowTaps resamples the innermost axis: each output element is a short dot product.
func resizeRowTaps[F float32 | float64](d, s []F, t *resizeTaps, w []F, extrap F) {
	n := t.n
	idx := t.idx[:len(d)*n]
	w = w[:len(d)*n]
	if n == 2 && !t.any { // nearest and plain linear
		for x := range d {
			d[x] = w[2*x]*s[idx[2*x]] + w[2*x+1]*s[idx[2*x+1]]
		}
		return
	}
	for x := range d {
		if t.extrap[x] {
			d[x] = extrap
			continue
		}
		var sum F
		for k, j := range idx[x*n : (x+1)*n] {
			sum += w[x*n+k] * s[j]
		}
		d[x] = sum
	}
}

// resizeNarrow stores float64 results into a tensor of a narrower type, rounding integers.
func resizeNarrow(out *tensor.Tensor, res []float64) error {
	switch d := out.Data.(type) {
	case []tensor.Float16Bits:
		for i, v := range res {
			d[i] = tensor.Float16FromFloat32(float32(v))
		}
	case []tensor.BFloat16Bits:
		for i, v := range res {
			d[i] = tensor.BFloat16FromFloat32(float32(v))
		}
	case []int8:
		resizeRound(d, res, math.MinInt8, math.MaxInt8)
	case []uint8:
		resizeRound(d, res, 0, math.MaxUint8)
	case []int16:
		resizeRound(d, res, math.MinInt16, math.MaxInt16)
	case []uint16:
		resizeRound(d, res, 0, math.MaxUint16)
	case []int32:
		resizeRound(d, res, math.MinInt32, math.MaxInt32)
	case []int64:
		resizeRound(d, res, math.MinInt64, math.MaxInt64)
	default:
		return fmt.Errorf("unsupported type %v", out.DType)
	}
	return nil
}

func resizeRound[T int8 | uint8 | int16 | uint16 | int32 | int64](d []T, res []float64, lo, hi float64) {
	for i, v := range res {
		d[i] = T(min(max(math.RoundToEven(v), lo), hi))
	}
}
