package onnxops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// FunctionOpset is the default-domain opset version the function bodies import.
const FunctionOpset = 17

// MinFunctionOpset is the lowest default-domain opset a typed body (FunctionTyped) supports:
// the bodies need Where and IsNaN, both from opset 9.
const MinFunctionOpset = 9

// MinIRVersion is the IR version a model carrying these functions needs: function attributes
// with default values (FunctionProto.attribute_proto) arrived in IR 9.
const MinIRVersion = 9

// RequiredIRVersion is the IR version a model carrying the model-local functions fs needs: 8 for
// model-local functions, 9 once one declares attributes with defaults (attribute_proto), 10 once
// one has an overload; 0 when fs is empty. It is the one statement of that policy: AttachFunctions
// applies it, and so does every caller that adds functions.
func RequiredIRVersion(fs []*onnx.FunctionProto) int64 {
	need := int64(0)
	for _, f := range fs {
		need = max(need, 8)
		if len(f.GetAttributeProto()) > 0 {
			need = max(need, 9)
		}
		if f.GetOverload() != "" {
			need = max(need, 10)
		}
	}
	return need
}

// Function returns the model-local function that defines fam in standard ONNX ops (opset
// FunctionOpset), so that onnxruntime and other runtimes can run a rewritten model. Its inputs
// and output are named as in OPS.md, it declares attribute axis (default 1) and, for Zorro, gate
// (default 0), and it works for any rank of X, per-tensor and per-channel parameters, and X of
// type float16, float32 or float64 (parameters of the same type). It is nil for an unknown family.
func Function(fam Family) *onnx.FunctionProto {
	f, err := FunctionAt(fam, FunctionOpset)
	if err != nil {
		return nil
	}
	return f
}

// FunctionAt is Function with the body importing the default domain at opset (≥ 15: the body
// makes its constants with CastLike). onnxruntime inlines a function with the model's own
// default-domain version, so the body must be valid at that version; the ops it uses mean the
// same from opset 13 on.
func FunctionAt(fam Family, opset int) (*onnx.FunctionProto, error) {
	if opset < 15 {
		return nil, fmt.Errorf("%s function: opset %d < 15 has no CastLike; use FunctionTyped", fam, opset)
	}
	return buildFunction(fam, opset, tensor.Undefined)
}

// FunctionTyped is FunctionAt for X of element type dt only (Float32, Float64 or Float16), with
// constants of that type instead of CastLike, so it is valid from opset MinFunctionOpset. Below
// opset 13 the body is the legacy form of function_legacy.go (attribute-free Unsqueeze, no
// Clip/Range/GreaterOrEqual/float Equal, the axis and gate attributes read through Gather), which
// computes the same values.
func FunctionTyped(fam Family, opset int, dt tensor.DType) (*onnx.FunctionProto, error) {
	if opset < MinFunctionOpset {
		return nil, fmt.Errorf("%s function: opset %d < %d is not supported (the body needs Where-9 and IsNaN-9)", fam, opset, MinFunctionOpset)
	}
	if dt != tensor.Float32 && dt != tensor.Float64 && dt != tensor.Float16 {
		return nil, fmt.Errorf("%s function: element type %v, want float32, float64 or float16", fam, dt)
	}
	return buildFunction(fam, opset, dt)
}

func buildFunction(fam Family, opset int, dt tensor.DType) (*onnx.FunctionProto, error) {
	b := &bodyBuilder{dtype: dt, legacy: opset < 13}
	var doc string
	switch fam {
	case FamilyCRReLU:
		b.crrelu()
		doc = "CRReLU(X, epsilon) = max(X,0) + epsilon·X·exp(−X²/2), correction 0 where |X| > 40."
	case FamilyPWLU:
		b.pwlu()
		doc = "PWLU(X, bounds, heights, slopes): piecewise linear unit with N = len(heights)−1 uniform intervals on [B_L, B_R) and slopes K_L, K_R outside."
	case FamilyZorro:
		b.zorro()
		doc = "Zorro(X, params): out_scale·Z(in_scale·X + in_shift) + out_shift (times X with gate=1), params = (a_n, b_n, a_p, b_p, in_scale, in_shift, out_scale, out_shift)."
	default:
		return nil, fmt.Errorf("unknown family %q", fam)
	}
	f := &onnx.FunctionProto{
		Name:           proto.String(string(fam)),
		Domain:         proto.String(Domain),
		Input:          append([]string{"X"}, ParamInputNames(fam)...),
		Output:         []string{"Y"},
		Node:           b.nodes,
		OpsetImport:    []*onnx.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(opset))}},
		DocString:      proto.String(doc + " Defined in OPS.md of actswap; actswap runs a fused kernel instead."),
		AttributeProto: []*onnx.AttributeProto{intAttr("axis", 1)},
	}
	if fam == FamilyZorro {
		f.AttributeProto = append(f.AttributeProto, intAttr("gate", 0))
	}
	return f, nil
}

// bodyBuilder appends nodes to a function body; each helper returns its output's name.
type bodyBuilder struct {
	nodes  []*onnx.NodeProto
	dtype  tensor.DType // X's type when the body is typed, Undefined for CastLike
	legacy bool         // opset 9–12: only ops and forms valid there (function_legacy.go)
}

func (b *bodyBuilder) op(opType, out string, inputs []string, attrs ...*onnx.AttributeProto) string {
	b.nodes = append(b.nodes, &onnx.NodeProto{
		OpType:    proto.String(opType),
		Input:     inputs,
		Output:    []string{out},
		Attribute: attrs,
	})
	return out
}

// constT is a scalar constant of X's element type.
func (b *bodyBuilder) constT(name string, v float32) string {
	if b.dtype != tensor.Undefined {
		t, err := floatTensor(b.dtype, []int{}, []float64{float64(v)})
		if err != nil {
			panic(err) // dtype was checked by FunctionTyped
		}
		return b.op("Constant", name, nil, &onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: tensor.ToProto(t, "")})
	}
	c := b.op("Constant", name+"_f32", nil, &onnx.AttributeProto{Name: proto.String("value_float"), Type: onnx.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)})
	return b.op("CastLike", name, []string{c, "X"})
}

// castT converts in to X's element type.
func (b *bodyBuilder) castT(name, in string) string {
	if b.dtype != tensor.Undefined {
		return b.op("Cast", name, []string{in}, intAttrNamed("to", int64(b.dtype)))
	}
	return b.op("CastLike", name, []string{in, "X"})
}

func (b *bodyBuilder) constI64(name string, v int64) string {
	if b.legacy {
		return b.constI64Tensor(name, []int{}, v)
	}
	return b.op("Constant", name, nil, intAttrNamed("value_int", v))
}

func (b *bodyBuilder) constI64s(name string, v ...int64) string {
	if b.legacy {
		return b.constI64Tensor(name, []int{len(v)}, v...)
	}
	return b.op("Constant", name, nil, &onnx.AttributeProto{Name: proto.String("value_ints"), Type: onnx.AttributeProto_INTS.Enum(), Ints: v})
}

// attrI64 is the function attribute attr as an int64 scalar tensor.
func (b *bodyBuilder) attrI64(name, attr string) string {
	return b.op("Constant", name, nil, &onnx.AttributeProto{Name: proto.String("value_int"), Type: onnx.AttributeProto_INT.Enum(), RefAttrName: proto.String(attr)})
}

func intAttrNamed(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: proto.String(name), Type: onnx.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// channelShape builds "bshape" = [−1, 1, …, 1] with max(rank−axis−1, 0) ones: a parameter column
// of shape [C] (or [] / [1] per tensor) reshaped to it broadcasts along axis of X.
func (b *bodyBuilder) channelShape() {
	if b.legacy {
		b.channelShapeLegacy()
		return
	}
	b.op("Shape", "x_shape", []string{"X"})
	b.op("Size", "rank", []string{"x_shape"})
	b.attrI64("axis_attr", "axis")
	b.constI64("zero_i", 0)
	b.constI64("one_i", 1)
	b.op("Less", "axis_is_neg", []string{"axis_attr", "zero_i"})
	b.op("Add", "axis_plus_rank", []string{"axis_attr", "rank"})
	b.op("Where", "axis", []string{"axis_is_neg", "axis_plus_rank", "axis_attr"})
	b.op("Sub", "rank_minus_axis", []string{"rank", "axis"})
	b.op("Sub", "trailing_raw", []string{"rank_minus_axis", "one_i"})
	b.op("Max", "trailing", []string{"trailing_raw", "zero_i"})
	b.constI64s("axes0", 0)
	b.op("Unsqueeze", "trailing_1d", []string{"trailing", "axes0"})
	b.op("ConstantOfShape", "trailing_ones", []string{"trailing_1d"},
		&onnx.AttributeProto{Name: proto.String("value"), Type: onnx.AttributeProto_TENSOR.Enum(), T: &onnx.TensorProto{
			Dims: []int64{1}, DataType: proto.Int32(int32(onnx.TensorProto_INT64)), Int64Data: []int64{1}}})
	b.constI64s("minus_one_1d", -1)
	b.op("Concat", "bshape", []string{"minus_one_1d", "trailing_ones"}, intAttrNamed("axis", 0))
}

// column reshapes param[..., k] to broadcast along the channel axis.
func (b *bodyBuilder) column(name, param string, k int64) string {
	idx := b.constI64(name+"_idx", k)
	col := b.op("Gather", name+"_col", []string{param, idx}, intAttrNamed("axis", -1))
	return b.op("Reshape", name, []string{col, "bshape"})
}

// finish keeps NaN inputs as they are and restores X's shape (a rank-0 X broadcast to [1]).
func (b *bodyBuilder) finish(y string) {
	b.op("IsNaN", "x_is_nan", []string{"X"})
	b.op("Where", "y_nan_kept", []string{"x_is_nan", "X", y})
	b.op("Reshape", "Y", []string{"y_nan_kept", "x_shape"})
}

// crrelu computes the correction on X clipped to ±40 (CRReLUCutoff): beyond it exp(−X²/2) is
// below the smallest float64 (e^−800), so the correction is exactly 0 there, as OPS.md asks, and
// ±Inf never meets ·0 — one Clip instead of Abs, Greater and a Where.
func (b *bodyBuilder) crrelu() {
	b.channelShape()
	b.op("Reshape", "eps", []string{"epsilon", "bshape"})
	b.op("Relu", "relu", []string{"X"})
	b.clip("x_near", "X", b.constT("minus_cutoff", -CRReLUCutoff), b.constT("cutoff", CRReLUCutoff))
	b.op("Mul", "x2", []string{"x_near", "x_near"})
	b.op("Mul", "neg_half_x2", []string{"x2", b.constT("minus_half", -0.5)})
	b.op("Exp", "gauss", []string{"neg_half_x2"})
	b.op("Mul", "eps_x", []string{"eps", "x_near"})
	b.op("Mul", "correction", []string{"eps_x", "gauss"})
	b.op("Add", "y", []string{"relu", "correction"})
	b.finish("y")
}

// pwlu is the lookup-table form of activations.md §2.5 (as the kernel: see pwluTable): with
// s = (X − B_L)·N/(B_R − B_L), the left and right segments use X directly, the inside gathers
// Y^j and Y^{j+1} at j = ⌊min(clip(s, 0, N), N−1)⌋ from the flattened heights, offset by
// channel·(N+1) for per-channel heights.
func (b *bodyBuilder) pwlu() {
	b.channelShape()
	bl, br := b.column("b_l", "bounds", 0), b.column("b_r", "bounds", 1)
	kl, kr := b.column("k_l", "slopes", 0), b.column("k_r", "slopes", 1)
	zero := b.constT("zero", 0)

	b.op("Shape", "heights_shape", []string{"heights"})
	if b.legacy { // Gather-1 has no negative indices
		b.op("Size", "heights_rank", []string{"heights_shape"})
		b.op("Sub", "last", []string{"heights_rank", "one_i"})
	} else {
		b.constI64("last", -1)
	}
	b.op("Gather", "n_plus_1", []string{"heights_shape", "last"}, intAttrNamed("axis", 0))
	b.op("Sub", "n_i", []string{"n_plus_1", "one_i"})
	b.op("Sub", "n_minus_1_i", []string{"n_i", "one_i"})
	b.castT("n", "n_i")
	b.castT("n_minus_1", "n_minus_1_i")
	b.op("Reshape", "heights_flat", []string{"heights", "minus_one_1d"})
	b.op("Size", "heights_size", []string{"heights"})
	b.op("Div", "height_rows", []string{"heights_size", "n_plus_1"})
	b.rowIndex("row_index", "height_rows")
	b.op("Mul", "row_start_1d", []string{"row_index", "n_plus_1"})
	b.op("Reshape", "row_start", []string{"row_start_1d", "bshape"})

	b.op("Sub", "width", []string{br, bl})
	b.op("Div", "inv_d", []string{"n", "width"})
	b.op("Sub", "x_minus_bl", []string{"X", bl})
	b.op("Mul", "s", []string{"x_minus_bl", "inv_d"})

	// Inside: a NaN s would make an undefined integer index, so it reads row 0 (the result is
	// replaced by NaN at the end).
	b.op("IsNaN", "s_is_nan", []string{"s"})
	b.op("Where", "s_num", []string{"s_is_nan", zero, "s"})
	b.clip("s_clip", "s_num", zero, "n")
	b.op("Min", "s_last", []string{"s_clip", "n_minus_1"})
	b.op("Floor", "seg_f", []string{"s_last"})
	b.op("Cast", "seg", []string{"seg_f"}, intAttrNamed("to", int64(onnx.TensorProto_INT64)))
	b.op("Add", "seg_index", []string{"seg", "row_start"})
	b.op("Add", "seg_index_next", []string{"seg_index", "one_i"})
	b.op("Gather", "y_j", []string{"heights_flat", "seg_index"}, intAttrNamed("axis", 0))
	b.op("Gather", "y_j1", []string{"heights_flat", "seg_index_next"}, intAttrNamed("axis", 0))
	b.op("Sub", "rise", []string{"y_j1", "y_j"})
	b.op("Sub", "frac", []string{"s_clip", "seg_f"})
	b.op("Mul", "rise_part", []string{"frac", "rise"})
	b.op("Add", "y_inside", []string{"y_j", "rise_part"})

	// Outside: y_inside at the clipped s is already the end height; the outer slopes add
	// K_L·min(X − B_L, 0) + K_R·max(X − B_R, 0), hinges with no Where (which onnxruntime runs
	// several times slower than arithmetic). X is first clamped to B_L (B_R) on a flat side, so
	// that ±Inf meets no ·0 there.
	flatLeft := b.equal("flat_left", kl, zero)
	flatRight := b.equal("flat_right", kr, zero)
	lo := b.op("Where", "clamp_lo", []string{flatLeft, bl, b.constT("minus_inf", float32(math.Inf(-1)))})
	hi := b.op("Where", "clamp_hi", []string{flatRight, br, b.constT("plus_inf", float32(math.Inf(1)))})
	b.op("Max", "x_above_lo", []string{"X", lo})
	b.op("Min", "x_clamped", []string{"x_above_lo", hi})
	b.op("Sub", "left_dist", []string{"x_clamped", bl})
	b.op("Min", "left_excess", []string{"left_dist", zero})
	left := b.op("Mul", "left_rise", []string{"left_excess", kl})
	b.op("Sub", "right_dist", []string{"x_clamped", br})
	b.op("Max", "right_excess", []string{"right_dist", zero})
	right := b.op("Mul", "right_rise", []string{"right_excess", kr})
	b.op("Add", "y_inside_left", []string{"y_inside", left})
	b.op("Add", "y", []string{"y_inside_left", right})
	b.finish("y")
}

// zorro evaluates each hump as h(u) = u·A/(q + e^(β' − a·u)) with β = a·b and
// A = 1 + e^(−|β|), q = β ≥ 0 ? e^(−β) : 1, β' = min(β, 0): k = 1 + e^(ab) is never formed,
// and h = 0 where a·|u| > 100 (±Inf·0) [activations.md §1.9].
func (b *bodyBuilder) zorro() {
	b.channelShape()
	names := []string{"a_n", "b_n", "a_p", "b_p", "in_scale", "in_shift", "out_scale", "out_shift"}
	col := map[string]string{}
	for k, n := range names {
		col[n] = b.column(n, "params", int64(k))
	}
	zero, one := b.constT("zero", 0), b.constT("one", 1)
	cutoff := b.constT("minus_cutoff", -ZorroCutoff)
	hump := func(side, u, a, bb string) string {
		beta := b.op("Mul", side+"_beta", []string{a, bb})
		absBeta := b.op("Abs", side+"_abs_beta", []string{beta})
		negAbs := b.op("Neg", side+"_neg_abs_beta", []string{absBeta})
		c := b.op("Exp", side+"_c", []string{negAbs})
		amp := b.op("Add", side+"_amp", []string{one, c})
		pos := b.greaterOrEqual(side+"_beta_pos", beta, zero)
		q := b.op("Where", side+"_q", []string{pos, c, one})
		betaNeg := b.op("Min", side+"_beta_neg", []string{beta, zero})
		au := b.op("Mul", side+"_au", []string{a, u})
		arg := b.op("Sub", side+"_arg", []string{betaNeg, au})
		e := b.op("Exp", side+"_e", []string{arg})
		den := b.op("Add", side+"_den", []string{q, e})
		g := b.op("Div", side+"_g", []string{amp, den})
		h := b.op("Mul", side+"_h_raw", []string{u, g})
		far := b.op("Less", side+"_far", []string{au, cutoff})
		return b.op("Where", side+"_h", []string{far, zero, h})
	}
	b.op("Mul", "scaled_x", []string{col["in_scale"], "X"})
	b.op("Add", "z", []string{"scaled_x", col["in_shift"]})
	b.op("Min", "u_neg", []string{"z", zero})
	b.op("Sub", "one_minus_z", []string{one, "z"})
	b.op("Min", "u_pos", []string{"one_minus_z", zero})
	hn := hump("neg", "u_neg", col["a_n"], col["b_n"])
	hp := hump("pos", "u_pos", col["a_p"], col["b_p"])
	b.clip("z_clip", "z", zero, one)
	b.op("Add", "z_plus_hn", []string{"z_clip", hn})
	b.op("Sub", "zorro_z", []string{"z_plus_hn", hp})
	b.op("Mul", "scaled_z", []string{col["out_scale"], "zorro_z"})
	b.op("Add", "w", []string{"scaled_z", col["out_shift"]})
	// gate = 1: X·W, 0 where W = 0 (the limit at X = ±Inf, where X·0 would be NaN).
	b.op("Mul", "x_w", []string{"X", "w"})
	b.equal("w_is_zero", "w", zero)
	b.op("Where", "gated", []string{"w_is_zero", zero, "x_w"})
	b.gate("gate")
	b.op("Where", "y", []string{"gate", "gated", "w"})
	b.finish("y")
}
