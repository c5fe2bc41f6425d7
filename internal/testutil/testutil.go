// Package testutil holds helpers shared by the tests of every package: finding the repository
// root and the shared data folder (../shared beside the repository) that real-model and
// ONNX backend-suite tests read.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, walking up from the test's working
// directory (which is the package directory under `go test`). It fails the test if none is found.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	return root
}

// SharedDir returns the shared data folder that sits beside the repository root
// (RepoRoot/../shared). Tests that need it are skipped, with a message saying why, when the
// folder is absent, so the suite still passes on a bare checkout.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "..", "shared")
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Skipf("shared data folder %s not present; skipping test that needs real models/backend data", filepath.Clean(dir))
	}
	return filepath.Clean(dir)
}

// SharedPath returns SharedDir joined with elem, skipping the test when that path is absent.
func SharedPath(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s not present; skipping", p)
	}
	return p
}

func findRepoRoot() (string, error) {
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
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
