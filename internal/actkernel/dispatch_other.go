//go:build !amd64 || noasm

package actkernel

import "github.com/actswap/actswap/internal/simd"

func crreluF32(_ simd.Level, dst, src []float32, eps float32, _ bool) { crreluGo(dst, src, eps) }

func pwluF32(_ simd.Level, dst, src []float32, c *pwluChannel, _ bool) { pwluGo(dst, src, c) }

func zorroF32(_ simd.Level, dst, src []float32, c *zorroChannel, _ bool) { zorroGo(dst, src, c) }

func (t *crreluTable) applyRow(dst, src []float32, ch0 int) { evalRow(t, dst, src, ch0) }

func (t *pwluTable) applyRow(dst, src []float32, ch0 int) { evalRow(t, dst, src, ch0) }

func (t *zorroTable) applyRow(dst, src []float32, ch0 int) { evalRow(t, dst, src, ch0) }

func evalRow(t table, dst, src []float32, ch0 int) {
	for i, x := range src {
		dst[i] = t.eval(x, ch0+i)
	}
}

// Accelerated reports whether the float32 kernels run the generated assembly.
func Accelerated() bool { return false }
