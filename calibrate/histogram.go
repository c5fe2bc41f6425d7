package calibrate

import (
	"fmt"
	"math"
)

// DefaultBins is the histogram resolution: fine enough that a PWLU with 64 intervals still sees
// tens of bins per interval on a ±4σ range.
const DefaultBins = 2048

// Histogram counts values in Bins equal-width bins; bin i covers [Lo+i·Width, Lo+(i+1)·Width).
// Its memory is fixed: when a value falls outside the range, the range doubles (adjacent bin pairs
// merge) until it fits, so the histogram never needs the data twice and never grows.
//
// A conditional histogram also keeps SumY, the sum per bin of a target value paired with each x (the
// original model's activation output while x comes from a partly rewritten model), so that a fit can
// regress on E[y | x] instead of on a known function of x.
type Histogram struct {
	Lo     float64   `json:"lo"`
	Width  float64   `json:"width"`
	Counts []float64 `json:"counts"`
	SumY   []float64 `json:"sum_y,omitempty"`
}

// newHistogram covers [lo, hi] with a 5% margin on each side, so that later batches from the same
// distribution rarely force a doubling.
func newHistogram(bins int, lo, hi float64) *Histogram {
	if bins < 2 || bins%2 != 0 {
		bins = DefaultBins
	}
	span := hi - lo
	if !(span > 0) {
		span = math.Max(math.Abs(lo), 1) * 1e-3
	}
	margin := 0.05 * span
	lo -= margin
	width := (span + 2*margin) / float64(bins)
	return &Histogram{Lo: lo, Width: width, Counts: make([]float64, bins)}
}

// Hi is the upper edge of the last bin.
func (h *Histogram) Hi() float64 { return h.Lo + h.Width*float64(len(h.Counts)) }

// Center is the midpoint of bin i.
func (h *Histogram) Center(i int) float64 { return h.Lo + (float64(i)+0.5)*h.Width }

// Total is the sum of all counts.
func (h *Histogram) Total() float64 {
	var s float64
	for _, c := range h.Counts {
		s += c
	}
	return s
}

// cover doubles the range until [lo, hi] lies inside it. Doubling keeps bin edges aligned, so the
// merge is exact: each new bin is the sum of two old ones.
func (h *Histogram) cover(lo, hi float64) {
	n := len(h.Counts)
	for lo < h.Lo || hi >= h.Hi() {
		right := hi >= h.Hi()
		halve(h.Counts, right)
		if h.SumY != nil {
			halve(h.SumY, right)
		}
		if !right {
			h.Lo -= h.Width * float64(n)
		}
		h.Width *= 2
	}
}

// halve sums adjacent pairs of v into one half of v and zeroes the other: the left half when the
// range grows to the right, the right half when it grows to the left.
func halve(v []float64, growRight bool) {
	half := len(v) / 2
	merged := make([]float64, half)
	for i := range half {
		merged[i] = v[2*i] + v[2*i+1]
	}
	clear(v)
	if growRight {
		copy(v[:half], merged)
	} else {
		copy(v[half:], merged)
	}
}

// bin returns the index of x, which must lie in the range.
func (h *Histogram) bin(x float64) int {
	i := int((x - h.Lo) / h.Width)
	if i >= len(h.Counts) { // rounding at the top edge
		i = len(h.Counts) - 1
	}
	if i < 0 {
		i = 0
	}
	return i
}

// merge adds o's counts. When the grids differ, each of o's bins is spread over the bins it overlaps
// in proportion to the overlap (the usual rebinning assumption of uniform density inside a bin).
func (h *Histogram) merge(o *Histogram) {
	if o == nil {
		return
	}
	h.cover(o.Lo, math.Nextafter(o.Hi(), math.Inf(-1)))
	if (h.SumY != nil) != (o.SumY != nil) {
		// Mixing plain and conditional counts would make E[y|x] meaningless; keep counts only.
		h.SumY = nil
	}
	if o.Width == h.Width && len(o.Counts) == len(h.Counts) && o.Lo == h.Lo {
		for i, c := range o.Counts {
			h.Counts[i] += c
			if h.SumY != nil {
				h.SumY[i] += o.SumY[i]
			}
		}
		return
	}
	for i, c := range o.Counts {
		if c == 0 {
			continue
		}
		a := o.Lo + float64(i)*o.Width
		b := a + o.Width
		for j := h.bin(a); j < len(h.Counts); j++ {
			lo := h.Lo + float64(j)*h.Width
			hi := lo + h.Width
			if lo >= b {
				break
			}
			overlap := math.Min(b, hi) - math.Max(a, lo)
			if overlap > 0 {
				h.Counts[j] += c * overlap / o.Width
				if h.SumY != nil {
					h.SumY[j] += o.SumY[i] * overlap / o.Width
				}
			}
		}
	}
}

// Quantile returns the value below which a fraction p of the counted mass lies, interpolating
// linearly inside a bin.
func (h *Histogram) Quantile(p float64) (float64, error) {
	total := h.Total()
	if total == 0 {
		return 0, fmt.Errorf("quantile of an empty histogram")
	}
	target := p * total
	var acc float64
	for i, c := range h.Counts {
		if acc+c >= target && c > 0 {
			return h.Lo + (float64(i)+(target-acc)/c)*h.Width, nil
		}
		acc += c
	}
	return h.Hi(), nil
}
