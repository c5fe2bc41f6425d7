package vecmath

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/actswap/actswap/internal/simd"
)

// MaxPool2D is a planned 2-D max pool of planes in×in values whose horizontal stride is 1 or 2
// (any kernel, vertical stride, dilations and padding): each output is the maximum of the
// window's taps inside the plane as Go's max (NaN if any tap is NaN, +0 over −0), −∞ where no
// tap is inside. A plane is pooled row by row: the window's rows inside the plane are reduced
// into a buffer padded with −∞ (the left and right padding, and what ceil mode reaches past
// it), then each output is the maximum of kw taps of the buffer, 16 outputs per vector
// instruction with AVX-512 (8 with AVX2), the stride-2 taps de-interleaved. ResNet-18's stem
// pool (3×3, stride 2, pad 1, 64 planes of 112×112) took 0.39 ms of CPU as one vector call per
// window row and a scalar pick of every other value per output row, and takes 0.10 ms so
// (runtime/ops BenchmarkMaxPoolResNet, one thread of a shared Zen 5).
type MaxPool2D struct {
	inH, inW, outH, outW int
	kernelW, strideW     int
	dilationW, padLeft   int
	rowStep              int   // values between a window's taps in a column (dilation · inW)
	rows                 []int // per output row: the offset of its first row inside the plane, and how many are
	// The scratch holds band slots of slot values, each an output row's vertical maxima with its
	// padding and what the last block of outputs reads past it.
	slot, band int
}

// NewMaxPool2D plans a max pool of planes in (height, width) to out outputs, with the given
// kernel, strides, dilations and leading (top, left) padding; out follows from those, the
// trailing padding and the ceil mode, which the caller resolved. The horizontal stride must be
// 1 or 2.
func NewMaxPool2D(in, out, kernel, strides, dilations, padBegin [2]int) (*MaxPool2D, error) {
	for d := range 2 {
		if in[d] < 1 || out[d] < 1 || kernel[d] < 1 || strides[d] < 1 || dilations[d] < 1 || padBegin[d] < 0 {
			return nil, fmt.Errorf("vecmath: MaxPool2D: input %v, output %v, kernel %v, strides %v, dilations %v, padding %v: sizes must be positive, padding not negative",
				in, out, kernel, strides, dilations, padBegin)
		}
	}
	if strides[1] > 2 {
		return nil, fmt.Errorf("vecmath: MaxPool2D: horizontal stride %d; only 1 and 2 are supported", strides[1])
	}
	p := &MaxPool2D{
		inH: in[0], inW: in[1], outH: out[0], outW: out[1],
		kernelW: kernel[1], strideW: strides[1], dilationW: dilations[1], padLeft: padBegin[1],
		rowStep: dilations[0] * in[1],
	}
	p.rows = make([]int, 2*out[0])
	for oy := range out[0] {
		top := oy*strides[0] - padBegin[0] // the window's first row, maybe above the plane
		lo, hi := 0, kernel[0]             // its taps inside the plane: [lo, hi)
		for lo < hi && top+lo*dilations[0] < 0 {
			lo++
		}
		for hi > lo && top+(hi-1)*dilations[0] >= in[0] {
			hi--
		}
		if lo < hi {
			p.rows[2*oy] = (top + lo*dilations[0]) * in[1]
		}
		p.rows[2*oy+1] = hi - lo
	}
	// A slot holds the padded row and what the last block of outputs reads past it: two whole
	// 16-value loads at stride 2 from the last tap of the block's first output. A band is what
	// fits in 16 KiB (at least one slot), so that it stays in L1 between its two passes; that
	// and the rows table are all the memory a plan needs.
	const lanes = 16
	blocks := (out[1] + lanes - 1) / lanes * lanes
	reach := (blocks-lanes)*strides[1] + (kernel[1]-1)*dilations[1] + 2*lanes
	p.slot = (max(padBegin[1]+in[1], reach) + lanes - 1) / lanes * lanes
	p.band = min(out[0], max(1, 4096/p.slot))
	return p, nil
}

// InSize and OutSize are the values in one input and one output plane.
func (p *MaxPool2D) InSize() int  { return p.inH * p.inW }
func (p *MaxPool2D) OutSize() int { return p.outH * p.outW }

// ScratchLen is the length of the scratch that Run needs: the band's slots, and room to align
// them.
func (p *MaxPool2D) ScratchLen() int { return p.band*p.slot + cacheLineFloats - 1 }

// cacheLineFloats is the float32 values in a cache line (64 bytes).
const cacheLineFloats = 16

// Run pools the planes of src (InSize values each, back to back) into dst (OutSize each), with
// scratch of ScratchLen values (its contents do not matter and are overwritten).
func (p *MaxPool2D) Run(dst, src, scratch []float32) error {
	in, out := p.InSize(), p.OutSize()
	if len(src)%in != 0 || len(dst) != len(src)/in*out || len(scratch) < p.ScratchLen() {
		return fmt.Errorf("vecmath: MaxPool2D: %d outputs from %d inputs with %d scratch for planes of %d→%d values (scratch %d)",
			len(dst), len(src), len(scratch), in, out, p.ScratchLen())
	}
	p.runOn(simd.Host(), dst, src, p.alignSlots(scratch))
	return nil
}

// alignSlots returns the band's slots within scratch placed so that each slot's row starts on a
// cache line, so that the kernels' vector stores there do not straddle two lines: the AVX-512
// kernel then pooled one 112×112 plane in 1.58 µs of CPU instead of 2.06 (ResNet's stem pool,
// medians of 5 alternating runs on a shared Zen 5).
func (p *MaxPool2D) alignSlots(scratch []float32) []float32 {
	row := uintptr(unsafe.Pointer(&scratch[p.padLeft])) / 4
	skip := int(-row % cacheLineFloats)
	return scratch[skip : skip+p.band*p.slot]
}

// runOn is Run's checked work with the kernels of level x.
func (p *MaxPool2D) runOn(x simd.Level, dst, src, buf []float32) {
	negInf := float32(math.Inf(-1))
	for slot := range p.band { // the padding around each slot's row; the kernels write the row
		row := buf[slot*p.slot : (slot+1)*p.slot]
		for i := range row[:p.padLeft] {
			row[i] = negInf
		}
		for i := range row[p.padLeft+p.inW:] {
			row[p.padLeft+p.inW+i] = negInf
		}
	}
	in, out := p.InSize(), p.OutSize()
	for plane := 0; plane < len(dst)/out; plane++ {
		d, s := dst[plane*out:(plane+1)*out], src[plane*in:(plane+1)*in]
		switch {
		case x.Wide() && p.strideW == 1:
			maxPool2DS1AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		case x.Wide():
			maxPool2DS2AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		case x.Asm() && p.strideW == 1:
			maxPool2DS1AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		case x.Asm():
			maxPool2DS2AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		default:
			p.planeGo(d, s, buf[:p.slot])
		}
	}
}

// planeGo is the kernels' algorithm in Go, for one plane.
func (p *MaxPool2D) planeGo(dst, src, buf []float32) {
	negInf := float32(math.Inf(-1))
	inner := buf[p.padLeft : p.padLeft+p.inW]
	for oy := range p.outH {
		first, count := p.rows[2*oy], p.rows[2*oy+1]
		if count == 0 {
			for i := range inner {
				inner[i] = negInf
			}
		} else {
			copy(inner, src[first:first+p.inW])
			for r := 1; r < count; r++ {
				row := src[first+r*p.rowStep : first+r*p.rowStep+p.inW]
				for i, v := range row {
					inner[i] = max(inner[i], v)
				}
			}
		}
		outRow := dst[oy*p.outW : (oy+1)*p.outW]
		for ox := range outRow {
			at := ox * p.strideW
			m := buf[at]
			for kx := 1; kx < p.kernelW; kx++ {
				m = max(m, buf[at+kx*p.dilationW])
			}
			outRow[ox] = m
		}
	}
}
