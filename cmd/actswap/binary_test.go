package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The tests in this file's family run the built actswap binary on temporary files, as a user
// would: exit statuses, what is left on disk and what is printed are what the user sees.

// binaryDir holds the built binary; TestMain removes it. It is made when the test binary starts
// (an empty folder costs nothing) so that the build below needs no shared state to report it.
var binaryDir, binaryDirErr = os.MkdirTemp("", "actswap-bin-")

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDirErr == nil {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// buildBinary builds cmd/actswap (the test's working directory) once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	if binaryDirErr != nil {
		return "", binaryDirErr
	}
	path := filepath.Join(binaryDir, "actswap")
	if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return path, nil
})

// actswapBinary returns the binary buildBinary built, failing t if the build failed.
func actswapBinary(t *testing.T) string {
	t.Helper()
	path, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return path
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
