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
// (inputs made once, outputs released, not copied). The library is --lib, else ACTSWAP_ORT_LIB,
// else .tools/ort under the repository holding the working directory.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/actswap/actswap/internal/ortc"
	"github.com/actswap/actswap/internal/ortref"
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
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &warmup, &iters); err != nil || warmup < 0 || iters < 1 {
			return fmt.Errorf("request %q: want \"WARMUP ITERS\" (≥ 0, ≥ 1)", sc.Text())
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
