package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
	"github.com/actswap/actswap/internal/testutil"
)

// TestSgemmGatherClasses checks the product over row classes against a float64 product of the
// gathered matrix with every column outside a row's tap ranges zeroed (the data there is
// NaN, so a tap that should be skipped and is not shows): classes of 0 to 40 rows interleaved,
// a class with no taps (its rows must come out zero), ranges across k blocks, 1–3 threads,
// each thread count giving the same bits.
func TestSgemmGatherClasses(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range []struct{ m, n, k int }{
			{1, 16, 5}, {13, 64, 40}, {49, 128, 1200}, {50, 32, 90}, {37, 48, 27}, {120, 64, 300},
		} {
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
			classes := [][]TapRange{
				{{0, tc.k}},
				{},
				{{0, (tc.k + 1) / 2}},
				{{tc.k / 3, tc.k/3 + 1}, {tc.k / 2, tc.k}},
			}
			if tc.k > 900 {
				classes = append(classes, []TapRange{{100, 520}, {530, 1100}}) // ranges across the 512 blocks
			}
			class := make([]uint8, tc.m)
			for i := range class {
				class[i] = uint8(r.IntN(len(classes)))
			}
			// Each row reads its own stretch of data; the columns it skips read NaN.
			data := make([]float32, tc.m*tc.k)
			rows, cols := make([]int, tc.m), make([]int, tc.k)
			a := make([]float32, tc.m*tc.k)
			for i := range rows {
				rows[i] = i * tc.k
				for p := range cols {
					data[i*tc.k+p] = float32(math.NaN())
				}
				for _, tr := range classes[class[i]] {
					for p := tr.From; p < tr.To; p++ {
						v := float32(r.NormFloat64())
						data[i*tc.k+p], a[i*tc.k+p] = v, v
					}
				}
			}
			for p := range cols {
				cols[p] = p
			}
			w := randSlice(r, tc.n*tc.k)
			ldc := tc.n + 1
			want := refGemm(false, true, tc.m, tc.n, tc.k, 1, a, tc.k, w, tc.k, 0, make([]float32, tc.m*ldc), ldc)
			pb, err := packBTransposedOn(x, tc.n, tc.k, w, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			var first []float32
			for _, threads := range []int{1, 2, 3} {
				c := randSlice(r, tc.m*ldc)
				gap := c[tc.n]
				if err := SgemmGather(GatherA{Data: data, Rows: rows, Cols: cols, Class: class, Taps: classes}, pb, c, ldc, threads); err != nil {
					t.Fatalf("%v: %v", tc, err)
				}
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						got, w := float64(c[i*ldc+j]), want[i*ldc+j]
						if math.Abs(got-w) > 1e-5*float64(tc.k+1)*(1+math.Abs(w)) || math.IsNaN(got) {
							t.Fatalf("%v threads=%d: C[%d,%d] (class %d) = %g, want %g", tc, threads, i, j, class[i], got, w)
						}
					}
				}
				if c[tc.n] != gap {
					t.Fatalf("%v threads=%d: C past column n was written", tc, threads)
				}
				if first == nil {
					first = c
					// Skipping a tap that reads zero changes no bit: the product over every
					// column, with zeros where the classes skip, is the same.
					zeroed := make([]float32, len(data))
					for i, v := range data {
						if v == v {
							zeroed[i] = v
						}
					}
					all := make([]float32, len(c))
					if err := SgemmGather(GatherA{Data: zeroed, Rows: rows, Cols: cols}, pb, all, ldc, 1); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < tc.m; i++ {
						for j := 0; j < tc.n; j++ {
							if all[i*ldc+j] != c[i*ldc+j] {
								t.Fatalf("%v: C[%d,%d] (class %d) = %g over its taps, %g over every tap", tc, i, j, class[i], c[i*ldc+j], all[i*ldc+j])
							}
						}
					}
					continue
				}
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						if c[i*ldc+j] != first[i*ldc+j] {
							t.Fatalf("%v: threads=%d gives C[%d,%d] = %g, one thread %g", tc, threads, i, j, c[i*ldc+j], first[i*ldc+j])
						}
					}
				}
			}
		}
	})
}

// badClasses are row classes that a gather product of two rows and three columns must refuse.
var badClasses = []struct {
	name  string
	class []uint8
	taps  [][]TapRange
}{
	{"class past the table", []uint8{0, 1}, [][]TapRange{{{0, 3}}}},
	{"too few classes", []uint8{0}, [][]TapRange{{{0, 3}}}},
	{"range past k", []uint8{0, 0}, [][]TapRange{{{0, 4}}}},
	{"empty range", []uint8{0, 0}, [][]TapRange{{{1, 1}}}},
	{"overlapping ranges", []uint8{0, 0}, [][]TapRange{{{0, 2}, {1, 3}}}},
	{"taps without classes", nil, [][]TapRange{{{0, 3}}}},
}

func TestSgemmGatherRejectsBadClasses(t *testing.T) {
	t.Parallel()
	pb, err := PackBTransposed(2, 3, make([]float32, 6), 3)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, 10)
	for _, tc := range badClasses {
		a := GatherA{Data: data, Rows: []int{0, 1}, Cols: []int{0, 1, 2}, Class: tc.class, Taps: tc.taps}
		if err := SgemmGather(a, pb, make([]float32, 4), 2, 1); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// BenchmarkGatherScatter: ResNet-18's last 3×3 convolution as a gathered product whose rows are
// all in one class (direct tiles), or in two interleaved classes with the same taps (every tile
// scattered), or without classes.
func BenchmarkGatherScatter(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const c, hw, m = 512, 7, 512
	pw := hw + 2
	data := randSlice(r, c*pw*pw)
	rows := make([]int, 0, hw*hw)
	for y := 0; y < hw; y++ {
		for x := 0; x < hw; x++ {
			rows = append(rows, y*pw+x)
		}
	}
	cols := make([]int, 0, c*9)
	for t := 0; t < 9; t++ {
		for ch := 0; ch < c; ch++ {
			cols = append(cols, ch*pw*pw+(t/3)*pw+t%3)
		}
	}
	pb, err := PackBTransposed(m, len(cols), randSlice(r, m*len(cols)), len(cols))
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float32, len(rows)*m)
	one, two := make([]uint8, len(rows)), make([]uint8, len(rows))
	for i := range two {
		two[i] = uint8(i % 2)
	}
	full := []TapRange{{0, len(cols)}}
	for _, v := range []struct {
		name  string
		class []uint8
		taps  [][]TapRange
	}{{"none", nil, nil}, {"one", one, [][]TapRange{full}}, {"two", two, [][]TapRange{full, full}}} {
		b.Run(v.name, func(b *testing.B) {
			flops := 2 * float64(len(rows)*m*len(cols))
			start := testutil.ProcessCPU()
			for b.Loop() {
				if err := SgemmGather(GatherA{Data: data, Rows: rows, Cols: cols, Class: v.class, Taps: v.taps}, pb, out, m, 1); err != nil {
					b.Fatal(err)
				}
			}
			testutil.ReportCPU(b, start, flops)
		})
	}
}
