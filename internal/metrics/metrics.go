// Package metrics exposes a program's figures to Prometheus: counts the
// components keep themselves (read at scrape time, so the components need
// not know Prometheus), histograms they feed, and JetStream consumer lag.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the service.
const Namespace = "aftercare"

// NewRegistry returns a registry with the Go runtime and process metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry in Prometheus' text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Sample is one value of a metric family, with its label values.
type Sample struct {
	Labels []string
	Value  float64
}

// family reads its samples from a function at each scrape.
type family struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func() []Sample
}

func (f *family) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *family) Collect(ch chan<- prometheus.Metric) {
	for _, s := range f.read() {
		ch <- prometheus.MustNewConstMetric(f.desc, f.kind, s.Value, s.Labels...)
	}
}

// Counters registers a counter family whose values read returns.
func Counters(reg prometheus.Registerer, name, help string, labels []string, read func() []Sample) {
	reg.MustRegister(&family{desc: prometheus.NewDesc(Namespace+"_"+name, help, labels, nil), kind: prometheus.CounterValue, read: read})
}

// Gauges registers a gauge family whose values read returns.
func Gauges(reg prometheus.Registerer, name, help string, labels []string, read func() []Sample) {
	reg.MustRegister(&family{desc: prometheus.NewDesc(Namespace+"_"+name, help, labels, nil), kind: prometheus.GaugeValue, read: read})
}

// One is a single sample with the given label values.
func One(v int64, labels ...string) Sample { return Sample{Labels: labels, Value: float64(v)} }

// Seconds buckets: from a fast send (50 ms) to an hour late.
var latenessBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

// Histogram registers a histogram of seconds and returns a function that
// observes a duration.
func Histogram(reg prometheus.Registerer, name, help string, buckets []float64) func(time.Duration) {
	if buckets == nil {
		buckets = latenessBuckets
	}
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	reg.MustRegister(h)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// HistogramVec registers a histogram of seconds with labels.
func HistogramVec(reg prometheus.Registerer, name, help string, buckets []float64, labels ...string) func(time.Duration, ...string) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	reg.MustRegister(h)
	return func(d time.Duration, values ...string) { h.WithLabelValues(values...).Observe(d.Seconds()) }
}

// consumers reports how far each durable consumer is behind. While NATS
// cannot answer, it repeats the last figures it read and says how old they
// are: a lag alert must not resolve because the lag series vanished.
type consumers struct {
	list                              []jetstream.Consumer
	pending, ackPending, redeliv, age *prometheus.Desc
	now                               func() time.Time

	mu   sync.Mutex
	last []*jetstream.ConsumerInfo // by index in list; nil until read once
	at   []time.Time
}

// Consumers registers the lag of JetStream consumers: messages not yet
// delivered, delivered but not acknowledged, and redelivered.
func Consumers(reg prometheus.Registerer, list ...jetstream.Consumer) {
	labels := []string{"stream", "consumer"}
	reg.MustRegister(&consumers{
		list:       list,
		pending:    prometheus.NewDesc(Namespace+"_consumer_pending_messages", "Messages not yet delivered to the consumer (its lag).", labels, nil),
		ackPending: prometheus.NewDesc(Namespace+"_consumer_ack_pending_messages", "Messages delivered and not yet acknowledged.", labels, nil),
		redeliv:    prometheus.NewDesc(Namespace+"_consumer_redelivered_messages", "Messages redelivered at least once and still outstanding.", labels, nil),
		age: prometheus.NewDesc(Namespace+"_consumer_info_age_seconds",
			"How old the consumer's figures are: 0 when read at this scrape, growing while NATS cannot answer (the last figures read are repeated).", labels, nil),
		now:  time.Now,
		last: make([]*jetstream.ConsumerInfo, len(list)),
		at:   make([]time.Time, len(list)),
	})
}

func (c *consumers) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.redeliv
	ch <- c.age
}

func (c *consumers) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for i, cons := range c.list {
		if info, err := cons.Info(ctx); err == nil {
			c.last[i], c.at[i] = info, now
		}
		info := c.last[i]
		if info == nil {
			continue // never read: no figure is better than a made-up one
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), info.Stream, info.Name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), info.Stream, info.Name)
		ch <- prometheus.MustNewConstMetric(c.redeliv, prometheus.GaugeValue, float64(info.NumRedelivered), info.Stream, info.Name)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, now.Sub(c.at[i]).Seconds(), info.Stream, info.Name)
	}
}

// Version is the release the program was built from, set by the release
// build (-ldflags "-X github.com/aftercare/aftercare/internal/metrics.Version=v1.2.3");
// the image is tagged with the same (.github/workflows/release.yml).
var Version = ""

// BuildInfo registers aftercare_build_info{program, version, go_version} 1.
func BuildInfo(reg prometheus.Registerer, program string) {
	version := Version
	if version == "" {
		version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help:        "The program's release: the image tag it ships under.",
		ConstLabels: prometheus.Labels{"program": program, "version": version, "go_version": runtime.Version()}},
		func() float64 { return 1 }))
}

// Connection registers whether NATS is reachable from this program:
// aftercare_nats_connected (1 or 0) and aftercare_nats_down_seconds. They
// are on every scrape, NATS up or not, so an alert can fire on them.
func Connection(reg prometheus.Registerer, connected func() bool, downFor func() time.Duration) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "nats_connected",
		Help: "1 while the connection to NATS is up, 0 while it is down."}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "nats_down_seconds",
		Help: "How long the connection to NATS has been down (0 while up)."}, func() float64 { return downFor().Seconds() }))
}
