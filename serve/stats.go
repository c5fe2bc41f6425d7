package serve

import (
	"slices"
	"sync"
	"time"

	"github.com/actswap/actswap/serve/v2pb"
)

// modelStats accumulates one model version's inference statistics in the shape of Triton's
// ModelStatistics (grpc_service.proto): requests that succeeded and failed with their end-to-end
// time, per-request queue wait and compute time, rows inferred, model executions, and executions
// per batch size. Memory is bounded: one entry per distinct batch size, at most
// maxBatchSizeStats of them (further sizes count in the totals only).
type modelStats struct {
	mu             sync.Mutex
	lastInference  time.Time
	inferenceCount uint64 // rows
	executionCount uint64
	success, fail  statDuration
	queue, compute statDuration
	batches        map[int]*statDuration // executions by batch rows
}

// maxBatchSizeStats bounds the per-batch-size entries: a model without a row limit could
// otherwise grow one per distinct request size.
const maxBatchSizeStats = 256

type statDuration struct {
	count uint64
	ns    uint64
}

func (d *statDuration) add(t time.Duration) {
	d.count++
	d.ns += uint64(max(t, 0))
}

func (d statDuration) proto() *v2pb.StatisticDuration {
	return &v2pb.StatisticDuration{Count: d.count, Ns: d.ns}
}

// request counts one finished request: its outcome, end-to-end time and, when it succeeded, the
// rows it inferred.
func (s *modelStats) request(start time.Time, rows int, err error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastInference = now
	if err != nil {
		s.fail.add(now.Sub(start))
		return
	}
	s.success.add(now.Sub(start))
	s.inferenceCount += uint64(rows)
}

// execution counts one run of the model over a batch: each request's queue wait (from enqueueing
// to the run's start) and the run's compute time, for every request it served.
func (s *modelStats) execution(rows int, queued []time.Time, started time.Time, compute time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.executionCount++
	for _, q := range queued {
		s.queue.add(started.Sub(q))
		s.compute.add(compute)
	}
	if s.batches == nil {
		s.batches = map[int]*statDuration{}
	}
	b := s.batches[rows]
	if b == nil {
		if len(s.batches) >= maxBatchSizeStats {
			return
		}
		b = &statDuration{}
		s.batches[rows] = b
	}
	b.add(compute)
}

// proto is the statistics as Triton's ModelStatistics message.
func (s *modelStats) proto(name, version string) *v2pb.ModelStatistics {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &v2pb.ModelStatistics{
		Name: name, Version: version,
		InferenceCount: s.inferenceCount, ExecutionCount: s.executionCount,
		InferenceStats: &v2pb.InferStatistics{
			Success: s.success.proto(), Fail: s.fail.proto(), Queue: s.queue.proto(),
			ComputeInput: &v2pb.StatisticDuration{}, ComputeInfer: s.compute.proto(), ComputeOutput: &v2pb.StatisticDuration{},
			CacheHit: &v2pb.StatisticDuration{}, CacheMiss: &v2pb.StatisticDuration{},
		},
	}
	if !s.lastInference.IsZero() {
		out.LastInference = uint64(s.lastInference.UnixMilli())
	}
	sizes := make([]int, 0, len(s.batches))
	for n := range s.batches {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	for _, n := range sizes {
		out.BatchStats = append(out.BatchStats, &v2pb.InferBatchStatistics{
			BatchSize: uint64(n), ComputeInfer: s.batches[n].proto(),
			ComputeInput: &v2pb.StatisticDuration{}, ComputeOutput: &v2pb.StatisticDuration{},
		})
	}
	return out
}

// requestRows is what a request adds to inference_count: its batch rows when the model batches
// (max_batch_size > 0), else 1, as Triton counts.
func (m *Model) requestRows(inputs []inferInput) int {
	if m.config.GetMaxBatchSize() > 0 && len(inputs) > 0 && inputs[0].tensor.Rank() > 0 {
		return inputs[0].tensor.Shape[0]
	}
	return 1
}
