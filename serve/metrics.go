package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// durationBuckets reach from 100 µs to about 7 minutes, so a request that waits or runs for
// minutes still lands in a bucket of its own.
var durationBuckets = prometheus.ExponentialBuckets(0.0001, 2, 23)

// Outcome labels of actswap_requests_total beside the HTTP status codes: requests that ended
// without an answer the client could read. They are counted apart from errors (5xx).
const (
	outcomeCanceled = "canceled" // the client went away before the answer
	outcomeDropped  = "dropped"  // the answer was computed but could not be written
)

// metrics are registered on a registry of the server's own, so several servers (tests) can live
// in one process. Durations are labelled by model and version, as Triton's
// nv_inference_queue_duration_us and nv_inference_compute_infer_duration_us are.
type metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	cancellations *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	queue         *prometheus.HistogramVec
	compute       *prometheus.HistogramVec
	batchSize     *prometheus.HistogramVec
	inflight      prometheus.Gauge
	reserved      prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actswap_requests_total",
			Help: "Inference requests by model, version, protocol and outcome: the HTTP status answered (gRPC maps its codes to the same), \"canceled\" when the client left first, \"dropped\" when the answer could not be written.",
		}, []string{"model", "version", "protocol", "status"}),
		cancellations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actswap_request_cancellations_total",
			Help: "Requests whose work was cut short, by reason: client_gone, deadline (answered 504 / DEADLINE_EXCEEDED) or write_failed.",
		}, []string{"model", "version", "protocol", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_request_duration_seconds",
			Help:    "Inference request latency, from the first byte of the request to the last of the answer.",
			Buckets: durationBuckets,
		}, []string{"model", "version", "protocol"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_queue_duration_seconds",
			Help:    "Time a request waited in its model's queue before its batch started.",
			Buckets: durationBuckets,
		}, []string{"model", "version"}),
		compute: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_compute_duration_seconds",
			Help:    "Time the runtime spent on the batch that answered a request.",
			Buckets: durationBuckets,
		}, []string{"model", "version"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_batch_size",
			Help:    "Rows per executed batch (1 without dynamic batching).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}, []string{"model", "version"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actswap_inflight_requests",
			Help: "Inference requests being decoded, queued or executed.",
		}),
		reserved: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actswap_memory_reserved_bytes",
			Help: "Bytes of the memory budget reserved by requests in flight.",
		}),
	}
	m.registry.MustRegister(m.requests, m.cancellations, m.latency, m.queue, m.compute, m.batchSize, m.inflight, m.reserved,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
