package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRootHasGoMod(t *testing.T) {
	t.Parallel()
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod: %v", root, err)
	}
}

func TestSharedDirBesideRoot(t *testing.T) {
	t.Parallel()
	dir := SharedDir(t) // skips when absent
	if filepath.Dir(dir) != filepath.Dir(RepoRoot(t)) {
		t.Fatalf("SharedDir %s is not beside repo root %s", dir, RepoRoot(t))
	}
}
