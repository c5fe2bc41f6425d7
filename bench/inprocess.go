package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/actswap/actswap/internal/ortref"
	"github.com/actswap/actswap/tensor"
)

// HarnessName is the in-process onnxruntime timing command (cmd/actswap-ort), built apart from
// actswap because it needs cgo.
const HarnessName = "actswap-ort"

// FindHarness locates actswap-ort: explicit (a flag), else ACTSWAP_ORT_HARNESS, else next to the
// running executable, else in PATH. It returns "" and why when there is none.
func FindHarness(explicit string) (path, why string) {
	for _, p := range []string{explicit, os.Getenv("ACTSWAP_ORT_HARNESS")} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Sprintf("harness %s: %v", p, err)
			}
			return p, ""
		}
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), HarnessName)
		if _, err := os.Stat(p); err == nil {
			return p, ""
		}
	}
	if p, err := exec.LookPath(HarnessName); err == nil {
		return p, ""
	}
	return "", HarnessName + " not found next to the executable, in PATH or in ACTSWAP_ORT_HARNESS (go build -o DIR/actswap-ort ./cmd/actswap-ort)"
}

// InProcessORT is onnxruntime running in a harness process, timed there through the C API.
type InProcessORT struct {
	Version string
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	dir     string
	stderr  *os.File
}

// StartInProcessORT starts the harness on modelPath with the given inputs and intra-op threads,
// registering plugin (a custom-op library) when not empty. Close it when done.
func StartInProcessORT(harness, modelPath, plugin string, inputs map[string]*tensor.Tensor, threads int) (*InProcessORT, error) {
	dir, err := os.MkdirTemp("", "actswap-ort-inputs-")
	if err != nil {
		return nil, err
	}
	h := &InProcessORT{dir: dir}
	if err := ortref.WriteTensors(dir, "inputs.json", "in", inputs); err != nil {
		h.Close()
		return nil, err
	}
	args := []string{"--model", modelPath, "--inputs", dir, "--threads", fmt.Sprint(max(threads, 1))}
	if plugin != "" {
		args = append(args, "--plugin", plugin)
	}
	if h.stderr, err = os.CreateTemp(dir, "stderr"); err != nil {
		h.Close()
		return nil, err
	}
	h.cmd = exec.Command(harness, args...)
	h.cmd.Stderr = h.stderr
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		h.Close()
		return nil, err
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		h.Close()
		return nil, err
	}
	h.out = bufio.NewScanner(stdout)
	h.out.Buffer(nil, 1<<24)
	if err := h.cmd.Start(); err != nil {
		h.cmd = nil
		h.Close()
		return nil, fmt.Errorf("%s: %w", harness, err)
	}
	var hello struct {
		Onnxruntime string `json:"onnxruntime"`
	}
	if err := h.reply(&hello); err != nil {
		h.Close()
		return nil, err
	}
	h.Version = hello.Onnxruntime
	return h, nil
}

// reply reads one JSON line, or reports the harness's stderr when it has stopped.
func (h *InProcessORT) reply(v any) error {
	if !h.out.Scan() {
		h.in.Close()
		h.cmd.Wait()
		msg, _ := os.ReadFile(h.stderr.Name())
		h.cmd = nil
		if len(msg) == 0 {
			return errors.New(HarnessName + " stopped without a reply")
		}
		return errors.New(string(msg))
	}
	return json.Unmarshal(h.out.Bytes(), v)
}

// Bench runs warmup untimed and iters timed runs in the harness and returns each timed run's ms.
func (h *InProcessORT) Bench(warmup, iters int) ([]float64, error) {
	if h.cmd == nil {
		return nil, errors.New(HarnessName + " is not running")
	}
	if _, err := fmt.Fprintf(h.in, "%d %d\n", warmup, iters); err != nil {
		return nil, err
	}
	var r struct {
		Ms []float64 `json:"ms"`
	}
	if err := h.reply(&r); err != nil {
		return nil, err
	}
	if len(r.Ms) != iters {
		return nil, fmt.Errorf("%s answered %d timings for %d runs", HarnessName, len(r.Ms), iters)
	}
	return r.Ms, nil
}

// Profile has the harness run warmup and then iters runs in a session with onnxruntime's
// profiler on (a session of its own, so that Bench's timings never include the profiler's
// cost) and returns each node's kernel time over the iters runs.
func (h *InProcessORT) Profile(warmup, iters int) (ORTProfile, error) {
	if h.cmd == nil {
		return ORTProfile{}, errors.New(HarnessName + " is not running")
	}
	if _, err := fmt.Fprintf(h.in, "profile %d %d\n", warmup, iters); err != nil {
		return ORTProfile{}, err
	}
	var p ORTProfile
	if err := h.reply(&p); err != nil {
		return ORTProfile{}, err
	}
	if p.Runs != iters {
		return ORTProfile{}, fmt.Errorf("%s profiled %d runs for %d", HarnessName, p.Runs, iters)
	}
	return p, nil
}

// Close stops the harness and removes its inputs.
func (h *InProcessORT) Close() error {
	var err error
	if h.cmd != nil {
		h.in.Close()
		err = h.cmd.Wait()
		h.cmd = nil
	}
	if h.stderr != nil {
		h.stderr.Close()
	}
	os.RemoveAll(h.dir)
	return err
}

// CompareInProcessORT alternates rounds of iters runs of actswap's run and of onnxruntime in the
// harness h (started on the same model, inputs and thread count).
func CompareInProcessORT(h *InProcessORT, run func() error, rounds, warmup, iters int) (SideBySide, error) {
	return sideBySide(run, h.Bench, rounds, warmup, iters)
}
