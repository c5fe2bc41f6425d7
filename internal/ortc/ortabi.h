// ortabi.h: the part of onnxruntime's C ABI that actswap calls, declared by actswap (not a copy
// of onnxruntime_c_api.h). onnxruntime's OrtApi is a table of function pointers whose order never
// changes once a version has shipped (new entries are appended), so a function is reached by its
// slot number. The slots below were counted from onnxruntime's own table and checked against the
// static_asserts that pin each version's last slot (version 1 ends at 101, 14 at 238, 15 at
// 254, 16 at 265). ORTABI_API_VERSION is the OrtApi version asked of GetApi: 16, so this code
// runs on onnxruntime 1.16 and every later release (1.30 tested); older releases refuse it.
#ifndef ACTSWAP_ORTABI_H
#define ACTSWAP_ORTABI_H

#include <stddef.h>
#include <stdint.h>

#define ORTABI_API_VERSION 16

typedef struct OrtApi OrtApi;
typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct OrtKernelInfo OrtKernelInfo;
typedef struct OrtKernelContext OrtKernelContext;
typedef struct OrtCustomOpDomain OrtCustomOpDomain;
typedef struct OrtAllocator OrtAllocator;
typedef struct OrtRunOptions OrtRunOptions;

typedef struct OrtApiBase {
	const OrtApi* (*GetApi)(uint32_t version);
	const char* (*GetVersionString)(void);
} OrtApiBase;

// Values of onnxruntime's enums that actswap passes.
enum {
	ORTABI_OK = 0,
	ORTABI_FAIL = 1,
	ORTABI_INVALID_ARGUMENT = 2,
	ORTABI_LOG_WARNING = 2,
	ORTABI_LOG_ERROR = 3,
	ORTABI_ARENA_ALLOCATOR = 1,
	ORTABI_MEM_TYPE_DEFAULT = 0,
	ORTABI_ELEM_FLOAT = 1, // ONNX TensorProto data types
	ORTABI_ELEM_FLOAT16 = 10,
	ORTABI_INPUT_REQUIRED = 1, // OrtCustomOpInputOutputCharacteristic
};

// OrtCustomOp as of custom-op version 16 (onnxruntime 1.16): ORTABI_API_VERSION in version makes
// onnxruntime read CreateKernelV2 and KernelComputeV2, which return an OrtStatus, and ignore
// the fields after them (later versions' shape inference, opset ranges, in-place hints).
typedef struct OrtCustomOp {
	uint32_t version;
	void* (*CreateKernel)(const struct OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info);
	const char* (*GetName)(const struct OrtCustomOp* op);
	const char* (*GetExecutionProviderType)(const struct OrtCustomOp* op);
	int (*GetInputType)(const struct OrtCustomOp* op, size_t index);
	size_t (*GetInputTypeCount)(const struct OrtCustomOp* op);
	int (*GetOutputType)(const struct OrtCustomOp* op, size_t index);
	size_t (*GetOutputTypeCount)(const struct OrtCustomOp* op);
	void (*KernelCompute)(void* op_kernel, OrtKernelContext* context);
	void (*KernelDestroy)(void* op_kernel);
	int (*GetInputCharacteristic)(const struct OrtCustomOp* op, size_t index);
	int (*GetOutputCharacteristic)(const struct OrtCustomOp* op, size_t index);
	int (*GetInputMemoryType)(const struct OrtCustomOp* op, size_t index);
	int (*GetVariadicInputMinArity)(const struct OrtCustomOp* op);
	int (*GetVariadicInputHomogeneity)(const struct OrtCustomOp* op);
	int (*GetVariadicOutputMinArity)(const struct OrtCustomOp* op);
	int (*GetVariadicOutputHomogeneity)(const struct OrtCustomOp* op);
	OrtStatus* (*CreateKernelV2)(const struct OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** kernel);
	OrtStatus* (*KernelComputeV2)(void* op_kernel, OrtKernelContext* context);
	void* reserved[8]; // later versions' fields, zero: never read at version 16
} OrtCustomOp;

// Slot numbers in OrtApi.
#define ORTABI_SLOT_CreateStatus 0
#define ORTABI_SLOT_GetErrorMessage 2
#define ORTABI_SLOT_CreateEnv 3
#define ORTABI_SLOT_CreateSession 7
#define ORTABI_SLOT_Run 9
#define ORTABI_SLOT_CreateSessionOptions 10
#define ORTABI_SLOT_EnableProfiling 14
#define ORTABI_SLOT_SetSessionGraphOptimizationLevel 23
#define ORTABI_SLOT_SetIntraOpNumThreads 24
#define ORTABI_SLOT_SetInterOpNumThreads 25
#define ORTABI_SLOT_CreateCustomOpDomain 26
#define ORTABI_SLOT_CustomOpDomain_Add 27
#define ORTABI_SLOT_AddCustomOpDomain 28
#define ORTABI_SLOT_SessionGetInputCount 30
#define ORTABI_SLOT_SessionGetOutputCount 31
#define ORTABI_SLOT_SessionGetInputName 36
#define ORTABI_SLOT_SessionGetOutputName 37
#define ORTABI_SLOT_CreateTensorWithDataAsOrtValue 49
#define ORTABI_SLOT_GetTensorMutableData 51
#define ORTABI_SLOT_GetTensorElementType 60
#define ORTABI_SLOT_GetDimensionsCount 61
#define ORTABI_SLOT_GetDimensions 62
#define ORTABI_SLOT_GetTensorShapeElementCount 64
#define ORTABI_SLOT_GetTensorTypeAndShape 65
#define ORTABI_SLOT_CreateCpuMemoryInfo 69
#define ORTABI_SLOT_AllocatorFree 76
#define ORTABI_SLOT_GetAllocatorWithDefaultOptions 78
#define ORTABI_SLOT_KernelInfoGetAttribute_int64 86
#define ORTABI_SLOT_KernelContext_GetInputCount 88
#define ORTABI_SLOT_KernelContext_GetInput 90
#define ORTABI_SLOT_KernelContext_GetOutput 91
#define ORTABI_SLOT_ReleaseEnv 92
#define ORTABI_SLOT_ReleaseStatus 93
#define ORTABI_SLOT_ReleaseMemoryInfo 94
#define ORTABI_SLOT_ReleaseSession 95
#define ORTABI_SLOT_ReleaseValue 96
#define ORTABI_SLOT_ReleaseTensorTypeAndShapeInfo 99
#define ORTABI_SLOT_ReleaseSessionOptions 100
#define ORTABI_SLOT_SessionEndProfiling 110
#define ORTABI_SLOT_AddSessionConfigEntry 130
#define ORTABI_SLOT_RegisterCustomOpsLibrary_V2 228
#define ORTABI_SLOT_KernelInfo_GetInputCount 230
#define ORTABI_SLOT_KernelInfo_GetNodeName 244
#define ORTABI_SLOT_KernelInfoGetConstantInput_tensor 249

#define ORTABI_FN(api, name, type) ((type)(((void* const*)(api))[ORTABI_SLOT_##name]))

static inline OrtStatus* ortCreateStatus(const OrtApi* a, int code, const char* msg) {
	return ORTABI_FN(a, CreateStatus, OrtStatus* (*)(int, const char*))(code, msg);
}
static inline const char* ortGetErrorMessage(const OrtApi* a, const OrtStatus* s) {
	return ORTABI_FN(a, GetErrorMessage, const char* (*)(const OrtStatus*))(s);
}
static inline void ortReleaseStatus(const OrtApi* a, OrtStatus* s) {
	ORTABI_FN(a, ReleaseStatus, void (*)(OrtStatus*))(s);
}
static inline OrtStatus* ortCreateEnv(const OrtApi* a, int level, const char* id, OrtEnv** out) {
	return ORTABI_FN(a, CreateEnv, OrtStatus* (*)(int, const char*, OrtEnv**))(level, id, out);
}
static inline OrtStatus* ortCreateSessionOptions(const OrtApi* a, OrtSessionOptions** out) {
	return ORTABI_FN(a, CreateSessionOptions, OrtStatus* (*)(OrtSessionOptions**))(out);
}
static inline void ortReleaseSessionOptions(const OrtApi* a, OrtSessionOptions* o) {
	ORTABI_FN(a, ReleaseSessionOptions, void (*)(OrtSessionOptions*))(o);
}
static inline OrtStatus* ortSetIntraOpNumThreads(const OrtApi* a, OrtSessionOptions* o, int n) {
	return ORTABI_FN(a, SetIntraOpNumThreads, OrtStatus* (*)(OrtSessionOptions*, int))(o, n);
}
static inline OrtStatus* ortSetInterOpNumThreads(const OrtApi* a, OrtSessionOptions* o, int n) {
	return ORTABI_FN(a, SetInterOpNumThreads, OrtStatus* (*)(OrtSessionOptions*, int))(o, n);
}
static inline OrtStatus* ortSetGraphOptimizationLevel(const OrtApi* a, OrtSessionOptions* o, int level) {
	return ORTABI_FN(a, SetSessionGraphOptimizationLevel, OrtStatus* (*)(OrtSessionOptions*, int))(o, level);
}
static inline OrtStatus* ortEnableProfiling(const OrtApi* a, OrtSessionOptions* o, const char* prefix) {
	return ORTABI_FN(a, EnableProfiling, OrtStatus* (*)(OrtSessionOptions*, const char*))(o, prefix);
}
static inline OrtStatus* ortAddSessionConfigEntry(const OrtApi* a, OrtSessionOptions* o, const char* k, const char* v) {
	return ORTABI_FN(a, AddSessionConfigEntry, OrtStatus* (*)(OrtSessionOptions*, const char*, const char*))(o, k, v);
}
static inline OrtStatus* ortRegisterCustomOpsLibrary(const OrtApi* a, OrtSessionOptions* o, const char* path) {
	return ORTABI_FN(a, RegisterCustomOpsLibrary_V2, OrtStatus* (*)(OrtSessionOptions*, const char*))(o, path);
}
static inline OrtStatus* ortCreateSession(const OrtApi* a, const OrtEnv* e, const char* path, const OrtSessionOptions* o, OrtSession** out) {
	return ORTABI_FN(a, CreateSession, OrtStatus* (*)(const OrtEnv*, const char*, const OrtSessionOptions*, OrtSession**))(e, path, o, out);
}
static inline void ortReleaseSession(const OrtApi* a, OrtSession* s) {
	ORTABI_FN(a, ReleaseSession, void (*)(OrtSession*))(s);
}
static inline OrtStatus* ortSessionEndProfiling(const OrtApi* a, OrtSession* s, OrtAllocator* al, char** out) {
	return ORTABI_FN(a, SessionEndProfiling, OrtStatus* (*)(OrtSession*, OrtAllocator*, char**))(s, al, out);
}
static inline OrtStatus* ortSessionIOCount(const OrtApi* a, const OrtSession* s, int outputs, size_t* out) {
	if (outputs) return ORTABI_FN(a, SessionGetOutputCount, OrtStatus* (*)(const OrtSession*, size_t*))(s, out);
	return ORTABI_FN(a, SessionGetInputCount, OrtStatus* (*)(const OrtSession*, size_t*))(s, out);
}
static inline OrtStatus* ortSessionIOName(const OrtApi* a, const OrtSession* s, int outputs, size_t i, OrtAllocator* al, char** out) {
	if (outputs) return ORTABI_FN(a, SessionGetOutputName, OrtStatus* (*)(const OrtSession*, size_t, OrtAllocator*, char**))(s, i, al, out);
	return ORTABI_FN(a, SessionGetInputName, OrtStatus* (*)(const OrtSession*, size_t, OrtAllocator*, char**))(s, i, al, out);
}
static inline OrtStatus* ortGetAllocator(const OrtApi* a, OrtAllocator** out) {
	return ORTABI_FN(a, GetAllocatorWithDefaultOptions, OrtStatus* (*)(OrtAllocator**))(out);
}
static inline OrtStatus* ortAllocatorFree(const OrtApi* a, OrtAllocator* al, void* p) {
	return ORTABI_FN(a, AllocatorFree, OrtStatus* (*)(OrtAllocator*, void*))(al, p);
}
static inline OrtStatus* ortCreateCpuMemoryInfo(const OrtApi* a, OrtMemoryInfo** out) {
	return ORTABI_FN(a, CreateCpuMemoryInfo, OrtStatus* (*)(int, int, OrtMemoryInfo**))(ORTABI_ARENA_ALLOCATOR, ORTABI_MEM_TYPE_DEFAULT, out);
}
static inline void ortReleaseMemoryInfo(const OrtApi* a, OrtMemoryInfo* m) {
	ORTABI_FN(a, ReleaseMemoryInfo, void (*)(OrtMemoryInfo*))(m);
}
static inline OrtStatus* ortCreateTensorWithData(const OrtApi* a, const OrtMemoryInfo* m, void* data, size_t bytes, const int64_t* shape, size_t rank, int type, OrtValue** out) {
	return ORTABI_FN(a, CreateTensorWithDataAsOrtValue, OrtStatus* (*)(const OrtMemoryInfo*, void*, size_t, const int64_t*, size_t, int, OrtValue**))(m, data, bytes, shape, rank, type, out);
}
static inline void ortReleaseValue(const OrtApi* a, OrtValue* v) {
	ORTABI_FN(a, ReleaseValue, void (*)(OrtValue*))(v);
}
static inline OrtStatus* ortRun(const OrtApi* a, OrtSession* s, const char* const* in_names, const OrtValue* const* in, size_t n_in, const char* const* out_names, size_t n_out, OrtValue** out) {
	return ORTABI_FN(a, Run, OrtStatus* (*)(OrtSession*, const OrtRunOptions*, const char* const*, const OrtValue* const*, size_t, const char* const*, size_t, OrtValue**))(s, NULL, in_names, in, n_in, out_names, n_out, out);
}
static inline OrtStatus* ortGetTensorMutableData(const OrtApi* a, OrtValue* v, void** out) {
	return ORTABI_FN(a, GetTensorMutableData, OrtStatus* (*)(OrtValue*, void**))(v, out);
}

// ortTensorInfo fills the element type, rank and dimensions (up to max_rank) of a tensor value.
static inline OrtStatus* ortTensorInfo(const OrtApi* a, const OrtValue* v, int* elem, size_t* rank, int64_t* dims, size_t max_rank) {
	OrtTensorTypeAndShapeInfo* info = NULL;
	OrtStatus* st = ORTABI_FN(a, GetTensorTypeAndShape, OrtStatus* (*)(const OrtValue*, OrtTensorTypeAndShapeInfo**))(v, &info);
	if (st) return st;
	st = ORTABI_FN(a, GetTensorElementType, OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, int*))(info, elem);
	if (!st) st = ORTABI_FN(a, GetDimensionsCount, OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, size_t*))(info, rank);
	if (!st && *rank <= max_rank) st = ORTABI_FN(a, GetDimensions, OrtStatus* (*)(const OrtTensorTypeAndShapeInfo*, int64_t*, size_t))(info, dims, *rank);
	ORTABI_FN(a, ReleaseTensorTypeAndShapeInfo, void (*)(OrtTensorTypeAndShapeInfo*))(info);
	return st;
}

// Custom-op side.
static inline OrtStatus* ortKernelInfoAttrInt(const OrtApi* a, const OrtKernelInfo* info, const char* name, int64_t* out) {
	return ORTABI_FN(a, KernelInfoGetAttribute_int64, OrtStatus* (*)(const OrtKernelInfo*, const char*, int64_t*))(info, name, out);
}
static inline OrtStatus* ortKernelInfoInputCount(const OrtApi* a, const OrtKernelInfo* info, size_t* out) {
	return ORTABI_FN(a, KernelInfo_GetInputCount, OrtStatus* (*)(const OrtKernelInfo*, size_t*))(info, out);
}
static inline OrtStatus* ortKernelInfoNodeName(const OrtApi* a, const OrtKernelInfo* info, char* out, size_t* size) {
	return ORTABI_FN(a, KernelInfo_GetNodeName, OrtStatus* (*)(const OrtKernelInfo*, char*, size_t*))(info, out, size);
}
static inline OrtStatus* ortKernelInfoConstantInput(const OrtApi* a, const OrtKernelInfo* info, size_t i, int* is_const, const OrtValue** out) {
	return ORTABI_FN(a, KernelInfoGetConstantInput_tensor, OrtStatus* (*)(const OrtKernelInfo*, size_t, int*, const OrtValue**))(info, i, is_const, out);
}
static inline OrtStatus* ortKernelContextInputCount(const OrtApi* a, const OrtKernelContext* c, size_t* out) {
	return ORTABI_FN(a, KernelContext_GetInputCount, OrtStatus* (*)(const OrtKernelContext*, size_t*))(c, out);
}
static inline OrtStatus* ortKernelContextInput(const OrtApi* a, const OrtKernelContext* c, size_t i, const OrtValue** out) {
	return ORTABI_FN(a, KernelContext_GetInput, OrtStatus* (*)(const OrtKernelContext*, size_t, const OrtValue**))(c, i, out);
}
static inline OrtStatus* ortKernelContextOutput(const OrtApi* a, OrtKernelContext* c, size_t i, const int64_t* dims, size_t rank, OrtValue** out) {
	return ORTABI_FN(a, KernelContext_GetOutput, OrtStatus* (*)(OrtKernelContext*, size_t, const int64_t*, size_t, OrtValue**))(c, i, dims, rank, out);
}
static inline OrtStatus* ortCreateCustomOpDomain(const OrtApi* a, const char* domain, OrtCustomOpDomain** out) {
	return ORTABI_FN(a, CreateCustomOpDomain, OrtStatus* (*)(const char*, OrtCustomOpDomain**))(domain, out);
}
static inline OrtStatus* ortCustomOpDomainAdd(const OrtApi* a, OrtCustomOpDomain* d, const OrtCustomOp* op) {
	return ORTABI_FN(a, CustomOpDomain_Add, OrtStatus* (*)(OrtCustomOpDomain*, const OrtCustomOp*))(d, op);
}
static inline OrtStatus* ortAddCustomOpDomain(const OrtApi* a, OrtSessionOptions* o, OrtCustomOpDomain* d) {
	return ORTABI_FN(a, AddCustomOpDomain, OrtStatus* (*)(OrtSessionOptions*, OrtCustomOpDomain*))(o, d);
}

#endif
