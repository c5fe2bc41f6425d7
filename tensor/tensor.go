package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a dense, row-major n-dimensional array. Data holds a slice of the Go type matching
// DType ([]float32 for Float32, []Float16Bits for Float16, …) of exactly Shape's element count.
// A scalar has an empty shape and one element.
type Tensor struct {
	DType DType
	Shape []int
	Data  any
}

// New wraps data (not copied) as a tensor of the given shape.
func New[T Elem](shape []int, data []T) *Tensor {
	if NumElements(shape) != len(data) {
		panic(fmt.Sprintf("tensor.New: shape %v needs %d elements, got %d", shape, NumElements(shape), len(data)))
	}
	return &Tensor{DType: DTypeOf[T](), Shape: append([]int(nil), shape...), Data: data}
}

// Zeros allocates a zero-filled tensor.
func Zeros(dt DType, shape []int) *Tensor {
	return &Tensor{DType: dt, Shape: append([]int(nil), shape...), Data: NewData(dt, NumElements(shape))}
}

// NewData allocates n zero elements of dt's Go type ([]float32 for Float32, …), boxed as a
// tensor's Data.
func NewData(dt DType, n int) any {
	switch dt {
	case Float32:
		return make([]float32, n)
	case Float64:
		return make([]float64, n)
	case Float16:
		return make([]Float16Bits, n)
	case BFloat16:
		return make([]BFloat16Bits, n)
	case Int8:
		return make([]int8, n)
	case Int16:
		return make([]int16, n)
	case Int32:
		return make([]int32, n)
	case Int64:
		return make([]int64, n)
	case Uint8:
		return make([]uint8, n)
	case Uint16:
		return make([]uint16, n)
	case Uint32:
		return make([]uint32, n)
	case Uint64:
		return make([]uint64, n)
	case Bool:
		return make([]bool, n)
	case String:
		return make([]string, n)
	}
	if d := newByteData(dt, n); d != nil {
		return d
	}
	switch dt {
	default:
		panic(fmt.Sprintf("tensor.NewData: unsupported dtype %v", dt))
	}
}

// Scalar makes a rank-0 tensor.
func Scalar[T Elem](v T) *Tensor { return New([]int{}, []T{v}) }

// Data returns t's elements as []T; it panics if T does not match t.DType, which is a programming
// error (kernels check dtypes when a session is created).
func Data[T Elem](t *Tensor) []T { return t.Data.([]T) }

// F32 is Data[float32], the common case.
func (t *Tensor) F32() []float32 { return t.Data.([]float32) }

// I64 is Data[int64], the type of shapes and indices.
func (t *Tensor) I64() []int64 { return t.Data.([]int64) }

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// NumElements is the product of the dimensions (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Strides returns the row-major element strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// Reshape returns a tensor sharing t's data under a new shape with the same element count.
func (t *Tensor) Reshape(shape []int) (*Tensor, error) {
	if NumElements(shape) != t.Len() {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", t.Shape, t.Len(), shape)
	}
	return &Tensor{DType: t.DType, Shape: append([]int(nil), shape...), Data: t.Data}, nil
}

// Clone deep-copies t.
func (t *Tensor) Clone() *Tensor {
	c := Zeros(t.DType, t.Shape)
	CopyRange(c, 0, t, 0, t.Len())
	return c
}

// ShapeString formats a shape as [1,3,224,224].
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%v%s", t.DType, ShapeString(t.Shape))
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
