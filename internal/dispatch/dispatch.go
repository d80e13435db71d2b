// Package dispatch sends due follow-ups: it checks that the follow-up is still
// wanted (session not cancelled, moved or held, client not opted out, not
// stale, inside the send window), claims it so a redelivered job cannot send
// twice, sends the day's tip, and records the outcome. Most jobs carry their
// record and session as planned; the claim, conditional on the record's
// revision, is what finds either changed (see aftercare.DueWithSession).
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
)

// Stats counts outcomes since start.
type Stats struct {
	Sent       atomic.Int64
	Skipped    atomic.Int64 // stale or opted out
	Cancelled  atomic.Int64
	Superseded atomic.Int64 // job from an older plan, or already done
	// Found counts texts an earlier attempt had sent without our knowing,
	// found at the provider instead of being sent again.
	Found        atomic.Int64
	Retried      atomic.Int64
	DeadLettered atomic.Int64
	// LatenessMaxMillis is the largest gap seen between due time and send.
	LatenessMaxMillis atomic.Int64
}

// Dispatcher sends follow-ups.
type Dispatcher struct {
	Store *natsjs.Store
	// DoNotTexts, if set, says whether a client may be texted, in place
	// of a read of the store for each text: the worker's
	// natsjs.DoNotTextView, whose answers are as fresh as a read.
	DoNotTexts interface {
		DoNotText(ctx context.Context, clinic, phone string) (string, error)
	}
	// Sessions, if set, reads sessions in place of Store, with answers as
	// fresh as Store's: the worker's natsjs.SessionReads, which at R3 reads
	// from any replica instead of the leader.
	Sessions SessionReader
	Clinics  *clinics.Directory
	Sender   sms.Sender
	// Staleness: a job later than this past its due time is skipped.
	Staleness   time.Duration
	MaxAttempts int
	RetryBase   time.Duration
	RetryMax    time.Duration
	// ClaimLease is how long a claim by one worker keeps others off a
	// follow-up; set it to the consumer's AckWait.
	ClaimLease time.Duration
	// StatusCallback is the URL Twilio reports delivery to; may be empty.
	StatusCallback string
	// Limits paces each sender; see package sendrate for the one the
	// workers share.
	Limits Pacer
	// Lateness, if set, is told how late each sent follow-up was.
	Lateness func(time.Duration)
	Now      func() time.Time
	Log      *slog.Logger
	Stats    *Stats
}

// SessionReader reads a session record and its revision, or
// aftercare.ErrNotFound.
type SessionReader interface {
	Session(ctx context.Context, clinic, session string) (aftercare.Session, uint64, error)
}

// SkipNoConsent is the reason a follow-up of a clinic that requires consent
// was not sent to a client with none on record.
const SkipNoConsent = "no consent recorded: the clinic requires consent before texting"

// MaxRateWait is the longest a job waits in hand for its sender's rate
// limit; a longer wait hands it back.
const MaxRateWait = 2 * time.Second

// Pacer hands out send slots per sender.
type Pacer interface {
	// Reserve takes the sender's next slot and says how long to wait for
	// it; ok is false, with no slot taken, when the wait is too long.
	Reserve(ctx context.Context, sender string) (wait time.Duration, ok bool, err error)
}

// Handle is the jobs.Handler for the due follow-up consumer.
func (d *Dispatcher) Handle(ctx context.Context, msg jetstream.Msg) error {
	job, err := aftercare.ParseDue(msg.Data())
	if err != nil {
		return jobs.GiveUp(fmt.Errorf("decode follow-up job: %w", err))
	}
	if meta, err := msg.Metadata(); err != nil || meta.NumDelivered > 1 {
		// Handed back before: most likely after an attempt, which touched
		// the record. Read it rather than spend a send slot finding that out.
		job.PlannedRevision = 0
	}
	return d.Send(ctx, job)
}

// Send sends one due follow-up, or decides it is not to be sent.
func (d *Dispatcher) Send(ctx context.Context, job aftercare.DueFollowUp) error {
	if job.KnowsRecord() {
		// Most jobs find their record as planned: one read fewer per text.
		if err := d.send(ctx, job, true); !errors.Is(err, errNotAsPlanned) {
			return err
		}
	}
	return d.send(ctx, job, false)
}

// errNotAsPlanned is send's answer when a write conditional on the job's
// PlannedRevision finds the record changed since: read it, and decide again.
var errNotAsPlanned = errors.New("the follow-up's record has changed since its job was made")

// send is Send, with the follow-up's record read, or, when planned is set,
// taken from the job (Planned, at its PlannedRevision) without a read.
func (d *Dispatcher) send(ctx context.Context, job aftercare.DueFollowUp, planned bool) error {
	clinic, ok := d.Clinics.Lookup(job.ClinicID)
	if !ok {
		return jobs.GiveUp(fmt.Errorf("unknown clinic %q", job.ClinicID))
	}
	sess, f, rev, err := d.read(ctx, job, planned)
	if err != nil {
		return err
	}
	log := &jobLog{base: d.Log, job: job}
	now := d.Now()

	if sess.PlanVersion != job.PlanVersion || f.PlanVersion != job.PlanVersion || f.Status.Final() {
		// Rescheduled since, or already sent/skipped: a redelivery or an old timer.
		d.Stats.Superseded.Add(1)
		return nil
	}
	if f.Status == aftercare.FollowUpSending {
		if held := f.ClaimedAt.Add(d.ClaimLease).Sub(now); held > 0 {
			return jobs.Snooze(held, "another worker holds this follow-up")
		}
		// The worker holding it died; the SMS may or may not have gone out.
		log.Warn("follow-up claim expired: the text may have gone out", "claimed_at", f.ClaimedAt)
		if f.MaybeSentSince.IsZero() {
			f.MaybeSentSince = f.ClaimedAt
		}
	}
	if sess.Status == aftercare.SessionCancelled {
		return d.finish(ctx, f, rev, planned, &d.Stats.Cancelled, aftercare.FollowUpCancelled, "session cancelled")
	}
	if sess.EscalationID != "" {
		// The client reported getting worse: the clinic calls, we do not tip.
		return d.finish(ctx, f, rev, planned, &d.Stats.Cancelled, aftercare.FollowUpCancelled, "client escalated to the clinic: "+sess.EscalationID)
	}
	// Opted out, or a number that cannot get texts: one answer says both.
	dontText, err := d.doNotText(ctx, job.ClinicID, sess.Client.Phone)
	if err != nil {
		return err
	}
	if dontText != "" {
		return d.finish(ctx, f, rev, planned, &d.Stats.Skipped, aftercare.FollowUpSkipped, dontText)
	}
	if clinic.RequireConsent {
		// Skipped with the reason, never silently: the session's record
		// shows it, and consent recorded before a later step lets that one go.
		consent, err := d.Store.Consent(ctx, job.ClinicID, sess.Client.Phone)
		if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
			return err
		}
		if !consent.Consented() {
			if err := d.finish(ctx, f, rev, planned, &d.Stats.Skipped, aftercare.FollowUpSkipped, SkipNoConsent); err != nil {
				return err
			}
			log.Info("follow-up skipped: the clinic requires consent and none is recorded")
			return nil
		}
	}
	if late := now.Sub(f.DueAt); late > d.Staleness {
		reason := fmt.Sprintf("stale: %v past due when a worker took it", late.Round(time.Second))
		if err := d.finish(ctx, f, rev, planned, &d.Stats.Skipped, aftercare.FollowUpSkipped, reason); err != nil {
			return err
		}
		log.Warn("follow-up skipped: too late to send", "late", late.Round(time.Second))
		return nil
	}
	loc := clinic.ClientLocation(sess.Client.TimeZone)
	if next := clinic.Window.Next(now, loc); next.After(now) {
		// A backlog pushed it out of the window: wait for the next opening.
		return jobs.Snooze(next.Sub(now), "outside the clinic's send window")
	}
	wait, ok, err := d.Limits.Reserve(ctx, clinic.Sender.Key())
	switch {
	case err != nil:
		return err
	case !ok:
		return jobs.Snooze(wait, "sender rate limit")
	case wait > 0:
		if err := sleep(ctx, wait); err != nil {
			return jobs.Snooze(time.Second, "shutting down")
		}
		// A STOP may have come in while the text waited for its slot.
		if dontText, err = d.doNotText(ctx, job.ClinicID, sess.Client.Phone); err != nil {
			return err
		}
		if dontText != "" {
			return d.finish(ctx, f, rev, planned, &d.Stats.Skipped, aftercare.FollowUpSkipped, dontText)
		}
	}

	// Claim it: a concurrent claim makes this write fail.
	f.Status, f.Attempts, f.ClaimedAt, f.UpdatedAt = aftercare.FollowUpSending, f.Attempts+1, now, now
	if rev, err = d.Store.SaveFollowUp(ctx, f, rev); err != nil {
		switch {
		case errors.Is(err, natsjs.ErrConflict) && planned:
			return errNotAsPlanned
		case errors.Is(err, natsjs.ErrConflict):
			return jobs.Snooze(100*time.Millisecond, "follow-up changed while claiming")
		}
		return err
	}
	body, err := clinic.Texts.Render(f.Step, sess.Service, sess.Client.Name, sess.Client.Locale, clinic.Locale)
	if err != nil {
		return jobs.GiveUp(err)
	}
	msg := sms.Message{
		To: sess.Client.Phone, From: clinic.Sender.From, MessagingServiceSID: clinic.Sender.MessagingServiceSID,
		Body: body, StatusCallback: d.statusCallback(f),
	}
	sid, lookupErr := d.findSent(ctx, log, f, msg)
	found := sid != ""
	var sendErr error
	if !found && lookupErr == nil {
		sid, sendErr = d.Sender.Send(ctx, msg)
	}
	// Twilio has answered: record the outcome even if the job's time is up
	// or nats-server is restarting, for as long as the claim holds.
	ctx, cancel := d.recordContext(ctx, f)
	defer cancel()
	if lookupErr != nil {
		return d.failed(ctx, log.get(), f, rev, lookupErr)
	}
	if sendErr != nil {
		d.noteNumber(ctx, log.get(), sess.ClinicID, sess.Client.Phone, sendErr)
		if sms.MaybeTaken(sendErr) && f.MaybeSentSince.IsZero() {
			f.MaybeSentSince = f.ClaimedAt
		}
		return d.failed(ctx, log.get(), f, rev, sendErr)
	}
	sentAt := d.Now()
	f.Status, f.MessageSID, f.SentAt, f.Reason, f.UpdatedAt = aftercare.FollowUpSent, sid, sentAt, "", sentAt
	f.MaybeSentSince = time.Time{}
	if err := d.recordSent(ctx, f, rev); err != nil {
		// Twilio has the message; if this record is lost, a redelivery after
		// the claim lease may send it again. Log loudly.
		log.Error("sent but could not record it", "sid", sid, "err", err)
		return err
	}
	late := sentAt.Sub(f.DueAt)
	d.Stats.Sent.Add(1)
	if found {
		// Sent by an earlier attempt at a time we do not know: no lateness.
		log.Info("earlier attempt found at Twilio: recorded as sent, not sent again", "to", aftercare.MaskPhone(sess.Client.Phone), "sid", sid, "attempt", f.Attempts)
		return nil
	}
	if d.Lateness != nil {
		d.Lateness(late)
	}
	for {
		cur := d.Stats.LatenessMaxMillis.Load()
		if late.Milliseconds() <= cur || d.Stats.LatenessMaxMillis.CompareAndSwap(cur, late.Milliseconds()) {
			break
		}
	}
	log.Info("follow-up sent", "to", aftercare.MaskPhone(sess.Client.Phone), "sid", sid, "late_ms", late.Milliseconds(), "attempt", f.Attempts)
	return nil
}

// doNotText says why a client must not be texted, or "" when they may.
func (d *Dispatcher) doNotText(ctx context.Context, clinic, phone string) (string, error) {
	if d.DoNotTexts != nil {
		return d.DoNotTexts.DoNotText(ctx, clinic, phone)
	}
	return d.Store.DoNotText(ctx, clinic, phone)
}

// findSent asks the provider, when an earlier attempt may have reached it,
// whether it has the text already; Twilio's API takes no idempotency key, so
// this is what keeps a crash mid-send from texting the client twice. A
// temporary failure to ask is a failed attempt, retried later.
func (d *Dispatcher) findSent(ctx context.Context, log *jobLog, f aftercare.FollowUp, m sms.Message) (string, error) {
	if f.MaybeSentSince.IsZero() {
		return "", nil
	}
	sid, err := sms.FindSent(ctx, log.get(), d.Sender, m, f.MaybeSentSince)
	if err != nil {
		return "", fmt.Errorf("look up the earlier attempt: %w", err)
	}
	if sid != "" {
		d.Stats.Found.Add(1)
	}
	return sid, nil
}

// statusCallback names the follow-up in the callback URL's query. Twilio
// signs the whole URL, so the worker can trust it when the status arrives.
func (d *Dispatcher) statusCallback(f aftercare.FollowUp) string {
	if d.StatusCallback == "" {
		return ""
	}
	q := url.Values{"kind": {"followup"}, "clinic": {f.ClinicID}, "session": {f.SessionID}, "step": {strconv.Itoa(int(f.Step))}}
	return d.StatusCallback + "?" + q.Encode()
}

// noteNumber records what a failed send says about the client's number: a
// carrier opt-out (21610) opts them out; an invalid or unreachable number
// stops further texts to it until the client texts us.
func (d *Dispatcher) noteNumber(ctx context.Context, log *slog.Logger, clinic, phone string, sendErr error) {
	code := sms.ErrorCode(sendErr)
	var err error
	switch sms.VerdictOf(code) {
	case sms.NumberOptedOut:
		now := d.Now()
		err = d.Store.RecordOptOut(ctx, clinic, phone, aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: now,
			Channel: aftercare.ChannelCarrier, Source: fmt.Sprintf("twilio error %d", code), RecordedAt: now}, now)
	case sms.NumberFailing:
		err = MarkFailing(ctx, d.Store, clinic, phone, code, d.Now())
	}
	if err != nil {
		log.Warn("could not record the number's state", "code", code, "err", err)
	}
}

// MarkFailing records that texts to a number fail for good.
func MarkFailing(ctx context.Context, store *natsjs.Store, clinic, phone string, code int, now time.Time) error {
	return store.MarkFailing(ctx, clinic, phone, "Twilio error "+strconv.Itoa(code), now)
}

// recordSent writes the sent state over what the record holds now (a
// cancellation may have raced the send: the SMS went out all the same),
// unless a reschedule has replaced the record with a newer plan's step.
func (d *Dispatcher) recordSent(ctx context.Context, f aftercare.FollowUp, claimRev uint64) error {
	// Usually nothing changed since the claim: write at its revision and
	// skip a read.
	if _, err := retryStore(ctx, func() (uint64, error) { return d.Store.SaveFollowUp(ctx, f, claimRev) }); !errors.Is(err, natsjs.ErrConflict) {
		return err
	}
	for range 5 {
		cur, rev, err := d.Store.FollowUp(ctx, f.ClinicID, f.SessionID, f.Step)
		if err != nil {
			return err
		}
		if cur.PlanVersion > f.PlanVersion {
			d.Log.Info("sent a follow-up of a plan replaced meanwhile", "clinic", f.ClinicID, "session", f.SessionID, "step", f.Step, "sid", f.MessageSID)
			return nil
		}
		if _, err = d.Store.SaveFollowUp(ctx, f, rev); !errors.Is(err, natsjs.ErrConflict) {
			return err
		}
	}
	return errors.New("record sent follow-up: too many concurrent changes")
}

func (d *Dispatcher) failed(ctx context.Context, log *slog.Logger, f aftercare.FollowUp, rev uint64, sendErr error) error {
	if sms.IsPermanent(sendErr) {
		return jobs.GiveUp(fmt.Errorf("attempt %d: %w", f.Attempts, sendErr))
	}
	if f.Attempts >= d.MaxAttempts {
		return jobs.GiveUp(fmt.Errorf("retry budget of %d attempts spent: %w", d.MaxAttempts, sendErr))
	}
	delay := d.backoff(f.Attempts)
	var temp *sms.TemporaryError
	if errors.As(sendErr, &temp) && temp.RetryAfter > delay {
		delay = min(temp.RetryAfter, d.RetryMax)
	}
	// Release the claim so the retry is not mistaken for a crashed worker.
	f.Status, f.Reason, f.UpdatedAt = aftercare.FollowUpScheduled, "last attempt: "+sendErr.Error(), d.Now()
	if _, err := retryStore(ctx, func() (uint64, error) { return d.Store.SaveFollowUp(ctx, f, rev) }); err != nil {
		log.Warn("could not release claim after failed send", "err", err)
	}
	d.Stats.Retried.Add(1)
	return jobs.Retry(delay, sendErr)
}

// recordContext is for recording a send's outcome: not cut short by the
// job's deadline, but ending a second before the claim lease does, after
// which another worker may take the follow-up.
func (d *Dispatcher) recordContext(ctx context.Context, f aftercare.FollowUp) (context.Context, context.CancelFunc) {
	held := d.Now().Sub(f.ClaimedAt)
	return context.WithTimeout(context.WithoutCancel(ctx), d.ClaimLease-time.Second-held)
}

// retryStore repeats a record write that failed for want of nats-server
// (a restart, a lost connection) until it is answered or ctx ends; a
// conflict is an answer.
func retryStore(ctx context.Context, write func() (uint64, error)) (uint64, error) {
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		rev, err := write()
		if err == nil || errors.Is(err, natsjs.ErrConflict) {
			return rev, err
		}
		if sleep(ctx, delay) != nil {
			return 0, err
		}
	}
}

// backoff doubles from RetryBase per attempt up to RetryMax, with jitter so
// a burst of failures does not come back as a burst.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	delay := d.RetryBase << min(attempt-1, 20)
	if delay <= 0 || delay > d.RetryMax {
		delay = d.RetryMax
	}
	return time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
}

// finish writes a follow-up's last status and, once written, counts it;
// planned says the record at rev was taken from the job rather than read.
func (d *Dispatcher) finish(ctx context.Context, f aftercare.FollowUp, rev uint64, planned bool, count *atomic.Int64, status aftercare.FollowUpStatus, reason string) error {
	f.Status, f.Reason, f.UpdatedAt = status, reason, d.Now()
	_, err := d.Store.SaveFollowUp(ctx, f, rev)
	switch {
	case err == nil:
		count.Add(1)
	case errors.Is(err, natsjs.ErrConflict) && planned:
		return errNotAsPlanned
	case errors.Is(err, natsjs.ErrConflict):
		return jobs.Snooze(100*time.Millisecond, "follow-up changed concurrently")
	}
	return err
}

// read reads the session and the follow-up's record. With planned, it
// takes the record as its job describes it, and the session too when the
// job carries it: the claim, conditional on the record's revision, fails
// if anything has changed the record since, cancellations and holds
// included (aftercare.DueWithSession), and the job is read in full then.
func (d *Dispatcher) read(ctx context.Context, job aftercare.DueFollowUp, planned bool) (aftercare.Session, aftercare.FollowUp, uint64, error) {
	if planned {
		if sess, ok := job.PlannedSession(); ok {
			return sess, job.Planned(), job.PlannedRevision, nil
		}
	}
	var (
		f       aftercare.FollowUp
		rev     uint64
		readErr error
		read    = make(chan struct{})
	)
	if planned {
		f, rev = job.Planned(), job.PlannedRevision
		close(read)
	} else {
		// The two records are read at once: one round trip's wait, not two.
		jobs.Go(func() {
			defer close(read)
			f, rev, readErr = d.Store.FollowUp(ctx, job.ClinicID, job.SessionID, job.Step)
		})
	}
	var sessions SessionReader = d.Store
	if d.Sessions != nil {
		sessions = d.Sessions
	}
	sess, _, err := sessions.Session(ctx, job.ClinicID, job.SessionID)
	<-read
	if errors.Is(err, aftercare.ErrNotFound) {
		return sess, f, 0, jobs.GiveUp(errors.New("no session record for this follow-up"))
	}
	if err != nil {
		return sess, f, 0, err
	}
	if errors.Is(readErr, aftercare.ErrNotFound) {
		return sess, f, 0, jobs.GiveUp(errors.New("no follow-up record for this job"))
	}
	return sess, f, rev, readErr
}

// DeadLetter stores a job given up on and then marks its record dead, in
// that order, so a record never says dead without a dead letter behind it.
func (d *Dispatcher) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	var job aftercare.DueFollowUp
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		// followups.due.<clinic>.<session>.<step>: the clinic is the subject's.
		return d.Store.DeadLetter(ctx, "followup", natsjs.UndecodableSuffix(msg.Subject(), 2), msg.Data(), reason)
	}
	data := msg.Data()
	if job.Client != nil || job.Service != "" {
		// Kept without the client's details: the letter names its
		// follow-up, and an erasure that has passed its dead letters
		// already would not find a later one by the client's number.
		bare := job
		bare.Client, bare.Service = nil, ""
		var err error
		if data, err = json.Marshal(bare); err != nil {
			return err
		}
	}
	if err := d.Store.DeadLetter(ctx, "followup", natsjs.DueSuffix(job), data, reason); err != nil {
		return err
	}
	d.Stats.DeadLettered.Add(1)
	f, rev, err := d.Store.FollowUp(ctx, job.ClinicID, job.SessionID, job.Step)
	if err != nil || f.PlanVersion != job.PlanVersion || f.Status == aftercare.FollowUpSent {
		return nil // nothing of this plan to mark; the dead letter is stored
	}
	f.Status, f.Reason, f.UpdatedAt = aftercare.FollowUpDead, reason, d.Now()
	if _, err := d.Store.SaveFollowUp(ctx, f, rev); err != nil {
		d.Log.Warn("dead-lettered but could not mark the record", "err", err)
	}
	return nil
}

// jobLog logs with a job's clinic, session and step. It makes that logger
// only when a line is written: most texts write none at level warn, and
// making it for every text cost a sixtieth of the worker's CPU.
type jobLog struct {
	base *slog.Logger
	job  aftercare.DueFollowUp
	made *slog.Logger
}

func (l *jobLog) get() *slog.Logger {
	if l.made == nil {
		l.made = l.base.With("clinic", l.job.ClinicID, "session", l.job.SessionID, "step", l.job.Step)
	}
	return l.made
}

func (l *jobLog) Info(msg string, args ...any)  { l.log(slog.LevelInfo, msg, args) }
func (l *jobLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args) }
func (l *jobLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args) }

func (l *jobLog) log(level slog.Level, msg string, args []any) {
	if ctx := context.Background(); l.base.Enabled(ctx, level) {
		l.get().Log(ctx, level, msg, args...)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RateLimits holds one token bucket per sender, in this process only: for
// tests and tools of one process. Workers share package sendrate's.
type RateLimits struct {
	mu      sync.Mutex
	perSec  float64
	burst   int
	senders map[string]*rate.Limiter
}

// NewRateLimits allows perSecond messages per sender with the given burst.
func NewRateLimits(perSecond float64, burst int) *RateLimits {
	return &RateLimits{perSec: perSecond, burst: burst, senders: map[string]*rate.Limiter{}}
}

// Reserve takes a send slot for sender and returns how long to wait for it.
// ok is false when the wait would exceed MaxRateWait; no slot is taken then.
func (r *RateLimits) Reserve(_ context.Context, sender string) (wait time.Duration, ok bool, err error) {
	r.mu.Lock()
	l, found := r.senders[sender]
	if !found {
		l = rate.NewLimiter(rate.Limit(r.perSec), r.burst)
		r.senders[sender] = l
	}
	r.mu.Unlock()
	res := l.Reserve()
	wait = res.Delay()
	if wait > MaxRateWait {
		res.Cancel()
		return wait, false, nil
	}
	return wait, true, nil
}
