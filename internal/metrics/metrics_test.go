package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftercare/aftercare/internal/metrics"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
)

// gather returns each series' value by metric name (one series each here).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			out[f.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// With NATS gone the lag must stay on /metrics (its last figure) and the
// connection gauge must say NATS is down: an alert on lag must not resolve
// because the series vanished.
func TestLagAndConnectionStayWhenNATSIsGone(t *testing.T) {
	ns := natsjstest.StartServer(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "s.x", nil); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "c"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics.Consumers(reg, cons)
	down := time.Duration(0)
	metrics.Connection(reg, nc.IsConnected, func() time.Duration { return down })

	up := gather(t, reg)
	if up["aftercare_consumer_pending_messages"] != 3 || up["aftercare_nats_connected"] != 1 || up["aftercare_consumer_info_age_seconds"] != 0 {
		t.Fatalf("with NATS up: %v", up)
	}
	nc.Close() // NATS unreachable, as the program sees it
	down = 90 * time.Second
	gone := gather(t, reg)
	pending, ok := gone["aftercare_consumer_pending_messages"]
	if !ok || pending != 3 {
		t.Errorf("pending after NATS went: %v, present %v; want the last figure, 3", pending, ok)
	}
	if _, ok := gone["aftercare_consumer_info_age_seconds"]; !ok {
		t.Error("no aftercare_consumer_info_age_seconds while NATS is gone")
	}
	if gone["aftercare_nats_connected"] != 0 || gone["aftercare_nats_down_seconds"] != 90 {
		t.Errorf("connection gauges with NATS gone: connected %v, down %v s", gone["aftercare_nats_connected"], gone["aftercare_nats_down_seconds"])
	}
}

func TestBuildInfoNamesTheVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	old := metrics.Version
	metrics.Version = "v1.2.3"
	t.Cleanup(func() { metrics.Version = old })
	metrics.BuildInfo(reg, "worker")
	families, err := reg.Gather()
	if err != nil || len(families) != 1 {
		t.Fatalf("%v %v", families, err)
	}
	labels := map[string]string{}
	for _, l := range families[0].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if families[0].GetName() != "aftercare_build_info" || labels["version"] != "v1.2.3" || labels["program"] != "worker" {
		t.Errorf("build info: %s %v", families[0].GetName(), labels)
	}
}
