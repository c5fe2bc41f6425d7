package gemm

import (
	"fmt"

	"github.com/actswap/actswap/internal/simd"
)

// Winograd F(2×2, 3×3): a 3×3 stride-1 convolution computed tile by tile, each 2×2 block of
// output pixels from the 4×4 patch of input under it, with 16 multiplies per tile and channel
// pair instead of 36 (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks").
// For filter g (3×3), patch d (4×4) and the transforms
//
//	G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
//	Aᵀ = [1 1 1 0; 0 1 −1 −1],
//
// the tile is Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A. Summed over input channels, the elementwise
// product is 16 matrix products, one per position ξ of the 4×4 transformed tile:
// M_ξ = U_ξ · V_ξ, U_ξ the Co×Ci transformed filters and V_ξ the Ci×tiles transformed patches.
// The transforms use only 0, ±1 and ½, so they add a few roundings of the inputs' size.

// WinogradLanes is the number of tiles the transforms' vectors hold: WinogradInput and
// WinogradOutput read and write whole vectors of tiles, up to WinogradLanes−1 tiles past the
// tiles asked for (see their slack).
const WinogradLanes = 16

// WinogradFast reports whether the Winograd transforms run in assembly here.
func WinogradFast() bool { return winogradAsm(simd.Host()) }

// WinogradFilter writes the transformed filters of w (m×c×3×3, row-major) to dst as 16
// matrices of m×c: dst[ξ·m·c + i·c + j] is position ξ of G·w[i][j]·Gᵀ, computed in float64.
func WinogradFilter(dst, w []float32, m, c int) error {
	if len(w) < m*c*9 || len(dst) < 16*m*c {
		return fmt.Errorf("gemm: WinogradFilter: %d×%d filters from %d values into %d", m, c, len(w), len(dst))
	}
	g := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	for i := 0; i < m; i++ {
		for j := 0; j < c; j++ {
			f := w[(i*c+j)*9 : (i*c+j)*9+9]
			var gf [4][3]float64 // G·f
			for r := 0; r < 4; r++ {
				for q := 0; q < 3; q++ {
					for k := 0; k < 3; k++ {
						gf[r][q] += g[r][k] * float64(f[k*3+q])
					}
				}
			}
			for r := 0; r < 4; r++ {
				for q := 0; q < 4; q++ {
					var u float64 // (G·f·Gᵀ)[r][q]
					for k := 0; k < 3; k++ {
						u += gf[r][k] * g[q][k]
					}
					dst[(r*4+q)*m*c+i*c+j] = float32(u)
				}
			}
		}
	}
	return nil
}

// WinogradInput writes the transformed input patches of a run of tiles of one tile row, for
// channels input channels: with src the zero-padded image at the run's first tile (its top-left
// pixel: padded rows pw values apart, channel planes plane values apart), tile t of channel ci
// reads the 4×4 patch src[ci·plane + y·pw + 2t + x] and writes position ξ of Bᵀ·d·B to
// dst[ξ·ldx + ci·ldc + t]. The tiles go in vectors of WinogradLanes: dst is written up to
// ⌈tiles/WinogradLanes⌉·WinogradLanes tiles (the rest is garbage) and src read up to column
// 2·that+1 of each row (past pw into the next row).
func WinogradInput(dst []float32, ldx, ldc int, src []float32, pw, plane, channels, tiles int) error {
	return winogradInputOn(simd.Host(), dst, ldx, ldc, src, pw, plane, channels, tiles)
}

// winogradInputOn is WinogradInput with the kernels of level x.
func winogradInputOn(x simd.Level, dst []float32, ldx, ldc int, src []float32, pw, plane, channels, tiles int) error {
	if channels <= 0 || tiles <= 0 {
		return nil
	}
	span := ceilDiv(tiles, WinogradLanes) * WinogradLanes
	if need := 15*ldx + (channels-1)*ldc + span; len(dst) < need || ldx < 0 || ldc < 0 {
		return fmt.Errorf("gemm: WinogradInput: %d channels of %d tiles need %d values of dst, have %d", channels, tiles, need, len(dst))
	}
	if need := (channels-1)*plane + 3*pw + 2*span + 2; len(src) < need || pw < 0 || plane < 0 {
		return fmt.Errorf("gemm: WinogradInput: %d channels of %d tiles read %d values of src, have %d", channels, tiles, need, len(src))
	}
	if winogradInputAsm(x, dst, ldx, ldc, src, pw, plane, channels, span/WinogradLanes) {
		return nil
	}
	for ci := 0; ci < channels; ci++ {
		for t := 0; t < tiles; t++ {
			var c [4][4]float32 // c[k][j]: row k of the patch times B, column j
			for k := 0; k < 4; k++ {
				d := src[ci*plane+k*pw+2*t : ci*plane+k*pw+2*t+4]
				c[k] = [4]float32{d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]}
			}
			o := ci*ldc + t
			for j := 0; j < 4; j++ {
				dst[(0+j)*ldx+o] = c[0][j] - c[2][j]
				dst[(4+j)*ldx+o] = c[1][j] + c[2][j]
				dst[(8+j)*ldx+o] = c[2][j] - c[1][j]
				dst[(12+j)*ldx+o] = c[1][j] - c[3][j]
			}
		}
	}
	return nil
}

// WinogradOutput writes the output tiles of a run of tiles of one tile row, for channels output
// channels: tile t of channel co gathers position ξ of its product from m[ξ·ldx + co·ldc + t],
// and Aᵀ·m·A plus bias[co] (nil: none), plus the residual, then Relu where relu is set, goes to
// out[co·plane + y·ldo + 2t + x] for y < rows (1 or 2) and 2t + x < cols (2·tiles or
// 2·tiles−1). The residual, where res is not nil, is laid out like out. m is read up to
// ⌈tiles/WinogradLanes⌉·WinogradLanes tiles; out and res only where the tiles are.
func WinogradOutput(out []float32, ldo, plane, rows, cols int, m []float32, ldx, ldc, channels int, res, bias []float32, relu bool) error {
	return winogradOutputOn(simd.Host(), out, ldo, plane, rows, cols, m, ldx, ldc, channels, res, bias, relu)
}

// winogradOutputOn is WinogradOutput with the kernels of level x.
func winogradOutputOn(x simd.Level, out []float32, ldo, plane, rows, cols int, m []float32, ldx, ldc, channels int, res, bias []float32, relu bool) error {
	if channels <= 0 || cols <= 0 {
		return nil
	}
	tiles := (cols + 1) / 2
	span := ceilDiv(tiles, WinogradLanes) * WinogradLanes
	if rows < 1 || rows > 2 || ldx < 0 || ldc < 0 || len(m) < 15*ldx+(channels-1)*ldc+span {
		return fmt.Errorf("gemm: WinogradOutput: %d rows, %d channels of %d tiles from %d values", rows, channels, tiles, len(m))
	}
	need := (channels-1)*plane + (rows-1)*ldo + cols
	if len(out) < need || (res != nil && len(res) < need) || (bias != nil && len(bias) < channels) {
		return fmt.Errorf("gemm: WinogradOutput: %d rows of %d columns in %d channels need %d values", rows, cols, channels, need)
	}
	if winogradOutputAsm(x, out, ldo, plane, rows, cols, m, ldx, ldc, channels, res, bias, relu) {
		return nil
	}
	for co := 0; co < channels; co++ {
		var b float32
		if bias != nil {
			b = bias[co]
		}
		for t := 0; t < tiles; t++ {
			var v [16]float32
			for xi := range v {
				v[xi] = m[xi*ldx+co*ldc+t]
			}
			var s [2][4]float32 // Aᵀ·m
			for j := 0; j < 4; j++ {
				s[0][j] = v[j] + v[4+j] + v[8+j]
				s[1][j] = v[4+j] - v[8+j] - v[12+j]
			}
			for y := 0; y < rows; y++ {
				pair := [2]float32{s[y][0] + s[y][1] + s[y][2], s[y][1] - s[y][2] - s[y][3]}
				for x := 0; x < 2 && 2*t+x < cols; x++ {
					at := co*plane + y*ldo + 2*t + x
					v := pair[x] + b
					if res != nil {
						v += res[at]
					}
					if relu {
						v = max(v, 0) // keeps NaN, as the ONNX Relu
					}
					out[at] = v
				}
			}
		}
	}
	return nil
}
