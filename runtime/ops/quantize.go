package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Linear quantization: QuantizeLinear, DequantizeLinear and the integer products MatMulInteger,
// QLinearMatMul, ConvInteger and QLinearConv. Quantized types are the 8- and 16-bit integers
// (int4, int2 and the float8/float4 formats are not tensor types here). Integer products are
// exact int32 loops: these ops are rare in the float models actswap targets. QuantizeLinear and
// DequantizeLinear also take the 4- and 2-bit integers (clamped like the others) and the
// float8/float4 formats, for which x/scale + zero point is cast like Cast does (saturating
// unless 'saturate' is 0), without rounding to an integer first.

func init() {
	RegisterRange(DefaultDomain, "QuantizeLinear", newQuantizeLinear, 10, 13, 19, 21, 23, 24, 25)
	RegisterRange(DefaultDomain, "DequantizeLinear", newDequantizeLinear, 10, 13, 19, 21, 23, 24, 25)
	Register(DefaultDomain, "MatMulInteger", 10, newMatMulInteger)
	RegisterRange(DefaultDomain, "QLinearMatMul", newQLinearMatMul, 10, 21)
	Register(DefaultDomain, "ConvInteger", 10, newConvInteger)
	Register(DefaultDomain, "QLinearConv", 10, newQLinearConv)
}

// quantRange is the representable range of a quantized integer type.
func quantRange(dt tensor.DType) (lo, hi float64, err error) {
	switch dt {
	case tensor.Uint8:
		return 0, math.MaxUint8, nil
	case tensor.Int8:
		return math.MinInt8, math.MaxInt8, nil
	case tensor.Uint16:
		return 0, math.MaxUint16, nil
	case tensor.Int16:
		return math.MinInt16, math.MaxInt16, nil
	case tensor.Int32, tensor.Int4, tensor.Uint4, tensor.Int2, tensor.Uint2:
		l, h, _ := tensor.IntRange(dt)
		return float64(l), float64(h), nil
	}
	return 0, 0, fmt.Errorf("quantized type %v is not supported (uint8, int8, uint16, int16, int32, int4, uint4, int2, uint2, float8, float4e2m1)", dt)
}

// quantInts widens integer tensor values to int32.
func quantInts(t *tensor.Tensor, what string) ([]int32, error) {
	out := make([]int32, t.Len())
	switch d := t.Data.(type) {
	case []uint8:
		for i, v := range d {
			out[i] = int32(v)
		}
	case []int8:
		for i, v := range d {
			out[i] = int32(v)
		}
	case []uint16:
		for i, v := range d {
			out[i] = int32(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = int32(v)
		}
	case []int32:
		copy(out, d)
	case []tensor.Int4Value, []tensor.Uint4Value, []tensor.Int2Value, []tensor.Uint2Value:
		v, _ := tensor.Float64s(t)
		for i, x := range v {
			out[i] = int32(x)
		}
	default:
		return nil, fmt.Errorf("%s: dtype %v is not a supported quantized type", what, t.DType)
	}
	return out, nil
}

// storeQuantized rounds half to even, saturates to dt and stores.
func storeQuantized(ctx *Context, dt tensor.DType, shape []int, vals []float64) (*tensor.Tensor, error) {
	lo, hi, err := quantRange(dt)
	if err != nil {
		return nil, err
	}
	out := ctx.Alloc(dt, shape)
	q := func(v float64) float64 { return math.Max(lo, math.Min(hi, math.RoundToEven(v))) }
	switch d := out.Data.(type) {
	case []uint8:
		for i, v := range vals {
			d[i] = uint8(q(v))
		}
	case []int8:
		for i, v := range vals {
			d[i] = int8(q(v))
		}
	case []uint16:
		for i, v := range vals {
			d[i] = uint16(q(v))
		}
	case []int16:
		for i, v := range vals {
			d[i] = int16(q(v))
		}
	case []int32:
		for i, v := range vals {
			d[i] = int32(q(v))
		}
	default: // the 4- and 2-bit integers: clamped values fit, so the cast's wrap-around never acts
		for i, v := range vals {
			vals[i] = q(v)
		}
		if err := storeLowBit(vals, out, defaultCastOptions); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// quantLayout maps an element of x to its scale and zero point: one for the tensor, one per
// index along axis, or one per block of blockSize indices along axis.
type quantLayout struct {
	axisLen, inner int
	perAxis        bool
	block          int // > 0 for blocked quantization
	scaleAxisLen   int
}

func newQuantLayout(xShape, scaleShape []int, axis, block int) (quantLayout, error) {
	l := quantLayout{}
	scaleLen := tensor.NumElements(scaleShape)
	if scaleLen == 1 && block == 0 {
		return l, nil
	}
	rank := len(xShape)
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return l, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	l.axisLen = xShape[axis]
	l.inner = tensor.NumElements(xShape[axis+1:])
	if block > 0 {
		if len(scaleShape) != rank || scaleShape[axis] != (xShape[axis]+block-1)/block {
			return l, fmt.Errorf("blocked scale %v does not match input %v with block_size %d on axis %d", scaleShape, xShape, block, axis)
		}
		l.block, l.scaleAxisLen = block, scaleShape[axis]
		return l, nil
	}
	if len(scaleShape) != 1 || scaleShape[0] != xShape[axis] {
		return l, fmt.Errorf("scale %v is neither a scalar nor one value per index of axis %d of %v", scaleShape, axis, xShape)
	}
	l.perAxis = true
	return l, nil
}

func (l quantLayout) index(i int) int {
	switch {
	case l.block > 0:
		a := (i / l.inner) % l.axisLen
		outer := i / (l.inner * l.axisLen)
		return (outer*l.scaleAxisLen+a/l.block)*l.inner + i%l.inner
	case l.perAxis:
		return (i / l.inner) % l.axisLen
	}
	return 0
}

type quantizeKernel struct {
	axis, block int
	outputType  tensor.DType
	saturate    bool
}

func newQuantizeLinear(n *Node) (Kernel, error) {
	k := &quantizeKernel{axis: int(n.AttrInt("axis", 1)), block: int(n.AttrInt("block_size", 0)),
		outputType: tensor.DType(n.AttrInt("output_dtype", 0)), saturate: n.AttrInt("saturate", 1) != 0}
	if k.block < 0 {
		return nil, fmt.Errorf("block_size must be ≥ 0, got %d", k.block)
	}
	return k, nil
}

func (k *quantizeKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("QuantizeLinear: x and y_scale are required")
	}
	x, scaleT := inputs[0], inputs[1]
	var xv []float32
	var err error
	if x.DType == tensor.Int32 {
		ints, _ := quantInts(x, "x")
		xv = make([]float32, len(ints))
		for i, v := range ints {
			xv[i] = float32(v)
		}
	} else if xv, err = floatInput(x, "QuantizeLinear: x"); err != nil {
		return nil, err
	}
	scale, err := floatInput(scaleT, "QuantizeLinear: y_scale")
	if err != nil {
		return nil, err
	}
	layout, err := newQuantLayout(x.Shape, scaleT.Shape, k.axis, k.block)
	if err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %w", err)
	}
	outType := tensor.Uint8
	if k.outputType != tensor.Undefined {
		outType = k.outputType
	}
	if len(inputs) > 2 && inputs[2] != nil && inputs[2].DType.IsStorageFloat() {
		return k.quantizeToFloat(ctx, xv, scale, layout, x.Shape, inputs[2])
	}
	if len(inputs) <= 2 || inputs[2] == nil {
		if outType.IsStorageFloat() {
			return k.quantizeToFloat(ctx, xv, scale, layout, x.Shape, tensor.Zeros(outType, []int{len(scale)}))
		}
	}
	var zp []int32
	if len(inputs) > 2 && inputs[2] != nil {
		outType = inputs[2].DType
		if zp, err = quantInts(inputs[2], "QuantizeLinear: y_zero_point"); err != nil {
			return nil, err
		}
		if len(zp) != len(scale) {
			return nil, fmt.Errorf("QuantizeLinear: y_zero_point has %d values, y_scale %d", len(zp), len(scale))
		}
	}
	vals := make([]float64, len(xv))
	for i, v := range xv {
		s := layout.index(i)
		// Divide in float32 and round before adding the zero point, as the reference does.
		q := math.RoundToEven(float64(v / scale[s]))
		if zp != nil {
			q += float64(zp[s])
		}
		vals[i] = q
	}
	y, err := storeQuantized(ctx, outType, x.Shape, vals)
	if err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %w", err)
	}
	return ctx.Result(y), nil
}

// quantizeToFloat casts x/scale + zero point to the zero point's float8/float4 type.
func (k *quantizeKernel) quantizeToFloat(ctx *Context, xv, scale []float32, layout quantLayout, shape []int, zpT *tensor.Tensor) ([]*tensor.Tensor, error) {
	zp, _ := tensor.Float64s(zpT)
	if len(zp) != len(scale) {
		return nil, fmt.Errorf("QuantizeLinear: y_zero_point has %d values, y_scale %d", len(zp), len(scale))
	}
	vals := make([]float64, len(xv))
	for i, v := range xv {
		s := layout.index(i)
		vals[i] = float64(v/scale[s]) + zp[s]
	}
	y := ctx.Alloc(zpT.DType, shape)
	if err := storeLowBit(vals, y, castOptions{saturate: k.saturate}); err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %w", err)
	}
	return ctx.Result(y), nil
}

type dequantizeKernel struct {
	axis, block int
	outputType  tensor.DType
}

func newDequantizeLinear(n *Node) (Kernel, error) {
	return &dequantizeKernel{axis: int(n.AttrInt("axis", 1)), block: int(n.AttrInt("block_size", 0)),
		outputType: tensor.DType(n.AttrInt("output_dtype", 0))}, nil
}

func (k *dequantizeKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("DequantizeLinear: x and x_scale are required")
	}
	x, scaleT := inputs[0], inputs[1]
	if _, _, err := quantRange(x.DType); err != nil && !x.DType.IsStorageFloat() {
		return nil, fmt.Errorf("DequantizeLinear: x: %w", err)
	}
	// Integers of up to 32 bits and the float8/float4 values are exact in float64, and so is
	// their difference with a zero point of the same type.
	xv, _ := tensor.Float64s(x)
	scale, err := floatInput(scaleT, "DequantizeLinear: x_scale")
	if err != nil {
		return nil, err
	}
	layout, err := newQuantLayout(x.Shape, scaleT.Shape, k.axis, k.block)
	if err != nil {
		return nil, fmt.Errorf("DequantizeLinear: %w", err)
	}
	var zp []float64
	if len(inputs) > 2 && inputs[2] != nil {
		if inputs[2].DType != x.DType {
			return nil, fmt.Errorf("DequantizeLinear: x_zero_point is %v, x is %v", inputs[2].DType, x.DType)
		}
		zp, _ = tensor.Float64s(inputs[2])
		if len(zp) != len(scale) {
			return nil, fmt.Errorf("DequantizeLinear: x_zero_point has %d values, x_scale %d", len(zp), len(scale))
		}
	}
	outType := scaleT.DType
	if k.outputType != tensor.Undefined {
		outType = k.outputType
	}
	if !isFloatDType(outType) {
		return nil, fmt.Errorf("DequantizeLinear: output type %v is not a float type", outType)
	}
	out := newFloatOutput(ctx, outType, x.Shape)
	for i, v := range xv {
		s := layout.index(i)
		if zp != nil {
			v -= zp[s]
		}
		out.v[i] = float32(v) * scale[s]
	}
	return ctx.Result(out.tensor(ctx)), nil
}

// zeroPointShifted returns values minus their zero point: none, a scalar, or one per index of
// the given axis-like position picked by at.
func zeroPointShifted(vals []int32, zp []int32, at func(i int) int, what string) ([]int32, error) {
	switch {
	case len(zp) == 0:
		return vals, nil
	case len(zp) == 1:
		for i := range vals {
			vals[i] -= zp[0]
		}
		return vals, nil
	case at == nil:
		return nil, fmt.Errorf("%s: zero point must be a scalar, has %d values", what, len(zp))
	}
	for i := range vals {
		j := at(i)
		if j >= len(zp) {
			return nil, fmt.Errorf("%s: zero point has %d values, needs %d", what, len(zp), j+1)
		}
		vals[i] -= zp[j]
	}
	return vals, nil
}

func optionalInts(inputs []*tensor.Tensor, i int, what string) ([]int32, error) {
	if i >= len(inputs) || inputs[i] == nil {
		return nil, nil
	}
	return quantInts(inputs[i], what)
}

func optionalFloats(inputs []*tensor.Tensor, i int, what string) ([]float32, error) {
	if i >= len(inputs) || inputs[i] == nil {
		return nil, fmt.Errorf("%s is required", what)
	}
	return floatInput(inputs[i], what)
}

// integerMatMul computes (A − a_zp)·(B − b_zp) in int32 with MatMul's batching; a_zp may be
// per row of A and b_zp per column of B.
func integerMatMul(a, b *tensor.Tensor, azp, bzp []int32) (*matMulPlan, []int32, error) {
	p, err := planMatMul(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	av, err := quantInts(a, "A")
	if err != nil {
		return nil, nil, err
	}
	bv, err := quantInts(b, "B")
	if err != nil {
		return nil, nil, err
	}
	if av, err = zeroPointShifted(av, azp, func(i int) int { return (i / p.k) % p.m }, "A"); err != nil {
		return nil, nil, err
	}
	if bv, err = zeroPointShifted(bv, bzp, func(i int) int { return i % p.n }, "B"); err != nil {
		return nil, nil, err
	}
	out := make([]int32, tensor.NumElements(p.outShape))
	matMulIntLoop(p, av, bv, out)
	return p, out, nil
}

func newMatMulInteger(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
			return nil, fmt.Errorf("MatMulInteger: A and B are required")
		}
		azp, err := optionalInts(inputs, 2, "MatMulInteger: a_zero_point")
		if err != nil {
			return nil, err
		}
		bzp, err := optionalInts(inputs, 3, "MatMulInteger: b_zero_point")
		if err != nil {
			return nil, err
		}
		p, acc, err := integerMatMul(inputs[0], inputs[1], azp, bzp)
		if err != nil {
			return nil, fmt.Errorf("MatMulInteger: %w", err)
		}
		return []*tensor.Tensor{tensor.New(p.outShape, acc)}, nil
	}), nil
}

func newQLinearMatMul(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) < 8 || inputs[0] == nil || inputs[3] == nil || inputs[7] == nil {
			return nil, fmt.Errorf("QLinearMatMul: needs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point")
		}
		as, err := optionalFloats(inputs, 1, "QLinearMatMul: a_scale")
		if err != nil {
			return nil, err
		}
		bs, err := optionalFloats(inputs, 4, "QLinearMatMul: b_scale")
		if err != nil {
			return nil, err
		}
		ys, err := optionalFloats(inputs, 6, "QLinearMatMul: y_scale")
		if err != nil {
			return nil, err
		}
		azp, err := optionalInts(inputs, 2, "QLinearMatMul: a_zero_point")
		if err != nil {
			return nil, err
		}
		bzp, err := optionalInts(inputs, 5, "QLinearMatMul: b_zero_point")
		if err != nil {
			return nil, err
		}
		yzp, err := quantInts(inputs[7], "QLinearMatMul: y_zero_point")
		if err != nil {
			return nil, err
		}
		if len(ys) != 1 || len(yzp) != 1 {
			return nil, fmt.Errorf("QLinearMatMul: y_scale and y_zero_point must be scalars")
		}
		p, acc, err := integerMatMul(inputs[0], inputs[3], azp, bzp)
		if err != nil {
			return nil, fmt.Errorf("QLinearMatMul: %w", err)
		}
		vals := make([]float64, len(acc))
		for i, v := range acc {
			row, col := (i/p.n)%p.m, i%p.n
			sa, sb := as[0], bs[0]
			if len(as) > 1 {
				sa = as[row]
			}
			if len(bs) > 1 {
				sb = bs[col]
			}
			vals[i] = float64(v)*float64(sa)*float64(sb)/float64(ys[0]) + float64(yzp[0])
		}
		y, err := storeQuantized(ctx, inputs[7].DType, p.outShape, vals)
		if err != nil {
			return nil, fmt.Errorf("QLinearMatMul: %w", err)
		}
		return ctx.Result(y), nil
	}), nil
}

// integerConv is the exact int32 N-d convolution of (x − x_zp) with (w − w_zp), w_zp scalar
// or per output channel.
type integerConv struct{ conv *convKernel }

func newIntegerConv(n *Node) (*integerConv, error) {
	geom, err := readWindowGeom(n)
	if err != nil {
		return nil, err
	}
	k := &convKernel{geom: geom, group: int(n.AttrInt("group", 1))}
	if k.group < 1 {
		return nil, fmt.Errorf("group must be ≥ 1, got %d", k.group)
	}
	return &integerConv{conv: k}, nil
}

func (c *integerConv) run(x, w *tensor.Tensor, xzp, wzp []int32) (*convShape, []int32, error) {
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, nil, fmt.Errorf("x %v and w %v must both be N-d images", x.Shape, w.Shape)
	}
	s := &convShape{batch: x.Shape[0], c: x.Shape[1], m: w.Shape[0], group: c.conv.group, in: x.Shape[2:], kernel: w.Shape[2:]}
	if s.c != w.Shape[1]*s.group || s.m%s.group != 0 {
		return nil, nil, fmt.Errorf("x %v, w %v and group %d do not agree", x.Shape, w.Shape, s.group)
	}
	var err error
	if s.out, s.padBegin, s.padEnd, err = c.conv.geom.forward(s.in, s.kernel, false); err != nil {
		return nil, nil, err
	}
	s.strides, s.dilations, _, _ = c.conv.geom.spatial(len(s.in), s.kernel)
	s.inSize, s.outSize, s.kSize = tensor.NumElements(s.in), tensor.NumElements(s.out), tensor.NumElements(s.kernel)
	xv, err := quantInts(x, "x")
	if err != nil {
		return nil, nil, err
	}
	wv, err := quantInts(w, "w")
	if err != nil {
		return nil, nil, err
	}
	if xv, err = zeroPointShifted(xv, xzp, nil, "x"); err != nil {
		return nil, nil, err
	}
	perFilter := w.Len() / s.m
	if wv, err = zeroPointShifted(wv, wzp, func(i int) int { return i / perFilter }, "w"); err != nil {
		return nil, nil, err
	}
	out := make([]int32, s.batch*s.m*s.outSize)
	rank := len(s.in)
	inStr := tensor.Strides(s.in)
	oIdx, kIdx := make([]int, rank), make([]int, rank)
	cg, mg := s.cg(), s.mg()
	for b := 0; b < s.batch; b++ {
		for m := 0; m < s.m; m++ {
			g := m / mg
			dst := out[(b*s.m+m)*s.outSize : (b*s.m+m+1)*s.outSize]
			clear(oIdx)
			for op := range dst {
				var acc int32
				for ic := 0; ic < cg; ic++ {
					plane := xv[(b*s.c+g*cg+ic)*s.inSize:]
					filt := wv[(m*cg+ic)*s.kSize:]
					clear(kIdx)
					for kp := 0; kp < s.kSize; kp++ {
						off, inside := 0, true
						for d := 0; d < rank && inside; d++ {
							pos := oIdx[d]*s.strides[d] + kIdx[d]*s.dilations[d] - s.padBegin[d]
							inside = pos >= 0 && pos < s.in[d]
							off += pos * inStr[d]
						}
						if inside {
							acc += plane[off] * filt[kp]
						}
						odometer(kIdx, s.kernel)
					}
				}
				dst[op] = acc
				odometer(oIdx, s.out)
			}
		}
	}
	return s, out, nil
}

func newConvInteger(n *Node) (Kernel, error) {
	c, err := newIntegerConv(n)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
			return nil, fmt.Errorf("ConvInteger: x and w are required")
		}
		xzp, err := optionalInts(inputs, 2, "ConvInteger: x_zero_point")
		if err != nil {
			return nil, err
		}
		wzp, err := optionalInts(inputs, 3, "ConvInteger: w_zero_point")
		if err != nil {
			return nil, err
		}
		s, acc, err := c.run(inputs[0], inputs[1], xzp, wzp)
		if err != nil {
			return nil, fmt.Errorf("ConvInteger: %w", err)
		}
		return []*tensor.Tensor{tensor.New(append([]int{s.batch, s.m}, s.out...), acc)}, nil
	}), nil
}

func newQLinearConv(n *Node) (Kernel, error) {
	c, err := newIntegerConv(n)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(inputs) < 8 || inputs[0] == nil || inputs[3] == nil || inputs[7] == nil {
			return nil, fmt.Errorf("QLinearConv: needs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point")
		}
		xs, err := optionalFloats(inputs, 1, "QLinearConv: x_scale")
		if err != nil {
			return nil, err
		}
		ws, err := optionalFloats(inputs, 4, "QLinearConv: w_scale")
		if err != nil {
			return nil, err
		}
		ys, err := optionalFloats(inputs, 6, "QLinearConv: y_scale")
		if err != nil {
			return nil, err
		}
		xzp, err := optionalInts(inputs, 2, "QLinearConv: x_zero_point")
		if err != nil {
			return nil, err
		}
		wzp, err := optionalInts(inputs, 5, "QLinearConv: w_zero_point")
		if err != nil {
			return nil, err
		}
		yzp, err := quantInts(inputs[7], "QLinearConv: y_zero_point")
		if err != nil {
			return nil, err
		}
		bias, err := optionalInts(inputs, 8, "QLinearConv: B")
		if err != nil {
			return nil, err
		}
		if len(xs) != 1 || len(ys) != 1 || len(yzp) != 1 {
			return nil, fmt.Errorf("QLinearConv: x_scale, y_scale and y_zero_point must be scalars")
		}
		s, acc, err := c.run(inputs[0], inputs[3], xzp, wzp)
		if err != nil {
			return nil, fmt.Errorf("QLinearConv: %w", err)
		}
		if len(ws) != 1 && len(ws) != s.m || bias != nil && len(bias) != s.m {
			return nil, fmt.Errorf("QLinearConv: w_scale and B need 1 or %d values", s.m)
		}
		vals := make([]float64, len(acc))
		for i, v := range acc {
			m := (i / s.outSize) % s.m
			if bias != nil {
				v += bias[m]
			}
			sw := ws[0]
			if len(ws) > 1 {
				sw = ws[m]
			}
			vals[i] = float64(v)*float64(xs[0])*float64(sw)/float64(ys[0]) + float64(yzp[0])
		}
		y, err := storeQuantized(ctx, inputs[7].DType, append([]int{s.batch, s.m}, s.out...), vals)
		if err != nil {
			return nil, fmt.Errorf("QLinearConv: %w", err)
		}
		return ctx.Result(y), nil
	}), nil
}
