// Package ortc drives onnxruntime in-process through its C API, for the tests and benchmarks
// that put actswap beside onnxruntime (the onnxruntime plugin's differential tests, in-process
// timing). It loads libonnxruntime.so.1 at run time with dlopen — nothing links against it — so
// it needs cgo but no onnxruntime at build time; without cgo, Open reports that it cannot run.
// The actswap command does not import it and stays pure Go.
//
// Library: ACTSWAP_ORT_LIB, else the onnxruntime-node install that .ci/install-ort.sh makes under
// <repo>/.tools/ort. ortabi.h declares the slice of the C ABI used (OrtApi version 16, so
// onnxruntime 1.16 or later).
package ortc

import (
	"errors"
	"os"
	"path/filepath"
)

// libUnderTools is where onnxruntime-node keeps its shared library, below <repo>/.tools/ort.
var libUnderTools = filepath.Join("node_modules", "onnxruntime-node", "bin", "napi-v6", "linux", "x64", "libonnxruntime.so.1")

// LibPath finds libonnxruntime.so.1: ACTSWAP_ORT_LIB, else <repo>/.tools/ort/… found by walking
// up from the working directory to the folder holding go.mod.
func LibPath() (string, error) {
	if p := os.Getenv("ACTSWAP_ORT_LIB"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "ort", libUnderTools)
			if _, err := os.Stat(p); err != nil {
				return "", errors.New("libonnxruntime.so.1 not found under .tools/ort (run .ci/install-ort.sh) and ACTSWAP_ORT_LIB is not set")
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory, and ACTSWAP_ORT_LIB is not set")
		}
		dir = parent
	}
}

// Options configure a session.
type Options struct {
	// IntraOpThreads is onnxruntime's intra-op thread count (0: its default, all cores); the
	// inter-op pool is always 1 (sequential execution).
	IntraOpThreads int
	// CustomOpsLibrary is a shared library registered with RegisterCustomOpsLibrary_V2, such as
	// the actswap plugin; empty for none.
	CustomOpsLibrary string
	// ProfilePrefix turns on onnxruntime's profiler; EndProfiling returns the JSON file's path.
	ProfilePrefix string
	// Config holds session configuration entries (AddSessionConfigEntry), such as
	// "session.disable_aot_function_inlining".
	Config map[string]string
	// DisableOptimizations sets the graph optimisation level to ORT_DISABLE_ALL.
	DisableOptimizations bool
}
