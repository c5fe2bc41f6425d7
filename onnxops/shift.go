package onnxops

import "fmt"

// ShiftInput returns parameters q of the same family with q.Eval(x) = p.Eval(x + b) for every x:
// the operator absorbs a bias added to its input. PWLU moves its bounds by −b (heights and slopes
// are unchanged); ungated Zorro moves in_shift by in_scale·b. Gated Zorro (Y = X·W(X)) and
// CRReLU (ε·X·exp(−X²/2)) use X itself beyond a shift of it, so no parameters of theirs compute
// the shifted function; that is an error saying why.
func ShiftInput(p Params, b float64) (Params, error) {
	switch q := p.(type) {
	case PWLUParams:
		q.Heights = append([]float64(nil), q.Heights...)
		q.BL, q.BR = q.BL-b, q.BR-b
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("shifting by %g: %w", b, err)
		}
		return q, nil
	case ZorroParams:
		if q.Gate {
			return nil, fmt.Errorf("gated Zorro multiplies its result by its input X, which a parameter cannot shift")
		}
		q.InShift += q.InScale * b
		return q, q.Validate()
	case CRReLUParams:
		return nil, fmt.Errorf("CRReLU's correction ε·X·exp(−X²/2) is centred on X = 0, which a parameter cannot shift")
	}
	return nil, fmt.Errorf("unknown parameter set %T", p)
}
