package onnxops

import (
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// Forms of the function bodies for models whose default-domain opset is 9 to 12, which
// onnxruntime inlines at that opset. What changes against the opset ≥ 13 body, op by op:
//   - Constant has only the tensor-valued `value` before opset 12 (no value_int, value_ints and no
//     reference to a function attribute), so the axis and gate attributes are read through an op
//     that takes an int attribute: Gather(axis=@axis) on an all-ones probe tensor puts a 2 at the
//     (normalised) axis position of the probe's shape, which ArgMax turns into a number.
//   - Unsqueeze takes axes as an attribute before 13: the body uses Reshape instead.
//   - Clip takes min/max as inputs only from 11, GreaterOrEqual is 12+, Equal takes floats from 11,
//     Max/Min take integers from 12 and Range is 11+: the body uses Min/Max-8 on floats, Not(Less),
//     a NaN-aware comparison pair, Where on integers and NonZero-9 respectively.
//   - Gather takes negative indices only from 11: the last dimension is indexed as rank − 1.
// Where and IsNaN are 9+, which makes opset 9 the floor (MinFunctionOpset).

// legacyAxisSlack bounds the axis values the legacy body accepts: any in [−(r+slack), r+slack−1]
// for X of rank r (the probe has rank 2(r+slack)), far past the valid [−r, r−1].
const legacyAxisSlack = 4

func (b *bodyBuilder) constI64Tensor(name string, shape []int, v ...int64) string {
	t := tensor.New(shape, append([]int64(nil), v...))
	return b.op("Constant", name, nil, &onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: tensor.ToProto(t, "")})
}

// channelShapeLegacy computes what channelShape does (x_shape, rank, zero_i, one_i,
// minus_one_1d and bshape) with opset-9 ops.
//
// The probe has rank R = 2(r + slack) and every dimension 1; gathering two indices along
// axis a makes dimension a (a ≥ 0) or R + a (a < 0) of the result 2, and ArgMax of the shape
// finds that position p. p < r + slack means a = p ≥ 0; otherwise a = p − R < 0, which as an
// axis of X is r + a = p − r − 2·slack.
func (b *bodyBuilder) channelShapeLegacy() {
	b.op("Shape", "x_shape", []string{"X"})
	b.op("Size", "rank", []string{"x_shape"})
	b.constI64("zero_i", 0)
	b.constI64("one_i", 1)
	b.constI64s("minus_one_1d", -1)
	b.constI64s("one_1d", 1)

	b.op("Equal", "x_dims_equal", []string{"x_shape", "x_shape"})
	b.op("Cast", "ones_r", []string{"x_dims_equal"}, intAttrNamed("to", int64(onnx.TensorProto_INT64)))
	slack := make([]int64, 2*legacyAxisSlack)
	for i := range slack {
		slack[i] = 1
	}
	b.constI64s("ones_slack", slack...)
	b.op("Concat", "probe_shape", []string{"ones_r", "ones_r", "ones_slack"}, intAttrNamed("axis", 0))
	b.op("Reshape", "probe", []string{"one_1d", "probe_shape"})
	b.constI64s("two_zeros", 0, 0)
	b.op("Gather", "probe_at_axis", []string{"probe", "two_zeros"}, &onnx.AttributeProto{
		Name: proto.String("axis"), Type: onnx.AttributeProto_INT.Enum(), RefAttrName: proto.String("axis")})
	b.op("Shape", "probe_at_axis_shape", []string{"probe_at_axis"})
	b.op("Cast", "probe_at_axis_shape_f", []string{"probe_at_axis_shape"}, intAttrNamed("to", int64(onnx.TensorProto_FLOAT)))
	b.op("ArgMax", "axis_pos", []string{"probe_at_axis_shape_f"}, intAttrNamed("axis", 0), intAttrNamed("keepdims", 0))
	b.op("Add", "nonneg_limit", []string{"rank", b.constI64("slack", legacyAxisSlack)})
	b.op("Less", "axis_is_nonneg", []string{"axis_pos", "nonneg_limit"})
	b.op("Sub", "axis_pos_minus_rank", []string{"axis_pos", "rank"})
	b.op("Sub", "axis_from_neg", []string{"axis_pos_minus_rank", b.constI64("two_slack", 2*legacyAxisSlack)})
	b.op("Where", "axis", []string{"axis_is_nonneg", "axis_pos", "axis_from_neg"})

	b.op("Sub", "rank_minus_axis", []string{"rank", "axis"})
	b.op("Sub", "trailing_raw", []string{"rank_minus_axis", "one_i"})
	b.op("Less", "trailing_negative", []string{"trailing_raw", "zero_i"})
	b.op("Where", "trailing", []string{"trailing_negative", "zero_i", "trailing_raw"})
	b.op("Reshape", "trailing_1d", []string{"trailing", "one_1d"})
	b.op("ConstantOfShape", "trailing_ones", []string{"trailing_1d"},
		&onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: &onnx.TensorProto{
			Dims: []int64{1}, DataType: proto.Int32(int32(onnx.TensorProto_INT64)), Int64Data: []int64{1}}})
	b.op("Concat", "bshape", []string{"minus_one_1d", "trailing_ones"}, intAttrNamed("axis", 0))
}

// gate is the Zorro gate attribute as a bool scalar. The legacy form gathers along axis @gate of
// a [1, 1] probe: the result is [2, 1] for gate 0 and [1, 2] for gate 1 (other values fail, as
// they do in the kernel).
func (b *bodyBuilder) gate(out string) string {
	if !b.legacy {
		b.attrI64("gate_attr", "gate")
		return b.op("Cast", out, []string{"gate_attr"}, intAttrNamed("to", int64(onnx.TensorProto_BOOL)))
	}
	probe := b.constI64Tensor("gate_probe", []int{1, 1}, 0)
	g := b.op("Gather", "gate_probe_at", []string{probe, "two_zeros"}, &onnx.AttributeProto{
		Name: proto.String("axis"), Type: onnx.AttributeProto_INT.Enum(), RefAttrName: proto.String("gate")})
	sh := b.op("Shape", "gate_probe_shape", []string{g})
	cols := b.op("Gather", "gate_probe_cols", []string{sh, "one_i"}, intAttrNamed("axis", 0))
	return b.op("Greater", out, []string{cols, "one_i"})
}

// rowIndex is [0, 1, …, rows−1] for the int64 scalar rows.
func (b *bodyBuilder) rowIndex(out, rows string) string {
	if !b.legacy {
		return b.op("Range", out, []string{"zero_i", rows, "one_i"})
	}
	b.op("Reshape", rows+"_1d", []string{rows, "one_1d"})
	b.op("ConstantOfShape", rows+"_ones", []string{rows + "_1d"},
		&onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: &onnx.TensorProto{
			Dims: []int64{1}, DataType: proto.Int32(int32(onnx.TensorProto_INT64)), Int64Data: []int64{1}}})
	b.op("NonZero", rows+"_nonzero", []string{rows + "_ones"})
	return b.op("Reshape", out, []string{rows + "_nonzero", "minus_one_1d"})
}

// clip is min(max(x, lo), hi) for float tensors lo ≤ hi (x not NaN).
func (b *bodyBuilder) clip(out, x, lo, hi string) string {
	if !b.legacy {
		return b.op("Clip", out, []string{x, lo, hi})
	}
	m := b.op("Min", out+"_hi", []string{x, hi})
	return b.op("Max", out, []string{m, lo})
}

// greaterOrEqual is x ≥ y for float tensors (the legacy form says true for NaN, which the
// bodies only meet where X is NaN and the result is replaced).
func (b *bodyBuilder) greaterOrEqual(out, x, y string) string {
	if !b.legacy {
		return b.op("GreaterOrEqual", out, []string{x, y})
	}
	less := b.op("Less", out+"_less", []string{x, y})
	return b.op("Not", out, []string{less})
}

// equal is x = y for float tensors, false where either is NaN.
func (b *bodyBuilder) equal(out, x, y string) string {
	if !b.legacy {
		return b.op("Equal", out, []string{x, y})
	}
	less := b.op("Less", out+"_less", []string{x, y})
	greater := b.op("Greater", out+"_greater", []string{x, y})
	differ := b.op("Or", out+"_ordered", []string{less, greater})
	xNaN := b.op("IsNaN", out+"_x_nan", []string{x})
	yNaN := b.op("IsNaN", out+"_y_nan", []string{y})
	nan := b.op("Or", out+"_nan", []string{xNaN, yNaN})
	unequal := b.op("Or", out+"_unequal", []string{differ, nan})
	return b.op("Not", out, []string{unequal})
}
