package gemm

import (
	"fmt"
	"slices"
)

// GatherPlan is what a gathered left operand is apart from its data — row and column offsets,
// row classes and their tap ranges — checked and arranged once: a convolution's are fixed by
// its shape, so the scans that check them (every offset, every class) and the sort of the rows
// by class, which SgemmGatherThen does on every call, are done when the shape is planned
// rather than on every run (a tenth of digits_cnn's 3×3 convolutions at batch 16). The plan
// holds copies of the tables, so nothing the caller changes later can make the kernels read
// outside the data.
type GatherPlan struct {
	rows, cols []int
	class      []uint8
	taps       [][]TapRange
	// colLo and colHi are the least and greatest column offsets; ascending is set when the
	// row offsets never decrease, so that a range of rows reaches from its first offset to its
	// last (a convolution's pixels) and needs no scan.
	colLo, colHi int
	ascending    bool
	// order lists the rows class by class, ascending within each class — class c's are
	// order[start[c]:start[c+1]] — and offsets[x] is rows[order[x]]: a tile's data offsets are
	// a run of offsets. Nil without classes.
	order, offsets []int
	start          []int
}

// NewGatherPlan checks and arranges a gathered operand's tables (GatherA's Rows, Cols, Class
// and Taps): Class, when set, holds one class per row, each naming one of at most 256 entries
// of Taps, each ascending, disjoint, non-empty column ranges within [0, len(cols)).
func NewGatherPlan(rows, cols []int, class []uint8, taps [][]TapRange) (*GatherPlan, error) {
	p, err := newGatherPlan(rows, cols, class, taps, true)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Rows is the plan's row count.
func (p *GatherPlan) Rows() int { return len(p.rows) }

// newGatherPlan is NewGatherPlan, holding copies of the tables when own is set and the
// caller's otherwise (a plan for one call of SgemmGatherThen, which nothing changes meanwhile).
// A value, so that SgemmGatherThen's stays on its stack.
func newGatherPlan(rows, cols []int, class []uint8, taps [][]TapRange, own bool) (GatherPlan, error) {
	p := GatherPlan{rows: rows, cols: cols, class: class, taps: taps, ascending: true}
	if err := p.checkClasses(); err != nil {
		return GatherPlan{}, err
	}
	if own {
		p.rows, p.cols, p.class = slices.Clone(rows), slices.Clone(cols), slices.Clone(class)
		if taps != nil {
			p.taps = make([][]TapRange, len(taps))
			for c, ranges := range taps {
				p.taps[c] = slices.Clone(ranges)
			}
		}
	}
	if len(cols) > 0 {
		p.colLo, p.colHi = slices.Min(cols), slices.Max(cols)
	}
	for i := 1; i < len(rows) && p.ascending; i++ {
		p.ascending = rows[i] >= rows[i-1]
	}
	if p.class != nil {
		// A counting sort by class: stable, so each class's rows stay ascending.
		p.start = make([]int, len(p.taps)+1)
		for _, c := range p.class {
			p.start[c+1]++
		}
		for c := 1; c < len(p.start); c++ {
			p.start[c] += p.start[c-1]
		}
		p.order, p.offsets = make([]int, len(p.rows)), make([]int, len(p.rows))
		fill := slices.Clone(p.start)
		for i, c := range p.class {
			p.order[fill[c]], p.offsets[fill[c]] = i, p.rows[i]
			fill[c]++
		}
	}
	return p, nil
}

// checkClasses checks the plan's row classes: one per row, each naming one of taps,
// ascending, disjoint, non-empty column ranges within [0, len(cols)).
func (p *GatherPlan) checkClasses() error {
	k := len(p.cols)
	if p.class == nil {
		if p.taps != nil {
			return fmt.Errorf("gemm: SgemmGather: tap ranges without row classes")
		}
		return nil
	}
	if len(p.class) != len(p.rows) {
		return fmt.Errorf("gemm: SgemmGather: %d row classes for %d rows", len(p.class), len(p.rows))
	}
	if len(p.taps) > 256 {
		return fmt.Errorf("gemm: SgemmGather: %d row classes, at most 256", len(p.taps))
	}
	for c, ranges := range p.taps {
		end := 0
		for _, r := range ranges {
			if r.From < end || r.To <= r.From || r.To > k {
				return fmt.Errorf("gemm: SgemmGather: class %d's tap ranges %v are not ascending, disjoint, non-empty ranges within [0, %d)", c, ranges, k)
			}
			end = r.To
		}
	}
	for i, c := range p.class {
		if int(c) >= len(p.taps) {
			return fmt.Errorf("gemm: SgemmGather: row %d has class %d of %d", i, c, len(p.taps))
		}
	}
	return nil
}

// rowBounds is the least and greatest row offset of rows [r0, r1) (r0 < r1).
func (p *GatherPlan) rowBounds(r0, r1 int) (lo, hi int) {
	if p.ascending {
		return p.rows[r0], p.rows[r1-1]
	}
	return slices.Min(p.rows[r0:r1]), slices.Max(p.rows[r0:r1])
}

// classRows returns class c's rows within [r0, r1), ascending: their row indices and data
// offsets.
func (p *GatherPlan) classRows(c, r0, r1 int) (index, offsets []int) {
	index, offsets = p.order[p.start[c]:p.start[c+1]], p.offsets[p.start[c]:p.start[c+1]]
	if r0 == 0 && r1 == len(p.rows) {
		return index, offsets
	}
	lo, _ := slices.BinarySearch(index, r0)
	hi, _ := slices.BinarySearch(index, r1)
	return index[lo:hi], offsets[lo:hi]
}
