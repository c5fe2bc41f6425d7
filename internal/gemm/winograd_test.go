package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestWinogradFilter checks the transformed filters against G·g·Gᵀ written out by hand for
// one filter: row r of G·g is a fixed combination of g's rows.
func TestWinogradFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	const m, c = 3, 2
	w := randSlice(r, m*c*9)
	u := make([]float32, 16*m*c)
	if err := WinogradFilter(u, w, m, c); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < c; j++ {
			f := w[(i*c+j)*9:]
			// G applied along one axis: [f0, (f0+f1+f2)/2, (f0−f1+f2)/2, f2].
			along := func(a, b, c float64) [4]float64 { return [4]float64{a, (a + b + c) / 2, (a - b + c) / 2, c} }
			var cols [3][4]float64 // G applied to each column of f
			for q := 0; q < 3; q++ {
				cols[q] = along(float64(f[q]), float64(f[3+q]), float64(f[6+q]))
			}
			for row := 0; row < 4; row++ {
				want := along(cols[0][row], cols[1][row], cols[2][row])
				for q := 0; q < 4; q++ {
					got := float64(u[(row*4+q)*m*c+i*c+j])
					if math.Abs(got-want[q]) > 1e-6*(1+math.Abs(want[q])) {
						t.Fatalf("filter (%d, %d) position (%d, %d) = %g, want %g", i, j, row, q, got, want[q])
					}
				}
			}
		}
	}
}

// winogradBt is Bᵀ, the input transform's matrix.
var winogradBt = [4][4]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}

// TestWinogradInput checks the input transform at every level against Bᵀ·d·B in float64,
// and the assembly against the Go loop bit for bit (the same additions in the same order).
func TestWinogradInput(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	for _, tiles := range []int{1, 5, 16, 17, 33, 40} {
		const channels, ldc = 3, 50
		pw := 2*tiles + 2 + 3
		plane := 5 * pw
		span := ceilDiv(tiles, WinogradLanes) * WinogradLanes
		src := randSlice(r, (channels-1)*plane+3*pw+2*span+2)
		ldx := channels*ldc + 7
		var first []float32
		for x := simd.Go; x <= simd.Host(); x++ {
			dst := make([]float32, 16*ldx)
			if err := winogradInputOn(x, dst, ldx, ldc, src, pw, plane, channels, tiles); err != nil {
				t.Fatal(err)
			}
			for ci := 0; ci < channels; ci++ {
				for tile := 0; tile < tiles; tile++ {
					for xi := 0; xi < 16; xi++ {
						i, j := xi/4, xi%4
						var want, size float64
						for a := 0; a < 4; a++ {
							for b := 0; b < 4; b++ {
								d := float64(src[ci*plane+a*pw+2*tile+b])
								want += winogradBt[i][a] * d * winogradBt[j][b]
								size = max(size, math.Abs(d))
							}
						}
						got := float64(dst[xi*ldx+ci*ldc+tile])
						if math.Abs(got-want) > 4*size*0x1p-24 {
							t.Fatalf("%v, %d tiles: channel %d tile %d position %d = %g, want %g", x, tiles, ci, tile, xi, got, want)
						}
					}
				}
			}
			if first == nil {
				first = dst
				continue
			}
			for ci := 0; ci < channels; ci++ {
				for xi := 0; xi < 16; xi++ {
					for tile := 0; tile < tiles; tile++ {
						if at := xi*ldx + ci*ldc + tile; dst[at] != first[at] {
							t.Fatalf("%v, %d tiles: position %d of channel %d tile %d = %g, the Go loop gives %g", x, tiles, xi, ci, tile, dst[at], first[at])
						}
					}
				}
			}
		}
	}
}

// winogradAt is Aᵀ, the output transform's matrix.
var winogradAt = [2][4]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}

// TestWinogradOutput checks the output transform at every level against Aᵀ·m·A plus bias and
// residual, then Relu, in float64; that nothing past the run's rows and columns is written; and
// the assembly against the Go loop bit for bit.
func TestWinogradOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	for _, cols := range []int{1, 2, 9, 31, 32, 33, 34, 63, 64, 80} {
		for _, rows := range []int{1, 2} {
			for _, variant := range []struct{ bias, res, relu bool }{{false, false, false}, {true, false, false}, {true, true, false}, {false, true, true}, {true, false, true}, {true, true, true}} {
				name := fmt.Sprintf("%d cols %d rows %+v", cols, rows, variant)
				const channels, ldc = 3, 45
				ldx := channels*ldc + 3
				m := randSlice(r, 16*ldx)
				ldo := cols + 5
				plane := 3 * ldo
				var bias, res []float32
				if variant.bias {
					bias = randSlice(r, channels)
				}
				if variant.res {
					res = randSlice(r, channels*plane)
				}
				const sentinel = 12345
				var first []float32
				for x := simd.Go; x <= simd.Host(); x++ {
					out := make([]float32, channels*plane)
					for i := range out {
						out[i] = sentinel
					}
					if err := winogradOutputOn(x, out, ldo, plane, rows, cols, m, ldx, ldc, channels, res, bias, variant.relu); err != nil {
						t.Fatal(err)
					}
					for co := 0; co < channels; co++ {
						for y := 0; y < 3; y++ {
							for col := 0; col < ldo; col++ {
								at := co*plane + y*ldo + col
								if y >= rows || col >= cols {
									if out[at] != sentinel {
										t.Fatalf("%v, %s: channel %d row %d column %d written", x, name, co, y, col)
									}
									continue
								}
								tile, c := col/2, col%2
								var want, size float64
								for i := 0; i < 4; i++ {
									for j := 0; j < 4; j++ {
										v := float64(m[(4*i+j)*ldx+co*ldc+tile])
										want += winogradAt[y][i] * v * winogradAt[c][j]
										size = max(size, math.Abs(v))
									}
								}
								if bias != nil {
									want += float64(bias[co])
								}
								if res != nil {
									want += float64(res[at])
								}
								if variant.relu {
									want = max(want, 0)
								}
								if math.Abs(float64(out[at])-want) > 16*(size+1)*0x1p-24 {
									t.Fatalf("%v, %s: channel %d row %d column %d = %g, want %g", x, name, co, y, col, out[at], want)
								}
							}
						}
					}
					if first == nil {
						first = out
						continue
					}
					for i := range out {
						if out[i] != first[i] {
							t.Fatalf("%v, %s: value %d = %g, the Go loop gives %g", x, name, i, out[i], first[i])
						}
					}
				}
			}
		}
	}
}

// TestWinogradOutputRelu checks the output transform's Relu at every level on the values where
// max(x, 0) is not x < 0 ? 0 : x: a NaN stays NaN (ONNX's Relu, and the other lowerings' fused
// one, propagate it; a NaN turned into 0 would hide a broken model), and −0 becomes +0. With
// every position −0, a tile's left column sums −0s (−0) and its right one subtracts them (+0);
// a NaN at tile 0's position 0 reaches only the output's first value.
func TestWinogradOutputRelu(t *testing.T) {
	for _, cols := range []int{9, 32} {
		const ldc = 16
		ldx := ldc + 3
		m := make([]float32, 16*ldx)
		for i := range m {
			m[i] = float32(math.Copysign(0, -1))
		}
		m[0] = float32(math.NaN())
		for x := simd.Go; x <= simd.Host(); x++ {
			out := make([]float32, 2*cols)
			if err := winogradOutputOn(x, out, cols, 2*cols, 2, cols, m, ldx, ldc, 1, nil, nil, true); err != nil {
				t.Fatal(err)
			}
			for i, v := range out {
				switch {
				case i == 0 && !math.IsNaN(float64(v)):
					t.Errorf("%v, %d columns: Relu of NaN gave %g, want NaN", x, cols, v)
				case i != 0 && (v != 0 || math.Signbit(float64(v))):
					t.Errorf("%v, %d columns: value %d = %g (sign bit %v), want +0", x, cols, i, v, math.Signbit(float64(v)))
				}
			}
		}
	}
}

// BenchmarkWinogradInput transforms the input of ResNet-18's 56×56 layer (64 channels, 28 tile
// rows of 28 tiles) once per iteration, tile row by tile row into one chunk's V, and reports
// the time per vector of 16 tiles and channel.
func BenchmarkWinogradInput(b *testing.B) {
	const channels, tilesW, tilesH = 64, 28, 28
	pw, ph := 2*tilesW+2, 2*tilesH+2
	r := rand.New(rand.NewPCG(1, 1))
	src := randSlice(r, channels*ph*pw+2*WinogradLanes+2)
	ldn := 2 * WinogradLanes
	ldx := channels*ldn + WinogradLanes
	dst := make([]float32, 16*ldx)
	b.ResetTimer()
	for b.Loop() {
		for row := 0; row < tilesH; row++ {
			if err := WinogradInput(dst, ldx, ldn, src[2*row*pw:], pw, ph*pw, channels, tilesW); err != nil {
				b.Fatal(err)
			}
		}
	}
	vectors := float64(b.N) * tilesH * channels * 2
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/vectors, "ns/vector")
}
