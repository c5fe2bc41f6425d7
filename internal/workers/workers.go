// Package workers runs the chunks of the runtime's parallel loops on long-lived goroutines.
//
// A kernel splits its work into a few contiguous chunks (one per thread it may use). Starting a
// goroutine per chunk cost an allocation or two and a scheduler round trip each time, hundreds
// of times per model run; here the calling goroutine takes chunks itself and hands the job to
// pool workers that are idle at that moment. A job only ever reaches a worker already idle: it
// never sits queued behind busy workers, and a caller waits only for helpers that are running its
// chunks. Nested loops (a chunk that itself runs a parallel loop) and concurrent callers therefore
// cannot deadlock; when no worker is free the caller simply runs the remaining chunks alone.
//
// Hand-off is spin-then-park, as onnxruntime's pool does it: a worker that has finished a job
// polls for the next one for spinFor before it blocks, and a caller whose helpers are still busy
// polls for them as long before it blocks. A model run is a sequence of a few hundred parallel
// loops separated by microseconds of serial work; waking a parked goroutine costs a futex wake
// and, when the other CPU has gone idle, its wake-up from halt — tens of microseconds on a
// virtual machine, as much as a small loop's whole work — where a polling worker starts within
// a fraction of a microsecond. At most GOMAXPROCS−1 workers poll at once, so polling never
// takes a CPU from the goroutines that have work; pollers yield the processor regularly, so a
// goroutine made runnable behind one is not held up.
package workers

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle worker polls for its next job, and a caller for its helpers,
// before blocking: longer than the serial gaps between a model's parallel loops (small ops,
// bookkeeping: a few microseconds), short enough that a process with nothing to do goes quiet
// at once.
const spinFor = 100 * time.Microsecond

// pollsPerYield is how many polls a spinning goroutine makes between yields of its processor
// (a poll is one atomic load, a yield a few hundred nanoseconds when nothing else is runnable).
const pollsPerYield = 64

// Task is a parallel loop's body as a value: RunTask with a pointer the caller already holds
// (a pooled work description) costs no allocation, where a function literal that captures the
// work escapes to the heap.
type Task interface {
	Chunk(lo, hi int)
}

// TaskFunc is a function as a Task, for loops of coarse chunks (a calibration's per-channel
// fits), where the closure's allocation does not count.
type TaskFunc func(lo, hi int)

// Chunk calls f.
func (f TaskFunc) Chunk(lo, hi int) { f(lo, hi) }

// job is one parallel loop: chunks of [0, n) claimed in order by the caller and its helpers.
type job struct {
	fn        func(lo, hi int)
	task      Task // instead of fn (RunTask)
	n, chunks int
	next      atomic.Int64 // the next chunk to claim
	// holders counts the caller and the helpers that have joined and not yet left; a caller
	// that has stopped polling for the helpers to leave adds parkedCaller, and the helper that
	// then leaves last signals done (await).
	holders atomic.Int32
	done    chan struct{}
	mu      sync.Mutex
	failure any // the first panic of a chunk
	// With the workerstats build tag (stats_on.go): thread CPU time its participants spent in
	// chunks, in all and the largest one's, and how its helpers were reached.
	cpuSum, cpuMax atomic.Int64
	workedOn       atomic.Int32 // participants that ran at least one chunk
	migrated       atomic.Bool  // a participant changed threads: its CPU time is unknown
	polled, woken  int
	offered        []*worker  // the workers the job was handed to (see retract)
	offeredBuf     [7]*worker // offered's storage up to 8 threads: no allocation per new job
}

// callersChunks is how many leading chunks of a loop are the caller's, claimed for it before
// any helper sees the job: consecutive loops that cut their data alike (a depthwise
// convolution's channel blocks, then its pooling's and scaling's channels) then run their first
// parts on the same core and find them in its cache, where a helper that got the job first
// would take chunk 0 and leave the caller the part the other core wrote.
const callersChunks = 1

// parkedCaller is the bit of job.holders that says the caller is blocked on done.
const parkedCaller = 1 << 30

// A worker's state: idle (polling or parked), or claimed by a caller for one job.
const (
	idle    int32 = iota // polling its mailbox, or about to park
	parked               // blocked on wake
	claimed              // a caller has put (or is putting) a job in its mailbox
)

// worker is one pool goroutine's mailbox.
type worker struct {
	state atomic.Int32
	job   atomic.Pointer[job] // the job to join; nil while none
	wake  chan struct{}       // a parked worker's wake-up (capacity 1)
}

var (
	jobs = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}
	// pool is the workers started so far, in the order callers offer jobs to them (the first
	// ones, kept busiest, stay polling); grown copy-on-write under growMu.
	pool     atomic.Pointer[[]*worker]
	growMu   sync.Mutex
	spinners atomic.Int32 // workers polling now
)

// Run splits [0, n) into chunks contiguous ranges, chunk i being [n·i/chunks, n·(i+1)/chunks),
// calls fn on each, from the calling goroutine and from idle workers, and returns when every
// chunk has finished. A panic in a chunk is re-raised in the caller once all have finished.
func Run(n, chunks int, fn func(lo, hi int)) {
	if chunks <= 1 {
		fn(0, n)
		return
	}
	j := jobs.Get().(*job)
	j.fn = fn
	j.start(n, chunks, chunks-1)
}

// RunTask is Run with the body given as a Task.
func RunTask(n, chunks int, t Task) {
	RunTaskOn(n, chunks, chunks, t)
}

// RunTaskOn is RunTask on at most threads goroutines (the caller and threads−1 helpers), which
// claim the chunks one at a time as each finishes its last. More chunks than threads cost a
// little per chunk and balance the loop: a helper that starts late (parked and woken, or, on
// a loaded machine, its thread off the CPU for a while) still takes a share of what is left,
// where with one chunk per thread the caller would run the helper's whole chunk after its own,
// or wait for it.
func RunTaskOn(n, chunks, threads int, t Task) {
	if chunks <= 1 || threads <= 1 {
		t.Chunk(0, n)
		return
	}
	j := jobs.Get().(*job)
	j.task = t
	j.start(n, chunks, min(threads, chunks)-1)
}

// start runs the loop set up in j with up to helpers workers and returns j to the pool.
func (j *job) start(n, chunks, helpers int) {
	j.n, j.chunks, j.failure = n, chunks, nil
	j.next.Store(callersChunks)
	j.holders.Store(1)
	j.cpuSum.Store(0)
	j.cpuMax.Store(0)
	j.workedOn.Store(0)
	j.migrated.Store(false)
	j.offered = j.offeredBuf[:0]
	if pathEnabled {
		j.runTimed(helpers + 1)
	} else {
		// Twice the helpers one loop can use: workers that have just finished another job may
		// not be idle again yet.
		woke := j.offer(grow(2*helpers), helpers)
		if woke {
			// A woken worker was made runnable on this thread's run queue, whose next slot
			// other threads steal from only after a pause: yield once so that it starts here at
			// once and the caller is taken up by an idle thread.
			goruntime.Gosched()
		}
		j.work(true)
		j.retract()
	}
	if j.holders.Add(-1) != 0 {
		j.await()
	}
	if statsEnabled {
		recordLoop(j)
	}
	failure := j.failure
	j.fn, j.task, j.failure = nil, nil, nil
	clear(j.offered)
	j.offered = nil
	jobs.Put(j)
	if failure != nil {
		panic(failure)
	}
}

// retract takes j back from the helpers that have not picked it up yet, once the caller has run
// every chunk: there is nothing left for them, and waiting until a helper whose thread is off
// the CPU (a loaded machine) gets to run only to find that out would stall the caller.
func (j *job) retract() {
	for _, w := range j.offered {
		if w.job.CompareAndSwap(j, nil) {
			w.state.Store(idle) // claimed by this caller until here: no other caller can race
			j.holders.Add(-1)   // cannot reach zero: the caller still holds the job
		}
	}
}

// offer hands j to up to helpers idle workers of ws, polling ones first (they start at once;
// a parked one must be woken), and reports whether one had to be woken.
func (j *job) offer(ws []*worker, helpers int) (woke bool) {
	j.polled, j.woken = 0, 0
	for _, w := range ws {
		if helpers == 0 {
			return false
		}
		if w.state.Load() == idle && w.state.CompareAndSwap(idle, claimed) {
			j.holders.Add(1) // before the worker can see the job and leave it
			j.offered = append(j.offered, w)
			w.job.Store(j)
			j.polled++
			helpers--
		}
	}
	for _, w := range ws {
		if helpers == 0 {
			break
		}
		if w.state.Load() == parked && w.state.CompareAndSwap(parked, claimed) {
			j.holders.Add(1)
			j.offered = append(j.offered, w)
			w.job.Store(j)
			w.wake <- struct{}{}
			woke = true
			j.woken++
			helpers--
		}
	}
	return woke
}

// await waits, polling first, until every helper has left the job. A caller that stops polling
// marks holders with parkedCaller before it blocks on done, so that only then does the helper
// that leaves last send on done: a caller that saw the helpers leave while polling (the common
// case, a few microseconds per loop) returns without a channel operation, whose lock is one
// more cache line to pass between the cores per loop.
func (j *job) await() {
	deadline := time.Now().Add(spinFor)
	for i := 1; ; i++ {
		h := j.holders.Load()
		if h == 0 {
			return
		}
		if i%pollsPerYield == 0 {
			if time.Now().After(deadline) {
				if j.holders.CompareAndSwap(h, h|parkedCaller) {
					<-j.done
					return
				}
				continue
			}
			goruntime.Gosched()
		}
	}
}

// grow starts workers until there are at least want, and returns them all.
func grow(want int) []*worker {
	if ws := pool.Load(); ws != nil && len(*ws) >= want {
		return *ws
	}
	growMu.Lock()
	defer growMu.Unlock()
	var ws []*worker
	if old := pool.Load(); old != nil {
		ws = *old
	}
	if len(ws) < want {
		ws = append(ws[:len(ws):len(ws)], make([]*worker, want-len(ws))...)
		for i := range ws {
			if ws[i] == nil {
				w := &worker{wake: make(chan struct{}, 1)} // idle: a job offered before its loop runs waits in the mailbox
				ws[i] = w
				go w.loop()
			}
		}
		pool.Store(&ws)
	}
	return ws
}

// loop runs the jobs handed to w, forever.
func (w *worker) loop() {
	for {
		j := w.next()
		j.work(false)
		// Idle again before leaving the job: the caller, released by the last helper, starts its
		// next loop at once and must find this worker free.
		w.state.Store(idle)
		if j.holders.Add(-1) == parkedCaller {
			j.done <- struct{}{}
		}
	}
}

// next returns w's next job, taken from its mailbox: polled for, when fewer than GOMAXPROCS−1
// workers are polling, for up to spinFor; then parked for. A job retracted before w took it
// (retract) sends it back to waiting.
func (w *worker) next() *job {
	for {
		if int(spinners.Add(1)) < goruntime.GOMAXPROCS(0) {
			deadline := time.Now().Add(spinFor)
			for i := 1; ; i++ {
				if j := w.take(); j != nil {
					spinners.Add(-1)
					return j
				}
				if i%pollsPerYield == 0 {
					if time.Now().After(deadline) {
						break
					}
					goruntime.Gosched()
				}
			}
		}
		spinners.Add(-1)
		if w.state.CompareAndSwap(idle, parked) {
			<-w.wake
		}
		// Claimed, with the job stored right after the claim, or claimed and retracted (idle).
		for w.state.Load() == claimed {
			if j := w.take(); j != nil {
				return j
			}
			goruntime.Gosched()
		}
	}
}

// take empties w's mailbox and returns the job it held, nil if none: after take the caller can
// no longer retract it.
func (w *worker) take() *job {
	if j := w.job.Load(); j != nil && w.job.CompareAndSwap(j, nil) {
		return j
	}
	return nil
}

// work claims and runs chunks until none are left, after the caller's own leading chunks
// (callersChunks, which start claimed for it).
func (j *job) work(caller bool) {
	var t0 int64
	var tid int
	if statsEnabled {
		t0, tid = threadCPU()
	}
	ran := 0
	if caller {
		for i := range min(callersChunks, j.chunks) {
			j.runChunk(i)
			ran++
		}
	}
	for ; ; ran++ {
		i := int(j.next.Add(1) - 1)
		if i >= j.chunks {
			break
		}
		j.runChunk(i)
	}
	if statsEnabled && ran > 0 {
		j.addShare(t0, tid)
	}
}

// runChunk runs chunk i of the job: the chunks cut [0, n) evenly, so a chunk's bounds depend
// only on n, the chunk count and i, never on which thread runs it.
func (j *job) runChunk(i int) {
	j.run(j.n*i/j.chunks, j.n*(i+1)/j.chunks)
}

// run calls fn on one chunk, keeping its panic (the first of the job) for the caller.
func (j *job) run(lo, hi int) {
	defer func() {
		if r := recover(); r != nil {
			j.mu.Lock()
			if j.failure == nil {
				j.failure = r
			}
			j.mu.Unlock()
		}
	}()
	if j.task != nil {
		j.task.Chunk(lo, hi)
		return
	}
	j.fn(lo, hi)
}
