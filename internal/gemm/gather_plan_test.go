package gemm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/internal/simd"
)

// TestSgemmGatherPlanned checks products over ranges of rows of a GatherPlan against a float64
// product of the gathered matrix, each column outside a row's tap ranges zeroed (the data there
// is NaN, so a skipped tap that is read shows): row offsets ascending (a convolution's, checked
// from the range's ends) and shuffled (scanned), classed and not, whole and partial ranges
// that cut classes in the middle, 1–3 threads; every range and thread count gives the bits of
// SgemmGather over that range's rows alone.
func TestSgemmGatherPlanned(t *testing.T) {
	t.Parallel()
	forEachKernel(t, func(t *testing.T, x simd.Level) {
		for _, tc := range []struct {
			m, n, k  int
			classed  bool
			shuffled bool
		}{
			{64, 32, 45, true, false}, {256, 64, 90, true, false}, {50, 16, 30, true, true},
			{41, 64, 20, false, false}, {41, 48, 20, false, true}, {300, 32, 600, true, false},
		} {
			r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.k)))
			taps := [][]TapRange{{{0, tc.k}}, {}, {{0, (tc.k + 1) / 2}}, {{tc.k / 3, tc.k/3 + 1}, {tc.k / 2, tc.k}}}
			rows, cols := make([]int, tc.m), make([]int, tc.k)
			var class []uint8
			if tc.classed {
				class = make([]uint8, tc.m)
				for i := range class {
					class[i] = uint8(r.IntN(len(taps)))
				}
			}
			for i := range rows {
				rows[i] = i * tc.k
			}
			if tc.shuffled {
				r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			}
			for p := range cols {
				cols[p] = p
			}
			data := make([]float32, tc.m*tc.k)
			a := make([]float32, tc.m*tc.k)
			for i, at := range rows {
				for p := range cols {
					data[at+p] = float32(math.NaN())
				}
				ranges := [][]TapRange{{{0, tc.k}}}
				if class != nil {
					ranges = taps[class[i] : class[i]+1]
				}
				for _, tr := range ranges[0] {
					for p := tr.From; p < tr.To; p++ {
						v := float32(r.NormFloat64())
						data[at+p], a[i*tc.k+p] = v, v
					}
				}
			}
			if !tc.classed {
				taps = nil
			}
			plan, err := NewGatherPlan(rows, cols, class, taps)
			if err != nil {
				t.Fatal(err)
			}
			w := randSlice(r, tc.n*tc.k)
			pb, err := packBTransposedOn(x, tc.n, tc.k, w, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			want := refGemm(false, true, tc.m, tc.n, tc.k, 1, a, tc.k, w, tc.k, 0, make([]float32, tc.m*tc.n), tc.n)
			for _, rng := range [][2]int{{0, tc.m}, {0, tc.m / 2}, {tc.m / 3, tc.m - 1}, {tc.m - 1, tc.m}} {
				r0, r1 := rng[0], rng[1]
				ga := GatherA{Data: data, Rows: rows[r0:r1], Cols: cols}
				if class != nil {
					ga.Class, ga.Taps = class[r0:r1], taps
				}
				alone := make([]float32, (r1-r0)*tc.n)
				if err := SgemmGather(ga, pb, alone, tc.n, 1); err != nil {
					t.Fatal(err)
				}
				for threads := 1; threads <= 3; threads++ {
					c := randSlice(r, (r1-r0)*tc.n)
					if err := SgemmGatherPlanned(plan, r0, r1, data, pb, c, tc.n, threads, nil); err != nil {
						t.Fatalf("%+v rows [%d, %d): %v", tc, r0, r1, err)
					}
					for i := r0; i < r1; i++ {
						for j := 0; j < tc.n; j++ {
							got, w := c[(i-r0)*tc.n+j], want[i*tc.n+j]
							if math.Abs(float64(got)-w) > 1e-5*float64(tc.k+1)*(1+math.Abs(w)) || math.IsNaN(float64(got)) {
								t.Fatalf("%+v rows [%d, %d) threads %d: C[%d,%d] = %g, want %g", tc, r0, r1, threads, i, j, got, w)
							}
							if math.Float32bits(got) != math.Float32bits(alone[(i-r0)*tc.n+j]) {
								t.Fatalf("%+v rows [%d, %d) threads %d: C[%d,%d] = %g planned, %g through SgemmGather", tc, r0, r1, threads, i, j, got, alone[(i-r0)*tc.n+j])
							}
						}
					}
				}
			}
		}
	})
}

// TestGatherPlanRefuses checks what a plan refuses: bad classes when it is built, and at each
// call a range outside it, data too short for the range's offsets — a range whose own rows
// fit is accepted, whether the offsets ascend or not — and a B of another depth. A plan keeps
// its own tables: changing the caller's afterwards changes nothing it reads.
func TestGatherPlanRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range badClasses {
		if _, err := NewGatherPlan([]int{0, 1}, []int{0, 1, 2}, tc.class, tc.taps); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	pb, err := PackBTransposed(2, 3, make([]float32, 6), 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range [][]int{{0, 4, 8}, {8, 4, 0}} {
		plan, err := NewGatherPlan(rows, []int{0, 1, 2}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := make([]float32, 6)
		short := make([]float32, 10) // rows 0 and 4 fit (up to offset 6), row 8 reaches 10
		if err := SgemmGatherPlanned(plan, 0, 3, short, pb, c, 2, 1, nil); err == nil {
			t.Errorf("rows %v: data of %d values for offsets up to 10: no error", rows, len(short))
		}
		fits := [2]int{0, 2}
		if rows[0] == 8 {
			fits = [2]int{1, 3}
		}
		if err := SgemmGatherPlanned(plan, fits[0], fits[1], short, pb, c, 2, 1, nil); err != nil {
			t.Errorf("rows %v[%d:%d] within the data: %v", rows, fits[0], fits[1], err)
		}
		for _, rng := range [][2]int{{-1, 2}, {2, 1}, {0, 4}} {
			if err := SgemmGatherPlanned(plan, rng[0], rng[1], make([]float32, 11), pb, c, 2, 1, nil); err == nil {
				t.Errorf("rows %v: range %v: no error", rows, rng)
			}
		}
		other, err := PackBTransposed(2, 2, make([]float32, 4), 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := SgemmGatherPlanned(plan, 0, 3, make([]float32, 11), other, c, 2, 1, nil); err == nil {
			t.Errorf("rows %v: B of depth 2 for 3 columns: no error", rows)
		}
	}
	rows := []int{0, 1}
	plan, err := NewGatherPlan(rows, []int{0, 1, 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows[1] = 1 << 30
	if err := SgemmGatherPlanned(plan, 0, 2, make([]float32, 4), pb, make([]float32, 4), 2, 1, nil); err != nil {
		t.Errorf("the caller's rows changed after planning: %v", err)
	}
}
