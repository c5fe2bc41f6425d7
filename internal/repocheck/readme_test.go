package repocheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// TestReadmeLayoutMatchesTree: every entry of the README's "## Layout" block names a folder that
// exists, and every Go package is listed there, itself or through its parent folder (generators
// under asm/, generated code such as serve/v2pb), so the map of the tree cannot go stale.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot(t)
	listed := readmeLayout(t, root)
	for entry := range listed {
		if fi, err := os.Stat(filepath.Join(root, entry)); err != nil || !fi.IsDir() {
			t.Errorf("README layout lists %s, which is not a folder", entry)
		}
	}
	for _, dir := range packageDirs(t, root) {
		if !listed[dir] && !listed[filepath.ToSlash(filepath.Dir(dir))] {
			t.Errorf("package folder %s is missing from the README layout", dir)
		}
	}
}

// readmeLayout returns the folders the layout block lists: the comma-separated paths that start
// each entry line (four spaces in), trailing slashes dropped.
func readmeLayout(t *testing.T, root string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	if i := strings.Index(after, "\n## "); i >= 0 {
		after = after[:i]
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "     ") {
			continue // prose, or a description's continuation line
		}
		rest := strings.TrimSpace(line)
		for {
			field, tail, _ := strings.Cut(rest, " ")
			entry := strings.TrimSuffix(strings.TrimSuffix(field, ","), "/")
			listed[entry] = true
			if !strings.HasSuffix(field, ",") {
				break
			}
			rest = strings.TrimSpace(tail)
		}
	}
	if len(listed) == 0 {
		t.Fatal("the README layout block lists nothing")
	}
	return listed
}

// packageDirs lists the module's folders that hold non-test Go files, relative to root.
func packageDirs(t *testing.T, root string) []string {
	seen := map[string]bool{}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		if rel = filepath.ToSlash(rel); !seen[rel] {
			seen[rel] = true
			dirs = append(dirs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
