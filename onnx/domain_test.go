package onnx

import "testing"

func TestDomainSpellings(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, canonical, display string
		isDefault              bool
	}{
		{"", "", "ai.onnx", true},
		{"ai.onnx", "", "ai.onnx", true},
		{"ai.actswap", "ai.actswap", "ai.actswap", false},
		{"com.microsoft", "com.microsoft", "com.microsoft", false},
		{"ai.onnx.ml", "ai.onnx.ml", "ai.onnx.ml", false},
	} {
		if got := CanonicalDomain(c.in); got != c.canonical {
			t.Errorf("CanonicalDomain(%q) = %q, want %q", c.in, got, c.canonical)
		}
		if got := IsDefaultDomain(c.in); got != c.isDefault {
			t.Errorf("IsDefaultDomain(%q) = %v, want %v", c.in, got, c.isDefault)
		}
		if got := DomainDisplayName(CanonicalDomain(c.in)); got != c.display {
			t.Errorf("DomainDisplayName(%q) = %q, want %q", c.in, got, c.display)
		}
	}
}
