package ops

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/actswap/actswap/tensor"
)

// The string ops of the default domain: StringConcat, StringSplit, StringNormalizer and
// RegexFullMatch (opset 10 and 20). Patterns are RE2, Go's regexp syntax, as ONNX specifies.

func init() {
	Register(DefaultDomain, "StringConcat", 20, newStringConcat)
	Register(DefaultDomain, "StringSplit", 20, newStringSplit)
	Register(DefaultDomain, "StringNormalizer", 10, newStringNormalizer)
	Register(DefaultDomain, "RegexFullMatch", 20, newRegexFullMatch)
}

func stringInput(in []*tensor.Tensor, i int, op string) ([]string, error) {
	if err := needInputs(in, i+1); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	s, ok := in[i].Data.([]string)
	if !ok {
		return nil, fmt.Errorf("%s: input %d is %v, want string", op, i, in[i].DType)
	}
	return s, nil
}

func newStringConcat(*Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		a, err := stringInput(in, 0, "StringConcat")
		if err != nil {
			return nil, err
		}
		b, err := stringInput(in, 1, "StringConcat")
		if err != nil {
			return nil, err
		}
		p, err := newBroadcastPlan(in[0].Shape, in[1].Shape)
		if err != nil {
			return nil, fmt.Errorf("StringConcat: %w", err)
		}
		out := ctx.Alloc(tensor.String, p.Out)
		y := out.Data.([]string)
		sa, sb := p.InnerStride[0], p.InnerStride[1]
		p.ForRows2(0, p.Rows(), func(o, ia, ib int) {
			for j := 0; j < p.Inner; j++ {
				y[o+j] = a[ia+j*sa] + b[ib+j*sb]
			}
		})
		return ctx.Result(out), nil
	}), nil
}

// StringSplit splits each string on delimiter (runs of whitespace when it is empty or absent,
// like Python's str.split()), at most maxsplit times; the substrings are padded with "" to the
// longest count, which the second output gives per string.
func newStringSplit(n *Node) (Kernel, error) {
	delim := n.AttrString("delimiter", "")
	maxSplit := int(n.AttrInt("maxsplit", -1))
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := stringInput(in, 0, "StringSplit")
		if err != nil {
			return nil, err
		}
		parts := make([][]string, len(x))
		width := 0
		for i, s := range x {
			parts[i] = splitString(s, delim, maxSplit)
			width = max(width, len(parts[i]))
		}
		shape := append(append([]int(nil), in[0].Shape...), width)
		y := ctx.Alloc(tensor.String, shape)
		z := ctx.Alloc(tensor.Int64, in[0].Shape)
		ys, zs := y.Data.([]string), z.I64()
		for i, p := range parts {
			copy(ys[i*width:], p)
			zs[i] = int64(len(p))
		}
		out := ctx.Results(2)
		out[0], out[1] = y, z
		return out, nil
	}), nil
}

func splitString(s, delim string, maxSplit int) []string {
	if delim != "" {
		return strings.SplitN(s, delim, maxSplitN(maxSplit))
	}
	// Whitespace: runs count as one separator and leading/trailing runs yield nothing.
	var parts []string
	rest := strings.TrimLeftFunc(s, unicode.IsSpace)
	for rest != "" {
		if maxSplit >= 0 && len(parts) == maxSplit {
			parts = append(parts, rest)
			break
		}
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			parts = append(parts, rest)
			break
		}
		parts = append(parts, rest[:end])
		rest = strings.TrimLeftFunc(rest[end:], unicode.IsSpace)
	}
	return parts
}

// maxSplitN turns a split count (negative: no limit) into strings.SplitN's piece count.
func maxSplitN(maxSplit int) int {
	if maxSplit < 0 {
		return -1
	}
	return maxSplit + 1
}

// StringNormalizer drops stopwords (compared case-insensitively unless is_case_sensitive) and
// changes case. Input [C] or [1, C]; when every string is dropped the output is one empty string.
func newStringNormalizer(n *Node) (Kernel, error) {
	action := n.AttrString("case_change_action", "NONE")
	caseSensitive := n.AttrInt("is_case_sensitive", 0) != 0
	var change func(string) string
	switch action {
	case "NONE":
		change = func(s string) string { return s }
	case "LOWER":
		change = strings.ToLower
	case "UPPER":
		change = strings.ToUpper
	default:
		return nil, fmt.Errorf("StringNormalizer: case_change_action %q is not NONE, LOWER or UPPER", action)
	}
	stop := map[string]bool{}
	for _, w := range n.AttrStrings("stopwords", nil) {
		if !caseSensitive {
			w = strings.ToLower(w)
		}
		stop[w] = true
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := stringInput(in, 0, "StringNormalizer")
		if err != nil {
			return nil, err
		}
		shape := in[0].Shape
		if !(len(shape) == 1 || len(shape) == 2 && shape[0] == 1) {
			return nil, fmt.Errorf("StringNormalizer: input shape %v is not [C] or [1, C]", shape)
		}
		var kept []string
		for _, s := range x {
			key := s
			if !caseSensitive {
				key = strings.ToLower(s)
			}
			if !stop[key] {
				kept = append(kept, change(s))
			}
		}
		if len(kept) == 0 {
			kept = []string{""}
		}
		outShape := []int{len(kept)}
		if len(shape) == 2 {
			outShape = []int{1, len(kept)}
		}
		out := ctx.Alloc(tensor.String, outShape)
		copy(out.Data.([]string), kept)
		return ctx.Result(out), nil
	}), nil
}

func newRegexFullMatch(n *Node) (Kernel, error) {
	pattern := n.AttrString("pattern", "")
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("RegexFullMatch: pattern %q: %w", pattern, err)
	}
	return KernelFunc(func(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := stringInput(in, 0, "RegexFullMatch")
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(tensor.Bool, in[0].Shape)
		y := out.Data.([]bool)
		for i, s := range x {
			y[i] = re.MatchString(s)
		}
		return ctx.Result(out), nil
	}), nil
}
