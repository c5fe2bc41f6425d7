package loadgen

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/serve"
	"github.com/actswap/actswap/tensor"
)

// digits starts a server for the bundled digits ViT and returns its URL, 32 test images and
// the direct Run's outputs for them.
func digits(t *testing.T) (string, *tensor.Tensor, map[string]*tensor.Tensor) {
	models := filepath.Join(testutil.RepoRoot(t), "models")
	path := filepath.Join(models, "digits_vit", "model.onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skip("bundled digits_vit missing")
	}
	x, err := tensor.ReadNpy(filepath.Join(models, "digits_data", "test_x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	x = tensor.SliceRows(x, 0, 32)
	m, err := onnx.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(m, runtime.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	want, err := sess.Run(map[string]*tensor.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New([]serve.ModelSpec{{Name: "digits", Version: "1", Path: path}}, serve.Options{Addr: "127.0.0.1:0", MaxBatch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + srv.Addr(), x, want
}

func TestVerifiedLoad(t *testing.T) {
	url, x, want := digits(t)
	report, err := Run(context.Background(), Options{URL: url, Model: "digits", Input: "input", Data: x, Rows: 3,
		Concurrency: 8, Duration: 10 * time.Second, MaxRequests: 64, Expected: want, Tolerance: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if report.Failed() || report.Requests != 64 || report.Verified != 64 {
		t.Fatalf("%v\n%s", report, report.ErrorSummary())
	}
}

// Answers that differ from the expected outputs are errors, and the run fails.
func TestVerifyCatchesWrongAnswers(t *testing.T) {
	url, x, want := digits(t)
	for name, w := range want {
		shifted := tensor.SliceRows(w, 0, w.Shape[0])
		d := shifted.F32()
		d[len(d)-1] += 1 // the last row's answer is now wrong
		want[name] = shifted
	}
	report, err := Run(context.Background(), Options{URL: url, Model: "digits", Input: "input", Data: x, Rows: 1,
		Concurrency: 4, Duration: 10 * time.Second, MaxRequests: 32, Expected: want, Tolerance: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if !report.Failed() || report.Mismatches != 1 || !strings.Contains(report.ErrorSummary(), "rows [31,32)") {
		t.Fatalf("one wrong row of 32: %v\n%s", report, report.ErrorSummary())
	}
}

// Every request failing (nothing listens) is a failed run whose errors say why.
func TestFailedRequestsReported(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	x := tensor.Zeros(tensor.Float32, []int{4, 1, 8, 8})
	report, err := Run(context.Background(), Options{URL: "http://" + addr, Model: "digits", Input: "input", Data: x, Rows: 1,
		Concurrency: 2, Duration: 5 * time.Second, MaxRequests: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !report.Failed() || report.Errors != 10 || !strings.Contains(report.ErrorSummary(), "connection refused") {
		t.Fatalf("against a closed port: %v\n%s", report, report.ErrorSummary())
	}
}

func TestRejectsNonLoopbackLoad(t *testing.T) {
	_, err := Run(context.Background(), Options{URL: "http://10.1.2.3:8000", Concurrency: 1, Duration: time.Second, Rows: 1})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("want a loopback-only refusal, got %v", err)
	}
}
