package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

func init() {
	RegisterRange(DefaultDomain, "MaxPool", poolFactory(poolMax, false), 1, 8, 10, 11, 12, 22)
	RegisterRange(DefaultDomain, "AveragePool", poolFactory(poolAvg, false), 1, 7, 10, 11, 19, 22)
	RegisterRange(DefaultDomain, "LpPool", poolFactory(poolLp, false), 1, 2, 11, 18, 22)
	RegisterRange(DefaultDomain, "GlobalMaxPool", poolFactory(poolMax, true), 1, 22)
	RegisterRange(DefaultDomain, "GlobalAveragePool", poolFactory(poolAvg, true), 1, 22)
	RegisterRange(DefaultDomain, "GlobalLpPool", poolFactory(poolLp, true), 1, 2, 22)
}

type poolKind int

const (
	poolMax poolKind = iota
	poolAvg
	poolLp
)

// poolKernel is MaxPool, AveragePool, LpPool and their Global forms over N-d images.
type poolKernel struct {
	kind            poolKind
	global          bool
	geom            windowGeom
	ceilMode        bool
	countIncludePad bool
	columnMajor     bool // MaxPool storage_order 1: Indices count the spatial dims column-major
	wantIndices     bool // MaxPool's second output is requested
	p               float64
	// last is the geometry of the most recent input shape. Shapes rarely change between runs, so
	// it saves recomputing the window tables; it is immutable once stored, so concurrent Runs
	// may share it.
	last shapeMemo[*poolShape]
}

func poolFactory(kind poolKind, global bool) Factory {
	return func(n *Node) (Kernel, error) {
		k := &poolKernel{kind: kind, global: global, p: 2}
		if !global {
			geom, err := readWindowGeom(n)
			if err != nil {
				return nil, err
			}
			if len(geom.kernel) == 0 {
				return nil, fmt.Errorf("kernel_shape is required")
			}
			k.geom = geom
			k.ceilMode = n.AttrInt("ceil_mode", 0) != 0
			k.countIncludePad = n.AttrInt("count_include_pad", 0) != 0
			k.columnMajor = n.AttrInt("storage_order", 0) != 0
		}
		if a := n.Attr("p"); a != nil {
			// LpPool-1 declared p as a float; later versions as an int.
			if a.GetType() == 1 { // AttributeProto.FLOAT
				k.p = float64(a.GetF())
			} else {
				k.p = float64(a.GetI())
			}
			if k.p <= 0 {
				return nil, fmt.Errorf("p must be > 0, got %g", k.p)
			}
		}
		if kind != poolMax && n.NumOutputs() > 1 {
			return nil, fmt.Errorf("only MaxPool has an Indices output")
		}
		k.wantIndices = kind == poolMax && n.HasOutput(1)
		return k, nil
	}
}

// poolShape is the geometry of one pooling call.
type poolShape struct {
	planes                   int // batch × channels
	in, kernel, out          []int
	strides, dilations       []int
	padBegin, padEnd         []int
	inSize, outSize, kSize   int
	inStrides, windowOffsets []int // row-major strides of in; offset of each window tap from the window's corner
	indexStrides             []int // strides used to number Indices (row- or column-major)
	xShape, outShape         []int // the full input and output shapes (N, C, spatial...)

	// 2-D averages without Indices (poolPlane2D): per output column the valid and padded tap
	// counts.
	colCount, padCount []int
	// windowsInside: a 2-D max pool with short output rows whose every window lies inside the
	// image (no padding reached), which maxPlaneDirect computes window by window where rowPool
	// does not take it.
	windowsInside bool
	// evenPairs2x2: a 2×2 max pool at stride 2, unpadded, of planes with even sides, so that the
	// planes are back-to-back pairs of rows that vecmath.MaxPool2x2 pools in one call.
	evenPairs2x2 bool
	// rowPool is the vector kernel of a 2-D max pool without Indices or average pool at a
	// horizontal stride of 1 or 2 (ResNet's 3×3/2 stem pool, 3×3/1, 2×2/2 of odd or padded
	// planes); nil for other pools and the Global ones.
	rowPool *vecmath.Pool2D
}

// directMaxRow is the output row length below which a 2-D max pool takes each window's maximum
// directly (maxPlaneDirect) instead of reducing whole rows with vector calls: digits_cnn's 2×2
// pool of 8×8 planes spent 139 ns per plane in the vector calls' set-up, 70% of its time.
const directMaxRow = 16

// maxInto and addInto combine a window row into dst (dst is at most src's length).
func maxInto(dst, src []float32) { vecmath.MaxInto(dst, src[:len(dst)]) }
func addInto(dst, src []float32) { vecmath.Arith(vecmath.OpAdd, dst, dst, src[:len(dst)]) }

// maxRowLen is the length of the 2-D pools' padded row: the left padding, the image row, and
// −∞ up to the last tap of the last output column (ceil mode may reach past the end padding).
func (s *poolShape) maxRowLen() int {
	last := (s.out[1]-1)*s.strides[1] + (s.kernel[1]-1)*s.dilations[1] + 1
	return max(last, s.padBegin[1]+s.in[1])
}

// cachedShape returns the geometry for x, reusing the last one when x's shape is unchanged.
func (k *poolKernel) cachedShape(x *tensor.Tensor) (*poolShape, error) {
	return k.last.get(x.Shape, nil, func() (*poolShape, error) { return k.shape(x) })
}

func (k *poolKernel) shape(x *tensor.Tensor) (*poolShape, error) {
	s, err := k.geometry(x)
	if err != nil || len(s.in) != 2 || k.global || k.kind == poolLp || k.wantIndices || s.strides[1] > 2 {
		return s, err
	}
	in, out, kernel, strides, dilations := [2]int(s.in), [2]int(s.out), [2]int(s.kernel), [2]int(s.strides), [2]int(s.dilations)
	if k.kind == poolMax {
		s.rowPool, err = vecmath.NewMaxPool2D(in, out, kernel, strides, dilations, [2]int(s.padBegin))
	} else {
		s.rowPool, err = vecmath.NewAveragePool2D(in, out, kernel, strides, dilations, [2]int(s.padBegin), [2]int(s.padEnd), k.countIncludePad)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// geometry is the geometry of x's pool, without the vector kernel's plan.
func (k *poolKernel) geometry(x *tensor.Tensor) (*poolShape, error) {
	if x.Rank() < 3 {
		return nil, fmt.Errorf("input %v must be an N-d image (rank ≥ 3)", x.Shape)
	}
	// The geometry outlives this call (cachedShape), so it keeps copies of x's dims: a run's
	// tensors may have their shapes in storage that a later run reuses.
	xShape := slices.Clone(x.Shape)
	s := &poolShape{planes: x.Shape[0] * x.Shape[1], in: xShape[2:], xShape: xShape}
	rank := len(s.in)
	if k.global {
		s.kernel = s.in
		s.out = make([]int, rank)
		s.strides, s.dilations = make([]int, rank), make([]int, rank)
		s.padBegin, s.padEnd = make([]int, rank), make([]int, rank)
		for i := range s.out {
			s.out[i], s.strides[i], s.dilations[i] = 1, 1, 1
		}
	} else {
		s.kernel = k.geom.kernel
		var err error
		if s.out, s.padBegin, s.padEnd, err = k.geom.forward(s.in, s.kernel, k.ceilMode); err != nil {
			return nil, err
		}
		s.strides, s.dilations, _, _ = k.geom.spatial(rank, s.kernel)
	}
	s.inSize, s.outSize, s.kSize = tensor.NumElements(s.in), tensor.NumElements(s.out), tensor.NumElements(s.kernel)
	s.inStrides = tensor.Strides(s.in)
	s.windowOffsets = make([]int, s.kSize)
	kIdx := make([]int, rank)
	for kp := range s.windowOffsets {
		for d := range kIdx {
			s.windowOffsets[kp] += kIdx[d] * s.dilations[d] * s.inStrides[d]
		}
		odometer(kIdx, s.kernel)
	}
	s.outShape = append([]int{x.Shape[0], x.Shape[1]}, s.out...)
	if rank == 2 {
		s.plan2D(k.kind == poolAvg)
		s.windowsInside = k.kind == poolMax && s.out[1] < directMaxRow && !slices.ContainsFunc(s.padBegin, func(p int) bool { return p != 0 })
		for d := range 2 {
			s.windowsInside = s.windowsInside && (s.out[d]-1)*s.strides[d]+(s.kernel[d]-1)*s.dilations[d] < s.in[d]
		}
		s.evenPairs2x2 = k.kind == poolMax && slices.Equal(s.kernel, []int{2, 2}) && slices.Equal(s.strides, []int{2, 2}) &&
			slices.Equal(s.dilations, []int{1, 1}) && !slices.ContainsFunc(append(slices.Clone(s.padBegin), s.padEnd...), func(p int) bool { return p != 0 }) &&
			s.in[0]%2 == 0 && s.in[1]%2 == 0 && slices.Equal(s.out, []int{s.in[0] / 2, s.in[1] / 2})
	}
	s.indexStrides = s.inStrides
	if k.columnMajor {
		s.indexStrides = make([]int, rank)
		st := 1
		for d := 0; d < rank; d++ {
			s.indexStrides[d] = st
			st *= s.in[d]
		}
	}
	return s, nil
}

func (k *poolKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 1 || inputs[0] == nil {
		return nil, fmt.Errorf("pool: input X is required")
	}
	x := inputs[0]
	s, err := k.cachedShape(x)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	outShape := s.outShape // shared: Alloc copies the shape into the tensor it returns
	var xv []float32
	var out floatOutput
	switch x.DType {
	case tensor.Int8, tensor.Uint8:
		if k.kind != poolMax {
			return nil, fmt.Errorf("pool: %v input is only supported by MaxPool", x.DType)
		}
		xv = widenSmallInts(x.Data)
		out = floatOutput{dt: x.DType, shape: outShape, v: make([]float32, tensor.NumElements(outShape))}
	default:
		if xv, err = floatInput(x, "pool: X"); err != nil {
			return nil, err
		}
		out = newFloatOutputOverwrite(ctx, x.DType, outShape) // every window is stored
	}
	var indices []int64
	var indexTensor *tensor.Tensor
	if k.wantIndices {
		indexTensor = ctx.Alloc(tensor.Int64, outShape)
		indices = indexTensor.I64()
	}
	job := poolJob{k: k, s: s, xv: xv, out: out.v, indices: indices}
	// A chunk should hold enough windows to pay for its goroutine.
	minPlanes := max(1, (1<<14)/max(1, s.outSize*s.kSize))
	if ctx == nil || ctx.Threads <= 1 || s.planes < 2*minPlanes {
		job.planes(0, s.planes) // inline, without a closure to allocate
	} else {
		poolTasks.Run(ctx, s.planes, minPlanes, &job)
	}
	var result *tensor.Tensor
	if x.DType == tensor.Int8 || x.DType == tensor.Uint8 {
		result = ctx.Alloc(x.DType, outShape)
		narrowInts(result.Data, out.v)
	} else {
		result = out.tensor(ctx)
	}
	outs := ctx.Results(2)
	outs[0], outs[1] = result, indexTensor
	return outs, nil
}

// poolJob is one pooling call, split by (image, channel) plane.
type poolJob struct {
	k       *poolKernel
	s       *poolShape
	xv, out []float32
	indices []int64 // MaxPool's Indices output, nil when not requested
}

// planes pools planes [lo, hi).
var poolTasks TaskPool[poolJob, *poolJob]

// Chunk implements workers.Task: planes [lo, hi).
func (j *poolJob) Chunk(lo, hi int) { j.planes(lo, hi) }

func (j *poolJob) planes(lo, hi int) {
	k, s := j.k, j.s
	if s.evenPairs2x2 && j.indices == nil {
		if err := vecmath.MaxPool2x2(j.out[lo*s.outSize:hi*s.outSize], j.xv[lo*s.inSize:hi*s.inSize], s.in[1]); err != nil {
			panic(err) // the lengths follow from the shape checked when it was planned
		}
		return
	}
	if s.rowPool != nil {
		buf := getScratch(s.rowPool.ScratchLen())
		defer convScratch.Put(buf)
		if err := s.rowPool.Run(j.out[lo*s.outSize:hi*s.outSize], j.xv[lo*s.inSize:hi*s.inSize], *buf); err != nil {
			panic(err) // the lengths follow from the shape checked when it was planned
		}
		return
	}
	if k.global && k.kind == poolAvg {
		// One window over each whole plane: the mean of a contiguous run, as ReduceMean over
		// trailing axes computes it, whatever the rank.
		sumContiguous(j.out[lo:hi], j.xv[lo*s.inSize:hi*s.inSize], s.inSize, true)
		return
	}
	var corner []int
	var colMax []float32 // poolPlane2D's row buffer for max pooling
	if k.kind != poolLp && len(s.in) == 2 && j.indices == nil {
		buf := getScratch(2 * s.maxRowLen())
		defer convScratch.Put(buf)
		colMax = *buf
	}
	for pl := lo; pl < hi; pl++ {
		plane := j.xv[pl*s.inSize : (pl+1)*s.inSize]
		dst := j.out[pl*s.outSize : (pl+1)*s.outSize]
		var idx []int64
		if j.indices != nil {
			idx = j.indices[pl*s.outSize : (pl+1)*s.outSize]
		}
		if s.windowsInside && idx == nil {
			s.maxPlaneDirect(plane, dst)
			continue
		}
		if len(s.in) == 2 && idx == nil && k.kind != poolLp {
			k.poolPlane2D(s, plane, dst, colMax)
			continue
		}
		if corner == nil {
			corner = make([]int, len(s.in))
		}
		k.poolPlane(s, plane, dst, idx, int64(pl*s.inSize), corner)
	}
}

// widenSmallInts converts int8 or uint8 values to float32, which holds them exactly.
func widenSmallInts(src any) []float32 {
	switch d := src.(type) {
	case []int8:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out
	case []uint8:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out
	}
	return nil
}

// narrowInts stores float32 values that are exact small integers into an int8 or uint8 slice.
func narrowInts(dst any, src []float32) {
	switch d := dst.(type) {
	case []int8:
		for i, v := range src {
			d[i] = int8(v)
		}
	case []uint8:
		for i, v := range src {
			d[i] = uint8(v)
		}
	}
}

// poolPlane pools one (image, channel) plane. Windows wholly inside the image read their taps
// through precomputed offsets; windows touching padding check each tap.
func (k *poolKernel) poolPlane(s *poolShape, plane, dst []float32, idx []int64, planeBase int64, corner []int) {
	rank := len(s.in)
	oIdx := make([]int, rank)
	kIdx := make([]int, rank)
	for op := range dst {
		inside := true
		base := 0
		for d := 0; d < rank; d++ {
			corner[d] = oIdx[d]*s.strides[d] - s.padBegin[d]
			if corner[d] < 0 || corner[d]+s.dilations[d]*(s.kernel[d]-1) >= s.in[d] {
				inside = false
			}
			base += corner[d] * s.inStrides[d]
		}
		var (
			acc     float64
			best    = float32(math.Inf(-1))
			bestTap = -1
			count   int
		)
		clear(kIdx)
		for kp := 0; kp < s.kSize; kp++ {
			off := 0
			valid := inside
			if inside {
				off = base + s.windowOffsets[kp]
			} else {
				valid = true
				padded := true // inside the padded extent, for count_include_pad
				for d := 0; d < rank; d++ {
					pos := corner[d] + kIdx[d]*s.dilations[d]
					if pos < 0 || pos >= s.in[d] {
						valid = false
						if pos < -s.padBegin[d] || pos >= s.in[d]+s.padEnd[d] {
							padded = false
						}
					}
					off += pos * s.inStrides[d]
				}
				if !valid && padded && k.countIncludePad {
					count++
				}
				odometer(kIdx, s.kernel)
			}
			if !valid {
				continue
			}
			v := plane[off]
			switch k.kind {
			case poolMax:
				if v > best || bestTap < 0 && !isNaN32(v) {
					best, bestTap = v, kp
				}
			case poolAvg:
				acc += float64(v)
				count++
			case poolLp:
				acc += math.Pow(math.Abs(float64(v)), k.p)
			}
		}
		switch k.kind {
		case poolMax:
			dst[op] = best
			if idx != nil {
				idx[op] = planeBase + int64(k.tapIndex(s, corner, bestTap))
			}
		case poolAvg:
			if count > 0 {
				dst[op] = float32(acc / float64(count))
			} else {
				dst[op] = float32(math.NaN())
			}
		case poolLp:
			dst[op] = float32(math.Pow(acc, 1/k.p))
		}
		odometer(oIdx, s.out)
	}
}

func isNaN32(v float32) bool { return v != v }

// tapIndex numbers the input element under window tap kp (row- or column-major per
// storage_order); 0 when the window saw no value.
func (k *poolKernel) tapIndex(s *poolShape, corner []int, kp int) int {
	if kp < 0 {
		return 0
	}
	index := 0
	for d := len(s.in) - 1; d >= 0; d-- {
		kd := kp % s.kernel[d]
		kp /= s.kernel[d]
		index += (corner[d] + kd*s.dilations[d]) * s.indexStrides[d]
	}
	return index
}

// tapRange returns the kernel taps [lo, hi) of a window starting at start (stride dil) that
// land in [from, to).
func tapRange(start, dil, taps, from, to int) (lo, hi int) {
	if dil == 1 {
		lo = min(taps, max(0, from-start))
		hi = max(lo, min(taps, to-start))
		return lo, hi
	}
	lo = min(taps, max(0, ceilDivInt(from-start, dil)))
	hi = max(lo, min(taps, ceilDivInt(to-start, dil)))
	return lo, hi
}

// plan2D fills the per-column tap counts of a 2-D average pool (see poolShape.colCount).
func (s *poolShape) plan2D(average bool) {
	iw, kw, ow := s.in[1], s.kernel[1], s.out[1]
	sw, dw, left := s.strides[1], s.dilations[1], s.padBegin[1]
	if average {
		s.colCount, s.padCount = make([]int, ow), make([]int, ow)
		for ox := range s.colCount {
			x0 := ox*sw - left
			lo, hi := tapRange(x0, dw, kw, 0, iw)
			plo, phi := tapRange(x0, dw, kw, -left, iw+s.padEnd[1])
			s.colCount[ox], s.padCount[ox] = hi-lo, phi-plo
		}
	}
}

// maxPlaneDirect is the 2-D max pool of one plane whose windows all lie inside it
// (windowsInside), each window's maximum taken in turn, with Go's max semantics like
// vecmath.MaxInto: NaN if any tap is NaN.
func (s *poolShape) maxPlaneDirect(plane, dst []float32) {
	iw, oh, ow := s.in[1], s.out[0], s.out[1]
	kh, kw := s.kernel[0], s.kernel[1]
	rowStep, colStep := s.dilations[0]*iw, s.dilations[1]
	if kh == 2 && kw == 2 && colStep == 1 { // the CNNs' 2×2 pool: three maxima per window, in two rows
		for oy := 0; oy < oh; oy++ {
			top := plane[oy*s.strides[0]*iw:]
			bottom := top[rowStep:]
			row := dst[oy*ow : (oy+1)*ow]
			for ox := range row {
				x := ox * s.strides[1]
				row[ox] = max(max(top[x], top[x+1]), max(bottom[x], bottom[x+1]))
			}
		}
		return
	}
	for oy := 0; oy < oh; oy++ {
		row := dst[oy*ow : (oy+1)*ow]
		for ox := range row {
			corner := oy*s.strides[0]*iw + ox*s.strides[1]
			m := plane[corner]
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					m = max(m, plane[corner+ky*rowStep+kx*colStep])
				}
			}
			row[ox] = m
		}
	}
}

// poolPlane2D is the 2-D max and average pool without Indices, row by row over separable
// vector reductions (see below). colMax is a scratch of 2·maxRowLen values.
func (k *poolKernel) poolPlane2D(s *poolShape, plane, dst, colMax []float32) {
	ih, iw := s.in[0], s.in[1]
	kh := s.kernel[0]
	ow := s.out[1]
	sw := s.strides[1]
	dh := s.dilations[0]
	colCount, padCount := s.colCount, s.padCount
	negInf := float32(math.Inf(-1))
	for oy := 0; oy < s.out[0]; oy++ {
		y0 := oy*s.strides[0] - s.padBegin[0]
		kyLo, kyHi := tapRange(y0, dh, kh, 0, ih)
		row := dst[oy*ow : (oy+1)*ow]
		// Max and sum are separable: reduce the kh window rows first, then the kw columns, each
		// step a vector operation over whole rows; the row sits between paddings (−∞ for max,
		// 0 for a sum) so that every tap reads in range, and the stride picks the outputs from
		// the stride-1 results.
		combine, fill := maxInto, negInf
		if k.kind != poolMax {
			combine, fill = addInto, 0
		}
		if kyLo == kyHi {
			for i := range row {
				row[i] = fill
			}
		} else {
			rowLen := s.maxRowLen()
			padded, h := colMax[:rowLen], colMax[rowLen:rowLen+(ow-1)*sw+1]
			left := s.padBegin[1]
			for i := range padded[:left] {
				padded[i] = fill
			}
			for i := range padded[left+iw:] {
				padded[left+iw+i] = fill
			}
			inner := padded[left : left+iw]
			copy(inner, plane[(y0+kyLo*dh)*iw:(y0+kyLo*dh+1)*iw])
			for ky := kyLo + 1; ky < kyHi; ky++ {
				combine(inner, plane[(y0+ky*dh)*iw:(y0+ky*dh+1)*iw])
			}
			copy(h, padded)
			for kx := 1; kx < s.kernel[1]; kx++ {
				combine(h, padded[kx*s.dilations[1]:])
			}
			if sw == 1 {
				copy(row, h)
			} else {
				for ox := range row {
					row[ox] = h[ox*sw]
				}
			}
		}
		if k.kind == poolMax {
			continue
		}
		rows := kyHi - kyLo
		if k.countIncludePad {
			lo, hi := tapRange(y0, dh, kh, -s.padBegin[0], ih+s.padEnd[0])
			rows = hi - lo
		}
		for ox := range row {
			count := rows * colCount[ox]
			if k.countIncludePad {
				count = rows * padCount[ox]
			}
			if count > 0 {
				row[ox] /= float32(count)
			} else {
				row[ox] = float32(math.NaN())
			}
		}
	}
}
