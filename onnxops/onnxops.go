// Package onnxops defines the ai.actswap operator set (Zorro, PWLU, CRReLU): the float64
// reference math that the rewriter and calibrator fit against, the parameters as a node's
// initializer tensors, and the model-local ONNX FunctionProtos that let any runtime run a
// rewritten model. OPS.md (shared docs) is the contract; activations.md has the math. It links
// no kernel: the float32 loops are internal/actkernel's, which actswap's runtime (runtime/ops)
// and the onnxruntime plugin (ortplugin) call.
//
// Files, by stage:
//   - crrelu.go, pwlu.go, zorro.go, targets.go: float64 reference Eval and derivatives (Deriv).
//   - params.go: parameter sets ⇄ the node's initializer tensors (per tensor or per channel).
//   - function.go, node.go, model.go: FunctionProto bodies in standard ops, node builder,
//     AttachFunctions and SingleNodeModel.
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
