package calibrate

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

func normalSamples(n int, mu, sigma float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(mu + sigma*r.NormFloat64())
	}
	return xs
}

// twoPass is the textbook reference for mean and population variance.
func twoPass(xs []float32) (mean, variance float64) {
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		d := float64(x) - mean
		variance += d * d
	}
	return mean, variance / float64(len(xs))
}

func TestStatsStreamedMatchesTwoPass(t *testing.T) {
	cases := []struct {
		name      string
		mu, sigma float64
		batch     int
	}{
		{"standard normal, batch 1000", 0, 1, 1000},
		{"shifted, batch 7", 1000, 0.01, 7},
		{"wide, one batch", -3, 50, 100000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			xs := normalSamples(100000, c.mu, c.sigma, 1)
			s := NewStats(0)
			for i := 0; i < len(xs); i += c.batch {
				s.Add(xs[i:min(i+c.batch, len(xs))])
			}
			mean, variance := twoPass(xs)
			if s.Count != int64(len(xs)) {
				t.Fatalf("count %d, want %d", s.Count, len(xs))
			}
			if math.Abs(s.Mean-mean) > 1e-9*math.Max(1, math.Abs(mean)) {
				t.Errorf("mean %v, want %v", s.Mean, mean)
			}
			if math.Abs(s.Variance()-variance) > 1e-8*variance {
				t.Errorf("variance %v, want %v", s.Variance(), variance)
			}
			if got := s.Hist.Total(); got != float64(len(xs)) {
				t.Errorf("histogram holds %v values, want %d", got, len(xs))
			}
			if s.Min < s.Hist.Lo || s.Max >= s.Hist.Hi() {
				t.Errorf("histogram [%v,%v) does not cover data [%v,%v]", s.Hist.Lo, s.Hist.Hi(), s.Min, s.Max)
			}
			med, err := s.Hist.Quantile(0.5)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(med-c.mu) > 0.02*c.sigma {
				t.Errorf("median %v, want ≈ %v", med, c.mu)
			}
		})
	}
}

func TestHistogramGrowthIsExact(t *testing.T) {
	// Counting in a grown histogram must equal counting the same values in one whose grid is the
	// final grid from the start: doubling merges whole bins.
	s := NewStats(64)
	s.Add([]float32{0, 0.5, 1})
	s.Add([]float32{3, -7.25, 0.75, 100})
	h := s.Hist
	ref := &Histogram{Lo: h.Lo, Width: h.Width, Counts: make([]float64, len(h.Counts))}
	for _, x := range []float64{0, 0.5, 1, 3, -7.25, 0.75, 100} {
		ref.Counts[ref.bin(x)]++
	}
	for i := range h.Counts {
		if h.Counts[i] != ref.Counts[i] {
			t.Fatalf("bin %d: %v, want %v", i, h.Counts[i], ref.Counts[i])
		}
	}
	if len(h.Counts) != 64 {
		t.Fatalf("histogram grew to %d bins", len(h.Counts))
	}
}

func TestStatsMerge(t *testing.T) {
	a := normalSamples(5000, 0, 1, 2)
	b := normalSamples(3000, 4, 3, 3)
	sa, sb, all := NewStats(0), NewStats(0), NewStats(0)
	sa.Add(a)
	sb.Add(b)
	sa.Merge(sb)
	all.Add(append(append([]float32(nil), a...), b...))
	if sa.Count != all.Count || math.Abs(sa.Mean-all.Mean) > 1e-12 || math.Abs(sa.M2-all.M2) > 1e-8*all.M2 {
		t.Errorf("merged (%d, %v, %v) != direct (%d, %v, %v)", sa.Count, sa.Mean, sa.M2, all.Count, all.Mean, all.M2)
	}
	if sa.Min != all.Min || sa.Max != all.Max {
		t.Errorf("extremes differ")
	}
	if math.Abs(sa.Hist.Total()-8000) > 1e-9 {
		t.Errorf("merged histogram total %v", sa.Hist.Total())
	}
	q1, _ := sa.Hist.Quantile(0.3)
	q2, _ := all.Hist.Quantile(0.3)
	if math.Abs(q1-q2) > 0.05 {
		t.Errorf("30%% quantile %v after merge, %v direct", q1, q2)
	}
}

func TestStatsNonFinite(t *testing.T) {
	s := NewStats(0)
	s.Add([]float32{float32(math.NaN()), float32(math.Inf(1)), 1, 2})
	if s.Count != 2 || s.NonFinite != 2 || s.Mean != 1.5 {
		t.Errorf("got count %d nonfinite %d mean %v", s.Count, s.NonFinite, s.Mean)
	}
	empty := NewStats(0)
	empty.Add([]float32{float32(math.NaN())})
	if empty.Hist != nil || empty.Count != 0 {
		t.Errorf("all-NaN batch should leave stats empty")
	}
}

func TestSiteStatsPerChannel(t *testing.T) {
	// Shape [2, 3, 2]: channel c holds values 10c + k.
	data := []float32{0, 1, 10, 11, 20, 21, 2, 3, 12, 13, 22, 23}
	ss := NewSiteStats(0, true)
	if err := ss.AddTensor(tensor.New([]int{2, 3, 2}, data)); err != nil {
		t.Fatal(err)
	}
	for c, st := range ss.Channels {
		want := 10*float64(c) + 1.5
		if st.Count != 4 || st.Mean != want {
			t.Errorf("channel %d: count %d mean %v, want 4, %v", c, st.Count, st.Mean, want)
		}
	}
	if ss.Layer.Count != 12 {
		t.Errorf("layer count %d", ss.Layer.Count)
	}
	if err := ss.AddTensor(tensor.New([]int{1, 2, 1}, []float32{1, 2})); err == nil {
		t.Error("changing channel count should fail")
	}
}

func TestAddBiasBroadcastsOverLastAxis(t *testing.T) {
	x := tensor.New([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	got, err := addBias(x, tensor.New([]int{3}, []float32{10, 20, 30}))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{11, 22, 33, 14, 25, 36}
	for i, v := range got.F32() {
		if v != want[i] {
			t.Fatalf("got %v, want %v", got.F32(), want)
		}
	}
	if _, err := addBias(x, tensor.New([]int{4}, []float32{1, 2, 3, 4})); err == nil {
		t.Error("bias of 4 over rows of 3 should fail")
	}
}

func TestConditionalHistogram(t *testing.T) {
	// Pairs (x, 2x) streamed in batches whose range keeps growing: every bin's mean target must
	// stay 2·(mean x in the bin), whatever doublings happened, and a fit regresses on it.
	s := NewStats(256)
	for _, scale := range []float64{0.1, 1, 10} {
		xs := normalSamples(20000, 0, scale, uint64(10*scale)+1)
		ys := make([]float32, len(xs))
		for i, x := range xs {
			ys[i] = 2 * x
		}
		if err := s.AddPairs(xs, ys); err != nil {
			t.Fatal(err)
		}
	}
	h := s.Hist
	if len(h.SumY) != len(h.Counts) {
		t.Fatalf("SumY has %d bins, Counts %d", len(h.SumY), len(h.Counts))
	}
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		mean := h.SumY[i] / c / 2
		if mean < h.Lo+float64(i)*h.Width-1e-6 || mean > h.Lo+float64(i+1)*h.Width+1e-6 {
			t.Fatalf("bin %d [%v, %v): mean paired target/2 = %v lies outside", i, h.Lo+float64(i)*h.Width, h.Lo+float64(i+1)*h.Width, mean)
		}
	}
	if err := NewStats(16).AddPairs([]float32{1}, nil); err == nil {
		t.Error("mismatched pair lengths accepted")
	}
	// Regressing CRReLU on y = ReLU(x) + 0.3·x·e^(−x²/2) recovers ε = 0.3 exactly.
	c := NewStats(0)
	xs := normalSamples(50000, 0, 1, 9)
	ys := make([]float32, len(xs))
	for i, x := range xs {
		v := float64(x)
		ys[i] = float32(math.Max(v, 0) + 0.3*v*math.Exp(-v*v/2))
	}
	c.AddPairs(xs, ys)
	f, err := FitStats(onnxops.FamilyCRReLU, TargetGELU, c, FitOptions{TailMass: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if eps := f.Params.(onnxops.CRReLUParams).Epsilon; math.Abs(eps-0.3) > 0.01 {
		t.Errorf("ε = %v from paired targets, want 0.3", eps)
	}
}
