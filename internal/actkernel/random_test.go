package actkernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/acttest"
	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/onnxops"
)

// randomParams draws parameter sets over the ranges the calibrator uses (activations.md §4):
// PWLU with N from 1 to 80 (every table size and the gather kernel), bounds far from 0 too, and
// heights of a fitted shape (onnxops.GELU at the knots, scaled, plus noise: slopes within about ±2, so
// (B_R−B_L)·max|K| stays within the float32 bound documented at pwluTable); Zorro with
// a ∈ [0.05, 50] and β = a·b ∈ [−20, 40] plus affine wrappers and gate; CRReLU with |ε| ≤ 2.
func randomParams(rng *rand.Rand, fam onnxops.Family) (onnxops.Params, bool) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	switch fam {
	case onnxops.FamilyPWLU:
		n := 1 + rng.IntN(80)
		center := u(-5, 5)
		if rng.IntN(4) == 0 {
			center = u(-300, 300)
		}
		half := u(0.2, 6)
		p := onnxops.PWLUParams{BL: center - half, BR: center + half, KL: u(-1, 1), KR: u(-1, 2)}
		if rng.IntN(4) == 0 {
			p.KL = 0
		}
		scale, d := u(-1.5, 1.5), 2*half/float64(n)
		for i := 0; i <= n; i++ {
			b := p.BL + float64(i)*d
			p.Heights = append(p.Heights, scale*onnxops.GELU(b-center)+0.3*d*u(-1, 1))
		}
		return p, false
	case onnxops.FamilyZorro:
		a := math.Exp(u(math.Log(0.05), math.Log(50)))
		beta := u(-20, 40)
		a2 := math.Exp(u(math.Log(0.05), math.Log(50)))
		beta2 := u(-20, 40)
		gate := rng.IntN(2) == 0
		return onnxops.ZorroParams{AN: a, BN: beta / a, AP: a2, BP: beta2 / a2,
			InScale: u(0.1, 3), InShift: u(-1, 1), OutScale: u(-2, 2), OutShift: u(-1, 1), Gate: gate}, gate
	}
	return onnxops.CRReLUParams{Epsilon: u(-2, 2)}, false
}

func TestKernelsRandomParameters(t *testing.T) {
	t.Parallel()
	eachPath(t, func(t *testing.T, x simd.Level) {
		rng := rand.New(rand.NewPCG(23, 24))
		for trial := 0; trial < 60; trial++ {
			fam := onnxops.Families[trial%len(onnxops.Families)]
			p, gate := randomParams(rng, fam)
			c := acttest.KernelCase{Name: fmt.Sprintf("%s trial %d %+v", fam, trial, p), Fam: fam, Chans: []onnxops.Params{p}, Gate: gate}
			params, ps := acttest.Float32Params(t, c)
			tab, err := buildTable(x, c, params)
			if err != nil {
				t.Fatal(err)
			}
			xs := acttest.Inputs(523, rng)
			if pw, ok := ps[0].(onnxops.PWLUParams); ok { // inputs around the bounds and the knots
				for i := 30; i < len(xs); i += 2 {
					xs[i] = float32(pw.BL + (pw.BR-pw.BL)*(rng.Float64()*1.4-0.2))
				}
			}
			ys := make([]float32, len(xs))
			tab.apply(ys, xs, 0, trial%2 == 0)
			acttest.CheckAgainstReference(t, c.Name, ps, []int{len(xs)}, 0, xs, ys)
		}
	})
}
