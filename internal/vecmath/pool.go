package vecmath

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/actswap/actswap/internal/simd"
)

// Pool2D is a planned 2-D max or average pool of planes whose horizontal stride is 1 or 2 (any
// kernel, vertical stride, dilations and padding). A max pool's output is the maximum of the
// window's taps inside the plane as Go's max (NaN if any tap is NaN, +0 over −0), −∞ where no
// tap is inside; an average pool's is the float32 sum of those taps (each column of the window
// summed first, then the columns, left to right) divided by their count, or by the count of
// taps inside the padded plane with count_include_pad (NaN for a count of 0).
//
// A plane is pooled a band of output rows at a time: the window's rows inside the plane are
// reduced into a buffer padded with −∞ (0 for sums) — the left and right padding, and what ceil
// mode reaches past it — then each output is the maximum (sum) of kw taps of the buffer, 16
// outputs per vector instruction with AVX-512 (8 with AVX2), the stride-2 taps de-interleaved.
// ResNet-18's stem pool (3×3, stride 2, pad 1, 64 planes of 112×112) took 0.39 ms of CPU as one
// vector call per window row and a scalar pick of every other value per output row, and takes
// 0.10 ms so (runtime/ops BenchmarkMaxPoolResNet, one thread of a shared Zen 5).
type Pool2D struct {
	average              bool
	inH, inW, outH, outW int
	kernelW, strideW     int
	dilationW, padLeft   int
	rowStep              int // values between a window's taps in a column (dilation · inW)
	// rows has per output row the offset of its first row inside the plane, how many are, and
	// (averages) the bits of its row count as a float32.
	rows []int
	// colDiv is an average's count per output column, whole vectors of them.
	colDiv []float32
	// The scratch holds band slots of slot values, each an output row's vertical maxima (sums)
	// with its padding and what the last block of outputs reads past it.
	slot, band int
}

// NewMaxPool2D plans a max pool of planes in (height, width) to out outputs, with the given
// kernel, strides, dilations and leading (top, left) padding; out follows from those, the
// trailing padding and the ceil mode, which the caller resolved. The horizontal stride must be
// 1 or 2.
func NewMaxPool2D(in, out, kernel, strides, dilations, padBegin [2]int) (*Pool2D, error) {
	return newPool2D(false, in, out, kernel, strides, dilations, padBegin, [2]int{}, false)
}

// NewAveragePool2D plans an average pool as NewMaxPool2D plans a max pool; padEnd (bottom,
// right) and countIncludePad set the counts that the sums are divided by.
func NewAveragePool2D(in, out, kernel, strides, dilations, padBegin, padEnd [2]int, countIncludePad bool) (*Pool2D, error) {
	return newPool2D(true, in, out, kernel, strides, dilations, padBegin, padEnd, countIncludePad)
}

func newPool2D(average bool, in, out, kernel, strides, dilations, padBegin, padEnd [2]int, countIncludePad bool) (*Pool2D, error) {
	for d := range 2 {
		if in[d] < 1 || out[d] < 1 || kernel[d] < 1 || strides[d] < 1 || dilations[d] < 1 || padBegin[d] < 0 || padEnd[d] < 0 {
			return nil, fmt.Errorf("vecmath: Pool2D: input %v, output %v, kernel %v, strides %v, dilations %v, padding %v %v: sizes must be positive, padding not negative",
				in, out, kernel, strides, dilations, padBegin, padEnd)
		}
	}
	if strides[1] > 2 {
		return nil, fmt.Errorf("vecmath: Pool2D: horizontal stride %d; only 1 and 2 are supported", strides[1])
	}
	p := &Pool2D{
		average: average,
		inH:     in[0], inW: in[1], outH: out[0], outW: out[1],
		kernelW: kernel[1], strideW: strides[1], dilationW: dilations[1], padLeft: padBegin[1],
		rowStep: dilations[0] * in[1],
	}
	// taps counts the taps of a window starting at start (dilation dil) in [from, to) and
	// returns the first of them.
	taps := func(start, dil, n, from, to int) (first, count int) {
		for k := range n {
			if at := start + k*dil; at >= from && at < to {
				if count == 0 {
					first = at
				}
				count++
			}
		}
		return first, count
	}
	p.rows = make([]int, 3*out[0])
	for oy := range out[0] {
		top := oy*strides[0] - padBegin[0] // the window's first row, maybe above the plane
		first, count := taps(top, dilations[0], kernel[0], 0, in[0])
		p.rows[3*oy], p.rows[3*oy+1] = first*in[1], count
		if countIncludePad {
			_, count = taps(top, dilations[0], kernel[0], -padBegin[0], in[0]+padEnd[0])
		}
		p.rows[3*oy+2] = int(math.Float32bits(float32(count)))
	}
	// A slot holds the padded row and what the last block of outputs reads past it: two whole
	// 16-value loads at stride 2 from the last tap of the block's first output. A band is what
	// fits in 16 KiB (at least one slot), so that it stays in L1 between its two passes; that,
	// the rows table and an average's column counts are all the memory a plan needs.
	const lanes = 16
	blocks := (out[1] + lanes - 1) / lanes * lanes
	if average {
		p.colDiv = make([]float32, blocks)
		for ox := range out[1] {
			left := ox*strides[1] - padBegin[1]
			_, count := taps(left, dilations[1], kernel[1], 0, in[1])
			if countIncludePad {
				_, count = taps(left, dilations[1], kernel[1], -padBegin[1], in[1]+padEnd[1])
			}
			p.colDiv[ox] = float32(count)
		}
	}
	reach := (blocks-lanes)*strides[1] + (kernel[1]-1)*dilations[1] + 2*lanes
	p.slot = (max(padBegin[1]+in[1], reach) + lanes - 1) / lanes * lanes
	p.band = min(out[0], max(1, 4096/p.slot))
	return p, nil
}

// InSize and OutSize are the values in one input and one output plane.
func (p *Pool2D) InSize() int  { return p.inH * p.inW }
func (p *Pool2D) OutSize() int { return p.outH * p.outW }

// ScratchLen is the length of the scratch that Run needs: the band's slots, and room to align
// them.
func (p *Pool2D) ScratchLen() int { return p.band*p.slot + cacheLineFloats - 1 }

// cacheLineFloats is the float32 values in a cache line (64 bytes).
const cacheLineFloats = 16

// Run pools the planes of src (InSize values each, back to back) into dst (OutSize each), with
// scratch of ScratchLen values (its contents do not matter and are overwritten).
func (p *Pool2D) Run(dst, src, scratch []float32) error {
	in, out := p.InSize(), p.OutSize()
	if len(src)%in != 0 || len(dst) != len(src)/in*out || len(scratch) < p.ScratchLen() {
		return fmt.Errorf("vecmath: Pool2D: %d outputs from %d inputs with %d scratch for planes of %d→%d values (scratch %d)",
			len(dst), len(src), len(scratch), in, out, p.ScratchLen())
	}
	p.runOn(simd.Host(), dst, src, p.alignSlots(scratch))
	return nil
}

// alignSlots returns the band's slots within scratch placed so that each slot's row starts on a
// cache line, so that the kernels' vector stores there do not straddle two lines: the AVX-512
// kernel then pooled one 112×112 plane in 1.58 µs of CPU instead of 2.06 (ResNet's stem pool,
// medians of 5 alternating runs on a shared Zen 5).
func (p *Pool2D) alignSlots(scratch []float32) []float32 {
	row := uintptr(unsafe.Pointer(&scratch[p.padLeft])) / 4
	skip := int(-row % cacheLineFloats)
	return scratch[skip : skip+p.band*p.slot]
}

// runOn is Run's checked work with the kernels of level x.
func (p *Pool2D) runOn(x simd.Level, dst, src, buf []float32) {
	pad := float32(math.Inf(-1))
	if p.average {
		pad = 0
	}
	for slot := range p.band { // the padding around each slot's row; the kernels write the row
		row := buf[slot*p.slot : (slot+1)*p.slot]
		for i := range row[:p.padLeft] {
			row[i] = pad
		}
		for i := range row[p.padLeft+p.inW:] {
			row[p.padLeft+p.inW+i] = pad
		}
	}
	in, out := p.InSize(), p.OutSize()
	for plane := 0; plane < len(dst)/out; plane++ {
		d, s := dst[plane*out:(plane+1)*out], src[plane*in:(plane+1)*in]
		if !x.Asm() {
			p.planeGo(d, s, buf[:p.slot])
			continue
		}
		switch wide, stride2 := x.Wide(), p.strideW == 2; {
		case p.average && wide && stride2:
			avgPool2DS2AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW, p.colDiv)
		case p.average && wide:
			avgPool2DS1AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW, p.colDiv)
		case p.average && stride2:
			avgPool2DS2AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW, p.colDiv)
		case p.average:
			avgPool2DS1AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW, p.colDiv)
		case wide && stride2:
			maxPool2DS2AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		case wide:
			maxPool2DS1AVX512(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		case stride2:
			maxPool2DS2AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		default:
			maxPool2DS1AVX2(d, s, buf, p.rows, p.inW, p.padLeft, p.slot, p.band, p.outW, p.rowStep, p.kernelW, p.dilationW)
		}
	}
}

// planeGo is the kernels' algorithm in Go, for one plane.
func (p *Pool2D) planeGo(dst, src, buf []float32) {
	inner := buf[p.padLeft : p.padLeft+p.inW]
	combine := func(a, b float32) float32 { return max(a, b) }
	empty := float32(math.Inf(-1))
	if p.average {
		combine, empty = func(a, b float32) float32 { return a + b }, 0
	}
	for oy := range p.outH {
		first, count := p.rows[3*oy], p.rows[3*oy+1]
		if count == 0 {
			for i := range inner {
				inner[i] = empty
			}
		} else {
			copy(inner, src[first:first+p.inW])
			for r := 1; r < count; r++ {
				row := src[first+r*p.rowStep : first+r*p.rowStep+p.inW]
				for i, v := range row {
					inner[i] = combine(inner[i], v)
				}
			}
		}
		outRow := dst[oy*p.outW : (oy+1)*p.outW]
		for ox := range outRow {
			at := ox * p.strideW
			m := buf[at]
			for kx := 1; kx < p.kernelW; kx++ {
				m = combine(m, buf[at+kx*p.dilationW])
			}
			if p.average {
				m /= math.Float32frombits(uint32(p.rows[3*oy+2])) * p.colDiv[ox]
			}
			outRow[ox] = m
		}
	}
}
