package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// inspectErrorCases are the bad inputs inspect must report in one line naming the path.
func inspectErrorCases(t *testing.T) map[string]string {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A real model's first half: cut inside the graph.
	truncated := []byte("\x08\x08\x12\x07pytorch:\xff\x01\n\x05")
	return map[string]string{
		"missing":   filepath.Join(dir, "missing.onnx"),
		"directory": dir,
		"empty":     write("empty.onnx", nil),
		"garbage":   write("garbage.onnx", []byte("GIF89a\xff\xfe garbage")),
		"truncated": write("truncated.onnx", truncated),
	}
}

func TestInspectErrorsInProcess(t *testing.T) {
	for name, path := range inspectErrorCases(t) {
		var out bytes.Buffer
		err := runInspect(&out, path, false)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		msg := "actswap: " + err.Error()
		if !strings.HasPrefix(msg, "actswap: load "+path+": ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: message %q, want one line starting with %q", name, msg, "actswap: load "+path+": ")
		}
		if out.Len() != 0 {
			t.Errorf("%s: printed %q before failing", name, out.String())
		}
	}
}

// TestInspectMainHelper is not a test on its own: TestInspectExitStatus re-runs the test binary
// with ACTSWAP_INSPECT_ARGS set, and then this function runs actswap's real main.
func TestInspectMainHelper(t *testing.T) {
	args := os.Getenv("ACTSWAP_INSPECT_ARGS")
	if args == "" {
		t.Skip("helper process for TestInspectExitStatus")
	}
	os.Args = append([]string{"actswap"}, strings.Split(args, "\x1f")...)
	main()
	os.Exit(0)
}

func runActswap(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestInspectMainHelper$")
	cmd.Env = append(os.Environ(), "ACTSWAP_INSPECT_ARGS="+strings.Join(args, "\x1f"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestInspectExitStatus(t *testing.T) {
	for name, path := range inspectErrorCases(t) {
		_, stderr, code := runActswap(t, "inspect", path)
		want := "actswap: load " + path + ": "
		if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line starting %q", name, code, stderr, want)
		}
	}
}

func TestInspectResNet18JSON(t *testing.T) {
	path := testutil.SharedPath(t, "models", "resnet18", "model.onnx")
	stdout, stderr, code := runActswap(t, "inspect", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		IRVersion int64            `json:"ir_version"`
		Producer  string           `json:"producer"`
		Opsets    map[string]int64 `json:"opsets"`
		Inputs    []struct {
			Name  string `json:"name"`
			DType string `json:"dtype"`
			Shape []any  `json:"shape"`
		} `json:"inputs"`
		Nodes    int            `json:"nodes"`
		OpCounts map[string]int `json:"op_counts"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if got.Nodes != 65 || got.OpCounts["Relu"] != 17 || got.OpCounts["Conv"] != 20 || got.Opsets[""] != 17 {
		t.Errorf("nodes %d, Relu %d, Conv %d, opset %d; want 65, 17, 20, 17", got.Nodes, got.OpCounts["Relu"], got.OpCounts["Conv"], got.Opsets[""])
	}
	if len(got.Inputs) != 1 || got.Inputs[0].DType != "float32" ||
		!reflect.DeepEqual(got.Inputs[0].Shape, []any{"batch", 3.0, 224.0, 224.0}) {
		t.Errorf("inputs %+v, want one float32 [batch 3 224 224]", got.Inputs)
	}
}

func TestInspectText(t *testing.T) {
	path := testutil.SharedPath(t, "models", "digits_cnn", "model.onnx")
	var out bytes.Buffer
	if err := runInspect(&out, path, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ir_version", "producer      pytorch", "ai.onnx 17", "[batch,1,8,8]", "Relu 3", "functions     none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
}
