package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/actswap/actswap/serve/v2pb"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The gRPC services beside inference.GRPCInferenceService: the standard health service
// (grpc.health.v1, what Kubernetes gRPC probes and grpc_health_probe call) and server reflection
// (what grpcurl list/describe use).
//
// Health answers per service name: "" (the server) and inference.GRPCInferenceService are SERVING
// until the server drains; each loaded model's name is SERVING while a version of it is loaded and
// NOT_SERVING after it is unloaded; other names are NOT_FOUND.

const inferenceServiceName = "inference.GRPCInferenceService"

func (s *Server) registerGRPCExtensions() {
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpcSrv, s.health)
	reflection.Register(s.grpcSrv)
	s.health.SetServingStatus(inferenceServiceName, healthpb.HealthCheckResponse_SERVING)
	for _, m := range s.repo.all() {
		s.health.SetServingStatus(m.Name, healthpb.HealthCheckResponse_SERVING)
	}
}

// setModelHealth follows a model's load and unload in the health service.
func (s *Server) setModelHealth(name string, serving bool) {
	if s.health == nil {
		return
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(name, st)
}

// stopHealth turns every service NOT_SERVING, first thing on drain, so probes take the replica
// out of rotation before its listeners close.
func (s *Server) stopHealth() {
	if s.health != nil {
		s.health.Shutdown()
	}
}

// Triton's model configuration and statistics extensions.

func (g *grpcService) ModelConfig(_ context.Context, req *v2pb.ModelConfigRequest) (*v2pb.ModelConfigResponse, error) {
	m, err := g.s.repo.lookup(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.ModelConfigResponse{Config: m.config}, nil
}

func (g *grpcService) ModelStatistics(_ context.Context, req *v2pb.ModelStatisticsRequest) (*v2pb.ModelStatisticsResponse, error) {
	stats, err := g.s.modelStatistics(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.ModelStatisticsResponse{ModelStats: stats}, nil
}

// modelStatistics lists the statistics of one version, of every version of a model (version ""),
// or of every loaded model (name "").
func (s *Server) modelStatistics(name, version string) ([]*v2pb.ModelStatistics, error) {
	var models []*Model
	switch {
	case name == "":
		models = s.repo.all()
	case version == "":
		if _, err := s.repo.lookup(name, ""); err != nil {
			return nil, err
		}
		for _, m := range s.repo.all() {
			if m.Name == name {
				models = append(models, m)
			}
		}
	default:
		m, err := s.repo.lookup(name, version)
		if err != nil {
			return nil, err
		}
		models = []*Model{m}
	}
	out := make([]*v2pb.ModelStatistics, 0, len(models))
	for _, m := range models {
		out = append(out, m.stats.proto(m.Name, m.Version))
	}
	return out, nil
}

// writeProtoJSON answers with a message as Triton's REST API writes it: protobuf field names,
// enums by name, every scalar and list present (zero or empty), messages only when set, and 64-bit
// integers as JSON numbers — protobuf's JSON mapping writes them as strings, which Triton's
// clients (perf_analyzer's statistics among them) do not read.
func writeProtoJSON(w http.ResponseWriter, m proto.Message) {
	writeJSON(w, 200, tritonJSONValue(m.ProtoReflect()))
}

func tritonJSONValue(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		v := m.Get(fd)
		switch {
		case fd.IsList():
			list := v.List()
			items := make([]any, list.Len())
			for j := range items {
				items[j] = tritonJSONScalar(fd, list.Get(j))
			}
			out[string(fd.Name())] = items
		case fd.IsMap():
			entries := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				entries[k.String()] = tritonJSONScalar(fd.MapValue(), mv)
				return true
			})
			out[string(fd.Name())] = entries
		case fd.Message() != nil || fd.ContainingOneof() != nil:
			if m.Has(fd) {
				out[string(fd.Name())] = tritonJSONScalar(fd, v)
			}
		default:
			out[string(fd.Name())] = tritonJSONScalar(fd, v)
		}
	}
	return out
}

func tritonJSONScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return tritonJSONValue(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int32(v.Enum())
	case protoreflect.BytesKind:
		return v.Bytes() // base64, as encoding/json writes []byte
	}
	return v.Interface() // bool, int32/64, uint32/64, float, double, string: JSON numbers
}

func (s *Server) handleModelConfig(w http.ResponseWriter, r *http.Request) {
	m, err := s.repo.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeProtoJSON(w, m.config)
}

func (s *Server) handleModelStats(w http.ResponseWriter, r *http.Request) {
	stats, err := s.modelStatistics(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeProtoJSON(w, &v2pb.ModelStatisticsResponse{ModelStats: stats})
}

// maxControlBodyBytes bounds the bodies of repository requests, which carry a few flags.
const maxControlBodyBytes = 64 << 10

// decodeSmallJSON decodes an optional small JSON body (an empty body is an empty object).
func decodeSmallJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBodyBytes))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return badRequest("malformed JSON request: %v", err)
		}
		return badRequest("request: %v", err)
	}
	return nil
}
