package serve

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonScanner reads one JSON document byte by byte from a stream, so a V2 request's "data"
// arrays go into typed tensors without the document (or a token per number) ever being held:
// encoding/json's Decoder.Token boxes every number and ran at ~7 MB/s here. The small values
// around the data (names, shapes, parameters) are cut out whole with rawValue and handed to
// encoding/json, which also validates them.
type jsonScanner struct {
	r       *bufio.Reader
	scratch []byte // the current number's text
}

func newJSONScanner(r io.Reader) *jsonScanner {
	return &jsonScanner{r: bufio.NewReaderSize(r, 64<<10)}
}

// errUnexpectedEnd is a body that ends inside the document.
var errUnexpectedEnd = errors.New("unexpected end of JSON input")

func (s *jsonScanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == io.EOF {
		return 0, errUnexpectedEnd
	}
	return c, err
}

// peek skips whitespace and returns the next byte without consuming it.
func (s *jsonScanner) peek() (byte, error) {
	for {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, s.r.UnreadByte()
	}
}

// next skips whitespace and consumes the next byte.
func (s *jsonScanner) next() (byte, error) {
	if _, err := s.peek(); err != nil {
		return 0, err
	}
	return s.readByte()
}

func (s *jsonScanner) expect(want byte) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("want %q, found %q", want, c)
	}
	return nil
}

// end checks that only whitespace follows the document.
func (s *jsonScanner) end() error {
	c, err := s.peek()
	if err == errUnexpectedEnd {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%q after the request object", c)
}

// object reads an object, calling field with each key while the scanner is at its value.
func (s *jsonScanner) object(field func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if c, err := s.peek(); err != nil {
		return err
	} else if c == '}' {
		_, _ = s.readByte()
		return nil
	}
	for {
		key, err := s.stringValue()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
		if c != ',' {
			return fmt.Errorf("want ',' or '}' after %q, found %q", key, c)
		}
	}
}

// array reads the entries of an array whose '[' has been consumed, calling entry for each while
// the scanner is at it.
func (s *jsonScanner) array(entry func() error) error {
	if c, err := s.peek(); err != nil {
		return err
	} else if c == ']' {
		_, _ = s.readByte()
		return nil
	}
	for {
		if err := entry(); err != nil {
			return err
		}
		c, err := s.next()
		if err != nil {
			return err
		}
		if c == ']' {
			return nil
		}
		if c != ',' {
			return fmt.Errorf("want ',' or ']' in an array, found %q", c)
		}
	}
}

// stringValue reads a JSON string.
func (s *jsonScanner) stringValue() (string, error) {
	raw, err := s.rawValue()
	if err != nil {
		return "", err
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("want a string, found %.20s", raw)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return v, nil
}

// rawValue returns the text of the next value, whatever it is.
func (s *jsonScanner) rawValue() ([]byte, error) {
	var out []byte
	err := s.value(func(c byte) { out = append(out, c) })
	return out, err
}

// skipValue consumes the next value, checking that it is valid JSON but keeping nothing of it.
func (s *jsonScanner) skipValue() error {
	raw, err := s.rawValue()
	if err != nil {
		return err
	}
	if !json.Valid(raw) {
		return fmt.Errorf("invalid JSON value %.40q", raw)
	}
	return nil
}

// value passes the next value's bytes to keep: strings with their escapes, nested containers,
// or a literal up to the next delimiter. Its grammar is checked by whoever decodes the bytes.
func (s *jsonScanner) value(keep func(byte)) error {
	if _, err := s.peek(); err != nil {
		return err
	}
	depth, kept := 0, 0
	counted := func(c byte) {
		kept++
		keep(c)
	}
	for {
		c, err := s.readByte()
		if err != nil {
			return err
		}
		switch c {
		case '"':
			counted(c)
			if err := s.stringRest(counted); err != nil {
				return err
			}
		case '{', '[':
			counted(c)
			depth++
		case '}', ']':
			if depth == 0 {
				return s.endValue(kept)
			}
			counted(c)
			depth--
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return s.endValue(kept)
			}
			counted(c)
		default:
			counted(c)
		}
		if depth == 0 {
			if c == '"' || c == '}' || c == ']' {
				return nil
			}
			// A literal (number, true, false, null) ends at the next delimiter.
			if n, err := s.r.Peek(1); err != nil || isDelimiter(n[0]) {
				return nil
			}
		}
	}
}

// endValue puts back the delimiter that ended a value and refuses an empty one.
func (s *jsonScanner) endValue(kept int) error {
	if err := s.r.UnreadByte(); err != nil {
		return err
	}
	if kept == 0 {
		return errors.New("a value is missing")
	}
	return nil
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ':', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// stringRest passes the rest of a string whose opening quote was read, through its closing one.
func (s *jsonScanner) stringRest(keep func(byte)) error {
	for {
		c, err := s.readByte()
		if err != nil {
			return err
		}
		keep(c)
		switch c {
		case '\\':
			c, err = s.readByte()
			if err != nil {
				return err
			}
			keep(c)
		case '"':
			return nil
		}
	}
}

// literal reads a number or true/false/null into scratch; the slice is valid until the next
// call.
func (s *jsonScanner) literal() ([]byte, error) {
	s.scratch = s.scratch[:0]
	if _, err := s.peek(); err != nil {
		return nil, err
	}
	for {
		n, err := s.r.Peek(1)
		if err != nil || isDelimiter(n[0]) {
			break
		}
		if len(s.scratch) > 64 {
			return nil, fmt.Errorf("a value longer than 64 bytes: %.20s…", s.scratch)
		}
		s.scratch = append(s.scratch, n[0])
		_, _ = s.r.ReadByte()
	}
	if len(s.scratch) == 0 {
		return nil, errUnexpectedEnd
	}
	return s.scratch, nil
}
