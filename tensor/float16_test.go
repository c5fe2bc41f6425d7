package tensor

import (
	"math"
	"testing"
)

func TestFloat16KnownBitPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		f    float32
		bits Float16Bits
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                          // largest finite half
		{65519, 0x7bff},                          // below the halfway point to 65536: rounds down
		{65520, 0x7c00},                          // halfway to the next (non-existent) value: rounds to Inf
		{float32(math.Inf(1)), 0x7c00},           // +Inf
		{float32(math.Inf(-1)), 0xfc00},          // -Inf
		{0.1, 0x2e66},                            // 0.0999755859375
		{1.0 / 3, 0x3555},                        // 0.333251953125
		{float32(math.Ldexp(1, -14)), 0x0400},    // smallest normal
		{float32(math.Ldexp(1, -24)), 0x0001},    // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},    // half the smallest subnormal: tie to even (0)
		{float32(math.Ldexp(3, -25)), 0x0002},    // 1.5 subnormal steps: tie to even (2)
		{float32(math.Ldexp(1023, -24)), 0x03ff}, // largest subnormal
		{1 + 1.0/2048, 0x3c00},                   // tie between 1 and 1+2^-10: even (1)
		{1 + 3.0/2048, 0x3c02},                   // tie between 1+2^-10 and 1+2^-9: even
		{1e-10, 0x0000},                          // underflow
		{-1e10, 0xfc00},                          // overflow
	}
	for _, c := range cases {
		if got := Float16FromFloat32(c.f); got != c.bits {
			t.Errorf("Float16FromFloat32(%g) = %#04x, want %#04x", c.f, got, c.bits)
		}
	}
	if nan := Float16FromFloat32(float32(math.NaN())); nan&0x7c00 != 0x7c00 || nan&0x3ff == 0 {
		t.Errorf("NaN became %#04x, not a half NaN", nan)
	}
}

// NaNs convert as x86's VCVTPS2PH/VCVTPH2PS and Arm's FCVT do (sign and payload kept, made
// quiet), so internal/half's vector conversions and this scalar code give the same bits.
func TestFloat16NaNPayloads(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f32 uint32
		f16 uint16
	}{
		{0x7fc00000, 0x7e00}, {0xffc00000, 0xfe00}, // the default quiet NaN, both signs
		{0x7f802000, 0x7e01}, // signalling, payload in the bits that survive: quieted, kept
		{0x7f800001, 0x7e00}, // signalling, payload below them: still a NaN, never ±Inf
		{0x7fffe000, 0x7fff},
	} {
		if got := Float16FromFloat32(math.Float32frombits(c.f32)); uint16(got) != c.f16 {
			t.Errorf("Float16FromFloat32(%#08x) = %#04x, want %#04x", c.f32, got, c.f16)
		}
	}
	for _, c := range []struct {
		f16 uint16
		f32 uint32
	}{{0x7c01, 0x7fc02000}, {0xfe00, 0xffc00000}, {0x7fff, 0x7fffe000}, {0x7c00, 0x7f800000}, {0xfc00, 0xff800000}} {
		if got := math.Float32bits(Float16Bits(c.f16).Float32()); got != c.f32 {
			t.Errorf("Float16Bits(%#04x).Float32() = %#08x, want %#08x", c.f16, got, c.f32)
		}
	}
}

// halfValue evaluates IEEE binary16 bits in float64 from the definition.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(mant, -24)
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * math.Ldexp(1+mant/1024, exp-15)
}

// Every half value widens exactly and narrows back to itself.
func TestFloat16AllValues(t *testing.T) {
	t.Parallel()
	for b := range 1 << 16 {
		h := Float16Bits(b)
		f := h.Float32()
		want := halfValue(uint16(b))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: got %g, want NaN", b, f)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Fatalf("%#04x.Float32() = %g, want %g", b, f, want)
		}
		if back := Float16FromFloat32(f); back != h {
			t.Fatalf("%#04x -> %g -> %#04x", b, f, back)
		}
	}
}

// Rounding float32 to half must pick the nearest half (ties to even), checked against a search
// over neighbouring half values in float64.
func TestFloat16RoundingMatchesNearest(t *testing.T) {
	t.Parallel()
	for i64 := uint64(0); i64 < 1<<32; i64 += 0x1357 {
		i := uint32(i64)
		f := math.Float32frombits(i)
		if math.IsNaN(float64(f)) || math.Abs(float64(f)) >= 65520 {
			continue
		}
		got := Float16FromFloat32(f)
		d := math.Abs(halfValue(uint16(got)) - float64(f))
		for _, nb := range []uint16{uint16(got) - 1, uint16(got) + 1} {
			if nb&0x7c00 == 0x7c00 || (nb^uint16(got))&0x8000 != 0 {
				continue
			}
			dn := math.Abs(halfValue(nb) - float64(f))
			if dn < d || (dn == d && nb&1 == 0) {
				t.Fatalf("%g (%#08x) -> %#04x, but %#04x is nearer or the even tie", f, i, got, nb)
			}
		}
	}
}

func TestBFloat16KnownBitPatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   uint32 // float32 bits
		bits BFloat16Bits
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x40490fdb, 0x4049}, // pi -> 3.140625
		{0x3eaaaaab, 0x3eab}, // 1/3 rounds up
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up to even
		{0x3f808001, 0x3f81}, // just above the tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to Inf
		{0xff800000, 0xff80}, // -Inf
		{0x80000000, 0x8000}, // -0
		{0x00000001, 0x0000}, // tiny subnormal
	}
	for _, c := range cases {
		if got := BFloat16FromFloat32(math.Float32frombits(c.in)); got != c.bits {
			t.Errorf("BFloat16FromFloat32(%#08x) = %#04x, want %#04x", c.in, got, c.bits)
		}
	}
	for _, nanBits := range []uint32{0x7fc00000, 0x7f800001, 0xffffffff} {
		got := BFloat16FromFloat32(math.Float32frombits(nanBits))
		if !math.IsNaN(float64(got.Float32())) {
			t.Errorf("NaN %#08x became %#04x", nanBits, got)
		}
	}
	for b := range 1 << 16 {
		h := BFloat16Bits(b)
		f := h.Float32()
		if math.Float32bits(f) != uint32(b)<<16 {
			t.Fatalf("%#04x.Float32() has bits %#08x", b, math.Float32bits(f))
		}
		if !math.IsNaN(float64(f)) && BFloat16FromFloat32(f) != h {
			t.Fatalf("%#04x does not survive a round trip", b)
		}
	}
}
