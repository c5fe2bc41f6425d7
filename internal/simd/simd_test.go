package simd

import (
	"slices"
	"testing"
)

func TestLevels(t *testing.T) {
	t.Parallel()
	if got := Levels(AVX2); !slices.Equal(got, []Level{Go, AVX2}) {
		t.Fatalf("Levels(AVX2) = %v", got)
	}
	if !AVX512.Wide() || AVX2.Wide() || !AVX2.Asm() || Go.Asm() {
		t.Fatal("Asm/Wide do not follow the order of the levels")
	}
	if h := Host(); h > AVX512 {
		t.Fatalf("Host() = %d, not a level", h)
	}
}
