// Command ortplugin is libactswap_ort.so, the ai.actswap operators (Zorro, PWLU, CRReLU, opset 1)
// as onnxruntime custom ops, built with
//
//	go build -buildmode=c-shared -o libactswap_ort.so ./ortplugin
//
// and loaded by onnxruntime 1.16 or later (SessionOptions.register_custom_ops_library in Python,
// RegisterCustomOpsLibrary_V2 in C/C++, op_library_filename in Triton). It exports
// RegisterCustomOps(OrtSessionOptions*, const OrtApiBase*). The kernels are actswap's own
// (internal/actkernel: AVX2/AVX-512 with the pure-Go fallback); parameters that are constant
// initializers are decoded once per kernel, when onnxruntime creates it. From onnxruntime 1.17
// (OrtApi version 17) the ops also declare Y's shape (X's) to onnxruntime's shape inference.
// float32 only. A Go
// panic never crosses into onnxruntime: it becomes an OrtStatus error naming the node.
// ActswapKernelCalls, also exported, counts Compute calls, so tests can prove the kernel ran.
//
// It needs cgo on linux; without, the package builds to nothing useful.
package main

func main() {}
