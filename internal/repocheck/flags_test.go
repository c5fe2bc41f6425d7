package repocheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
)

// cliFlag is a command-line flag inside a longer text: "--" and a word, not preceded by a letter,
// digit or another "-".
var cliFlag = regexp.MustCompile(`(^|[^-\w])--[a-z][a-z0-9-]*`)

// loneFlag is a literal that is one flag and nothing else: an element of an argument vector handed
// to another program (bench's onnxruntime harness), not a message.
var loneFlag = regexp.MustCompile(`^--[a-z][a-z0-9-]*$`)

// TestLibrariesNameNoFlags fails when a string literal of a library (every non-test file outside a
// package main) names a CLI flag such as --force: a Go caller of the library has no flags, so its
// errors and notes name the Options field or argument, and cmd/actswap rewords them for the
// command line (cmd/actswap/flagnames.go).
func TestLibrariesNameNoFlags(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot(t)
	fset := token.NewFileSet()
	var problems []string
	walkGoFiles(t, root, func(p string) error {
		if strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		problems = append(problems, flagLiterals(fset, f)...)
		return nil
	})
	reportSorted(t, problems)
}

// TestFlagCheckSeesFlags proves the check above is not vacuous: it flags a flag in a message, in a
// raw string and after a quote, and leaves alone commands, argument vectors, comments and "--"
// that is not a flag.
func TestFlagCheckSeesFlags(t *testing.T) {
	t.Parallel()
	const lib = `package lib
import "fmt"
// Comments may say --force.
func A(path string) error { return fmt.Errorf("%s exists; use --force", path) }      // flagged
const page = ` + "`<th>--to auto</th>`" + `                                           // flagged
var msg = "rewrite with '--exclude X'"                                                 // flagged
var args = []string{"--model", "m.onnx", "--threads", "1"}                             // fine: argv
var rule = "----"                                                                      // fine
var dash = "a -- b, x--y, <!-- c -->, --1"                                             // fine
`
	const cmd = `package main
import "errors"
var errForce = errors.New("file exists; use --force")                                  // fine: a command
`
	fset := token.NewFileSet()
	var got []string
	for name, src := range map[string]string{"lib.go": lib, "main.go": cmd} {
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, flagLiterals(fset, f)...)
	}
	sort.Strings(got)
	want := []string{"lib.go:4", "lib.go:5", "lib.go:6"}
	if len(got) != len(want) {
		t.Fatalf("flagged %q, want lines %v", got, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w+":") {
			t.Errorf("flagged %q, want line %s", got[i], w)
		}
	}
}

// flagLiterals lists the string literals of a library file that name a CLI flag, as
// "file:line: text"; a package main is a command and may name its own flags.
func flagLiterals(fset *token.FileSet, f *ast.File) []string {
	if f.Name.Name == "main" {
		return nil
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || loneFlag.MatchString(s) || !cliFlag.MatchString(s) {
			return true
		}
		pos := fset.Position(lit.Pos())
		found = append(found, pos.Filename+":"+strconv.Itoa(pos.Line)+": "+strings.TrimSpace(cliFlag.FindString(s))+" in "+strconv.Quote(s))
		return true
	})
	return found
}
