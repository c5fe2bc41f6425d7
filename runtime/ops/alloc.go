package ops

import (
	"slices"
	"sync/atomic"

	"github.com/actswap/actswap/tensor"
)

// Output allocation. Kernels get their outputs (and view headers) from the context, so that the
// runtime can hand out recycled tensors and keep a run free of allocations.

// Allocator hands out zeroed tensors for kernel outputs. The shape it is given is only valid
// during the call: implementations copy it. The runtime's allocator keeps the shapes it hands
// out in storage that its next run reuses, so a kernel that remembers a shape across runs (a
// geometry cache) must keep a copy, never a tensor's Shape slice: shapeMemo (memo.go) does.
type Allocator interface {
	Alloc(dt tensor.DType, shape []int) *tensor.Tensor
}

// OverwriteAllocator is an Allocator that can hand out a recycled buffer without clearing it.
type OverwriteAllocator interface {
	AllocOverwrite(dt tensor.DType, shape []int) *tensor.Tensor
}

// ViewAllocator is an Allocator that also hands out headers for views: tensors that share
// another tensor's elements under a new shape. Its headers may be reused by a later run, so the
// runtime copies one before giving it to the caller as a graph output.
type ViewAllocator interface {
	View(dt tensor.DType, shape []int, data any) *tensor.Tensor
}

// Alloc returns a zeroed tensor for a kernel output. Kernels call it instead of tensor.Zeros so
// that buffer reuse happens in one place.
func (c *Context) Alloc(dt tensor.DType, shape []int) *tensor.Tensor {
	if c == nil || c.Allocator == nil {
		return tensor.Zeros(dt, shape)
	}
	dims, held := c.holdDims(shape)
	t := c.Allocator.Alloc(dt, dims)
	c.releaseDims(held)
	return t
}

// AllocOverwrite is Alloc for an output the kernel writes in full (a GEMM with beta = 0, an
// elementwise map): the buffer may hold stale values from an earlier use, which saves clearing
// it. Kernels that accumulate into their output or leave parts unwritten must use Alloc.
func (c *Context) AllocOverwrite(dt tensor.DType, shape []int) *tensor.Tensor {
	if c == nil {
		return tensor.Zeros(dt, shape)
	}
	a, ok := c.Allocator.(OverwriteAllocator)
	if !ok {
		return c.Alloc(dt, shape)
	}
	dims, held := c.holdDims(shape)
	t := a.AllocOverwrite(dt, dims)
	c.releaseDims(held)
	return t
}

// View returns a tensor of shape whose elements are data (not copied): the runtime's header
// when the context has a ViewAllocator, a new one otherwise.
func (c *Context) View(dt tensor.DType, shape []int, data any) *tensor.Tensor {
	if c != nil {
		if a, ok := c.Allocator.(ViewAllocator); ok {
			dims, held := c.holdDims(shape)
			t := a.View(dt, dims, data)
			c.releaseDims(held)
			return t
		}
	}
	return &tensor.Tensor{DType: dt, Shape: slices.Clone(shape), Data: data}
}

// holdDims returns shape copied into the context's scratch, or into a new slice when the
// scratch is taken (a kernel allocating from parallel workers) or too small. A slice handed to
// an interface method escapes, so without the scratch every kernel's stack-built output shape
// would cost a heap allocation per call.
func (c *Context) holdDims(shape []int) (dims []int, held bool) {
	if len(shape) <= len(c.dims) && atomic.CompareAndSwapInt32(&c.dimsBusy, 0, 1) {
		n := copy(c.dims[:], shape)
		return c.dims[:n:n], true
	}
	return slices.Clone(shape), false
}

func (c *Context) releaseDims(held bool) {
	if held {
		atomic.StoreInt32(&c.dimsBusy, 0)
	}
}
