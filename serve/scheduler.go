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
	runHook  func(context.Context)
	wg       sync.WaitGroup

	// closeMu orders submit against close: a model unloaded (or shut down) while requests arrive
	// answers 503 instead of sending on a closed queue.
	closeMu sync.RWMutex
	closed  bool
}

type pending struct {
	ctx      context.Context // the request's: its deadline covers queue wait and compute
	feed     map[string]*tensor.Tensor
	outputs  []string
	rows     int
	key      string // requests with equal keys can share a batch
	queuedAt time.Time
	done     chan result
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
		runHook:  opts.runHook,
	}
	if m.batchable {
		// A batch is one run: it never has more rows than the memory budget holds.
		s.maxBatch = opts.MaxBatch
		if fit := m.memory.maxRows(opts.MemoryBudget); fit >= 0 {
			s.maxBatch = max(min(s.maxBatch, fit), 1)
		}
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
	p := &pending{ctx: ctx, feed: feed, outputs: outputs, queuedAt: time.Now(), done: make(chan result, 1)}
	p.rows, p.key = batchKey(feed, outputs, s.maxBatch > 1)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, &httpError{503, fmt.Sprintf("model %q version %s is being unloaded; retry later", s.model.Name, s.model.Version)}
	}
	select {
	case s.queue <- p:
		s.closeMu.RUnlock()
	default:
		s.closeMu.RUnlock()
		return nil, &httpError{503, fmt.Sprintf("model %q: request queue is full (%d waiting); retry later", s.model.Name, cap(s.queue))}
	}
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
	// Requests whose clients went away or whose deadline passed in the queue are dropped before
	// spending compute on them; their submitters have already answered.
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
	labels := []string{s.model.Name, s.model.Version}
	start := time.Now()
	for _, p := range batch {
		s.metrics.queue.WithLabelValues(labels...).Observe(start.Sub(p.queuedAt).Seconds())
	}
	s.metrics.batchSize.WithLabelValues(labels...).Observe(float64(batchRows(batch)))
	// The batch runs until every request in it is gone: one client leaving must not cancel
	// the others' work.
	ctx, cancel := batchContext(batch)
	defer cancel()
	if s.runHook != nil {
		s.runHook(ctx)
	}
	observeCompute := func() {
		d := time.Since(start)
		queued := make([]time.Time, len(batch))
		for i, p := range batch {
			queued[i] = p.queuedAt
			s.metrics.compute.WithLabelValues(labels...).Observe(d.Seconds())
		}
		s.model.stats.execution(batchRows(batch), queued, start, d)
	}
	if len(batch) == 1 {
		out, err := s.model.session.RunContext(ctx, batch[0].feed, batch[0].outputs...)
		observeCompute()
		batch[0].done <- result{out, wrapRunError(ctx, err)}
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
	out, err := s.model.session.RunContext(ctx, feed, batch[0].outputs...)
	observeCompute()
	if err != nil {
		for _, p := range batch {
			p.done <- result{nil, wrapRunError(ctx, err)}
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

// batchContext is done when every request of the batch is done.
func batchContext(batch []*pending) (context.Context, context.CancelFunc) {
	if len(batch) == 1 {
		return context.WithCancel(batch[0].ctx)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	left := len(batch)
	stops := make([]func() bool, len(batch))
	for i, p := range batch {
		stops[i] = context.AfterFunc(p.ctx, func() {
			mu.Lock()
			left--
			if left == 0 {
				cancel()
			}
			mu.Unlock()
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
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
// so what fails here is the model or the runtime, not the request. A run stopped because its
// requests ended keeps the context's error, so it is counted as a cancellation or deadline.
func wrapRunError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
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
