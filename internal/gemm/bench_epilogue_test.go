package gemm_test

import (
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/actkernel"
	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/onnxops"
)

// BenchmarkViTFC1Epilogues is ViT-Tiny's fc1 (197×768×192, weights packed ahead) with the
// epilogues that vit_tiny and its PWLU rewrite fuse into it: none, the bias, the bias and erf
// GELU (the original), and the shifted per-channel PWLU that absorbed the bias (the rewrite).
// What the epilogue costs beside the product is what the rewrite can save.
func BenchmarkViTFC1Epilogues(b *testing.B) {
	const m, n, k = 197, 768, 192
	r := rand.New(rand.NewPCG(1, 2))
	x, w, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	bias := make([]float32, n)
	for _, v := range [][]float32{x, w, bias} {
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
	}
	pb, err := gemm.PackB(false, k, n, w, n)
	if err != nil {
		b.Fatal(err)
	}
	chans := make([]onnxops.Params, n)
	for ch := range chans {
		heights := make([]float64, 17)
		for i := range heights {
			t := -3 + 6*float64(i)/16
			heights[i] = max(t, 0) + 0.1*t*t
		}
		chans[ch] = onnxops.PWLUParams{BL: -3 + float64(bias[ch]), BR: 3 + float64(bias[ch]), Heights: heights, KL: 0.01, KR: 1}
	}
	ts, err := onnxops.ParamTensors(onnxops.FamilyPWLU, chans)
	if err != nil {
		b.Fatal(err)
	}
	pwlu, err := actkernel.New(onnxops.FamilyPWLU, false, ts)
	if err != nil {
		b.Fatal(err)
	}
	gelu := func(dst []float32) { vecmath.GELU(dst, dst) }
	for _, bc := range []struct {
		name string
		ep   *gemm.Epilogue
	}{
		{"none", nil},
		{"bias", &gemm.Epilogue{Bias: bias}},
		{"bias+gelu", &gemm.Epilogue{Bias: bias, Elementwise: gelu}},
		{"shifted-pwlu", &gemm.Epilogue{Columns: pwlu.Columns()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			start := testutil.ProcessCPU()
			for b.Loop() {
				if err := gemm.SgemmPackedB(false, m, 1, x, k, pb, 0, c, n, 1, bc.ep); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, 2*float64(m*n*k))
		})
	}
}
