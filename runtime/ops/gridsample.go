package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// GridSample and AffineGrid: sampling an N-D image at normalised coordinates, with PyTorch's
// conventions (which ONNX adopted) for denormalising, rounding and padding.

func init() {
	Register(DefaultDomain, "GridSample", 16, newGridSample)
	Register(DefaultDomain, "GridSample", 20, newGridSample)
	Register(DefaultDomain, "AffineGrid", 20, newAffineGrid)
}

type gridPadding int

const (
	gridZeros gridPadding = iota
	gridBorder
	gridReflection
)

type gridSampler struct {
	mode         resizeMode
	padding      gridPadding
	alignCorners bool
}

func newGridSample(n *Node) (Kernel, error) {
	g := &gridSampler{alignCorners: n.AttrInt("align_corners", 0) != 0}
	switch m := n.AttrString("mode", "linear"); m {
	case "bilinear", "linear":
		g.mode = resizeLinear
	case "nearest":
		g.mode = resizeNearest
	case "bicubic", "cubic":
		g.mode = resizeCubic
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	switch p := n.AttrString("padding_mode", "zeros"); p {
	case "zeros":
		g.padding = gridZeros
	case "border":
		g.padding = gridBorder
	case "reflection":
		g.padding = gridReflection
	default:
		return nil, fmt.Errorf("unknown padding_mode %q", p)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "X")
		if err != nil {
			return nil, err
		}
		grid, err := moveNeed(inputs, 1, "grid")
		if err != nil {
			return nil, err
		}
		out, err := g.run(ctx, x, grid)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}

func (g *gridSampler) run(ctx *Context, x, grid *tensor.Tensor) (*tensor.Tensor, error) {
	r := len(x.Shape) - 2
	if r < 1 || len(grid.Shape) != r+2 || grid.Shape[0] != x.Shape[0] || grid.Shape[r+1] != r {
		return nil, fmt.Errorf("X %v and grid %v do not fit: want grid [N, out…, %d]", tensor.ShapeString(x.Shape), tensor.ShapeString(grid.Shape), r)
	}
	xs, gs := onehotFloat64s(x), onehotFloat64s(grid)
	if xs == nil || gs == nil {
		return nil, fmt.Errorf("X and grid must be numeric")
	}
	nb, ch := x.Shape[0], x.Shape[1]
	dims := x.Shape[2:]
	outSpatial := grid.Shape[1 : r+1]
	points := tensor.NumElements(outSpatial)
	image := tensor.NumElements(dims)
	strides := tensor.Strides(dims)
	res := make([]float64, nb*ch*points)
	idx := make([][]int, r)
	w := make([][]float64, r)
	coord := make([]int, r)
	for b := range nb {
		for p := range points {
			// The grid's last axis lists coordinates innermost-first (x = width first).
			for i := range r {
				v := gs[(b*points+p)*r+(r-1-i)]
				idx[i], w[i] = g.taps(idx[i][:0], w[i][:0], v, dims[i])
			}
			for c := range ch {
				img := xs[(b*ch+c)*image : (b*ch+c+1)*image]
				// Sum over every combination of per-axis taps.
				for i := range coord {
					coord[i] = 0
				}
				sum := 0.0
				for {
					weight, off := 1.0, 0
					for i, k := range coord {
						if idx[i][k] < 0 {
							weight = 0
							break
						}
						weight *= w[i][k]
						off += idx[i][k] * strides[i]
					}
					if weight != 0 {
						sum += weight * img[off]
					}
					i := r - 1
					for ; i >= 0; i-- {
						coord[i]++
						if coord[i] < len(idx[i]) {
							break
						}
						coord[i] = 0
					}
					if i < 0 {
						break
					}
				}
				res[(b*ch+c)*points+p] = sum
			}
		}
	}
	shape := append([]int{nb, ch}, outSpatial...)
	out := ctx.Alloc(x.DType, shape)
	if err := einsumStore(out, res); err != nil {
		return nil, err
	}
	return out, nil
}

// taps turns a normalised coordinate on an axis of size dim into source indices (−1: outside,
// contributes zero) and weights.
func (g *gridSampler) taps(idx []int, w []float64, v float64, dim int) ([]int, []float64) {
	var x float64
	if g.alignCorners {
		x = (v + 1) / 2 * float64(dim-1)
	} else {
		x = ((v+1)*float64(dim) - 1) / 2
	}
	x = float64(float32(x)) // the reference keeps denormalised coordinates in float32
	lo, hi := -0.5, float64(dim)-0.5
	if g.alignCorners {
		lo, hi = 0, float64(dim-1)
	}
	if g.mode == resizeNearest {
		// Round half to even (nearbyint); the suite's 3-D expectations use it too.
		x = math.RoundToEven(x)
	}
	if x < lo || x > hi {
		switch g.padding {
		case gridBorder:
			x = min(max(x, 0), float64(dim-1))
		case gridReflection:
			x = gridReflect(x, lo, hi)
		}
	}
	pixel := func(i int) int {
		switch g.padding {
		case gridZeros:
			if i < 0 || i >= dim {
				return -1
			}
		case gridBorder:
			i = min(max(i, 0), dim-1)
		case gridReflection:
			i = int(gridReflect(float64(i), lo, hi))
		}
		return i
	}
	switch g.mode {
	case resizeNearest:
		return append(idx, pixel(int(x))), append(w, 1)
	case resizeLinear:
		x0 := math.Floor(x)
		t := x - x0
		return append(idx, pixel(int(x0)), pixel(int(x0)+1)), append(w, 1-t, t)
	default:
		x0 := math.Floor(x)
		t := x - x0
		for k := -1; k <= 2; k++ {
			idx = append(idx, pixel(int(x0)+k))
			w = append(w, resizeCubicKernel(math.Abs(float64(k)-t), -0.75))
		}
		return idx, w
	}
}

// gridReflect folds x back into [lo, hi] by reflecting at the borders as often as needed.
func gridReflect(x, lo, hi float64) float64 {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	switch {
	case x < lo:
		d := lo - x
		n := int(d / span)
		r := d - float64(n)*span
		if n%2 == 0 {
			return lo + r
		}
		return hi - r
	case x > hi:
		d := x - hi
		n := int(d / span)
		r := d - float64(n)*span
		if n%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return x
}

// newAffineGrid maps a normalised base grid through per-batch affine matrices theta
// ([N, 2, 3] for 2-D, [N, 3, 4] for 3-D) to produce GridSample's grid.
func newAffineGrid(n *Node) (Kernel, error) {
	alignCorners := n.AttrInt("align_corners", 0) != 0
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		theta, err := moveNeed(inputs, 0, "theta")
		if err != nil {
			return nil, err
		}
		size, err := moveInput(inputs, 1, "size")
		if err != nil {
			return nil, err
		}
		if len(size) != 4 && len(size) != 5 {
			return nil, fmt.Errorf("size %v must be [N, C, H, W] or [N, C, D, H, W]", size)
		}
		r := len(size) - 2
		nb := int(size[0])
		if !tensor.SameShape(theta.Shape, []int{nb, r, r + 1}) {
			return nil, fmt.Errorf("theta is %v, want [%d, %d, %d]", tensor.ShapeString(theta.Shape), nb, r, r+1)
		}
		th := onehotFloat64s(theta)
		if th == nil {
			return nil, fmt.Errorf("theta must be numeric")
		}
		spatial := make([]int, r)
		for i := range r {
			if size[2+i] < 0 {
				return nil, fmt.Errorf("size %v has a negative entry", size)
			}
			spatial[i] = int(size[2+i])
		}
		base := func(i, dim int) float64 {
			if alignCorners {
				if dim == 1 {
					return -1
				}
				return -1 + 2*float64(i)/float64(dim-1)
			}
			return (2*float64(i)+1)/float64(dim) - 1
		}
		if err := moveSized(append(append([]int{nb}, spatial...), r)); err != nil {
			return nil, err
		}
		points := tensor.NumElements(spatial)
		strides := tensor.Strides(spatial)
		res := make([]float64, nb*points*r)
		in := make([]float64, r+1)
		for b := range nb {
			m := th[b*r*(r+1) : (b+1)*r*(r+1)]
			for p := range points {
				// Homogeneous point (x, y[, z], 1): x runs along the last spatial axis.
				rest := p
				for i := range r {
					c := rest / strides[i]
					rest %= strides[i]
					in[r-1-i] = base(c, spatial[i])
				}
				in[r] = 1
				for row := range r {
					s := 0.0
					for k, v := range in {
						s += m[row*(r+1)+k] * v
					}
					res[(b*points+p)*r+row] = s
				}
			}
		}
		out := ctx.Alloc(theta.DType, append(append([]int{nb}, spatial...), r))
		if err := einsumStore(out, res); err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}
