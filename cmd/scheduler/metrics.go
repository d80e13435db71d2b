package main

import (
	"context"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/intake"
	"github.com/aftercare/aftercare/internal/metrics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/planner"
	"github.com/aftercare/aftercare/internal/quota"
)

// schedulerMetrics registers what the scheduler counts: session events by
// outcome, follow-ups planned, the planner's lag, and escalations the
// clinics have not acknowledged yet.
func schedulerMetrics(reg *prometheus.Registry, results *intake.Results, plans *planner.Stats, consumer jetstream.Consumer,
	store *natsjs.Store, directory *clinics.Directory) {
	metrics.Counters(reg, "session_events_total", "Session events by outcome: accepted, duplicate, or why they were rejected.",
		[]string{"outcome"}, func() []metrics.Sample {
			var out []metrics.Sample
			for outcome, n := range results.Snapshot() {
				out = append(out, metrics.One(n, outcome))
			}
			return out
		})
	metrics.Counters(reg, "followups_planned_total", "Follow-ups the planner scheduled, skipped (stale), held back by a frequency cap, or cancelled.",
		[]string{"event"}, func() []metrics.Sample {
			return []metrics.Sample{
				metrics.One(plans.Planned.Load(), "scheduled"),
				metrics.One(plans.Skipped.Load(), "skipped"),
				metrics.One(plans.Capped.Load(), "capped"),
				metrics.One(plans.Cancelled.Load(), "cancelled"),
			}
		})
	metrics.Counters(reg, "planner_duplicate_events_total", "Session events the planner had applied before.",
		nil, func() []metrics.Sample { return []metrics.Sample{metrics.One(plans.Duplicates.Load())} })
	metrics.Consumers(reg, consumer)
	// Read at scrape time from the escalation records: the alert on
	// unacknowledged escalations must hold across restarts and replicas.
	metrics.Gauges(reg, "escalations_unacknowledged", "Open escalations no one at the clinic has acknowledged.",
		[]string{"clinic"}, func() []metrics.Sample { return unacknowledged(store, directory, false) })
	metrics.Gauges(reg, "escalation_oldest_unacknowledged_seconds", "Age of the oldest escalation not yet acknowledged (0: none).",
		[]string{"clinic"}, func() []metrics.Sample { return unacknowledged(store, directory, true) })
}

// quotaMetrics counts the session events refused for a quota: a clinic
// texting far more than its clients could need, by mistake (a booking
// system resending in a loop) or on purpose, or a quota set too low.
// Every clinic's counters are there from the start, at 0, so the family is
// on /metrics (and an increase() over it defined) before the first refusal.
func quotaMetrics(reg *prometheus.Registry, quotas *quota.Keeper, clinicIDs []string) {
	metrics.Counters(reg, "quota_refusals_total", "Session events refused because their texts would pass a daily quota, by clinic and quota (clinic, recipient).",
		[]string{"clinic", "quota"}, func() []metrics.Sample {
			counts := map[[2]string]int64{}
			maps.Copy(counts, quotas.Refusals())
			for _, id := range clinicIDs {
				for _, q := range []string{quota.Clinic, quota.Recipient} {
					if _, ok := counts[[2]string{id, q}]; !ok {
						counts[[2]string{id, q}] = 0
					}
				}
			}
			var out []metrics.Sample
			for k, n := range counts {
				out = append(out, metrics.One(n, k[0], k[1]))
			}
			return out
		})
}

func unacknowledged(store *natsjs.Store, directory *clinics.Directory, oldest bool) []metrics.Sample {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out []metrics.Sample
	for _, id := range directory.IDs() {
		list, err := store.Escalations(ctx, id)
		if err != nil {
			continue
		}
		var n int64
		var age time.Duration
		for _, e := range list {
			if e.Status == aftercare.EscalationOpen {
				n++
				age = max(age, time.Since(e.RaisedAt))
			}
		}
		if oldest {
			out = append(out, metrics.Sample{Labels: []string{id}, Value: age.Seconds()})
		} else {
			out = append(out, metrics.One(n, id))
		}
	}
	return out
}
