//go:build cgo && linux

package main

/*
#cgo CFLAGS: -I${SRCDIR}/../internal/ortc
#include <stdlib.h>
#include "ortabi.h"
OrtStatus* actswapRegister(OrtSessionOptions* options, const OrtApiBase* base);
*/
import "C"

import (
	"fmt"
	"math"
	"runtime/cgo"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/actswap/actswap/internal/actkernel"
	"github.com/actswap/actswap/onnxops"
	"github.com/actswap/actswap/tensor"
)

// calls counts Compute calls over every kernel of the process; calls16 those of the float16
// kernels among them.
var calls, calls16 atomic.Int64

//export RegisterCustomOps
func RegisterCustomOps(options *C.OrtSessionOptions, base *C.OrtApiBase) *C.OrtStatus {
	return C.actswapRegister(options, base)
}

//export ActswapKernelCalls
func ActswapKernelCalls() C.int64_t { return C.int64_t(calls.Load()) }

//export ActswapKernelCallsFloat16
func ActswapKernelCallsFloat16() C.int64_t { return C.int64_t(calls16.Load()) }

// kernel is one node's state: immutable after creation, so onnxruntime may call Compute from
// several threads at once (concurrent Run on one session).
type kernel struct {
	api    *C.OrtApi
	fam    onnxops.Family
	elem   C.int // X's, the parameters' and Y's element type: ORTABI_ELEM_FLOAT or _FLOAT16
	node   string
	axis   int
	gate   bool
	params int               // parameter inputs after X
	k      *actkernel.Kernel // nil when a parameter input is not a constant initializer
	// last is, when k is nil, the kernel built from the parameter values of a recent call,
	// reused while they stay the same: onnxruntime runs a float16 node among float32 neighbours
	// in float32 and feeds its float16 initializers through a Cast at every run, so they reach
	// the kernel as values that are not constant but never change.
	last atomic.Pointer[builtKernel]
}

func (k *kernel) status(err error) *C.OrtStatus {
	return status(k.api, fmt.Errorf("node %q (%s:%s): %w", k.node, onnxops.Domain, k.fam, err))
}

func status(api *C.OrtApi, err error) *C.OrtStatus {
	msg := C.CString(err.Error())
	defer C.free(unsafe.Pointer(msg))
	return C.ortCreateStatus(api, C.ORTABI_FAIL, msg)
}

func check(api *C.OrtApi, st *C.OrtStatus) error {
	if st == nil {
		return nil
	}
	msg := C.GoString(C.ortGetErrorMessage(api, st))
	C.ortReleaseStatus(api, st)
	return fmt.Errorf("onnxruntime: %s", msg)
}

//export actswapCreateKernel
func actswapCreateKernel(family, elem C.int, api *C.OrtApi, info *C.OrtKernelInfo, handle *C.uintptr_t) (st *C.OrtStatus) {
	k := &kernel{api: api, fam: onnxops.Families[family], elem: elem, node: nodeName(api, info)}
	defer func() {
		if r := recover(); r != nil {
			st = k.status(fmt.Errorf("panic creating the kernel: %v\n%s", r, debug.Stack()))
		}
	}()
	if err := k.init(info); err != nil {
		return k.status(err)
	}
	*handle = C.uintptr_t(cgo.NewHandle(k))
	return nil
}

func nodeName(api *C.OrtApi, info *C.OrtKernelInfo) string {
	var size C.size_t
	if C.ortKernelInfoNodeName(api, info, nil, &size) != nil || size == 0 {
		return "?"
	}
	buf := (*C.char)(C.malloc(size))
	defer C.free(unsafe.Pointer(buf))
	if err := check(api, C.ortKernelInfoNodeName(api, info, buf, &size)); err != nil {
		return "?"
	}
	return C.GoString(buf)
}

func (k *kernel) attrInt(info *C.OrtKernelInfo, name string, def int64) int64 {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var v C.int64_t
	if st := C.ortKernelInfoAttrInt(k.api, info, cname, &v); st != nil {
		C.ortReleaseStatus(k.api, st) // absent: the default of OPS.md
		return def
	}
	return int64(v)
}

func (k *kernel) init(info *C.OrtKernelInfo) error {
	k.params = len(onnxops.ParamInputNames(k.fam))
	var n C.size_t
	if err := check(k.api, C.ortKernelInfoInputCount(k.api, info, &n)); err != nil {
		return err
	}
	if int(n) != 1+k.params {
		return fmt.Errorf("%s takes %d inputs (X, %v), node has %d", k.fam, 1+k.params, onnxops.ParamInputNames(k.fam), n)
	}
	k.axis = int(k.attrInt(info, "axis", 1))
	if k.fam == onnxops.FamilyZorro {
		switch g := k.attrInt(info, "gate", 0); g {
		case 0, 1:
			k.gate = g == 1
		default:
			return fmt.Errorf("attribute gate = %d, want 0 or 1", g)
		}
	}
	ts := make([]*tensor.Tensor, k.params)
	for i := range ts {
		var isConst C.int
		var v *C.OrtValue
		if err := check(k.api, C.ortKernelInfoConstantInput(k.api, info, C.size_t(1+i), &isConst, &v)); err != nil {
			return err
		}
		if isConst == 0 {
			return nil // read per Compute
		}
		t, err := k.paramView(v, onnxops.ParamInputNames(k.fam)[i])
		if err != nil {
			return err
		}
		ts[i] = t.Clone() // the kernel outlives the constant's OrtValue
	}
	built, err := actkernel.New(k.fam, k.gate, ts)
	if err != nil {
		return err
	}
	k.k = built
	return nil
}

const maxRank = 16

// shape reads the dimensions of a tensor of the kernel's element type.
func (k *kernel) shape(v *C.OrtValue, what string) ([]int, []C.int64_t, error) {
	var elem C.int
	var rank C.size_t
	var dims [maxRank]C.int64_t
	if err := check(k.api, C.ortTensorInfo(k.api, v, &elem, &rank, &dims[0], maxRank)); err != nil {
		return nil, nil, fmt.Errorf("input %s: %w", what, err)
	}
	if elem != k.elem {
		return nil, nil, fmt.Errorf("input %s has element type %d; this kernel runs %d (float32 is 1, float16 10, X and parameters alike)", what, elem, k.elem)
	}
	if rank > maxRank {
		return nil, nil, fmt.Errorf("input %s has rank %d, above %d", what, rank, maxRank)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = int(dims[i])
	}
	return shape, dims[:rank:rank], nil
}

// data is a tensor's memory (owned by onnxruntime) as a slice of E, the Go type of the kernel's
// element type.
func data[E float32 | tensor.Float16Bits](k *kernel, v *C.OrtValue, n int) ([]E, error) {
	if n == 0 {
		return nil, nil
	}
	var p unsafe.Pointer
	if err := check(k.api, C.ortGetTensorMutableData(k.api, v, &p)); err != nil {
		return nil, err
	}
	return unsafe.Slice((*E)(p), n), nil
}

// paramView is a parameter tensor over onnxruntime's memory, valid during this Compute only:
// compared in place with the parameters the last kernel was built from, and copied (Clone)
// only when they differ, so a node whose parameters onnxruntime feeds at run time copies
// nothing while they stay the same.
func (k *kernel) paramView(v *C.OrtValue, what string) (*tensor.Tensor, error) {
	shape, _, err := k.shape(v, what)
	if err != nil {
		return nil, err
	}
	n := tensor.NumElements(shape)
	if k.elem == C.ORTABI_ELEM_FLOAT16 {
		src, err := data[tensor.Float16Bits](k, v, n)
		if err != nil {
			return nil, err
		}
		return tensor.New(shape, src), nil
	}
	src, err := data[float32](k, v, n)
	if err != nil {
		return nil, err
	}
	return tensor.New(shape, src), nil
}

//export actswapCompute
func actswapCompute(handle C.uintptr_t, ctx *C.OrtKernelContext) (st *C.OrtStatus) {
	k := cgo.Handle(handle).Value().(*kernel)
	defer func() {
		if r := recover(); r != nil {
			st = k.status(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	if err := k.compute(ctx); err != nil {
		return k.status(err)
	}
	calls.Add(1)
	if k.elem == C.ORTABI_ELEM_FLOAT16 {
		calls16.Add(1)
	}
	return nil
}

func (k *kernel) compute(ctx *C.OrtKernelContext) error {
	var x *C.OrtValue
	if err := check(k.api, C.ortKernelContextInput(k.api, ctx, 0, &x)); err != nil {
		return err
	}
	shape, dims, err := k.shape(x, "X")
	if err != nil {
		return err
	}
	built := k.k
	if built == nil {
		ts := make([]*tensor.Tensor, k.params)
		for i := range ts {
			var v *C.OrtValue
			if err := check(k.api, C.ortKernelContextInput(k.api, ctx, C.size_t(1+i), &v)); err != nil {
				return err
			}
			if ts[i], err = k.paramView(v, onnxops.ParamInputNames(k.fam)[i]); err != nil {
				return err
			}
		}
		if last := k.last.Load(); last != nil && sameTensors(last.params, ts) {
			built = last.k
		} else {
			for i, t := range ts { // the kernel outlives this call's views
				ts[i] = t.Clone()
			}
			if built, err = actkernel.New(k.fam, k.gate, ts); err != nil {
				return err
			}
			k.last.Store(&builtKernel{params: ts, k: built})
		}
	}
	outer, inner, err := actkernel.Plan(shape, k.axis, built.Channels())
	if err != nil {
		return err
	}
	var y *C.OrtValue
	var dimsPtr *C.int64_t
	if len(dims) > 0 {
		dimsPtr = &dims[0]
	}
	if err := check(k.api, C.ortKernelContextOutput(k.api, ctx, 0, dimsPtr, C.size_t(len(dims)), &y)); err != nil {
		return err
	}
	// One thread: onnxruntime calls each node on one of its own threads, and its thread count
	// is the user's; spreading over goroutines would oversubscribe the cores it was given.
	n := tensor.NumElements(shape)
	if k.elem == C.ORTABI_ELEM_FLOAT16 {
		src, dst, err := inOut[tensor.Float16Bits](k, x, y, n)
		if err == nil {
			built.ApplyFloat16(dst, src, outer, inner, actkernel.Serial)
		}
		return err
	}
	src, dst, err := inOut[float32](k, x, y, n)
	if err == nil {
		built.Apply(dst, src, outer, inner, actkernel.Serial)
	}
	return err
}

// inOut is X's and Y's memory.
func inOut[E float32 | tensor.Float16Bits](k *kernel, x, y *C.OrtValue, n int) (src, dst []E, err error) {
	if src, err = data[E](k, x, n); err != nil {
		return nil, nil, err
	}
	dst, err = data[E](k, y, n)
	return src, dst, err
}

// builtKernel is a kernel and the parameter tensors it was built from.
type builtKernel struct {
	params []*tensor.Tensor
	k      *actkernel.Kernel
}

// sameTensors reports whether a and b have equal shapes and bit-identical elements (float32 or
// float16, the types paramView makes).
func sameTensors(a, b []*tensor.Tensor) bool {
	for i := range a {
		if !slices.Equal(a[i].Shape, b[i].Shape) {
			return false
		}
		switch x := a[i].Data.(type) {
		case []tensor.Float16Bits:
			y, ok := b[i].Data.([]tensor.Float16Bits)
			if !ok || !slices.Equal(x, y) {
				return false
			}
		case []float32:
			y, ok := b[i].Data.([]float32)
			if !ok || !slices.EqualFunc(x, y, func(p, q float32) bool { return math.Float32bits(p) == math.Float32bits(q) }) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

//export actswapDestroyKernel
func actswapDestroyKernel(handle C.uintptr_t) {
	if handle != 0 {
		cgo.Handle(handle).Delete()
	}
}
