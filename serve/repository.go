package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/actswap/actswap/onnx"
	"github.com/actswap/actswap/runtime"
	"github.com/actswap/actswap/serve/v2pb"
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
	// batchable: every input and output has a variable leading dimension and the configuration
	// asks for dynamic batching, so requests can be stacked along it.
	batchable bool
	// config is the model's Triton configuration, completed from the model (what ModelConfig
	// answers).
	config  *v2pb.ModelConfig
	maxRows int // most rows per request (config.pbtxt's max_batch_size; 0: no limit)
	stats   modelStats
	// memory is a run's working set by rows, estimated at load; admit is the server's budget
	// it is charged to.
	memory runMemory
	admit  *admission
}

// Repository maps model names to their loaded versions. Models are loaded and unloaded while
// requests are served, so every access goes through mu.
type Repository struct {
	mu     sync.RWMutex
	models map[string]map[string]*Model
	latest map[string]*Model // highest version per name, what a request without a version gets
	// unloaded records why a model that was loaded is not any more (Triton's index reason).
	unloaded map[string]string
}

func newRepository() *Repository {
	return &Repository{models: map[string]map[string]*Model{}, latest: map[string]*Model{}, unloaded: map[string]string{}}
}

// add registers a loaded model version and keeps latest current.
func (r *Repository) add(m *Model) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models[m.Name] == nil {
		r.models[m.Name] = map[string]*Model{}
	}
	r.models[m.Name][m.Version] = m
	delete(r.unloaded, m.Name)
	vs := r.versionsLocked(m.Name)
	r.latest[m.Name] = r.models[m.Name][vs[len(vs)-1]]
}

// replace swaps every version of a model for a new set (nil or empty: unload it) and returns
// the versions taken out, for the caller to close once no new request can reach them.
func (r *Repository) replace(name string, versions []*Model, reason string) []*Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	var old []*Model
	for _, m := range r.models[name] {
		old = append(old, m)
	}
	delete(r.models, name)
	delete(r.latest, name)
	if len(versions) == 0 {
		if len(old) > 0 {
			r.unloaded[name] = reason
		}
		return old
	}
	delete(r.unloaded, name)
	r.models[name] = map[string]*Model{}
	for _, m := range versions {
		r.models[name][m.Version] = m
	}
	vs := r.versionsLocked(name)
	r.latest[name] = r.models[name][vs[len(vs)-1]]
	return old
}

// ModelSpec names one model version to load: NAME=PATH on the command line, or a version found in
// a repository (then with its configuration).
type ModelSpec struct {
	Name, Version, Path string

	config *v2pb.ModelConfig // from NAME/config.pbtxt; nil: the server's options decide
}

// ParseModelSpec parses NAME=PATH (version "1").
func ParseModelSpec(s string) (ModelSpec, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return ModelSpec{}, fmt.Errorf("model spec %q: want NAME=PATH", s)
	}
	return ModelSpec{Name: name, Version: "1", Path: path}, nil
}

// ScanRepository lists the model versions to serve from a Triton-layout repository:
// DIR/NAME/config.pbtxt (optional) and DIR/NAME/VERSION/model.onnx (a file, or a folder holding
// model.onnx), numeric versions chosen by the configuration's version policy (default: the
// latest). Version folders that are not a positive number without leading zeros are ignored,
// as Triton does.
func ScanRepository(dir string) ([]ModelSpec, error) {
	names, err := repositoryModelNames(dir)
	if err != nil {
		return nil, err
	}
	var specs []ModelSpec
	for _, name := range names {
		found, err := scanModel(dir, name)
		if err != nil {
			return nil, err
		}
		specs = append(specs, found...)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("model repository %s: no NAME/VERSION/model.onnx found", dir)
	}
	return specs, nil
}

// repositoryModelNames lists the model folders of a repository, sorted.
func repositoryModelNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// scanModel reads one model's configuration and lists the versions its policy selects. A folder
// with no version holding a model file yields nothing (it is not a model).
func scanModel(dir, name string) ([]ModelSpec, error) {
	modelDir := filepath.Join(dir, name)
	cfg, err := readModelConfig(modelDir)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	entries, err := os.ReadDir(modelDir)
	if err != nil {
		return nil, fmt.Errorf("model repository %s: %w", dir, err)
	}
	var present []uint64
	paths := map[uint64]string{}
	for _, v := range entries {
		if !v.IsDir() || strings.HasPrefix(v.Name(), "0") {
			continue
		}
		n, err := strconv.ParseUint(v.Name(), 10, 64)
		if err != nil {
			continue
		}
		path, err := modelFile(cfg, filepath.Join(modelDir, v.Name()))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("model %q version %s: %w", name, v.Name(), err)
		}
		present = append(present, n)
		paths[n] = path
	}
	if len(present) == 0 {
		return nil, nil
	}
	chosen, err := selectVersions(cfg, present)
	if err != nil {
		return nil, fmt.Errorf("model %q (%s): %w", name, filepath.Join(modelDir, configFileName), err)
	}
	// A folder without config.pbtxt is served as --model would serve it.
	if _, err := os.Stat(filepath.Join(modelDir, configFileName)); err != nil {
		cfg = nil
	}
	var specs []ModelSpec
	for _, v := range chosen {
		specs = append(specs, ModelSpec{Name: name, Version: strconv.FormatUint(v, 10), Path: paths[v], config: cfg})
	}
	return specs, nil
}

func loadModel(spec ModelSpec, opts Options, m *metrics, admit *admission) (*Model, error) {
	proto, err := onnx.LoadFile(spec.Path)
	if err != nil {
		return nil, err
	}
	sess, err := runtime.NewSession(proto, runtime.WithThreads(opts.Threads))
	if err != nil {
		return nil, fmt.Errorf("model %q (%s): %w", spec.Name, spec.Path, err)
	}
	cfg, plan, err := completeConfig(spec.config, spec.Name, sess, opts)
	if err != nil {
		return nil, fmt.Errorf("model %q version %s (%s): configuration does not fit the model: %w", spec.Name, spec.Version, spec.Path, err)
	}
	model := &Model{
		Name: spec.Name, Version: spec.Version, Path: spec.Path,
		Inputs: sess.Inputs(), Outputs: sess.Outputs(), session: sess,
		batchable: plan.batchable && plan.maxBatch > 1, config: cfg, maxRows: plan.maxRows,
		admit: admit,
	}
	if model.memory, err = estimateRunMemory(sess, model.Inputs); err != nil {
		opts.Logger.Warn("run memory not estimated: requests are charged only their decode allowance",
			"model", spec.Name, "version", spec.Version, "reason", err)
	}
	schedOpts := opts
	schedOpts.MaxBatch, schedOpts.MaxDelay, schedOpts.MaxQueue, schedOpts.Workers = plan.maxBatch, plan.maxDelay, plan.maxQueue, plan.workers
	model.sched = newScheduler(model, schedOpts, m)
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
	r.mu.RLock()
	defer r.mu.RUnlock()
	versions, ok := r.models[name]
	if !ok {
		if reason, was := r.unloaded[name]; was {
			return nil, &httpError{404, fmt.Sprintf("model %q is not loaded (%s)", name, reason)}
		}
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

// has reports whether a model of that name is loaded.
func (r *Repository) has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.models[name]
	return ok
}

// versions lists a model's versions in ascending numeric order.
func (r *Repository) versions(name string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.versionsLocked(name)
}

func (r *Repository) versionsLocked(name string) []string {
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

// all lists every loaded version, by name then version.
func (r *Repository) all() []*Model {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.models))
	for name := range r.models {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Model
	for _, name := range names {
		for _, v := range r.versionsLocked(name) {
			out = append(out, r.models[name][v])
		}
	}
	return out
}
