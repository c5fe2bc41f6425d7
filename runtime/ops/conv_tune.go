package ops

import (
	"fmt"
	"sync"
	"time"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/tensor"
)

// Per-core tuning of the convolution lowering. Where both the gather product and the other
// lowering (the indirect, phased or packed GEMM) can run a 2-D convolution, which is faster
// depends on the core — its vector width, FMA pipes, cache sizes — as much as on the shape:
// gatherPays encodes what was measured on one machine. So the first Run of a large enough
// shape times both on its real inputs, a few times each, keeps the faster (the minimum of each
// candidate's times: noise from other work only adds time) and remembers it for the process,
// that is for this CPU, so every later kernel of the same shape (another session of the same
// model, a server's reloads) takes it without timing again.

// tunedLowerings maps a convolution's tuneKey to the lowering timed fastest for it (true: the
// gather product). It is a memo of measurements, filled once per distinct shape, not a switch:
// what it holds changes no result beyond float32 rounding, only which loop computes it.
var tunedLowerings sync.Map

// tuneMinFlops is the smallest convolution timed: below it a wrong guess costs less than the
// timing, and the timing is mostly noise.
const tuneMinFlops = 16e6

// tuneRounds is how many times each candidate runs while tuning.
const tuneRounds = 3

// tunable reports whether both lowerings apply and the convolution is large enough to time.
func (s *convShape) tunable() bool {
	if len(s.in) != 2 || !gemm.GatherFast() || s.mg()%gemm.GatherWidth(s.mg()) != 0 {
		return false
	}
	flops := 2 * float64(s.batch) * float64(s.m) * float64(s.outSize) * float64(s.cg()*s.kSize)
	return flops >= tuneMinFlops
}

// tuneKey names everything that decides the lowerings' speed: the shapes, the window geometry
// and the fused epilogue.
func (k *convKernel) tuneKey(s *convShape) string {
	return fmt.Sprint(s.xShape, s.wShape, s.group, s.strides, s.dilations, s.padBegin, s.padEnd, k.act != nil, k.residual, k.constW != nil)
}

// tunedLowering is the lowering that forces a timed choice.
func tunedLowering(gather bool) convLowering {
	return convLowering{forceGather: gather, noGather: !gather}
}

// tuneLowering times the gather and the other lowering on this call's operands (writing out
// each time), remembers the faster for s's shape and returns its geometry, which the kernel
// keeps for its later runs.
func (k *convKernel) tuneLowering(ctx *Context, x, w *tensor.Tensor, s *convShape, xv, wv, bias, residual, out []float32) (*convShape, error) {
	var candidates [2]*convShape
	var best [2]time.Duration
	for i, gather := range []bool{false, true} {
		c, err := k.newShape(x, w, tunedLowering(gather))
		if err != nil {
			return nil, err
		}
		candidates[i] = c
	}
	for round := 0; round < tuneRounds; round++ {
		for i, c := range candidates {
			start := time.Now()
			if err := k.convGEMM(ctx, c, xv, wv, bias, residual, out); err != nil {
				return nil, err
			}
			if d := time.Since(start); round == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	gather := best[1] < best[0]
	chosen := candidates[0]
	if gather {
		chosen = candidates[1]
	}
	tunedLowerings.Store(s.tuneKey, gather)
	k.last.put(x.Shape, w.Shape, chosen)
	return chosen, nil
}
