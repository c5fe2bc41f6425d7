// Package rewrite finds ReLU and GELU activations in an ONNX graph and replaces each with one
// ai.actswap node (Zorro, PWLU or CRReLU).
//
// # Finding sites
//
// Find matches declarative patterns (rules.go; the GELU chains are internal/pattern's, which the
// runtime's GELU fusion matches too) that read like the formulas, written with a small op
// builder: the exact GELU is
//
//	Prod(C(0.5), x, Add(Erf(OneOf(Div(x, C(√2)), Mul(x, C(1/√2)))), C(1)))
//
// Every Add and Mul also matches with its operands swapped and Prod matches every association,
// so one rule covers TorchScript's Mul(Mul(x, 1+erf), 0.5), dynamo's Mul(x, Mul(0.5, 1+erf)),
// onnxruntime's Mul(Mul(x, 0.5), 1+erf) and the rest. Constants match within a relative 1e-3
// (pattern.ConstRelTol: float16 spellings such as 1.4140625 for √2 are accepted) and are read from initializers, Constant nodes
// (value, value_float, value_floats, value_int(s)) and small scalar subgraphs such as
// Sqrt(CastLike(Div(2, π), x)), which are folded in float64.
//
// Rules and the kind they report:
//
//	relu                Relu                                                   relu
//	gelu_op             Gelu (opset 20), approximate="none"                    gelu
//	gelu_tanh_op        Gelu (opset 20), approximate="tanh"                    gelu_tanh
//	gelu_erf            0.5·x·(1 + erf(x/√2))                                  gelu
//	gelu_tanh           0.5·x·(1 + tanh(√(2/π)(x + 0.044715·x³))), Pow or x·x·x gelu_tanh
//	gelu_tanh_megatron  0.5·x·(1 + tanh(0.79788456·x·(1 + 0.044715·x·x)))      gelu_tanh
//	gelu_tanh_folded    0.5·x·(1 + tanh(0.797885·x + 0.035677·x³))             gelu_tanh
//	quick_gelu          x·σ(1.702·x)                                           quick_gelu
//	ms_gelu             com.microsoft Gelu                                     gelu
//	ms_fast_gelu        com.microsoft FastGelu(x[, bias])                      gelu_tanh
//	ms_bias_gelu        com.microsoft BiasGelu(x, bias)                        gelu
//	ms_quick_gelu       com.microsoft QuickGelu(x; alpha)                      quick_gelu
//
// QuickGelu gets its own kind, quick_gelu, because it is x·σ(αx), not GELU, and a replacement
// must be fitted to the function the graph really computes (Site.Target); --match gelu selects it
// together with gelu and gelu_tanh. HardSwish, HardSigmoid, Clip, Sigmoid and Swish x·σ(x) are
// not ReLU or GELU and are never matched. For FastGelu and BiasGelu the bias (Site.Bias) becomes
// an Add in front of the replacement unless the replacement absorbs it (below).
//
// A site whose intermediate values are read outside it (by another node, inside an If/Loop body,
// or as a graph output) is reported with Site.Blocked set and is never replaced. Trace explains,
// for each Erf or Tanh left outside every site, how far the best GELU rule got and why it stopped.
// Only the main graph is rewritten, not subgraphs.
//
// # Replacing sites
//
// Apply works on a clone. Each replaced site becomes one node named
// "<output node>/actswap_<family>" that reads x and its parameter initializers
// ("<node>/bounds", …) and writes the site's original output value, so the rest of the graph is
// untouched; it takes the place of the removed output node, which keeps the graph topologically
// sorted. Constants and initializers that only the removed nodes used go too (nothing that was
// unused before), as do value_info entries of removed values. The model gains the ai.actswap
// opset import and one model-local function per family (onnxops.AttachFunctions) so other
// runtimes can run it; ir_version rises only as far as the functions need (8 for model-local
// functions, 9 because the bodies declare attribute defaults) and is never lowered. metadata_props keep what was
// there and gain "actswap.version" and "actswap.rewrite", a JSON list with one record per run
// (family, replaced nodes with kind and pattern, skipped nodes with reasons).
//
// # Absorbing a bias
//
// A constant bias added in front of a site (an Add whose other input is an initializer varying
// along at most one axis, read only by the site; FastGelu/BiasGelu's bias) is folded into the new
// node by default (bias.go, Options.KeepBias turns it off): onnxops.ShiftInput moves PWLU's
// bounds by −b_c and ungated Zorro's in_shift by in_scale·b_c, per channel along the bias's axis,
// and the Add goes. CRReLU and gated Zorro cannot absorb a shift; Replacement.BiasKept says why a
// bias stays. The metadata records the absorbed values (ReplacedNode.Unshift, Absorb).
//
// # Default parameters
//
// Parameters come from Options.Params, the seam through which calibration supplies fitted
// values. Without it DefaultParams assumes pre-activations distributed like N(0, 1):
//
//	ReLU → PWLU    N=16 on [−4, 4] (0 is a knot), heights ReLU(B_i), K_L=0, K_R=1: exact.
//	ReLU → CRReLU  ε = 0: exact.
//	ReLU → Zorro   gated Sigmoid-Zorro x·Z(10⁴·x + ½; a=8, b=2): a smoothed step times x;
//	               max error 1/(16·10⁴) ≈ 6.3e-6 (within 5e-5 of 0), below OPS.md's 1e-5 bound.
//	GELU → PWLU    N=16 on [−3, 3] (μ±3σ), heights and slopes by weighted least squares on N(0,1)
//	               against the site's own target (erf, tanh or QuickGelu): wRMSE 0.0028,
//	               max error 0.0094 on [−4, 4], K_L ≈ −0.004, K_R ≈ 1.004.
//	GELU → CRReLU  ε = 0, i.e. ReLU: for inputs symmetric about 0 no ε does better
//	               (activations.md §4.2); wRMSE 0.127, max error 0.170.
//	GELU → Zorro   gated x·Z(0.31357·x + ½; a=10⁴, b=2e-3), fitted offline to exact GELU on N(0,1)
//	               with out_scale 1, out_shift 0 (so y → x and y → 0 in the tails, as GELU): the fit
//	               drives a → ∞, removing the humps, so the best setting is in effect
//	               x·clip(0.31357·x + ½, 0, 1); wRMSE 0.0283, max error 0.088 on [−4, 4]
//	               (TestGELUZorroDefaultIsFitted re-runs the fit). Zorro is a poor GELU surrogate
//	               (activations.md §1.11); prefer PWLU or calibrate.
package rewrite
