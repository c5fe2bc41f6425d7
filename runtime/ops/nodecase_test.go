package ops

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/actswap/actswap/internal/testutil"
	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/protobuf/proto"
)

// These tests run single-node cases of the ONNX backend suite straight through the registry, so
// kernels can be checked without the graph runtime. The runtime package runs the whole suite.
// Select cases with ACTSWAP_NODE_CASES=substring (default: every case whose single op is
// registered; the failures of cases not on the expected-pass list are printed only with a filter).

func suiteDir(t *testing.T) string {
	dir := filepath.Join("..", "..", "..", "shared", "onnx-backend-tests", "node")
	if _, err := os.Stat(dir); err != nil {
		testutil.SkipMissing(t, "../shared/onnx-backend-tests not found beside the project; skipping backend node cases")
	}
	return dir
}

func readTensorPB(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnx.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tensor.FromProto(tp)
}

// runNodeCase returns "" on success, "unsupported" when the op has no kernel, or a failure text.
func runNodeCase(dir string) (status string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return "", err
	}
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return "", err
	}
	g := m.GetGraph()
	if len(g.Node) != 1 {
		return "multi-node", nil
	}
	n := g.Node[0]
	version := 0
	for _, o := range m.OpsetImport {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == n.GetDomain() {
			version = int(o.GetVersion())
		}
	}
	f, ok := Lookup(n.GetDomain(), n.GetOpType(), version)
	if !ok {
		return "unsupported", nil
	}
	node := NewNode(n, version)
	inits := map[string]*tensor.Tensor{}
	for _, tp := range g.Initializer {
		t, err := tensor.FromProto(tp)
		if err != nil {
			return "", err
		}
		inits[tp.GetName()] = t
	}
	for i, name := range n.Input {
		if c, ok := inits[name]; ok {
			node.Const[i] = c
		}
	}
	k, err := f(node)
	if err != nil {
		return "", fmt.Errorf("factory: %w", err)
	}
	values := map[string]*tensor.Tensor{}
	for k, v := range inits {
		values[k] = v
	}
	data := filepath.Join(dir, "test_data_set_0")
	for i, in := range g.Input {
		if _, isInit := inits[in.GetName()]; isInit {
			continue
		}
		t, err := readTensorPB(filepath.Join(data, fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return "", err
		}
		values[in.GetName()] = t
	}
	inputs := make([]*tensor.Tensor, len(n.Input))
	for i, name := range n.Input {
		if name != "" {
			inputs[i] = values[name]
		}
	}
	outs, err := k.Run(NewContext(1), inputs)
	if err != nil {
		return "", fmt.Errorf("run: %w", err)
	}
	produced := map[string]*tensor.Tensor{}
	for i, name := range n.Output {
		if i < len(outs) {
			produced[name] = outs[i]
		}
	}
	for i, o := range g.Output {
		want, err := readTensorPB(filepath.Join(data, fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			return "", err
		}
		got := produced[o.GetName()]
		if got == nil {
			return "", fmt.Errorf("output %q not produced", o.GetName())
		}
		if msg := compareTensors(got, want, 1e-3, 1e-7); msg != "" {
			return "", fmt.Errorf("output %q: %s", o.GetName(), msg)
		}
	}
	return "", nil
}

// compareTensors checks dtype, shape and values with ONNX's |got−want| ≤ atol + rtol·|want|.
func compareTensors(got, want *tensor.Tensor, rtol, atol float64) string {
	if err := tensor.AllClose(got, want, rtol, atol); err != nil {
		return err.Error()
	}
	return ""
}

// nodeExpectedPass lists the node/ cases that pass through the registry alone; TestNodeCases fails
// when one of them stops passing (a ratchet, like the runtime's TestBackendSuite).
const (
	nodeExpectedPass = "testdata/node_expected_pass.txt"
	updateNodeCases  = "ACTSWAP_UPDATE_EXPECTED=1 go test ./runtime/ops -run TestNodeCases"
)

func TestNodeCases(t *testing.T) {
	t.Parallel()
	dir := suiteDir(t)
	filter := os.Getenv("ACTSWAP_NODE_CASES")
	update := os.Getenv("ACTSWAP_UPDATE_EXPECTED") == "1"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]error{} // case → nil when it passed
	var passed, failed, unsupported int
	for _, e := range entries {
		if filter != "" && !strings.Contains(e.Name(), filter) {
			continue
		}
		status, err := runNodeCase(filepath.Join(dir, e.Name()))
		switch {
		case err != nil:
			failed++
			results[e.Name()] = err
		case status == "":
			passed++
			results[e.Name()] = nil
		default:
			unsupported++
			results[e.Name()] = fmt.Errorf("%s", status)
		}
	}
	t.Logf("single-node cases: %d passed, %d failed, %d unsupported or multi-node", passed, failed, unsupported)
	if passed == 0 {
		t.Fatalf("no node case passed in %s (filter %q): the suite or the runner is broken", dir, filter)
	}

	if update {
		if filter != "" {
			t.Fatal("ACTSWAP_UPDATE_EXPECTED=1 needs every case: unset ACTSWAP_NODE_CASES")
		}
		var names []string
		for name, err := range results {
			if err == nil {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		text := "# ONNX backend node/ cases that pass through the kernel registry alone; TestNodeCases fails if one stops passing.\n" +
			"# Regenerate: " + updateNodeCases + "\n" +
			strings.Join(names, "\n") + "\n"
		if err := os.WriteFile(nodeExpectedPass, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases to %s", len(names), nodeExpectedPass)
		return
	}

	expected := testutil.ReadCaseList(t, nodeExpectedPass, updateNodeCases)
	var regressions, newlyPassing []string
	for name := range expected {
		err, ran := results[name]
		switch {
		case !ran && filter == "":
			regressions = append(regressions, name+": case no longer in the suite")
		case ran && err != nil:
			regressions = append(regressions, fmt.Sprintf("%s: %v", name, err))
		}
	}
	for name, err := range results {
		if err == nil && !expected[name] {
			newlyPassing = append(newlyPassing, name)
		}
	}
	sort.Strings(regressions)
	for _, r := range regressions {
		t.Errorf("regression: %s", r)
	}
	if len(newlyPassing) > 0 {
		sort.Strings(newlyPassing)
		t.Logf("%d cases pass that %s does not list yet: %s", len(newlyPassing), nodeExpectedPass, strings.Join(newlyPassing, " "))
	}
	if len(regressions) > 0 || len(newlyPassing) > 0 {
		t.Log("after an intended change: " + updateNodeCases)
	}
	if filter != "" {
		for name, err := range results {
			if err != nil && !expected[name] {
				t.Logf("%s: %v", name, err)
			}
		}
	}
}
