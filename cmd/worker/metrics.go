package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftercare/aftercare/internal/delivery"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/escalation"
	"github.com/aftercare/aftercare/internal/metrics"
	"github.com/aftercare/aftercare/internal/replies"
	"github.com/aftercare/aftercare/internal/triage"
)

// Buckets for calls to Twilio and to clinics: 10 ms to the 10 s timeout.
var callBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// workerHooks are the histograms the worker's parts feed.
type workerHooks struct {
	twilioCall    func(time.Duration, string)
	lateness      func(time.Duration)
	noticeLatency func(time.Duration)
	pageLatency   func(time.Duration)
}

func newWorkerHooks(reg *prometheus.Registry) workerHooks {
	call := metrics.HistogramVec(reg, "twilio_request_duration_seconds", "Time of each Twilio API call, by outcome (ok, temporary, permanent).", callBuckets, "outcome")
	return workerHooks{
		twilioCall:    func(d time.Duration, outcome string) { call(d, outcome) },
		lateness:      metrics.Histogram(reg, "followup_lateness_seconds", "How long after its due time each follow-up was sent.", nil),
		noticeLatency: metrics.Histogram(reg, "escalation_notice_latency_seconds", "Time from a client's text reaching the webhook to the clinic's first notice.", nil),
		pageLatency:   metrics.Histogram(reg, "escalation_chain_page_latency_seconds", "Time from a client's text reaching the webhook to each chain step that paged backups (nobody acknowledged).", []float64{1, 10, 60, 300, 600, 1800, 3600, 7200}),
	}
}

// workerMetrics registers what the worker counts: follow-ups by outcome,
// replies by triage class, escalation notices, delivery statuses, and the
// lag of each of its consumers.
func workerMetrics(reg *prometheus.Registry, d *dispatch.Stats, r *replies.Stats, n *escalation.Stats, st *delivery.Stats, c workerConsumers) {
	metrics.Counters(reg, "followups_total", "Follow-ups handled by the worker, by outcome.", []string{"outcome"}, func() []metrics.Sample {
		return []metrics.Sample{
			metrics.One(d.Sent.Load(), "sent"),
			metrics.One(d.Skipped.Load(), "skipped"),
			metrics.One(d.Cancelled.Load(), "cancelled"),
			metrics.One(d.Superseded.Load(), "superseded"),
			metrics.One(d.Found.Load(), "found_sent_at_provider"),
			metrics.One(d.Retried.Load(), "failed_retrying"),
			metrics.One(d.DeadLettered.Load(), "dead_lettered"),
		}
	})
	metrics.Counters(reg, "replies_total", "Clients' texts triaged, by class.", []string{"class"}, func() []metrics.Sample {
		var out []metrics.Sample
		for i, class := range triage.Classes() {
			out = append(out, metrics.One(r.ByClass[i].Load(), string(class)))
		}
		return out
	})
	metrics.Counters(reg, "reply_keywords_total", "Keyword texts: opt_out, opt_in, help.", []string{"keyword"}, func() []metrics.Sample {
		return []metrics.Sample{
			metrics.One(r.OptOuts.Load(), string(triage.OptOut)),
			metrics.One(r.OptIns.Load(), string(triage.OptIn)),
			metrics.One(r.Help.Load(), string(triage.Help)),
		}
	})
	metrics.Counters(reg, "reply_answers_total", "Texts sent back to clients who wrote (HELP, STOP confirmations, escalation answers ...).", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(r.Answers.Load())}
	})
	metrics.Counters(reg, "reply_answers_withheld_total", "Answers not sent to numbers with no session at the clinic: answered in the last day (stranger_daily), or the clinic's STRANGER_ANSWERS_PER_HOUR reached (stranger_hourly_cap).",
		[]string{"reason"}, func() []metrics.Sample {
			return []metrics.Sample{
				metrics.One(r.WithheldDaily.Load(), "stranger_daily"),
				metrics.One(r.WithheldHourly.Load(), "stranger_hourly_cap"),
			}
		})
	metrics.Counters(reg, "replies_dead_lettered_total", "Clients' texts given up on (deadletter.replies.>): any may have been a client getting worse.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(r.DeadLettered.Load())}
	})
	metrics.Counters(reg, "client_records_set_aside_total", "Client records that could not be decoded, dead-lettered (deadletter.record.>) so the client's texts are still handled.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(r.RecordsSetAside.Load())}
	})
	metrics.Counters(reg, "replies_unlinked_total", "Texts from numbers with no session at the clinic.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(r.Unlinked.Load())}
	})
	metrics.Counters(reg, "escalations_raised_total", "Escalations raised for clients getting worse.", nil, func() []metrics.Sample {
		return []metrics.Sample{metrics.One(r.Escalations.Load())}
	})
	metrics.Counters(reg, "escalation_notices_total", "Escalation notices: clinics notified, webhook failures (retried), on-call texts, escalations given up on.",
		[]string{"outcome"}, func() []metrics.Sample {
			return []metrics.Sample{
				metrics.One(n.Notified.Load(), "notified"),
				metrics.One(n.WebhookFailures.Load(), "webhook_failed"),
				metrics.One(n.OnCallTexts.Load(), "on_call_text"),
				metrics.One(n.GivenUp.Load(), "given_up"),
			}
		})
	metrics.Counters(reg, "delivery_statuses_total", "Twilio delivery statuses, by result.", []string{"result"}, func() []metrics.Sample {
		return []metrics.Sample{
			metrics.One(st.Delivered.Load(), "delivered"),
			metrics.One(st.Failed.Load(), "failed"),
			metrics.One(st.Recorded.Load()-st.Delivered.Load()-st.Failed.Load(), "other"),
			metrics.One(st.Ignored.Load(), "ignored"),
		}
	})
	metrics.Consumers(reg, c.all()...)
}

// chainMetrics counts what escalation chains did.
func chainMetrics(reg *prometheus.Registry, c *escalation.ChainStats) {
	metrics.Counters(reg, "escalation_chain_total", "Escalation chain actions: steps fired, steps skipped (acknowledged first), backup texts, calls, emails, reminders.",
		[]string{"outcome"}, func() []metrics.Sample {
			return []metrics.Sample{
				metrics.One(c.StepsFired.Load(), "step_fired"),
				metrics.One(c.StepsSkipped.Load(), "step_skipped"),
				metrics.One(c.Texts.Load(), "text"),
				metrics.One(c.Calls.Load(), "call"),
				metrics.One(c.Emails.Load(), "email"),
				metrics.One(c.Reminders.Load(), "reminder"),
			}
		})
}
