package vecmath

import "testing"

// TestKernelsKeepCallersBuffersOnTheStack calls every kernel on arrays local to the test
// function: none may allocate. A kernel whose slice arguments escape (an assembly stub without
// the noescape directive, a call through a function value) moves such arrays to the heap on every call —
// the SiLU epilogue's σ(x) chunk cost an allocation per GEMM row that way.
func TestKernelsKeepCallersBuffersOnTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count only")
	}
	allocs := testing.AllocsPerRun(10, func() {
		var x, y, d [100]float32
		for i := range x {
			x[i], y[i] = float32(i)*0.01-0.5, 1+float32(i)
		}
		for op := OpAdd; op <= OpDiv; op++ {
			Arith(op, d[:], x[:], y[:])
			ArithScalar(op, d[:], x[:], 2)
			ScalarArith(op, d[:], 2, y[:])
		}
		MaxInto(d[:], x[:])
		_ = MaxPool2x2(d[:25], x[:], 10)
		_ = MaxPool2x2(d[:24], x[:], 8)
		Relu(d[:], x[:])
		Clamp(d[:], x[:], -0.1, 0.1)
		_, _ = MeanVar(x[:])
		_ = Sum(x[:])
		Normalize(d[:], x[:], 0, 1, y[:], y[:])
		// Called by name: a call through a function value would itself make the arrays escape.
		Exp(d[:], x[:])
		Sigmoid(d[:], x[:])
		SiLU(d[:], x[:])
		Tanh(d[:], x[:])
		Erf(d[:], x[:])
		GELU(d[:], x[:])
		GELUTanh(d[:], x[:])
		HardSwish(d[:], x[:])
		_ = Max(x[:])
		_ = ExpSumShiftedTo(d[:], x[:], 1)
		Scale(d[:], 0.5)
	})
	if allocs != 0 {
		t.Errorf("the kernels allocated %.0f times per call set; some argument escapes (go build -gcflags=-m ./internal/vecmath)", allocs)
	}
}
