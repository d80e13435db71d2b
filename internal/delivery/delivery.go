// Package delivery records Twilio's status callbacks against what we sent:
// a follow-up's delivery, or the on-call text of an escalation. A permanent
// failure code marks the client's number as failing (or opted out).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/dispatch"
	"github.com/aftercare/aftercare/internal/jobs"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/sms"
)

// Kinds of message a status callback can be about.
const (
	KindFollowUp = "followup"
	KindOnCall   = "oncall"
	// KindStaffReply is a reply staff wrote in the inbox.
	KindStaffReply = "staff_reply"
)

// StaffReplies records the delivery of staff replies (the inbox's).
type StaffReplies interface {
	RecordStatus(ctx context.Context, st aftercare.DeliveryStatus) error
}

// Stats counts statuses since start.
type Stats struct {
	Recorded  atomic.Int64
	Delivered atomic.Int64
	Failed    atomic.Int64 // undelivered or failed
	Ignored   atomic.Int64 // stale or for a message we no longer track
}

// rank orders statuses so a late "sent" never overwrites "delivered":
// Twilio's callbacks can arrive out of order.
func rank(status string) int {
	switch status {
	case "accepted", "scheduled", "queued":
		return 1
	case "sending":
		return 2
	case "sent":
		return 3
	case "delivered", "undelivered", "failed", "canceled":
		return 4
	case "read":
		return 5
	}
	return 0
}

// Recorder handles stored status callbacks.
type Recorder struct {
	Store *natsjs.Store
	// StaffReplies takes statuses of staff replies; nil ignores them.
	StaffReplies StaffReplies
	Now          func() time.Time
	Log          *slog.Logger
	Stats        *Stats
}

// maxEarly bounds how often a status that arrived before the worker
// recorded the send is looked at again.
const maxEarly = 20

// Handle is the jobs.Handler for the delivery consumer.
func (r *Recorder) Handle(ctx context.Context, msg jetstream.Msg) error {
	st, attempt, err := jobs.Decode[aftercare.DeliveryStatus](msg, "delivery status")
	if err != nil {
		return err
	}
	return r.Record(ctx, st, attempt)
}

// Record applies one status; attempt counts deliveries of it.
func (r *Recorder) Record(ctx context.Context, st aftercare.DeliveryStatus, attempt int) error {
	code, _ := strconv.Atoi(st.ErrorCode)
	failed := st.Status == "undelivered" || st.Status == "failed"
	log := r.Log.With("clinic", st.ClinicID, "sid", st.MessageSID, "status", st.Status)
	var err error
	switch st.Kind {
	case KindFollowUp:
		err = r.followUp(ctx, st, attempt)
	case KindOnCall:
		_, err = r.Store.UpdateEscalation(ctx, st.ClinicID, st.Escalation, func(e *aftercare.Escalation) error {
			if e.Notice.OnCallSMSSID != st.MessageSID || rank(st.Status) < rank(e.Notice.OnCallStatus) {
				return errUnchanged
			}
			e.Notice.OnCallStatus = st.Status
			if failed {
				e.Notice.OnCallError = "Twilio status " + st.Status + ", error " + st.ErrorCode
			}
			return nil
		})
		if failed && err == nil {
			log.Error("on-call text was not delivered", "escalation", st.Escalation, "error_code", st.ErrorCode)
		}
	case KindStaffReply:
		if r.StaffReplies == nil {
			err = errUnchanged
			break
		}
		err = r.StaffReplies.RecordStatus(ctx, st)
	default:
		return jobs.GiveUp(fmt.Errorf("status for unknown kind %q", st.Kind))
	}
	if errors.Is(err, errUnchanged) || errors.Is(err, aftercare.ErrNotFound) {
		r.Stats.Ignored.Add(1)
		return nil
	}
	if err != nil {
		return err
	}
	r.Stats.Recorded.Add(1)
	if st.Status == "delivered" {
		r.Stats.Delivered.Add(1)
	}
	if failed {
		r.Stats.Failed.Add(1)
		if st.Kind == KindFollowUp && st.To != "" {
			r.noteNumber(ctx, log, st, code)
		}
	}
	return nil
}

var errUnchanged = errors.New("status unchanged")

// errEarly is a status that came before the worker recorded the send.
var errEarly = errors.New("status arrived before the send was recorded")

func (r *Recorder) followUp(ctx context.Context, st aftercare.DeliveryStatus, attempt int) error {
	applied, early := false, false
	err := r.Store.UpdateFollowUp(ctx, st.ClinicID, st.SessionID, st.Step, func(f *aftercare.FollowUp) bool {
		applied, early = false, f.MessageSID == "" && f.Status == aftercare.FollowUpSending
		if f.MessageSID != st.MessageSID || rank(st.Status) < rank(f.Delivery) {
			return false
		}
		f.Delivery, f.DeliveryAt = st.Status, st.ReceivedAt
		if st.ErrorCode != "" {
			f.DeliveryError = "Twilio error " + st.ErrorCode
		}
		applied = true
		return true
	})
	switch {
	case err != nil:
		return err
	case early && attempt < maxEarly:
		return jobs.Snooze(time.Second, errEarly.Error())
	case !applied:
		return errUnchanged
	}
	return nil
}

func (r *Recorder) noteNumber(ctx context.Context, log *slog.Logger, st aftercare.DeliveryStatus, code int) {
	var err error
	switch sms.VerdictOf(code) {
	case sms.NumberOptedOut:
		now := r.Now()
		err = r.Store.RecordOptOut(ctx, st.ClinicID, st.To, aftercare.ConsentEntry{Kind: aftercare.ConsentOptOut, At: now,
			Channel: aftercare.ChannelCarrier, Source: fmt.Sprintf("twilio error %d", code), MessageSID: st.MessageSID, RecordedAt: now}, now)
		log.Info("carrier reports the client opted out", "error_code", code)
	case sms.NumberFailing:
		err = dispatch.MarkFailing(ctx, r.Store, st.ClinicID, st.To, code, r.Now())
		log.Warn("number marked failing", "to", aftercare.MaskPhone(st.To), "error_code", code)
	}
	if err != nil {
		log.Warn("could not record the number's state", "err", err)
	}
}
