// Package serve is actswap's inference server: the KServe / Open Inference Protocol V2 over REST
// (with Triton's binary tensor extension) and gRPC, dynamic batching, Prometheus metrics,
// bounded queues and graceful draining.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actswap/actswap/serve/v2pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// extensions lists the protocol extensions the server implements.
var extensions = []string{"binary_tensor_data", "model_repository", "model_configuration", "statistics"}

// Options configure a Server. Zero values take the documented defaults; negative values are
// refused by New.
type Options struct {
	Addr           string        // REST listen address (default 127.0.0.1:8000)
	GRPCAddr       string        // gRPC listen address ("" disables gRPC)
	Threads        int           // kernel threads per inference (default GOMAXPROCS)
	Workers        int           // concurrent inferences per model (default GOMAXPROCS)
	MaxBatch       int           // dynamic batching: most rows per batch (≤ 1 disables)
	MaxDelay       time.Duration // dynamic batching: longest wait for a batch to fill (default 2ms)
	MaxQueue       int           // queued requests per model before answering 503 (default 256)
	MaxBodyBytes   int64         // largest request body (default 64 MiB)
	MaxElements    int           // most tensor elements over one request's inputs (default 32M)
	MemoryBudget   int64         // bytes requests in flight may reserve to decode and run, and most a dynamic batch's run may need (default 1 GiB)
	MaxDecodes     int           // requests decoded at once (default 2×GOMAXPROCS)
	RequestTimeout time.Duration // deadline per request, queue wait and compute (default 60s)
	ReadTimeout    time.Duration // longest upload of one request; a stalled one gets 408 (default 30s)
	WriteTimeout   time.Duration // longest write of one response once computed (default 60s)
	Version        string        // reported by server metadata
	Repository     string        // Triton-layout model repository folder ("" for none)
	ModelControl   string        // ModelControlNone (default), ModelControlExplicit or ModelControlPoll
	PollInterval   time.Duration // repository rescan period in ModelControlPoll
	LoadModels     []string      // models loaded at startup in ModelControlExplicit ("*": all)
	Logger         *slog.Logger

	// runHook, when set (tests only), runs before each batch executes; it holds a request in
	// flight so shutdown and deadline tests need no slow model.
	runHook func(ctx context.Context)
}

func (o *Options) validate() error {
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"threads", o.Threads < 0}, {"workers", o.Workers < 0}, {"max batch", o.MaxBatch < 0},
		{"max delay", o.MaxDelay < 0}, {"max queue", o.MaxQueue < 0}, {"max body", o.MaxBodyBytes < 0},
		{"max elements", o.MaxElements < 0}, {"memory budget", o.MemoryBudget < 0}, {"max decodes", o.MaxDecodes < 0},
		{"request timeout", o.RequestTimeout < 0}, {"read timeout", o.ReadTimeout < 0}, {"write timeout", o.WriteTimeout < 0},
	} {
		if c.bad {
			return fmt.Errorf("serve options: %s must not be negative", c.name)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8000"
	}
	if o.Threads == 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 256
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 64 << 20
	}
	if o.MaxElements == 0 {
		o.MaxElements = 32 << 20
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = 1 << 30
	}
	if o.MaxDecodes == 0 {
		o.MaxDecodes = 2 * runtime.GOMAXPROCS(0)
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 60 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server serves a repository of models.
type Server struct {
	opts     Options
	repo     *Repository
	metrics  *metrics
	admit    *admission
	log      *slog.Logger
	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	draining atomic.Bool
	inflight atomic.Int64 // infer requests being served, both protocols
	stopOnce sync.Once
	stopErr  error
	httpLn   net.Listener
	grpcLn   net.Listener
	control  *repoControl   // model repository extension (repoindex.go)
	health   *health.Server // grpc.health.v1 (health.go)
}

// New loads every model and prepares the server; nothing listens until Start.
func New(specs []ModelSpec, opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	met := newMetrics()
	s := &Server{opts: opts, metrics: met, admit: newAdmission(opts.MemoryBudget, opts.MaxDecodes, met.reserved), log: opts.Logger, repo: newRepository()}
	if err := s.loadStartupModels(specs); err != nil {
		s.closeModels()
		return nil, err
	}
	s.httpSrv = &http.Server{
		Handler:           logRequests(s.log, s.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Read and write deadlines are set per request (http.go): the upload gets ReadTimeout,
		// the response RequestTimeout+WriteTimeout, so a response is never cut off unannounced.
	}
	if opts.GRPCAddr != "" {
		s.grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(int(opts.MaxBodyBytes)), grpc.MaxSendMsgSize(int(opts.MaxBodyBytes)))
		v2pb.RegisterGRPCInferenceServiceServer(s.grpcSrv, &grpcService{s: s})
		s.registerGRPCExtensions()
	}
	return s, nil
}

func (s *Server) ready() bool { return !s.draining.Load() }

// Start binds the listeners and serves in the background. The bound addresses are available
// from Addr and GRPCAddr (useful with port 0).
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Addr, err)
	}
	s.httpLn = ln
	go func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	if s.grpcSrv != nil {
		gln, err := net.Listen("tcp", s.opts.GRPCAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen %s: %w", s.opts.GRPCAddr, err)
		}
		s.grpcLn = gln
		go func() {
			if err := s.grpcSrv.Serve(gln); err != nil {
				s.log.Error("grpc server stopped", "error", err)
			}
		}()
	}
	s.startPolling()
	s.log.Info("serving", "http", s.Addr(), "grpc", s.GRPCAddr())
	return nil
}

// Addr is the REST listener's address.
func (s *Server) Addr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// GRPCAddr is the gRPC listener's address ("" without gRPC).
func (s *Server) GRPCAddr() string {
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

// Shutdown drains: readiness turns false, every listener (REST and gRPC) stops accepting
// before either side waits, in-flight requests on both finish, then the model schedulers stop.
// If ctx ends first, the connections still open are closed and Shutdown returns an error
// wrapping ctx's, saying how much was abandoned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopHealth()
	s.stopPolling()
	s.log.Info("draining")
	// Both drains start at once: http.Server.Shutdown and grpc.Server.GracefulStop each close
	// their listeners first thing, so neither side takes new work while the other drains.
	var wg sync.WaitGroup
	var httpErr error
	grpcTimedOut := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		if httpErr = s.httpSrv.Shutdown(ctx); httpErr != nil {
			_ = s.httpSrv.Close()
		}
	}()
	if s.grpcSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { s.grpcSrv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				grpcTimedOut = true
				s.grpcSrv.Stop()
				<-done
			}
		}()
	}
	wg.Wait()
	inflight := s.inflight.Load()
	s.closeModels()
	if httpErr != nil || grpcTimedOut {
		err := fmt.Errorf("drain did not finish in time (%d requests still in flight were cut off): %w", inflight, context.Cause(ctx))
		s.log.Error("drain timed out", "error", err)
		return err
	}
	s.log.Info("stopped")
	return nil
}

func (s *Server) closeModels() {
	for _, m := range s.repo.all() {
		m.sched.close()
	}
}
