package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/actswap/actswap/serve/v2pb"
	"github.com/actswap/actswap/tensor"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// grpcService implements inference.GRPCInferenceService on the same repository and schedulers
// as the REST API.
type grpcService struct {
	v2pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func grpcError(err error) error {
	var he *httpError
	if errors.As(err, &he) {
		switch he.status {
		case 400:
			return status.Error(codes.InvalidArgument, he.msg)
		case 404:
			return status.Error(codes.NotFound, he.msg)
		case 413, 429:
			return status.Error(codes.ResourceExhausted, he.msg)
		case 503:
			return status.Error(codes.Unavailable, he.msg)
		}
		return status.Error(codes.Internal, he.msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

func (g *grpcService) ServerLive(context.Context, *v2pb.ServerLiveRequest) (*v2pb.ServerLiveResponse, error) {
	return &v2pb.ServerLiveResponse{Live: true}, nil
}

func (g *grpcService) ServerReady(context.Context, *v2pb.ServerReadyRequest) (*v2pb.ServerReadyResponse, error) {
	return &v2pb.ServerReadyResponse{Ready: g.s.ready()}, nil
}

func (g *grpcService) ModelReady(_ context.Context, req *v2pb.ModelReadyRequest) (*v2pb.ModelReadyResponse, error) {
	if _, err := g.s.repo.lookup(req.Name, req.Version); err != nil {
		return nil, grpcError(err)
	}
	return &v2pb.ModelReadyResponse{Ready: g.s.ready()}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *v2pb.ServerMetadataRequest) (*v2pb.ServerMetadataResponse, error) {
	return &v2pb.ServerMetadataResponse{Name: "actswap", Version: g.s.opts.Version, Extensions: extensions}, nil
}

func (g *grpcService) ModelMetadata(_ context.Context, req *v2pb.ModelMetadataRequest) (*v2pb.ModelMetadataResponse, error) {
	m, err := g.s.repo.lookup(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	md := g.s.modelMetadata(m)
	resp := &v2pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		resp.Inputs = append(resp.Inputs, &v2pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		resp.Outputs = append(resp.Outputs, &v2pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return resp, nil
}

func (g *grpcService) ModelInfer(ctx context.Context, req *v2pb.ModelInferRequest) (*v2pb.ModelInferResponse, error) {
	start := time.Now()
	g.s.inflight.Add(1)
	g.s.metrics.inflight.Inc()
	defer func() {
		g.s.metrics.inflight.Dec()
		g.s.inflight.Add(-1)
	}()
	m, err := g.s.repo.lookup(req.ModelName, req.ModelVersion)
	if err != nil {
		g.s.record(nil, "grpc", strconv.Itoa(statusOf(err)), start)
		return nil, grpcError(err)
	}
	// The client's deadline, if sooner, wins over the server's.
	reqCtx, cancel := context.WithTimeout(ctx, g.s.opts.RequestTimeout)
	defer cancel()
	resp, err := g.modelInfer(reqCtx, req, m)
	outcome := g.s.outcome(ctx, err)
	g.s.record(m, "grpc", outcome, start)
	if err != nil {
		if outcome == outcomeCanceled {
			g.s.log.Info("infer canceled: client went away", "model", m.Name, "version", m.Version, "duration", time.Since(start))
		} else {
			g.s.log.Info("infer failed", "model", m.Name, "version", m.Version, "status", outcome, "error", err)
		}
		return nil, grpcError(err)
	}
	return resp, nil
}

func (g *grpcService) modelInfer(ctx context.Context, req *v2pb.ModelInferRequest, m *Model) (*v2pb.ModelInferResponse, error) {
	// grpc-go has already read the message (at most MaxBodyBytes); what it decodes to is
	// charged to the same budget as REST bodies before any tensor is built.
	held, err := g.s.admit.reserve(int64(proto.Size(req)))
	if err != nil {
		return nil, err
	}
	defer held.release()
	inputs, err := grpcInputs(req, g.s.opts.MaxElements)
	if err != nil {
		return nil, err
	}
	var outNames []string
	for _, o := range req.Outputs {
		outNames = append(outNames, o.Name)
	}
	outs, names, err := m.infer(ctx, held, inputs, outNames)
	if err != nil {
		return nil, err
	}
	resp := &v2pb.ModelInferResponse{ModelName: m.Name, ModelVersion: m.Version, Id: req.Id}
	for _, name := range names {
		t := outs[name]
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		resp.Outputs = append(resp.Outputs, &v2pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: V2Datatype(t.DType), Shape: shape})
		// Raw output contents are what Triton's clients read by default and avoid a copy per type.
		resp.RawOutputContents = append(resp.RawOutputContents, rawBytes(t))
	}
	return resp, nil
}

// grpcInputs converts a request's input tensors, from typed contents or raw_input_contents
// (never both for one request, as the protocol says), refusing more than maxElements elements.
func grpcInputs(req *v2pb.ModelInferRequest, maxElements int) ([]inferInput, error) {
	raw := req.RawInputContents
	if len(raw) > 0 && len(raw) != len(req.Inputs) {
		return nil, badRequest("raw_input_contents has %d entries for %d inputs", len(raw), len(req.Inputs))
	}
	if len(req.Inputs) == 0 {
		return nil, badRequest("request has no inputs")
	}
	inputs := make([]inferInput, len(req.Inputs))
	elements := 0
	for i, in := range req.Inputs {
		dt, err := ParseV2Datatype(in.Datatype)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		shape, err := checkedShape(in.Shape)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		if elements += tensor.NumElements(shape); elements > maxElements {
			return nil, &httpError{413, fmt.Sprintf("request has more than %d elements (input %q: shape %v), the most this server accepts", maxElements, in.Name, in.Shape)}
		}
		var t *tensor.Tensor
		if len(raw) > 0 {
			if contentCount(in.Contents) > 0 {
				return nil, badRequest("input %q: both typed contents and raw_input_contents given; the protocol allows one", in.Name)
			}
			t, err = tensorFromRaw(dt, shape, raw[i])
		} else {
			t, err = tensorFromContents(dt, shape, in.Contents)
		}
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		inputs[i] = inferInput{in.Name, t}
	}
	return inputs, nil
}

func contentCount(c *v2pb.InferTensorContents) int {
	return len(c.GetBoolContents()) + len(c.GetIntContents()) + len(c.GetInt64Contents()) + len(c.GetUintContents()) +
		len(c.GetUint64Contents()) + len(c.GetFp32Contents()) + len(c.GetFp64Contents()) + len(c.GetBytesContents())
}

// tensorFromContents decodes the typed InferTensorContents fields.
func tensorFromContents(dt tensor.DType, shape []int, c *v2pb.InferTensorContents) (*tensor.Tensor, error) {
	if c == nil {
		return nil, errors.New("no contents")
	}
	n := tensor.NumElements(shape)
	count := func(field string, have int) error {
		if have != n {
			return fmt.Errorf("%s has %d elements, shape %v needs %d", field, have, shape, n)
		}
		return nil
	}
	// Nothing is allocated for a shape the message cannot fill, so a hostile shape costs nothing.
	if present := contentCount(c); n > present {
		return nil, fmt.Errorf("contents have %d elements, shape %v needs %d", contentCount(c), shape, n)
	}
	t := tensor.Zeros(dt, shape)
	switch d := t.Data.(type) {
	case []float32:
		if err := count("fp32_contents", len(c.Fp32Contents)); err != nil {
			return nil, err
		}
		copy(d, c.Fp32Contents)
	case []float64:
		if err := count("fp64_contents", len(c.Fp64Contents)); err != nil {
			return nil, err
		}
		copy(d, c.Fp64Contents)
	case []int64:
		if err := count("int64_contents", len(c.Int64Contents)); err != nil {
			return nil, err
		}
		copy(d, c.Int64Contents)
	case []int32:
		if err := count("int_contents", len(c.IntContents)); err != nil {
			return nil, err
		}
		copy(d, c.IntContents)
	case []bool:
		if err := count("bool_contents", len(c.BoolContents)); err != nil {
			return nil, err
		}
		copy(d, c.BoolContents)
	case []uint64:
		if err := count("uint64_contents", len(c.Uint64Contents)); err != nil {
			return nil, err
		}
		copy(d, c.Uint64Contents)
	case []string:
		if err := count("bytes_contents", len(c.BytesContents)); err != nil {
			return nil, err
		}
		for i, b := range c.BytesContents {
			d[i] = string(b)
		}
	default:
		// INT8/16, UINT8/16/32 and FP16 travel in the widened fields.
		var raw []byte
		switch dt {
		case tensor.Int8, tensor.Int16:
			if err := count("int_contents", len(c.IntContents)); err != nil {
				return nil, err
			}
			for _, v := range c.IntContents {
				raw = appendLE(raw, uint64(v), dt.Size())
			}
		case tensor.Uint8, tensor.Uint16, tensor.Uint32:
			if err := count("uint_contents", len(c.UintContents)); err != nil {
				return nil, err
			}
			for _, v := range c.UintContents {
				raw = appendLE(raw, uint64(v), dt.Size())
			}
		case tensor.Float16:
			if err := count("fp32_contents", len(c.Fp32Contents)); err != nil {
				return nil, err
			}
			for _, v := range c.Fp32Contents {
				raw = appendLE(raw, uint64(tensor.Float16FromFloat32(v)), 2)
			}
		default:
			return nil, fmt.Errorf("datatype %s needs raw_input_contents", V2Datatype(dt))
		}
		return tensorFromRaw(dt, shape, raw)
	}
	return t, nil
}

func appendLE(b []byte, v uint64, size int) []byte {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	return append(b, buf[:size]...)
}
