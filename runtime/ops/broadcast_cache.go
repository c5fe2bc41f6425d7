package ops

import (
	"slices"
	"sync/atomic"
)

// Broadcast plans are remembered by input shapes. A node sees the same shapes run after run, and
// planning one (merging dimensions, strides per input) cost a few allocations per elementwise
// node and Run. Plans are immutable once built, so one cache serves every session and goroutine;
// it is direct-mapped by a hash of the shapes, and a collision simply replaces the older plan.

const planCacheSlots = 512

var planCache [planCacheSlots]atomic.Pointer[cachedPlan]

// cachedPlan is a plan with the input shapes it was built for.
type cachedPlan struct {
	inputs [][]int
	plan   *broadcastPlan
}

// broadcastPlanOf returns the plan for shapes, from the cache when it was built before.
func broadcastPlanOf(a, b []int) (*broadcastPlan, error) {
	return cachedBroadcastPlan(a, b, nil, 2)
}

// broadcastPlanOf3 is broadcastPlanOf for three inputs (Where).
func broadcastPlanOf3(a, b, c []int) (*broadcastPlan, error) {
	return cachedBroadcastPlan(a, b, c, 3)
}

// cachedBroadcastPlan takes the shapes as separate arguments rather than a slice of them: a
// variadic slice would escape into the error path of newBroadcastPlan and cost an allocation on
// every call.
func cachedBroadcastPlan(a, b, c []int, n int) (*broadcastPlan, error) {
	h := uint64(14695981039346656037)
	mix := func(s []int) {
		for _, d := range s {
			h = (h ^ uint64(d)) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211 // separator: [2,3]+[4] differs from [2]+[3,4]
	}
	mix(a)
	mix(b)
	if n == 3 {
		mix(c)
	}
	slot := &planCache[h%planCacheSlots]
	if e := slot.Load(); e != nil && len(e.inputs) == n && slices.Equal(e.inputs[0], a) &&
		slices.Equal(e.inputs[1], b) && (n == 2 || slices.Equal(e.inputs[2], c)) {
		return e.plan, nil
	}
	shapes := [][]int{slices.Clone(a), slices.Clone(b)}
	if n == 3 {
		shapes = append(shapes, slices.Clone(c))
	}
	p, err := newBroadcastPlan(shapes...)
	if err != nil {
		return nil, err
	}
	slot.Store(&cachedPlan{inputs: shapes, plan: p})
	return p, nil
}
