package ops

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/actswap/actswap/tensor"
)

// Cast and CastLike convert element types. Every pair of supported dtypes goes through one of
// three lossless carriers (float64 for floats, int64 for signed, uint64 for unsigned integers),
// so int64↔uint64 and large integers convert exactly, and half types round once from float32.

func init() {
	Register(DefaultDomain, "Cast", 1, newCast)
	Register(DefaultDomain, "CastLike", 15, newCastLike)
	Register(DefaultDomain, "BitCast", 26, newBitCast)
}

func newCast(n *Node) (Kernel, error) {
	if !n.HasAttr("to") {
		return nil, fmt.Errorf("Cast: missing attribute 'to'")
	}
	to, err := castTarget(n)
	if err != nil {
		return nil, err
	}
	opts, err := readCastOptions(n)
	if err != nil {
		return nil, fmt.Errorf("Cast: %w", err)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		out, err := castTensorWith(ctx, in[0], to, opts)
		return []*tensor.Tensor{out}, err
	}), nil
}

// castTarget reads Cast's 'to' (an INT before opset 6 in a few old models used a STRING name).
func castTarget(n *Node) (tensor.DType, error) {
	a := n.Attr("to")
	var to tensor.DType
	if len(a.GetS()) > 0 && a.GetI() == 0 {
		name := strings.ToLower(string(a.GetS()))
		switch name {
		case "float":
			name = "float32"
		case "double":
			name = "float64"
		}
		dt, err := tensor.ParseDType(name)
		if err != nil {
			return 0, fmt.Errorf("Cast: %w", err)
		}
		to = dt
	} else {
		to = tensor.DType(a.GetI())
	}
	if !to.Supported() {
		return 0, fmt.Errorf("Cast: target type %v is not supported", to)
	}
	return to, nil
}

func newCastLike(n *Node) (Kernel, error) {
	opts, err := readCastOptions(n)
	if err != nil {
		return nil, fmt.Errorf("CastLike: %w", err)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		out, err := castTensorWith(ctx, in[0], in[1].DType, opts)
		return []*tensor.Tensor{out}, err
	}), nil
}

// needInputs checks that the first k inputs are present.
func needInputs(in []*tensor.Tensor, k int) error {
	if len(in) < k {
		return fmt.Errorf("expected %d inputs, got %d", k, len(in))
	}
	for i := 0; i < k; i++ {
		if in[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// castTensor returns t converted to dtype to (a copy even when the type already matches, since
// outputs must not alias inputs the runtime may reuse).
func castTensor(ctx *Context, t *tensor.Tensor, to tensor.DType) (*tensor.Tensor, error) {
	return castTensorWith(ctx, t, to, defaultCastOptions)
}

func castTensorWith(ctx *Context, t *tensor.Tensor, to tensor.DType, o castOptions) (*tensor.Tensor, error) {
	out := ctx.Alloc(to, t.Shape)
	if t.DType == to {
		tensor.CopyRange(out, 0, t, 0, t.Len())
		return out, nil
	}
	if isLowBit(t.DType) || isLowBit(to) {
		return out, castLowBit(t, out, o)
	}
	if t.DType == tensor.String {
		return out, castFromStrings(t.Data.([]string), out)
	}
	if to == tensor.String {
		return out, castToStrings(t, out.Data.([]string))
	}
	switch src := t.Data.(type) {
	case []float32:
		// Common float32 paths without the float64 detour.
		switch dst := out.Data.(type) {
		case []tensor.Float16Bits:
			for i, v := range src {
				dst[i] = tensor.Float16FromFloat32(v)
			}
			return out, nil
		case []tensor.BFloat16Bits:
			for i, v := range src {
				dst[i] = tensor.BFloat16FromFloat32(v)
			}
			return out, nil
		case []float64:
			for i, v := range src {
				dst[i] = float64(v)
			}
			return out, nil
		}
		return out, storeFloats(src, out)
	case []float64:
		return out, storeFloats(src, out)
	case []tensor.Float16Bits:
		return out, storeFloats(halfToF32(src), out)
	case []tensor.BFloat16Bits:
		return out, storeFloats(bf16ToF32(src), out)
	case []int8:
		return out, storeIntegers(src, out)
	case []int16:
		return out, storeIntegers(src, out)
	case []int32:
		return out, storeIntegers(src, out)
	case []int64:
		return out, storeIntegers(src, out)
	case []uint8:
		return out, storeIntegers(src, out)
	case []uint16:
		return out, storeIntegers(src, out)
	case []uint32:
		return out, storeIntegers(src, out)
	case []uint64:
		return out, storeIntegers(src, out)
	case []bool:
		u := make([]uint8, len(src))
		for i, v := range src {
			if v {
				u[i] = 1
			}
		}
		return out, storeIntegers(u, out)
	}
	return nil, fmt.Errorf("cannot cast %v to %v", t.DType, to)
}

type floatElem interface{ ~float32 | ~float64 }
type signedElem interface {
	~int8 | ~int16 | ~int32 | ~int64
}
type unsignedElem interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}
type integerElem interface{ signedElem | unsignedElem }
type realElem interface{ floatElem | integerElem }

// storeFloats writes float values into out's dtype.
func storeFloats[F floatElem](src []F, out *tensor.Tensor) error {
	switch dst := out.Data.(type) {
	case []float32:
		for i, v := range src {
			dst[i] = float32(v)
		}
	case []float64:
		for i, v := range src {
			dst[i] = float64(v)
		}
	case []tensor.Float16Bits:
		for i, v := range src {
			dst[i] = tensor.Float16FromFloat32(float32(v))
		}
	case []tensor.BFloat16Bits:
		for i, v := range src {
			dst[i] = tensor.BFloat16FromFloat32(float32(v))
		}
	case []int8:
		floatsToInts(src, dst)
	case []int16:
		floatsToInts(src, dst)
	case []int32:
		floatsToInts(src, dst)
	case []int64:
		floatsToInts(src, dst)
	case []uint8:
		floatsToInts(src, dst)
	case []uint16:
		floatsToInts(src, dst)
	case []uint32:
		floatsToInts(src, dst)
	case []uint64:
		floatsToInts(src, dst)
	case []bool:
		for i, v := range src {
			dst[i] = v != 0
		}
	default:
		return fmt.Errorf("cannot cast to %v", out.DType)
	}
	return nil
}

// floatsToInts truncates toward zero like C and NumPy; NaN becomes 0 rather than Go's
// platform-dependent result.
func floatsToInts[F floatElem, I integerElem](src []F, dst []I) {
	for i, v := range src {
		if v != v {
			dst[i] = 0
			continue
		}
		if v < 0 {
			dst[i] = I(int64(v))
		} else {
			dst[i] = I(uint64(v))
		}
	}
}

// storeIntegers writes integers into out's dtype (wrapping like C for narrower integers).
func storeIntegers[S integerElem](src []S, out *tensor.Tensor) error {
	switch dst := out.Data.(type) {
	case []float32:
		for i, v := range src {
			dst[i] = float32(v)
		}
	case []float64:
		for i, v := range src {
			dst[i] = float64(v)
		}
	case []tensor.Float16Bits:
		for i, v := range src {
			dst[i] = tensor.Float16FromFloat32(float32(v))
		}
	case []tensor.BFloat16Bits:
		for i, v := range src {
			dst[i] = tensor.BFloat16FromFloat32(float32(v))
		}
	case []int8:
		convertInts(src, dst)
	case []int16:
		convertInts(src, dst)
	case []int32:
		convertInts(src, dst)
	case []int64:
		convertInts(src, dst)
	case []uint8:
		convertInts(src, dst)
	case []uint16:
		convertInts(src, dst)
	case []uint32:
		convertInts(src, dst)
	case []uint64:
		convertInts(src, dst)
	case []bool:
		for i, v := range src {
			dst[i] = v != 0
		}
	default:
		return fmt.Errorf("cannot cast to %v", out.DType)
	}
	return nil
}

func convertInts[S, D integerElem](src []S, dst []D) {
	for i, v := range src {
		dst[i] = D(v)
	}
}

// castFromStrings parses decimal text (and NaN/INF spellings) into out's numeric dtype.
func castFromStrings(src []string, out *tensor.Tensor) error {
	switch {
	case out.DType.IsFloat():
		// Parse at the target's precision so float32 rounds once, straight from the decimal.
		bits := 64
		if out.DType != tensor.Float64 {
			bits = 32
		}
		vals := make([]float64, len(src))
		for i, s := range src {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), bits)
			if err != nil && !isRangeErr(err) {
				return fmt.Errorf("cannot parse %q as a number", s)
			}
			vals[i] = v
		}
		return storeFloats(vals, out)
	case out.DType == tensor.Bool:
		dst := out.Data.([]bool)
		for i, s := range src {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true", "1":
				dst[i] = true
			case "false", "0", "":
				dst[i] = false
			default:
				v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil {
					return fmt.Errorf("cannot parse %q as bool", s)
				}
				dst[i] = v != 0
			}
		}
		return nil
	case isUnsigned(out.DType):
		vals := make([]uint64, len(src))
		for i, s := range src {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("cannot parse %q as %v", s, out.DType)
			}
			vals[i] = v
		}
		return storeIntegers(vals, out)
	default:
		vals := make([]int64, len(src))
		for i, s := range src {
			v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return fmt.Errorf("cannot parse %q as %v", s, out.DType)
			}
			vals[i] = v
		}
		return storeIntegers(vals, out)
	}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isUnsigned(dt tensor.DType) bool {
	switch dt {
	case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		return true
	}
	return false
}

// castToStrings formats numbers the way ONNX's reference does: floats in the shortest form
// that round-trips at their own precision, with NaN/INF/-INF spelled in capitals.
func castToStrings(t *tensor.Tensor, dst []string) error {
	formatFloat := func(v float64, bits int) string {
		switch {
		case math.IsNaN(v):
			return "NaN"
		case math.IsInf(v, 1):
			return "INF"
		case math.IsInf(v, -1):
			return "-INF"
		}
		return strconv.FormatFloat(v, 'g', -1, bits)
	}
	switch src := t.Data.(type) {
	case []float32:
		for i, v := range src {
			dst[i] = formatFloat(float64(v), 32)
		}
	case []float64:
		for i, v := range src {
			dst[i] = formatFloat(v, 64)
		}
	case []tensor.Float16Bits:
		for i, v := range src {
			dst[i] = shortestHalf(v.Float32(), func(f float32) bool { return tensor.Float16FromFloat32(f) == v }, formatFloat)
		}
	case []tensor.BFloat16Bits:
		for i, v := range src {
			dst[i] = shortestHalf(v.Float32(), func(f float32) bool { return tensor.BFloat16FromFloat32(f) == v }, formatFloat)
		}
	case []bool:
		for i, v := range src {
			dst[i] = strconv.FormatBool(v)
		}
	default:
		f := asInt64s(t)
		if f == nil {
			if u, ok := t.Data.([]uint64); ok {
				for i, v := range u {
					dst[i] = strconv.FormatUint(v, 10)
				}
				return nil
			}
			return fmt.Errorf("cannot cast %v to string", t.DType)
		}
		for i, v := range f {
			dst[i] = strconv.FormatInt(v, 10)
		}
	}
	return nil
}

// shortestHalf formats a half-precision value with the fewest digits that read back to the same
// half value (as NumPy prints float16), since strconv only knows 32- and 64-bit shortest forms.
func shortestHalf(v float32, same func(float32) bool, format func(float64, int) string) string {
	if v != v || math.IsInf(float64(v), 0) {
		return format(float64(v), 32)
	}
	for digits := 1; digits < 9; digits++ {
		s := strconv.FormatFloat(float64(v), 'e', digits-1, 32)
		if f, err := strconv.ParseFloat(s, 64); err == nil && same(float32(f)) {
			// Re-print the short decimal in the same style as float32 and float64 values.
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return format(float64(v), 32)
}

// asInt64s widens signed and narrow unsigned integer data to int64 (nil for other types).
func asInt64s(t *tensor.Tensor) []int64 {
	switch d := t.Data.(type) {
	case []int64:
		if d == nil {
			return []int64{} // an empty tensor is still an integer tensor
		}
		return d
	case []int8:
		return widenInts(d)
	case []int16:
		return widenInts(d)
	case []int32:
		return widenInts(d)
	case []uint8:
		return widenInts(d)
	case []uint16:
		return widenInts(d)
	case []uint32:
		return widenInts(d)
	}
	return nil
}

func widenInts[S integerElem](src []S) []int64 {
	out := make([]int64, len(src))
	for i, v := range src {
		out[i] = int64(v)
	}
	return out
}

// halfToF32 and bf16ToF32 widen half-precision data; kernels compute half types in float32.
func halfToF32(src []tensor.Float16Bits) []float32 {
	out := make([]float32, len(src))
	for i, v := range src {
		out[i] = v.Float32()
	}
	return out
}

func bf16ToF32(src []tensor.BFloat16Bits) []float32 {
	out := make([]float32, len(src))
	for i, v := range src {
		out[i] = v.Float32()
	}
	return out
}

// widenHalf returns t unchanged unless it is float16/bfloat16, in which case it returns a
// float32 copy. Kernels that only implement float32 call it on inputs and narrowTo on outputs.
func widenHalf(t *tensor.Tensor) *tensor.Tensor {
	if t == nil {
		return nil
	}
	switch d := t.Data.(type) {
	case []tensor.Float16Bits:
		return &tensor.Tensor{DType: tensor.Float32, Shape: t.Shape, Data: halfToF32(d)}
	case []tensor.BFloat16Bits:
		return &tensor.Tensor{DType: tensor.Float32, Shape: t.Shape, Data: bf16ToF32(d)}
	}
	return t
}

// narrowTo converts a float32 result back to a half dtype (no-op for other dtypes).
func narrowTo(ctx *Context, t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if t == nil || t.DType == dt || (dt != tensor.Float16 && dt != tensor.BFloat16) {
		return t
	}
	out, _ := castTensor(ctx, t, dt) // float32 → half always succeeds
	return out
}

// toFloat64s returns any numeric tensor's values as float64 (a fresh slice; zeros for strings).
func toFloat64s(t *tensor.Tensor) []float64 {
	if v, ok := tensor.Float64s(t); ok {
		return v
	}
	return make([]float64, t.Len())
}

// toInt64s returns integer-valued data (axes, k, shifts…) of any integer tensor as int64.
func toInt64s(t *tensor.Tensor) ([]int64, error) {
	if s := asInt64s(t); s != nil {
		if _, same := t.Data.([]int64); same {
			return append([]int64(nil), s...), nil
		}
		return s, nil
	}
	if u, ok := t.Data.([]uint64); ok {
		out := make([]int64, len(u))
		for i, v := range u {
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected an integer tensor, got %v", t.DType)
}

// BitCast (opset 26) reinterprets each element's little-endian bytes as another type of the same
// width; the shape is unchanged.
func newBitCast(n *Node) (Kernel, error) {
	if !n.HasAttr("to") {
		return nil, fmt.Errorf("BitCast: missing attribute 'to'")
	}
	to := tensor.DType(n.AttrInt("to", 0))
	if !to.Supported() || to == tensor.String {
		return nil, fmt.Errorf("BitCast: target type %v is not supported", to)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if x.DType == tensor.String || x.DType.Size() != to.Size() {
			return nil, fmt.Errorf("cannot bitcast %v to %v: element widths differ", x.DType, to)
		}
		p := tensor.ToProto(x, "") // little-endian raw bytes
		dt := int32(to)
		p.DataType = &dt
		out, err := tensor.FromProto(p)
		if err != nil {
			return nil, err
		}
		return ctx.Result(out), nil
	}), nil
}
