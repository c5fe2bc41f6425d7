package ops

import (
	"sync/atomic"

	"github.com/actswap/actswap/internal/gemm"
	"github.com/actswap/actswap/internal/vecmath"
)

// convDepthwise2D is the convolution with one filter per channel (group == C == M), where a
// GEMM would have a single output row per group. Each channel's plane is zero-padded once, and
// every tap (ky, kx) of the stride-1 output grid is that plane shifted by ky·dh·pw + kx·dw, so
// the whole grid is one gemm.TapSum — a vector multiply-add per tap over the plane. A strided
// convolution computes the stride-1 grid and keeps every stride-th value: the extra work is
// cheap next to splitting each plane into stride phases with scalar code.
//
// Each plane gets its bias, residual and activation while it is in cache.
func convDepthwise2D(ctx *Context, s *convShape, xv, wv, bias, residual []float32, act func([]float32), out []float32) error {
	ih, iw := s.in[0], s.in[1]
	kh, kw := s.kernel[0], s.kernel[1]
	oh, ow := s.out[0], s.out[1]
	sh, sw := s.strides[0], s.strides[1]
	dh, dw := s.dilations[0], s.dilations[1]
	top, left := s.padBegin[0], s.padBegin[1]
	ph, pw := ih+top+s.padEnd[0], iw+left+s.padEnd[1]
	offs := make([]int, 0, kh*kw) // per call: small next to the planes, and shapes vary
	maxOff := 0
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < kw; kx++ {
			off := ky*dh*pw + kx*dw
			offs = append(offs, off)
			maxOff = max(maxOff, off)
		}
	}
	grid := ((oh-1)*sh + 1) * pw // stride-1 output rows down to the last one kept
	span := ceilDivInt(grid, gemm.TapBlock) * gemm.TapBlock
	planeLen := max(ph*pw, maxOff+span)
	var failure atomic.Value
	ctx.Parallel(s.batch*s.c, 1, func(lo, hi int) {
		planeBuf, gridBuf := getScratch(planeLen), getScratch(span)
		defer convScratch.Put(planeBuf)
		defer convScratch.Put(gridBuf)
		plane, onGrid := *planeBuf, *gridBuf
		for bc := lo; bc < hi; bc++ {
			c := bc % s.c
			padPlane(plane, xv[bc*s.inSize:(bc+1)*s.inSize], ih, iw, top, left, pw)
			var b0 float32
			if bias != nil {
				b0 = bias[c]
			}
			if err := gemm.TapSum(onGrid, plane, offs, wv[c*kh*kw:(c+1)*kh*kw], b0, grid); err != nil {
				failure.CompareAndSwap(nil, err)
				return
			}
			dst := out[bc*s.outSize : (bc+1)*s.outSize]
			for oy := 0; oy < oh; oy++ {
				row := dst[oy*ow : (oy+1)*ow]
				from := onGrid[oy*sh*pw:]
				if sw == 1 {
					copy(row, from)
					continue
				}
				for ox := range row {
					row[ox] = from[ox*sw]
				}
			}
			if residual != nil {
				vecmath.Arith(vecmath.OpAdd, dst, dst, residual[bc*s.outSize:(bc+1)*s.outSize])
			}
			if act != nil {
				act(dst)
			}
		}
	})
	if err, ok := failure.Load().(error); ok {
		return err
	}
	return nil
}

// padPlane writes an ih×iw plane into plane with top rows and left columns of zero padding and
// rows pw apart, zeroing only what the copy does not overwrite: the padding and the tail.
func padPlane(plane, src []float32, ih, iw, top, left, pw int) {
	at := top*pw + left
	clear(plane[:at])
	for y := 0; y < ih; y++ {
		copy(plane[at:at+iw], src[y*iw:(y+1)*iw])
		if y == ih-1 {
			clear(plane[at+iw:])
			break
		}
		gap := plane[at+iw : at+pw] // this row's right padding and the next row's left
		for i := range gap {
			gap[i] = 0
		}
		at += pw
	}
}
