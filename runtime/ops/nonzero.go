package ops

import (
	"cmp"
	"fmt"
	"sort"

	"github.com/actswap/actswap/tensor"
)

// NonZero, Compress and Unique produce outputs whose size depends on the data.

func init() {
	Register(DefaultDomain, "NonZero", 9, newNonZero)
	Register(DefaultDomain, "Compress", 9, newCompress)
	Register(DefaultDomain, "Unique", 11, newUnique)
}

// nonzeroMask reports, per element, whether it is nonzero (true for bools, non-empty for strings).
func nonzeroMask(t *tensor.Tensor) ([]bool, error) {
	switch d := t.Data.(type) {
	case []bool:
		return d, nil
	case []float32:
		return nonzeroOf(d), nil
	case []float64:
		return nonzeroOf(d), nil
	case []tensor.Float16Bits: // ±0 both count as zero
		mask := make([]bool, len(d))
		for i, v := range d {
			mask[i] = v&0x7fff != 0
		}
		return mask, nil
	case []tensor.BFloat16Bits:
		mask := make([]bool, len(d))
		for i, v := range d {
			mask[i] = v&0x7fff != 0
		}
		return mask, nil
	case []int8:
		return nonzeroOf(d), nil
	case []int16:
		return nonzeroOf(d), nil
	case []int32:
		return nonzeroOf(d), nil
	case []int64:
		return nonzeroOf(d), nil
	case []uint8:
		return nonzeroOf(d), nil
	case []uint16:
		return nonzeroOf(d), nil
	case []uint32:
		return nonzeroOf(d), nil
	case []uint64:
		return nonzeroOf(d), nil
	case []string:
		return nonzeroOf(d), nil
	}
	return nil, fmt.Errorf("unsupported type %v", t.DType)
}

func nonzeroOf[T comparable](s []T) []bool {
	var zero T
	mask := make([]bool, len(s))
	for i, v := range s {
		mask[i] = v != zero
	}
	return mask
}

func newNonZero(n *Node) (Kernel, error) {
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "X")
		if err != nil {
			return nil, err
		}
		mask, err := nonzeroMask(x)
		if err != nil {
			return nil, err
		}
		count := 0
		for _, nz := range mask {
			if nz {
				count++
			}
		}
		rank := len(x.Shape)
		out := ctx.Alloc(tensor.Int64, []int{rank, count})
		coords := out.I64()
		strides := tensor.Strides(x.Shape)
		k := 0
		for p, nz := range mask {
			if !nz {
				continue
			}
			rest := p
			for d := range rank {
				coords[d*count+k] = int64(rest / strides[d])
				rest %= strides[d]
			}
			k++
		}
		return ctx.Result(out), nil
	}), nil
}

func newCompress(n *Node) (Kernel, error) {
	hasAxis := n.HasAttr("axis")
	axis := n.AttrInt("axis", 0)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "input")
		if err != nil {
			return nil, err
		}
		c, err := moveNeed(inputs, 1, "condition")
		if err != nil {
			return nil, err
		}
		cond, ok := c.Data.([]bool)
		if !ok || len(c.Shape) != 1 {
			return nil, fmt.Errorf("input 1 (condition) must be a 1-D bool tensor, is %v", c)
		}
		shape := []int{x.Len()}
		a := 0
		if hasAxis {
			if a, err = moveAxis(axis, len(x.Shape)); err != nil {
				return nil, err
			}
			shape = x.Shape
		}
		dim := shape[a]
		if len(cond) > dim {
			return nil, fmt.Errorf("condition has %d entries for an axis of %d", len(cond), dim)
		}
		var keep []int
		for j, v := range cond {
			if v {
				keep = append(keep, j)
			}
		}
		outer := tensor.NumElements(shape[:a])
		inner := tensor.NumElements(shape[a+1:])
		outShape := append([]int(nil), shape...)
		outShape[a] = len(keep)
		offs := make([]int, 0, outer*len(keep))
		for o := range outer {
			for _, j := range keep {
				offs = append(offs, (o*dim+j)*inner)
			}
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		out := ctx.Alloc(x.DType, outShape)
		if inner > 0 {
			m.blocks(out.Data, x.Data, offs, inner)
		}
		return ctx.Result(out), nil
	}), nil
}

func newUnique(n *Node) (Kernel, error) {
	sorted := n.AttrInt("sorted", 1) != 0
	hasAxis := n.HasAttr("axis")
	axis := n.AttrInt("axis", 0)
	return KernelFunc(func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
		x, err := moveNeed(inputs, 0, "X")
		if err != nil {
			return nil, err
		}
		shape := []int{x.Len()}
		a := 0
		if hasAxis {
			if a, err = moveAxis(axis, len(x.Shape)); err != nil {
				return nil, err
			}
			shape = x.Shape
		}
		v := uniqueView{outer: tensor.NumElements(shape[:a]), n: shape[a], inner: tensor.NumElements(shape[a+1:])}
		var groups [][]int
		switch d := x.Data.(type) {
		case []float32:
			groups = uniqueGroups(v, d, cmp.Compare[float32])
		case []float64:
			groups = uniqueGroups(v, d, cmp.Compare[float64])
		case []int8:
			groups = uniqueGroups(v, d, cmp.Compare[int8])
		case []int16:
			groups = uniqueGroups(v, d, cmp.Compare[int16])
		case []int32:
			groups = uniqueGroups(v, d, cmp.Compare[int32])
		case []int64:
			groups = uniqueGroups(v, d, cmp.Compare[int64])
		case []uint8:
			groups = uniqueGroups(v, d, cmp.Compare[uint8])
		case []uint16:
			groups = uniqueGroups(v, d, cmp.Compare[uint16])
		case []uint32:
			groups = uniqueGroups(v, d, cmp.Compare[uint32])
		case []uint64:
			groups = uniqueGroups(v, d, cmp.Compare[uint64])
		case []string:
			groups = uniqueGroups(v, d, cmp.Compare[string])
		case []tensor.Float16Bits:
			groups = uniqueGroups(v, d, func(p, q tensor.Float16Bits) int { return cmp.Compare(p.Float32(), q.Float32()) })
		case []tensor.BFloat16Bits:
			groups = uniqueGroups(v, d, func(p, q tensor.BFloat16Bits) int { return cmp.Compare(p.Float32(), q.Float32()) })
		case []bool:
			groups = uniqueGroups(v, d, func(p, q bool) int { return cmp.Compare(uniqueBoolRank(p), uniqueBoolRank(q)) })
		default:
			return nil, fmt.Errorf("unsupported type %v", x.DType)
		}
		if !sorted {
			sort.Slice(groups, func(i, j int) bool { return groups[i][0] < groups[j][0] })
		}
		yShape := append([]int(nil), shape...)
		yShape[a] = len(groups)
		y := ctx.Alloc(x.DType, yShape)
		indices := ctx.Alloc(tensor.Int64, []int{len(groups)})
		inverse := ctx.Alloc(tensor.Int64, []int{v.n})
		counts := ctx.Alloc(tensor.Int64, []int{len(groups)})
		firsts := make([]int, len(groups))
		for g, members := range groups {
			firsts[g] = members[0]
			indices.I64()[g] = int64(members[0])
			counts.I64()[g] = int64(len(members))
			for _, j := range members {
				inverse.I64()[j] = int64(g)
			}
		}
		m, err := moverFor(x.DType)
		if err != nil {
			return nil, err
		}
		if v.inner > 0 {
			offs := make([]int, 0, v.outer*len(groups))
			for o := range v.outer {
				for _, j := range firsts {
					offs = append(offs, (o*v.n+j)*v.inner)
				}
			}
			m.blocks(y.Data, x.Data, offs, v.inner)
		}
		return []*tensor.Tensor{y, indices, inverse, counts}, nil
	}), nil
}

func uniqueBoolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// uniqueView sees the input as [outer, n, inner]; item j is every element with middle index j.
type uniqueView struct{ outer, n, inner int }

// uniqueGroups sorts the n items by value (ties by position) and returns the positions of equal
// items, groups in ascending value order, positions ascending within a group.
func uniqueGroups[T any](v uniqueView, data []T, compare func(a, b T) int) [][]int {
	compareItems := func(i, j int) int {
		for o := range v.outer {
			base := o * v.n * v.inner
			for k := range v.inner {
				if c := compare(data[base+i*v.inner+k], data[base+j*v.inner+k]); c != 0 {
					return c
				}
			}
		}
		return 0
	}
	order := make([]int, v.n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(p, q int) bool { return compareItems(order[p], order[q]) < 0 })
	var groups [][]int
	for p, j := range order {
		if p > 0 && compareItems(order[p-1], j) == 0 {
			groups[len(groups)-1] = append(groups[len(groups)-1], j)
			continue
		}
		groups = append(groups, []int{j})
	}
	return groups
}
