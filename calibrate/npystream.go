package calibrate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

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

var (
	npyDescrRe   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortranRe = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShapeRe   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// openNpyStream parses the header and leaves r at the first row.
func openNpyStream(name string, r io.Reader, closer io.Closer) (*npyStream, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var magic [8]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: not a .npy file: %w", name, shortRead(err))
	}
	if string(magic[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("%s: not a .npy file (bad magic)", name)
	}
	var headerLen int
	switch magic[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%s: truncated .npy header", name)
		}
		headerLen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("%s: truncated .npy header", name)
		}
		headerLen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("%s: unsupported .npy version %d", name, magic[6])
	}
	if headerLen > 1<<20 {
		return nil, fmt.Errorf("%s: .npy header of %d bytes is implausible", name, headerLen)
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(br, header); err != nil {
		return nil, fmt.Errorf("%s: truncated .npy header", name)
	}
	h := string(header)
	descr := npyDescrRe.FindStringSubmatch(h)
	fortran := npyFortranRe.FindStringSubmatch(h)
	shapeM := npyShapeRe.FindStringSubmatch(h)
	if descr == nil || fortran == nil || shapeM == nil {
		return nil, fmt.Errorf("%s: .npy header %q lacks descr, fortran_order or shape", name, strings.TrimSpace(h))
	}
	elem, err := parseNpyDescr(descr[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var shape []int
	for _, part := range strings.Split(shapeM[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := strconv.Atoi(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: bad dimension %q in .npy shape", name, part)
		}
		shape = append(shape, d)
	}
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
	if fortran[1] == "True" && len(shape) > 1 && rowElems > 1 {
		return nil, fmt.Errorf("%s: Fortran-ordered arrays cannot be streamed by rows; save with numpy.ascontiguousarray", name)
	}
	return &npyStream{name: name, r: br, src: closer, elem: elem, shape: shape, rowElems: rowElems, rowsLeft: shape[0]}, nil
}

func parseNpyDescr(d string) (npyElem, error) {
	if len(d) < 3 {
		return npyElem{}, fmt.Errorf("unsupported .npy dtype %q", d)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch d[0] {
	case '<', '|', '=':
	case '>':
		order = binary.BigEndian
	default:
		return npyElem{}, fmt.Errorf("unsupported .npy dtype %q", d)
	}
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return npyElem{}, fmt.Errorf("unsupported .npy dtype %q", d)
	}
	e := npyElem{kind: d[1], size: size, order: order}
	ok := false
	switch e.kind {
	case 'f':
		ok = size == 2 || size == 4 || size == 8
	case 'i', 'u':
		ok = size == 1 || size == 2 || size == 4 || size == 8
	case 'b':
		ok = size == 1
	}
	if !ok {
		return npyElem{}, fmt.Errorf("unsupported .npy dtype %q (want float, integer or bool)", d)
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
