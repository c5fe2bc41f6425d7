// Command ortplugin is libactswap_ort.so, the ai.actswap operators (Zorro, PWLU, CRReLU, opset 1)
// as onnxruntime custom ops, built with
//
//	go build -buildmode=c-shared -o libactswap_ort.so ./ortplugin
//
// and loaded by onnxruntime 1.16 or later (SessionOptions.register_custom_ops_library in Python,
// RegisterCustomOpsLibrary_V2 in C/C++, op_library_filename in Triton). It exports
// RegisterCustomOps(OrtSessionOptions*, const OrtApiBase*). The kernels are actswap's own
// (internal/actkernel: AVX2/AVX-512 with the pure-Go fallback); parameters that are constant
// initializers are decoded once per kernel, when onnxruntime creates it. Each operator is
// registered twice, for float32 and for float16 (X, parameters and Y of one type, as the function
// bodies type them); onnxruntime picks the kernel by the node's types. float16 runs the float32
// kernels on blocks widened exactly and rounds the results to nearest even
// (actkernel.ApplyFloat16). A Go panic never crosses into onnxruntime: it becomes an OrtStatus
// error naming the node. ActswapKernelCalls and ActswapKernelCallsFloat16, also exported, count
// Compute calls (all, and the float16 kernels'), so tests can prove which kernel ran.
//
// It needs cgo on linux; without, the package builds to nothing useful.
package main

func main() {}
