package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// The tests in this file's family run the built actswap binary on temporary files, as a user
// would: exit statuses, what is left on disk and what is printed are what the user sees.

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// actswapBinary builds cmd/actswap once per test run.
func actswapBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "actswap-bin-"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "actswap")
		cmd := exec.Command("go", "build", "-o", binaryPath, ".")
		cmd.Dir = filepath.Join(testutil.RepoRoot(t), "cmd", "actswap")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// runBinary runs the built actswap with args and returns its stdout and stderr together and its
// exit status.
func runBinary(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(actswapBinary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("actswap %v: %v", args, err)
	return "", -1
}

// copyFile copies src to a new file dst.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// unchanged fails the test when path's bytes differ from want.
func unchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (%d bytes, was %d)", path, len(got), len(want))
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
