package ops

import (
	"github.com/actswap/actswap/internal/gemm"
)

// onePixel reports whether every image is a single pixel through a 1×…×1 kernel with no
// groups — the squeeze-and-excitation convolutions after a global pooling, or a classifier
// written as a convolution. The images then form one matrix X (batch × c), and the whole call
// is the product X·Wᵀ with Wᵀ as the GEMM's packed right operand (convOnePixel). The general
// lowering multiplies W by one image column at a time: a product with a single column, which
// fills one lane of every 8- or 16-wide tile (576→144 at 5 cpu-GFLOP/s on Zen 5 against ~60
// for the product of the whole batch, BenchmarkConvMobileNetV3).
func (s *convShape) onePixel() bool {
	return s.group == 1 && s.outSize == 1 && s.isPointwise()
}

// pixelWeights returns Wᵀ (c × m) packed as a GEMM right operand (see packedOnce).
func (k *convKernel) pixelWeights(s *convShape, wv []float32) (*gemm.PackedB, error) {
	return packedOnce(&k.pixelW, k.constW, wv, func(p *gemm.PackedB) bool {
		return p.K() == s.c && p.N() == s.m
	}, func(wv []float32) (*gemm.PackedB, error) {
		return gemm.PackB(true, s.c, s.m, wv, s.c)
	})
}

// convOnePixel is the convolution of one-pixel images (onePixel): Y (batch × m) = X (batch × c)
// · Wᵀ, the bias added per output channel (a column of Y), then the residual and activation.
func (k *convKernel) convOnePixel(ctx *Context, s *convShape, xv, wv, bias, residual, out []float32) error {
	pb, err := k.pixelWeights(s, wv)
	if err != nil {
		return err
	}
	var ep *gemm.Epilogue
	if bias != nil || residual != nil || k.act != nil {
		ep = &gemm.Epilogue{Bias: bias, Elementwise: k.act}
		if residual != nil {
			ep.Residual, ep.ResidualLd = residual, s.m
		}
	}
	return gemm.SgemmPackedB(false, s.batch, 1, xv, s.c, pb, 0, out, s.m, ctx.Threads, ep)
}
