// Package onnxops implements the ai.actswap operator set (Zorro, PWLU, CRReLU): the float64
// reference math that the rewriter and calibrator fit against, the float32 kernels the actswap
// runtime runs, and the model-local ONNX FunctionProtos that let any other runtime run a
// rewritten model. OPS.md (shared docs) is the contract; activations.md has the math.
//
// Files, by stage:
//   - crrelu.go, pwlu.go, zorro.go, targets.go: float64 reference Eval and derivatives (Deriv).
//   - params.go: parameter sets ⇄ the node's initializer tensors (per tensor or per channel).
//   - tables.go, exp32.go: per-channel constant tables and the pure-Go float32 loops.
//   - asm/: the avo generator of kernels_amd64.s (AVX2+FMA for all, AVX-512F for PWLU);
//     dispatch_amd64.go picks assembly or Go by CPU features, dispatch_other.go is Go only.
//   - kernel.go: the registered ops.Kernel (ai.actswap, version 1) for float32, float16,
//     bfloat16 and float64 inputs.
//   - function.go, node.go, model.go: FunctionProto bodies in standard ops, node builder,
//     AttachFunctions and SingleNodeModel.
//
// Accuracy: the float32 kernels stay within 1e-5·max(1, |y|) of the float64 reference (tested
// on both code paths, NaN and ±Inf included); their exp is Cephes-style with relative error
// below 3e-7 (exp32).
package onnxops

import "fmt"

// Domain and Version identify the operator set in a model's opset_import.
const (
	Domain  = "ai.actswap"
	Version = 1
)

// Family names one of the three operators; its value is the ONNX op_type.
type Family string

const (
	FamilyZorro  Family = "Zorro"
	FamilyPWLU   Family = "PWLU"
	FamilyCRReLU Family = "CRReLU"
)

// Families lists every operator of the set, in a fixed order.
var Families = []Family{FamilyZorro, FamilyPWLU, FamilyCRReLU}

// ParseFamily accepts an op type (case-sensitive, as it appears in a model).
func ParseFamily(s string) (Family, error) {
	for _, f := range Families {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown %s operator %q (want Zorro, PWLU or CRReLU)", Domain, s)
}

// Params is one parameter set of an operator: the whole tensor's, or one channel's.
// CRReLUParams, PWLUParams and ZorroParams implement it.
type Params interface {
	Family() Family
	// Eval is the float64 reference evaluation of the operator at x.
	Eval(x float64) float64
	// Validate reports parameters the operator cannot run with.
	Validate() error
}

// ParamInputNames returns the names of the operator's inputs after X, in order.
func ParamInputNames(fam Family) []string {
	switch fam {
	case FamilyCRReLU:
		return []string{"epsilon"}
	case FamilyPWLU:
		return []string{"bounds", "heights", "slopes"}
	case FamilyZorro:
		return []string{"params"}
	}
	return nil
}
