//go:build cgo && linux

// The C side of the plugin: the OrtCustomOp tables (each family twice: float32 and float16) and
// the entry point onnxruntime calls. Each callback forwards to an exported Go function
// (plugin.go); none holds state of its own.
#include <pthread.h>
#include <stdio.h>
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

// shapeApi is the OrtApi of version ORTABI_SHAPE_API_VERSION, or NULL where onnxruntime is older:
// set once, by initOps, before any op is registered.
static const OrtApi* shapeApi;
static const OrtApiBase* registeringBase;

// shapeSameAsX declares output 0 of a node under shape inference to have input 0's type
// and shape. A rank of 0 is onnxruntime's answer for an unknown shape as well as for a scalar,
// so it leaves the output as onnxruntime typed it (no shape). A dimension with neither a value
// nor a name would be written as the value -1, so each such dimension is given a fresh name
// (ACTSWAP_D<serial>, from *serial): a symbol used nowhere else, which claims nothing about the
// dimension but keeps the others, whose values onnxruntime folds into constants downstream.
static OrtStatus* shapeSameAsX(const OrtApi* a, OrtShapeInferContext* ctx, uint32_t* serial) {
	OrtTensorTypeAndShapeInfo* x = NULL; // owned by ctx
	OrtStatus* st = ortShapeInferInput(a, ctx, 0, &x);
	if (st) return st;
	size_t rank = 0;
	if ((st = ortDimensionsCount(a, x, &rank))) return st;
	if (rank == 0 || rank > 64) return NULL;
	int64_t dims[64];
	const char* names[64];
	char fresh[64][24];
	if ((st = ortDimensions(a, x, dims, rank))) return st;
	if ((st = ortSymbolicDimensions(a, x, names, rank))) return st;
	int renamed = 0;
	for (size_t i = 0; i < rank; i++) {
		if (!names[i]) names[i] = "";
		if (dims[i] < 0 && names[i][0] == 0) {
			snprintf(fresh[i], sizeof fresh[i], "ACTSWAP_D%u", __atomic_add_fetch(serial, 1, __ATOMIC_RELAXED));
			names[i] = fresh[i];
			renamed = 1;
		}
	}
	if (renamed && (st = ortSetSymbolicDimensions(a, x, names, rank))) return st;
	return ortShapeInferSetOutput(a, ctx, 0, x);
}

// inferShape gives Y the type and shape of X (every op is elementwise). Without it onnxruntime
// knows only Y's element type, and every Shape → Gather → Concat chain downstream of a site,
// which it folds to constants on the original model, runs at every call (vit_tiny: 0.6 ms of
// 20 in one profile). onnxruntime ignores the status returned here (custom_ops.cc), so it is released.
static OrtStatus* inferShape(const OrtCustomOp* op, OrtShapeInferContext* ctx) {
	static uint32_t serial;
	OrtStatus* st = shapeSameAsX(shapeApi, ctx, &serial);
	if (st) ortReleaseStatus(shapeApi, st);
	return NULL;
}

static OrtStatus* compute(void* kernel, OrtKernelContext* ctx) { return actswapCompute((uintptr_t)kernel, ctx); }
static void destroy(void* kernel) { actswapDestroyKernel((uintptr_t)kernel); }

static pthread_once_t opsOnce = PTHREAD_ONCE_INIT;

static void initOps(void) {
	shapeApi = registeringBase->GetApi(ORTABI_SHAPE_API_VERSION);
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
		if (shapeApi) {
			op->version = ORTABI_SHAPE_API_VERSION;
			op->InferOutputShapeFn = inferShape;
		}
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
	__atomic_store_n(&registeringBase, base, __ATOMIC_SEQ_CST); // the same base on every call
	pthread_once(&opsOnce, initOps);
	OrtCustomOpDomain* domain = NULL;
	OrtStatus* st = ortCreateCustomOpDomain(api, "ai.actswap", &domain);
	if (st) return st;
	for (int i = 0; i < 6; i++) {
		if ((st = ortCustomOpDomainAdd(api, domain, &ops[i].op))) return st;
	}
	return ortAddCustomOpDomain(api, options, domain);
}
