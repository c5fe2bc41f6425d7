package ops

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
	"github.com/actswap/actswap/tensor"
)

func init() {
	RegisterRange(DefaultDomain, "Conv", newConv, 1, 11, 22)
}

// windowGeom is the sliding-window geometry shared by Conv, ConvTranspose and the pools:
// auto_pad, kernel_shape, strides, dilations and pads (all begins, then all ends).
type windowGeom struct {
	autoPad   string
	kernel    []int
	strides   []int
	dilations []int
	pads      []int
}

func readWindowGeom(n *Node) (windowGeom, error) {
	g := windowGeom{
		autoPad:   n.AttrString("auto_pad", "NOTSET"),
		kernel:    int64sToInts(n.AttrInts("kernel_shape", nil)),
		strides:   int64sToInts(n.AttrInts("strides", nil)),
		dilations: int64sToInts(n.AttrInts("dilations", nil)),
		pads:      int64sToInts(n.AttrInts("pads", nil)),
	}
	switch g.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return g, fmt.Errorf("unknown auto_pad %q", g.autoPad)
	}
	for _, v := range append(slices.Clone(g.strides), g.dilations...) {
		if v < 1 {
			return g, fmt.Errorf("strides and dilations must be ≥ 1, got strides %v dilations %v", g.strides, g.dilations)
		}
	}
	for _, v := range g.pads {
		if v < 0 {
			return g, fmt.Errorf("pads must be ≥ 0, got %v", g.pads)
		}
	}
	return g, nil
}

func int64sToInts(v []int64) []int {
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// spatial fills defaults for rank spatial dims and checks the attribute lengths; kernel is the
// kernel extent (from the weights for convolutions, from kernel_shape for pools).
func (g windowGeom) spatial(rank int, kernel []int) (strides, dilations, pads []int, err error) {
	if len(kernel) != rank {
		return nil, nil, nil, fmt.Errorf("kernel has %d dims, input has %d spatial dims", len(kernel), rank)
	}
	ones := func(v []int, name string, want int) ([]int, error) {
		if len(v) == 0 {
			v = make([]int, want)
			if name != "pads" {
				for i := range v {
					v[i] = 1
				}
			}
			return v, nil
		}
		if len(v) != want {
			return nil, fmt.Errorf("%s has %d values, want %d", name, len(v), want)
		}
		return v, nil
	}
	if strides, err = ones(g.strides, "strides", rank); err != nil {
		return
	}
	if dilations, err = ones(g.dilations, "dilations", rank); err != nil {
		return
	}
	pads, err = ones(g.pads, "pads", 2*rank)
	return
}

// forward computes output extents and begin/end pads of a strided window over in. With
// ceilMode (pools) the last partial window counts unless it would start inside the end padding.
func (g windowGeom) forward(in, kernel []int, ceilMode bool) (out, padBegin, padEnd []int, err error) {
	rank := len(in)
	strides, dilations, pads, err := g.spatial(rank, kernel)
	if err != nil {
		return nil, nil, nil, err
	}
	out, padBegin, padEnd = make([]int, rank), make([]int, rank), make([]int, rank)
	for i := range in {
		ext := dilations[i]*(kernel[i]-1) + 1
		switch g.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (in[i] + strides[i] - 1) / strides[i]
			total := max(0, (out[i]-1)*strides[i]+ext-in[i])
			padBegin[i] = total / 2
			if g.autoPad == "SAME_LOWER" {
				padBegin[i] = total - total/2
			}
			padEnd[i] = total - padBegin[i]
		case "VALID":
			out[i] = (in[i]-ext)/strides[i] + 1
			if in[i] < ext {
				out[i] = 0
			}
		default:
			padBegin[i], padEnd[i] = pads[i], pads[i+rank]
			span := in[i] + pads[i] + pads[i+rank] - ext
			if span < 0 {
				out[i] = 0
				break
			}
			out[i] = span/strides[i] + 1
			if ceilMode && span%strides[i] != 0 {
				out[i]++
				if (out[i]-1)*strides[i] >= in[i]+pads[i] {
					out[i]--
				}
			}
		}
		if out[i] < 1 {
			return nil, nil, nil, fmt.Errorf("window %v (dilations %v) does not fit input %v with pads %v", kernel, dilations, in, pads)
		}
	}
	return out, padBegin, padEnd, nil
}

// ActivationFuser is implemented by kernels that can apply a following elementwise activation
// (Relu, the ai.actswap ops) while their output is still in cache: Conv, Gemm and MatMul. A
// fusion pass calls FuseActivation at session creation, before the first Run, and drops the
// activation node when it returns true. act transforms float32 values in place; it is called
// concurrently on disjoint slices.
type ActivationFuser interface {
	FuseActivation(act func(dst []float32)) bool
}

// ResidualFuser is implemented by Conv: after FuseResidual the kernel takes one more input
// (position 3, after the optional bias), a tensor of exactly the output's shape that is added
// in the epilogue before any fused activation — ResNet's Conv → Add(shortcut) → Relu in one pass.
type ResidualFuser interface {
	FuseResidual() bool
}

// ErrResidualShape is returned (wrapped) by a Conv with a fused residual when input 3 does not
// have the output's shape — an Add that broadcasts. It is checked before any work is done, so a
// caller can fall back to the unfused Conv and Add.
var ErrResidualShape = errors.New("the fused residual input must have the output's shape")

// ChannelScaleFuser is implemented by Conv: after FuseChannelScale the kernel takes one more
// input (position 4, after the residual's place) and convolves the product of inputs 0 and 4,
// one of them the image and the other one value per image and channel ([N or 1, C, 1, …]) — a
// squeeze-and-excitation block's x·σ(·) read by the 1×1 projection after it. The product is
// never formed where the convolution is a matrix product over channels: the weights' columns
// are scaled instead, M·C multiplications in place of C·H·W.
type ChannelScaleFuser interface {
	FuseChannelScale() bool
}

// ErrChannelScaleShape is returned (wrapped) by a Conv with a fused channel scale when inputs
// 0 and 4 are not an image and its per-channel scales (a Mul that broadcasts otherwise). It is
// checked before any work is done, so a caller can fall back to the unfused Mul and Conv.
var ErrChannelScaleShape = errors.New("the fused channel scale must be an image and one value per channel of each image")

// epilogue returns the GEMM epilogue of one (image, group) block: a per-row bias, a residual
// laid out like the block's rows of outSize values, and an activation, each optional.
func epilogue(bias, residual []float32, outSize int, act func(dst []float32), actBiased func(dst []float32, bias float32)) *gemm.Epilogue {
	if bias == nil && residual == nil && act == nil {
		return nil
	}
	// Elementwise is called once over several rows where C's rows are contiguous. The GEMM
	// copies the epilogue, so this one stays on the caller's stack.
	ep := &gemm.Epilogue{Bias: bias, BiasPerRow: true, Elementwise: act, BiasedElementwise: actBiased}
	if residual != nil {
		ep.Residual, ep.ResidualLd = residual, outSize
	}
	return ep
}

// convKernel is the N-d grouped convolution. Float32 weights known at session creation are
// packed once per group.
type convKernel struct {
	geom      windowGeom
	group     int
	packedW   []*gemm.PackedA
	constW    *tensor.Tensor                 // W when constant and float32
	gatherW   atomic.Pointer[gatherPacked]   // W transposed for the gather lowering, on first use
	blockedW  atomic.Pointer[[]float32]      // W interleaved for convDepthwiseBlocked, on first use
	pixelW    atomic.Pointer[gemm.PackedB]   // Wᵀ for one-pixel images (convOnePixel), on first use
	directW   atomic.Pointer[[]float32]      // W in 16-channel blocks for convDirect, on first use
	winogradW atomic.Pointer[winogradPacked] // W transformed for convWinograd, on first use
	act       func(dst []float32)            // fused activation, nil for none
	// actBiased is act's form that adds a channel's bias first, in the same pass (nil for none).
	actBiased func(dst []float32, bias float32)
	relu      bool         // act is ReLU (FuseRelu), which some lowerings apply themselves
	residual  bool         // input 3 is added to the output (FuseResidual)
	lowering  convLowering // the zero value: each shape takes the fastest lowering
	// channelScale: the image is the product of inputs 0 and 4, one of them per-channel
	// scales (FuseChannelScale).
	channelScale bool
	// last is the geometry of the most recent (X, W) shapes, immutable once stored so that
	// concurrent Runs can share it; shapes rarely change between runs.
	last shapeMemo[*convShape]
}

// FuseActivation makes the kernel apply act to its output.
func (k *convKernel) FuseActivation(act func(dst []float32)) bool {
	k.act, k.actBiased, k.relu = act, nil, false
	return true
}

// BiasedActivationFuser is implemented by kernels that, after FuseActivation, also take the
// activation's form that adds a per-channel bias first (ops.BiasedElementwiseFloat32), so that
// bias and activation are one pass over the output instead of two.
type BiasedActivationFuser interface {
	FuseBiasedActivation(f func(dst []float32, bias float32)) bool
}

// FuseBiasedActivation gives the kernel the biased form of the activation FuseActivation gave it.
func (k *convKernel) FuseBiasedActivation(f func(dst []float32, bias float32)) bool {
	if k.act == nil || k.relu {
		return false
	}
	k.actBiased = f
	return true
}

// ReluFuser is implemented by kernels that apply a following Relu more cheaply than an arbitrary
// activation (Conv: the gather lowering's transposition into planes applies it, with the
// residual, as it stores each value). FuseRelu is FuseActivation with Relu.
type ReluFuser interface {
	FuseRelu() bool
}

// FuseRelu makes the kernel apply Relu to its output.
func (k *convKernel) FuseRelu() bool {
	k.act, k.actBiased, k.relu = ReluInPlace, reluBiasInPlace, true
	return true
}

// FusesBiasedActivation reports whether FuseBiasedActivation gave the kernel the biased form of
// its activation.
func (k *convKernel) FusesBiasedActivation() bool { return k.actBiased != nil }

// FusesRelu reports whether FuseRelu, rather than FuseActivation, gave the kernel its activation.
func (k *convKernel) FusesRelu() bool { return k.relu }

// FuseResidual makes the kernel add input 3 to its output, before the fused activation.
func (k *convKernel) FuseResidual() bool {
	k.residual = true
	return true
}

// FuseChannelScale makes the kernel convolve the product of inputs 0 and 4 (ChannelScaleFuser).
// It refuses grouped convolutions and weights that are not constant 1×…×1 kernels: the scaled
// weights pay only where the convolution is a product over channels.
func (k *convKernel) FuseChannelScale() bool {
	if k.group != 1 || k.constW == nil {
		return false
	}
	for _, d := range k.constW.Shape[2:] {
		if d != 1 {
			return false
		}
	}
	k.channelScale = true
	return true
}

// channelOperands returns which of a and b is the image that W convolves and which its scales
// (float32, the image's rank, W's input channels, 1 along every spatial axis, one image or as
// many as the image), with the scales' values; ok is false where neither order fits.
func channelOperands(a, b, w *tensor.Tensor) (x *tensor.Tensor, scale []float32, ok bool) {
	fits := func(x, s *tensor.Tensor) bool {
		if x.DType != tensor.Float32 || s.DType != tensor.Float32 || x.Rank() != w.Rank() || s.Rank() != w.Rank() ||
			x.Shape[1] != w.Shape[1] || s.Shape[1] != w.Shape[1] || (s.Shape[0] != x.Shape[0] && s.Shape[0] != 1) {
			return false
		}
		for _, d := range s.Shape[2:] {
			if d != 1 {
				return false
			}
		}
		return true
	}
	switch {
	case fits(a, b):
		return a, b.F32(), true
	case fits(b, a):
		return b, a.F32(), true
	}
	return nil, nil, false
}

// scaledImage returns, in scratch the caller puts back (convScratch), the images x of s with
// each channel's plane multiplied by its scale: the Mul that FuseChannelScale took in, for the
// lowerings that read the image itself.
func scaledImage(x, scale []float32, s *convShape) *[]float32 {
	buf := getScratch(len(x))
	dst, planeSize := *buf, s.inSize
	for p := 0; p < s.batch*s.c; p++ {
		vecmath.ArithScalar(vecmath.OpMul, dst[p*planeSize:(p+1)*planeSize], x[p*planeSize:(p+1)*planeSize], scale[p%len(scale)])
	}
	return buf
}

// scaledPacking is a scratch for the weights with their columns scaled (gemm.ScaleColumnsInto).
type scaledPacking struct {
	w    gemm.PackedA
	wide []float32
}

var scaledPackings = sync.Pool{New: func() any { return new(scaledPacking) }}

func newConv(n *Node) (Kernel, error) {
	geom, err := readWindowGeom(n)
	if err != nil {
		return nil, err
	}
	k := &convKernel{geom: geom, group: int(n.AttrInt("group", 1))}
	if k.group < 1 {
		return nil, fmt.Errorf("group must be ≥ 1, got %d", k.group)
	}
	if n.NumInputs() < 2 {
		return nil, fmt.Errorf("Conv needs inputs X and W, has %d", n.NumInputs())
	}
	if w := n.Const[1]; w != nil && w.DType == tensor.Float32 && w.Rank() >= 3 && w.Shape[0]%k.group == 0 {
		k.constW = w
		mg := w.Shape[0] / k.group
		kg := w.Len() / w.Shape[0]
		for g := 0; g < k.group; g++ {
			pa, err := gemm.PackA(false, mg, kg, w.F32()[g*mg*kg:(g+1)*mg*kg], kg)
			if err != nil {
				return nil, fmt.Errorf("packing W: %w", err)
			}
			k.packedW = append(k.packedW, pa)
		}
	}
	return k, nil
}

// convScratch recycles im2col buffers across calls (and across concurrent Runs).
var convScratch = sync.Pool{New: func() any { return new([]float32) }}

func getScratch(n int) *[]float32 {
	p := convScratch.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// convShape is the geometry of one convolution call.
type convShape struct {
	batch, c, m, group int
	in, kernel, out    []int
	strides, dilations []int
	padBegin, padEnd   []int
	inSize, outSize    int
	kSize              int   // product of kernel dims
	xShape, wShape     []int // the shapes this geometry was computed for (cachedShape)
	outShape           []int
	gridOffsets        []int // convIndirect2D's row offsets (stride-1 2-D), set by cachedShape
	// gather selects convGather2D; gatherPlan is its product's offsets and row classes (which
	// group the rows by the taps that do not fall on padding: gatherClasses), over gatherFold
	// images.
	gather     bool
	gatherPlan *gemm.GatherPlan
	gatherFold int // images per gather product
	// gatherInPlace: the product reads the unpadded images in place, its row classes skipping
	// every tap on padding (gatherClasses).
	gatherInPlace bool
	tapBlock      int // input channels per block of the gather product's taps (gatherTap)
	gatherChunk   int // pixels per product when one image runs in chunks
	// tuneKey is set where the gather and the other lowering should be timed on this machine
	// before one is kept (tuneLowering); it names the shape in tunedLowerings.
	tuneKey string
	// A 2-D depthwise convolution has one of these: blocked when its channels come in 16s.
	depthwise *depthwiseLayout  // convDepthwise2D's tap offsets and grids
	blocked   *blockedDepthwise // convDepthwiseBlocked's layout
	phased    *phaseLayout      // the strided 2-D convolutions' phased-image layout
	direct    *directLayout     // convDirect's layout, where the direct lowering was chosen
	wino      *winogradLayout   // convWinograd's layout, where the Winograd lowering was chosen
	constW    bool              // W is constant: transformed once, not on every run
}

// cachedShape returns the checked geometry of a convolution of x by w, reusing the last one
// when their shapes are unchanged.
func (k *convKernel) cachedShape(x, w *tensor.Tensor) (*convShape, error) {
	return k.last.get(x.Shape, w.Shape, func() (*convShape, error) { return k.tunedShape(x, w) })
}

// tunedShape is newShape with the lowering this process timed for the shape, if it did.
func (k *convKernel) tunedShape(x, w *tensor.Tensor) (*convShape, error) {
	s, err := k.newShape(x, w, k.lowering)
	if err != nil {
		return nil, err
	}
	if s.tuneKey != "" {
		if lowering, ok := tunedLowerings.Load(s.tuneKey); ok {
			// Timed before, by this or another kernel of the same shape in this process.
			if s, err = k.newShape(x, w, lowering.(convLowering)); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// newShape computes the geometry of a convolution of x by w with the given lowering choices.
func (k *convKernel) newShape(x, w *tensor.Tensor, lowering convLowering) (*convShape, error) {
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("X %v and W %v must both be N-d images (rank ≥ 3)", x.Shape, w.Shape)
	}
	xShape, wShape := slices.Clone(x.Shape), slices.Clone(w.Shape)
	s := &convShape{batch: xShape[0], c: xShape[1], m: wShape[0], group: k.group,
		in: xShape[2:], kernel: wShape[2:], xShape: xShape, wShape: wShape}
	if len(k.geom.kernel) > 0 && !slices.Equal(k.geom.kernel, s.kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match W %v", k.geom.kernel, w.Shape)
	}
	if s.c != wShape[1]*k.group || s.m%k.group != 0 {
		return nil, fmt.Errorf("X %v, W %v and group %d do not agree", x.Shape, w.Shape, k.group)
	}
	var err error
	if s.out, s.padBegin, s.padEnd, err = k.geom.forward(s.in, s.kernel, false); err != nil {
		return nil, err
	}
	s.strides, s.dilations, _, _ = k.geom.spatial(len(s.in), s.kernel)
	s.inSize, s.outSize, s.kSize = tensor.NumElements(s.in), tensor.NumElements(s.out), tensor.NumElements(s.kernel)
	s.outShape = append([]int{s.batch, s.m}, s.out...)
	s.constW = k.constW != nil
	if lowering.direct && s.directFits() {
		s.direct = newDirectLayout(s)
	} else if lowering.winograd && s.winogradFits() {
		s.wino = newWinogradLayout(s, lowering)
	} else if len(s.in) == 2 && s.cg() == 1 && s.mg() == 1 {
		if !lowering.planeDepthwise {
			s.blocked = newBlockedDepthwise(s)
		}
		if s.blocked == nil { // the plane-at-a-time layout only where the blocked one does not apply
			s.depthwise = newDepthwiseLayout(s)
		}
	} else if s.gather = s.gatherPays(lowering); s.gather {
		if err := s.planGather(lowering); err != nil {
			return nil, err
		}
	} else if s.isPointwise() {
		s.gridOffsets = make([]int, s.cg())
		for c := range s.gridOffsets {
			s.gridOffsets[c] = c * s.inSize
		}
	} else if len(s.in) == 2 && s.strides[0] == 1 && s.strides[1] == 1 {
		s.gridOffsets = make([]int, s.cg()*s.kSize)
		s.fillGridOffsets(s.gridOffsets)
	} else if len(s.in) == 2 {
		s.phased = newPhaseLayout(s)
	}
	if s.depthwise == nil && s.blocked == nil && lowering == (convLowering{}) && s.tunable() {
		s.tuneKey = k.tuneKey(s)
	}
	return s, nil
}

func (s *convShape) cg() int { return s.c / s.group }

// planeOffsets returns the start of each of a group's input planes, the pointwise
// convolution's B rows.
func (s *convShape) planeOffsets() []int {
	return s.gridOffsets
}
func (s *convShape) mg() int { return s.m / s.group }

func (k *convKernel) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) < 2 || inputs[0] == nil || inputs[1] == nil {
		return nil, fmt.Errorf("Conv: inputs X and W are required")
	}
	x, w := inputs[0], inputs[1]
	var scale []float32 // with a fused channel scale: one value per image (or one image) and channel
	if k.channelScale {
		var ok bool
		if len(inputs) < 5 || inputs[4] == nil {
			return nil, fmt.Errorf("Conv: the fused channel scale (input 4) is missing")
		}
		if x, scale, ok = channelOperands(x, inputs[4], w); !ok {
			return nil, fmt.Errorf("Conv: %w: %v and %v", ErrChannelScaleShape, inputs[0].Shape, inputs[4].Shape)
		}
	}
	s, err := k.cachedShape(x, w)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}

	xv, err := floatInput(x, "Conv: X")
	if err != nil {
		return nil, err
	}
	var wv, bias []float32
	if k.packedW == nil || len(k.packedW) != k.group || k.packedW[0].M() != s.mg() || k.packedW[0].K() != s.cg()*s.kSize {
		if wv, err = floatInput(w, "Conv: W"); err != nil {
			return nil, err
		}
	}
	if len(inputs) > 2 && inputs[2] != nil {
		if bias, err = floatInput(inputs[2], "Conv: B"); err != nil {
			return nil, err
		}
		if len(bias) != s.m {
			return nil, fmt.Errorf("Conv: bias has %d values, want %d", len(bias), s.m)
		}
	}
	outShape := s.outShape // shared: Alloc copies the shape into the tensor it returns
	var residual []float32
	if k.residual {
		if len(inputs) < 4 || inputs[3] == nil || !tensor.SameShape(inputs[3].Shape, outShape) {
			return nil, fmt.Errorf("Conv: %w %v", ErrResidualShape, outShape)
		}
		if residual, err = floatInput(inputs[3], "Conv: residual"); err != nil {
			return nil, err
		}
	}
	out := newFloatOutputOverwrite(ctx, x.DType, outShape) // GEMMs with beta = 0, or depthwise stores
	if scale != nil && s.onePixel() {                      // FuseChannelScale took no grouped or spatial kernels
		buf := scaledImage(xv, scale, s)
		defer convScratch.Put(buf)
		xv, scale = *buf, nil
	}
	// One filter per channel in 2-D: decided with the shape (cachedShape).
	if s.blocked != nil {
		wb, scratch, err := k.blockedWeights(s, wv)
		if err == nil {
			err = convDepthwiseBlocked(ctx, s, xv, wb, bias, residual, k.act, out.v)
		}
		if scratch != nil {
			convScratch.Put(scratch)
		}
		if err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out.tensor(ctx)), nil
	}
	if s.depthwise != nil {
		if err := convDepthwise2D(ctx, s, xv, wvOrUnpacked(wv, w), bias, residual, k.act, out.v); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out.tensor(ctx)), nil
	}
	if s.onePixel() {
		if err := k.convOnePixel(ctx, s, xv, wv, bias, residual, out.v); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
		return ctx.Result(out.tensor(ctx)), nil
	}
	if s.tuneKey != "" {
		if s, err = k.tuneLowering(x, w, s, xv, wv, bias, residual, out.v); err != nil {
			return nil, fmt.Errorf("Conv: %w", err)
		}
	}
	if scale != nil && !s.scalesWeights() {
		buf := scaledImage(xv, scale, s)
		defer convScratch.Put(buf)
		xv, scale = *buf, nil
	}
	if err := k.convGEMM(ctx, s, xv, wv, bias, residual, scale, out.v); err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	return ctx.Result(out.tensor(ctx)), nil
}

// scalesWeights reports whether a fused channel scale goes into the weights (convGEMM's plain
// products over channels, where the weights are no larger than the image: M·C multiplications
// instead of C·H·W) rather than into a scaled copy of the image (every other lowering).
func (s *convShape) scalesWeights() bool {
	return s.group == 1 && s.isPointwise() && !s.gather && s.direct == nil && s.wino == nil && s.blocked == nil && s.depthwise == nil &&
		!s.onePixel() && s.m <= s.inSize
}

// convLowering overrides a convolution kernel's choice of lowering, per kernel, so tests and
// benchmarks can run the other paths on the same shapes (side by side, in parallel) without a
// package-level switch. The zero value is what sessions use.
type convLowering struct {
	noGather       bool // never the gather product
	forceGather    bool // the gather product wherever its tile fits, even where it does not pay
	packPointwise  bool // 1×1 convolutions pack their planes instead of reading them in place
	planeDepthwise bool // depthwise convolutions plane by plane, not in 16-channel blocks
	direct         bool // the direct lowering (convDirect) wherever it fits
	winograd       bool // the Winograd lowering (convWinograd) wherever it fits
	winogradTiles  int  // > 0: the Winograd lowering's tiles per chunk
	timed          bool // a candidate of tuneLowering: not timed again
	foldImages     int  // > 0: at most this many images per gather product
	chunkValues    int  // > 0: the product values per chunk of one image (gatherChunkValues)
	allTaps        bool // the gather product runs every tap, those on padding too (no gatherClasses)
	tapGrouping    int  // > 0: gatherClasses' grouping of that number (1-based), whatever its cost
	tapBlock       int  // > 0: the gather product's taps in blocks of this many channels (gatherTap)
}

// wvOrUnpacked returns the float32 weights for kernels that do not use the packed form.
func wvOrUnpacked(wv []float32, w *tensor.Tensor) []float32 {
	if wv != nil {
		return wv
	}
	v, _ := floatInput(w, "Conv: W") // W's dtype was checked when it was packed
	return v
}

// isPointwise reports whether the convolution is a plain matrix product over channels: a 1×…×1
// kernel with unit strides and no padding, so the input image is already the im2col matrix.
func (s *convShape) isPointwise() bool {
	for i := range s.kernel {
		if s.kernel[i] != 1 || s.strides[i] != 1 || s.padBegin[i] != 0 || s.out[i] != s.in[i] {
			return false
		}
	}
	return true
}

// convGEMM runs the direct lowering where it was chosen (convDirect); otherwise it lowers each (image, group) to W_g (mg × cg·kSize) · col (cg·kSize × outSize), with the
// weights packed once (at session creation when constant). The patch matrix col is never
// formed for 1×1 stride-1 kernels (it is the image), stride-1 2-D kernels (read in place, see
// convIndirect2D) or strided 2-D kernels (a phase-split image, read in place by
// convIndirectStrided2D or packed straight from it by im2colPacking); 1-D and N-d convolutions
// go through an explicit im2col buffer.
//
// scale, where not nil, holds per-channel scales of the image (one image's, or each image's:
// s.c values each) that multiply W's columns (s.scalesWeights must hold).
func (k *convKernel) convGEMM(ctx *Context, s *convShape, xv, wv, bias, residual, scale, out []float32) error {
	if s.direct != nil {
		return k.convDirect(ctx, s, xv, wv, bias, residual, out)
	}
	if s.wino != nil {
		return k.convWinograd(ctx, s, xv, wv, bias, residual, out)
	}
	cg, mg := s.cg(), s.mg()
	kg := cg * s.kSize
	packed := k.packedW
	if wv != nil {
		packed = make([]*gemm.PackedA, s.group)
		for g := range packed {
			var err error
			if packed[g], err = gemm.PackA(false, mg, kg, wv[g*mg*kg:(g+1)*mg*kg], kg); err != nil {
				return err
			}
		}
	}
	if s.gather {
		return k.convGather(ctx, s, xv, wv, bias, residual, out)
	}
	pointwise := s.isPointwise()
	buf := getScratch(0)
	defer convScratch.Put(buf)
	var col []float32
	if !pointwise && len(s.in) != 2 {
		*buf = slices.Grow((*buf)[:0], kg*s.outSize)[:kg*s.outSize]
		col = *buf
	}
	var scaled *scaledPacking
	if scale != nil {
		scaled = scaledPackings.Get().(*scaledPacking)
		defer scaledPackings.Put(scaled)
	}
	for b := 0; b < s.batch; b++ {
		if scaled != nil {
			at := b * s.c % len(scale)
			if err := packed[0].ScaleColumnsInto(&scaled.w, scale[at:at+s.c], &scaled.wide); err != nil {
				return err
			}
		}
		for g := 0; g < s.group; g++ {
			pa := packed[g]
			if scaled != nil {
				pa = &scaled.w
			}
			img := xv[(b*s.c+g*cg)*s.inSize : (b*s.c+(g+1)*cg)*s.inSize]
			dst := out[(b*s.m+g*mg)*s.outSize : (b*s.m+(g+1)*mg)*s.outSize]
			var groupBias []float32
			if bias != nil {
				groupBias = bias[g*mg : (g+1)*mg]
			}
			var groupResidual []float32
			if residual != nil {
				groupResidual = residual[(b*s.m+g*mg)*s.outSize : (b*s.m+(g+1)*mg)*s.outSize]
			}
			var err error
			switch {
			case pointwise && s.outSize >= gemm.PanelWidth && mg <= 128 && !k.lowering.packPointwise:
				// The image's channel planes are B's rows, read in place. Packing B pays for
				// itself over many output channels (measured with BenchmarkConvResNet: in place
				// wins by 30–70% at 24–64 channels and loses by up to 12% from 256).
				err = k.pointwiseInPlace(ctx, s, pa, img, dst, groupBias, groupResidual)
			case pointwise:
				ep := epilogue(groupBias, groupResidual, s.outSize, k.act, k.actBiased)
				err = gemm.SgemmPackedA(pa, false, s.outSize, 1, img, s.outSize, 0, dst, s.outSize, ctx.Threads, ep)
			case len(s.in) == 2 && s.strides[0] == 1 && s.strides[1] == 1:
				err = convIndirect2D(ctx, s, pa, img, dst, groupBias, groupResidual, k.act)
			case len(s.in) == 2 && s.stridedIndirectPays():
				err = convIndirectStrided2D(ctx, s, pa, img, dst, groupBias, groupResidual, k.act, buf)
			case len(s.in) == 2:
				ep := epilogue(groupBias, groupResidual, s.outSize, k.act, k.actBiased)
				err = sgemmIm2col(s, phaseImage2D(s, img, buf), pa, dst, ctx.Threads, ep)
			default:
				ep := epilogue(groupBias, groupResidual, s.outSize, k.act, k.actBiased)
				im2col(ctx, s, img, col)
				err = gemm.SgemmPackedA(pa, false, s.outSize, 1, col, s.outSize, 0, dst, s.outSize, ctx.Threads, ep)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// pointwiseInPlace is the 1×1 convolution of one image and group, dst = W·img, with the
// image's planes read in place as B's rows for its whole panels of pixels. A last partial panel
// would read past the last plane (a panel is read whole), so its columns are packed: on 14×14
// images (196 pixels, 6 panels and 4 columns) packing the whole image had been ≈ 2% of
// MobileNetV3's run on one thread, in its squeeze-and-excitation projections.
func (k *convKernel) pointwiseInPlace(ctx *Context, s *convShape, pa *gemm.PackedA, img, dst, bias, residual []float32) error {
	whole := s.outSize / gemm.PanelWidth * gemm.PanelWidth
	ep := epilogue(bias, residual, s.outSize, k.act, k.actBiased)
	if err := gemm.SgemmPackedAIndirect(pa, whole, gemm.IndirectB{Data: img, Offsets: s.planeOffsets()}, 0, dst, s.outSize, ctx.Threads, ep); err != nil {
		return err
	}
	if whole == s.outSize {
		return nil
	}
	if residual != nil {
		residual = residual[whole:]
	}
	ep = epilogue(bias, residual, s.outSize, k.act, k.actBiased)
	return gemm.SgemmPackedA(pa, false, s.outSize-whole, 1, img[whole:], s.outSize, 0, dst[whole:], s.outSize, ctx.Threads, ep)
}

// fillGridOffsets writes convIndirect2D's row-offset table: patch row (c, ky, kx) starts at
// padded[c][ky·dh][kx·dw] of the zero-padded image.
func (s *convShape) fillGridOffsets(offs []int) {
	kh, kw := s.kernel[0], s.kernel[1]
	dh, dw := s.dilations[0], s.dilations[1]
	ph, pw := s.in[0]+s.padBegin[0]+s.padEnd[0], s.in[1]+s.padBegin[1]+s.padEnd[1]
	for c := 0; c < s.cg(); c++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				offs[(c*kh+ky)*kw+kx] = c*ph*pw + ky*dh*pw + kx*dw
			}
		}
	}
}

// convIndirect2D runs a stride-1 2-D convolution without forming the patch matrix: on the
// zero-padded image, output position (oy, ox) of a padded-width grid and tap (c, ky, kx) read
// padded[c][oy+ky·dh][ox+kx·dw], so patch row (c, ky, kx) is the image shifted by a constant —
// an offset table for gemm's IndirectB. The product lands on the padded-width grid (a few
// extra columns per row) in scratch and is compacted into dst with the bias and epilogue.
func convIndirect2D(ctx *Context, s *convShape, pa *gemm.PackedA, img, dst, bias, residual []float32, act func([]float32)) error {
	kw, dw := s.kernel[1], s.dilations[1]
	pw := s.in[1] + s.padBegin[1] + s.padEnd[1]
	slack := (kw-1)*dw + gemm.PanelWidth // the last output row's panel runs past the image
	imgBuf := getScratch(0)
	defer convScratch.Put(imgBuf)
	padded := paddedImage2D(s, img, slack, imgBuf)
	// s.gridOffsets was built once per shape by cachedShape.
	return convOnGrid(ctx, s, pa, gemm.IndirectB{Data: padded, Offsets: s.gridOffsets}, pw, dst, bias, residual, act)
}

// stridedIndirectPays reports whether a strided 2-D convolution should read its phased image in
// place (convIndirectStrided2D) rather than pack the patch matrix (im2colPacking). Packing costs
// about k·n against m·k·n multiply-adds, so it matters for few output channels — measured on
// ResNet-18's strided convolutions (one thread, EPYC): in place wins clearly at m = 64 and 128,
// ties at 256 and loses at 512 — and the in-place grid computes ⌈padded width/sw⌉ − ow wasted
// columns per output row, which should stay small.
func (s *convShape) stridedIndirectPays() bool {
	rowLen := ceilDivInt(s.in[1]+s.padBegin[1]+s.padEnd[1], s.strides[1])
	return s.mg() < 256 && 8*rowLen <= 9*s.out[1]
}

// convIndirectStrided2D is convIndirect2D for a strided convolution, read from the image split
// into stride phases (see phasedImage): in phase coordinates tap (c, ky, kx) of output (oy, ox)
// is phase (ky·dh mod sh, kx·dw mod sw) at row oy + ky·dh/sh, column ox + kx·dw/sw, again the
// image shifted by a constant per tap. The grid is one phase row (⌈padded width/sw⌉) wide.
func convIndirectStrided2D(ctx *Context, s *convShape, pa *gemm.PackedA, img, dst, bias, residual []float32, act func([]float32), buf *[]float32) error {
	im := phaseImage2D(s, img, buf)
	grid := s.out[0] * im.rowLen
	// The kernel reads whole panels past the grid's last column: zeros beyond the image.
	if need, filled := im.lastTap+ceilDivInt(grid, gemm.PanelWidth)*gemm.PanelWidth, s.cg()*im.chanSize; need > filled {
		if cap(*buf) < need {
			grown := make([]float32, need)
			copy(grown, im.data)
			*buf = grown
		}
		im.data = (*buf)[:need]
		clear(im.data[filled:])
	}
	return convOnGrid(ctx, s, pa, gemm.IndirectB{Data: im.data, Offsets: im.tapOffsets}, im.rowLen, dst, bias, residual, act)
}

// convOnGrid multiplies the packed weights by an indirect patch matrix whose columns are output
// rows laid rowLen apart (ow of them real) and compacts the product into dst, adding the bias
// and residual (laid out like dst), then applying act once per output channel while it is in
// cache — one call per channel rather than per short output row.
func convOnGrid(ctx *Context, s *convShape, pa *gemm.PackedA, b gemm.IndirectB, rowLen int, dst, bias, residual []float32, act func([]float32)) error {
	mg := s.mg()
	grid := s.out[0] * rowLen
	outBuf := getScratch(mg * grid)
	defer convScratch.Put(outBuf)
	if err := gemm.SgemmPackedAIndirect(pa, grid, b, 0, *outBuf, grid, ctx.Threads, nil); err != nil {
		return err
	}
	g := gridCompaction{onGrid: *outBuf, rowLen: rowLen, oh: s.out[0], ow: s.out[1], dst: dst, bias: bias, residual: residual, act: act}
	if ctx == nil || ctx.Threads <= 1 {
		g.channels(0, mg) // no closure to allocate
		return nil
	}
	compactionTasks.Run(ctx, mg, 1, &g)
	return nil
}

var compactionTasks TaskPool[gridCompaction, *gridCompaction]

// Chunk implements workers.Task.
func (g *gridCompaction) Chunk(lo, hi int) { g.channels(lo, hi) }

// gridCompaction copies output channels from the padded-width grid into dst with the epilogue.
type gridCompaction struct {
	onGrid              []float32
	rowLen, oh, ow      int
	dst, bias, residual []float32
	act                 func([]float32)
}

func (g *gridCompaction) channels(lo, hi int) {
	size := g.oh * g.ow
	for m := lo; m < hi; m++ {
		grid := g.onGrid[m*g.oh*g.rowLen:]
		for oy := 0; oy < g.oh; oy++ {
			off := m*size + oy*g.ow
			row := g.dst[off : off+g.ow]
			src := grid[oy*g.rowLen : oy*g.rowLen+g.ow]
			if g.bias != nil {
				v := g.bias[m]
				for i := range row {
					row[i] = src[i] + v // copy and bias in one pass
				}
			} else {
				copy(row, src)
			}
			if g.residual != nil {
				vecmath.Arith(vecmath.OpAdd, row, row, g.residual[off:off+g.ow])
			}
		}
		if g.act != nil {
			g.act(g.dst[m*size : (m+1)*size])
		}
	}
}

// phasedImage is one group's image, zero-padded and split into stride phases: phase (py, px)
// holds the padded pixels (y, x) with y ≡ py mod stride_h and x ≡ px mod stride_w. In phase
// coordinates a strided convolution reads consecutive output columns from consecutive
// addresses, so every convolution packs like a stride-1 one.
type phasedImage struct {
	data []float32
	*phaseLayout
}

// phaseLayout is where the taps of a strided 2-D convolution read its phased image; it depends
// on the shape alone, so cachedShape builds it once.
type phaseLayout struct {
	rows, rowLen int // a phase's rows and row length
	phaseSize    int
	chanSize     int    // all phases of one channel
	used         []bool // the phases some kernel tap reads (a strided 1×1 kernel reads one)
	inPlace      bool   // an unpadded stride-1 image is its own phased image
	// tapOffsets[(c·kh + ky)·kw + kx] is the first element tap (c, ky, kx) reads: phase
	// (ky·dh mod sh, kx·dw mod sw), row ky·dh/sh, column kx·dw/sw; lastTap is the largest.
	tapOffsets []int
	lastTap    int
}

func newPhaseLayout(s *convShape) *phaseLayout {
	ph, pw := s.in[0]+s.padBegin[0]+s.padEnd[0], s.in[1]+s.padBegin[1]+s.padEnd[1]
	sh, sw := s.strides[0], s.strides[1]
	dh, dw := s.dilations[0], s.dilations[1]
	kh, kw := s.kernel[0], s.kernel[1]
	rows, cols := ceilDivInt(ph, sh), ceilDivInt(pw, sw)
	l := &phaseLayout{rows: rows, rowLen: cols, phaseSize: rows * cols, chanSize: sh * sw * rows * cols,
		used: make([]bool, sh*sw), inPlace: sh == 1 && sw == 1 && ph == s.in[0] && pw == s.in[1],
		tapOffsets: make([]int, 0, s.cg()*kh*kw)}
	for c := 0; c < s.cg(); c++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				dy, dx := ky*dh, kx*dw
				phase := (dy%sh)*sw + dx%sw
				l.used[phase] = true
				off := c*l.chanSize + phase*l.phaseSize + (dy/sh)*l.rowLen + dx/sw
				l.tapOffsets = append(l.tapOffsets, off)
				l.lastTap = max(l.lastTap, off)
			}
		}
	}
	return l
}

// phaseImage2D builds the phased image in buf (the unpadded stride-1 image is used in place).
func phaseImage2D(s *convShape, img []float32, buf *[]float32) phasedImage {
	l := s.phased
	if l.inPlace {
		return phasedImage{data: img, phaseLayout: l}
	}
	ih, iw := s.in[0], s.in[1]
	top, left := s.padBegin[0], s.padBegin[1]
	sh, sw := s.strides[0], s.strides[1]
	rows, cols := l.rows, l.rowLen
	cg := s.cg()
	if cap(*buf) < cg*l.chanSize {
		*buf = make([]float32, cg*l.chanSize)
	}
	im := phasedImage{data: (*buf)[:cg*l.chanSize], phaseLayout: l}
	clear(im.data)
	for c := 0; c < cg; c++ {
		for phase, ok := range l.used {
			if !ok {
				continue
			}
			py, px := phase/sw, phase%sw
			// Phase columns whose source column lies in the image: [lo, hi).
			lo := min(cols, max(0, ceilDivInt(left-px, sw)))
			hi := max(lo, min(cols, ceilDivInt(iw+left-px, sw)))
			for r := 0; r < rows; r++ {
				y := r*sh + py - top
				if y < 0 || y >= ih {
					continue
				}
				src := img[(c*ih+y)*iw : (c*ih+y+1)*iw]
				dst := im.data[c*l.chanSize+phase*l.phaseSize+r*cols : c*l.chanSize+phase*l.phaseSize+(r+1)*cols]
				if sw == 1 {
					copy(dst[lo:hi], src[lo+px-left:hi+px-left])
					continue
				}
				for ci := lo; ci < hi; ci++ {
					dst[ci] = src[ci*sw+px-left]
				}
			}
		}
	}
	return im
}

// im2colPacking packs the patch matrix of one group's phased image straight into GEMM panels:
// row r = (channel, ky, kx), column j = output position (oy, ox). Per panel the source offsets
// of its columns are computed once; each patch row is then a fixed-size copy when the columns
// are contiguous (one output row, any stride) or a gather at those offsets from a shifted base.
// The packing and its gemm.BPacker (a method value, which allocates when made) come from
// im2colPackings, so a run allocates neither.
type im2colPacking struct {
	s    *convShape
	im   phasedImage
	pack gemm.BPacker // p.panels, bound once
}

var im2colPackings = sync.Pool{New: func() any {
	p := new(im2colPacking)
	p.pack = p.panels
	return p
}}

// sgemmIm2col is gemm.SgemmPackedAWith with B the patch matrix of im, packed by an
// im2colPacking.
func sgemmIm2col(s *convShape, im phasedImage, pa *gemm.PackedA, dst []float32, threads int, ep *gemm.Epilogue) error {
	p := im2colPackings.Get().(*im2colPacking)
	p.s, p.im = s, im
	err := gemm.SgemmPackedAWith(pa, s.outSize, p.pack, 0, dst, s.outSize, threads, ep)
	p.s, p.im = nil, phasedImage{} // drop the references to this run's buffers
	im2colPackings.Put(p)
	return err
}

// panels implements gemm.BPacker.
func (packing *im2colPacking) panels(dst []float32, p0, kcb, j0, ncb int) {
	const width = gemm.PanelWidth
	s, im := packing.s, packing.im
	ow := s.out[1]
	rowBase := im.tapOffsets[p0 : p0+kcb]
	var offs [width]int
	for q := 0; q*width < ncb; q++ {
		panel := dst[q*kcb*width : (q+1)*kcb*width]
		cols := min(width, ncb-q*width)
		for c := 0; c < cols; c++ {
			j := j0 + q*width + c
			offs[c] = (j/ow)*im.rowLen + j%ow
		}
		contiguous := cols == width && offs[width-1]-offs[0] == width-1
		for p, base := range rowBase {
			row := (*[width]float32)(panel[p*width : (p+1)*width])
			if contiguous {
				copyPanelRow(row, (*[width]float32)(im.data[base+offs[0]:]))
				continue
			}
			src := im.data[base:]
			if cols == width {
				for c := range width { // fixed trip count: only src is bounds-checked
					row[c] = src[offs[c]]
				}
				continue
			}
			for c := 0; c < cols; c++ {
				row[c] = src[offs[c]]
			}
			for c := cols; c < width; c++ {
				row[c] = 0
			}
		}
	}
}

// im2col writes the cg·kSize × outSize patch matrix of one group's 1-D or N-d (N ≥ 3) image: row (c, kernel
// offset), column output position, zero where the window reads padding.
func im2col(ctx *Context, s *convShape, img, col []float32) {
	cg := s.cg()
	ctx.Parallel(cg, 4, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := img[c*s.inSize : (c+1)*s.inSize]
			rows := col[c*s.kSize*s.outSize : (c+1)*s.kSize*s.outSize]
			im2colPlaneND(s, plane, rows)
		}
	})
}

// copyPanelRow copies one packed-panel row. Four 16-byte array moves compile to register
// loads and stores; a single 64-byte array assignment becomes a memmove call, which costs
// more than the copy.
func copyPanelRow(dst, src *[gemm.PanelWidth]float32) {
	*(*[4]float32)(dst[0:4]) = *(*[4]float32)(src[0:4])
	*(*[4]float32)(dst[4:8]) = *(*[4]float32)(src[4:8])
	*(*[4]float32)(dst[8:12]) = *(*[4]float32)(src[8:12])
	*(*[4]float32)(dst[12:16]) = *(*[4]float32)(src[12:16])
}

// ceilDivInt is ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDivInt(a, b int) int {
	if a <= 0 {
		return -(-a / b)
	}
	return (a + b - 1) / b
}

func im2colPlaneND(s *convShape, plane, rows []float32) {
	rank := len(s.in)
	inStr := tensor.Strides(s.in)
	kIdx := make([]int, rank)
	oIdx := make([]int, rank)
	for kp := 0; kp < s.kSize; kp++ {
		row := rows[kp*s.outSize : (kp+1)*s.outSize]
		clear(oIdx)
		for op := 0; op < s.outSize; op++ {
			off, inside := 0, true
			for d := 0; d < rank; d++ {
				pos := oIdx[d]*s.strides[d] + kIdx[d]*s.dilations[d] - s.padBegin[d]
				if pos < 0 || pos >= s.in[d] {
					inside = false
					break
				}
				off += pos * inStr[d]
			}
			if inside {
				row[op] = plane[off]
			} else {
				row[op] = 0
			}
			odometer(oIdx, s.out)
		}
		odometer(kIdx, s.kernel)
	}
}

// odometer advances a row-major multi-index within shape, wrapping to zeros after the last.
func odometer(idx, shape []int) {
	for d := len(idx) - 1; d >= 0; d-- {
		idx[d]++
		if idx[d] < shape[d] {
			return
		}
		idx[d] = 0
	}
}
