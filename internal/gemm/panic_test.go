package gemm

import (
	"strings"
	"testing"
)

// A panic in a worker goroutine reaches the caller (where the runtime reports it as a node
// error) instead of ending the process.
func TestWorkerPanicReachesCaller(t *testing.T) {
	t.Parallel()
	const m, n, k = 96, 256, 64
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	ep := &Epilogue{Elementwise: func(dst []float32) { panic("boom") }}
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(p.(string), "boom") {
			t.Fatalf("recovered %v, want the worker's panic", p)
		}
	}()
	_ = SgemmFused(false, false, m, n, k, 1, a, k, b, n, 0, c, n, 2, ep)
	t.Fatal("no panic")
}
