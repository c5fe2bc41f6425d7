package tensor

import "testing"

// TestSubDataSharesAndDataRangeBounds: a sub-slice shares its array and its address range lies
// inside the whole's; strings are not sliced; NewData makes zeroed data of the dtype's Go type.
func TestSubDataSharesAndDataRangeBounds(t *testing.T) {
	t.Parallel()
	whole := NewData(Float32, 10).([]float32)
	part, ok := SubData(whole, 2, 5)
	if !ok || len(part.([]float32)) != 3 || &part.([]float32)[0] != &whole[2] {
		t.Fatalf("SubData(2, 5) = %v, %v: want a view of elements 2..4", part, ok)
	}
	lo, hi, ok := DataRange(whole)
	plo, phi, pok := DataRange(part)
	if !ok || !pok || hi-lo != 40 || plo != lo+8 || phi != lo+20 {
		t.Fatalf("ranges [%d,%d) and [%d,%d): want 40 bytes and its bytes 8..20", lo, hi, plo, phi)
	}
	if _, ok := SubData([]string{"a"}, 0, 1); ok {
		t.Error("strings: SubData should decline")
	}
	if _, _, ok := DataRange(NewData(Int64, 0)); ok {
		t.Error("empty data has no range")
	}
	if d, ok := NewData(Int64, 3).([]int64); !ok || len(d) != 3 || d[0] != 0 {
		t.Errorf("NewData(Int64, 3) = %v", d)
	}
}
