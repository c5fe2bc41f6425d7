package tensor

import "math"

// The 8- and 4-bit float formats of ONNX (opset 19+ float8, opset 23+ float4e2m1, opset 24+
// float8e8m0). A tensor holds one element per byte, as its bit pattern (float4e2m1 in the low
// nibble); only TensorProto packs float4 two to a byte. Kernels compute in float32/float64 and
// convert at the edges with Float64 and the FromFloat64 functions here.
type (
	Float8E4M3FNBits   uint8 // 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinity, NaN S.1111.111
	Float8E4M3FNUZBits uint8 // bias 8; no infinity, no negative zero, NaN 0x80
	Float8E5M2Bits     uint8 // bias 15, IEEE-like: infinities and NaNs at exponent 31
	Float8E5M2FNUZBits uint8 // bias 16; no infinity, no negative zero, NaN 0x80
	Float8E8M0Bits     uint8 // unsigned power of two 2^(e−127); no zero, NaN 0xFF
	Float4E2M1Bits     uint8 // 1 sign, 2 exponent (bias 1), 1 mantissa bit; no infinity, no NaN
)

// miniFormat describes a small sign-exponent-mantissa format for the generic conversions.
type miniFormat struct {
	expBits, manBits, bias int
	ieee                   bool // all-ones exponent holds infinities and NaNs (E5M2)
	uz                     bool // no negative zero; 0x80 is the only NaN (the FNUZ formats)
	fnNaN                  bool // only S.1111.111 is NaN, the rest of the top binade is finite (E4M3FN)
	noNaN                  bool // no NaN at all (float4e2m1)
	maxBits                uint8
}

var (
	fmtE4M3FN   = miniFormat{expBits: 4, manBits: 3, bias: 7, fnNaN: true, maxBits: 0x7E}
	fmtE4M3FNUZ = miniFormat{expBits: 4, manBits: 3, bias: 8, uz: true, maxBits: 0x7F}
	fmtE5M2     = miniFormat{expBits: 5, manBits: 2, bias: 15, ieee: true, maxBits: 0x7B}
	fmtE5M2FNUZ = miniFormat{expBits: 5, manBits: 2, bias: 16, uz: true, maxBits: 0x7F}
	fmtE2M1     = miniFormat{expBits: 2, manBits: 1, bias: 1, noNaN: true, maxBits: 0x7}
)

func (f miniFormat) signBit() uint8 { return 1 << (f.expBits + f.manBits) }

func (f miniFormat) nanBits() uint8 {
	switch {
	case f.uz:
		return 0x80
	case f.ieee:
		return 0x7F
	case f.fnNaN:
		return 0x7F
	}
	return 0
}

// decode returns the value of bit pattern b.
func (f miniFormat) decode(b uint8) float64 {
	sign := b & f.signBit()
	mag := b &^ sign
	if f.uz && b == 0x80 {
		return math.NaN()
	}
	e := int(mag >> f.manBits)
	m := int(mag & (1<<f.manBits - 1))
	top := 1<<f.expBits - 1
	switch {
	case f.ieee && e == top && m == 0:
		return math.Inf(1 - 2*int(sign>>(f.expBits+f.manBits)))
	case f.ieee && e == top:
		return math.NaN()
	case f.fnNaN && e == top && m == 1<<f.manBits-1:
		return math.NaN()
	}
	var v float64
	if e == 0 {
		v = math.Ldexp(float64(m), 1-f.bias-f.manBits)
	} else {
		v = math.Ldexp(float64(1<<f.manBits+m), e-f.bias-f.manBits)
	}
	if sign != 0 {
		v = -v
	}
	return v
}

// encode rounds x to the nearest representable value, ties to even. Values beyond the largest
// finite one (infinities included) become that largest value when saturate is set; otherwise
// infinity where the format has one, NaN where it does not (ONNX Cast's table).
func (f miniFormat) encode(x float64, saturate bool) uint8 {
	if math.IsNaN(x) {
		if f.noNaN {
			// float4e2m1 has no NaN: ONNX's reference (ml_dtypes) gives the pattern of −0.
			return f.signBit()
		}
		return f.nanBits()
	}
	var sign uint8
	if math.Signbit(x) {
		sign = f.signBit()
		x = -x
	}
	overflow := func() uint8 {
		switch {
		case saturate || f.noNaN:
			return sign | f.maxBits
		case f.ieee:
			return sign | uint8((1<<f.expBits-1)<<f.manBits)
		}
		return f.nanBits()
	}
	if math.IsInf(x, 0) {
		return overflow()
	}
	if x == 0 {
		if f.uz {
			return 0
		}
		return sign
	}
	_, exp := math.Frexp(x) // x = frac·2^exp, frac in [0.5, 1)
	e := max(exp-1, 1-f.bias)
	r := math.RoundToEven(math.Ldexp(x, f.manBits-e)) // x in units of the binade's last place
	if r >= float64(int(1)<<(f.manBits+1)) {
		r /= 2
		e++
	}
	var bits uint8
	if r < float64(int(1)<<f.manBits) { // subnormal (or rounded to zero)
		bits = uint8(r)
	} else {
		bits = uint8(e+f.bias)<<f.manBits | uint8(int(r)-1<<f.manBits)
	}
	if e+f.bias > 1<<f.expBits-1 || f.decode(bits) > f.decode(f.maxBits) || f.decode(bits) != f.decode(bits) {
		return overflow()
	}
	if bits == 0 && f.uz {
		return 0
	}
	return sign | bits
}

func (v Float8E4M3FNBits) Float64() float64   { return fmtE4M3FN.decode(uint8(v)) }
func (v Float8E4M3FNUZBits) Float64() float64 { return fmtE4M3FNUZ.decode(uint8(v)) }
func (v Float8E5M2Bits) Float64() float64     { return fmtE5M2.decode(uint8(v)) }
func (v Float8E5M2FNUZBits) Float64() float64 { return fmtE5M2FNUZ.decode(uint8(v)) }
func (v Float4E2M1Bits) Float64() float64     { return fmtE2M1.decode(uint8(v) & 0xF) }

// Float64 is 2^(e−127), or NaN for 0xFF.
func (v Float8E8M0Bits) Float64() float64 {
	if v == 0xFF {
		return math.NaN()
	}
	return math.Ldexp(1, int(v)-127)
}

// Float8E4M3FNFromFloat64 and its siblings round to nearest even; saturate is ONNX Cast's
// attribute (out-of-range values become the largest finite value instead of NaN or infinity).
func Float8E4M3FNFromFloat64(x float64, saturate bool) Float8E4M3FNBits {
	return Float8E4M3FNBits(fmtE4M3FN.encode(x, saturate))
}

func Float8E4M3FNUZFromFloat64(x float64, saturate bool) Float8E4M3FNUZBits {
	return Float8E4M3FNUZBits(fmtE4M3FNUZ.encode(x, saturate))
}

func Float8E5M2FromFloat64(x float64, saturate bool) Float8E5M2Bits {
	return Float8E5M2Bits(fmtE5M2.encode(x, saturate))
}

func Float8E5M2FNUZFromFloat64(x float64, saturate bool) Float8E5M2FNUZBits {
	return Float8E5M2FNUZBits(fmtE5M2FNUZ.encode(x, saturate))
}

// Float4E2M1FromFloat64 rounds to nearest even and always saturates (±6): the format has neither
// infinity nor NaN.
func Float4E2M1FromFloat64(x float64) Float4E2M1Bits { return Float4E2M1Bits(fmtE2M1.encode(x, true)) }

// E8M0Rounding is how a value between two powers of two becomes one (Cast's round_mode).
type E8M0Rounding int

const (
	E8M0RoundUp      E8M0Rounding = iota // the larger power unless exact (ONNX's default)
	E8M0RoundDown                        // the smaller power
	E8M0RoundNearest                     // the nearer power, ties (1.5·2^e) to the larger
)

// Float8E8M0FromFloat64 keeps the magnitude's binary exponent (the format has no sign), rounded
// per mode. NaN becomes 0xFF; infinities and values above 2^127 become 2^127 when saturate is
// set and NaN otherwise; values below 2^−127 become 2^−127.
func Float8E8M0FromFloat64(x float64, saturate bool, mode E8M0Rounding) Float8E8M0Bits {
	if math.IsNaN(x) {
		return 0xFF
	}
	x = math.Abs(x)
	if math.IsInf(x, 0) {
		if saturate {
			return 0xFE
		}
		return 0xFF
	}
	if x == 0 {
		return 0
	}
	frac, exp := math.Frexp(x) // x = 2·frac · 2^(exp−1), 2·frac in [1, 2)
	e := exp - 1
	switch mode {
	case E8M0RoundUp:
		if frac != 0.5 {
			e++
		}
	case E8M0RoundNearest:
		if frac >= 0.75 {
			e++
		}
	}
	switch {
	case e+127 > 0xFE:
		if saturate {
			return 0xFE
		}
		return 0xFF
	case e+127 < 0:
		return 0
	}
	return Float8E8M0Bits(e + 127)
}
