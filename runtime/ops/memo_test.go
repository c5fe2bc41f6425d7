package ops

import "testing"

// The memo copies its keys: a caller that reuses its shape slice for another shape must not get
// the geometry of the first (the bug the rule in alloc.go guards against).
func TestShapeMemoCopiesKeys(t *testing.T) {
	t.Parallel()
	var m shapeMemo[int]
	builds := 0
	build := func(v int) func() (int, error) { return func() (int, error) { builds++; return v, nil } }
	shape := []int{2, 3}
	if v, _ := m.get(shape, nil, build(6)); v != 6 {
		t.Fatalf("first get = %d", v)
	}
	shape[1] = 5 // the caller reuses its slice
	if v, _ := m.get(shape, nil, build(10)); v != 10 {
		t.Fatalf("after the caller changed its shape slice: %d, want a new value 10", v)
	}
	if v, _ := m.get([]int{2, 5}, nil, build(-1)); v != 10 || builds != 2 {
		t.Fatalf("same shape again: %d after %d builds, want the remembered 10 after 2", v, builds)
	}
	if v, _ := m.get([]int{2, 5}, []int{1}, build(7)); v != 7 {
		t.Fatalf("a second key shape must count: %d", v)
	}
}
