package actkernel

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	t.Parallel()
	worst := 0.0
	for x := float32(expLo); x <= expHi; x += 0.000731 {
		got, want := float64(exp32(x)), math.Exp(float64(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 3e-7 {
		t.Errorf("exp32 worst relative error %g, want ≤ 3e-7", worst)
	}
	t.Logf("exp32 worst relative error on [%v, %v]: %.3g", expLo, expHi, worst)
	if got := exp32(float32(math.Inf(-1))); got <= 0 || got > 2e-38 {
		t.Errorf("exp32(-Inf) = %v", got)
	}
}
