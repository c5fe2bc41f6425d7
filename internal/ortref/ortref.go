// Package ortref runs ONNX models in onnxruntime, the reference that actswap's differential tests
// compare against. It drives onnxruntime-node (installed by .ci/install-ort.sh under
// <repo>/.tools/ort) through a small Node.js script, tools/ort/run.js, exchanging tensors as raw
// little-endian files with a JSON header, so the Go build stays free of cgo.
package ortref

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// ioTensor is one entry of inputs.json / outputs.json.
type ioTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Dims  []int  `json:"dims"`
	File  string `json:"file"`
}

// setup locates node, the ORT install and run.js.
type setup struct {
	node, ortDir, script string
}

// find returns the setup or why onnxruntime cannot be used. ACTSWAP_ORT_DIR overrides the
// install folder (default <repo>/.tools/ort).
func find() (setup, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return setup{}, errors.New("node (Node.js) not found in PATH")
	}
	root, err := repoRoot()
	if err != nil {
		return setup{}, err
	}
	ortDir := os.Getenv("ACTSWAP_ORT_DIR")
	if ortDir == "" {
		ortDir = filepath.Join(root, ".tools", "ort")
	}
	if _, err := os.Stat(filepath.Join(ortDir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		return setup{}, fmt.Errorf("onnxruntime-node not installed under %s (run .ci/install-ort.sh)", ortDir)
	}
	script := filepath.Join(root, "tools", "ort", "run.js")
	if _, err := os.Stat(script); err != nil {
		return setup{}, fmt.Errorf("%s missing", script)
	}
	return setup{node: node, ortDir: ortDir, script: script}, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("ortref: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Available reports whether Run can work: node is on PATH and onnxruntime-node is installed.
func Available() bool { return Unavailable() == "" }

// Unavailable says why onnxruntime cannot be used, or "" when it can; tests skip with it.
func Unavailable() string {
	if _, err := find(); err != nil {
		return err.Error()
	}
	return ""
}

var dtypeNames = map[tensor.DType]string{
	tensor.Float32: "float32", tensor.Float64: "float64", tensor.Float16: "float16",
	tensor.Int8: "int8", tensor.Uint8: "uint8", tensor.Int16: "int16", tensor.Uint16: "uint16",
	tensor.Int32: "int32", tensor.Uint32: "uint32", tensor.Int64: "int64", tensor.Uint64: "uint64",
	tensor.Bool: "bool",
}

// Run runs the model at modelPath in onnxruntime (one intra-op thread) with the given inputs and
// returns every graph output by name.
func Run(modelPath string, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	dir, err := invoke(modelPath, inputs)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	return readOutputs(dir)
}

// Bench runs the model in onnxruntime with threads intra-op threads (≥ 1) warmup times
// untimed, then iters times, and returns each timed run's milliseconds as onnxruntime-node
// measured them.
func Bench(modelPath string, inputs map[string]*tensor.Tensor, warmup, iters, threads int) ([]float64, error) {
	dir, err := invoke(modelPath, inputs, fmt.Sprintf("%d,%d,%d", warmup, iters, max(threads, 1)))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(filepath.Join(dir, "timings.json"))
	if err != nil {
		return nil, fmt.Errorf("ortref: %w", err)
	}
	var ms []float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("ortref: timings.json: %w", err)
	}
	return ms, nil
}

// invoke writes the inputs to a fresh folder, runs run.js on them and returns the folder, which
// the caller removes.
func invoke(modelPath string, inputs map[string]*tensor.Tensor, extra ...string) (string, error) {
	s, err := find()
	if err != nil {
		return "", fmt.Errorf("ortref: %w", err)
	}
	abs, err := filepath.Abs(modelPath)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "actswap-ortref-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(dir)
		return "", err
	}
	if err := WriteTensors(dir, "inputs.json", "in", inputs); err != nil {
		return fail(err)
	}
	cmd := exec.Command(s.node, append([]string{s.script, s.ortDir, abs, dir}, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("ortref: onnxruntime on %s: %v: %s", modelPath, err, bytes.TrimSpace(stderr.Bytes())))
	}
	return dir, nil
}

// WriteTensors writes tensors to dir in the exchange format run.js and cmd/actswap-ort read: a
// JSON header (name, dtype, dims, file per tensor) and one raw little-endian file each, named
// prefix_K.bin.
func WriteTensors(dir, header, prefix string, tensors map[string]*tensor.Tensor) error {
	var specs []ioTensor
	i := 0
	for name, t := range tensors {
		dt, ok := dtypeNames[t.DType]
		if !ok {
			return fmt.Errorf("ortref: input %q: element type %v not supported", name, t.DType)
		}
		file := fmt.Sprintf("%s_%d.bin", prefix, i)
		i++
		if err := os.WriteFile(filepath.Join(dir, file), tensor.RawBytes(t), 0o644); err != nil {
			return err
		}
		specs = append(specs, ioTensor{Name: name, DType: dt, Dims: append([]int{}, t.Shape...), File: file})
	}
	b, err := json.Marshal(specs)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, header), b, 0o644)
}

func readOutputs(dir string) (map[string]*tensor.Tensor, error) {
	return ReadTensors(dir, "outputs.json")
}

// ReadTensors reads the tensors WriteTensors (or run.js) wrote under dir with that header.
func ReadTensors(dir, header string) (map[string]*tensor.Tensor, error) {
	hb, err := os.ReadFile(filepath.Join(dir, header))
	if err != nil {
		return nil, fmt.Errorf("ortref: %w", err)
	}
	var specs []ioTensor
	if err := json.Unmarshal(hb, &specs); err != nil {
		return nil, fmt.Errorf("ortref: %s: %w", filepath.Join(dir, header), err)
	}
	out := map[string]*tensor.Tensor{}
	for _, sp := range specs {
		dt, err := tensor.ParseDType(sp.DType)
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: tensor %q: %w", header, sp.Name, err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, sp.File))
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: tensor %q: %w", header, sp.Name, err)
		}
		t, err := fromRaw(dt, sp.Dims, raw)
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: tensor %q: %w", header, sp.Name, err)
		}
		out[sp.Name] = t
	}
	return out, nil
}

// fromRaw decodes raw little-endian elements through the TensorProto path, which checks the
// length against the shape.
func fromRaw(dt tensor.DType, dims []int, raw []byte) (*tensor.Tensor, error) {
	tp := &onnx.TensorProto{DataType: proto.Int32(int32(dt)), RawData: raw}
	for _, d := range dims {
		tp.Dims = append(tp.Dims, int64(d))
	}
	return tensor.FromProto(tp)
}
