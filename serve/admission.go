package serve

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// admission decides, before a request body is read, whether the server can afford it: a
// server-wide memory budget (each request reserves what its body can decode to) and a bound on
// concurrent decodes. A request the budget can never hold is answered 413, one that does not fit
// now 429, so a burst of large requests is refused instead of taking the process down.
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

// reservation is the memory a request of bodyBytes is charged.
func reservation(bodyBytes int64) int64 {
	return max(bytesPerBodyByte*bodyBytes, reservationFloor)
}

// reserve charges a request of bodyBytes against the budget; release returns it.
func (a *admission) reserve(bodyBytes int64) (release func(), err error) {
	need := reservation(bodyBytes)
	if need > a.budget {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"a %d-byte request may need %d bytes to decode, more than the server's whole memory budget of %d", bodyBytes, need, a.budget)}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reserved+need > a.budget {
		return nil, &httpError{http.StatusTooManyRequests, fmt.Sprintf(
			"server memory budget in use (%d of %d bytes reserved by requests in flight); retry later", a.reserved, a.budget)}
	}
	a.reserved += need
	a.gauge.Set(float64(a.reserved))
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.reserved -= need
			a.gauge.Set(float64(a.reserved))
			a.mu.Unlock()
		})
	}, nil
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
