// Package ops holds actswap's kernels and the registry that maps (domain, op type, opset version)
// to them. The runtime package compiles graphs and calls into this registry; packages with
// custom operators (onnxops) register their kernels here the same way the standard ops do.
package ops

import (
	"fmt"
	"sort"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// Kernel runs one node. It is built once per session by a Factory, after which Run must be safe
// for concurrent use: everything it precomputes belongs to the kernel, everything per call to Run.
// inputs has one entry per node input; a missing optional input is nil. The returned slice has one
// tensor per node output (nil for an output the node does not produce).
type Kernel interface {
	Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// KernelFunc adapts a function to Kernel.
type KernelFunc func(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)

// Run calls f.
func (f KernelFunc) Run(ctx *Context, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return f(ctx, inputs)
}

// Factory builds a kernel for a node at session creation. It reads attributes and constant
// inputs from n, validates them, and returns an error (without the node name; the runtime adds
// it) for anything it cannot run.
type Factory func(n *Node) (Kernel, error)

// DefaultDomain is the standard ONNX domain; "ai.onnx" is accepted as its other spelling.
const DefaultDomain = ""

type registration struct {
	since   int
	factory Factory
}

var (
	registryMu sync.RWMutex
	registry   = map[string][]registration{} // key: domain + "\x00" + op type
)

func key(domain, opType string) string {
	return onnx.CanonicalDomain(domain) + "\x00" + opType
}

// Register adds a kernel for (domain, opType) valid from opset version since until the next
// registered version. Registering the same triple twice panics: it is a programming error.
func Register(domain, opType string, since int, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	k := key(domain, opType)
	for _, r := range registry[k] {
		if r.since == since {
			panic(fmt.Sprintf("ops: %s:%s version %d registered twice", domain, opType, since))
		}
	}
	regs := append(registry[k], registration{since, f})
	sort.Slice(regs, func(i, j int) bool { return regs[i].since < regs[j].since })
	registry[k] = regs
}

// RegisterRange registers the same factory for several since-versions, for ops whose semantics
// did not change in a way the factory cares about (it can still read n.Version).
func RegisterRange(domain, opType string, f Factory, since ...int) {
	for _, s := range since {
		Register(domain, opType, s, f)
	}
}

// Lookup finds the kernel factory for an op at the model's opset version of its domain: the
// registration with the highest since-version not above version.
func Lookup(domain, opType string, version int) (Factory, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	regs := registry[key(domain, opType)]
	for i := len(regs) - 1; i >= 0; i-- {
		if regs[i].since <= version {
			return regs[i].factory, true
		}
	}
	return nil, false
}

// Known reports whether any version of (domain, opType) is registered.
func Known(domain, opType string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return len(registry[key(domain, opType)]) > 0
}

// Registered lists every registered "domain:op" (default domain without prefix), sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var names []string
	for k := range registry {
		var domain, op string
		for i := 0; i < len(k); i++ {
			if k[i] == 0 {
				domain, op = k[:i], k[i+1:]
				break
			}
		}
		if domain != "" {
			op = domain + ":" + op
		}
		names = append(names, op)
	}
	sort.Strings(names)
	return names
}
