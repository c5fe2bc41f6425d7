package serve

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// admission decides whether the server can afford a request, against a server-wide memory
// budget and a bound on concurrent decodes. A request reserves, before its body is read, what
// the body can decode to; once decoded, its reservation grows to the working set its run needs,
// as estimated from the model's shapes at load (runMemory), before anything runs. A request the
// budget can never hold is answered 413, one that does not fit now 429, so a burst of large
// requests is refused instead of taking the process down.
type admission struct {
	decodes chan struct{} // one token per decode in progress

	mu       sync.Mutex
	budget   int64 // bytes
	reserved int64
	gauge    prometheus.Gauge // mirrors reserved
}

// reservationFloor is the least a request reserves, so many small requests still count.
const reservationFloor = 64 << 10

// bytesPerBodyByte bounds what one body byte can decode to: a JSON element takes at least two
// bytes ("0,") and becomes at most eight (FP64/INT64), and a binary tensor's bytes are copied
// once; response encoding is counted against the same allowance.
const bytesPerBodyByte = 4

func newAdmission(budget int64, decodes int, gauge prometheus.Gauge) *admission {
	return &admission{decodes: make(chan struct{}, decodes), budget: budget, gauge: gauge}
}

// decodeReservation is the memory a request of bodyBytes is charged before it is read.
func decodeReservation(bodyBytes int64) int64 {
	return max(bytesPerBodyByte*bodyBytes, reservationFloor)
}

// reservation is one request's share of the budget; release returns it (once, whatever the
// number of calls).
type reservation struct {
	a     *admission
	bytes int64
	once  sync.Once
}

// reserve charges a request of bodyBytes against the budget.
func (a *admission) reserve(bodyBytes int64) (*reservation, error) {
	r := &reservation{a: a}
	need := decodeReservation(bodyBytes)
	if err := r.grow(need, func() string {
		return fmt.Sprintf("a %d-byte request may need %d bytes to decode", bodyBytes, need)
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// grow raises the reservation to need bytes (it never shrinks: the larger of the decode
// allowance and the run's working set is held, the decoded inputs being part of the latter).
// what describes the need for the 413 message.
func (r *reservation) grow(need int64, what func() string) error {
	a := r.a
	if need > a.budget {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"%s, more than the server's whole memory budget of %d", what(), a.budget)}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if need <= r.bytes {
		return nil
	}
	if a.reserved-r.bytes+need > a.budget {
		return &httpError{http.StatusTooManyRequests, fmt.Sprintf(
			"server memory budget in use (%d of %d bytes reserved by requests in flight, %d more needed); retry later", a.reserved, a.budget, need-r.bytes)}
	}
	a.reserved += need - r.bytes
	r.bytes = need
	a.gauge.Set(float64(a.reserved))
	return nil
}

func (r *reservation) release() {
	r.once.Do(func() {
		r.a.mu.Lock()
		r.a.reserved -= r.bytes
		r.bytes = 0
		r.a.gauge.Set(float64(r.a.reserved))
		r.a.mu.Unlock()
	})
}

// startDecode waits for a decode slot (or ctx's end) and returns its release.
func (a *admission) startDecode(ctx context.Context) (func(), error) {
	select {
	case a.decodes <- struct{}{}:
		return func() { <-a.decodes }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
