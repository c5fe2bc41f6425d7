package serve

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actswap/actswap/tensor"
)

// scheduler queues a model's requests (bounded: a full queue answers 503 at once rather than
// letting latency grow without limit), groups compatible ones into dynamic batches along the
// leading dimension, and runs batches on a fixed set of workers.
type scheduler struct {
	model    *Model
	queue    chan *pending
	work     chan []*pending
	maxBatch int
	maxDelay time.Duration
	metrics  *metrics
	wg       sync.WaitGroup
	closing  chan struct{}
	// closeMu orders submit against close: a model unloaded while requests arrive answers 503
	// instead of sending on a closed queue.
	closeMu sync.RWMutex
	closed  bool
}

type pending struct {
	ctx     context.Context
	feed    map[string]*tensor.Tensor
	outputs []string
	rows    int
	key     string // requests with equal keys can share a batch
	done    chan result
	queued  time.Time
}

type result struct {
	outputs map[string]*tensor.Tensor
	err     error
}

func newScheduler(m *Model, opts Options, met *metrics) *scheduler {
	s := &scheduler{
		model:    m,
		queue:    make(chan *pending, opts.MaxQueue),
		work:     make(chan []*pending),
		maxBatch: 1,
		maxDelay: opts.MaxDelay,
		metrics:  met,
		closing:  make(chan struct{}),
	}
	if m.batchable {
		s.maxBatch = opts.MaxBatch
	}
	s.wg.Add(1 + opts.Workers)
	go s.collect()
	for i := 0; i < opts.Workers; i++ {
		go s.runBatches()
	}
	return s
}

// submit queues one validated request and waits for its outputs.
func (s *scheduler) submit(ctx context.Context, feed map[string]*tensor.Tensor, outputs []string) (map[string]*tensor.Tensor, error) {
	p := &pending{ctx: ctx, feed: feed, outputs: outputs, done: make(chan result, 1), queued: time.Now()}
	p.rows, p.key = batchKey(feed, outputs, s.maxBatch > 1)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, &httpError{503, fmt.Sprintf("model %q version %s is being unloaded; retry later", s.model.Name, s.model.Version)}
	}
	select {
	case s.queue <- p:
	default:
		s.closeMu.RUnlock()
		return nil, &httpError{503, fmt.Sprintf("model %q: request queue is full (%d waiting); retry later", s.model.Name, cap(s.queue))}
	}
	s.closeMu.RUnlock()
	select {
	case r := <-p.done:
		return r.outputs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// batchKey returns the request's row count and a key that equals another request's exactly when
// the two can be stacked: same inputs with the same trailing dims and the same requested outputs.
func batchKey(feed map[string]*tensor.Tensor, outputs []string, batching bool) (int, string) {
	if !batching {
		return 0, ""
	}
	var b strings.Builder
	rows := -1
	for _, name := range slices.Sorted(maps.Keys(feed)) {
		t := feed[name]
		if t.Rank() == 0 {
			return 0, ""
		}
		if rows >= 0 && t.Shape[0] != rows {
			return 0, "" // inputs disagree on the batch size: run alone
		}
		rows = t.Shape[0]
		fmt.Fprintf(&b, "%s:%v%v;", name, t.DType, t.Shape[1:])
	}
	fmt.Fprintf(&b, "->%v", outputs)
	return rows, b.String()
}

// collect forms batches: it takes the oldest request, then adds compatible ones until the batch is
// full or maxDelay has passed since the first arrived. Incompatible requests start the next batch.
func (s *scheduler) collect() {
	defer s.wg.Done()
	defer close(s.work)
	var carry *pending
	for {
		first := carry
		carry = nil
		if first == nil {
			var ok bool
			if first, ok = <-s.queue; !ok {
				return
			}
		}
		batch := []*pending{first}
		rows := first.rows
		if first.key != "" && rows < s.maxBatch {
			timer := time.NewTimer(s.maxDelay)
		gather:
			for rows < s.maxBatch {
				select {
				case p, ok := <-s.queue:
					if !ok {
						break gather
					}
					if p.key != first.key || rows+p.rows > s.maxBatch {
						carry = p
						break gather
					}
					batch = append(batch, p)
					rows += p.rows
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		s.work <- batch
	}
}

func (s *scheduler) runBatches() {
	defer s.wg.Done()
	for batch := range s.work {
		s.runBatch(batch)
	}
}

func (s *scheduler) runBatch(batch []*pending) {
	// Requests whose clients went away are dropped before spending compute on them.
	live := batch[:0]
	for _, p := range batch {
		if p.ctx.Err() == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return
	}
	batch = live
	s.metrics.batchSize.WithLabelValues(s.model.Name).Observe(float64(batchRows(batch)))
	if len(batch) == 1 {
		started := time.Now()
		out, err := s.model.session.Run(batch[0].feed, batch[0].outputs...)
		s.model.stats.execution(batchRows(batch), []time.Time{batch[0].queued}, started, time.Since(started))
		batch[0].done <- result{out, wrapRunError(err)}
		return
	}
	feed := map[string]*tensor.Tensor{}
	for name := range batch[0].feed {
		parts := make([]*tensor.Tensor, len(batch))
		for i, p := range batch {
			parts[i] = p.feed[name]
		}
		feed[name] = tensor.ConcatRows(parts)
	}
	started := time.Now()
	out, err := s.model.session.Run(feed, batch[0].outputs...)
	queued := make([]time.Time, len(batch))
	for i, p := range batch {
		queued[i] = p.queued
	}
	s.model.stats.execution(batchRows(batch), queued, started, time.Since(started))
	if err != nil {
		for _, p := range batch {
			p.done <- result{nil, wrapRunError(err)}
		}
		return
	}
	offset := 0
	for _, p := range batch {
		res := map[string]*tensor.Tensor{}
		for name, t := range out {
			res[name] = tensor.SliceRows(t, offset, offset+p.rows)
		}
		offset += p.rows
		p.done <- result{res, nil}
	}
}

func batchRows(batch []*pending) int {
	if batch[0].key == "" {
		return 1
	}
	n := 0
	for _, p := range batch {
		n += p.rows
	}
	return n
}

// wrapRunError marks runtime failures as server errors; inputs were validated before queueing,
// so what fails here is the model or the runtime, not the request.
func wrapRunError(err error) error {
	if err == nil {
		return nil
	}
	return &httpError{500, "inference failed: " + err.Error()}
}

// close stops accepting requests and waits for queued ones to finish.
func (s *scheduler) close() {
	s.closeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.closeMu.Unlock()
	s.wg.Wait()
}
