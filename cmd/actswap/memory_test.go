package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/tensor"
)

// bench --batch 100000000 is refused from the estimate, before the inputs are made, instead of
// dying out of memory; run refuses the same way.
func TestBenchAndRunRefuseWhatDoesNotFit(t *testing.T) {
	if _, known := availableMemory(); !known {
		t.Skip("the available memory is unknown on this system, so no run is refused")
	}
	model := bundled(t, "digits_cnn", "model.onnx")
	text, code := runBinary(t, "bench", model, "--batch", "100000000", "--iters", "1", "--warmup", "0")
	if code != exitFailure || !strings.Contains(text, "needs about") || !strings.Contains(text, "of memory available") {
		t.Errorf("bench --batch 100000000: exit %d, want %d and a memory estimate:\n%s", code, exitFailure, text)
	}
	if text, code := runBinary(t, "bench", model, "--batch", "4", "--iters", "2", "--warmup", "0"); code != exitOK {
		t.Errorf("bench --batch 4: exit %d\n%s", code, text)
	}
}

// run streams a large .npy through the model --batch-size rows at a time: its peak RSS stays far
// below the size of the data (64 MiB in, 64 MiB out), and the output has every row, in order.
func TestRunStreamsLargeInput(t *testing.T) {
	const rows, width = 1 << 20, 16
	b := graphtest.New("relu", 17)
	x := b.Input("x", tensor.Float32, "batch", width)
	b.Node("", "Relu", []string{x}, 0)
	b.Model().Graph.Node[0].Output = []string{"y"}
	b.Output("y", tensor.Float32, "batch", width)
	model := graphtest.Save(t, b.Model(), "relu")
	data := tensor.Zeros(tensor.Float32, []int{rows, width})
	for i, v := range data.F32() {
		data.F32()[i] = float32(i%7) - 3 + v
	}
	input := writeNpy(t, "big.npy", data)
	data = nil
	out := filepath.Join(t.TempDir(), "out")

	cmd := exec.Command(actswapBinary(t), "run", model, "--data", input, "--out", out, "--batch-size", "4096", "--threads", "1")
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, text)
	}
	// The binary reports its own VmHWM: the child's rusage would include this test process's
	// memory, which a vfork-style spawn shares until exec.
	_, after, ok := strings.Cut(string(text), "peak RSS ")
	peak, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(after), " MB"), 64)
	if !ok || err != nil {
		t.Fatalf("run does not report its peak RSS:\n%s", text)
	}
	t.Logf("%s", text)
	if peak > 0 && peak > 48 {
		t.Errorf("run's peak RSS is %.1f MB, want at most 48 MB while streaming 64 MiB", peak)
	}
	y, _, err := tensor.ReadProtoFile(filepath.Join(out, "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	if y.Shape[0] != rows || y.Shape[1] != width {
		t.Fatalf("output shape %v, want [%d %d]", y.Shape, rows, width)
	}
	for i, v := range y.F32() {
		if want := max(float32(i%7)-3, 0); v != want {
			t.Fatalf("output element %d is %v, want %v", i, v, want)
		}
	}
}
