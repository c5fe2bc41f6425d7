package calibrate

import (
	"fmt"
	"math"

	"github.com/actswap/actswap/tensor"
)

// Stats summarises a stream of values in constant memory: count, mean and variance (merged batch by
// batch with Chan et al.'s pairwise formula, which stays accurate for long streams), extremes and a
// histogram to fit on. Non-finite values are counted apart and left out of everything else.
type Stats struct {
	Count     int64
	Mean      float64
	M2        float64 // sum of squared deviations from Mean
	Min, Max  float64
	NonFinite int64
	Hist      *Histogram
	bins      int
}

// NewStats returns empty statistics whose histogram will have bins bins (DefaultBins if bins ≤ 0).
func NewStats(bins int) *Stats {
	if bins <= 0 {
		bins = DefaultBins
	}
	return &Stats{bins: bins, Min: math.Inf(1), Max: math.Inf(-1)}
}

// Variance is the population variance (0 for fewer than two values).
func (s *Stats) Variance() float64 {
	if s.Count < 2 {
		return 0
	}
	return s.M2 / float64(s.Count)
}

// Std is the population standard deviation.
func (s *Stats) Std() float64 { return math.Sqrt(s.Variance()) }

// Add accumulates a batch of values.
func (s *Stats) Add(xs []float32) { s.add(xs, nil) }

// AddPairs accumulates a batch of values xs, each paired with a target ys[i], into a conditional
// histogram. A Stats must be fed either always with pairs or never.
func (s *Stats) AddPairs(xs, ys []float32) error {
	if len(xs) != len(ys) {
		return fmt.Errorf("%d values paired with %d targets", len(xs), len(ys))
	}
	if s.Hist != nil && s.Hist.SumY == nil {
		return fmt.Errorf("statistics without targets cannot take pairs")
	}
	s.add(xs, ys)
	return nil
}

func (s *Stats) add(xs, ys []float32) {
	var n int64
	var sum float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range xs {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		n++
		sum += x
		lo = math.Min(lo, x)
		hi = math.Max(hi, x)
	}
	s.NonFinite += int64(len(xs)) - n
	if n == 0 {
		return
	}
	mean := sum / float64(n)
	var m2 float64
	for _, v := range xs {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		d := x - mean
		m2 += d * d
	}
	s.mergeMoments(n, mean, m2, lo, hi)

	if s.Hist == nil {
		s.Hist = newHistogram(s.bins, lo, hi)
		if ys != nil {
			s.Hist.SumY = make([]float64, len(s.Hist.Counts))
		}
	}
	h := s.Hist
	h.cover(lo, hi)
	for i, v := range xs {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		b := h.bin(x)
		h.Counts[b]++
		if ys != nil {
			h.SumY[b] += float64(ys[i])
		}
	}
}

func (s *Stats) mergeMoments(n int64, mean, m2, lo, hi float64) {
	if s.Count == 0 {
		s.Count, s.Mean, s.M2 = n, mean, m2
	} else {
		na, nb := float64(s.Count), float64(n)
		total := na + nb
		delta := mean - s.Mean
		s.Mean += delta * nb / total
		s.M2 += m2 + delta*delta*na*nb/total
		s.Count += n
	}
	s.Min = math.Min(s.Min, lo)
	s.Max = math.Max(s.Max, hi)
}

// Merge folds o into s, as if o's values had been added to s.
func (s *Stats) Merge(o *Stats) {
	s.NonFinite += o.NonFinite
	if o.Count == 0 {
		return
	}
	s.mergeMoments(o.Count, o.Mean, o.M2, o.Min, o.Max)
	if s.Hist == nil {
		c := *o.Hist
		c.Counts = append([]float64(nil), o.Hist.Counts...)
		if o.Hist.SumY != nil {
			c.SumY = append([]float64(nil), o.Hist.SumY...)
		}
		if len(c.Counts) != s.bins {
			s.Hist = newHistogram(s.bins, o.Hist.Lo, o.Hist.Hi())
			if c.SumY != nil {
				s.Hist.SumY = make([]float64, len(s.Hist.Counts))
			}
			s.Hist.merge(&c)
		} else {
			s.Hist = &c
		}
		return
	}
	s.Hist.merge(o.Hist)
}

// SiteStats holds the statistics of one activation input: over the whole tensor, and optionally per
// channel along one axis (1 unless newChannelStats chose another).
type SiteStats struct {
	Layer    *Stats
	Channels []*Stats // nil unless per-channel statistics were asked for
	perChan  bool
	// axis is the channel axis asked for (negative: counted from the end); resolved, the
	// non-negative axis the first tensor made of it (the statistics of later tensors and of
	// merged ones must agree with it).
	axis     int
	resolved int
	note     string // why there are no per-channel statistics although they were asked for
	bins     int
	scratch  []float32
	scratchY []float32
}

// channelAxis is the channel axis as asked for when it counts from the end (a transformer's
// features: -1 whatever the rank, as a bias absorbed into the site records its axis), else as
// resolved.
func (ss *SiteStats) channelAxis() int {
	if ss.axis < 0 {
		return ss.axis
	}
	return ss.resolved
}

// NewSiteStats prepares statistics for one site; perChannel adds statistics per channel along axis 1.
func NewSiteStats(bins int, perChannel bool) *SiteStats {
	return &SiteStats{Layer: NewStats(bins), perChan: perChannel, axis: 1, bins: bins}
}

// newChannelStats prepares statistics for one site with per-channel statistics along axis (counted
// from the end when negative: -1 is a transformer's feature axis).
func newChannelStats(bins, axis int) *SiteStats {
	return &SiteStats{Layer: NewStats(bins), perChan: true, axis: axis, bins: bins}
}

// AddTensor accumulates one batch of a site's input. The values are converted to float32 first,
// which is the precision every kernel computes in.
func (ss *SiteStats) AddTensor(t *tensor.Tensor) error { return ss.addTensor(t, nil) }

// AddPairs accumulates a batch of a site's input x paired elementwise with targets y (same shape).
func (ss *SiteStats) AddPairs(x, y *tensor.Tensor) error {
	if !tensor.SameShape(x.Shape, y.Shape) {
		return fmt.Errorf("input of shape %v paired with targets of shape %v", x.Shape, y.Shape)
	}
	return ss.addTensor(x, y)
}

func (ss *SiteStats) addTensor(t, target *tensor.Tensor) error {
	xs, err := float32Values(t)
	if err != nil {
		return err
	}
	var ys []float32
	if target != nil {
		if ys, err = float32Values(target); err != nil {
			return err
		}
	}
	add := func(s *Stats, x, y []float32) error {
		if y == nil {
			s.Add(x)
			return nil
		}
		return s.AddPairs(x, y)
	}
	if err := add(ss.Layer, xs, ys); err != nil {
		return err
	}
	if !ss.perChan {
		return nil
	}
	axis := ss.axis
	if axis < 0 {
		axis += t.Rank()
	}
	if axis < 1 || axis >= t.Rank() {
		return fmt.Errorf("per-channel statistics along axis %d need a channel axis after the batch axis, got shape %v", ss.axis, t.Shape)
	}
	c := t.Shape[axis]
	if ss.Channels == nil {
		ss.Channels = make([]*Stats, c)
		for i := range ss.Channels {
			ss.Channels[i] = NewStats(ss.bins)
		}
		ss.resolved = axis
	}
	if len(ss.Channels) != c || ss.resolved != axis {
		return fmt.Errorf("channel count changed from %d (axis %d) to %d (axis %d, shape %v) between batches", len(ss.Channels), ss.resolved, c, axis, t.Shape)
	}
	inner := tensor.NumElements(t.Shape[axis+1:])
	outer := tensor.NumElements(t.Shape[:axis])
	for ch := range c {
		ss.scratch = ss.scratch[:0]
		ss.scratchY = ss.scratchY[:0]
		for b := range outer {
			start := (b*c + ch) * inner
			if inner == 1 { // channels last: one value per row
				ss.scratch = append(ss.scratch, xs[start])
				if ys != nil {
					ss.scratchY = append(ss.scratchY, ys[start])
				}
				continue
			}
			ss.scratch = append(ss.scratch, xs[start:start+inner]...)
			if ys != nil {
				ss.scratchY = append(ss.scratchY, ys[start:start+inner]...)
			}
		}
		var y []float32
		if ys != nil {
			y = ss.scratchY
		}
		if err := add(ss.Channels[ch], ss.scratch, y); err != nil {
			return err
		}
	}
	return nil
}

// Merge folds o into ss.
func (ss *SiteStats) Merge(o *SiteStats) error {
	ss.Layer.Merge(o.Layer)
	if o.Channels == nil {
		return nil
	}
	if ss.Channels == nil {
		ss.Channels = make([]*Stats, len(o.Channels))
		for i := range ss.Channels {
			ss.Channels[i] = NewStats(ss.bins)
		}
		ss.resolved = o.resolved
	}
	if len(ss.Channels) != len(o.Channels) || ss.resolved != o.resolved {
		return fmt.Errorf("cannot merge statistics over %d channels along axis %d with %d along axis %d", len(ss.Channels), ss.resolved, len(o.Channels), o.resolved)
	}
	for i := range ss.Channels {
		ss.Channels[i].Merge(o.Channels[i])
	}
	return nil
}

// float32Values returns t's elements as float32, converting from the other float types.
func float32Values(t *tensor.Tensor) ([]float32, error) {
	if v, ok := tensor.Float32s(t); ok {
		return v, nil
	}
	return nil, fmt.Errorf("activation input has dtype %v, want a float type", t.DType)
}
