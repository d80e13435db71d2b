package natsjs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Names of what the service keeps in JetStream.
const (
	StreamSessions   = "AFTERCARE_SESSIONS"   // session events as received
	StreamFollowUps  = "AFTERCARE_FOLLOWUPS"  // follow-up timers and due jobs
	StreamDeadLetter = "AFTERCARE_DEADLETTER" // jobs given up on, with the reason
	StreamReplies    = "AFTERCARE_REPLIES"    // clients' texts, as Twilio delivered them
	StreamDelivery   = "AFTERCARE_DELIVERY"   // Twilio's delivery statuses of our texts
	StreamEscalation = "AFTERCARE_ESCALATIONS"
	StreamQuotas     = "AFTERCARE_QUOTAS" // texts counted per clinic and day, and per client and day
	StreamChain      = "AFTERCARE_CHAIN"  // escalation chain timers (chain.schedule.>) and the steps they fire (chain.due.>)
	// StreamAudit is every staff action, append-only: who did what, when.
	// Its entries hold no message text and name a client's conversation by
	// a random id (BucketAuditIDs), never by the number or its hash.
	StreamAudit = "AFTERCARE_STAFF_AUDIT"
	// RetiredStreamAudit is the audit stream before that: its entries hold
	// staff replies' text and name conversations by an unsalted hash of
	// clinic and number, and it denies deletes, so erasure could not reach
	// them. "scheduler audit migrate" copies it into StreamAudit without
	// either, then deletes it.
	RetiredStreamAudit = "AFTERCARE_AUDIT"
	// StreamOutbox holds staff replies to clients until the worker sends them.
	StreamOutbox = "AFTERCARE_OUTBOX"
	// StreamErasure holds the messages an erasure has Twilio delete, until
	// the worker has (a work queue: each job is gone once done).
	StreamErasure = "AFTERCARE_ERASURE"

	BucketClients     = "aftercare_clients"     // per clinic and number: sessions, last score
	BucketReplies     = "aftercare_replies"     // one record per inbound text
	BucketEscalations = "aftercare_escalations" // one record per escalation

	BucketSessions  = "aftercare_sessions"  // one record per clinic session
	BucketFollowUps = "aftercare_followups" // one record per follow-up step
	BucketOptOuts   = "aftercare_optouts"   // clients who replied STOP, per clinic
	// BucketSendSlots holds each sender's next free send slot, shared by
	// every worker: Twilio's rate limit is per number, not per process.
	BucketSendSlots = "aftercare_send_slots"
	BucketLimits    = "aftercare_limits" // counters every worker shares, per clinic and hour

	BucketStaff         = "aftercare_staff"          // staff accounts, their email index and API tokens
	BucketStaffSessions = "aftercare_staff_sessions" // signed-in browser sessions; expire on their own
	BucketInbox         = "aftercare_inbox"          // conversations' state (assigned, done, read) and staff replies
	// BucketConsent is each client's consent record per clinic: every
	// agreement, opt-out and opt-in. No TTL, like the opt-outs: it is the
	// evidence a TCPA dispute or 10DLC vetting asks for.
	BucketConsent = "aftercare_consent"
	// BucketAuditIDs holds, per clinic and conversation, the random id the
	// audit trail names the conversation by. Erasure deletes it, which
	// leaves the client's audit entries kept but linked to no one. No TTL:
	// a conversation's history stays whole while the client is a client;
	// the retention job deletes it once nothing of the conversation is held.
	BucketAuditIDs = "aftercare_audit_ids"
	// BucketErasureJobs holds each requested erasure: its state and, once
	// done, what it erased and kept (the number is dropped then).
	BucketErasureJobs = "aftercare_erasure_jobs"
	// BucketErasing is the tombstone of each client whose erasure is under
	// way, per clinic and number: new session events for them are refused
	// until it ends. No TTL: it stands until the job is done.
	BucketErasing = "aftercare_erasing"

	ConsumerPlanner = "planner" // the scheduler's consumer of session events
	// ConsumerSender was the one consumer of every clinic's due follow-ups;
	// each clinic now has its own lane (SenderLane), and this is removed.
	ConsumerSender  = "sender"
	ConsumerReplies = "replies" // the worker's triage of inbound texts
	ConsumerStatus  = "delivery"
	ConsumerNotify  = "notifier" // tells clinics of escalations
	ConsumerChain   = "chain"    // fires the steps of escalation chains
	ConsumerOutbox  = "outbox"   // sends staff replies to clients

	// ConsumerTwilioErase deletes erased clients' messages at Twilio.
	ConsumerTwilioErase = "twilio-erase"
	// ConsumerClientErase runs clients' erasures, in the scheduler.
	ConsumerClientErase = "client-erase"

	// IntakeSubject takes session events as NATS requests, for booking
	// systems that speak NATS; the reply says whether they were accepted.
	IntakeSubject = "aftercare.intake.sessions"
)

// Settings size the streams and buckets.
type Settings struct {
	// Replicas of each stream and bucket; 0 keeps what exists (new ones get 1).
	Replicas  int
	Retention time.Duration
	// EscalationRetention is how long escalation records are kept; 0 is
	// DefaultEscalationRetention.
	EscalationRetention time.Duration
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
		Name:        StreamReplies,
		Description: "Clients' texts (replies.<clinic>), stored before Twilio is answered",
		Subjects:    []string{"replies.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
		Duplicates:  24 * time.Hour, // Twilio's MessageSid: a replayed webhook is stored once
	}, {
		Name:        StreamDelivery,
		Description: "Twilio delivery statuses (delivery.<clinic>)",
		Subjects:    []string{"delivery.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  time.Hour,
	}, {
		Name:        StreamEscalation,
		Description: "Escalations raised (escalations.<clinic>), for the notifier and any subscriber",
		Subjects:    []string{"escalations.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
		Duplicates:  24 * time.Hour,
	}, {
		Name:              StreamChain,
		Description:       "Escalation chain timers (chain.schedule.>) and the steps they fire (chain.due.>)",
		Subjects:          []string{"chain.schedule.>", "chain.due.>"},
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
	}, {
		Name:        StreamAudit,
		Description: "Staff actions (staffaudit.<clinic>.<kind>.<target>), append-only; no message text, conversations by a random id",
		Subjects:    []string{"staffaudit.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      AuditRetention,
		DenyDelete:  true,
		DenyPurge:   true,
	}, {
		Name:        StreamOutbox,
		Description: "Staff replies to clients (outbox.<clinic>), for the worker to send, and the timers of those waiting for the send window (outbox_schedule.>)",
		Subjects:    []string{"outbox.>", "outbox_schedule.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
		Duplicates:  time.Hour,
		// A reply written after hours waits on a timer, not in the
		// consumer's ack-pending places, where enough of them would hold
		// up every clinic's replies until morning.
		AllowMsgSchedules: true,
	}, {
		Name:        StreamErasure,
		Description: "Clients' erasures to run (erasure.client.<clinic>) and messages to delete from Twilio's logs after one (erasure.twilio.<clinic>)",
		Subjects:    []string{"erasure.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
		MaxAge:      s.Retention,
		Retention:   jetstream.WorkQueuePolicy,
	}, quotaStream(s)}
}

// AuditRetention keeps staff actions for six years, as health records'
// audit trails commonly must be; they are small.
const AuditRetention = 6 * 365 * 24 * time.Hour

// StaffSessionTTL is how long a signed-in browser session lasts at most.
const StaffSessionTTL = 12 * time.Hour

func bucketConfigs(s Settings) []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{
		{Bucket: BucketSessions, Description: "Session records", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketFollowUps, Description: "Follow-up records", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketOptOuts, Description: "Opted-out clients per clinic", Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketClients, Description: "Clients per clinic: recent sessions, last pain score", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketReplies, Description: "Inbound texts and their triage", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketEscalations, Description: "Escalations, their notices and history", TTL: s.EscalationRetention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		// A slot an hour old says nothing about the rate now.
		{Bucket: BucketSendSlots, Description: "Each sender's next free send slot, shared by the workers", TTL: time.Hour, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketLimits, Description: "Hourly counters shared by every worker (answers to unknown numbers)", TTL: limitsTTL, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketStaff, Description: "Staff accounts, their email index and API tokens", Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketStaffSessions, Description: "Staff browser sessions", TTL: StaffSessionTTL, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketInbox, Description: "Inbox conversations' state and staff replies", TTL: s.Retention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketConsent, Description: "Clients' consent records per clinic: agreements, opt-outs, opt-ins", Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketAuditIDs, Description: "The random id the audit trail names each conversation by; erased with the client", Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketErasureJobs, Description: "Clients' erasures requested: state, and what each erased and kept", TTL: ErasureJobRetention, Replicas: s.Replicas, Storage: jetstream.FileStorage},
		{Bucket: BucketErasing, Description: "Clients whose erasure is under way: their new session events are refused", Replicas: s.Replicas, Storage: jetstream.FileStorage},
	}
}

// Provision creates or updates every stream and bucket, so a fresh server
// and an upgraded one end up the same; it is safe to run from every replica
// at once. It never lowers a replica count.
func Provision(ctx context.Context, js jetstream.JetStream, s Settings) (*Store, error) {
	if s.EventDedupWindow == 0 {
		s.EventDedupWindow = 24 * time.Hour
	}
	if s.EscalationRetention == 0 {
		s.EscalationRetention = DefaultEscalationRetention
	}
	// Everything at once: every program provisions on start, and when they
	// start together their creates collide; in parallel, the collisions'
	// retries overlap instead of adding up.
	streams, buckets := streamConfigs(s), bucketConfigs(s)
	replicas := make([]int, len(streams)+len(buckets))
	kvs := make([]jetstream.KeyValue, len(buckets))
	errs := make([]error, len(replicas))
	var wg sync.WaitGroup
	for i, sc := range streams {
		wg.Go(func() { replicas[i], errs[i] = ensureStream(ctx, js, sc) })
	}
	for i, bc := range buckets {
		n := len(streams) + i
		wg.Go(func() { kvs[i], replicas[n], errs[n] = ensureBucket(ctx, js, bc) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	replicated := slices.Max(replicas) > 1
	st := &Store{js: js, leaderReads: replicated}
	st.sessions, st.followUps, st.optOuts = kvs[0], kvs[1], kvs[2]
	st.clients, st.replies, st.escalations = kvs[3], kvs[4], kvs[5]
	st.sendSlots, st.limits = kvs[6], kvs[7]
	st.staff, st.staffSessions, st.inbox = kvs[8], kvs[9], kvs[10]
	st.consent, st.auditIDs = kvs[11], kvs[12]
	st.erasureJobs, st.erasing = kvs[13], kvs[14]
	return st, nil
}

// PlannerConsumer creates or updates the durable consumer of session events.
func PlannerConsumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	return ensureConsumer(ctx, js, StreamSessions, jetstream.ConsumerConfig{
		Durable:       ConsumerPlanner,
		Description:   "Plans follow-ups from session events",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 512,
		MaxDeliver:    -1,
	})
}

// SenderLane is a clinic's own consumer of its due follow-ups. One lane per
// clinic is what keeps sending fair: a clinic's backlog, paced by its
// sender's rate, waits in its own lane and never takes the places of
// another clinic's texts. maxAckPending bounds how many of the clinic's jobs
// are in hand at once across all workers; keep it near what the sender may
// send in a few seconds, so jobs wait in the stream, not in hand.
// Attempts are counted in the follow-up record, not by MaxDeliver, so that
// waiting for a send window or a rate limit does not use up retries.
func SenderLane(ctx context.Context, js jetstream.JetStream, clinic string, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       SenderLaneName(clinic),
		Description:   "Sends clinic " + clinic + "'s due follow-ups as SMS",
		FilterSubject: "followups.due." + clinic + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
	}
	// Where a lane starts is set once, when it is made: from the start of
	// the stream for a new clinic (its jobs may have fired before any worker
	// knew it), or where the shared consumer it replaces had got to, so an
	// upgrade does not hand every job of the past month to the lanes again.
	err := ensure(ctx, "consumer "+cfg.Durable, func(ctx context.Context) error {
		lane, err := js.Consumer(ctx, StreamFollowUps, cfg.Durable)
		if err == nil {
			info := lane.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq = info.DeliverPolicy, info.OptStartSeq
			return nil
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		shared, err := js.Consumer(ctx, StreamFollowUps, ConsumerSender)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, shared.CachedInfo().AckFloor.Stream+1
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ensureConsumer(ctx, js, StreamFollowUps, cfg)
}

// SenderLaneName names a clinic's lane; clinic ids are plain tokens.
func SenderLaneName(clinic string) string { return ConsumerSender + "-" + clinic }

// RemoveSharedSender deletes the one consumer all clinics shared before
// lanes, if a previous version left it: nobody pulls it any more.
func RemoveSharedSender(ctx context.Context, js jetstream.JetStream) error {
	err := js.DeleteConsumer(ctx, StreamFollowUps, ConsumerSender)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("remove the shared sender consumer: %w", err)
	}
	return nil
}

// RepliesConsumer creates or updates the durable consumer of inbound texts.
func RepliesConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamReplies, ConsumerReplies, "replies.>", "Triages clients' texts, handles STOP/START/HELP, raises escalations", ackWait, maxAckPending)
}

// DeliveryConsumer creates or updates the durable consumer of delivery statuses.
func DeliveryConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamDelivery, ConsumerStatus, "delivery.>", "Records Twilio delivery statuses", ackWait, maxAckPending)
}

// NotifyConsumer creates or updates the durable consumer of escalations.
func NotifyConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamEscalation, ConsumerNotify, "escalations.>", "Tells clinics of escalations by webhook and on-call SMS", ackWait, maxAckPending)
}

// ChainConsumer creates or updates the durable consumer of chain steps.
func ChainConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamChain, ConsumerChain, "chain.due.>", "Fires escalation chain steps: backup pages, email, reminders", ackWait, maxAckPending)
}

func workerConsumer(ctx context.Context, js jetstream.JetStream, stream, name, filter, description string, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return ensureConsumer(ctx, js, stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   description,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
	})
}

// plainToken says id is all [A-Za-z0-9_-], and not empty. A loop, not a
// regular expression: every record's key passes here, on every send.
func plainToken(id string) bool {
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return id != ""
}

// Token makes an outside id safe as one subject token and key segment. Plain
// ids stay readable; any other is base64url-encoded behind "=", which no
// plain id can start with, so two ids never share a token.
//
// Ids are bounded where they enter (aftercare.IDProblem); as a backstop, one
// longer than maxTokenID becomes "==" and its SHA-256, so no id can make a
// subject or key long enough for nats-server to close the connection
// ("maximum control line exceeded", at 4 KiB).
func Token(id string) string {
	switch {
	case len(id) > maxTokenID:
		sum := sha256.Sum256([]byte(id))
		return "==" + base64.RawURLEncoding.EncodeToString(sum[:])
	case plainToken(id):
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// maxTokenID is twice the longest id the edges accept.
const maxTokenID = 2 * aftercare.MaxIDLength

// OutboxConsumer creates or updates the durable consumer of staff replies.
func OutboxConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamOutbox, ConsumerOutbox, "outbox.>", "Sends staff replies to clients", ackWait, maxAckPending)
}

// TwilioEraseConsumer creates or updates the durable consumer of Twilio
// erasure jobs.
func TwilioEraseConsumer(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) (jetstream.Consumer, error) {
	return workerConsumer(ctx, js, StreamErasure, ConsumerTwilioErase, "erasure.twilio.>", "Deletes erased clients' messages from Twilio's logs", ackWait, maxAckPending)
}

// StreamSubjects are the subjects of every stream the programs make, and
// BucketNames every bucket: what a program's NATS user must be allowed to
// publish to (internal/natsauth builds the users from these, so a new
// stream or bucket cannot be left out of them).
func StreamSubjects() []string {
	var out []string
	for _, c := range streamConfigs(Settings{}) {
		out = append(out, c.Subjects...)
	}
	return out
}

// BucketNames are the names of every bucket the programs make.
func BucketNames() []string {
	var out []string
	for _, c := range bucketConfigs(Settings{}) {
		out = append(out, c.Bucket)
	}
	return out
}
