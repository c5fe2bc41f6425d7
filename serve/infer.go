package serve

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/tensor"
)

// httpError is an error with the HTTP status it should be answered with; gRPC maps the same
// statuses to its codes.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{400, fmt.Sprintf(format, args...)}
}

// inferInput is one decoded request tensor, whatever the transport.
type inferInput struct {
	name   string
	tensor *tensor.Tensor
}

// validateInputs checks the request against the model's declared inputs: every input present
// once, known names, datatypes and shapes (fixed dims equal, symbolic dims consistent).
func (m *Model) validateInputs(inputs []inferInput) (map[string]*tensor.Tensor, error) {
	declared := map[string]runtime.ValueInfo{}
	for _, vi := range m.Inputs {
		declared[vi.Name] = vi
	}
	feed := map[string]*tensor.Tensor{}
	symbols := map[string]int{}
	for _, in := range inputs {
		vi, ok := declared[in.name]
		if !ok {
			return nil, badRequest("unknown input %q for model %q (inputs: %s)", in.name, m.Name, inputNames(m.Inputs))
		}
		if _, dup := feed[in.name]; dup {
			return nil, badRequest("input %q given twice", in.name)
		}
		t := in.tensor
		if t.Len() == 0 {
			// Refused on every transport alike: a model's behaviour on an empty batch is not
			// something a client can rely on, and nothing is lost by not running it.
			return nil, badRequest("input %q: shape %v has no elements; zero-row requests are refused", in.name, t.Shape)
		}
		if t.DType != vi.DType {
			return nil, badRequest("input %q: datatype %s, model expects %s", in.name, V2Datatype(t.DType), V2Datatype(vi.DType))
		}
		if len(vi.Shape) > 0 || t.Rank() == 0 {
			if t.Rank() != len(vi.Shape) {
				return nil, badRequest("input %q: shape %v, model expects %s", in.name, t.Shape, shapeText(vi.Shape))
			}
			for i, d := range vi.Shape {
				switch {
				case d.Value >= 0 && t.Shape[i] != d.Value:
					return nil, badRequest("input %q: shape %v, model expects %s", in.name, t.Shape, shapeText(vi.Shape))
				case d.Param != "":
					if prev, seen := symbols[d.Param]; seen && prev != t.Shape[i] {
						return nil, badRequest("input %q: dimension %q is %d here but %d in another input", in.name, d.Param, t.Shape[i], prev)
					}
					symbols[d.Param] = t.Shape[i]
				}
			}
		}
		feed[in.name] = t
	}
	for _, vi := range m.Inputs {
		if _, ok := feed[vi.Name]; !ok {
			return nil, badRequest("missing input %q (%s%s)", vi.Name, V2Datatype(vi.DType), shapeText(vi.Shape))
		}
	}
	return feed, nil
}

// validateOutputs checks requested output names; empty means all.
func (m *Model) validateOutputs(names []string) ([]string, error) {
	if len(names) == 0 {
		all := make([]string, len(m.Outputs))
		for i, o := range m.Outputs {
			all[i] = o.Name
		}
		return all, nil
	}
	known := map[string]bool{}
	for _, o := range m.Outputs {
		known[o.Name] = true
	}
	for _, n := range names {
		if !known[n] {
			return nil, badRequest("unknown output %q for model %q", n, m.Name)
		}
	}
	return names, nil
}

// infer validates one request, grows its reservation (held; nil: a fresh one) to its run's
// working set and runs it through the model's scheduler.
func (m *Model) infer(ctx context.Context, held *reservation, inputs []inferInput, outputNames []string) (_ map[string]*tensor.Tensor, _ []string, err error) {
	start := time.Now()
	defer func() { m.stats.request(start, m.requestRows(inputs), err) }()
	feed, err := m.validateInputs(inputs)
	if err != nil {
		return nil, nil, err
	}
	if err := m.checkBatchLimit(inputs); err != nil {
		return nil, nil, err
	}
	outs, err := m.validateOutputs(outputNames)
	if err != nil {
		return nil, nil, err
	}
	if held == nil {
		held = &reservation{a: m.admit}
		defer held.release()
	}
	if err := m.reserveRun(held, feed); err != nil {
		return nil, nil, err
	}
	result, err := m.sched.submit(ctx, feed, outs)
	if err != nil {
		return nil, nil, err
	}
	return result, outs, nil
}

func inputNames(vis []runtime.ValueInfo) string {
	names := make([]string, len(vis))
	for i, vi := range vis {
		names[i] = fmt.Sprintf("%q", vi.Name)
	}
	return strings.Join(names, ", ")
}

func shapeText(dims []runtime.Dim) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		switch {
		case d.Param != "":
			parts[i] = d.Param
		case d.Value < 0:
			parts[i] = "?"
		default:
			parts[i] = fmt.Sprint(d.Value)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// metadataShape is a V2 metadata shape: variable dims are -1.
func metadataShape(dims []runtime.Dim) []int64 {
	out := make([]int64, len(dims))
	for i, d := range dims {
		out[i] = int64(d.Value)
		if d.Value < 0 || d.Param != "" {
			out[i] = -1
		}
	}
	return out
}
