package tensor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/actswap/actswap/internal/outfile"
)

// NumPy .npy format (numpy.lib.format): the magic "\x93NUMPY", a version byte pair, the length of a
// header that is a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), },
// then the elements. This reader takes versions 1–3, either byte order and either memory order,
// so files from any NumPy can be used as calibration data; it always writes little-endian C order.

const npyMagic = "\x93NUMPY"

// maxNpyHeader bounds the header we read; NumPy's own headers are a few hundred bytes.
const maxNpyHeader = 1 << 20

// npyKinds maps NumPy's type codes (kind + size, without the byte-order character) to dtypes.
var npyKinds = map[string]DType{
	"f4": Float32, "f8": Float64, "f2": Float16,
	"i1": Int8, "i2": Int16, "i4": Int32, "i8": Int64,
	"u1": Uint8, "u2": Uint16, "u4": Uint32, "u8": Uint64,
	"b1": Bool,
}

// ReadNpy reads a tensor from a .npy file.
func ReadNpy(path string) (*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, pathErrCause(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory, not a .npy file", path)
	}
	t, err := DecodeNpy(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return t, nil
}

type npyHeader struct {
	dtype        DType
	bigEndian    bool
	unicodeChars int // for '<U<n>' string arrays: characters per element
	fortran      bool
	shape        []int
}

// NpyHeader is what a .npy header says about the array that follows it.
type NpyHeader struct {
	DType     DType
	BigEndian bool // the elements are stored big-endian
	Fortran   bool // column-major order
	Shape     []int
}

// ReadNpyHeader reads a .npy header from r and leaves r at the first element, for readers that
// stream the elements themselves (calibration data read by rows). Unicode string arrays are
// refused: they have no fixed-size numeric element to stream. This, not a general decoder such
// as npyio, is the one .npy header parser because it bounds every size a hostile header claims
// before allocating anything.
func ReadNpyHeader(r io.Reader) (NpyHeader, error) {
	h, err := readNpyHeader(r)
	if err != nil {
		return NpyHeader{}, err
	}
	if h.dtype == String {
		return NpyHeader{}, errors.New("npy: a string array holds no numbers")
	}
	return NpyHeader{DType: h.dtype, BigEndian: h.bigEndian, Fortran: h.fortran, Shape: h.shape}, nil
}

// DecodeNpy reads one .npy array from r (r is left just after the array's data).
func DecodeNpy(r io.Reader) (*Tensor, error) {
	h, err := readNpyHeader(r)
	if err != nil {
		return nil, err
	}
	n, err := checkedNumElements(h.shape)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	itemSize := h.dtype.Size()
	if h.dtype == String {
		itemSize = 4 * h.unicodeChars
	}
	if itemSize > 0 && int64(n) > int64(maxElements)*8/int64(itemSize) {
		return nil, fmt.Errorf("npy: shape %v is too large", h.shape)
	}
	need := int64(n) * int64(itemSize)
	// ReadAll grows with the bytes actually present, so a hostile shape on a short file fails on
	// the length check below instead of allocating the claimed size up front.
	raw, err := io.ReadAll(io.LimitReader(r, need))
	if err != nil {
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	if int64(len(raw)) != need {
		return nil, fmt.Errorf("npy: data has %d bytes, %s%v needs %d (file truncated?)", len(raw), h.dtype, ShapeString(h.shape), need)
	}
	if h.bigEndian {
		if h.dtype == String {
			swapBytes(raw, 4) // each UCS-4 character
		} else {
			swapBytes(raw, itemSize)
		}
	}
	if h.fortran && len(h.shape) > 1 {
		raw = fortranToC(raw, h.shape, itemSize)
	}
	t := Zeros(h.dtype, h.shape)
	if h.dtype == String {
		return t, decodeUnicode(t.Data.([]string), raw, h.unicodeChars)
	}
	decodeRaw(t.Data, raw)
	return t, nil
}

// swapBytes reverses each size-byte group of b (big-endian to little-endian or back).
func swapBytes(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		for j, k := i, i+size-1; j < k; j, k = j+1, k-1 {
			b[j], b[k] = b[k], b[j]
		}
	}
}

// decodeUnicode decodes NumPy's fixed-width UCS-4 strings, which are NUL-padded on the right.
func decodeUnicode(dst []string, raw []byte, chars int) error {
	var sb strings.Builder
	for i := range dst {
		sb.Reset()
		for c := range chars {
			r := rune(binary.LittleEndian.Uint32(raw[(i*chars+c)*4:]))
			if r == 0 {
				break
			}
			if !utf8.ValidRune(r) {
				return fmt.Errorf("npy: element %d holds invalid code point %#x", i, r)
			}
			sb.WriteRune(r)
		}
		dst[i] = sb.String()
	}
	return nil
}

// fortranToC reorders column-major element bytes of the given shape into row-major order.
func fortranToC(raw []byte, shape []int, itemSize int) []byte {
	out := make([]byte, len(raw))
	fstride := make([]int, len(shape))
	acc := 1
	for k, d := range shape {
		fstride[k] = acc
		acc *= d
	}
	idx := make([]int, len(shape))
	src := 0 // Fortran element offset of idx
	for dst := 0; dst < len(raw); dst += itemSize {
		copy(out[dst:dst+itemSize], raw[src*itemSize:])
		// Advance the row-major multi-index, keeping the Fortran offset in step.
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			src += fstride[k]
			if idx[k] < shape[k] {
				break
			}
			src -= idx[k] * fstride[k]
			idx[k] = 0
		}
	}
	return out
}

func readNpyHeader(r io.Reader) (npyHeader, error) {
	var h npyHeader
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return h, errors.New("npy: empty file, not a .npy array")
		}
		return h, errors.New("npy: too short to be a .npy array")
	}
	if string(pre[:6]) != npyMagic {
		return h, errors.New("npy: not a .npy array (bad magic)")
	}
	var hlen int
	switch major := pre[6]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return h, errors.New("npy: truncated header")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return h, errors.New("npy: truncated header")
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return h, fmt.Errorf("npy: unsupported format version %d.%d", major, pre[7])
	}
	if hlen > maxNpyHeader {
		return h, fmt.Errorf("npy: header of %d bytes is implausibly large", hlen)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return h, errors.New("npy: truncated header")
	}
	fields, err := parsePyDict(string(hdr))
	if err != nil {
		return h, fmt.Errorf("npy: header %q: %w", strings.TrimSpace(string(hdr)), err)
	}
	descr, ok := fields["descr"].(string)
	if !ok {
		return h, errors.New("npy: header has no 'descr' string (structured arrays are not supported)")
	}
	if err := h.setDescr(descr); err != nil {
		return h, err
	}
	fortran, ok := fields["fortran_order"].(bool)
	if !ok {
		return h, errors.New("npy: header has no 'fortran_order' flag")
	}
	h.fortran = fortran
	shape, ok := fields["shape"].([]int)
	if !ok {
		return h, errors.New("npy: header has no 'shape' tuple")
	}
	h.shape = shape
	return h, nil
}

func (h *npyHeader) setDescr(descr string) error {
	if len(descr) < 2 {
		return fmt.Errorf("npy: unknown dtype %q", descr)
	}
	order, code := descr[0], descr[1:]
	switch order {
	case '<', '|', '=':
	case '>':
		h.bigEndian = true
	default:
		order, code = '|', descr
	}
	if code[0] == 'U' {
		chars, err := strconv.Atoi(code[1:])
		// Zero-width strings would let a tiny file claim billions of elements with no data.
		if err != nil || chars < 1 || chars > 1<<20 {
			return fmt.Errorf("npy: unsupported dtype %q", descr)
		}
		h.dtype, h.unicodeChars = String, chars
		return nil
	}
	dt, ok := npyKinds[code]
	if !ok {
		switch code[0] {
		case 'O':
			return fmt.Errorf("npy: dtype %q is a pickled object array, which is not supported", descr)
		case 'V':
			return fmt.Errorf("npy: dtype %q is a raw void type (bfloat16 from ml_dtypes?); save it as float32", descr)
		}
		return fmt.Errorf("npy: unsupported dtype %q", descr)
	}
	h.dtype = dt
	return nil
}

// parsePyDict parses the restricted Python dict literal of a .npy header: string keys mapping to
// strings, True/False/None, integers or tuples of integers.
func parsePyDict(s string) (map[string]any, error) {
	p := &pyParser{s: s}
	p.skipSpace()
	if !p.eat('{') {
		return nil, errors.New("not a dict")
	}
	out := map[string]any{}
	for {
		p.skipSpace()
		if p.eat('}') {
			return out, nil
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.eat(':') {
			return nil, errors.New("expected ':'")
		}
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out[key] = v
		p.skipSpace()
		if !p.eat(',') {
			p.skipSpace()
			if !p.eat('}') {
				return nil, errors.New("expected ',' or '}'")
			}
			return out, nil
		}
	}
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("expected a string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *pyParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, errors.New("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case c == '(':
		p.i++
		var dims []int
		for {
			p.skipSpace()
			if p.eat(')') {
				return dims, nil
			}
			d, err := p.int()
			if err != nil {
				return nil, err
			}
			dims = append(dims, d)
			p.skipSpace()
			if !p.eat(',') {
				p.skipSpace()
				if !p.eat(')') {
					return nil, errors.New("expected ',' or ')' in tuple")
				}
				return dims, nil
			}
		}
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	case strings.HasPrefix(p.s[p.i:], "None"):
		p.i += 4
		return nil, nil
	}
	return p.int()
}

func (p *pyParser) int() (int, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	// Some writers emit Python 2 long literals such as 3L.
	digits := p.s[start:p.i]
	p.eat('L')
	d, err := strconv.Atoi(digits)
	if err != nil || d > maxElements {
		return 0, fmt.Errorf("bad dimension %q", digits)
	}
	return d, nil
}

// npyDescr is the .npy type code written for each dtype.
func npyDescr(t *Tensor) (string, error) {
	if t.DType == String {
		chars := 1
		for _, s := range t.Data.([]string) {
			chars = max(chars, utf8.RuneCountInString(s))
		}
		return "<U" + strconv.Itoa(chars), nil
	}
	for code, dt := range npyKinds {
		if dt == t.DType {
			if t.DType.Size() == 1 {
				return "|" + code, nil
			}
			return "<" + code, nil
		}
	}
	return "", fmt.Errorf("npy: %v has no NumPy type; convert it to float32 first", t.DType)
}

// EncodeNpy writes t to w as a version 1.0 (2.0 for huge headers) .npy array in little-endian
// C order, as numpy.save does.
func EncodeNpy(w io.Writer, t *Tensor) error {
	if n, err := checkedNumElements(t.Shape); err != nil || n != dataLen(t.Data) {
		return fmt.Errorf("npy: tensor %v does not hold %d elements", t, NumElements(t.Shape))
	}
	descr, err := npyDescr(t)
	if err != nil {
		return err
	}
	var dims strings.Builder
	for i, d := range t.Shape {
		if i > 0 {
			dims.WriteString(" ")
		}
		dims.WriteString(strconv.Itoa(d) + ",")
	}
	shape := strings.TrimSuffix(dims.String(), ",")
	if len(t.Shape) == 1 {
		shape += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad with spaces and end with a newline so the data starts at a multiple of 64 bytes.
	version, lenSize := byte(1), 2
	if len(dict)+1+10 > 65535 {
		version, lenSize = 2, 4
	}
	prefix := 6 + 2 + lenSize
	total := (prefix + len(dict) + 1 + 63) / 64 * 64
	hdr := dict + strings.Repeat(" ", total-prefix-len(dict)-1) + "\n"
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.WriteByte(version)
	buf.WriteByte(0)
	if lenSize == 2 {
		binary.Write(&buf, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	}
	buf.WriteString(hdr)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if t.DType == String {
		_, err = w.Write(encodeUnicode(t.Data.([]string), descr))
		return err
	}
	_, err = w.Write(RawBytes(t))
	return err
}

func encodeUnicode(strs []string, descr string) []byte {
	chars, _ := strconv.Atoi(descr[2:])
	raw := make([]byte, len(strs)*chars*4)
	for i, s := range strs {
		c := 0
		for _, r := range s {
			binary.LittleEndian.PutUint32(raw[(i*chars+c)*4:], uint32(r))
			c++
		}
	}
	return raw
}

// WriteNpy writes t to path as a .npy file, atomically.
func WriteNpy(path string, t *Tensor) error {
	if err := outfile.Write(path, func(w io.Writer) error { return EncodeNpy(w, t) }); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// dataLen is the length of a tensor's typed data slice (-1 if it is not one).
func dataLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []Float16Bits:
		return len(d)
	case []BFloat16Bits:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	case []string:
		return len(d)
	}
	if b, ok := byteElems(data); ok {
		return len(b)
	}
	return -1
}

// pathErrCause drops the "open path:" prefix of a path error; callers name the path themselves.
func pathErrCause(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
