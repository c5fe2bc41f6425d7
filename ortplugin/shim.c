//go:build cgo && linux

// The C side of the plugin: the OrtCustomOp tables (each family twice: float32 and float16) and
// the entry point onnxruntime calls. Each callback forwards to an exported Go function
// (plugin.go); none holds state of its own.
#include <pthread.h>
#include "ortabi.h"
#include "_cgo_export.h"

typedef struct {
	OrtCustomOp op;
	int family; // index into families (plugin.go): 0 Zorro, 1 PWLU, 2 CRReLU
	int elem;   // the element type of X, of the parameters and of Y (OPS.md: parameters share X's type)
} actswapOp;

static const char* const opNames[3] = {"Zorro", "PWLU", "CRReLU"};
static const size_t opInputs[3] = {2, 4, 2}; // X and the parameter inputs
// onnxruntime merges ops of one name and domain into one schema whose inputs accept the union of
// their types, and picks the kernel whose types match the node's (custom_ops.cc, CreateSchema).
static const int elems[2] = {ORTABI_ELEM_FLOAT, ORTABI_ELEM_FLOAT16};
static actswapOp ops[6];

static int familyOf(const OrtCustomOp* op) { return ((const actswapOp*)op)->family; }
static int elemOf(const OrtCustomOp* op) { return ((const actswapOp*)op)->elem; }
static const char* getName(const OrtCustomOp* op) { return opNames[familyOf(op)]; }
static const char* getExecutionProvider(const OrtCustomOp* op) { return NULL; } // CPU
static int getType(const OrtCustomOp* op, size_t i) { return elemOf(op); }
static size_t getInputCount(const OrtCustomOp* op) { return opInputs[familyOf(op)]; }
static size_t getOutputCount(const OrtCustomOp* op) { return 1; }
static int getRequired(const OrtCustomOp* op, size_t i) { return ORTABI_INPUT_REQUIRED; }
static int getMemDefault(const OrtCustomOp* op, size_t i) { return 0; }
static int getOne(const OrtCustomOp* op) { return 1; }

static OrtStatus* createKernel(const OrtCustomOp* op, const OrtApi* api, const OrtKernelInfo* info, void** kernel) {
	uintptr_t h = 0;
	OrtStatus* st = actswapCreateKernel(familyOf(op), elemOf(op), (OrtApi*)api, (OrtKernelInfo*)info, &h);
	*kernel = (void*)h;
	return st;
}

// The ops give onnxruntime no shape inference function (OrtCustomOp.InferOutputShapeFn, OrtApi
// 17), on measurement: declaring Y's shape let onnxruntime fold vit_tiny's shape arithmetic after
// each site (22 Shape/Gather/Unsqueeze/Concat nodes per block), but also apply to BERT-style
// models the SkipLayerNormalization and 3-D MatMul+Add fusions it applies to the original, which
// on one thread of a Zen 5 cost more than they save: bert_tiny → PWLU went from 0.91 to 0.99 ×
// the original (thread CPU time, 3 alternations), vit_tiny and resnet18 unchanged within noise.

static OrtStatus* compute(void* kernel, OrtKernelContext* ctx) { return actswapCompute((uintptr_t)kernel, ctx); }
static void destroy(void* kernel) { actswapDestroyKernel((uintptr_t)kernel); }

static pthread_once_t opsOnce = PTHREAD_ONCE_INIT;

static void initOps(void) {
	for (int i = 0; i < 6; i++) {
		OrtCustomOp* op = &ops[i].op;
		ops[i].family = i % 3;
		ops[i].elem = elems[i / 3];
		op->version = ORTABI_API_VERSION;
		op->GetName = getName;
		op->GetExecutionProviderType = getExecutionProvider;
		op->GetInputType = getType;
		op->GetInputTypeCount = getInputCount;
		op->GetOutputType = getType;
		op->GetOutputTypeCount = getOutputCount;
		op->KernelDestroy = destroy;
		op->GetInputCharacteristic = getRequired;
		op->GetOutputCharacteristic = getRequired;
		op->GetInputMemoryType = getMemDefault;
		op->GetVariadicInputMinArity = getOne;
		op->GetVariadicInputHomogeneity = getOne;
		op->GetVariadicOutputMinArity = getOne;
		op->GetVariadicOutputHomogeneity = getOne;
		op->CreateKernelV2 = createKernel;
		op->KernelComputeV2 = compute;
	}
}

// actswapRegister adds the ai.actswap domain to the session options. A fresh domain per call:
// onnxruntime keeps a pointer to it for the sessions made from these options, so it is never
// released (a few dozen bytes per registration).
OrtStatus* actswapRegister(OrtSessionOptions* options, const OrtApiBase* base) {
	const OrtApi* api = base->GetApi(ORTABI_API_VERSION);
	if (!api) {
		// GetApi(1) is offered by every release; CreateStatus is its first entry.
		const OrtApi* v1 = base->GetApi(1);
		return v1 ? ortCreateStatus(v1, ORTABI_FAIL, "libactswap_ort needs onnxruntime 1.16 or later (OrtApi version 16)") : NULL;
	}
	pthread_once(&opsOnce, initOps);
	OrtCustomOpDomain* domain = NULL;
	OrtStatus* st = ortCreateCustomOpDomain(api, "ai.actswap", &domain);
	if (st) return st;
	for (int i = 0; i < 6; i++) {
		if ((st = ortCustomOpDomainAdd(api, domain, &ops[i].op))) return st;
	}
	return ortAddCustomOpDomain(api, options, domain);
}
