package half

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/tensor"
)

// Every float16 value, at every level, against the scalar conversion of package tensor, which its
// own tests check against float64 arithmetic: the same float32 bits, NaN payloads included.
func TestToFloat32EveryHalf(t *testing.T) {
	t.Parallel()
	src := make([]tensor.Float16Bits, 1<<16)
	for i := range src {
		src[i] = tensor.Float16Bits(i)
	}
	for _, x := range simd.Levels(simd.Host()) {
		t.Run(x.String(), func(t *testing.T) {
			t.Parallel()
			dst := make([]float32, len(src))
			ToFloat32(x, dst, src)
			for i, h := range src {
				if got, want := math.Float32bits(dst[i]), math.Float32bits(h.Float32()); got != want {
					t.Fatalf("%#04x: got %#08x, want %#08x", uint16(h), got, want)
				}
			}
		})
	}
}

// float32 inputs that decide rounding: every float16 value, the midpoints between neighbours
// (ties go to the even one) and one float32 ulp either side of them, the overflow threshold,
// the subnormal range, NaNs with payloads in the bits that survive and in those that do not.
func roundingCases() []float32 {
	var out []float32
	for h := 0; h < 0x7c00; h++ {
		lo := float64(tensor.Float16Bits(h).Float32())
		hi := float64(tensor.Float16Bits(h + 1).Float32())
		if h+1 == 0x7c00 {
			hi = 65536 // the next value float16 would have: 65520 rounds up to +Inf
		}
		mid := float32((lo + hi) / 2)
		for _, v := range []float32{float32(lo), mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, math.MaxFloat32)} {
			out = append(out, v, -v)
		}
	}
	for _, b := range []uint32{0x7f800000, 0x7f800001, 0x7fc00000, 0x7f802000, 0x7fffffff, 0x7fa00000, 0x7f801fff, 0x00000001, 0x007fffff, 0x33000000, 0x33000001, 0x7f7fffff} {
		out = append(out, math.Float32frombits(b), math.Float32frombits(b|1<<31))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 16 {
		out = append(out, math.Float32frombits(r.Uint32()))
	}
	return out
}

func TestFromFloat32Rounding(t *testing.T) {
	t.Parallel()
	src := roundingCases()
	for _, x := range simd.Levels(simd.Host()) {
		t.Run(x.String(), func(t *testing.T) {
			t.Parallel()
			dst := make([]tensor.Float16Bits, len(src))
			FromFloat32(x, dst, src)
			for i, f := range src {
				if got, want := dst[i], tensor.Float16FromFloat32(f); got != want {
					t.Fatalf("%g (%#08x): got %#04x, want %#04x", f, math.Float32bits(f), uint16(got), uint16(want))
				}
			}
		})
	}
}

// Every length from 0 to past two unrolled blocks: the assembly takes whole vectors, the Go loop
// the tail, and nothing outside [0, len(src)) of dst is written.
func TestLengths(t *testing.T) {
	t.Parallel()
	for _, x := range simd.Levels(simd.Host()) {
		t.Run(x.String(), func(t *testing.T) {
			t.Parallel()
			for n := 0; n <= 140; n++ {
				f := make([]float32, n)
				for i := range f {
					f[i] = float32(i) + 0.25
				}
				h := make([]tensor.Float16Bits, n+1)
				h[n] = 0x1234 // guard
				FromFloat32(x, h, f)
				back := make([]float32, n+1)
				back[n] = -7 // guard
				ToFloat32(x, back, h[:n])
				if h[n] != 0x1234 || back[n] != -7 {
					t.Fatalf("n=%d: wrote past len(src)", n)
				}
				for i := range f {
					if want := tensor.Float16FromFloat32(f[i]).Float32(); back[i] != want {
						t.Fatalf("n=%d, i=%d: round trip %g, want %g", n, i, back[i], want)
					}
				}
			}
		})
	}
}

func BenchmarkConvert(b *testing.B) {
	const n = 4096
	f := make([]float32, n)
	h := make([]tensor.Float16Bits, n)
	for i := range f {
		f[i] = float32(i) / 7
	}
	for _, x := range simd.Levels(simd.Host()) {
		b.Run(fmt.Sprintf("to16/%s", x), func(b *testing.B) {
			b.SetBytes(n * 6)
			for b.Loop() {
				FromFloat32(x, h, f)
			}
		})
		b.Run(fmt.Sprintf("to32/%s", x), func(b *testing.B) {
			b.SetBytes(n * 6)
			for b.Loop() {
				ToFloat32(x, f, h)
			}
		})
	}
}
