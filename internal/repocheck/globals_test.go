package repocheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// TestNoTestMutatesPackageVariable fails when a _test.go file assigns to a package-level
// variable (its own package's, or an imported module package's): a test that flips a global
// switch cannot run beside others (t.Parallel), and a global switch means a choice that should
// be a call or session option (or, for the pure-Go kernels, the noasm build tag).
// Assignments inside a package-level var's own initialiser are declarations, not mutations.
func TestNoTestMutatesPackageVariable(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot(t)
	mod := modulePath(t, root)
	pkgs := parseModule(t, root, mod)
	var problems []string
	for _, p := range pkgs {
		for _, f := range p.testFiles {
			problems = append(problems, mutations(p, f, pkgs)...)
		}
	}
	reportSorted(t, problems)
}

// reportSorted fails the test once per problem, in a stable order.
func reportSorted(t *testing.T, problems []string) {
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// TestMutationCheckSeesAssignments proves the check above is not vacuous: it must flag each
// kind of write to a package variable in a small synthetic package, and nothing else.
func TestMutationCheckSeesAssignments(t *testing.T) {
	t.Parallel()
	const lib = `package lib
var Switch = true
var table = map[string]int{}
type S struct{ N int }
var cfg S
`
	const test = `package lib
import "testing"
var local = 1
func TestX(t *testing.T) {
	Switch = false        // flagged
	table["a"] = 1        // flagged
	cfg.N++               // flagged
	local = 2             // flagged
	x := 1; x = 2; _ = x  // local: fine
	var cfg S; cfg.N = 3  // shadows the package var: fine
	func() { Switch, local = true, 3 }() // flagged twice
}
`
	fset := token.NewFileSet()
	lf, err := parser.ParseFile(fset, "lib.go", lib, 0)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := parser.ParseFile(fset, "lib_test.go", test, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &pkgInfo{importPath: "m/lib", fset: fset, vars: map[string]bool{}}
	addVars(p.vars, lf)
	addVars(p.vars, tf)
	got := mutations(p, tf, map[string]*pkgInfo{p.importPath: p})
	if len(got) != 6 {
		t.Fatalf("flagged %d writes, want 6:\n%s", len(got), strings.Join(got, "\n"))
	}
}

type pkgInfo struct {
	importPath string
	fset       *token.FileSet
	vars       map[string]bool // package-level variables, test files' included
	testFiles  []*ast.File
}

func modulePath(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

// parseModule parses every Go file under root (not testdata, hidden or nested-module folders),
// keyed by import path; an external test package (pkg_test) is keyed by its path + "_test".
func parseModule(t *testing.T, root, mod string) map[string]*pkgInfo {
	fset := token.NewFileSet()
	pkgs := map[string]*pkgInfo{}
	walkGoFiles(t, root, func(p string) error {
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		ip := path.Join(mod, filepath.ToSlash(rel))
		if strings.HasSuffix(f.Name.Name, "_test") {
			ip += "_test"
		}
		pi := pkgs[ip]
		if pi == nil {
			pi = &pkgInfo{importPath: ip, fset: fset, vars: map[string]bool{}}
			pkgs[ip] = pi
		}
		addVars(pi.vars, f)
		if strings.HasSuffix(p, "_test.go") {
			pi.testFiles = append(pi.testFiles, f)
		}
		return nil
	})
	return pkgs
}

// walkGoFiles calls fn with the path of every .go file of the module under root, skipping
// testdata, hidden and "_" folders, node_modules and nested modules; an error fails the test.
func walkGoFiles(t *testing.T, root string, fn func(path string) error) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "node_modules") {
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		return fn(p)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func addVars(vars map[string]bool, f *ast.File) {
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					vars[n.Name] = true
				}
			}
		}
	}
}

// mutations lists the writes in f (a test file of p) to package-level variables: assignments,
// ++/--, and writes through a field, index or pointer of such a variable.
func mutations(p *pkgInfo, f *ast.File, pkgs map[string]*pkgInfo) []string {
	topLevel := map[*ast.ValueSpec]bool{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, s := range g.Specs {
				topLevel[s.(*ast.ValueSpec)] = true
			}
		}
	}
	imports := map[string]string{} // local name → import path
	for _, im := range f.Imports {
		ip, _ := strconv.Unquote(im.Path.Value)
		name := path.Base(ip)
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = ip
	}
	var out []string
	report := func(pos token.Pos, name string) {
		out = append(out, p.fset.Position(pos).String()+": test assigns package-level variable "+name)
	}
	check := func(lhs ast.Expr) {
		root := lhs
		for {
			switch e := root.(type) {
			case *ast.ParenExpr:
				root = e.X
				continue
			case *ast.StarExpr:
				root = e.X
				continue
			case *ast.IndexExpr:
				root = e.X
				continue
			case *ast.SelectorExpr:
				if id, ok := e.X.(*ast.Ident); ok && id.Obj == nil {
					if ip, ok := imports[id.Name]; ok {
						if other := pkgs[ip]; other != nil && other.vars[e.Sel.Name] {
							report(e.Pos(), id.Name+"."+e.Sel.Name)
						}
						return
					}
				}
				root = e.X
				continue
			}
			break
		}
		id, ok := root.(*ast.Ident)
		if !ok || id.Name == "_" {
			return
		}
		if id.Obj == nil {
			if p.vars[id.Name] {
				report(id.Pos(), id.Name)
			}
			return
		}
		if spec, ok := id.Obj.Decl.(*ast.ValueSpec); ok && topLevel[spec] {
			report(id.Pos(), id.Name)
		}
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.AssignStmt:
				if s.Tok != token.DEFINE {
					for _, l := range s.Lhs {
						check(l)
					}
				}
			case *ast.IncDecStmt:
				check(s.X)
			}
			return true
		})
	}
	return out
}
