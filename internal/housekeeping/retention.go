package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/erasure"
	"github.com/aftercare/aftercare/internal/inbox"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/staff"
)

// DefaultDeadLetterRetention keeps a dead letter two weeks: it is there for
// an operator to read and replay, which happens within days, and it holds
// a client's data (an event, a text) that is no use to anyone after that.
const DefaultDeadLetterRetention = 14 * 24 * time.Hour

// Retention deletes each clinic's records older than its retention says,
// per kind. The streams and buckets expire everyone's records at the
// service's ages (NATS_RETENTION, NATS_ESCALATION_RETENTION); a clinic
// that must keep something for less is served here, a bounded amount each
// run.
type Retention struct {
	Store   *natsjs.Store
	Erasure Expirer
	// Audit, if set, is the audit trail whose ids of conversations no
	// longer held are deleted (forgetAuditIDs).
	Audit   *staff.Audit
	Clinics []aftercare.Clinic
	// Texts and Escalations are the service's own ages (NATS_RETENTION,
	// NATS_ESCALATION_RETENTION): only a clinic's shorter one needs work.
	Texts, Escalations time.Duration
	// MaxPerRun bounds what one run deletes of each kind.
	MaxPerRun int
	Now       func() time.Time
	Log       *slog.Logger
}

// Expirer erases what is held about a client before a time
// (erasure.Service.Expire).
type Expirer interface {
	Expire(ctx context.Context, clinic, phone string, before time.Time) (erasure.Result, error)
}

var _ Expirer = (*erasure.Service)(nil)

// RetentionResult says what one run deleted.
type RetentionResult struct {
	Clients     int // clients whose texts, sessions and conversation went
	Escalations int
	DeadLetters int
	// AuditIDs counts the audit ids deleted of conversations nothing is
	// held of any more (forgetAuditIDs).
	AuditIDs int
	// More is set when a kind hit MaxPerRun: the next run goes on.
	More bool
	// ClientsFailed are clients whose expiry failed this run (logged by
	// masked number); the next run tries them again.
	ClientsFailed int
}

// Ages returns a clinic's retention of each kind, its own or the default.
func (r *Retention) Ages(c aftercare.Clinic) (texts, escalations, deadLetters time.Duration) {
	texts, escalations, deadLetters = r.Texts, r.Escalations, min(DefaultDeadLetterRetention, r.Texts)
	if c.Retention.TextsFor > 0 {
		texts = c.Retention.TextsFor
	}
	if c.Retention.EscalationsFor > 0 {
		escalations = c.Retention.EscalationsFor
	}
	if c.Retention.DeadLettersFor > 0 {
		deadLetters = c.Retention.DeadLettersFor
	}
	return texts, escalations, deadLetters
}

// Run deletes what is past every clinic's retention, up to MaxPerRun of
// each kind. One clinic's failure (a record it cannot read, say) does not
// stop the others': Run goes on, and returns the failures joined.
func (r *Retention) Run(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	var errs []error
	now := r.Now()
	for _, c := range r.Clinics {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		texts, escalations, deadLetters := r.Ages(c)
		if texts < r.Texts && res.Clients < r.MaxPerRun {
			n, failed, err := r.expireClients(ctx, c.ID, now.Add(-texts), r.MaxPerRun-res.Clients)
			res.Clients += n
			res.ClientsFailed += failed
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s's texts: %w", c.ID, err))
			}
		}
		if escalations < r.Escalations && res.Escalations < r.MaxPerRun {
			n, err := r.expireEscalations(ctx, c.ID, now.Add(-escalations), r.MaxPerRun-res.Escalations)
			res.Escalations += n
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s's escalations: %w", c.ID, err))
			}
		}
		if deadLetters < r.Texts && res.DeadLetters < r.MaxPerRun {
			n, err := r.expireDeadLetters(ctx, c.ID, now.Add(-deadLetters), r.MaxPerRun-res.DeadLetters)
			res.DeadLetters += n
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s's dead letters: %w", c.ID, err))
			}
		}
		// Every clinic's, at whatever age: the records went at the
		// service's age too, and the ids have none of their own.
		if r.Audit != nil && res.AuditIDs < r.MaxPerRun {
			n, err := r.forgetAuditIDs(ctx, c.ID, r.MaxPerRun-res.AuditIDs)
			res.AuditIDs += n
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s's audit ids: %w", c.ID, err))
			}
		}
	}
	res.More = res.Clients >= r.MaxPerRun || res.Escalations >= r.MaxPerRun || res.DeadLetters >= r.MaxPerRun || res.AuditIDs >= r.MaxPerRun
	return res, errors.Join(errs...)
}

// expireClients erases the clients whose last session and last text are
// both older than cutoff, as an erasure does (escalations, a STOP and the
// audit trail stay), but for their consent record and anything newer than
// cutoff, a staff reply written since among it (erasure.Service.Expire).
// A number held only in staff replies is expired once one of them is older
// than cutoff.
//
// One client's failure does not stop the others': it is logged (masked
// number), counted in failed, and the run goes on.
func (r *Retention) expireClients(ctx context.Context, clinic string, cutoff time.Time, limit int) (n, failed int, err error) {
	last := map[string]time.Time{} // phone: their latest session end or text
	note := func(phone string, at time.Time) {
		if at.After(last[phone]) || last[phone].IsZero() {
			last[phone] = at
		}
	}
	keys, err := r.Store.Keys(ctx, natsjs.BucketClients, clinic+".*")
	if err != nil {
		return 0, 0, err
	}
	for _, key := range keys {
		digits := strings.TrimPrefix(key, clinic+".")
		rec, _, err := r.Store.Client(ctx, clinic, "+"+digits)
		if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, natsjs.ErrCorrupt) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		note(rec.Phone, rec.UpdatedAt)
		for _, s := range rec.Sessions {
			note(rec.Phone, s.End)
		}
	}
	// A reply that cannot be decoded says nothing of when its client last
	// texted; the erasure decides whose it is.
	replies, bad, err := r.Store.ReadableReplies(ctx, clinic)
	if err != nil {
		return 0, 0, err
	}
	if len(bad) > 0 && r.Log != nil {
		r.Log.Warn("retention: replies that cannot be decoded", "clinic", clinic, "count", len(bad))
	}
	for _, rep := range replies {
		note(rep.From, rep.ReceivedAt)
	}
	// A staff reply does not date its client (Expire keeps one written
	// since the cutoff, and takes the rest); one kept so outlives the
	// client's records, and its number is expired again once a reply of
	// it is older than the cutoff.
	if err := r.noteStaffReplies(ctx, clinic, cutoff, last); err != nil {
		return 0, 0, err
	}
	var expired []string
	for phone, at := range last {
		if at.Before(cutoff) && phone != "" {
			expired = append(expired, phone)
		}
	}
	slices.Sort(expired)
	// The erasure's audit entry names retention as who erased.
	ctx = aftercare.WithAuthor(ctx, aftercare.Author{Kind: aftercare.AuthorSystem, Name: "retention"})
	for _, phone := range expired[:min(len(expired), limit)] {
		if ctx.Err() != nil {
			return n, failed, ctx.Err()
		}
		if _, err := r.Erasure.Expire(ctx, clinic, phone, cutoff); err != nil {
			failed++
			if r.Log != nil {
				r.Log.Error("retention: client not expired; tried again next run", "clinic", clinic, "client", aftercare.MaskPhone(phone), "err", err)
			}
			continue
		}
		n++
	}
	if failed > 0 {
		// The numbers are in the log, masked; the error names none.
		return n, failed, fmt.Errorf("%d of the clinic's clients could not be expired (see the log)", failed)
	}
	return n, 0, nil
}

// noteStaffReplies adds to last the numbers held only in staff replies
// (their client's other records gone) of which a reply written before
// cutoff is held, dated by it. One that cannot be decoded cannot be dated:
// the bucket's own age (NATS_RETENTION) takes it.
func (r *Retention) noteStaffReplies(ctx context.Context, clinic string, cutoff time.Time, last map[string]time.Time) error {
	keys, err := r.Store.Keys(ctx, natsjs.BucketInbox, natsjs.OutboundKey(clinic, "*", "*"))
	if err != nil {
		return err
	}
	for _, key := range keys {
		o, _, err := natsjs.GetRecord[inbox.Outbound](ctx, r.Store, r.Store.InboxBucket(), key)
		if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, natsjs.ErrCorrupt) {
			continue
		}
		if err != nil {
			return err
		}
		if _, held := last[o.To]; held || o.To == "" || !o.CreatedAt.Before(cutoff) {
			continue
		}
		last[o.To] = o.CreatedAt
	}
	return nil
}

// expireEscalations deletes resolved escalations closed (resolved, or
// raised when that time is not known) before cutoff, with their chain
// timers. One still open or acknowledged is never deleted, whatever its
// age: someone has still to act on it, and its record is how.
func (r *Retention) expireEscalations(ctx context.Context, clinic string, cutoff time.Time, limit int) (int, error) {
	// One that cannot be decoded cannot be dated: it stays until the
	// service's own age (NATS_ESCALATION_RETENTION) takes it.
	all, bad, err := r.Store.ReadableEscalations(ctx, clinic)
	if err != nil {
		return 0, err
	}
	if len(bad) > 0 && r.Log != nil {
		r.Log.Warn("retention: escalations that cannot be decoded", "clinic", clinic, "count", len(bad))
	}
	n := 0
	for _, e := range all {
		if n >= limit || e.Status != aftercare.EscalationResolved || !closedAt(e).Before(cutoff) {
			continue
		}
		if err := r.Store.CancelChain(ctx, clinic, e.ID, true); err != nil {
			return n, err
		}
		if err := r.Store.EraseKeys(ctx, natsjs.BucketEscalations, natsjs.EscalationKey(clinic, e.ID)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// closedAt is when an escalation's clinical episode closed: its
// resolution, so a record resolved today after years open is kept its
// full age; when it was raised if the resolution carries no time.
func closedAt(e aftercare.Escalation) time.Time {
	if e.ResolvedAt.After(e.RaisedAt) {
		return e.ResolvedAt
	}
	return e.RaisedAt
}

// errEnough stops a scan that has found what it may take this run.
var errEnough = errors.New("enough for this run")

// expireDeadLetters deletes the clinic's dead letters stored before
// cutoff. The stream is in time order: the scan stops at the first newer.
func (r *Retention) expireDeadLetters(ctx context.Context, clinic string, cutoff time.Time, limit int) (int, error) {
	var seqs []uint64
	err := r.Store.EachMessage(ctx, natsjs.StreamDeadLetter, "deadletter.>", func(m natsjs.StreamMsg) error {
		if !m.At.Before(cutoff) || len(seqs) >= limit {
			return errEnough
		}
		if natsjs.DeadLetterClinic(m.Subject) == clinic {
			seqs = append(seqs, m.Seq)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, err
	}
	return len(seqs), r.Store.EraseSeqs(ctx, natsjs.StreamDeadLetter, seqs...)
}

// AddRetention runs r on spec in the housekeeping cron c.
func AddRetention(ctx context.Context, c *cron.Cron, spec string, r *Retention) error {
	_, err := c.AddFunc(spec, func() {
		start := time.Now()
		res, err := r.Run(ctx)
		if err != nil {
			// Each clinic's failure, the others' retention done all the same.
			r.Log.Error("retention failed", "err", err)
		}
		r.Log.Info("retention done", "clients", res.Clients, "clients_failed", res.ClientsFailed, "escalations", res.Escalations, "dead_letters", res.DeadLetters, "audit_ids", res.AuditIDs,
			"more", res.More, "took", time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return fmt.Errorf("RETENTION_SCHEDULE %q: %w", spec, err)
	}
	return nil
}
