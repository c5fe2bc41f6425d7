package ops

import "testing"

func TestReverseSequence(t *testing.T) {
	t.Parallel()
	// time-major [time=3, batch=2]: batch 0 reverses 3 steps, batch 1 only 2.
	x := mvF32([]int{3, 2}, 0, 10, 1, 11, 2, 12)
	mvCheck(t, "time major", "ReverseSequence", 10, nil, mvF32([]int{3, 2}, 2, 11, 1, 10, 0, 12), x, mvI64([]int{2}, 3, 2))
	y := mvF32([]int{2, 3}, 0, 1, 2, 10, 11, 12)
	mvCheck(t, "batch major", "ReverseSequence", 10, mvAttrs{"batch_axis": 0, "time_axis": 1},
		mvF32([]int{2, 3}, 0, 1, 2, 11, 10, 12), y, mvI64([]int{2}, 1, 2))
}
