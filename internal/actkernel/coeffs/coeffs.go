// Package coeffs holds the constants that actkernel and its assembly generator (actkernel/asm)
// must agree on, in one place: exp's (Cephes expf), which the pure-Go kernel (actkernel's exp32)
// and the generated one must round alike step by step, and the layout of the tables the
// generated kernels read. vecmath has its own exp, fitted for its range; these stay Cephes's so that the
// activation kernels keep the results their tests and goldens were made with.
package coeffs

const (
	// exp's clamp: inputs are clamped to [ExpLo, ExpHi] before n = round(x·Log2e).
	ExpLo = -87.0
	ExpHi = 88.0

	Log2e = 1.44269504088896341
	// ln2 in two parts: Ln2Hi has 9 significant bits, so n·Ln2Hi is exact and x − n·Ln2Hi loses nothing.
	Ln2Hi = 0.693359375
	Ln2Lo = -2.12194440e-4

	// e^r ≈ ((((ExpP0·r + ExpP1)·r + ExpP2)·r + ExpP3)·r + ExpP4)·r + ExpP5)·r² + r + 1.
	ExpP0 = 1.9875691500e-4
	ExpP1 = 1.3981999507e-3
	ExpP2 = 8.3334519073e-3
	ExpP3 = 4.1665795894e-2
	ExpP4 = 1.6666665459e-1
	ExpP5 = 5.0000001201e-1
)

// ExpPoly is ExpP0…ExpP5 in the order the generator's Horner loop takes them.
var ExpPoly = [...]float32{ExpP0, ExpP1, ExpP2, ExpP3, ExpP4, ExpP5}

// Layout of a PWLU channel's constants (tables.go's pwluChannel.consts; the AVX2 kernels read each
// broadcast to 8 lanes, the AVX-512 ones as scalars).
const (
	PWLUBL   = iota
	PWLUInvD // N/(B_R−B_L)
	PWLUN
	PWLUNm1 // N−1
	PWLUY0
	PWLUKL
	PWLUBR
	PWLUYN
	PWLUKR
	PWLULo // x is clamped to [lo, hi] for the outer segments: ±Inf, or ∓MaxFloat32 on a flat side
	PWLUHi
	PWLUConsts
)

// Layout of a Zorro channel's constants (tables.go's zorroChannel.consts; 8 copies of each in the
// AVX2 kernels' blocks).
const (
	ZorroInScale = iota
	ZorroInShift
	ZorroOutScale
	ZorroOutShift
	ZorroNegA
	ZorroNegAmp // A
	ZorroNegQ
	ZorroNegBeta // β'
	ZorroPosA
	ZorroPosAmp
	ZorroPosQ
	ZorroPosBeta
	ZorroGate // all-ones bits when gate, else 0: the assembly blends with it
	ZorroConsts
)

// Layout of the extended PWLU table that actkernel's tables.go builds and the generated pwluExt
// kernels read: scalars, then E and D of the N+2 segments, each padded to 32 entries.
const (
	ExtInvD = iota // N/(B_R−B_L)
	ExtOff         // 1 − B_L·N/(B_R−B_L)
	ExtTop         // N+1, the last segment's index
	ExtY0
	ExtKL
	ExtYN
	ExtKR
	ExtLo
	ExtHi
	ExtE   = 16
	ExtD   = 48
	ExtLen = 80
)
