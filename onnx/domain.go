package onnx

// DefaultDomainName is the standard operator set's long name; in a model the same domain is usually
// written "", and both spellings mean the same operators.
const DefaultDomainName = "ai.onnx"

// CanonicalDomain maps the default domain's two spellings, "" and "ai.onnx", to "", so that domains
// compare and key maps by meaning; every other domain is returned unchanged.
func CanonicalDomain(d string) string {
	if d == DefaultDomainName {
		return ""
	}
	return d
}

// IsDefaultDomain reports whether d names the standard ONNX operator set ("" or "ai.onnx").
func IsDefaultDomain(d string) bool { return CanonicalDomain(d) == "" }

// DomainDisplayName is d as messages show it: the default domain as "ai.onnx", never as "".
func DomainDisplayName(d string) string {
	if d == "" {
		return DefaultDomainName
	}
	return d
}
