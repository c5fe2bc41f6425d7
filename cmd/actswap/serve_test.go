package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/testutil"
)

// TestServeExitsCleanlyOnSIGTERM runs the real serve command, answers a request, then sends
// SIGTERM: the process must drain and exit with status 0.
func TestServeExitsCleanlyOnSIGTERM(t *testing.T) {
	model := filepath.Join(testutil.RepoRoot(t), "models", "digits_vit", "model.onnx")
	if _, err := os.Stat(model); err != nil {
		t.Skip("bundled digits_vit missing")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInspectMainHelper$")
	args := []string{"serve", "--model", "digits=" + model, "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "warn"}
	cmd.Env = append(os.Environ(), "ACTSWAP_INSPECT_ARGS="+strings.Join(args, "\x1f"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (stderr %s)", err, stderr.String())
	}
	var addr string
	if _, err := fmt.Sscanf(line, "actswap serve: REST on http://%s", &addr); err != nil {
		t.Fatalf("startup line %q: %v", line, err)
	}
	addr = strings.TrimSuffix(addr, ",")
	body := `{"inputs":[{"name":"input","shape":[1,1,8,8],"datatype":"FP32","data":[` + strings.TrimSuffix(strings.Repeat("0.5,", 64), ",") + `]}]}`
	resp, err := http.Post("http://"+addr+"/v2/models/digits/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("infer answered %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit within 30s of SIGTERM")
	}
}
