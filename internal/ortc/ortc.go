//go:build cgo && linux

package ortc

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "ortabi.h"

typedef const OrtApiBase* (*ortGetApiBaseFn)(void);

static const OrtApiBase* ortcLoad(const char* path, char** err) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { *err = dlerror(); return NULL; }
	ortGetApiBaseFn f = (ortGetApiBaseFn)dlsym(h, "OrtGetApiBase");
	if (!f) { *err = dlerror(); return NULL; }
	return f();
}
typedef int64_t (*ortcInt64Fn)(void);

static void* ortcSymbol(const char* path, const char* name, char** err) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) { *err = dlerror(); return NULL; }
	void* f = dlsym(h, name);
	if (!f) *err = dlerror();
	return f;
}
static int64_t ortcCallInt64(void* f) { return ((ortcInt64Fn)f)(); }
static const OrtApi* ortcGetApi(const OrtApiBase* b) { return b->GetApi(ORTABI_API_VERSION); }
static const char* ortcVersion(const OrtApiBase* b) { return b->GetVersionString(); }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/actswap/actswap/tensor"
)

// Lib is a loaded onnxruntime with its process-wide environment.
type Lib struct {
	api     *C.OrtApi
	env     *C.OrtEnv
	mem     *C.OrtMemoryInfo
	alloc   *C.OrtAllocator
	version string
}

var (
	libsMu sync.Mutex
	libs   = map[string]*Lib{}
)

// Open loads the library at path (once per process: onnxruntime allows one environment).
func Open(path string) (*Lib, error) {
	libsMu.Lock()
	defer libsMu.Unlock()
	if l := libs[path]; l != nil {
		return l, nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr *C.char
	base := C.ortcLoad(cpath, &cerr)
	if base == nil {
		return nil, fmt.Errorf("loading %s: %s", path, C.GoString(cerr))
	}
	l := &Lib{version: C.GoString(C.ortcVersion(base))}
	l.api = C.ortcGetApi(base)
	if l.api == nil {
		return nil, fmt.Errorf("%s (onnxruntime %s) does not offer OrtApi version %d (onnxruntime 1.%d or later needed)", path, l.version, C.ORTABI_API_VERSION, C.ORTABI_API_VERSION)
	}
	id := C.CString("actswap")
	defer C.free(unsafe.Pointer(id))
	if err := l.check(C.ortCreateEnv(l.api, C.ORTABI_LOG_ERROR, id, &l.env)); err != nil {
		return nil, err
	}
	if err := l.check(C.ortCreateCpuMemoryInfo(l.api, &l.mem)); err != nil {
		return nil, err
	}
	if err := l.check(C.ortGetAllocator(l.api, &l.alloc)); err != nil {
		return nil, err
	}
	libs[path] = l
	return l, nil
}

// Int64Func returns the function int64_t name(void) of the shared library at path, loading it
// if this process has not (a library onnxruntime loaded is the same instance): the plugin's
// ActswapKernelCalls counter, for tests.
func Int64Func(path, name string) (func() int64, error) {
	cpath, cname := C.CString(path), C.CString(name)
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.char
	f := C.ortcSymbol(cpath, cname, &cerr)
	if f == nil {
		return nil, fmt.Errorf("%s in %s: %s", name, path, C.GoString(cerr))
	}
	return func() int64 { return int64(C.ortcCallInt64(f)) }, nil
}

// Version is onnxruntime's version string, such as "1.30.0".
func (l *Lib) Version() string { return l.version }

// check turns an OrtStatus into an error and releases it.
func (l *Lib) check(st *C.OrtStatus) error {
	if st == nil {
		return nil
	}
	msg := C.GoString(C.ortGetErrorMessage(l.api, st))
	C.ortReleaseStatus(l.api, st)
	return fmt.Errorf("onnxruntime: %s", msg)
}

// Session is one onnxruntime inference session. Run is safe for concurrent use, as
// onnxruntime's OrtSession::Run is.
type Session struct {
	lib      *Lib
	s        *C.OrtSession
	inputs   []string
	outputs  []string
	cInputs  []*C.char
	cOutputs []*C.char
	closed   sync.Once
}

// NewSession loads a model file.
func (l *Lib) NewSession(modelPath string, o Options) (*Session, error) {
	var opts *C.OrtSessionOptions
	if err := l.check(C.ortCreateSessionOptions(l.api, &opts)); err != nil {
		return nil, err
	}
	defer C.ortReleaseSessionOptions(l.api, opts)
	if o.IntraOpThreads > 0 {
		if err := l.check(C.ortSetIntraOpNumThreads(l.api, opts, C.int(o.IntraOpThreads))); err != nil {
			return nil, err
		}
	}
	if err := l.check(C.ortSetInterOpNumThreads(l.api, opts, 1)); err != nil {
		return nil, err
	}
	if o.DisableOptimizations {
		if err := l.check(C.ortSetGraphOptimizationLevel(l.api, opts, 0)); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(o.Config))
	for k := range o.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ck, cv := C.CString(k), C.CString(o.Config[k])
		err := l.check(C.ortAddSessionConfigEntry(l.api, opts, ck, cv))
		C.free(unsafe.Pointer(ck))
		C.free(unsafe.Pointer(cv))
		if err != nil {
			return nil, err
		}
	}
	if o.ProfilePrefix != "" {
		cp := C.CString(o.ProfilePrefix)
		err := l.check(C.ortEnableProfiling(l.api, opts, cp))
		C.free(unsafe.Pointer(cp))
		if err != nil {
			return nil, err
		}
	}
	if o.CustomOpsLibrary != "" {
		cp := C.CString(o.CustomOpsLibrary)
		err := l.check(C.ortRegisterCustomOpsLibrary(l.api, opts, cp))
		C.free(unsafe.Pointer(cp))
		if err != nil {
			return nil, fmt.Errorf("registering %s: %w", o.CustomOpsLibrary, err)
		}
	}
	cpath := C.CString(modelPath)
	defer C.free(unsafe.Pointer(cpath))
	s := &Session{lib: l}
	if err := l.check(C.ortCreateSession(l.api, l.env, cpath, opts, &s.s)); err != nil {
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}
	for out := 0; out < 2; out++ {
		var n C.size_t
		if err := l.check(C.ortSessionIOCount(l.api, s.s, C.int(out), &n)); err != nil {
			s.Close()
			return nil, err
		}
		for i := 0; i < int(n); i++ {
			var name *C.char
			if err := l.check(C.ortSessionIOName(l.api, s.s, C.int(out), C.size_t(i), l.alloc, &name)); err != nil {
				s.Close()
				return nil, err
			}
			g := C.GoString(name)
			C.ortAllocatorFree(l.api, l.alloc, unsafe.Pointer(name))
			if out == 0 {
				s.inputs = append(s.inputs, g)
				s.cInputs = append(s.cInputs, C.CString(g))
			} else {
				s.outputs = append(s.outputs, g)
				s.cOutputs = append(s.cOutputs, C.CString(g))
			}
		}
	}
	return s, nil
}

// Inputs and Outputs are the model's graph input and output names, in order.
func (s *Session) Inputs() []string  { return s.inputs }
func (s *Session) Outputs() []string { return s.outputs }

// Close releases the session; it must not be running.
func (s *Session) Close() {
	s.closed.Do(func() {
		if s.s != nil {
			C.ortReleaseSession(s.lib.api, s.s)
		}
		for _, p := range append(s.cInputs, s.cOutputs...) {
			C.free(unsafe.Pointer(p))
		}
	})
}

// EndProfiling stops the profiler and returns the profile file's path.
func (s *Session) EndProfiling() (string, error) {
	var out *C.char
	if err := s.lib.check(C.ortSessionEndProfiling(s.lib.api, s.s, s.lib.alloc, &out)); err != nil {
		return "", err
	}
	p := C.GoString(out)
	C.ortAllocatorFree(s.lib.api, s.lib.alloc, unsafe.Pointer(out))
	return p, nil
}

const maxRank = 16

// Run feeds the named inputs (every graph input) and returns every output, copied into Go
// tensors. The input tensors' memory is handed to onnxruntime for the call (C memory, copied in).
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	l := s.lib
	vals := make([]*C.OrtValue, len(s.inputs))
	bufs := make([]unsafe.Pointer, len(s.inputs))
	defer func() {
		for i, v := range vals {
			if v != nil {
				C.ortReleaseValue(l.api, v)
			}
			if bufs[i] != nil {
				C.free(bufs[i])
			}
		}
	}()
	if err := s.inputValues(inputs, vals, bufs); err != nil {
		return nil, err
	}
	outs := make([]*C.OrtValue, len(s.outputs))
	// The name and value arrays are passed as C arrays: Go memory holding C pointers is fine
	// for the duration of the call, since cgo pins what it passes.
	inNames := (**C.char)(C.malloc(C.size_t(len(s.cInputs)+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(inNames))
	copy(unsafe.Slice(inNames, len(s.cInputs)+1), s.cInputs)
	outNames := (**C.char)(C.malloc(C.size_t(len(s.cOutputs)+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(outNames))
	copy(unsafe.Slice(outNames, len(s.cOutputs)+1), s.cOutputs)
	inVals := (**C.OrtValue)(C.malloc(C.size_t(len(vals)+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(inVals))
	copy(unsafe.Slice(inVals, len(vals)+1), vals)
	outVals := (**C.OrtValue)(C.calloc(C.size_t(len(outs)+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(outVals))
	err := l.check(C.ortRun(l.api, s.s, inNames, inVals, C.size_t(len(vals)), outNames, C.size_t(len(outs)), outVals))
	copy(outs, unsafe.Slice(outVals, len(outs)))
	defer func() {
		for _, v := range outs {
			if v != nil {
				C.ortReleaseValue(l.api, v)
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	result := make(map[string]*tensor.Tensor, len(outs))
	for i, v := range outs {
		t, err := l.toTensor(v)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", s.outputs[i], err)
		}
		result[s.outputs[i]] = t
	}
	runtime.KeepAlive(s)
	return result, nil
}

// inputValues makes one OrtValue per graph input in vals, over C copies of the data in bufs
// (onnxruntime keeps the pointer during Run, and cgo forbids C holding Go memory); the caller
// releases both, including after an error.
func (s *Session) inputValues(inputs map[string]*tensor.Tensor, vals []*C.OrtValue, bufs []unsafe.Pointer) error {
	l := s.lib
	for i, name := range s.inputs {
		t := inputs[name]
		if t == nil {
			return fmt.Errorf("input %q not given", name)
		}
		raw, err := rawBytes(t)
		if err != nil {
			return fmt.Errorf("input %q: %w", name, err)
		}
		n := max(len(raw), 1)
		bufs[i] = C.malloc(C.size_t(n))
		copy(unsafe.Slice((*byte)(bufs[i]), len(raw)), raw)
		dims := make([]C.int64_t, max(len(t.Shape), 1))
		for j, d := range t.Shape {
			dims[j] = C.int64_t(d)
		}
		if err := l.check(C.ortCreateTensorWithData(l.api, l.mem, bufs[i], C.size_t(len(raw)), &dims[0], C.size_t(len(t.Shape)), C.int(t.DType), &vals[i])); err != nil {
			return fmt.Errorf("input %q: %w", name, err)
		}
	}
	return nil
}

// Bench runs the model warmup times untimed, then iters times, and returns each timed run's
// milliseconds. Only OrtApi::Run and the release of its outputs are inside the timer: the input
// values are made once beforehand and no output is copied out, so the figure is onnxruntime's own
// (the criticism of timing it through onnxruntime-node, whose conversions sit inside the timer).
func (s *Session) Bench(inputs map[string]*tensor.Tensor, warmup, iters int) ([]float64, error) {
	l := s.lib
	n := len(s.inputs)
	ptr := C.size_t(unsafe.Sizeof(uintptr(0)))
	// C arrays, so that onnxruntime never holds Go memory across calls.
	inVals := (**C.OrtValue)(C.calloc(C.size_t(n+1), ptr))
	defer C.free(unsafe.Pointer(inVals))
	vals := unsafe.Slice(inVals, n+1)
	bufs := make([]unsafe.Pointer, n)
	defer func() {
		for i := 0; i < n; i++ {
			if vals[i] != nil {
				C.ortReleaseValue(l.api, vals[i])
			}
			if bufs[i] != nil {
				C.free(bufs[i])
			}
		}
	}()
	if err := s.inputValues(inputs, vals, bufs); err != nil {
		return nil, err
	}
	inNames := (**C.char)(C.malloc(C.size_t(n+1) * ptr))
	defer C.free(unsafe.Pointer(inNames))
	copy(unsafe.Slice(inNames, n+1), s.cInputs)
	m := len(s.cOutputs)
	outNames := (**C.char)(C.malloc(C.size_t(m+1) * ptr))
	defer C.free(unsafe.Pointer(outNames))
	copy(unsafe.Slice(outNames, m+1), s.cOutputs)
	outVals := (**C.OrtValue)(C.calloc(C.size_t(m+1), ptr))
	defer C.free(unsafe.Pointer(outVals))
	outs := unsafe.Slice(outVals, m)
	times := make([]float64, 0, iters)
	for i := 0; i < warmup+iters; i++ {
		t0 := time.Now()
		err := l.check(C.ortRun(l.api, s.s, inNames, inVals, C.size_t(n), outNames, C.size_t(m), outVals))
		for j, v := range outs {
			if v != nil {
				C.ortReleaseValue(l.api, v)
				outs[j] = nil
			}
		}
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if i >= warmup {
			times = append(times, float64(d.Nanoseconds())/1e6)
		}
	}
	runtime.KeepAlive(s)
	return times, nil
}

// toTensor copies an output value into a Go tensor.
func (l *Lib) toTensor(v *C.OrtValue) (*tensor.Tensor, error) {
	var elem C.int
	var rank C.size_t
	var dims [maxRank]C.int64_t
	if err := l.check(C.ortTensorInfo(l.api, v, &elem, &rank, &dims[0], maxRank)); err != nil {
		return nil, err
	}
	if rank > maxRank {
		return nil, fmt.Errorf("rank %d above %d", rank, maxRank)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = int(dims[i])
	}
	t := tensor.Zeros(tensor.DType(elem), shape)
	raw, err := rawBytes(t)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		var p unsafe.Pointer
		if err := l.check(C.ortGetTensorMutableData(l.api, v, &p)); err != nil {
			return nil, err
		}
		copy(raw, unsafe.Slice((*byte)(p), len(raw)))
	}
	return t, nil
}
