package ops

import (
	"fmt"

	"github.com/actswap/actswap/tensor"
)

// Control flow: If, Loop and Scan run subgraphs compiled by the runtime (Node.CompileGraph). A
// body reads values of enclosing graphs through Context.Outer, which the runtime sets up.

func init() {
	Register(DefaultDomain, "If", 1, newIf)
	Register(DefaultDomain, "Loop", 1, newLoop)
	Register(DefaultDomain, "Scan", 8, newScan8)
	Register(DefaultDomain, "Scan", 9, newScan)
}

func compileBody(n *Node, attr string) (Graph, error) {
	g := n.AttrGraph(attr)
	if g == nil {
		return nil, fmt.Errorf("missing graph attribute %s", attr)
	}
	if n.CompileGraph == nil {
		return nil, fmt.Errorf("attribute %s: subgraphs need the runtime's graph compiler", attr)
	}
	body, err := n.CompileGraph(g)
	if err != nil {
		return nil, fmt.Errorf("attribute %s: %w", attr, err)
	}
	return body, nil
}

// flowBool reads a boolean condition held in a one-element tensor.
func flowBool(t *tensor.Tensor, what string) (bool, error) {
	if t == nil {
		return false, fmt.Errorf("%s is missing", what)
	}
	b, ok := t.Data.([]bool)
	if !ok || len(b) != 1 {
		return false, fmt.Errorf("%s must be one bool, got %v", what, t)
	}
	return b[0], nil
}

func newIf(n *Node) (Kernel, error) {
	thenBody, err := compileBody(n, "then_branch")
	if err != nil {
		return nil, err
	}
	elseBody, err := compileBody(n, "else_branch")
	if err != nil {
		return nil, err
	}
	for _, b := range []Graph{thenBody, elseBody} {
		if b.NumOutputs() < n.NumOutputs() {
			return nil, fmt.Errorf("node has %d outputs but a branch produces %d", n.NumOutputs(), b.NumOutputs())
		}
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		cond, err := flowBool(inputs[0], "condition")
		if err != nil {
			return nil, err
		}
		if cond {
			return thenBody.Run(ctx, nil)
		}
		return elseBody.Run(ctx, nil)
	}), nil
}

// newLoop runs body(iteration, condition, carried...) → (condition, carried..., scan outputs...)
// while the trip count and the condition allow; scan outputs are stacked along a new first axis.
func newLoop(n *Node) (Kernel, error) {
	body, err := compileBody(n, "body")
	if err != nil {
		return nil, err
	}
	carried := n.NumInputs() - 2
	if carried < 0 {
		return nil, fmt.Errorf("needs inputs M and cond (either may be empty), has %d inputs", n.NumInputs())
	}
	if body.NumOutputs() < 1+carried {
		return nil, fmt.Errorf("body produces %d outputs, needs at least %d (condition and %d carried values)", body.NumOutputs(), 1+carried, carried)
	}
	scans := body.NumOutputs() - 1 - carried
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		tripCount := int64(-1)
		if inputs[0] != nil {
			m, ok := inputs[0].Data.([]int64)
			if !ok || len(m) != 1 {
				return nil, fmt.Errorf("trip count M must be one int64, got %v", inputs[0])
			}
			tripCount = m[0]
		}
		cond := true
		if inputs[1] != nil {
			if cond, err = flowBool(inputs[1], "condition"); err != nil {
				return nil, err
			}
		}
		state := append([]*tensor.Tensor(nil), inputs[2:]...)
		perScan := make([][]*tensor.Tensor, scans)
		for iter := int64(0); cond && (tripCount < 0 || iter < tripCount); iter++ {
			args := append([]*tensor.Tensor{tensor.Scalar(iter), tensor.Scalar(cond)}, state...)
			outs, err := body.Run(ctx, args)
			if err != nil {
				return nil, fmt.Errorf("iteration %d: %w", iter, err)
			}
			if cond, err = flowBool(outs[0], "body's condition output"); err != nil {
				return nil, fmt.Errorf("iteration %d: %w", iter, err)
			}
			copy(state, outs[1:1+carried])
			for k := range perScan {
				out := outs[1+carried+k]
				if out == nil || out.DType == tensor.Undefined {
					return nil, fmt.Errorf("iteration %d: scan output %d is not a tensor", iter, k)
				}
				perScan[k] = append(perScan[k], out)
			}
		}
		results := append([]*tensor.Tensor(nil), state...)
		for k, parts := range perScan {
			if len(parts) == 0 {
				results = append(results, emptyScanOutput(body, 1+carried+k))
				continue
			}
			stacked, err := flowStack(parts, 0)
			if err != nil {
				return nil, fmt.Errorf("scan output %d: %w", k, err)
			}
			results = append(results, stacked)
		}
		return results, nil
	}), nil
}

// typedGraph is implemented by the runtime's subgraphs: the declared type of an output (shape nil
// when not fully known).
type typedGraph interface {
	OutputType(i int) (tensor.DType, []int)
}

// emptyScanOutput is the scan output of a loop that ran zero times: no rows of the body output's
// declared type (float32 and rank 1 when the body declares nothing).
func emptyScanOutput(body Graph, output int) *tensor.Tensor {
	dt, shape := tensor.Float32, []int(nil)
	if tg, ok := body.(typedGraph); ok {
		if d, s := tg.OutputType(output); d.Supported() {
			dt, shape = d, s
		}
	}
	return tensor.Zeros(dt, append([]int{0}, shape...))
}

// newScan (opset 9+) iterates the body over slices of the scan inputs along their scan axes,
// threading the state values through, and stacks each scan output along its output axis.
func newScan(n *Node) (Kernel, error) {
	body, err := compileBody(n, "body")
	if err != nil {
		return nil, err
	}
	numScanIn := int(n.AttrInt("num_scan_inputs", -1))
	if numScanIn < 1 || numScanIn > n.NumInputs() {
		return nil, fmt.Errorf("num_scan_inputs %d is out of range for %d inputs", numScanIn, n.NumInputs())
	}
	numState := n.NumInputs() - numScanIn
	numScanOut := body.NumOutputs() - numState
	if numScanOut < 0 {
		return nil, fmt.Errorf("body produces %d outputs, fewer than the %d state values", body.NumOutputs(), numState)
	}
	attrList := func(name string, count int) ([]int64, error) {
		v := n.AttrInts(name, nil)
		if v == nil {
			return make([]int64, count), nil
		}
		if len(v) != count {
			return nil, fmt.Errorf("attribute %s has %d entries, want %d", name, len(v), count)
		}
		return v, nil
	}
	inDirs, err := attrList("scan_input_directions", numScanIn)
	if err != nil {
		return nil, err
	}
	inAxes, err := attrList("scan_input_axes", numScanIn)
	if err != nil {
		return nil, err
	}
	outDirs, err := attrList("scan_output_directions", numScanOut)
	if err != nil {
		return nil, err
	}
	outAxes, err := attrList("scan_output_axes", numScanOut)
	if err != nil {
		return nil, err
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		scanIn := inputs[numState:]
		axes := make([]int, numScanIn)
		length := -1
		for i, x := range scanIn {
			if x == nil || x.DType == tensor.Undefined {
				return nil, fmt.Errorf("scan input %d is missing or not a tensor", i)
			}
			axis, err := flowAxis(inAxes[i], x.Rank())
			if err != nil {
				return nil, fmt.Errorf("scan input %d: %w", i, err)
			}
			axes[i] = axis
			if length >= 0 && x.Shape[axis] != length {
				return nil, fmt.Errorf("scan input %d has %d steps along axis %d, input 0 has %d", i, x.Shape[axis], axis, length)
			}
			length = x.Shape[axis]
		}
		state := append([]*tensor.Tensor(nil), inputs[:numState]...)
		perScan := make([][]*tensor.Tensor, numScanOut)
		for step := 0; step < length; step++ {
			args := append([]*tensor.Tensor(nil), state...)
			for i, x := range scanIn {
				idx := step
				if inDirs[i] == 1 {
					idx = length - 1 - step
				}
				args = append(args, flowTake(x, axes[i], idx))
			}
			outs, err := body.Run(ctx, args)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", step, err)
			}
			copy(state, outs[:numState])
			for k := range perScan {
				perScan[k] = append(perScan[k], outs[numState+k])
			}
		}
		results := state
		for k, parts := range perScan {
			if len(parts) == 0 {
				empty := emptyScanOutput(body, numState+k)
				axis, err := flowAxis(outAxes[k], empty.Rank())
				if err != nil {
					return nil, fmt.Errorf("scan output %d: %w", k, err)
				}
				// emptyScanOutput puts the zero-length axis first; Scan wants it at axis.
				empty.Shape = append(append(append([]int{}, empty.Shape[1:axis+1]...), 0), empty.Shape[axis+1:]...)
				results = append(results, empty)
				continue
			}
			if outDirs[k] == 1 {
				for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
					parts[i], parts[j] = parts[j], parts[i]
				}
			}
			axis, err := flowAxis(outAxes[k], parts[0].Rank()+1)
			if err != nil {
				return nil, fmt.Errorf("scan output %d: %w", k, err)
			}
			stacked, err := flowStack(parts, axis)
			if err != nil {
				return nil, fmt.Errorf("scan output %d: %w", k, err)
			}
			results = append(results, stacked)
		}
		return results, nil
	}), nil
}

// flowAxis normalizes a possibly negative axis for a tensor of the given rank.
func flowAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// flowSlice copies [start, start+count) along axis; the axis stays, with size count.
func flowSlice(t *tensor.Tensor, axis, start, count int) *tensor.Tensor {
	shape := append([]int(nil), t.Shape...)
	shape[axis] = count
	out := tensor.Zeros(t.DType, shape)
	outer := tensor.NumElements(t.Shape[:axis])
	inner := tensor.NumElements(t.Shape[axis+1:])
	dim := t.Shape[axis]
	for o := 0; o < outer; o++ {
		flowCopy(out.Data, o*count*inner, t.Data, (o*dim+start)*inner, count*inner)
	}
	return out
}

// flowTake returns the slice at index idx along axis, with that axis removed.
func flowTake(t *tensor.Tensor, axis, idx int) *tensor.Tensor {
	s := flowSlice(t, axis, idx, 1)
	s.Shape = append(s.Shape[:axis:axis], s.Shape[axis+1:]...)
	return s
}

// flowConcat joins tensors of one dtype along an existing axis; other dimensions must match.
func flowConcat(parts []*tensor.Tensor, axis int) (*tensor.Tensor, error) {
	first := parts[0]
	shape := append([]int(nil), first.Shape...)
	shape[axis] = 0
	for i, p := range parts {
		if p.DType != first.DType || p.Rank() != first.Rank() {
			return nil, fmt.Errorf("element %d is %v, element 0 is %v", i, p, first)
		}
		for d := range shape {
			if d != axis && p.Shape[d] != first.Shape[d] {
				return nil, fmt.Errorf("element %d has shape %v, element 0 has %v (they may differ only along axis %d)", i, p.Shape, first.Shape, axis)
			}
		}
		shape[axis] += p.Shape[axis]
	}
	out := tensor.Zeros(first.DType, shape)
	outer := tensor.NumElements(shape[:axis])
	inner := tensor.NumElements(shape[axis+1:])
	offset := 0
	for _, p := range parts {
		n := p.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			flowCopy(out.Data, o*shape[axis]*inner+offset, p.Data, o*n, n)
		}
		offset += n
	}
	return out, nil
}

// flowStack joins same-shaped tensors along a new axis inserted at position axis.
func flowStack(parts []*tensor.Tensor, axis int) (*tensor.Tensor, error) {
	if axis < 0 || axis > parts[0].Rank() {
		return nil, fmt.Errorf("axis %d is out of range for stacking rank-%d tensors", axis, parts[0].Rank())
	}
	expanded := make([]*tensor.Tensor, len(parts))
	for i, p := range parts {
		if !tensor.SameShape(p.Shape, parts[0].Shape) {
			return nil, fmt.Errorf("element %d has shape %v, element 0 has %v", i, p.Shape, parts[0].Shape)
		}
		shape := append(append(append([]int(nil), p.Shape[:axis]...), 1), p.Shape[axis:]...)
		expanded[i] = &tensor.Tensor{DType: p.DType, Shape: shape, Data: p.Data}
	}
	return flowConcat(expanded, axis)
}

// flowCopy copies n elements between two data slices of the same Go type.
func flowCopy(dst any, dstOff int, src any, srcOff, n int) {
	switch d := dst.(type) {
	case []float32:
		copy(d[dstOff:dstOff+n], src.([]float32)[srcOff:srcOff+n])
	case []float64:
		copy(d[dstOff:dstOff+n], src.([]float64)[srcOff:srcOff+n])
	case []tensor.Float16Bits:
		copy(d[dstOff:dstOff+n], src.([]tensor.Float16Bits)[srcOff:srcOff+n])
	case []tensor.BFloat16Bits:
		copy(d[dstOff:dstOff+n], src.([]tensor.BFloat16Bits)[srcOff:srcOff+n])
	case []int8:
		copy(d[dstOff:dstOff+n], src.([]int8)[srcOff:srcOff+n])
	case []int16:
		copy(d[dstOff:dstOff+n], src.([]int16)[srcOff:srcOff+n])
	case []int32:
		copy(d[dstOff:dstOff+n], src.([]int32)[srcOff:srcOff+n])
	case []int64:
		copy(d[dstOff:dstOff+n], src.([]int64)[srcOff:srcOff+n])
	case []uint8:
		copy(d[dstOff:dstOff+n], src.([]uint8)[srcOff:srcOff+n])
	case []uint16:
		copy(d[dstOff:dstOff+n], src.([]uint16)[srcOff:srcOff+n])
	case []uint32:
		copy(d[dstOff:dstOff+n], src.([]uint32)[srcOff:srcOff+n])
	case []uint64:
		copy(d[dstOff:dstOff+n], src.([]uint64)[srcOff:srcOff+n])
	case []bool:
		copy(d[dstOff:dstOff+n], src.([]bool)[srcOff:srcOff+n])
	case []string:
		copy(d[dstOff:dstOff+n], src.([]string)[srcOff:srcOff+n])
	default:
		panic(fmt.Sprintf("flowCopy: unsupported data %T", dst))
	}
}

// newScan8 is opset 8's Scan: every state and scan input has a leading batch axis, scan inputs
// iterate along axis 1, and the optional first input sequence_lens gives each batch entry's length
// (scan outputs are zero past it).
func newScan8(n *Node) (Kernel, error) {
	body, err := compileBody(n, "body")
	if err != nil {
		return nil, err
	}
	numScanIn := int(n.AttrInt("num_scan_inputs", -1))
	if numScanIn < 1 || numScanIn > n.NumInputs()-1 {
		return nil, fmt.Errorf("num_scan_inputs %d is out of range for %d inputs", numScanIn, n.NumInputs())
	}
	numState := n.NumInputs() - 1 - numScanIn
	numScanOut := body.NumOutputs() - numState
	if numScanOut < 0 {
		return nil, fmt.Errorf("body produces %d outputs, fewer than the %d state values", body.NumOutputs(), numState)
	}
	dirs := n.AttrInts("directions", make([]int64, numScanIn))
	if len(dirs) != numScanIn {
		return nil, fmt.Errorf("attribute directions has %d entries, want %d", len(dirs), numScanIn)
	}
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		values := inputs[1:]
		batch, steps := -1, -1
		for i, x := range values {
			if x == nil || x.DType == tensor.Undefined || x.Rank() < 1 || (i >= numState && x.Rank() < 2) {
				return nil, fmt.Errorf("input %d must be a tensor with a batch axis (and a sequence axis for scan inputs)", i+1)
			}
			if batch >= 0 && x.Shape[0] != batch {
				return nil, fmt.Errorf("input %d has batch %d, others %d", i+1, x.Shape[0], batch)
			}
			batch = x.Shape[0]
			if i >= numState {
				if steps >= 0 && x.Shape[1] != steps {
					return nil, fmt.Errorf("scan input %d has %d steps, others %d", i-numState, x.Shape[1], steps)
				}
				steps = x.Shape[1]
			}
		}
		if batch <= 0 {
			return nil, fmt.Errorf("empty batch: the output shapes are unknown")
		}
		lengths := make([]int, batch)
		for b := range lengths {
			lengths[b] = steps
		}
		if inputs[0] != nil {
			var lens []int64
			switch d := inputs[0].Data.(type) {
			case []int32:
				for _, v := range d {
					lens = append(lens, int64(v))
				}
			case []int64:
				lens = d
			default:
				return nil, fmt.Errorf("sequence_lens must be int32 or int64, got %v", inputs[0])
			}
			if len(lens) != batch {
				return nil, fmt.Errorf("sequence_lens has %d entries for batch %d", len(lens), batch)
			}
			for b, l := range lens {
				if l < 0 || l > int64(steps) {
					return nil, fmt.Errorf("sequence_lens[%d] = %d is out of range [0, %d]", b, l, steps)
				}
				lengths[b] = int(l)
			}
		}
		finalStates := make([][]*tensor.Tensor, numState)
		scanOuts := make([][]*tensor.Tensor, numScanOut)
		for b := 0; b < batch; b++ {
			state := make([]*tensor.Tensor, numState)
			for i := range state {
				state[i] = flowTake(values[i], 0, b)
			}
			scanIn := make([]*tensor.Tensor, numScanIn)
			for i := range scanIn {
				scanIn[i] = flowTake(values[numState+i], 0, b)
			}
			perScan := make([][]*tensor.Tensor, numScanOut)
			for step := 0; step < lengths[b]; step++ {
				args := append([]*tensor.Tensor(nil), state...)
				for i, x := range scanIn {
					idx := step
					if dirs[i] == 1 {
						idx = lengths[b] - 1 - step
					}
					args = append(args, flowTake(x, 0, idx))
				}
				outs, err := body.Run(ctx, args)
				if err != nil {
					return nil, fmt.Errorf("batch %d step %d: %w", b, step, err)
				}
				copy(state, outs[:numState])
				for k := range perScan {
					perScan[k] = append(perScan[k], outs[numState+k])
				}
			}
			for i := range state {
				finalStates[i] = append(finalStates[i], state[i])
			}
			for k, parts := range perScan {
				if len(parts) == 0 {
					return nil, fmt.Errorf("batch %d has no steps, so scan output %d's shape is unknown", b, k)
				}
				for len(parts) < steps {
					parts = append(parts, tensor.Zeros(parts[0].DType, parts[0].Shape))
				}
				stacked, err := flowStack(parts, 0)
				if err != nil {
					return nil, fmt.Errorf("scan output %d: %w", k, err)
				}
				scanOuts[k] = append(scanOuts[k], stacked)
			}
		}
		var results []*tensor.Tensor
		for _, group := range append(finalStates, scanOuts...) {
			stacked, err := flowStack(group, 0)
			if err != nil {
				return nil, err
			}
			results = append(results, stacked)
		}
		return results, nil
	}), nil
}
