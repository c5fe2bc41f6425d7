package ops

import (
	"math"
	"testing"

	"github.com/actswap/actswap/tensor"
)

// Benchmarks report GB/s of tensor data touched (inputs read + output written), the figure that
// bounds elementwise and reduction kernels.

func benchInput(shape []int) *tensor.Tensor {
	t := tensor.Zeros(tensor.Float32, shape)
	for i := range t.F32() {
		t.F32()[i] = float32(i%97)/48 - 1
	}
	return t
}

func benchKernel(b *testing.B, op string, version int, attrs kattr, bytes int, in ...*tensor.Tensor) {
	f, _ := Lookup(DefaultDomain, op, version)
	k, err := f(kernelNode(op, version, attrs, len(in), 1))
	if err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := k.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkAddSameShape(b *testing.B) {
	x, y := benchInput([]int{64, 4096}), benchInput([]int{64, 4096})
	benchKernel(b, "Add", 14, nil, 3*4*x.Len(), x, y)
}

func BenchmarkAddBias(b *testing.B) {
	x, y := benchInput([]int{64, 4096}), benchInput([]int{4096})
	benchKernel(b, "Add", 14, nil, 2*4*x.Len(), x, y)
}

func BenchmarkRelu(b *testing.B) {
	x := benchInput([]int{64, 4096})
	benchKernel(b, "Relu", 14, nil, 2*4*x.Len(), x)
}

func BenchmarkGelu(b *testing.B) {
	x := benchInput([]int{64, 4096})
	benchKernel(b, "Gelu", 20, nil, 2*4*x.Len(), x)
}

func BenchmarkSigmoid(b *testing.B) {
	x := benchInput([]int{64, 4096})
	benchKernel(b, "Sigmoid", 13, nil, 2*4*x.Len(), x)
}

func BenchmarkSoftmax(b *testing.B) {
	x := benchInput([]int{256, 1024})
	benchKernel(b, "Softmax", 13, nil, 2*4*x.Len(), x)
}

func BenchmarkReduceMeanLastAxis(b *testing.B) {
	x := benchInput([]int{256, 1024})
	benchKernel(b, "ReduceMean", 13, kattr{"axes": []int64{-1}}, 4*x.Len(), x)
}

func BenchmarkLayerNorm(b *testing.B) {
	x := benchInput([]int{256, 1024})
	benchKernel(b, "LayerNormalization", 17, nil, 2*4*x.Len(), x, benchInput([]int{1024}), benchInput([]int{1024}))
}

// BenchmarkWhereCausalMask is a GPT-2-style causal mask: Where(triu mask [T,T], −∞, scores
// [1,H,T,T]) with T = 128, H = 4.
func BenchmarkWhereCausalMask(b *testing.B) {
	const h, n = 4, 128
	mask := make([]bool, n*n)
	for i := range n {
		for j := i + 1; j < n; j++ {
			mask[i*n+j] = true
		}
	}
	inf := tensor.New([]int{}, []float32{float32(math.Inf(-1))})
	benchKernel(b, "Where", 16, nil, 9*h*n*n, tensor.New([]int{n, n}, mask), inf, benchInput([]int{1, h, n, n}))
}
