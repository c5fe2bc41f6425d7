package calibrate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/actswap/actswap/tensor"
)

// npyStream reads a .npy array row by row along its first axis, so that a file of any size is
// read with one batch in memory.
type npyStream struct {
	name      string // file (or archive member) for error messages
	r         *bufio.Reader
	src       io.Closer
	elem      npyElem
	shape     []int // full shape; shape[0] is the row count
	rowElems  int
	rowsLeft  int
	rowBuffer []byte
}

// npyElem is the on-disk element type of a .npy file.
type npyElem struct {
	kind  byte // 'f' float, 'i' signed, 'u' unsigned, 'b' bool
	size  int
	order binary.ByteOrder
}

// openNpyStream parses the header (tensor.ReadNpyHeader, the one .npy header parser) and leaves r
// at the first row.
func openNpyStream(name string, r io.Reader, closer io.Closer) (*npyStream, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	h, err := tensor.ReadNpyHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	elem, err := npyElemOf(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	shape := h.Shape
	if len(shape) == 0 {
		return nil, fmt.Errorf("%s: a scalar .npy has no rows to stream", name)
	}
	rowElems := 1
	for _, d := range shape[1:] {
		rowElems *= d
		if rowElems > math.MaxInt32 {
			return nil, fmt.Errorf("%s: rows of shape %v are too large", name, shape[1:])
		}
	}
	if h.Fortran && len(shape) > 1 && rowElems > 1 {
		return nil, fmt.Errorf("%s: Fortran-ordered arrays cannot be streamed by rows; save with numpy.ascontiguousarray", name)
	}
	return &npyStream{name: name, r: br, src: closer, elem: elem, shape: shape, rowElems: rowElems, rowsLeft: shape[0]}, nil
}

// npyElemOf is the on-disk element of a header's dtype.
func npyElemOf(h tensor.NpyHeader) (npyElem, error) {
	var order binary.ByteOrder = binary.LittleEndian
	if h.BigEndian {
		order = binary.BigEndian
	}
	e := npyElem{size: h.DType.Size(), order: order}
	switch h.DType {
	case tensor.Float16, tensor.Float32, tensor.Float64:
		e.kind = 'f'
	case tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64:
		e.kind = 'i'
	case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
		e.kind = 'u'
	case tensor.Bool:
		e.kind = 'b'
	default:
		return e, fmt.Errorf("unsupported .npy dtype %v (want float, integer or bool)", h.DType)
	}
	return e, nil
}

// isFloat says whether the file holds floating-point values.
func (e npyElem) isFloat() bool { return e.kind == 'f' }

func (e npyElem) String() string {
	switch e.kind {
	case 'f':
		return fmt.Sprintf("float%d", e.size*8)
	case 'i':
		return fmt.Sprintf("int%d", e.size*8)
	case 'u':
		return fmt.Sprintf("uint%d", e.size*8)
	}
	return "bool"
}

// rows reads up to n rows as a tensor of dtype dt whose shape is rowShape with a leading row count.
// It returns io.EOF when no rows are left.
func (s *npyStream) rows(n int, dt tensor.DType, rowShape []int) (*tensor.Tensor, error) {
	if s.rowsLeft == 0 {
		return nil, io.EOF
	}
	n = min(n, s.rowsLeft)
	count := n * s.rowElems
	need := count * s.elem.size
	if cap(s.rowBuffer) < need {
		s.rowBuffer = make([]byte, need)
	}
	buf := s.rowBuffer[:need]
	if _, err := io.ReadFull(s.r, buf); err != nil {
		return nil, fmt.Errorf("%s: data ends before row %d of %d: %w", s.name, s.shape[0]-s.rowsLeft+n, s.shape[0], shortRead(err))
	}
	s.rowsLeft -= n
	out := tensor.Zeros(dt, append([]int{n}, rowShape...))
	if err := s.convert(buf, count, out); err != nil {
		return nil, err
	}
	return out, nil
}

// convert decodes count elements of buf into out's data.
func (s *npyStream) convert(buf []byte, count int, out *tensor.Tensor) error {
	e := s.elem
	f64 := func(i int) float64 {
		b := buf[i*e.size : (i+1)*e.size]
		switch e.kind {
		case 'f':
			switch e.size {
			case 2:
				return float64(tensor.Float16Bits(e.order.Uint16(b)).Float32())
			case 4:
				return float64(math.Float32frombits(e.order.Uint32(b)))
			}
			return math.Float64frombits(e.order.Uint64(b))
		case 'b':
			if b[0] != 0 {
				return 1
			}
			return 0
		}
		return float64(s.int64At(b))
	}
	switch d := out.Data.(type) {
	case []float32:
		for i := range count {
			d[i] = float32(f64(i))
		}
	case []float64:
		for i := range count {
			d[i] = f64(i)
		}
	case []tensor.Float16Bits:
		for i := range count {
			d[i] = tensor.Float16FromFloat32(float32(f64(i)))
		}
	case []int64:
		if e.isFloat() {
			return fmt.Errorf("%s holds %v values; an int64 input needs integers", s.name, e)
		}
		for i := range count {
			d[i] = s.int64At(buf[i*e.size : (i+1)*e.size])
		}
	case []int32:
		if e.isFloat() {
			return fmt.Errorf("%s holds %v values; an int32 input needs integers", s.name, e)
		}
		for i := range count {
			d[i] = int32(s.int64At(buf[i*e.size : (i+1)*e.size]))
		}
	case []bool:
		for i := range count {
			d[i] = f64(i) != 0
		}
	default:
		return fmt.Errorf("%s: cannot feed an input of type %v", s.name, out.DType)
	}
	return nil
}

func (s *npyStream) int64At(b []byte) int64 {
	e := s.elem
	switch e.size {
	case 1:
		if e.kind == 'u' || e.kind == 'b' {
			return int64(b[0])
		}
		return int64(int8(b[0]))
	case 2:
		if e.kind == 'u' {
			return int64(e.order.Uint16(b))
		}
		return int64(int16(e.order.Uint16(b)))
	case 4:
		if e.kind == 'u' {
			return int64(e.order.Uint32(b))
		}
		return int64(int32(e.order.Uint32(b)))
	}
	return int64(e.order.Uint64(b))
}

func (s *npyStream) Close() error {
	if s.src != nil {
		return s.src.Close()
	}
	return nil
}

func shortRead(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
