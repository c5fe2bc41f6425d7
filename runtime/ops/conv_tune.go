package ops

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/workers"
	"github.com/actswap/actswap/tensor"
)

// Per-core tuning of the convolution lowering. Where several lowerings can run a 2-D
// convolution — the gather product, the other GEMM lowering (indirect, phased or packed) and,
// for shallow windows, the direct kernel — which is faster depends on the core — its vector
// width, FMA pipes, cache sizes — as much as on the shape: gatherPays encodes what was measured
// on one machine. So the first Run of a shape worth it times the candidates on its real inputs,
// a few times each, keeps the fastest (the minimum of each candidate's times: noise from other
// work only adds time) and remembers it for the process, that is for this CPU, so every later
// kernel of the same shape (another session of the same model, a server's reloads) takes it
// without timing again. The candidates run on one thread and are timed in that thread's CPU
// time where the platform has the clock: on a loaded machine a candidate's wall time counts
// the time its thread waited for a CPU, and three rounds of a millisecond each were not enough
// to see past it (ResNet-18's stem kept a lowering 1.5× slower at load 8 on 2 cores).

// tunedLowerings maps a convolution's tuneKey to the convLowering timed fastest for it. It is a
// memo of measurements, filled once per distinct shape, not a switch: what it holds changes no
// result beyond float32 rounding, only which loop computes it.
var tunedLowerings sync.Map

// tuneMinFlops is the smallest convolution timed: below it a wrong guess costs less than the
// timing, and the timing is mostly noise.
const tuneMinFlops = 16e6

// tuneRounds is how many times each candidate runs while tuning.
const tuneRounds = 3

// tunable reports whether the convolution has lowerings to choose from by timing: the direct
// kernel at any size (stems and first layers, where the choice is most of the layer's time), or
// the gather product and the other lowering where it is large enough to time.
func (s *convShape) tunable() bool {
	return s.directCandidate() || s.gatherTunable()
}

// gatherTunable reports whether both the gather product and the other lowering apply and one
// image's convolution is large enough to time. One image's, not the batch's: whether a shape is
// timed must not depend on the batch size, or a batch run as parts of its rows (one per thread)
// would take another lowering than the whole batch on one thread, and other bits.
func (s *convShape) gatherTunable() bool {
	if len(s.in) != 2 || !gemm.GatherFast() || s.mg()%gemm.GatherWidth(s.mg()) != 0 {
		return false
	}
	flops := 2 * float64(s.m) * float64(s.outSize) * float64(s.cg()*s.kSize)
	return flops >= tuneMinFlops
}

// tuneCandidates lists the lowerings tuneLowering times for s: the gather product and the other
// lowering where both apply (else the one gatherPays picks), the direct kernel where it runs in
// assembly, and the Winograd lowering where its transforms do.
func tuneCandidates(s *convShape) []convLowering {
	candidates := []convLowering{{timed: true}}
	if s.gatherTunable() {
		candidates = []convLowering{{timed: true, noGather: true}, {timed: true, forceGather: true}}
	}
	if s.directCandidate() {
		candidates = append(candidates, convLowering{timed: true, direct: true})
	}
	if s.winogradCandidate() {
		candidates = append(candidates, convLowering{timed: true, winograd: true})
	}
	return candidates
}

// tuneKey names what decides the lowerings' speed: the image and weight shapes, the window
// geometry and whether the weights are packed once. Not the batch size: the lowerings compute
// each image alike whatever the batch, and a batch split into parts of its rows (one per thread)
// must take the lowering the whole batch takes on one thread, or its sums round differently
// (TestThreadsGiveIdenticalOutputs). Not the fused epilogue: it costs about the same in every
// lowering, and with it in the key a convolution and the same convolution with a fused
// activation could be timed to different lowerings, whose sums round differently — fusing an
// activation would change the convolution's bits (TestConvUnaryActivationFusion, which failed
// so in CI).
func (k *convKernel) tuneKey(s *convShape) string {
	return fmt.Sprint(s.xShape[1:], s.wShape, s.group, s.strides, s.dilations, s.padBegin, s.padEnd, k.constW != nil)
}

// tuneLowering times the candidate lowerings (tuneCandidates) on this call's operands (writing
// out each time, on one thread), remembers the fastest for s's shape and returns its geometry,
// which the kernel keeps for its later runs.
func (k *convKernel) tuneLowering(x, w *tensor.Tensor, s *convShape, xv, wv, bias, residual, out []float32) (*convShape, error) {
	lowerings := tuneCandidates(s)
	candidates := make([]*convShape, len(lowerings))
	best := make([]time.Duration, len(lowerings))
	for i, lowering := range lowerings {
		c, err := k.newShape(x, w, lowering)
		if err != nil {
			return nil, err
		}
		candidates[i] = c
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for round := 0; round < tuneRounds; round++ {
		for i, c := range candidates {
			start := tuneClock()
			if err := k.convGEMM(oneThread, c, xv, wv, bias, residual, nil, out); err != nil {
				return nil, err
			}
			if d := tuneClock() - start; round == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	var fastest int
	for i := range best {
		if best[i] < best[fastest] {
			fastest = i
		}
	}
	fastest, err := rememberLowering(s.tuneKey, lowerings, fastest)
	if err != nil {
		return nil, err
	}
	chosen := candidates[fastest]
	k.last.put(x.Shape, w.Shape, chosen)
	return chosen, nil
}

// rememberLowering stores lowerings[fastest] as the lowering of the shape key and returns the
// index of the one every kernel of that shape runs: the first stored. Kernels of the same shape
// may time it at once (the parts of a batch split by rows run side by side), and each must take
// the same lowering, or two runs of the shape would differ in bits.
func rememberLowering(key string, lowerings []convLowering, fastest int) (int, error) {
	stored, loaded := tunedLowerings.LoadOrStore(key, lowerings[fastest])
	if !loaded {
		return fastest, nil
	}
	i := slices.Index(lowerings, stored.(convLowering))
	if i < 0 {
		return 0, fmt.Errorf("Conv: lowering %+v remembered for %s is not a candidate", stored, key)
	}
	return i, nil
}

// tuneClock is the clock tuneLowering reads: the calling thread's CPU time, or wall time where
// the platform has no thread clock.
func tuneClock() time.Duration {
	if d, ok := workers.ThreadCPU(); ok {
		return d
	}
	return time.Duration(time.Now().UnixNano())
}
