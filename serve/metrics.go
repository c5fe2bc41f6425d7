package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are registered on a registry of the server's own, so several servers (tests) can live
// in one process.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	batchSize *prometheus.HistogramVec
	inflight  prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "actswap_requests_total",
			Help: "Inference requests by model, protocol and outcome (HTTP status code).",
		}, []string{"model", "protocol", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_request_duration_seconds",
			Help:    "Inference request latency, from decoded request to encoded response.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"model", "protocol"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "actswap_batch_size",
			Help:    "Rows per executed batch (1 without dynamic batching).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}, []string{"model"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "actswap_inflight_requests",
			Help: "Inference requests being decoded, queued or executed.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.batchSize, m.inflight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
