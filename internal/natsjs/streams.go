package natsjs

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Names of what the service keeps in JetStream.
const (
	StreamSessions   = "AFTERCARE_SESSIONS"   // session events as received
	StreamFollowUps  = "AFTERCARE_FOLLOWUPS"  // follow-up timers and due jobs
	StreamDeadLetter = "AFTERCARE_DEADLETTER" // jobs given up on, with the reason

	BucketSessions  = "aftercare_sessions"  // one record per clinic session
	BucketFollowUps = "aftercare_followups" // one record per follow-up step
	BucketOptOuts   = "aftercare_optouts"   // clients who replied STOP, per clinic

	ConsumerPlanner = "planner" // the scheduler's consumer of session events
	ConsumerSender  = "sender"  // the worker's consumer of due follow-ups

	// IntakeSubject takes session events as NATS requests, for booking
	// systems that speak NATS; the reply says whether they were accepted.
	IntakeSubject = "aftercare.intake.sessions"
)

// Settings size the streams and buckets.
type Settings struct {
	Replicas  int
	Retention time.Duration
	// EventDedupWindow is how long JetStream itself remembers event ids; the
	// session record remembers them for longer.
	EventDedupWindow time.Duration
}

func streamConfigs(s Settings) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{{
		Name:        StreamSessions,
		Description: "Session events from clinics' booking systems, as accepted",
		Subjects:    []string{"sessions.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
		Duplicates:  s.EventDedupWindow,
	}, {
		Name:              StreamFollowUps,
		Description:       "Follow-up schedules (followups.schedule.>) and the jobs they fire (followups.due.>)",
		Subjects:          []string{"followups.schedule.>", "followups.due.>"},
		Storage:           jetstream.FileStorage,
		Replicas:          s.Replicas,
		MaxAge:            s.Retention,
		Duplicates:        10 * time.Minute,
		AllowMsgSchedules: true,
	}, {
		Name:        StreamDeadLetter,
		Description: "Follow-ups and events given up on, with the reason in the Aftercare-Reason header",
		Subjects:    []string{"deadletter.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
	}}
}

func bucketConfigs(s Settings) []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: BucketSessions, Description: "Session records", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketFollowUps, Description: "Follow-up records", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketOptOuts, Description: "Opted-out clients per clinic", Replicas: s.Replicas, Storage: jetstream.FileStorage},
	}
}

// Provision creates or updates every stream and bucket, so a fresh server
// and an upgraded one end up the same; it is safe to run from every replica.
func Provision(ctx context.Context, js jetstream.JetStream, s Settings) (*Store, error) {
	if s.EventDedupWindow == 0 {
		s.EventDedupWindow = 24 * time.Hour
	}
	for _, sc := range streamConfigs(s) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	st := &Store{js: js}
	kvs := make([]jetstream.KeyValue, 0, 3)
	for _, bc := range bucketConfigs(s) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, bc)
		if err != nil {
			return nil, fmt.Errorf("provision bucket %s: %w", bc.Bucket, err)
		}
		kvs = append(kvs, kv)
	}
	st.sessions, st.followUps, st.optOuts = kvs[0], kvs[1], kvs[2]
	return st, nil
}

// PlannerConsumer creates or updates the durable consumer of session events.
func PlannerConsumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, StreamSessions, jetstream.ConsumerConfig{
		Durable:       ConsumerPlanner,
		Description:   "Plans follow-ups from session events",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 512,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("provision consumer %s: %w", ConsumerPlanner, err)
	}
	return c, nil
}

// SenderConsumer creates or updates the durable consumer of due follow-ups.
// Attempts are counted in the follow-up record, not by MaxDeliver, so that
// waiting for a send window or a rate limit does not use up retries.
func SenderConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, StreamFollowUps, jetstream.ConsumerConfig{
		Durable:       ConsumerSender,
		Description:   "Sends due follow-ups as SMS",
		FilterSubject: "followups.due.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("provision consumer %s: %w", ConsumerSender, err)
	}
	return c, nil
}

var plainToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Token makes an outside id safe as one subject token and key segment. Plain
// ids stay readable; any other is base64url-encoded behind "=", which no
// plain id can start with, so two ids never share a token.
func Token(id string) string {
	if plainToken.MatchString(id) {
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}
