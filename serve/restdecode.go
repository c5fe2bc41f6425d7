package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

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

// decodeRESTRequest reads a V2 JSON request from header token by token, writing "data" arrays
// straight into typed tensors: nothing is materialised as generic Go values, so a request costs
// its tensors plus a small decoder buffer (plus, only when an input's "data" comes before its
// "datatype" or "shape", a copy of that array's text). Inputs sent with binary_data_size take
// their bytes from binary, which is read only after the header has been checked.
func decodeRESTRequest(header io.Reader, binary io.Reader, lim decodeLimits) (*restRequest, error) {
	dec := json.NewDecoder(header)
	dec.UseNumber()
	req := &restRequest{}
	var pendingBinary []binaryInput
	elements := 0
	seen := map[string]bool{}
	if err := expectDelim(dec, '{', "request"); err != nil {
		return nil, err
	}
	for dec.More() {
		key, err := objectKey(dec, "request")
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, badRequest("request: field %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "id":
			if err := dec.Decode(&req.id); err != nil {
				return nil, badRequest("request: id: %v", err)
			}
		case "parameters":
			var params map[string]any
			if err := dec.Decode(&params); err != nil {
				return nil, badRequest("request: parameters: %v", err)
			}
			if req.binaryOutput, err = boolParam(params, "binary_data_output"); err != nil {
				return nil, badRequest("request: parameters: %v", err)
			}
		case "inputs":
			if err := expectDelim(dec, '[', "inputs"); err != nil {
				return nil, err
			}
			for dec.More() {
				in, bin, err := decodeRESTInput(dec, len(req.inputs), lim, &elements)
				if err != nil {
					return nil, err
				}
				if bin != nil {
					pendingBinary = append(pendingBinary, *bin)
				}
				req.inputs = append(req.inputs, in)
			}
			if _, err := dec.Token(); err != nil {
				return nil, badRequest("inputs: %v", err)
			}
		case "outputs":
			var outs []struct {
				Name       string         `json:"name"`
				Parameters map[string]any `json:"parameters"`
			}
			if err := dec.Decode(&outs); err != nil {
				return nil, badRequest("outputs: %v", err)
			}
			for _, o := range outs {
				ro := requestedOutput{name: o.Name}
				if v, ok := o.Parameters["binary_data"]; ok {
					b, isBool := v.(bool)
					if !isBool {
						return nil, badRequest("output %q: parameter binary_data is %v, want true or false", o.Name, v)
					}
					ro.binary = &b
				}
				req.outputs = append(req.outputs, ro)
			}
		default:
			// Unknown fields are ignored, as the protocol allows, without keeping their values.
			if err := skipValue(dec); err != nil {
				return nil, badRequest("request: %q: %v", key, err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, badRequest("malformed JSON request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("malformed JSON request: data after the request object")
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

// decodeRESTInput decodes one element of "inputs". An input with binary_data_size comes back
// without a tensor and with its binaryInput.
func decodeRESTInput(dec *json.Decoder, index int, lim decodeLimits, elements *int) (inferInput, *binaryInput, error) {
	where := fmt.Sprintf("inputs[%d]", index)
	if err := expectDelim(dec, '{', where); err != nil {
		return inferInput{}, nil, err
	}
	var (
		in       inferInput
		datatype string
		dims     []int64
		shape    []int
		dt       tensor.DType
		params   map[string]any
		rawData  json.RawMessage // "data" seen before datatype/shape: decoded at the end
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
	for dec.More() {
		key, err := objectKey(dec, where)
		if err != nil {
			return in, nil, err
		}
		if seen[key] {
			return in, nil, badRequest("%s: field %q given twice", where, key)
		}
		seen[key] = true
		switch key {
		case "name":
			if err := dec.Decode(&in.name); err != nil {
				return in, nil, badRequest("%s: name: %v", where, err)
			}
			where = fmt.Sprintf("input %q", in.name)
		case "datatype":
			if err := dec.Decode(&datatype); err != nil {
				return in, nil, badRequest("%s: datatype: %v", where, err)
			}
		case "shape":
			if err := dec.Decode(&dims); err != nil {
				return in, nil, badRequest("%s: shape: %v", where, err)
			}
			if dims == nil {
				dims = []int64{}
			}
		case "parameters":
			if err := dec.Decode(&params); err != nil {
				return in, nil, badRequest("%s: parameters: %v", where, err)
			}
		case "data":
			haveData = true
			ok, err := ready()
			if err != nil {
				return in, nil, err
			}
			if !ok {
				if err := dec.Decode(&rawData); err != nil {
					return in, nil, badRequest("%s: data: %v", where, err)
				}
				continue
			}
			if in.tensor, err = decodeData(dec, dt, shape, lim); err != nil {
				return in, nil, badRequest("%s: %v", where, err)
			}
		default:
			if err := skipValue(dec); err != nil {
				return in, nil, badRequest("%s: %q: %v", where, key, err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
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
		inner := json.NewDecoder(bytes.NewReader(rawData))
		inner.UseNumber()
		t, err := decodeData(inner, dt, shape, lim)
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
func decodeData(dec *json.Decoder, dt tensor.DType, shape []int, lim decodeLimits) (*tensor.Tensor, error) {
	n := tensor.NumElements(shape)
	// Each JSON element takes at least two bytes ("0,"), so a shape the body cannot fill is
	// refused before anything is allocated for it.
	if int64(n) > lim.bodyBytes/2+1 {
		return nil, fmt.Errorf("shape %v needs %d elements, more than a %d-byte body can hold", shape, n, lim.bodyBytes)
	}
	if err := expectDelim(dec, '[', "data"); err != nil {
		return nil, err
	}
	w := dataWriter{t: tensor.Zeros(dt, shape), n: n, shape: shape, leafDepth: -1}
	if err := w.array(dec, 0); err != nil {
		return nil, err
	}
	if w.i != n {
		return nil, fmt.Errorf("data has %d elements, shape %v needs %d", w.i, shape, n)
	}
	return w.t, nil
}

type dataWriter struct {
	t         *tensor.Tensor
	n, i      int // elements needed, written
	shape     []int
	nested    bool // the top-level array holds arrays
	leafDepth int  // depth of the first scalar seen (-1: none yet)
}

// array reads the entries of an array whose '[' has been consumed, at the given depth.
func (w *dataWriter) array(dec *json.Decoder, depth int) error {
	count := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("data: %v", err)
		}
		if d, isDelim := tok.(json.Delim); isDelim {
			if d != '[' {
				return fmt.Errorf("data: an object where a number or array belongs")
			}
			if depth == 0 {
				w.nested = true
			}
			if !w.nested || depth+1 >= len(w.shape) || (w.leafDepth >= 0 && depth+1 > w.leafDepth) {
				return fmt.Errorf("data: nesting does not follow shape %v", w.shape)
			}
			if err := w.array(dec, depth+1); err != nil {
				return err
			}
			count++
			continue
		}
		if w.leafDepth < 0 {
			w.leafDepth = depth
		}
		if depth != w.leafDepth || (w.nested && depth != len(w.shape)-1) {
			return fmt.Errorf("data: nesting does not follow shape %v", w.shape)
		}
		if w.i >= w.n {
			return fmt.Errorf("data has more than the %d elements shape %v needs", w.n, w.shape)
		}
		if err := setElement(w.t, w.i, tok); err != nil {
			return fmt.Errorf("data[%d]: %v", w.i, err)
		}
		w.i++
		count++
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("data: %v", err)
	}
	if w.nested && count != w.shape[depth] {
		return fmt.Errorf("data: an array at depth %d has %d entries, shape %v needs %d", depth, count, w.shape, w.shape[depth])
	}
	return nil
}

// setElement stores one JSON token as element i of t. Floats also accept "NaN", "Infinity" and
// "-Infinity", the strings the server writes for them.
func setElement(t *tensor.Tensor, i int, tok json.Token) error {
	switch v := tok.(type) {
	case string:
		if d, ok := t.Data.([]string); ok {
			d[i] = v
			return nil
		}
		if f, ok := nonFiniteFloat(v); ok {
			return setFloat(t, i, f)
		}
		return fmt.Errorf("string %q for a %s tensor", v, V2Datatype(t.DType))
	case bool:
		d, ok := t.Data.([]bool)
		if !ok {
			return fmt.Errorf("boolean for a %s tensor", V2Datatype(t.DType))
		}
		d[i] = v
		return nil
	case json.Number:
		return setNumber(t, i, string(v))
	case nil:
		return fmt.Errorf("null for a %s tensor", V2Datatype(t.DType))
	}
	return fmt.Errorf("%v is not a number", tok)
}

func nonFiniteFloat(s string) (float64, bool) {
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
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

func expectDelim(dec *json.Decoder, want json.Delim, where string) error {
	tok, err := dec.Token()
	if err != nil {
		return badRequest("malformed JSON request: %s: %v", where, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return badRequest("malformed JSON request: %s: want %q, got %v", where, want, tok)
	}
	return nil
}

func objectKey(dec *json.Decoder, where string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", badRequest("malformed JSON request: %s: %v", where, err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", badRequest("malformed JSON request: %s: key %v", where, tok)
	}
	return key, nil
}

// skipValue consumes one JSON value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
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
