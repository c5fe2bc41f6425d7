package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/actswap/actswap/tensor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// headerLengthKey is the binary tensor extension's header: the JSON part's length in bytes, the
// tensors' raw bytes following it.
const headerLengthKey = "Inference-Header-Content-Length"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2", s.handleServerMetadata)
	mux.HandleFunc("GET /v2/health/live", s.handleLive)
	mux.HandleFunc("GET /v2/health/ready", s.handleReady)
	mux.HandleFunc("GET /v2/models/{name}", s.handleModelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}", s.handleModelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", s.handleModelReady)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", s.handleModelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", s.handleInfer)
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", s.handleInfer)
	s.repositoryRoutes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{404, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = fmt.Errorf("request body larger than %d bytes", mbe.Limit)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// statusOf is the HTTP status an error is answered with; gRPC maps the same statuses to codes.
func statusOf(err error) int {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// record counts a finished infer request and its latency.
func (s *Server) record(model, protocol string, status int, start time.Time) {
	if !s.repo.has(model) {
		model = "_unknown" // keeps label cardinality bounded whatever clients send
	}
	s.metrics.requests.WithLabelValues(model, protocol, strconv.Itoa(status)).Inc()
	s.metrics.latency.WithLabelValues(model, protocol).Observe(time.Since(start).Seconds())
}

func (s *Server) handleServerMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]any{"name": "actswap", "version": s.opts.Version, "extensions": extensions})
}

func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, map[string]bool{"live": true})
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	ready := s.ready()
	status := 200
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]bool{"ready": ready})
}

type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions"`
	Platform string           `json:"platform"`
	Inputs   []tensorMetadata `json:"inputs"`
	Outputs  []tensorMetadata `json:"outputs"`
}

func (s *Server) modelMetadata(m *Model) modelMetadata {
	md := modelMetadata{Name: m.Name, Versions: s.repo.versions(m.Name), Platform: "onnx_onnxv1"}
	for _, vi := range m.Inputs {
		md.Inputs = append(md.Inputs, tensorMetadata{vi.Name, V2Datatype(vi.DType), metadataShape(vi.Shape)})
	}
	for _, vi := range m.Outputs {
		md.Outputs = append(md.Outputs, tensorMetadata{vi.Name, V2Datatype(vi.DType), metadataShape(vi.Shape)})
	}
	return md
}

func (s *Server) handleModelMetadata(w http.ResponseWriter, r *http.Request) {
	m, err := s.repo.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, s.modelMetadata(m))
}

func (s *Server) handleModelReady(w http.ResponseWriter, r *http.Request) {
	m, err := s.repo.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	ready := s.ready()
	status := 200
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"name": m.Name, "ready": ready})
}

type restInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type restRequestedOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type restInferRequest struct {
	ID         string                `json:"id,omitempty"`
	Parameters map[string]any        `json:"parameters,omitempty"`
	Inputs     []restInput           `json:"inputs"`
	Outputs    []restRequestedOutput `json:"outputs,omitempty"`
}

type restOutput struct {
	Name       string         `json:"name"`
	Shape      []int          `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data,omitempty"`
}

type restInferResponse struct {
	ModelName    string       `json:"model_name"`
	ModelVersion string       `json:"model_version,omitempty"`
	ID           string       `json:"id,omitempty"`
	Outputs      []restOutput `json:"outputs"`
}

func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	name := r.PathValue("name")
	status, err := s.serveInfer(w, r)
	if err != nil {
		writeError(w, err)
		status = statusOf(err)
		s.log.Info("infer failed", "model", name, "status", status, "error", err)
	}
	s.record(name, "http", status, start)
}

// serveInfer decodes, runs and answers one REST infer request; on error nothing has been written.
func (s *Server) serveInfer(w http.ResponseWriter, r *http.Request) (int, error) {
	m, err := s.repo.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		return 0, err
	}
	header, binary := body, []byte(nil)
	if hl := r.Header.Get(headerLengthKey); hl != "" {
		n, err := strconv.Atoi(hl)
		if err != nil || n < 0 || n > len(body) {
			return 0, badRequest("%s: %q does not fit a %d-byte body", headerLengthKey, hl, len(body))
		}
		header, binary = body[:n], body[n:]
	}
	var req restInferRequest
	dec := json.NewDecoder(bytes.NewReader(header))
	if err := dec.Decode(&req); err != nil {
		return 0, badRequest("malformed JSON request: %v", err)
	}
	inputs, err := decodeRESTInputs(req.Inputs, binary)
	if err != nil {
		return 0, err
	}
	var outNames []string
	binaryOut := boolParam(req.Parameters, "binary_data_output")
	binaryByName := map[string]bool{}
	for _, o := range req.Outputs {
		outNames = append(outNames, o.Name)
		binaryByName[o.Name] = boolParam(o.Parameters, "binary_data")
	}
	outs, names, err := m.infer(r.Context(), inputs, outNames)
	if err != nil {
		return 0, err
	}
	resp := restInferResponse{ModelName: m.Name, ModelVersion: m.Version, ID: req.ID}
	var raw []byte
	for _, name := range names {
		t := outs[name]
		o := restOutput{Name: name, Shape: t.Shape, Datatype: V2Datatype(t.DType)}
		if binaryOut || binaryByName[name] {
			b := rawBytes(t)
			o.Parameters = map[string]any{"binary_data_size": len(b)}
			raw = append(raw, b...)
		} else {
			o.Data = jsonData(t)
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		return 0, fmt.Errorf("encoding response: %w", err)
	}
	if raw == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		_, _ = w.Write(js)
		return 200, nil
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerLengthKey, strconv.Itoa(len(js)))
	w.WriteHeader(200)
	_, _ = w.Write(js)
	_, _ = w.Write(raw)
	return 200, nil
}

func decodeRESTInputs(ins []restInput, binary []byte) ([]inferInput, error) {
	if len(ins) == 0 {
		return nil, badRequest("request has no inputs")
	}
	out := make([]inferInput, 0, len(ins))
	for _, in := range ins {
		dt, err := ParseV2Datatype(in.Datatype)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		shape, err := checkedShape(in.Shape)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		var t *tensor.Tensor
		if size, ok := in.Parameters["binary_data_size"]; ok {
			n, isNum := size.(float64)
			if !isNum || n < 0 || int(n) > len(binary) {
				return nil, badRequest("input %q: binary_data_size %v does not fit the %d bytes after the JSON header", in.Name, size, len(binary))
			}
			t, err = tensorFromRaw(dt, shape, binary[:int(n)])
			binary = binary[int(n):]
		} else {
			if len(in.Data) == 0 {
				return nil, badRequest("input %q: no data", in.Name)
			}
			t, err = tensorFromJSON(dt, shape, in.Data)
		}
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		out = append(out, inferInput{in.Name, t})
	}
	if len(binary) != 0 {
		return nil, badRequest("%d bytes of binary data are not claimed by any input", len(binary))
	}
	return out, nil
}

// checkedShape converts a request shape, refusing negative dims and element counts that could
// not be real (so a hostile shape cannot make the server allocate).
func checkedShape(dims []int64) ([]int, error) {
	shape := make([]int, len(dims))
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("shape %v has a negative dimension", dims)
		}
		n *= d
		if n > 1<<31 {
			return nil, fmt.Errorf("shape %v has too many elements", dims)
		}
		shape[i] = int(d)
	}
	return shape, nil
}

func boolParam(params map[string]any, key string) bool {
	b, _ := params[key].(bool)
	return b
}

// logRequests logs every request at debug level and slow or failed ones at info (slog).
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}
