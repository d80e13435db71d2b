// Package intake accepts session events from clinics' booking systems: it
// decodes and validates them, checks the clinic's credential, and stores them
// durably in JetStream before anything is acknowledged. HTTP and NATS callers
// share it, so both get the same rules and the same answers.
package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/quota"
)

// Service accepts session events.
type Service struct {
	Store   *natsjs.Store
	Clinics *clinics.Directory
	Now     func() time.Time
	Log     *slog.Logger
	MaxBody int64
	// Results counts outcomes, for metrics; may be nil.
	Results *Results
	// Policy is the planner's: intake plans each event as the planner will,
	// to count its texts and to say when none will go.
	Policy plan.Policy
	// Quotas counts texts against the daily quotas; nil counts nothing.
	Quotas *quota.Keeper
}

// Accepted is the answer to an accepted event.
type Accepted struct {
	EventID   string `json:"event_id"`
	SessionID string `json:"session_id"`
	// Duplicate is true when the event id had been accepted before; nothing changed.
	Duplicate bool `json:"duplicate"`
	// Note says why a session accepted will get no texts.
	Note string `json:"note,omitempty"`
}

// NoteNothingToSend answers a session whose follow-ups were all due before
// its event arrived.
const NoteNothingToSend = "accepted, but no follow-up will be texted: each was " + plan.SkipBeforeEvent

// MalformedError is a body that is not a session event at all.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed request: " + e.Reason }

// ErasingError is an event for a client whose erasure is under way: it
// is refused whole, so nothing the erasure removes is made again.
type ErasingError struct {
	Job string
	// Consent is set when what was refused is consent given or renewed
	// through the API, not a session event.
	Consent bool
}

func (e *ErasingError) Error() string {
	if e.Consent {
		return "this client's data is being erased (erasure job " + e.Job + "): consent given or renewed is refused until it is done " +
			"(an opt-out is taken, and kept); record it again once GET /v1/erasures/" + e.Job + " says done"
	}
	return "this client's data is being erased (erasure job " + e.Job + "): their session events are refused until it is done; " +
		"send the event again once GET /v1/erasures/" + e.Job + " says done, if the client is to be followed up afresh"
}

// TooLargeError is a body over the size limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("request body is over the %d-byte limit", e.Limit)
}

// Submit decodes body as an event of the (already authenticated) clinic and
// stores it. Nothing is stored unless every check passes.
func (s *Service) Submit(ctx context.Context, clinic *clinics.Clinic, body []byte) (Accepted, error) {
	if int64(len(body)) > s.MaxBody {
		return Accepted{}, &TooLargeError{Limit: s.MaxBody}
	}
	ev, err := Decode(body)
	if err != nil {
		return Accepted{}, err
	}
	accs, err := s.SubmitEvents(ctx, clinic, ev)
	if err != nil {
		return Accepted{}, err
	}
	return accs[0], nil
}

// SubmitEvents validates events already decoded (by a booking system's
// adapter, say) and stores them. Every event is checked before any is
// stored, so a pair such as "cancel the old booking, plan the new one" is
// never half-applied.
func (s *Service) SubmitEvents(ctx context.Context, clinic *clinics.Clinic, events ...aftercare.SessionEvent) ([]Accepted, error) {
	for i := range events {
		ev := &events[i]
		if ev.ClinicID != "" && ev.ClinicID != clinic.ID {
			return nil, fmt.Errorf("event names clinic %q: %w", ev.ClinicID, aftercare.ErrForbidden)
		}
		ev.ClinicID = clinic.ID
		if err := ev.Validate(s.Now(), clinic.Checks()); err != nil {
			return nil, err
		}
		if ev.Consent != nil && ev.Consent.Source == "" {
			ev.Consent.Source = aftercare.ChannelAPI
		}
	}
	if err := s.refuseErasing(ctx, clinic.ID, events); err != nil {
		return nil, err
	}
	// Count the texts before storing anything: an event over a quota is
	// refused whole, and one stored is counted.
	now := s.Now()
	grants := make([]*quota.Grant, len(events))
	notes := make([]string, len(events))
	for i, ev := range events {
		texts, note := s.plannedTexts(clinic, ev, now)
		if note == "" && len(texts) > 0 {
			confirmation, consent, err := s.consent(ctx, clinic, ev, now)
			if err != nil {
				returnAll(ctx, grants)
				return nil, err
			}
			texts, note = append(texts, confirmation...), consent
		}
		notes[i] = note
		if s.Quotas == nil || len(texts) == 0 {
			continue
		}
		g, err := s.Quotas.Take(ctx, clinic.ID, clinic.Location, s.Quotas.Defaults.For(clinic.Quota), texts)
		if err != nil {
			returnAll(ctx, grants)
			var over *quota.ExceededError
			if errors.As(err, &over) {
				if accs, ok := s.appliedBefore(ctx, clinic.ID, events); ok {
					return accs, nil
				}
				s.Quotas.Refused(clinic.ID, over.Quota)
				s.Log.Info("session event refused: over quota", "clinic", clinic.ID, "event", ev.EventID, "session", ev.SessionID,
					"quota", over.Quota, "limit", over.Limit, "day", over.Day)
			}
			return nil, err
		}
		grants[i] = g
	}
	accs := make([]Accepted, 0, len(events))
	for i, ev := range events {
		dup, err := s.Store.PublishEvent(ctx, clinic.ID, ev)
		if err != nil {
			returnAll(ctx, grants[i:]) // the events not stored; those stored are duplicates when retried
			return nil, err
		}
		if dup {
			grants[i].Return(ctx) // it was counted when first stored
			notes[i] = ""
		}
		s.Log.Info("session event accepted", "clinic", clinic.ID, "event", ev.EventID, "session", ev.SessionID, "kind", ev.Kind, "duplicate", dup)
		accs = append(accs, Accepted{EventID: ev.EventID, SessionID: ev.SessionID, Duplicate: dup, Note: notes[i]})
	}
	return accs, nil
}

// refuseErasing refuses events naming a client whose erasure is under way.
func (s *Service) refuseErasing(ctx context.Context, clinic string, events []aftercare.SessionEvent) error {
	for _, ev := range events {
		if ev.Client == nil {
			continue
		}
		job, err := s.Store.Erasing(ctx, clinic, ev.Client.Phone)
		if err != nil {
			return err
		}
		if job != "" {
			s.Log.Info("session event refused: the client is being erased", "clinic", clinic, "event", ev.EventID, "session", ev.SessionID, "job", job)
			return &ErasingError{Job: job}
		}
	}
	return nil
}

// plannedTexts plans ev as the planner will, with the planner's own function, and
// returns the texts it would send; note says why a session gets none.
func (s *Service) plannedTexts(clinic *clinics.Clinic, ev aftercare.SessionEvent, now time.Time) ([]quota.Text, string) {
	end, ok := ev.PlanEnd()
	if !ok || ev.Client == nil {
		return nil, ""
	}
	steps := s.Policy.Plan(end, now, clinic.ClientLocation(ev.Client.TimeZone), clinic.Window)
	var texts []quota.Text
	backdated := 0
	for _, st := range steps {
		switch st.Skip {
		case "":
			texts = append(texts, quota.Text{Recipient: ev.Client.Phone, Due: st.DueAt})
		case plan.SkipBeforeEvent:
			backdated++
		}
	}
	if len(steps) > 0 && backdated == len(steps) {
		return nil, NoteNothingToSend
	}
	return texts, ""
}

// NoteNoConsent answers a session of a clinic that requires consent, for a
// client with none on record: the event is kept, its texts will be skipped.
const NoteNoConsent = "accepted, but the clinic requires consent and none is recorded for this client: " +
	"each follow-up is skipped unless consent is recorded (a session event's consent, or the client texting START) before it falls due"

// consent reads the client's consent record where the clinic's settings
// need it: note says when a clinic that requires consent has none on record
// (the event is still accepted), and confirmation is the first session's
// confirmation text, counted against the quotas like the tips.
func (s *Service) consent(ctx context.Context, clinic *clinics.Clinic, ev aftercare.SessionEvent, now time.Time) (confirmation []quota.Text, note string, err error) {
	if !clinic.RequireConsent && !clinic.ConfirmFirstText || ev.Client == nil {
		return nil, "", nil
	}
	rec, err := s.Store.Consent(ctx, clinic.ID, ev.Client.Phone)
	if err != nil && !errors.Is(err, aftercare.ErrNotFound) {
		return nil, "", err
	}
	consented := ev.Consent != nil || rec.Consented()
	if clinic.RequireConsent && !consented {
		return nil, NoteNoConsent, nil
	}
	if clinic.ConfirmFirstText && rec.ConfirmationAt.IsZero() {
		confirmation = []quota.Text{{Recipient: ev.Client.Phone, Due: now}}
	}
	return confirmation, "", nil
}

// appliedBefore answers a retry of events already applied, which a quota
// since filled would otherwise refuse: a booking system retrying a
// timed-out request must not be told its accepted event was refused.
func (s *Service) appliedBefore(ctx context.Context, clinic string, events []aftercare.SessionEvent) ([]Accepted, bool) {
	accs := make([]Accepted, 0, len(events))
	for _, ev := range events {
		rec, _, err := s.Store.Session(ctx, clinic, ev.SessionID)
		if err != nil || !slices.Contains(rec.RecentEvents, ev.EventID) {
			return nil, false
		}
		accs = append(accs, Accepted{EventID: ev.EventID, SessionID: ev.SessionID, Duplicate: true})
	}
	return accs, true
}

func returnAll(ctx context.Context, grants []*quota.Grant) {
	for _, g := range grants {
		g.Return(ctx)
	}
}

// Decode parses a session event strictly: unknown fields and trailing data are
// errors, so a typo in a field name is reported rather than ignored.
func Decode(body []byte) (aftercare.SessionEvent, error) {
	var ev aftercare.SessionEvent
	// encoding/json would mend bad UTF-8 and keep the last of two fields of
	// one name: an event is taken as sent or not at all.
	if !utf8.Valid(body) {
		return ev, &MalformedError{Reason: "body is not UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, &MalformedError{Reason: describeJSONError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ev, &MalformedError{Reason: "unexpected data after the JSON object"}
	}
	if name := repeatedField(body); name != "" {
		return aftercare.SessionEvent{}, &MalformedError{Reason: fmt.Sprintf("field %q appears more than once", name)}
	}
	return ev, nil
}

// repeatedField returns the first field name that appears twice in one
// object of a valid JSON document, or "". Names are compared as
// encoding/json matches them to fields: case-insensitively with Unicode
// simple folding, so "phone", "PHONE" and "phoNe" are one name, and so are
// "session_id" and "ſession_id" (U+017F folds to s) or "kind" and "Kind"
// (U+212A, the Kelvin sign, folds to k); otherwise the last would win.
func repeatedField(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type object struct {
		seen      map[string]bool
		expectKey bool
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.seen != nil && top.expectKey {
			if key, ok := tok.(string); ok {
				folded := foldName(key)
				if top.seen[folded] {
					return key
				}
				top.seen[folded] = true
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil {
				top.expectKey = true // the value is this object; the next key follows it
			}
			stack = append(stack, &object{seen: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			if top != nil {
				top.expectKey = true
			}
			stack = append(stack, &object{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.seen != nil {
				top.expectKey = true // a scalar value: a key comes next
			}
		}
	}
}

// foldName folds a name as encoding/json does (its foldName): every rune
// to the smallest rune of its simple-folding orbit.
func foldName(name string) string {
	return strings.Map(func(r rune) rune {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				return next
			}
			r = next
		}
	}, name)
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return "empty body: want a JSON session event"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the body ends before the JSON object does"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: want a %v, got JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.As(err, &tim):
		return fmt.Sprintf("time %q is not RFC 3339 (e.g. 2026-11-23T15:00:00Z)", tim.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return err.Error()
	}
}

// ErrorResponse is the JSON body of every refused request.
type ErrorResponse struct {
	Error    string              `json:"error"`
	Problems []aftercare.Problem `json:"problems,omitempty"`
}

// Outcome maps an error from Submit, or any domain error, to an HTTP status and
// the body that explains it. NATS answers use the same statuses.
func Outcome(err error) (int, ErrorResponse) {
	switch RejectReason(err) {
	case "invalid":
		var v *aftercare.ValidationError
		errors.As(err, &v)
		return http.StatusUnprocessableEntity, ErrorResponse{Error: "the session event has invalid fields", Problems: v.Problems}
	case "malformed":
		return http.StatusBadRequest, ErrorResponse{Error: err.Error()}
	case "too_large":
		return http.StatusRequestEntityTooLarge, ErrorResponse{Error: err.Error()}
	case "quota_exceeded":
		return http.StatusTooManyRequests, ErrorResponse{Error: err.Error()}
	case "erasing":
		return http.StatusConflict, ErrorResponse{Error: err.Error()}
	case "unauthorized":
		return http.StatusUnauthorized, ErrorResponse{Error: "missing or invalid credential: send Authorization: Bearer <your clinic's intake token>"}
	case "forbidden":
		return http.StatusForbidden, ErrorResponse{Error: err.Error()}
	case "not_found":
		return http.StatusNotFound, ErrorResponse{Error: "not found"}
	default:
		// Details stay in our logs; the caller learns only to retry.
		return http.StatusServiceUnavailable, ErrorResponse{Error: "temporarily unable to store the event; retry with the same event_id"}
	}
}

// NATSReply is the answer to a session event sent as a NATS request.
type NATSReply struct {
	Status int `json:"status"`
	*Accepted
	*ErrorResponse
}

// Reply handles one NATS request: the credential is in the Authorization
// header, as over HTTP, and the answer carries the HTTP status it would have had.
func (s *Service) Reply(ctx context.Context, auth string, body []byte) NATSReply {
	token, _ := strings.CutPrefix(auth, "Bearer ")
	clinic, err := s.Clinics.Authenticate(token)
	var acc Accepted
	if err == nil {
		acc, err = s.Submit(ctx, clinic, body)
	}
	s.Results.Record(acc, err)
	if err != nil {
		status, resp := Outcome(err)
		if status >= 500 {
			s.Log.Error("nats intake failed", "err", err)
		}
		return NATSReply{Status: status, ErrorResponse: &resp}
	}
	return NATSReply{Status: http.StatusAccepted, Accepted: &acc}
}
