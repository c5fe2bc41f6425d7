package runtime

import (
	"fmt"

	"github.com/actswap/actswap/runtime/ops"
	"github.com/actswap/actswap/tensor"
)

// compareValues checks got against want with ONNX's |got−want| ≤ atol + rtol·|want| (NaN equals
// NaN), recursing into sequences, comparing maps' keys exactly and values so; it returns "" when they agree, else what differs.
func compareValues(got, want *tensor.Tensor, rtol, atol float64) string {
	if got == nil {
		return "not produced"
	}
	if ops.IsEmptyOptional(want) || ops.IsEmptyOptional(got) {
		if ops.IsEmptyOptional(want) != ops.IsEmptyOptional(got) {
			return fmt.Sprintf("got %s, want %s", describe(got), describe(want))
		}
		return ""
	}
	if ws, ok := ops.AsSequence(want); ok {
		gs, ok := ops.AsSequence(got)
		if !ok || len(gs) != len(ws) {
			return fmt.Sprintf("got %s, want %s", describe(got), describe(want))
		}
		for i := range ws {
			if msg := compareValues(gs[i], ws[i], rtol, atol); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
		return ""
	}
	if wm, ok := ops.AsMap(want); ok {
		gm, ok := ops.AsMap(got)
		if !ok {
			return fmt.Sprintf("got %s, want %s", describe(got), describe(want))
		}
		if err := tensor.AllClose(gm.Keys, wm.Keys, 0, 0); err != nil {
			return "keys: " + err.Error()
		}
		if err := tensor.AllClose(gm.Values, wm.Values, rtol, atol); err != nil {
			return "values: " + err.Error()
		}
		return ""
	}
	if err := tensor.AllClose(got, want, rtol, atol); err != nil {
		return err.Error()
	}
	return ""
}
