package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	// Without these the catch-all below would answer other methods on /infer with 404.
	mux.HandleFunc("/v2/models/{name}/infer", methodNotAllowed)
	mux.HandleFunc("/v2/models/{name}/versions/{version}/infer", methodNotAllowed)
	s.repositoryRoutes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{404, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	writeError(w, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: infer takes POST", r.Method, r.URL.Path)})
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
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// statusClientClosed is the status recorded (never sent: nobody is listening) for a request
// whose client went away, as nginx's 499.
const statusClientClosed = 499

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
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return statusClientClosed
	}
	return http.StatusInternalServerError
}

// record counts a finished infer request and its latency; m is nil for an unknown model, which
// is counted under "_unknown" to keep label cardinality bounded whatever clients send.
func (s *Server) record(m *Model, protocol, outcome string, start time.Time) {
	name, version := "_unknown", ""
	if m != nil {
		name, version = m.Name, m.Version
	}
	s.metrics.requests.WithLabelValues(name, version, protocol, outcome).Inc()
	s.metrics.latency.WithLabelValues(name, version, protocol).Observe(time.Since(start).Seconds())
	switch {
	case outcome == outcomeCanceled:
		s.metrics.cancellations.WithLabelValues(name, version, protocol, "client_gone").Inc()
	case outcome == strconv.Itoa(http.StatusGatewayTimeout):
		s.metrics.cancellations.WithLabelValues(name, version, protocol, "deadline").Inc()
	}
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

func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.inflight.Add(1)
	s.metrics.inflight.Inc()
	defer func() {
		s.metrics.inflight.Dec()
		s.inflight.Add(-1)
	}()
	m, err := s.repo.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		s.record(nil, "http", strconv.Itoa(statusOf(err)), start)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	defer cancel()
	// Deadlines per request instead of the server's: the upload gets ReadTimeout (a stalled
	// one is answered 408), the answer RequestTimeout to be computed and WriteTimeout to be
	// written once it is, so a response is never cut off without being logged and counted.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(start.Add(s.opts.ReadTimeout))
	_ = rc.SetWriteDeadline(start.Add(s.opts.RequestTimeout + s.opts.WriteTimeout))
	err = s.serveInfer(ctx, w, r, m)
	outcome := s.outcome(r.Context(), err)
	switch {
	case errors.Is(err, errWriteFailed):
		s.metrics.cancellations.WithLabelValues(m.Name, m.Version, "http", "write_failed").Inc()
		s.log.Warn("infer answer dropped", "model", m.Name, "version", m.Version, "error", err, "duration", time.Since(start))
	case outcome == outcomeCanceled:
		s.log.Info("infer canceled: client went away", "model", m.Name, "version", m.Version, "duration", time.Since(start))
	case err != nil:
		_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		writeError(w, err)
		s.log.Info("infer failed", "model", m.Name, "version", m.Version, "status", outcome, "error", err)
	}
	s.record(m, "http", outcome, start)
}

// clientDeadlineSkew is how long before the server's copy of a client's deadline a cancellation
// still counts as that deadline passing: the request's transit time, with room for a loaded host.
const clientDeadlineSkew = 250 * time.Millisecond

// outcome is the metrics label for a finished request: its status, or canceled when the client
// left (counted as a cancellation too); a passed deadline is 504 and counted as one as well.
func (s *Server) outcome(clientCtx context.Context, err error) string {
	switch {
	case errors.Is(err, errWriteFailed):
		return outcomeDropped
	case err == nil:
		return "200"
	case errors.Is(err, context.DeadlineExceeded):
		return strconv.Itoa(http.StatusGatewayTimeout)
	case errors.Is(err, context.Canceled) && clientCtx.Err() != nil:
		// A gRPC client's own deadline may reach the server as a cancellation: the client gives
		// up when its deadline passes, a little before the server's copy of that deadline (which
		// counts from the request's arrival) does — 5 ms seen under the race detector.
		if deadline, ok := clientCtx.Deadline(); ok && time.Until(deadline) < clientDeadlineSkew {
			return strconv.Itoa(http.StatusGatewayTimeout)
		}
		return outcomeCanceled
	}
	return strconv.Itoa(statusOf(err))
}

// errWriteFailed marks an answer that was computed but could not be delivered.
var errWriteFailed = errors.New("writing the answer failed")

// countingReader remembers the first error of the body it reads, so a decode error caused by
// the transport (body too large, stalled upload, client gone) is answered as such, not as
// malformed JSON.
type countingReader struct {
	r   io.Reader
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// serveInfer admits, decodes, runs and answers one REST infer request; when it returns an error
// other than errWriteFailed nothing has been written.
func (s *Server) serveInfer(ctx context.Context, w http.ResponseWriter, r *http.Request, m *Model) error {
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is larger than %d bytes", r.ContentLength, limit)}
	}
	bodyBytes := limit
	if r.ContentLength >= 0 {
		bodyBytes = r.ContentLength
	}
	held, err := s.admit.reserve(bodyBytes)
	if err != nil {
		return err
	}
	defer held.release()
	decoded, err := s.admit.startDecode(ctx)
	if err != nil {
		return err
	}
	req, err := s.decodeBody(w, r, bodyBytes)
	decoded()
	if err != nil {
		return err
	}
	outNames := make([]string, len(req.outputs))
	for i, o := range req.outputs {
		outNames[i] = o.name
	}
	outs, names, err := m.infer(ctx, held, req.inputs, outNames)
	if err != nil {
		return err
	}
	binary := make([]bool, len(names))
	anyBinary := false
	for i := range names {
		binary[i] = req.binaryOutput
		if i < len(req.outputs) && req.outputs[i].binary != nil {
			binary[i] = *req.outputs[i].binary
		}
		anyBinary = anyBinary || binary[i]
	}
	resp := restResponse{model: m, id: req.id, names: names, outputs: outs, binary: binary}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)) // the answer's own allowance
	if !anyBinary {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := resp.writeJSON(bw); err != nil {
			return fmt.Errorf("%w: %w", errWriteFailed, err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("%w: %w", errWriteFailed, err)
		}
		return flushAnswer(rc)
	}
	// The binary extension needs the JSON part's length in a header, so that part is built
	// first; it holds data only for outputs asked for as JSON.
	var header bytes.Buffer
	_ = resp.writeJSON(&header)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerLengthKey, strconv.Itoa(header.Len()))
	w.WriteHeader(200)
	if _, err := w.Write(header.Bytes()); err != nil {
		return fmt.Errorf("%w: %w", errWriteFailed, err)
	}
	for i, name := range names {
		if binary[i] {
			if _, err := w.Write(rawBytes(outs[name])); err != nil {
				return fmt.Errorf("%w: %w", errWriteFailed, err)
			}
		}
	}
	return flushAnswer(rc)
}

// flushAnswer pushes the answer's last buffered bytes out now, so a failed delivery is seen
// (and counted) here rather than lost after the handler returns.
func flushAnswer(rc *http.ResponseController) error {
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errWriteFailed, err)
	}
	return nil
}

// decodeBody streams the request body through the JSON decoder (and, with the binary tensor
// extension, the bytes after the JSON part).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, bodyBytes int64) (*restRequest, error) {
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)}
	var header, binary io.Reader = body, bytes.NewReader(nil)
	if hl := r.Header.Get(headerLengthKey); hl != "" {
		n, err := strconv.ParseInt(hl, 10, 64)
		if err != nil || n < 0 || n > bodyBytes {
			return nil, badRequest("%s: %q does not fit a %d-byte body", headerLengthKey, hl, bodyBytes)
		}
		header, binary = io.LimitReader(body, n), body
	}
	req, err := decodeRESTRequest(header, binary, decodeLimits{maxElements: s.opts.MaxElements, bodyBytes: bodyBytes})
	if body.err != nil {
		return nil, transportError(body.err)
	}
	return req, err
}

// transportError classifies a failed body read.
func transportError(err error) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
	case errors.As(err, &ne) && ne.Timeout():
		return &httpError{http.StatusRequestTimeout, "request body not received in time: " + err.Error()}
	}
	return fmt.Errorf("reading request body: %w", err)
}

// restResponse is a V2 REST infer answer, written without building it as Go values first.
type restResponse struct {
	model   *Model
	id      string
	names   []string
	outputs map[string]*tensor.Tensor
	binary  []bool // per output: raw bytes after the JSON part instead of "data"
}

func (r *restResponse) writeJSON(w io.Writer) error {
	b := make([]byte, 0, 64<<10)
	b = append(b, `{"model_name":`...)
	b = appendJSONString(b, r.model.Name)
	b = append(b, `,"model_version":`...)
	b = appendJSONString(b, r.model.Version)
	if r.id != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, r.id)
	}
	b = append(b, `,"outputs":[`...)
	for i, name := range r.names {
		t := r.outputs[name]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, name)
		b = append(b, `,"datatype":`...)
		b = appendJSONString(b, V2Datatype(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, ']')
		if r.binary[i] {
			b = append(b, `,"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, int64(len(rawBytes(t))), 10)
			b = append(b, `}}`...)
			continue
		}
		b = append(b, `,"data":[`...)
		var err error
		if b, err = appendJSONData(b, t, w); err != nil {
			return err
		}
		b = append(b, `]}`...)
	}
	b = append(b, "]}\n"...)
	_, err := w.Write(b)
	return err
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

// logRequests logs every request at debug level and slow or failed ones at info (slog).
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}
