package ops

import "github.com/actswap/actswap/tensor"

// OverwriteAllocator is an Allocator that can hand out a recycled buffer without clearing it.
type OverwriteAllocator interface {
	AllocOverwrite(dt tensor.DType, shape []int) *tensor.Tensor
}

// AllocOverwrite is Alloc for an output the kernel writes in full (a GEMM with beta = 0, an
// elementwise map): the buffer may hold stale values from an earlier use, which saves clearing
// it. Kernels that accumulate into their output or leave parts unwritten must use Alloc.
func (c *Context) AllocOverwrite(dt tensor.DType, shape []int) *tensor.Tensor {
	if c != nil {
		if a, ok := c.Allocator.(OverwriteAllocator); ok {
			return a.AllocOverwrite(dt, shape)
		}
	}
	return c.Alloc(dt, shape)
}
