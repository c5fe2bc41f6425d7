// Package testutil holds helpers shared by the tests of every package: finding the repository
// root and the shared data folder (../shared beside the repository) that real-model and
// ONNX backend-suite tests read.
package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
// folder is absent, so the suite still passes on a bare checkout (and fail in CI, see SkipMissing).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "..", "shared")
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		SkipMissing(t, fmt.Sprintf("shared data folder %s not present; skipping test that needs real models/backend data", filepath.Clean(dir)))
	}
	return filepath.Clean(dir)
}

// SharedPath returns SharedDir joined with elem, skipping the test when that path is absent.
func SharedPath(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		SkipMissing(t, fmt.Sprintf("shared data %s not present; skipping", p))
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

// SkipMissing skips a test whose optional oracle or data (onnxruntime, ../shared, a tool) is
// absent, saying why. In CI (CI=true) .ci/run installs all of them, so an absence there means the
// setup broke and every comparison would silently skip: the test fails instead.
func SkipMissing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s", why)
	}
	t.Skip(why)
}

// ReadCaseList reads a ratchet's expected-pass list (one case per line, # comments) into a set.
// A missing or empty list fails the test: read as "nothing expected", it would make the ratchet
// pass whatever the code under test does. regenerate is the command that rewrites the list.
func ReadCaseList(t testing.TB, path, regenerate string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("expected-pass list: %v (regenerate: %s)", err, regenerate)
	}
	list := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			list[line] = true
		}
	}
	if len(list) == 0 {
		t.Fatalf("expected-pass list %s lists no case (regenerate: %s)", path, regenerate)
	}
	return list
}
