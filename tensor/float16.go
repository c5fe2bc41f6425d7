package tensor

import "math"

// Float32 converts IEEE half-precision bits to float32 (exact). A NaN keeps its sign and payload
// and comes out quiet, as x86's VCVTPH2PS and Arm's FCVT give it.
func (h Float16Bits) Float32() float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && mant != 0: // NaN
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: normalise into a float32 exponent.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// Float16FromFloat32 rounds f to the nearest half-precision value (ties to even). A NaN stays a
// NaN with its sign and the top 9 bits of its payload, made quiet, as x86's VCVTPS2PH and Arm's
// FCVT convert it (so vector conversions give the same bits).
func Float16FromFloat32(f float32) Float16Bits {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return Float16Bits(sign | 0x7e00 | uint16(mant>>13))
		}
		return Float16Bits(sign | 0x7c00)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return Float16Bits(sign | 0x7c00)
	}
	if e <= 0 {
		if e < -10 {
			return Float16Bits(sign)
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rounded := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && rounded&1 == 1) {
			rounded++
		}
		return Float16Bits(sign | uint16(rounded))
	}
	rounded := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && rounded&1 == 1) {
		rounded++ // may carry into the exponent, which is the correct rounding up to Inf
	}
	return Float16Bits(sign | uint16(rounded))
}

// Float32 converts bfloat16 bits to float32 (exact).
func (h BFloat16Bits) Float32() float32 { return math.Float32frombits(uint32(h) << 16) }

// BFloat16FromFloat32 rounds f to bfloat16 (ties to even), keeping NaN a NaN.
func BFloat16FromFloat32(f float32) BFloat16Bits {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return BFloat16Bits(b>>16 | 0x40)
	}
	b += 0x7fff + (b>>16)&1
	return BFloat16Bits(b >> 16)
}
