package aftercare

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Consent is a client's agreement to receive a clinic's aftercare texts,
// as the booking system or the clinic recorded it: what 10DLC campaign
// vetting and a TCPA dispute ask for.
type Consent struct {
	// At is when the client agreed.
	At time.Time `json:"at"`
	// Channel is how: "web_form", "paper_form", "verbal", "booking_form",
	// "sms"; a key as ServiceKey writes one.
	Channel string `json:"channel"`
	// Wording is what the client was shown or told when they agreed.
	Wording string `json:"wording,omitempty"`
	// Source is who recorded it: the booking system ("calendly"), a
	// staff member, "api" by default.
	Source string `json:"source,omitempty"`
}

// ConsentKind is what a consent entry records.
type ConsentKind string

const (
	ConsentGiven  ConsentKind = "given"   // agreed to texts (from a session event)
	ConsentOptOut ConsentKind = "opt_out" // asked to stop: STOP, plain words, the carrier
	ConsentOptIn  ConsentKind = "opt_in"  // asked to start again: START
)

// Channels of opt-outs and opt-ins we record ourselves.
const (
	ChannelSMSKeyword    = "sms_keyword"     // STOP, START and their synonyms
	ChannelSMSPlainWords = "sms_plain_words" // "please don't text me anymore"
	ChannelCarrier       = "carrier"         // Twilio refused a text: the number opted out there (21610)
	ChannelAPI           = "api"             // the clinic's API
)

// ConsentEntry is one event of a client's consent record.
type ConsentEntry struct {
	Kind    ConsentKind `json:"kind"`
	At      time.Time   `json:"at"`
	Channel string      `json:"channel"`
	Wording string      `json:"wording,omitempty"`
	Source  string      `json:"source,omitempty"`
	// SessionID is the session whose event carried a consent.
	SessionID string `json:"session_id,omitempty"`
	// MessageSID is the client's text that opted out or in.
	MessageSID string    `json:"message_sid,omitempty"`
	RecordedAt time.Time `json:"recorded_at"`
}

// ConsentRecord is a client's consent to one clinic's texts: every
// agreement, opt-out and opt-in, oldest first. Entries are only appended,
// and the record outlives opt-outs: it is the evidence of what the client
// agreed to and when they withdrew.
type ConsentRecord struct {
	ClinicID string         `json:"clinic_id"`
	Phone    string         `json:"phone"`
	Entries  []ConsentEntry `json:"entries"`
	// ConfirmationAt is when the confirmation text of the client's first
	// session was queued (the clinic's confirm_first_text): once per client.
	ConfirmationAt time.Time `json:"confirmation_at,omitzero"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// MaxConsentEntries bounds a record; past it the oldest entries after the
// first agreement go, which stays as the evidence of how it began.
const MaxConsentEntries = 100

// Add appends an entry unless the record holds it already (the same
// session's consent, the same text, the same opt-out again), so a
// redelivered event or reply records it once. It reports whether it added.
func (r *ConsentRecord) Add(e ConsentEntry) bool {
	if slices.ContainsFunc(r.Entries, func(o ConsentEntry) bool { return o.same(e) }) {
		return false
	}
	r.Entries = append(r.Entries, e)
	if over := len(r.Entries) - MaxConsentEntries; over > 0 {
		r.Entries = slices.Delete(r.Entries, 1, 1+over)
	}
	return true
}

func (e ConsentEntry) same(o ConsentEntry) bool {
	if e.Kind != o.Kind {
		return false
	}
	if e.MessageSID != "" || o.MessageSID != "" {
		return e.MessageSID == o.MessageSID
	}
	return e.At.Equal(o.At) && e.Channel == o.Channel && e.Wording == o.Wording && e.Source == o.Source
}

// Consented reports whether the client's latest word is consent: an
// agreement or an opt-in, not followed by an opt-out.
func (r ConsentRecord) Consented() bool {
	latest := ConsentEntry{}
	for _, e := range r.Entries {
		if !e.At.Before(latest.At) {
			latest = e
		}
	}
	return latest.Kind == ConsentGiven || latest.Kind == ConsentOptIn
}

// Entry is the consent as an entry of a client's record.
func (c Consent) Entry(session string, recorded time.Time) ConsentEntry {
	return ConsentEntry{Kind: ConsentGiven, At: c.At.UTC(), Channel: c.Channel, Wording: c.Wording, Source: c.Source,
		SessionID: session, RecordedAt: recorded}
}

// Validate checks a consent given on its own (the clinic's API) as a
// session event's is checked, every problem named.
func (c *Consent) Validate(now time.Time) error {
	var v ValidationError
	checkConsent(&v, c, now)
	return v.orNil()
}

// Limits on a consent's fields.
const (
	MaxConsentWording = 1000
	MaxConsentSource  = 64
	maxConsentChannel = 32
	// consentClockSkew allows a consent a little in the future: the
	// booking system's clock may run ahead of ours.
	consentClockSkew = 5 * time.Minute
)

var channelPattern = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)

func checkConsent(v *ValidationError, c *Consent, now time.Time) {
	switch {
	case c.At.IsZero():
		v.add("consent.at", "is required: when the client agreed (RFC 3339, e.g. 2026-11-20T10:00:00Z)")
	case c.At.After(now.Add(consentClockSkew)):
		v.add("consent.at", "%s is in the future", c.At.Format(time.RFC3339))
	}
	switch {
	case c.Channel == "":
		v.add("consent.channel", "is required: how the client agreed, such as web_form, paper_form, verbal, booking_form")
	case len(c.Channel) > maxConsentChannel || !channelPattern.MatchString(c.Channel):
		v.add("consent.channel", "%q is not a key: lowercase letters, digits and _, at most %d, such as web_form", truncate(c.Channel), maxConsentChannel)
	}
	checkText(v, "consent.wording", c.Wording, MaxConsentWording)
	checkText(v, "consent.source", c.Source, MaxConsentSource)
}

// checkText refuses text that is too long, not UTF-8, or holds control
// characters other than line breaks and tabs, or bidirectional overrides.
func checkText(v *ValidationError, field, text string, limit int) {
	switch {
	case len(text) > limit:
		v.add(field, "is %d bytes long; at most %d are allowed", len(text), limit)
	case !utf8.ValidString(text):
		v.add(field, "is not UTF-8")
	case strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		v.add(field, "contains control characters")
	case strings.ContainsFunc(text, bidiControl):
		v.add(field, "contains bidirectional override or isolate characters (U+202A-U+202E, U+2066-U+2069)")
	}
}
