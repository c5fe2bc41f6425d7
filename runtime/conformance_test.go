package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
)

// TestBackendSuite runs the ONNX backend conformance suite (../shared/onnx-backend-tests) through
// whole sessions and fails when a case listed in testdata/backend_expected_pass.txt no longer
// passes. ACTSWAP_UPDATE_EXPECTED=1 rewrites that list with the cases that pass twice in a row.
// ACTSWAP_BACKEND_CASES=substring limits the run to matching cases and prints their failures;
// ACTSWAP_BACKEND_THREADS=n gives each case n kernel threads.

const (
	backendRtol        = 1e-3
	backendAtol        = 1e-7
	backendTimeout     = 120 * time.Second // a hang guard: light_vgg19 takes 10 s alone and over 20 s beside other packages on 2 busy cores
	expectedPassLst    = "testdata/backend_expected_pass.txt"
	updateBackendSuite = "ACTSWAP_UPDATE_EXPECTED=1 go test ./runtime -run TestBackendSuite"
)

// backendThreads is the kernel parallelism per case (ACTSWAP_BACKEND_THREADS, default 1: the
// cases themselves run in parallel; more threads exercise the kernels' parallel paths).
var backendThreads = func() int {
	n, err := strconv.Atoi(os.Getenv("ACTSWAP_BACKEND_THREADS"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}()

var backendFolders = []string{"node", "pytorch-converted", "pytorch-operator", "simple", "light"}

type caseStatus int

const (
	casePassed caseStatus = iota
	caseFailed
	caseUnsupported
)

type caseResult struct {
	path      string // folder/case, e.g. node/test_relu
	status    caseStatus
	detail    string
	missingOp string // for an op without a kernel: "Op" or "domain:Op"
}

// backendCase is one runnable case: a model and its data sets, or a light model with only an
// expected output.
type backendCase struct {
	path      string
	model     string
	dataSets  []string
	lightWant string
}

func listBackendCases(t *testing.T, root, filter string) []backendCase {
	var cases []backendCase
	for _, folder := range backendFolders {
		entries, err := os.ReadDir(filepath.Join(root, folder))
		if err != nil {
			t.Fatalf("backend suite: %v", err)
		}
		for _, e := range entries {
			var c backendCase
			if folder == "light" {
				name, ok := strings.CutSuffix(e.Name(), ".onnx")
				if !ok {
					continue
				}
				c = backendCase{path: folder + "/" + name, model: filepath.Join(root, folder, e.Name()),
					lightWant: filepath.Join(root, folder, name+"_output_0.pb")}
			} else {
				if !e.IsDir() {
					continue
				}
				dir := filepath.Join(root, folder, e.Name())
				c = backendCase{path: folder + "/" + e.Name(), model: filepath.Join(dir, "model.onnx")}
				sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
				sort.Strings(sets)
				c.dataSets = sets
			}
			if filter == "" || strings.Contains(c.path, filter) {
				cases = append(cases, c)
			}
		}
	}
	return cases
}

// runBackendCase runs one case under a time limit, turning panics into failures.
func runBackendCase(c backendCase) caseResult {
	done := make(chan caseResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- caseResult{c.path, caseFailed, fmt.Sprintf("panic: %v", r), ""}
			}
		}()
		status, detail, missing := runBackendCaseNow(c)
		done <- caseResult{c.path, status, detail, missing}
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(backendTimeout):
		return caseResult{c.path, caseFailed, fmt.Sprintf("took longer than %v", backendTimeout), ""}
	}
}

func runBackendCaseNow(c backendCase) (caseStatus, string, string) {
	m, err := onnx.LoadFile(c.model)
	if err != nil {
		return caseFailed, err.Error(), ""
	}
	s, err := NewSession(m, WithThreads(backendThreads))
	if err != nil {
		var op *UnsupportedOpError
		if errors.As(err, &op) {
			name := op.OpType
			if op.Domain != "" {
				name = op.Domain + ":" + name
			}
			return caseUnsupported, err.Error(), name
		}
		if isUnsupported(err) {
			return caseUnsupported, err.Error(), ""
		}
		return caseFailed, "session: " + err.Error(), ""
	}
	if c.lightWant != "" {
		want, _, err := tensor.ReadProtoFile(c.lightWant)
		if err != nil {
			return caseFailed, err.Error(), ""
		}
		inputs, err := lightInputs(s)
		if err != nil {
			return caseUnsupported, err.Error(), ""
		}
		status, detail := checkRun(s, inputs, []*tensor.Tensor{want}, lightRtol(c.path), backendAtol)
		return status, detail, ""
	}
	if len(c.dataSets) == 0 {
		return caseFailed, "no test_data_set_* folder", ""
	}
	for _, dir := range c.dataSets {
		inputs, want, err := s.ReadDataSet(dir)
		if err != nil {
			if isUnsupported(err) {
				return caseUnsupported, err.Error(), ""
			}
			return caseFailed, err.Error(), ""
		}
		if status, detail := checkRun(s, inputs, want, backendRtol, backendAtol); status != casePassed {
			return status, filepath.Base(dir) + ": " + detail, ""
		}
	}
	return casePassed, "", ""
}

// isUnsupported tells a missing feature (an op, an attribute value, an element type such as
// float8) from a wrong result: the first counts as unsupported, not failed.
func isUnsupported(err error) bool {
	var op *UnsupportedOpError
	msg := err.Error()
	return errors.As(err, &op) || strings.Contains(msg, "not supported") || strings.Contains(msg, "unsupported")
}

// lightInputs builds the inputs ONNX's runner feeds the light models, whose data sets store no
// input: float32, the declared shape with unknown dimensions set to 1, values arange(n)/n.
func lightInputs(s *Session) (map[string]*tensor.Tensor, error) {
	inputs := map[string]*tensor.Tensor{}
	for _, in := range s.Inputs() {
		if in.DType != tensor.Float32 || in.Shape == nil {
			return nil, fmt.Errorf("light model input %q is %s; the runner only builds float32 inputs of declared shape", in.Name, in)
		}
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = max(d.Value, 1)
		}
		x := tensor.Zeros(tensor.Float32, shape)
		n := float32(x.Len())
		for i := range x.F32() {
			x.F32()[i] = float32(i) / n
		}
		inputs[in.Name] = x
	}
	return inputs, nil
}

// lightRtol is ONNX's per-model tolerance for the light models.
func lightRtol(path string) float64 {
	if strings.HasSuffix(path, "densenet121") {
		return 2e-3
	}
	return backendRtol
}

func checkRun(s *Session, inputs map[string]*tensor.Tensor, want []*tensor.Tensor, rtol, atol float64) (caseStatus, string) {
	got, err := s.Run(inputs)
	if err != nil {
		if isUnsupported(err) {
			return caseUnsupported, "run: " + err.Error()
		}
		return caseFailed, "run: " + err.Error()
	}
	for k, o := range s.Outputs() {
		if k >= len(want) {
			break
		}
		if msg := compareValues(got[o.Name], want[k], rtol, atol); msg != "" {
			return caseFailed, fmt.Sprintf("output %q: %s", o.Name, msg)
		}
	}
	return casePassed, ""
}

// runBackendCases runs cases on all cores, one session thread each.
func runBackendCases(cases []backendCase) []caseResult {
	results := make([]caseResult, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < goruntime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runBackendCase(cases[i])
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func TestBackendSuite(t *testing.T) {
	root := testutil.SharedPath(t, "onnx-backend-tests")
	filter := os.Getenv("ACTSWAP_BACKEND_CASES")
	update := os.Getenv("ACTSWAP_UPDATE_EXPECTED") == "1"
	cases := listBackendCases(t, root, filter)
	// The light models are whole zoo networks (VGG-19, ResNet-50…): seconds each normally, minutes
	// under the race detector.
	heavy := testing.Short() || testutil.RaceEnabled
	if heavy {
		kept := cases[:0]
		for _, c := range cases {
			if !strings.HasPrefix(c.path, "light/") {
				kept = append(kept, c)
			}
		}
		cases = kept
		t.Log("light models skipped (-short or -race)")
	}
	results := runBackendCases(cases)

	type totals struct{ passed, failed, unsupported int }
	perFolder := map[string]*totals{}
	passed := map[string]bool{}
	missingOps := map[string]int{}
	for _, r := range results {
		folder, _, _ := strings.Cut(r.path, "/")
		if perFolder[folder] == nil {
			perFolder[folder] = &totals{}
		}
		switch r.status {
		case casePassed:
			perFolder[folder].passed++
			passed[r.path] = true
		case caseFailed:
			perFolder[folder].failed++
		default:
			perFolder[folder].unsupported++
			missingOps[r.missingOp]++
		}
		if (filter != "" && r.status != casePassed) || r.status == caseFailed {
			t.Logf("%s: %s", r.path, r.detail)
		}
	}
	// What to implement next, most-wanted first (visible with -v).
	missing := make([]string, 0, len(missingOps))
	for op := range missingOps {
		if op != "" {
			missing = append(missing, op)
		}
	}
	sort.Slice(missing, func(i, j int) bool {
		if missingOps[missing[i]] != missingOps[missing[j]] {
			return missingOps[missing[i]] > missingOps[missing[j]]
		}
		return missing[i] < missing[j]
	})
	wanted := make([]string, len(missing))
	for i, op := range missing {
		wanted[i] = fmt.Sprintf("%s(%d)", op, missingOps[op])
	}
	if len(wanted) > 0 {
		t.Logf("ops without a kernel, by cases that need them: %s", strings.Join(wanted, " "))
	}
	for _, folder := range backendFolders {
		if c := perFolder[folder]; c != nil {
			line := fmt.Sprintf("onnx backend suite %s: %d passed, %d failed, %d unsupported", folder, c.passed, c.failed, c.unsupported)
			t.Log(line)
			fmt.Println(line)
		}
	}

	if update {
		if filter != "" || heavy {
			t.Fatal("ACTSWAP_UPDATE_EXPECTED=1 needs the whole suite: unset ACTSWAP_BACKEND_CASES, drop -short and -race")
		}
		// A case goes on the list only if it passes a second time too.
		var again []backendCase
		for _, c := range cases {
			if passed[c.path] {
				again = append(again, c)
			}
		}
		var stable []string
		for _, r := range runBackendCases(again) {
			if r.status == casePassed {
				stable = append(stable, r.path)
			}
		}
		sort.Strings(stable)
		text := "# ONNX backend cases that pass; TestBackendSuite fails if one of them stops passing.\n" +
			"# Regenerate: " + updateBackendSuite + "\n" +
			strings.Join(stable, "\n") + "\n"
		if err := os.WriteFile(expectedPassLst, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases to %s", len(stable), expectedPassLst)
		return
	}

	expected := testutil.ReadCaseList(t, expectedPassLst, updateBackendSuite)
	byPath := map[string]caseResult{}
	for _, r := range results {
		byPath[r.path] = r
	}
	var regressions []string
	for path := range expected {
		r, ran := byPath[path]
		if !ran {
			if filter == "" && !(heavy && strings.HasPrefix(path, "light/")) {
				regressions = append(regressions, path+": case no longer in the suite")
			}
			continue
		}
		if r.status != casePassed {
			regressions = append(regressions, path+": "+r.detail)
		}
	}
	sort.Strings(regressions)
	for _, r := range regressions {
		t.Errorf("regression: %s", r)
	}
	if len(regressions) > 0 {
		t.Log("if a case stopped passing on purpose: " + updateBackendSuite)
	}
}
