package serve

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/actswap/actswap/serve/v2pb"
)

// Model control modes, Triton's names: which models load at startup and whether the repository
// extension may load and unload them afterwards.
const (
	// ModelControlNone loads every model of the repository at startup; load and unload are refused.
	ModelControlNone = "none"
	// ModelControlExplicit loads only Options.LoadModels at startup ("*": all); load and unload
	// requests manage the rest.
	ModelControlExplicit = "explicit"
	// ModelControlPoll loads every model at startup and reloads a model whose folder changed (and
	// unloads one whose folder went away) every Options.PollInterval; load and unload are refused.
	ModelControlPoll = "poll"
)

// Triton's model states in the repository index.
const (
	stateReady       = "READY"
	stateUnavailable = "UNAVAILABLE"
)

// repoControl is the model repository extension's state: the repository folder, how models are
// controlled, and what polling last saw.
type repoControl struct {
	dir  string
	mode string
	// loadMu serialises loads and unloads (each swaps a whole model at once).
	loadMu       sync.Mutex
	fingerprints map[string]uint64 // model folder → what poll saw last
	stop         chan struct{}
	done         chan struct{}
}

// loadStartupModels loads the explicitly given models and, with a repository, the ones the model
// control mode starts with.
func (s *Server) loadStartupModels(specs []ModelSpec) error {
	c := &repoControl{dir: s.opts.Repository, mode: s.opts.ModelControl, fingerprints: map[string]uint64{}}
	if c.mode == "" {
		c.mode = ModelControlNone
	}
	s.control = c
	switch c.mode {
	case ModelControlNone, ModelControlPoll, ModelControlExplicit:
	default:
		return fmt.Errorf("model control mode %q: want %s, %s or %s", c.mode, ModelControlNone, ModelControlExplicit, ModelControlPoll)
	}
	if c.dir == "" && c.mode != ModelControlNone {
		return fmt.Errorf("model control mode %s needs a model repository (Options.Repository)", c.mode)
	}
	if c.mode == ModelControlPoll && s.opts.PollInterval <= 0 {
		return errors.New("model control mode poll needs a poll interval above zero")
	}
	if len(s.opts.LoadModels) > 0 && c.mode != ModelControlExplicit {
		return fmt.Errorf("models to load at startup are given only in model control mode %s", ModelControlExplicit)
	}
	for _, spec := range specs {
		if _, dup := s.repo.models[spec.Name][spec.Version]; dup {
			return fmt.Errorf("model %q version %s given twice", spec.Name, spec.Version)
		}
		m, err := loadModel(spec, s.opts, s.metrics, s.admit)
		if err != nil {
			return err
		}
		s.repo.add(m)
		s.logLoaded(m)
	}
	if c.dir != "" {
		names, err := repositoryModelNames(c.dir)
		if err != nil {
			return err
		}
		if c.mode == ModelControlExplicit && !slices.Contains(s.opts.LoadModels, "*") {
			for _, name := range s.opts.LoadModels {
				if !slices.Contains(names, name) {
					return fmt.Errorf("model %q to load is not in the repository %s (models: %v)", name, c.dir, names)
				}
			}
			names = s.opts.LoadModels
		}
		for _, name := range names {
			if s.repo.has(name) {
				return fmt.Errorf("model %q is both given to New and in the repository %s", name, c.dir)
			}
			if _, err := s.loadFromRepository(name); err != nil {
				return err
			}
		}
	}
	if len(s.repo.all()) == 0 && c.mode != ModelControlExplicit {
		if c.dir != "" {
			return fmt.Errorf("model repository %s: no NAME/VERSION/model.onnx found", c.dir)
		}
		return errors.New("no models to serve: give New a ModelSpec or Options.Repository")
	}
	return nil
}

func (s *Server) logLoaded(m *Model) {
	s.log.Info("model loaded", "model", m.Name, "version", m.Version, "path", m.Path,
		"inputs", len(m.Inputs), "outputs", len(m.Outputs), "dynamic_batching", m.batchable)
}

// loadFromRepository (re)loads a model from its repository folder: its configuration and the
// versions its policy selects. The new versions replace the old ones only once all loaded, so a
// failed reload leaves the model serving as before. It reports whether the folder holds a model.
func (s *Server) loadFromRepository(name string) (bool, error) {
	c := s.control
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return false, badRequest("model name %q is not a folder name", name)
	}
	fp, err := folderFingerprint(filepath.Join(c.dir, name))
	if err != nil {
		return false, &httpError{404, fmt.Sprintf("model %q is not in the repository: %v", name, err)}
	}
	specs, err := scanModel(c.dir, name)
	if err != nil {
		return false, badRequest("%v", err)
	}
	if len(specs) == 0 {
		return false, &httpError{404, fmt.Sprintf("model %q: no VERSION/model.onnx in %s", name, filepath.Join(c.dir, name))}
	}
	var loaded []*Model
	for _, spec := range specs {
		m, err := loadModel(spec, s.opts, s.metrics, s.admit)
		if err != nil {
			for _, l := range loaded {
				l.sched.close()
			}
			return true, badRequest("%v", err)
		}
		loaded = append(loaded, m)
	}
	old := s.repo.replace(name, loaded, "")
	c.fingerprints[name] = fp
	for _, m := range loaded {
		s.logLoaded(m)
	}
	s.setModelHealth(name, true)
	s.closeUnloaded(old)
	return true, nil
}

// unloadModel takes every version of a model out of service; requests already queued finish.
func (s *Server) unloadModel(name, reason string) error {
	c := s.control
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if !s.repo.has(name) {
		return &httpError{404, fmt.Sprintf("model %q is not loaded", name)}
	}
	old := s.repo.replace(name, nil, reason)
	delete(c.fingerprints, name)
	s.setModelHealth(name, false)
	s.closeUnloaded(old)
	s.log.Info("model unloaded", "model", name, "reason", reason)
	return nil
}

// closeUnloaded stops the schedulers of versions taken out of the repository, in the background:
// their queued requests still finish, and the caller need not wait for them.
func (s *Server) closeUnloaded(old []*Model) {
	for _, m := range old {
		go m.sched.close()
	}
}

func (s *Server) checkModelControl() error {
	if s.control.mode != ModelControlExplicit {
		return &httpError{400, fmt.Sprintf("model control mode is %s: loading and unloading need model control mode %s", s.control.mode, ModelControlExplicit)}
	}
	return nil
}

// modelIndex is Triton's repository index: every model folder of the repository and every loaded
// model, one entry per loaded version; ready limits it to models ready for inference.
func (s *Server) modelIndex(ready bool) ([]*v2pb.RepositoryIndexResponse_ModelIndex, error) {
	var names []string
	if s.control.dir != "" {
		var err error
		if names, err = repositoryModelNames(s.control.dir); err != nil {
			return nil, err
		}
	}
	loaded := s.repo.all()
	for _, m := range loaded {
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	var out []*v2pb.RepositoryIndexResponse_ModelIndex
	for _, name := range names {
		versions := 0
		for _, m := range loaded {
			if m.Name == name {
				versions++
				out = append(out, &v2pb.RepositoryIndexResponse_ModelIndex{Name: name, Version: m.Version, State: stateReady})
			}
		}
		if versions > 0 || ready {
			continue
		}
		entry := &v2pb.RepositoryIndexResponse_ModelIndex{Name: name}
		s.repo.mu.RLock()
		if reason, was := s.repo.unloaded[name]; was {
			entry.State, entry.Reason = stateUnavailable, reason
		}
		s.repo.mu.RUnlock()
		out = append(out, entry)
	}
	return out, nil
}

// startPolling rescans the repository every PollInterval in poll mode.
func (s *Server) startPolling() {
	c := s.control
	if c == nil || c.mode != ModelControlPoll {
		return
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(s.opts.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				s.poll()
			}
		}
	}()
}

func (s *Server) stopPolling() {
	if c := s.control; c != nil && c.stop != nil {
		close(c.stop)
		<-c.done
	}
}

// poll loads models whose folders are new or changed and unloads those whose folders are gone.
// A model that fails to load is logged and keeps serving its previous versions, as in Triton.
func (s *Server) poll() {
	c := s.control
	names, err := repositoryModelNames(c.dir)
	if err != nil {
		s.log.Error("repository poll", "error", err)
		return
	}
	for _, name := range names {
		fp, err := folderFingerprint(filepath.Join(c.dir, name))
		c.loadMu.Lock()
		seen, known := c.fingerprints[name]
		c.loadMu.Unlock()
		if err != nil || (known && seen == fp) {
			continue
		}
		if _, err := s.loadFromRepository(name); err != nil {
			s.log.Error("repository poll: model not reloaded", "model", name, "error", err)
			c.loadMu.Lock()
			c.fingerprints[name] = fp // do not retry an unchanged broken folder every poll
			c.loadMu.Unlock()
		}
	}
	c.loadMu.Lock()
	var gone []string
	for name := range c.fingerprints {
		if !slices.Contains(names, name) {
			gone = append(gone, name)
		}
	}
	c.loadMu.Unlock()
	for _, name := range gone {
		if s.repo.has(name) {
			_ = s.unloadModel(name, "removed from the repository")
		} else {
			c.loadMu.Lock()
			delete(c.fingerprints, name)
			c.loadMu.Unlock()
		}
	}
}

// folderFingerprint hashes the names, sizes and modification times of a model folder's files, so
// polling notices a new version, a changed config.pbtxt or a replaced model file.
func folderFingerprint(dir string) (uint64, error) {
	h := fnv.New64a()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", path, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return h.Sum64(), err
}

// REST: Triton's model repository extension.

func (s *Server) repositoryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v2/repository/index", s.handleRepositoryIndex)
	mux.HandleFunc("POST /v2/repository/models/{name}/load", s.handleRepositoryLoad)
	mux.HandleFunc("POST /v2/repository/models/{name}/unload", s.handleRepositoryUnload)
	mux.HandleFunc("GET /v2/models/{name}/config", s.handleModelConfig)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/config", s.handleModelConfig)
	mux.HandleFunc("GET /v2/models/stats", s.handleModelStats)
	mux.HandleFunc("GET /v2/models/{name}/stats", s.handleModelStats)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/stats", s.handleModelStats)
}

type restIndexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	State   string `json:"state,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) handleRepositoryIndex(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ready bool `json:"ready"`
	}
	if err := decodeSmallJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	index, err := s.modelIndex(req.Ready)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]restIndexEntry, 0, len(index))
	for _, e := range index {
		out = append(out, restIndexEntry{e.Name, e.Version, e.State, e.Reason})
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleRepositoryLoad(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Parameters map[string]any `json:"parameters"`
	}
	if err := decodeSmallJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if len(req.Parameters) > 0 {
		writeError(w, badRequest("load parameters (config overrides, model files in the request) are not supported"))
		return
	}
	if err := s.checkModelControl(); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.loadFromRepository(r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) handleRepositoryUnload(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Parameters map[string]any `json:"parameters"`
	}
	if err := decodeSmallJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkModelControl(); err != nil {
		writeError(w, err)
		return
	}
	if err := s.unloadModel(r.PathValue("name"), "unloaded"); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

// gRPC: the same calls on inference.GRPCInferenceService.

func (g *grpcService) RepositoryIndex(_ context.Context, req *v2pb.RepositoryIndexRequest) (*v2pb.RepositoryIndexResponse, error) {
	index, err := g.s.modelIndex(req.Ready)
	if err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.RepositoryIndexResponse{Models: index}, nil
}

func (g *grpcService) RepositoryModelLoad(_ context.Context, req *v2pb.RepositoryModelLoadRequest) (*v2pb.RepositoryModelLoadResponse, error) {
	if len(req.Parameters) > 0 {
		return nil, grpcError(badRequest("load parameters (config overrides, model files in the request) are not supported"))
	}
	if err := g.s.checkModelControl(); err != nil {
		return nil, grpcError(err)
	}
	if _, err := g.s.loadFromRepository(req.ModelName); err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.RepositoryModelLoadResponse{}, nil
}

func (g *grpcService) RepositoryModelUnload(_ context.Context, req *v2pb.RepositoryModelUnloadRequest) (*v2pb.RepositoryModelUnloadResponse, error) {
	if err := g.s.checkModelControl(); err != nil {
		return nil, grpcError(err)
	}
	if err := g.s.unloadModel(req.ModelName, "unloaded"); err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.RepositoryModelUnloadResponse{}, nil
}
