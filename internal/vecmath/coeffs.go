package vecmath

import "github.com/actswap/actswap/internal/vecmath/coeffs"

// The coefficients and range constants live in package coeffs, which the assembly generator
// (asm/gen.go) imports too; the kernels here use them under their short names.
var (
	expPoly  = coeffs.ExpPoly
	sigPoly  = coeffs.SigmoidExpPoly
	tanhPoly = coeffs.TanhPoly
	erfPoly  = coeffs.ErfPoly
	erfcPoly = coeffs.ErfcPoly
)

const (
	erfcT      = coeffs.ErfcT
	uMax       = coeffs.UMax
	tanhSmall  = coeffs.TanhSmall
	erfSmall   = coeffs.ErfSmall
	expLo      = coeffs.ExpLo
	expHi      = coeffs.ExpHi
	log2e      = coeffs.Log2e
	ln2Hi      = coeffs.Ln2Hi
	ln2Lo      = coeffs.Ln2Lo
	geluTanhC  = coeffs.GeluTanhC
	geluTanhK  = coeffs.GeluTanhK
	geluTanhLo = coeffs.GeluTanhLo
)
