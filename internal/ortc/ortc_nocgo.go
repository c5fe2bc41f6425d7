//go:build !cgo || !linux

package ortc

import (
	"errors"

	"github.com/actswap/actswap/tensor"
)

var errNoCgo = errors.New("ortc needs cgo on linux (this build has CGO_ENABLED=0 or another OS)")

// Lib is a loaded onnxruntime; without cgo it cannot be made.
type Lib struct{}

// Session is an onnxruntime session; without cgo it cannot be made.
type Session struct{}

// Open reports that onnxruntime cannot be loaded without cgo.
func Open(string) (*Lib, error) { return nil, errNoCgo }

// Version is empty without cgo.
func (*Lib) Version() string { return "" }

// NewSession fails without cgo.
func (*Lib) NewSession(string, Options) (*Session, error) { return nil, errNoCgo }

// Run fails without cgo.
func (*Session) Run(map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return nil, errNoCgo
}

// Bench fails without cgo.
func (*Session) Bench(map[string]*tensor.Tensor, int, int) ([]float64, error) { return nil, errNoCgo }

// EndProfiling fails without cgo.
func (*Session) EndProfiling() (string, error) { return "", errNoCgo }

// Close does nothing without cgo.
func (*Session) Close() {}

// Int64Func fails without cgo.
func Int64Func(string, string) (func() int64, error) { return nil, errNoCgo }

// Inputs is empty without cgo.
func (*Session) Inputs() []string { return nil }

// Outputs is empty without cgo.
func (*Session) Outputs() []string { return nil }
