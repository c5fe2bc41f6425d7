package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
)

// Model is one loaded version of a served model.
type Model struct {
	Name    string
	Version string
	Path    string
	Inputs  []runtime.ValueInfo
	Outputs []runtime.ValueInfo

	session *runtime.Session
	sched   *scheduler
	// batchable: every input and output has a variable leading dimension, so requests can be
	// stacked along it.
	batchable bool
}

// Repository maps model names to their loaded versions.
type Repository struct {
	models map[string]map[string]*Model
	latest map[string]*Model // highest version per name, what a request without a version gets
}

// add registers a loaded model version and keeps latest current.
func (r *Repository) add(m *Model) {
	if r.models[m.Name] == nil {
		r.models[m.Name] = map[string]*Model{}
	}
	r.models[m.Name][m.Version] = m
	vs := r.versions(m.Name)
	r.latest[m.Name] = r.models[m.Name][vs[len(vs)-1]]
}

// ModelSpec names one model to load: NAME=PATH on the command line.
type ModelSpec struct {
	Name, Version, Path string
}

// ParseModelSpec parses NAME=PATH (version "1").
func ParseModelSpec(s string) (ModelSpec, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return ModelSpec{}, fmt.Errorf("--model %q: want NAME=PATH", s)
	}
	return ModelSpec{Name: name, Version: "1", Path: path}, nil
}

// ScanRepository lists the models of a Triton-layout repository: DIR/NAME/VERSION/model.onnx with
// numeric versions; folders whose version starts with "0" are ignored, as Triton does.
func ScanRepository(dir string) ([]ModelSpec, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository %s: %w", dir, err)
	}
	var specs []ModelSpec
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		versions, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("model repository %s: %w", dir, err)
		}
		for _, v := range versions {
			if !v.IsDir() || strings.HasPrefix(v.Name(), "0") {
				continue
			}
			if _, err := strconv.ParseUint(v.Name(), 10, 64); err != nil {
				continue
			}
			path := filepath.Join(dir, e.Name(), v.Name(), "model.onnx")
			if _, err := os.Stat(path); err != nil {
				continue
			}
			specs = append(specs, ModelSpec{Name: e.Name(), Version: v.Name(), Path: path})
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("model repository %s: no NAME/VERSION/model.onnx found", dir)
	}
	return specs, nil
}

func loadModel(spec ModelSpec, opts Options, m *metrics) (*Model, error) {
	proto, err := onnx.LoadFile(spec.Path)
	if err != nil {
		return nil, err
	}
	sess, err := runtime.NewSession(proto, runtime.WithThreads(opts.Threads))
	if err != nil {
		return nil, fmt.Errorf("model %q (%s): %w", spec.Name, spec.Path, err)
	}
	model := &Model{
		Name: spec.Name, Version: spec.Version, Path: spec.Path,
		Inputs: sess.Inputs(), Outputs: sess.Outputs(), session: sess,
	}
	model.batchable = opts.MaxBatch > 1 && leadingDimVariable(model.Inputs) && leadingDimVariable(model.Outputs)
	model.sched = newScheduler(model, opts, m)
	return model, nil
}

func leadingDimVariable(vis []runtime.ValueInfo) bool {
	for _, vi := range vis {
		if len(vi.Shape) == 0 || vi.Shape[0].Value >= 0 {
			return false
		}
	}
	return len(vis) > 0
}

// lookup finds a model by name and optional version ("" = the highest version).
func (r *Repository) lookup(name, version string) (*Model, error) {
	versions, ok := r.models[name]
	if !ok {
		return nil, &httpError{404, fmt.Sprintf("unknown model %q", name)}
	}
	if version == "" {
		return r.latest[name], nil
	}
	m, ok := versions[version]
	if !ok {
		return nil, &httpError{404, fmt.Sprintf("model %q has no version %q", name, version)}
	}
	return m, nil
}

// versions lists a model's versions in ascending numeric order.
func (r *Repository) versions(name string) []string {
	var vs []string
	for v := range r.models[name] {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool {
		a, _ := strconv.ParseUint(vs[i], 10, 64)
		b, _ := strconv.ParseUint(vs[j], 10, 64)
		return a < b
	})
	return vs
}

func (r *Repository) all() []*Model {
	var out []*Model
	for name := range r.models {
		for _, v := range r.versions(name) {
			out = append(out, r.models[name][v])
		}
	}
	return out
}
