// run_rewritten: run a model rewritten by actswap in onnxruntime with the actswap plugin, from C.
//
//	cc -O2 -I../../internal/ortc -o run_rewritten run_rewritten.c -ldl
//	./run_rewritten LIBONNXRUNTIME LIBACTSWAP_ORT MODEL INPUT_NAME DIM...
//
// It feeds one float32 input of the given dimensions filled with sin(0.01·i) and prints every
// value of the first output, one per line. onnxruntime is loaded with dlopen and reached through
// ortabi.h (the slots of the C API actswap uses); a program compiled against onnxruntime's own
// onnxruntime_c_api.h makes the same calls: GetApi, CreateEnv, CreateSessionOptions,
// RegisterCustomOpsLibrary_V2, CreateSession, CreateTensorWithDataAsOrtValue, Run.
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ortabi.h"

static const OrtApi* api;

static void check(OrtStatus* st, const char* what) {
	if (st) {
		fprintf(stderr, "%s: %s\n", what, ortGetErrorMessage(api, st));
		ortReleaseStatus(api, st);
		exit(1);
	}
}

int main(int argc, char** argv) {
	if (argc < 6) {
		fprintf(stderr, "usage: %s LIBONNXRUNTIME LIBACTSWAP_ORT MODEL INPUT_NAME DIM...\n", argv[0]);
		return 2;
	}
	void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	const OrtApiBase* (*getBase)(void) = (const OrtApiBase* (*)(void))dlsym(lib, "OrtGetApiBase");
	if (!getBase || !(api = getBase()->GetApi(ORTABI_API_VERSION))) {
		fprintf(stderr, "%s: no OrtApi version %d\n", argv[1], ORTABI_API_VERSION);
		return 1;
	}
	OrtEnv* env;
	check(ortCreateEnv(api, ORTABI_LOG_WARNING, "run_rewritten", &env), "CreateEnv");
	OrtSessionOptions* opts;
	check(ortCreateSessionOptions(api, &opts), "CreateSessionOptions");
	check(ortSetIntraOpNumThreads(api, opts, 1), "SetIntraOpNumThreads");
	check(ortRegisterCustomOpsLibrary(api, opts, argv[2]), "RegisterCustomOpsLibrary_V2");
	OrtSession* sess;
	check(ortCreateSession(api, env, argv[3], opts, &sess), "CreateSession");

	size_t rank = (size_t)(argc - 5), n = 1;
	int64_t dims[16];
	for (size_t i = 0; i < rank && i < 16; i++) {
		dims[i] = atoll(argv[5 + i]);
		n *= (size_t)dims[i];
	}
	float* x = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++) x[i] = (float)sin(0.01 * (double)i);
	OrtMemoryInfo* mem;
	check(ortCreateCpuMemoryInfo(api, &mem), "CreateCpuMemoryInfo");
	OrtValue* in = NULL;
	check(ortCreateTensorWithData(api, mem, x, n * sizeof(float), dims, rank, ORTABI_ELEM_FLOAT, &in), "CreateTensor");

	OrtAllocator* alloc;
	check(ortGetAllocator(api, &alloc), "GetAllocator");
	char* outName;
	check(ortSessionIOName(api, sess, 1, 0, alloc, &outName), "SessionGetOutputName");
	const char* inNames[1] = {argv[4]};
	const char* outNames[1] = {outName};
	const OrtValue* ins[1] = {in};
	OrtValue* outs[1] = {NULL};
	check(ortRun(api, sess, inNames, ins, 1, outNames, 1, outs), "Run");

	int elem;
	size_t outRank;
	int64_t outDims[16];
	check(ortTensorInfo(api, outs[0], &elem, &outRank, outDims, 16), "output shape");
	size_t m = 1;
	for (size_t i = 0; i < outRank; i++) m *= (size_t)outDims[i];
	float* y;
	check(ortGetTensorMutableData(api, outs[0], (void**)&y), "output data");
	for (size_t i = 0; i < m; i++) printf("%.9g\n", y[i]);

	ortReleaseValue(api, outs[0]);
	ortReleaseValue(api, in);
	ortAllocatorFree(api, alloc, outName);
	ortReleaseMemoryInfo(api, mem);
	ortReleaseSession(api, sess);
	ortReleaseSessionOptions(api, opts);
	free(x);
	return 0;
}
