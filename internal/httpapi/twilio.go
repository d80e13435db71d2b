package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/delivery"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/spool"
	"github.com/aftercare/aftercare/internal/twilio"
)

// WorkerAPI holds what the worker's Twilio webhooks need.
type WorkerAPI struct {
	Verifier *twilio.WebhookVerifier
	Store    *natsjs.Store
	Clinics  *clinics.Directory
	Ready    func() error
	Live     func() error // when set, fails /healthz (liveness): NATS away too long
	Now      func() time.Time
	Log      *slog.Logger
	Metrics  http.Handler // serves /metrics; may be nil
	// Spool keeps a client's text on disk when JetStream cannot store it
	// within StoreWait (a stream electing a leader); may be nil.
	Spool     *spool.Spool
	StoreWait time.Duration
}

// maxWebhookBody is far above any real Twilio webhook (a 1,600-character
// body and a few dozen parameters).
const maxWebhookBody = 64 << 10

var emptyTwiML = []byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)

// webhookForm reads, authenticates and parses a Twilio webhook. It writes
// the error response itself and returns ok=false when the request is
// refused; nothing has been recorded then.
func (a *WorkerAPI) webhookForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeText(w, http.StatusUnsupportedMediaType, "Content-Type must be application/x-www-form-urlencoded")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeText(w, http.StatusRequestEntityTooLarge, "body over "+strconv.Itoa(maxWebhookBody)+" bytes")
		return nil, false
	}
	if err != nil {
		writeText(w, http.StatusBadRequest, "could not read the body")
		return nil, false
	}
	if err := a.Verifier.Verify(r, body); err != nil {
		// Log where it came from, never the body: it may be a client's text.
		a.Log.Warn("webhook refused", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		writeText(w, http.StatusForbidden, err.Error())
		return nil, false
	}
	form, err := twilio.ParseWebhook(body)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return form, true
}

// inbound takes a client's text. It is stored in JetStream before Twilio
// gets its 200, so a crash after the answer loses nothing; triage and any
// reply to the client follow from the stored copy.
func (a *WorkerAPI) inbound(w http.ResponseWriter, r *http.Request) {
	form, ok := a.webhookForm(w, r)
	if !ok {
		return
	}
	in, err := twilio.ParseInbound(form)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	in.ReceivedAt = a.Now()
	if c, ok := a.Clinics.BySender(in.To, in.MessagingServiceSID); ok {
		in.ClinicID = c.ID
	}
	duplicate, err := a.storeInbound(r.Context(), in)
	if err != nil {
		a.Log.Error("could not store inbound text", "message_sid", in.MessageSID, "err", err)
		writeText(w, http.StatusServiceUnavailable, "temporarily unable to store the message")
		return
	}
	a.Log.Info("inbound text stored", "clinic", in.ClinicID, "message_sid", in.MessageSID, "from", aftercare.MaskPhone(in.From), "duplicate", duplicate)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(emptyTwiML)
}

// storeInbound stores a client's text in JetStream, asking again for up to
// StoreWait, and failing that in the spool, whence the worker moves it to
// JetStream once it takes writes again. Twilio does not retry a webhook
// that got a 5xx by default (and at most for 15 s when told to), so a text
// refused here during a leader election would be lost.
func (a *WorkerAPI) storeInbound(ctx context.Context, in aftercare.InboundSMS) (duplicate bool, err error) {
	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if a.StoreWait > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, a.StoreWait)
	}
	defer cancel()
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		if duplicate, err = a.Store.PublishInbound(waitCtx, in); err == nil {
			return duplicate, nil
		}
		if a.StoreWait <= 0 || !pauseFor(waitCtx, pause) {
			break
		}
	}
	if a.Spool == nil || ctx.Err() != nil {
		return false, err
	}
	data, jerr := json.Marshal(in)
	if jerr != nil {
		return false, jerr
	}
	if serr := a.Spool.Put(in.MessageSID, data); serr != nil {
		return false, fmt.Errorf("%w; and the spool: %w", err, serr)
	}
	a.Log.Warn("inbound text kept in the local spool until JetStream takes writes again", "message_sid", in.MessageSID, "err", err)
	return false, nil
}

// pauseFor waits d, or returns false when ctx ends first.
func pauseFor(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// DrainSpool moves spooled texts into JetStream: now, then every interval
// until ctx ends. The MessageSid de-duplicates one that reached JetStream
// after all.
func (a *WorkerAPI) DrainSpool(ctx context.Context, every time.Duration) {
	if a.Spool == nil {
		return
	}
	for {
		n, err := a.Spool.Drain(func(data []byte) error {
			var in aftercare.InboundSMS
			if err := json.Unmarshal(data, &in); err != nil {
				return fmt.Errorf("spooled text unreadable: %w", err)
			}
			storeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, err := a.Store.PublishInbound(storeCtx, in)
			return err
		})
		if n > 0 {
			a.Log.Info("spooled inbound texts stored in JetStream", "count", n)
		}
		if err != nil {
			a.Log.Warn("spooled inbound texts wait for JetStream", "waiting", a.Spool.Len(), "err", err)
		}
		if !pauseFor(ctx, every) {
			return
		}
	}
}

// status takes a delivery status. What it is about (follow-up or on-call
// text, clinic, session, step) is in the callback URL's query, which
// Twilio's signature covers.
func (a *WorkerAPI) status(w http.ResponseWriter, r *http.Request) {
	form, ok := a.webhookForm(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	st := aftercare.DeliveryStatus{
		MessageSID: form.Get("MessageSid"), Status: strings.ToLower(form.Get("MessageStatus")), ErrorCode: form.Get("ErrorCode"),
		To: form.Get("To"), ClinicID: q.Get("clinic"), Kind: q.Get("kind"), SessionID: q.Get("session"),
		Escalation: q.Get("escalation"), Outbound: q.Get("outbound"), ReceivedAt: a.Now(),
	}
	step, _ := strconv.Atoi(q.Get("step"))
	st.Step = aftercare.Step(step)
	// The ids name records and subjects: bounded as every id is, even
	// though our own callback URLs carry them (a leaked auth token signs
	// any URL).
	for field, v := range map[string]string{"session": st.SessionID, "escalation": st.Escalation, "outbound": st.Outbound, "MessageStatus": st.Status, "ErrorCode": st.ErrorCode, "To": st.To} {
		if problem := aftercare.IDProblem(v); v != "" && problem != "" {
			writeText(w, http.StatusBadRequest, field+" "+problem)
			return
		}
	}
	if _, known := a.Clinics.Lookup(st.ClinicID); !known || st.Status == "" ||
		(st.Kind == delivery.KindFollowUp && (st.SessionID == "" || st.Step < 1)) ||
		(st.Kind == delivery.KindOnCall && st.Escalation == "") ||
		(st.Kind == delivery.KindStaffReply && st.Outbound == "") ||
		(st.Kind != delivery.KindFollowUp && st.Kind != delivery.KindOnCall && st.Kind != delivery.KindStaffReply) {
		writeText(w, http.StatusBadRequest, "not a status callback this service asked for")
		return
	}
	if err := a.Store.PublishDelivery(r.Context(), st); err != nil {
		a.Log.Error("could not store delivery status", "message_sid", st.MessageSID, "err", err)
		writeText(w, http.StatusServiceUnavailable, "temporarily unable to store the status")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}
