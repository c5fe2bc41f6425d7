package ops

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Det computes the determinant of each trailing square matrix by LU decomposition with partial
// pivoting in float64.

func init() {
	Register(DefaultDomain, "Det", 11, func(n *Node) (Kernel, error) {
		return KernelFunc(runDet), nil
	})
}

func runDet(ctx *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if err := requireFloat(x, "X"); err != nil {
		return nil, err
	}
	r := x.Rank()
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return nil, fmt.Errorf("X must end in a square matrix, got shape %v", x.Shape)
	}
	m := x.Shape[r-1]
	batch := x.Shape[:r-2]
	vals := toFloat64s(x)
	dets := make([]float64, tensor.NumElements(batch))
	a := make([]float64, m*m)
	for b := range dets {
		copy(a, vals[b*m*m:(b+1)*m*m])
		dets[b] = luDeterminant(a, m)
	}
	out, err := floatOut(ctx, x.DType, batch, dets)
	return []*tensor.Tensor{out}, err
}

// luDeterminant destroys a (m×m, row-major) and returns its determinant.
func luDeterminant(a []float64, m int) float64 {
	det := 1.0
	for col := 0; col < m; col++ {
		pivot := col
		for r := col + 1; r < m; r++ {
			if math.Abs(a[r*m+col]) > math.Abs(a[pivot*m+col]) {
				pivot = r
			}
		}
		if a[pivot*m+col] == 0 {
			return 0
		}
		if pivot != col {
			for k := 0; k < m; k++ {
				a[col*m+k], a[pivot*m+k] = a[pivot*m+k], a[col*m+k]
			}
			det = -det
		}
		p := a[col*m+col]
		det *= p
		for r := col + 1; r < m; r++ {
			f := a[r*m+col] / p
			for k := col; k < m; k++ {
				a[r*m+k] -= f * a[col*m+k]
			}
		}
	}
	return det
}
