package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unsafe"

	"github.com/actswap/actswap/tensor"
)

// restRequest is a decoded V2 REST infer request.
type restRequest struct {
	id           string
	binaryOutput bool // request parameter binary_data_output
	inputs       []inferInput
	outputs      []requestedOutput
}

// requestedOutput is one entry of the request's "outputs"; binary is nil unless the entry sets
// its own binary_data parameter, which then overrides binary_data_output either way.
type requestedOutput struct {
	name   string
	binary *bool
}

// decodeLimits bound what one request may make the server allocate.
type decodeLimits struct {
	maxElements int   // elements over all inputs
	bodyBytes   int64 // the body's size (declared, or the most it may be): a JSON element needs ≥ 2 bytes of it
}

// binaryInput is an input whose elements follow the JSON header (binary tensor extension).
type binaryInput struct {
	index int // position in restRequest.inputs
	dt    tensor.DType
	shape []int
	size  int
}

// decodeRESTRequest reads a V2 JSON request from header, writing "data" arrays straight into
// typed tensors: nothing is materialised as generic Go values, so a request costs its tensors
// plus a small read buffer (plus, only when an input's "data" comes before its "datatype" or
// "shape", a copy of that array's text). Inputs sent with binary_data_size take their bytes from
// binary, which is read only after the header has been checked.
func decodeRESTRequest(header io.Reader, binary io.Reader, lim decodeLimits) (*restRequest, error) {
	sc := newJSONScanner(header)
	req := &restRequest{}
	var pendingBinary []binaryInput
	elements := 0
	seen := map[string]bool{}
	err := sc.object(func(key string) error {
		if seen[key] {
			return badRequest("request: field %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "id":
			id, err := sc.stringValue()
			if err != nil {
				return badRequest("request: id: %v", err)
			}
			req.id = id
		case "parameters":
			params, err := parameters(sc)
			if err != nil {
				return badRequest("request: parameters: %v", err)
			}
			if req.binaryOutput, err = boolParam(params, "binary_data_output"); err != nil {
				return badRequest("request: parameters: %v", err)
			}
		case "inputs":
			if err := sc.expect('['); err != nil {
				return badRequest("inputs: %v", err)
			}
			return sc.array(func() error {
				in, bin, err := decodeRESTInput(sc, len(req.inputs), lim, &elements)
				if err != nil {
					return err
				}
				if bin != nil {
					pendingBinary = append(pendingBinary, *bin)
				}
				req.inputs = append(req.inputs, in)
				return nil
			})
		case "outputs":
			raw, err := sc.rawValue()
			if err != nil {
				return badRequest("outputs: %v", err)
			}
			var outs []struct {
				Name       string         `json:"name"`
				Parameters map[string]any `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &outs); err != nil {
				return badRequest("outputs: %v", err)
			}
			for _, o := range outs {
				ro := requestedOutput{name: o.Name}
				if v, ok := o.Parameters["binary_data"]; ok {
					b, isBool := v.(bool)
					if !isBool {
						return badRequest("output %q: parameter binary_data is %v, want true or false", o.Name, v)
					}
					ro.binary = &b
				}
				req.outputs = append(req.outputs, ro)
			}
		default:
			// Unknown fields are ignored, as the protocol allows, without keeping their values.
			if err := sc.skipValue(); err != nil {
				return badRequest("request: %q: %v", key, err)
			}
		}
		return nil
	})
	if err == nil {
		err = sc.end()
	}
	if err != nil {
		if _, isHTTP := err.(*httpError); isHTTP {
			return nil, err
		}
		return nil, badRequest("malformed JSON request: %v", err)
	}
	if len(req.inputs) == 0 {
		return nil, badRequest("request has no inputs")
	}
	for _, b := range pendingBinary {
		raw := make([]byte, b.size)
		if _, err := io.ReadFull(binary, raw); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, badRequest("input %q: binary_data_size %d does not fit the bytes after the JSON header", req.inputs[b.index].name, b.size)
			}
			return nil, err
		}
		t, err := tensorFromRaw(b.dt, b.shape, raw)
		if err != nil {
			return nil, badRequest("input %q: %v", req.inputs[b.index].name, err)
		}
		req.inputs[b.index].tensor = t
	}
	if n, err := io.Copy(io.Discard, binary); err != nil {
		return nil, err
	} else if n != 0 {
		return nil, badRequest("%d bytes of binary data are not claimed by any input", n)
	}
	return req, nil
}

// parameters reads a parameters object; numbers stay json.Number so integers stay exact.
func parameters(sc *jsonScanner) (map[string]any, error) {
	raw, err := sc.rawValue()
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		return nil, err
	}
	return params, nil
}

// decodeRESTInput decodes one element of "inputs". An input with binary_data_size comes back
// without a tensor and with its binaryInput.
func decodeRESTInput(sc *jsonScanner, index int, lim decodeLimits, elements *int) (inferInput, *binaryInput, error) {
	where := fmt.Sprintf("inputs[%d]", index)
	var (
		in       inferInput
		datatype string
		dims     []int64
		shape    []int
		dt       tensor.DType
		params   map[string]any
		rawData  []byte // "data" seen before datatype/shape: decoded at the end
		haveData bool
		seen     = map[string]bool{}
	)
	// ready is true once datatype and shape are known and checked, so "data" can stream.
	ready := func() (bool, error) {
		if !seen["datatype"] || !seen["shape"] {
			return false, nil
		}
		if shape != nil {
			return true, nil
		}
		var err error
		if dt, err = ParseV2Datatype(datatype); err != nil {
			return false, badRequest("input %q: %v", in.name, err)
		}
		if shape, err = checkedShape(dims); err != nil {
			return false, badRequest("input %q: %v", in.name, err)
		}
		n := tensor.NumElements(shape)
		*elements += n
		if *elements > lim.maxElements {
			return false, &httpError{413, fmt.Sprintf("request has more than %d elements (input %q: shape %v), the most this server accepts", lim.maxElements, in.name, dims)}
		}
		return true, nil
	}
	err := sc.object(func(key string) error {
		if seen[key] {
			return badRequest("%s: field %q given twice", where, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "name":
			if in.name, err = sc.stringValue(); err != nil {
				return badRequest("%s: name: %v", where, err)
			}
			where = fmt.Sprintf("input %q", in.name)
		case "datatype":
			if datatype, err = sc.stringValue(); err != nil {
				return badRequest("%s: datatype: %v", where, err)
			}
		case "shape":
			raw, err := sc.rawValue()
			if err == nil {
				err = json.Unmarshal(raw, &dims)
			}
			if err != nil {
				return badRequest("%s: shape: %v", where, err)
			}
			if dims == nil {
				dims = []int64{}
			}
		case "parameters":
			if params, err = parameters(sc); err != nil {
				return badRequest("%s: parameters: %v", where, err)
			}
		case "data":
			haveData = true
			ok, err := ready()
			if err != nil {
				return err
			}
			if !ok {
				if rawData, err = sc.rawValue(); err != nil {
					return badRequest("%s: data: %v", where, err)
				}
				return nil
			}
			if in.tensor, err = decodeData(sc, dt, shape, lim); err != nil {
				return badRequest("%s: %v", where, err)
			}
		default:
			if err := sc.skipValue(); err != nil {
				return badRequest("%s: %q: %v", where, key, err)
			}
		}
		return nil
	})
	if err != nil {
		if _, isHTTP := err.(*httpError); isHTTP {
			return in, nil, err
		}
		return in, nil, badRequest("%s: %v", where, err)
	}
	for _, field := range []string{"name", "datatype", "shape"} {
		if !seen[field] {
			return in, nil, badRequest("%s: no %q", where, field)
		}
	}
	if _, err := ready(); err != nil {
		return in, nil, err
	}
	size, hasSize := params["binary_data_size"]
	switch {
	case hasSize && haveData:
		return in, nil, badRequest("input %q: both \"data\" and binary_data_size given", in.name)
	case hasSize:
		num, isNum := size.(json.Number)
		n, err := strconv.ParseInt(string(num), 10, 64)
		if !isNum || err != nil || n < 0 || n > lim.bodyBytes {
			return in, nil, badRequest("input %q: binary_data_size %v does not fit the body", in.name, size)
		}
		return in, &binaryInput{index: index, dt: dt, shape: shape, size: int(n)}, nil
	case !haveData:
		return in, nil, badRequest("input %q: no data", in.name)
	case rawData != nil:
		inner := newJSONScanner(bytes.NewReader(rawData))
		t, err := decodeData(inner, dt, shape, lim)
		if err == nil {
			err = inner.end()
		}
		if err != nil {
			return in, nil, badRequest("input %q: %v", in.name, err)
		}
		in.tensor = t
	}
	return in, nil, nil
}

// decodeData reads one "data" value into a new tensor of dt and shape. The array is either flat
// (exactly the shape's element count) or nested exactly as the shape (every array at depth k
// has shape[k] entries); anything else, ragged nesting included, is refused.
func decodeData(sc *jsonScanner, dt tensor.DType, shape []int, lim decodeLimits) (*tensor.Tensor, error) {
	n := tensor.NumElements(shape)
	// Each JSON element takes at least two bytes ("0,"), so a shape the body cannot fill is
	// refused before anything is allocated for it.
	if int64(n) > lim.bodyBytes/2+1 {
		return nil, fmt.Errorf("shape %v needs %d elements, more than a %d-byte body can hold", shape, n, lim.bodyBytes)
	}
	if err := sc.expect('['); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	w := dataWriter{sc: sc, t: tensor.Zeros(dt, shape), n: n, shape: shape, leafDepth: -1}
	if err := w.array(0); err != nil {
		return nil, err
	}
	if w.i != n {
		return nil, fmt.Errorf("data has %d elements, shape %v needs %d", w.i, shape, n)
	}
	return w.t, nil
}

type dataWriter struct {
	sc        *jsonScanner
	t         *tensor.Tensor
	n, i      int // elements needed, written
	shape     []int
	nested    bool // the top-level array holds arrays
	leafDepth int  // depth of the first scalar seen (-1: none yet)
}

// array reads the entries of an array whose '[' has been consumed, at the given depth.
func (w *dataWriter) array(depth int) error {
	count := 0
	err := w.sc.array(func() error {
		count++
		c, err := w.sc.peek()
		if err != nil {
			return err
		}
		if c == '[' {
			_, _ = w.sc.readByte()
			if depth == 0 {
				w.nested = true
			}
			if !w.nested || depth+1 >= len(w.shape) || (w.leafDepth >= 0 && depth+1 > w.leafDepth) {
				return fmt.Errorf("nesting does not follow shape %v", w.shape)
			}
			return w.array(depth + 1)
		}
		if w.leafDepth < 0 {
			w.leafDepth = depth
		}
		if depth != w.leafDepth || (w.nested && depth != len(w.shape)-1) {
			return fmt.Errorf("nesting does not follow shape %v", w.shape)
		}
		if w.i >= w.n {
			return fmt.Errorf("more than the %d elements shape %v needs", w.n, w.shape)
		}
		if err := w.element(c); err != nil {
			return fmt.Errorf("element %d: %v", w.i, err)
		}
		w.i++
		return nil
	})
	if err != nil {
		return fmt.Errorf("data: %v", err)
	}
	if w.nested && count != w.shape[depth] {
		return fmt.Errorf("data: an array at depth %d has %d entries, shape %v needs %d", depth, count, w.shape, w.shape[depth])
	}
	return nil
}

// element stores the next value, which starts with c, as element i. Floats also accept "NaN",
// "Infinity" and "-Infinity", the strings the server writes for them.
func (w *dataWriter) element(c byte) error {
	t, i := w.t, w.i
	switch c {
	case '{':
		return fmt.Errorf("an object where a number belongs")
	case '"':
		v, err := w.sc.stringValue()
		if err != nil {
			return err
		}
		if d, ok := t.Data.([]string); ok {
			d[i] = v
			return nil
		}
		if f, ok := nonFiniteFloat(v); ok {
			return setFloat(t, i, f)
		}
		return fmt.Errorf("string %q for a %s tensor", v, V2Datatype(t.DType))
	}
	lit, err := w.sc.literal()
	if err != nil {
		return err
	}
	switch string(lit) {
	case "true", "false":
		d, ok := t.Data.([]bool)
		if !ok {
			return fmt.Errorf("boolean for a %s tensor", V2Datatype(t.DType))
		}
		d[i] = lit[0] == 't'
		return nil
	case "null":
		return fmt.Errorf("null for a %s tensor", V2Datatype(t.DType))
	}
	if !isJSONNumber(lit) {
		return fmt.Errorf("%q is not a JSON number", lit)
	}
	// The text is parsed in place; strconv does not keep it (its errors are replaced below).
	return setNumber(t, i, unsafe.String(&lit[0], len(lit)))
}

// isJSONNumber checks the JSON number grammar, which strconv is more lenient than (it takes
// "+1", "Inf", hex and underscores).
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

func nonFiniteFloat(s string) (float64, bool) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if tensor.JSONFloat(f) == s { // the spelling the writers use, defined once
			return f, true
		}
	}
	return 0, false
}

func setFloat(t *tensor.Tensor, i int, f float64) error {
	switch d := t.Data.(type) {
	case []float32:
		d[i] = float32(f)
	case []float64:
		d[i] = f
	case []tensor.Float16Bits:
		d[i] = tensor.Float16FromFloat32(float32(f))
	case []tensor.BFloat16Bits:
		d[i] = tensor.BFloat16FromFloat32(float32(f))
	default:
		return fmt.Errorf("%v for a %s tensor", f, V2Datatype(t.DType))
	}
	return nil
}

func setNumber(t *tensor.Tensor, i int, s string) error {
	switch d := t.Data.(type) {
	case []float32, []tensor.Float16Bits, []tensor.BFloat16Bits:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return fmt.Errorf("%s is not a %s value", s, V2Datatype(t.DType))
		}
		return setFloat(t, i, f)
	case []float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%s is not an FP64 value", s)
		}
		d[i] = f
		return nil
	case []int8:
		return setInt(d, i, s, 8)
	case []int16:
		return setInt(d, i, s, 16)
	case []int32:
		return setInt(d, i, s, 32)
	case []int64:
		return setInt(d, i, s, 64)
	case []uint8:
		return setUint(d, i, s, 8)
	case []uint16:
		return setUint(d, i, s, 16)
	case []uint32:
		return setUint(d, i, s, 32)
	case []uint64:
		return setUint(d, i, s, 64)
	}
	return fmt.Errorf("number for a %s tensor", V2Datatype(t.DType))
}

// integerText accepts integers written as JSON floats (1.0, 1e3) when they are exact.
func integerText(s string) (string, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

func setInt[T int8 | int16 | int32 | int64](d []T, i int, s string, bits int) error {
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		if alt, ok := integerText(s); ok {
			v, err = strconv.ParseInt(alt, 10, bits)
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not a valid %T", s, d[0])
	}
	d[i] = T(v)
	return nil
}

func setUint[T uint8 | uint16 | uint32 | uint64](d []T, i int, s string, bits int) error {
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		if alt, ok := integerText(s); ok {
			v, err = strconv.ParseUint(alt, 10, bits)
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not a valid %T", s, d[0])
	}
	d[i] = T(v)
	return nil
}

// boolParam reads an optional boolean parameter, refusing other types.
func boolParam(params map[string]any, key string) (bool, error) {
	v, ok := params[key]
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, fmt.Errorf("%s is %v, want true or false", key, v)
	}
	return b, nil
}
