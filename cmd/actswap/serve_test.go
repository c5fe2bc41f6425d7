package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/graphtest"
	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/tensor"
)

// servedProcess is `actswap serve` running as a child process on loopback ports.
type servedProcess struct {
	cmd      *exec.Cmd
	addr     string // REST host:port
	grpcAddr string
	stderr   *syncBuffer
	exited   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs the real serve command (through the test binary, as runActswap does) and
// waits for its startup line.
func startServe(t *testing.T, args ...string) *servedProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInspectMainHelper$")
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--log-level", "warn"}, args...)
	cmd.Env = append(os.Environ(), "ACTSWAP_INSPECT_ARGS="+strings.Join(args, "\x1f"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &servedProcess{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (stderr %s)", err, p.stderr.String())
	}
	if _, err := fmt.Sscanf(line, "actswap serve: REST on http://%s gRPC on %s", &p.addr, &p.grpcAddr); err != nil {
		t.Fatalf("startup line %q: %v", line, err)
	}
	p.addr = strings.TrimSuffix(p.addr, ",")
	p.grpcAddr = strings.TrimSpace(p.grpcAddr)
	return p
}

// wait returns the exit status once the process ends (failing after limit).
func (p *servedProcess) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-p.exited:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("serve did not exit within %v; stderr: %s", limit, p.stderr.String())
	}
	return -1
}

func digitsVit(t *testing.T) string {
	model := filepath.Join(testutil.RepoRoot(t), "models", "digits_vit", "model.onnx")
	if _, err := os.Stat(model); err != nil {
		t.Skip("bundled digits_vit missing")
	}
	return model
}

// reluModel is y = Relu(x) for x[batch,64]: the cheapest model, so a test's time and memory are
// the server's own.
func reluModel(t *testing.T) string {
	b := graphtest.New("relu", 13)
	x := b.Input("x", tensor.Float32, "batch", 64)
	b.Output(b.Op("Relu", []string{x}), tensor.Float32, "batch", 64)
	return graphtest.Save(t, b.Model(), "relu")
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// startUpload sends a request's headers and the first half of its body, holding the request in
// flight until finish sends the rest and reads the answer.
func startUpload(t *testing.T, addr string, body []byte) (finish func() (*http.Response, error)) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /v2/models/digits/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	if _, err := conn.Write(body[:half]); err != nil {
		t.Fatal(err)
	}
	return func() (*http.Response, error) {
		if _, err := conn.Write(body[half:]); err != nil {
			return nil, err
		}
		return http.ReadResponse(bufio.NewReader(conn), nil)
	}
}

func digitsBody() []byte {
	return []byte(`{"inputs":[{"name":"input","shape":[1,1,8,8],"datatype":"FP32","data":[` + strings.TrimSuffix(strings.Repeat("0.5,", 64), ",") + `]}]}`)
}

// TestServeDrainsOnSIGTERM holds a request in flight (its body half sent), sends SIGTERM, checks
// that both ports refuse new connections, then completes the request: it must be answered 200
// and serve must exit 0.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	p := startServe(t, "--model", "digits="+digitsVit(t))
	finish := startUpload(t, p.addr, digitsBody())
	time.Sleep(100 * time.Millisecond) // the server has read the headers: the request is in flight
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !refused(p.addr) || !refused(p.grpcAddr) {
		if time.Now().After(deadline) {
			t.Fatal("listeners still accept connections 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := finish()
	if err != nil {
		t.Fatalf("request in flight at SIGTERM: %v; stderr: %s", err, p.stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"outputs"`) {
		t.Fatalf("request in flight at SIGTERM answered %d %s", resp.StatusCode, body)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("serve exited %d after draining; stderr: %s", code, p.stderr.String())
	}
}

// A drain that outlasts --drain-timeout cuts the request off and exits 1, saying why.
func TestServeDrainTimeoutExits1(t *testing.T) {
	p := startServe(t, "--model", "digits="+digitsVit(t), "--drain-timeout", "500ms")
	startUpload(t, p.addr, digitsBody()) // never finished
	time.Sleep(100 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != exitFailure || !strings.Contains(p.stderr.String(), "drain did not finish") {
		t.Fatalf("serve exited %d after a drain timeout, want %d with a message; stderr: %s", code, exitFailure, p.stderr.String())
	}
}

func TestServeRefusesNonPositiveFlags(t *testing.T) {
	model := digitsVit(t)
	for _, flag := range []string{"--workers=0", "--max-queue=-1", "--max-body=0", "--request-timeout=0s", "--memory-budget=-5"} {
		_, stderr, code := runActswap(t, "serve", "--model", "digits="+model, "--addr", "127.0.0.1:0", "--grpc-addr", "", flag)
		name := strings.SplitN(flag, "=", 2)[0]
		if code != exitFailure || !strings.Contains(stderr, name) || !strings.Contains(stderr, "positive") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 naming the flag", flag, code, stderr)
		}
	}
}

// TestServeMemoryUnderLargeJSON sends 8 concurrent 60 MB JSON requests to a real serve process
// and reads its peak resident memory (VmHWM). Bound: 1 GiB (the default --memory-budget, which
// admits 4 of these at a time: 4 × 4 × 60 MB of reservations) + 256 MiB for the runtime, the
// model and the Go heap's slack. Before admission control one such request took 3-4.4 GB.
func TestServeMemoryUnderLargeJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 480 MB of JSON; skipped with -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the server's peak RSS")
	}
	const rows, bound = 93_000, 1<<30 + 256<<20
	p := startServe(t, "--model", "relu="+reluModel(t), "--request-timeout", "120s", "--read-timeout", "120s")
	body := largeJSONBody(rows)
	t.Logf("request body %.1f MB", float64(len(body))/1e6)

	var wg sync.WaitGroup
	statuses := make([]int, 8)
	errs := make([]error, 8)
	start := time.Now()
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 3 * time.Minute}
			resp, err := client.Post("http://"+p.addr+"/v2/models/relu/infer", "application/json", bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
			if err != nil || (resp.StatusCode == 200 && n < int64(len(body))/4) {
				errs[i] = fmt.Errorf("answer %d cut short after %d bytes: %v", resp.StatusCode, n, err)
			}
		}()
	}
	wg.Wait()
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("statuses %v in %v; server peak RSS %.0f MB (bound %.0f MB)", statuses, time.Since(start).Round(time.Millisecond), float64(peak)/1e6, float64(bound)/1e6)
	ok := 0
	for i, s := range statuses {
		switch {
		case errs[i] != nil:
			t.Errorf("request %d: %v", i, errs[i])
		case s == 200:
			ok++
		case s < 400 || s > 599:
			t.Errorf("request %d answered %d, want a result or a 4xx/5xx", i, s)
		}
	}
	if ok == 0 {
		t.Errorf("no request was served: %v", statuses)
	}
	if peak > bound {
		t.Errorf("server peak RSS %d bytes, bound %d", peak, bound)
	}
	if refused(p.addr) {
		t.Fatalf("server died; stderr: %s", p.stderr.String())
	}
}

// largeJSONBody writes a V2 request for rows×64 random floats, about 11 bytes per number.
func largeJSONBody(rows int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 0, rows*64*12+200)
	b = fmt.Appendf(b, `{"inputs":[{"name":"x","shape":[%d,64],"datatype":"FP32","data":[`, rows)
	for i := 0; i < rows*64; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(float32(r.NormFloat64())), 'g', 7, 32)
	}
	return append(b, "]}]}"...)
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// loadgen exits 0 only when every answer came back and matched a direct run, and 1 with the
// errors' text otherwise.
func TestLoadgenCommand(t *testing.T) {
	model := digitsVit(t)
	data := filepath.Join(testutil.RepoRoot(t), "models", "digits_data", "test_x.npy")
	p := startServe(t, "--model", "digits="+model)
	stdout, stderr, code := runActswap(t, "loadgen", "--url", "http://"+p.addr, "--model", "digits", "--data", data,
		"--rows", "3", "--concurrency", "4", "--requests", "40", "--verify", model)
	if code != exitOK || !strings.Contains(stdout, "40 answers verified, 0 mismatched") {
		t.Errorf("verified load: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, stderr, code = runActswap(t, "loadgen", "--url", "http://"+closed, "--model", "digits", "--data", data, "--requests", "5", "--concurrency", "1")
	if code != exitFailure || !strings.Contains(stderr, "5 of 5 requests failed") || !strings.Contains(stderr, "connection refused") {
		t.Errorf("load against a closed port: exit %d, stderr %q; want 1 with the errors", code, stderr)
	}
}
