package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// arithRef is op evaluated in float64 and rounded to float32: for +, −, · and / of two float32s
// that double rounding gives the correctly rounded float32 result, so the kernels must match it
// bit for bit (NaN for NaN).
func arithRef(op Op, x, y float32) float32 {
	a, b := float64(x), float64(y)
	switch op {
	case OpAdd:
		return float32(a + b)
	case OpSub:
		return float32(a - b)
	case OpMul:
		return float32(a * b)
	}
	return float32(a / b)
}

var arithSpecials = func() []float32 {
	inf := float32(math.Inf(1))
	tiny := math.Float32frombits(1)
	return []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), 1, -1, 2,
		math.MaxFloat32, -math.MaxFloat32, tiny, -tiny, 0x1p-126, 3e-39, 1e20, -1e-20}
}()

// arithRows returns x and y of length n: random magnitudes over many binades, with specials
// (NaN, ±Inf, ±0, denormals, overflowing products) mixed in.
func arithRows(r *rand.Rand, n int) (x, y []float32) {
	x, y = make([]float32, n), make([]float32, n)
	for _, s := range [][]float32{x, y} {
		for i := range s {
			s[i] = float32((r.Float64()*2 - 1) * math.Exp2(float64(r.IntN(60)-30)))
			if r.IntN(5) == 0 {
				s[i] = arithSpecials[r.IntN(len(arithSpecials))]
			}
		}
	}
	return x, y
}

const arithSentinel = float32(-12345)

// sentinelRow returns a row of n elements followed by 8 sentinels that no kernel may touch.
func sentinelRow(n int) []float32 {
	row := make([]float32, n+8)
	for i := range row {
		row[i] = arithSentinel
	}
	return row
}

func checkTail(t *testing.T, row []float32, n int, what string) {
	t.Helper()
	for i := n; i < len(row); i++ {
		if row[i] != arithSentinel {
			t.Fatalf("%s n=%d: wrote past the end at %d", what, n, i)
		}
	}
}

// TestArith checks Arith at every length up to 70 and two long rows against arithRef, out of
// place and in place on either input (and on both, x op x), and that nothing past len(dst) is
// written.
func TestArith(t *testing.T) {
	t.Parallel()
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(7, 8))
		for op := OpAdd; op <= OpDiv; op++ {
			for _, n := range append(rangeTo(70), 1000, 4099) {
				x, y := arithRows(r, n)
				what := fmt.Sprintf("%v", op)
				dst := sentinelRow(n)
				arithOn(tier, op, dst[:n], x, y)
				checkTail(t, dst, n, what)
				onX := append([]float32(nil), x...)
				arithOn(tier, op, onX, onX, y)
				onY := append([]float32(nil), y...)
				arithOn(tier, op, onY, x, onY)
				both := append([]float32(nil), x...)
				arithOn(tier, op, both, both, both)
				for i := range n {
					want := arithRef(op, x[i], y[i])
					if !sameFloat(dst[i], want) || !sameFloat(onX[i], want) || !sameFloat(onY[i], want) {
						t.Fatalf("n=%d: %v(%g, %g) = %g (in place on x %g, on y %g), want %g",
							n, op, x[i], y[i], dst[i], onX[i], onY[i], want)
					}
					if want := arithRef(op, x[i], x[i]); !sameFloat(both[i], want) {
						t.Fatalf("n=%d: %v(%g, itself) in place = %g, want %g", n, op, x[i], both[i], want)
					}
				}
			}
		}
	})
}

// TestArithScalar checks ArithScalar (x op s) and ScalarArith (s op x) the same way, for
// ordinary and special scalars.
func TestArithScalar(t *testing.T) {
	t.Parallel()
	scalars := append([]float32{0.125, -3.7, 1e-3}, arithSpecials...)
	withGo(t, func(t *testing.T, tier simd.Level) {
		r := rand.New(rand.NewPCG(9, 10))
		for op := OpAdd; op <= OpDiv; op++ {
			for _, s := range scalars {
				for _, n := range append(rangeTo(70), 1000, 4099) {
					x, _ := arithRows(r, n)
					forms := []struct {
						name string
						f    func(dst, x []float32)
						ref  func(v float32) float32
					}{
						{"x op s", func(dst, x []float32) { arithScalarOn(tier, op, dst, x, s) }, func(v float32) float32 { return arithRef(op, v, s) }},
						{"s op x", func(dst, x []float32) { scalarArithOn(tier, op, dst, s, x) }, func(v float32) float32 { return arithRef(op, s, v) }},
					}
					for _, form := range forms {
						what := fmt.Sprintf("%v %s, s=%g", op, form.name, s)
						dst := sentinelRow(n)
						form.f(dst[:n], x)
						checkTail(t, dst, n, what)
						inPlace := append([]float32(nil), x...)
						form.f(inPlace, inPlace)
						for i, v := range x {
							if want := form.ref(v); !sameFloat(dst[i], want) || !sameFloat(inPlace[i], want) {
								t.Fatalf("%s n=%d: x=%g gives %g (in place %g), want %g", what, n, v, dst[i], inPlace[i], want)
							}
						}
					}
				}
			}
		}
	})
}

func TestArithInvalidOp(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Arith with Op(9) did not panic")
		}
	}()
	Arith(Op(9), make([]float32, 3), make([]float32, 3), make([]float32, 3))
}
