package tensor

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/actswap/actswap/onnx"
)

// Sub-byte tensors in TensorProto.int32_data, packed by hand as onnx.helper.make_tensor packs
// them: one byte per int32 value, the first element in the least significant bits (two 4-bit or
// four 2-bit elements per byte), a short last byte zero-filled; signed values in two's complement.
func TestSubByteTypesFromInt32Data(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dt    DType
		data  []int32
		shape []int64
		want  []float64
	}{
		{Int4, []int32{0x78, 0x01}, []int64{3}, []float64{-8, 7, 1}},
		{Uint4, []int32{0x0F, 0x09}, []int64{3}, []float64{15, 0, 9}},
		{Int2, []int32{0x36, 0x01}, []int64{5}, []float64{-2, 1, -1, 0, 1}},
		{Uint2, []int32{0x1B}, []int64{2, 2}, []float64{3, 2, 1, 0}},
		// e2m1 codes: 0b0010 = 1.0, 0b1111 = −6.0, 0b0111 = 6.0, 0b1001 = −0.5.
		{Float4E2M1, []int32{0xF2, 0x97}, []int64{4}, []float64{1, -6, 6, -0.5}},
	} {
		tp := &onnx.TensorProto{DataType: proto.Int32(int32(c.dt)), Dims: c.shape, Int32Data: c.data}
		got, err := FromProto(tp)
		if err != nil {
			t.Fatalf("%v: %v", c.dt, err)
		}
		vals, ok := Float64s(got)
		if !ok || !slices.Equal(vals, c.want) {
			t.Errorf("%v from int32_data %#x: %v, want %v", c.dt, c.data, vals, c.want)
		}
		// One int32 value too many or too few is an error naming the field.
		tp.Int32Data = append(tp.Int32Data, 0)
		if _, err := FromProto(tp); err == nil {
			t.Errorf("%v: an extra int32_data value was accepted", c.dt)
		}
	}
}
