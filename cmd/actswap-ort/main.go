// Command actswap-ort times onnxruntime in-process through its C API (internal/ortc, cgo,
// libonnxruntime.so.1 loaded at run time), for 'actswap bench --ort'. It lives apart from the
// actswap command so that actswap stays pure Go and static.
//
//	go build -o actswap-ort ./cmd/actswap-ort
//	actswap-ort --model M --inputs DIR --threads T [--plugin libactswap_ort.so] [--lib libonnxruntime.so.1]
//
// DIR holds inputs.json and raw tensor files (internal/ortref's exchange format). After loading
// the model it prints one JSON line {"onnxruntime": VERSION}; then each stdin line "WARMUP ITERS"
// is answered with one JSON line {"ms": [...]} of per-run milliseconds, timing OrtApi::Run alone
// (inputs made once, outputs released, not copied), and each line "profile WARMUP ITERS" with
// one JSON line of bench.ORTProfile: per-node kernel times over ITERS runs of a second session
// with onnxruntime's profiler on. The library is --lib, else ACTSWAP_ORT_LIB,
// else .tools/ort under the repository holding the working directory.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/actswap/actswap/bench"
	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/tensor"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "actswap-ort:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "ONNX model file")
	inputs := flag.String("inputs", "", "folder with inputs.json and the raw input files")
	threads := flag.Int("threads", 1, "onnxruntime intra-op threads (≥ 1)")
	plugin := flag.String("plugin", "", "custom-op library to register (libactswap_ort.so)")
	lib := flag.String("lib", "", "libonnxruntime.so.1 (default: ACTSWAP_ORT_LIB, else .tools/ort)")
	flag.Parse()
	if *model == "" || *inputs == "" {
		return errors.New("--model and --inputs are required")
	}
	if *threads < 1 {
		return fmt.Errorf("--threads %d: must be at least 1", *threads)
	}
	path := *lib
	if path == "" {
		var err error
		if path, err = ortc.LibPath(); err != nil {
			return err
		}
	}
	l, err := ortc.Open(path)
	if err != nil {
		return err
	}
	in, err := ortref.ReadTensors(*inputs, "inputs.json")
	if err != nil {
		return err
	}
	s, err := l.NewSession(*model, ortc.Options{IntraOpThreads: *threads, CustomOpsLibrary: *plugin})
	if err != nil {
		return err
	}
	defer s.Close()
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]string{"onnxruntime": l.Version()}); err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var warmup, iters int
		request, profile := strings.CutPrefix(sc.Text(), "profile ")
		if _, err := fmt.Sscanf(request, "%d %d", &warmup, &iters); err != nil || warmup < 0 || iters < 1 {
			return fmt.Errorf("request %q: want \"WARMUP ITERS\" or \"profile WARMUP ITERS\" (≥ 0, ≥ 1)", sc.Text())
		}
		if profile {
			p, err := profileRuns(l, *model, ortc.Options{IntraOpThreads: *threads, CustomOpsLibrary: *plugin}, in, warmup, iters)
			if err != nil {
				return fmt.Errorf("%s: %w", *model, err)
			}
			if err := out.Encode(p); err != nil {
				return err
			}
			continue
		}
		ms, err := s.Bench(in, warmup, iters)
		if err != nil {
			return fmt.Errorf("%s: %w", *model, err)
		}
		if err := out.Encode(map[string][]float64{"ms": ms}); err != nil {
			return err
		}
	}
	return sc.Err()
}

// profileRuns runs warmup+iters runs in a new session with onnxruntime's profiler on, writing
// its trace to a temporary folder, and sums each node's kernel time over the last iters runs.
func profileRuns(l *ortc.Lib, model string, o ortc.Options, in map[string]*tensor.Tensor, warmup, iters int) (bench.ORTProfile, error) {
	dir, err := os.MkdirTemp("", "actswap-ort-profile-")
	if err != nil {
		return bench.ORTProfile{}, err
	}
	defer os.RemoveAll(dir)
	o.ProfilePrefix = filepath.Join(dir, "onnxruntime")
	s, err := l.NewSession(model, o)
	if err != nil {
		return bench.ORTProfile{}, err
	}
	defer s.Close()
	if _, err := s.Bench(in, warmup, iters); err != nil {
		return bench.ORTProfile{}, err
	}
	path, err := s.EndProfiling()
	if err != nil {
		return bench.ORTProfile{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return bench.ORTProfile{}, err
	}
	defer f.Close()
	return bench.ParseORTProfile(f, warmup)
}
