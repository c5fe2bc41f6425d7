package ops

import (
	"fmt"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

func init() {
	RegisterRange(DefaultDomain, "ConvTranspose", newConvTranspose, 1, 11, 22)
}

// convTransposeKernel is the gradient of Conv with respect to its input: per image and group,
// col = W_gᵀ·X_g (mg·kSize × inSize) and col2im scatters col into the output.
type convTransposeKernel struct {
	geom          windowGeom
	group         int
	outputPadding []int
	outputShape   []int
}

func newConvTranspose(n *Node) (Kernel, error) {
	geom, err := readWindowGeom(n)
	if err != nil {
		return nil, err
	}
	k := &convTransposeKernel{
		geom:          geom,
		group:         int(n.AttrInt("group", 1)),
		outputPadding: int64sToInts(n.AttrInts("output_padding", nil)),
		outputShape:   int64sToInts(n.AttrInts("output_shape", nil)),
	}
	if k.group < 1 {
		return nil, fmt.Errorf("group must be ≥ 1, got %d", k.group)
	}
	if n.NumInputs() < 2 {
		return nil, fmt.Errorf("ConvTranspose needs inputs X and W, has %d", n.NumInputs())
	}
	return k, nil
}

// geometry resolves output extents and begin pads (negative when output_shape asks for more
// than the natural size).
func (k *convTransposeKernel) geometry(in, kernel []int) (out, padBegin, strides, dilations []int, err error) {
	rank := len(in)
	strides, dilations, pads, err := k.geom.spatial(rank, kernel)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	outPad := k.outputPadding
	if len(outPad) == 0 {
		outPad = make([]int, rank)
	} else if len(outPad) != rank {
		return nil, nil, nil, nil, fmt.Errorf("output_padding has %d values, want %d", len(outPad), rank)
	}
	wantShape := k.outputShape
	if len(wantShape) == rank+2 {
		wantShape = wantShape[2:]
	}
	if len(wantShape) != 0 && len(wantShape) != rank {
		return nil, nil, nil, nil, fmt.Errorf("output_shape %v does not fit %d spatial dims", k.outputShape, rank)
	}
	out, padBegin = make([]int, rank), make([]int, rank)
	same := k.geom.autoPad == "SAME_UPPER" || k.geom.autoPad == "SAME_LOWER"
	for i := range in {
		natural := strides[i]*(in[i]-1) + outPad[i] + dilations[i]*(kernel[i]-1) + 1
		switch {
		case len(wantShape) != 0 || same:
			out[i] = in[i] * strides[i]
			if len(wantShape) != 0 {
				out[i] = wantShape[i]
			}
			// A negative total (output_shape beyond the natural size) extends the end.
			total := natural - out[i]
			half := floorDiv(total, 2)
			padBegin[i] = total - half
			if k.geom.autoPad == "SAME_UPPER" {
				padBegin[i] = half
			}
		case k.geom.autoPad == "VALID":
			out[i] = natural
		default:
			padBegin[i] = pads[i]
			out[i] = natural - pads[i] - pads[i+rank]
		}
		if out[i] < 1 {
			return nil, nil, nil, nil, fmt.Errorf("output extent %d in dim %d is not positive", out[i], i)
		}
	}
	return out, padBegin, strides, dilations, nil
}

func (k *convTransposeKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("ConvTranspose: inputs X and W are required")
	}
	x, w := inputs[0], inputs[1]
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("ConvTranspose: X %v and W %v must both be N-d images (rank ≥ 3)", x.Shape, w.Shape)
	}
	c, mg := x.Shape[1], w.Shape[1]
	if w.Shape[0] != c || c%k.group != 0 {
		return nil, fmt.Errorf("ConvTranspose: X %v, W %v and group %d do not agree", x.Shape, w.Shape, k.group)
	}
	s := &convShape{batch: x.Shape[0], c: c, m: mg * k.group, group: k.group, in: x.Shape[2:], kernel: w.Shape[2:]}
	var err error
	if s.out, s.padBegin, s.strides, s.dilations, err = k.geometry(s.in, s.kernel); err != nil {
		return nil, fmt.Errorf("ConvTranspose: %w", err)
	}
	s.inSize, s.outSize, s.kSize = tensor.NumElements(s.in), tensor.NumElements(s.out), tensor.NumElements(s.kernel)
	xv, err := floatInput(x, "ConvTranspose: X")
	if err != nil {
		return nil, err
	}
	wv, err := floatInput(w, "ConvTranspose: W")
	if err != nil {
		return nil, err
	}
	var bias []float32
	if len(inputs) > 2 && inputs[2] != nil {
		if bias, err = floatInput(inputs[2], "ConvTranspose: B"); err != nil {
			return nil, err
		}
		if len(bias) != s.m {
			return nil, fmt.Errorf("ConvTranspose: bias has %d values, want %d", len(bias), s.m)
		}
	}
	out := newFloatOutput(ctx, x.DType, append([]int{s.batch, s.m}, s.out...))
	cg := s.cg()
	rows := mg * s.kSize
	buf := getScratch(rows * s.inSize)
	defer convScratch.Put(buf)
	col := *buf
	for b := 0; b < s.batch; b++ {
		for g := 0; g < s.group; g++ {
			img := xv[(b*c+g*cg)*s.inSize : (b*c+(g+1)*cg)*s.inSize]
			wg := wv[g*cg*rows : (g+1)*cg*rows]
			if err := gemm.Sgemm(true, false, rows, s.inSize, cg, 1, wg, rows, img, s.inSize, 0, col, s.inSize, ctx.Threads); err != nil {
				return nil, fmt.Errorf("ConvTranspose: %w", err)
			}
			dst := out.v[(b*s.m+g*mg)*s.outSize : (b*s.m+(g+1)*mg)*s.outSize]
			ctx.Parallel(mg, 1, func(lo, hi int) {
				for m := lo; m < hi; m++ {
					col2im(s, col[m*s.kSize*s.inSize:(m+1)*s.kSize*s.inSize], dst[m*s.outSize:(m+1)*s.outSize])
				}
			})
		}
	}
	if bias != nil {
		for bm := 0; bm < s.batch*s.m; bm++ {
			v := bias[bm%s.m]
			plane := out.v[bm*s.outSize : (bm+1)*s.outSize]
			for i := range plane {
				plane[i] += v
			}
		}
	}
	return ctx.Result(out.tensor(ctx)), nil
}

// col2im adds one output channel's kSize × inSize contributions into its output plane: input
// position p under kernel tap t lands at p·stride + t·dilation − padBegin.
func col2im(s *convShape, rows, plane []float32) {
	rank := len(s.in)
	outStr := tensor.Strides(s.out)
	kIdx := make([]int, rank)
	iIdx := make([]int, rank)
	for kp := 0; kp < s.kSize; kp++ {
		row := rows[kp*s.inSize : (kp+1)*s.inSize]
		if rank == 2 {
			col2imRow2D(s, kIdx, row, plane)
			odometer(kIdx, s.kernel)
			continue
		}
		clear(iIdx)
		for ip := 0; ip < s.inSize; ip++ {
			off, inside := 0, true
			for d := 0; d < rank; d++ {
				pos := iIdx[d]*s.strides[d] + kIdx[d]*s.dilations[d] - s.padBegin[d]
				if pos < 0 || pos >= s.out[d] {
					inside = false
					break
				}
				off += pos * outStr[d]
			}
			if inside {
				plane[off] += row[ip]
			}
			odometer(iIdx, s.in)
		}
		odometer(kIdx, s.kernel)
	}
}

func col2imRow2D(s *convShape, kIdx []int, row, plane []float32) {
	ih, iw := s.in[0], s.in[1]
	oh, ow := s.out[0], s.out[1]
	yOff := kIdx[0]*s.dilations[0] - s.padBegin[0]
	xOff := kIdx[1]*s.dilations[1] - s.padBegin[1]
	sh, sw := s.strides[0], s.strides[1]
	// Input columns whose output column lies inside the plane: [lo, hi).
	lo := min(iw, max(0, ceilDivInt(-xOff, sw)))
	hi := max(lo, min(iw, ceilDivInt(ow-xOff, sw)))
	for iy := 0; iy < ih; iy++ {
		oy := iy*sh + yOff
		if oy < 0 || oy >= oh {
			continue
		}
		src := row[iy*iw : (iy+1)*iw]
		dst := plane[oy*ow : (oy+1)*ow]
		for ix := lo; ix < hi; ix++ {
			dst[ix*sw+xOff] += src[ix]
		}
	}
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
