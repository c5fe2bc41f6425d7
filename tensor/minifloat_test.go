package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The float8/float4 conversions are checked against values written out from the format
// definitions (ONNX's docs/Float8.md and the OCP MX spec) and against a brute-force reference:
// the representable value nearest to x, found by scanning every bit pattern, ties to the pattern
// with an even last bit.

type formatCase struct {
	name   string
	f      miniFormat
	finite map[uint8]float64 // spot values of the definition
	nan    []uint8
	inf    []uint8
}

var formatCases = []formatCase{
	{"e4m3fn", fmtE4M3FN, map[uint8]float64{0x00: 0, 0x01: 1.0 / 512, 0x08: 1.0 / 64, 0x38: 1, 0x7E: 448, 0xFE: -448, 0x80: math.Copysign(0, -1)},
		[]uint8{0x7F, 0xFF}, nil},
	{"e4m3fnuz", fmtE4M3FNUZ, map[uint8]float64{0x00: 0, 0x01: 1.0 / 1024, 0x40: 1, 0x7F: 240, 0xFF: -240},
		[]uint8{0x80}, nil},
	{"e5m2", fmtE5M2, map[uint8]float64{0x00: 0, 0x01: 1.0 / 65536, 0x3C: 1, 0x7B: 57344, 0xFB: -57344},
		[]uint8{0x7D, 0x7E, 0x7F, 0xFF}, []uint8{0x7C, 0xFC}},
	{"e5m2fnuz", fmtE5M2FNUZ, map[uint8]float64{0x00: 0, 0x01: 1.0 / 131072, 0x40: 1, 0x7F: 57344, 0xFF: -57344},
		[]uint8{0x80}, nil},
	{"e2m1", fmtE2M1, map[uint8]float64{0: 0, 1: 0.5, 2: 1, 3: 1.5, 4: 2, 5: 3, 6: 4, 7: 6, 0xF: -6}, nil, nil},
}

func (c formatCase) patterns() int { return 1 << (1 + c.f.expBits + c.f.manBits) }

func TestMiniFloatDecodeMatchesDefinition(t *testing.T) {
	t.Parallel()
	for _, c := range formatCases {
		for b, want := range c.finite {
			if got := c.f.decode(b); got != want || math.Signbit(got) != math.Signbit(want) {
				t.Errorf("%s: decode(%#x) = %v, want %v", c.name, b, got, want)
			}
		}
		for _, b := range c.nan {
			if got := c.f.decode(b); !math.IsNaN(got) {
				t.Errorf("%s: decode(%#x) = %v, want NaN", c.name, b, got)
			}
		}
		for _, b := range c.inf {
			if got := c.f.decode(b); !math.IsInf(got, 0) {
				t.Errorf("%s: decode(%#x) = %v, want ±Inf", c.name, b, got)
			}
		}
		// Every finite pattern reads back to itself (uz formats: 0x80 is NaN, not −0).
		for b := 0; b < c.patterns(); b++ {
			v := c.f.decode(uint8(b))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			if got := c.f.encode(v, false); got != uint8(b) {
				t.Errorf("%s: encode(decode(%#x) = %v) = %#x", c.name, b, v, got)
			}
		}
	}
}

// nearestPattern is the brute-force reference: the finite pattern nearest to x, ties to an even
// last bit; ok is false when x is beyond the largest finite value by half a step or more (where
// round-to-nearest leaves the format).
func nearestPattern(f miniFormat, x float64) (uint8, bool) {
	best, bestDist := -1, math.Inf(1)
	n := 1 << (1 + f.expBits + f.manBits)
	for b := 0; b < n; b++ {
		v := f.decode(uint8(b))
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Signbit(v) != math.Signbit(x) && v != 0 {
			continue
		}
		d := math.Abs(v - x)
		if d < bestDist || d == bestDist && b&1 == 0 {
			best, bestDist = b, d
		}
	}
	maxV := f.decode(f.maxBits)
	// The step above the largest value is the top binade's spacing.
	step := maxV - f.decode(f.maxBits-1)
	if math.Abs(x) >= maxV+step/2 {
		return 0, false
	}
	return uint8(best), true
}

func TestMiniFloatEncodeIsNearestEven(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range formatCases {
		var xs []float64
		// Every value, every midpoint between neighbours and points just beside them.
		for b := 0; b < c.patterns(); b++ {
			v := c.f.decode(uint8(b))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			next := c.f.decode(uint8(b + 1))
			xs = append(xs, v)
			if !math.IsNaN(next) && !math.IsInf(next, 0) && math.Signbit(next) == math.Signbit(v) {
				mid := (v + next) / 2
				xs = append(xs, mid, math.Nextafter(mid, math.Inf(1)), math.Nextafter(mid, math.Inf(-1)))
			}
		}
		maxV := c.f.decode(c.f.maxBits)
		for i := 0; i < 500; i++ {
			xs = append(xs, (rng.Float64()*2-1)*maxV*1.2, (rng.Float64()*2-1)*maxV*1e-3)
		}
		for _, x := range xs {
			for _, sat := range []bool{true, false} {
				got := c.f.encode(x, sat)
				want, inRange := nearestPattern(c.f, x)
				if !inRange {
					gv := c.f.decode(got)
					switch {
					case sat && gv != math.Copysign(maxV, x):
						t.Errorf("%s saturate: encode(%v) = %v, want %v", c.name, x, gv, math.Copysign(maxV, x))
					case !sat && c.f.ieee && !math.IsInf(gv, 0):
						t.Errorf("%s: encode(%v) = %v, want ±Inf", c.name, x, gv)
					case !sat && !c.f.ieee && !c.f.noNaN && !math.IsNaN(gv):
						t.Errorf("%s: encode(%v) = %v, want NaN", c.name, x, gv)
					}
					continue
				}
				if x == 0 || c.f.decode(want) == 0 {
					// Zero's sign: kept, except in the uz formats, which have no −0.
					if c.f.decode(got) != 0 || (!c.f.uz && math.Signbit(c.f.decode(got)) != math.Signbit(x)) || (c.f.uz && got != 0) {
						t.Errorf("%s: encode(%v) = %#x, want a zero of the right sign", c.name, x, got)
					}
					continue
				}
				if got != want {
					t.Errorf("%s: encode(%v, %v) = %#x (%v), want %#x (%v)", c.name, x, sat, got, c.f.decode(got), want, c.f.decode(want))
				}
			}
		}
	}
}

func TestMiniFloatSpecialValues(t *testing.T) {
	t.Parallel()
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"e4m3fn inf saturate", Float8E4M3FNFromFloat64(inf, true).Float64(), 448},
		{"e4m3fn -inf saturate", Float8E4M3FNFromFloat64(-inf, true).Float64(), -448},
		{"e4m3fn inf", Float8E4M3FNFromFloat64(inf, false).Float64(), nan},
		{"e4m3fn 1000", Float8E4M3FNFromFloat64(1000, false).Float64(), nan},
		{"e4m3fn 464 (tie to 448)", Float8E4M3FNFromFloat64(464, false).Float64(), 448},
		{"e4m3fnuz inf", Float8E4M3FNUZFromFloat64(inf, false).Float64(), nan},
		{"e4m3fnuz -0", Float8E4M3FNUZFromFloat64(math.Copysign(0, -1), true).Float64(), 0},
		{"e5m2 inf", Float8E5M2FromFloat64(inf, false).Float64(), inf},
		{"e5m2 inf saturate", Float8E5M2FromFloat64(inf, true).Float64(), 57344},
		{"e5m2 1e6", Float8E5M2FromFloat64(-1e6, false).Float64(), -inf},
		{"e5m2fnuz 1e6", Float8E5M2FNUZFromFloat64(1e6, false).Float64(), nan},
		{"e5m2 nan", Float8E5M2FromFloat64(nan, true).Float64(), nan},
		{"e2m1 inf", Float4E2M1FromFloat64(inf).Float64(), 6},
		{"e2m1 -7", Float4E2M1FromFloat64(-7).Float64(), -6},
		{"e2m1 0.25 (tie to 0)", Float4E2M1FromFloat64(0.25).Float64(), 0},
		{"e2m1 -3.5 (tie to 4)", Float4E2M1FromFloat64(-3.5).Float64(), -4},
		{"e2m1 nan (ml_dtypes: -0)", Float4E2M1FromFloat64(nan).Float64(), math.Copysign(0, -1)},
		{"e8m0 up 3", Float8E8M0FromFloat64(3, true, E8M0RoundUp).Float64(), 4},
		{"e8m0 up 4", Float8E8M0FromFloat64(4, true, E8M0RoundUp).Float64(), 4},
		{"e8m0 down 7", Float8E8M0FromFloat64(7, true, E8M0RoundDown).Float64(), 4},
		{"e8m0 nearest 5.9", Float8E8M0FromFloat64(5.9, true, E8M0RoundNearest).Float64(), 4},
		{"e8m0 nearest 6 (tie up)", Float8E8M0FromFloat64(6, true, E8M0RoundNearest).Float64(), 8},
		{"e8m0 inf saturate", Float8E8M0FromFloat64(inf, true, E8M0RoundUp).Float64(), math.Ldexp(1, 127)},
		{"e8m0 inf", Float8E8M0FromFloat64(inf, false, E8M0RoundUp).Float64(), nan},
		{"e8m0 0", Float8E8M0FromFloat64(0, true, E8M0RoundUp).Float64(), math.Ldexp(1, -127)},
	} {
		if !(c.got == c.want && math.Signbit(c.got) == math.Signbit(c.want)) && !(math.IsNaN(c.got) && math.IsNaN(c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestSubByteTypesPackInTensorProto(t *testing.T) {
	t.Parallel()
	// int4 [1, −1, 7]: low nibble first, the odd element alone in the last byte.
	x := New([]int{3}, []Int4Value{1, -1, 7})
	if got := RawBytes(x); len(got) != 2 || got[0] != 0xF1 || got[1] != 0x07 {
		t.Fatalf("int4 raw bytes = %#v, want [0xf1 0x07]", got)
	}
	// int2 [−2, 1, 0, −1, 1]: four to a byte.
	y := New([]int{5}, []Int2Value{-2, 1, 0, -1, 1})
	if got := RawBytes(y); len(got) != 2 || got[0] != 0b11_00_01_10 || got[1] != 0b01 {
		t.Fatalf("int2 raw bytes = %#v", got)
	}
	for _, want := range []*Tensor{x, y,
		New([]int{2, 2}, []Uint4Value{0, 15, 8, 3}),
		New([]int{3}, []Uint2Value{3, 0, 2}),
		New([]int{3}, []Float4E2M1Bits{0x7, 0xF, 0x1}),
		New([]int{2}, []Float8E4M3FNBits{0x7E, 0x80}),
		New([]int{2}, []Float8E4M3FNUZBits{0x7F, 0x80}),
		New([]int{2}, []Float8E5M2Bits{0x7C, 0x01}),
		New([]int{2}, []Float8E5M2FNUZBits{0xFF, 0x01}),
		New([]int{2}, []Float8E8M0Bits{0x7F, 0xFF}),
	} {
		got, err := FromProto(ToProto(want, "t"))
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if !sameTensor(got, want) {
			t.Errorf("%v: round trip gave %v", want, got.Data)
		}
		if c := got.Clone(); !sameTensor(c, want) {
			t.Errorf("%v: clone gave %v", want, c.Data)
		}
	}
	// A raw_data of the unpacked length is refused with the packed length named.
	p := ToProto(x, "w")
	p.RawData = []byte{1, 2, 3}
	if _, err := FromProto(p); err == nil {
		t.Error("int4 raw_data of 3 bytes for 3 elements was accepted")
	}
}
