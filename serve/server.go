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

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Addr         string        // REST listen address (default 127.0.0.1:8000)
	GRPCAddr     string        // gRPC listen address ("" disables gRPC)
	Threads      int           // kernel threads per inference (default GOMAXPROCS)
	Workers      int           // concurrent inferences per model (default GOMAXPROCS)
	MaxBatch     int           // dynamic batching: most rows per batch (≤ 1 disables)
	MaxDelay     time.Duration // dynamic batching: longest wait for a batch to fill (default 2ms)
	MaxQueue     int           // queued requests per model before answering 503 (default 256)
	MaxBodyBytes int64         // largest request body (default 64 MiB)
	ReadTimeout  time.Duration // default 30s
	WriteTimeout time.Duration // default 60s
	Version      string        // reported by server metadata
	Repository   string        // Triton-layout model repository folder ("" for none)
	ModelControl string        // ModelControlNone (default), ModelControlExplicit or ModelControlPoll
	PollInterval time.Duration // repository rescan period in ModelControlPoll
	LoadModels   []string      // models loaded at startup in ModelControlExplicit ("*": all)
	Logger       *slog.Logger
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8000"
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 256
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 20
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
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
	log      *slog.Logger
	httpSrv  *http.Server
	grpcSrv  *grpc.Server
	draining atomic.Bool
	stopOnce sync.Once
	stopErr  error
	httpLn   net.Listener
	grpcLn   net.Listener
	control  *repoControl   // model repository extension (repoindex.go)
	health   *health.Server // grpc.health.v1 (health.go)
}

// New loads every model and prepares the server; nothing listens until Start.
func New(specs []ModelSpec, opts Options) (*Server, error) {
	opts.defaults()
	s := &Server{opts: opts, metrics: newMetrics(), log: opts.Logger, repo: newRepository()}
	if err := s.loadStartupModels(specs); err != nil {
		s.closeModels()
		return nil, err
	}
	s.httpSrv = &http.Server{
		Handler:           logRequests(s.log, s.routes()),
		ReadTimeout:       opts.ReadTimeout,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       120 * time.Second,
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

// Shutdown drains: readiness turns false, listeners close, in-flight requests finish (until ctx
// ends), then the model schedulers stop.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stopHealth()
	s.stopPolling()
	s.log.Info("draining")
	var err error
	if s.grpcSrv != nil {
		done := make(chan struct{})
		go func() { s.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpcSrv.Stop()
		}
	}
	if e := s.httpSrv.Shutdown(ctx); e != nil {
		err = e
	}
	s.closeModels()
	s.log.Info("stopped")
	return err
}

func (s *Server) closeModels() {
	for _, m := range s.repo.all() {
		m.sched.close()
	}
}
