package aftercare

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// Clinic is one massage or physiotherapy clinic using the service.
type Clinic struct {
	ID       string `json:"id"`        // short, lowercase: used in subjects and URLs
	Name     string `json:"name"`      // shown at the start of every text
	TimeZone string `json:"time_zone"` // IANA; used when the client's is unknown
	// SendWindow is a 5-field cron spec of the minutes texts may go out, read
	// in the client's time zone: "* 9-19 * * *" is 09:00-19:59 daily.
	SendWindow string `json:"send_window"`
	// SendWindowRegion selects a region's stricter calling hours ("us-fl")
	// that SendWindow must lie within; empty: 08:00-21:00 (the TCPA's).
	SendWindowRegion string `json:"send_window_region,omitempty"`
	Locale           string `json:"locale"` // texts' language when the client's has none
	Sender           Sender `json:"sender"`
	// ContactPhone is the clinic's own number, given to clients who ask HELP.
	ContactPhone string `json:"contact_phone"`
	// ReplyBy says when staff answer a text, in the answer to a client's
	// question ("within one working day", "by the end of the next day");
	// empty: a default in the client's language.
	ReplyBy string `json:"reply_by,omitempty"`
	// AllowedCountries are the ISO 3166 regions ("GB") whose numbers the
	// clinic texts; a national number is read in the first. Default: the
	// region of ContactPhone.
	AllowedCountries []string `json:"allowed_countries,omitempty"`
	// EmergencyNumber is the local emergency number given to a client who
	// reports a red flag; empty: worked out from the clinic's numbers.
	EmergencyNumber string `json:"emergency_number,omitempty"`
	// IntakeTokenEnv names the environment variable holding the credential
	// the clinic's booking system presents; the secret never sits in a file.
	IntakeTokenEnv string             `json:"intake_token_env"`
	Escalation     EscalationContacts `json:"escalation"`
	// Booking holds the clinic's booking systems whose own webhooks we
	// accept, by system: calcom, calendly, square, mindbody, acuity.
	Booking map[string]BookingSystem `json:"booking,omitempty"`
	// Quota overrides the service's daily quotas of texts for this clinic.
	Quota Quota `json:"quota,omitzero"`
	// Texts are the clinic's own tips, by service ("default" for any) and
	// language: three each, day 1 to 3, with merge fields (see tips.Check).
	// Where it has none, the built-in texts are sent.
	Texts map[string]map[string][]string `json:"texts,omitempty"`
	// RebookURL is the clinic's booking link, the {rebook_url} of its texts.
	RebookURL string `json:"rebook_url,omitempty"`
	// FrequencyCap overrides the service's caps on tips to one client.
	FrequencyCap FrequencyCap `json:"frequency_cap,omitzero"`
	// EraseAtTwilio: erasing a client (DELETE /v1/clients/{phone}) has
	// Twilio delete their texts, both ways, from its message logs too.
	EraseAtTwilio bool `json:"erase_at_twilio,omitempty"`
	// Retention shortens how long the clinic's records are kept, per kind.
	Retention Retention `json:"retention,omitzero"`
	// InboxURL is the staff inbox's address as staff reach it
	// ("https://aftercare.example/inbox"): an on-call alert links to the
	// conversation there, behind the inbox's login, instead of carrying
	// the client's details.
	InboxURL string `json:"inbox_url,omitempty"`
	// AlertDetails puts the client's number and the reason (the words of
	// their reply that raised it) in on-call alert texts. Off by default:
	// HIPAA's minimum necessary; the link and the ACK code are enough to act.
	AlertDetails bool `json:"alert_details,omitempty"`
	// RequireConsent: follow-ups go only to clients with consent on record
	// (from a session event, or a START); the others are skipped with the
	// reason, and their events are still accepted.
	RequireConsent bool `json:"require_consent,omitempty"`
	// ConfirmFirstText: a client's first session at the clinic brings one
	// short text naming the clinic, what texts to expect and how to stop,
	// sent as the clinic's other texts are (send window, opt-out, rate).
	ConfirmFirstText bool `json:"confirm_first_text,omitempty"`

	IntakeToken string `json:"-"` // read from IntakeTokenEnv at start
}

// Retention is how long a clinic keeps each kind of record, where shorter
// than the service keeps them for every clinic (NATS_RETENTION,
// NATS_ESCALATION_RETENTION): the scheduler's housekeeping deletes the
// clinic's older ones. Go durations ("240h"); empty keeps the default.
type Retention struct {
	// Texts: a client's sessions, follow-ups, texts both ways and inbox
	// conversation, counted from their last session or text.
	Texts string `json:"texts,omitempty"`
	// Escalations: escalation records with their notes and history,
	// counted from when they were raised.
	Escalations string `json:"escalations,omitempty"`
	// DeadLetters: jobs given up on that name the clinic.
	DeadLetters string `json:"dead_letters,omitempty"`

	// Parsed, when set.
	TextsFor       time.Duration `json:"-"`
	EscalationsFor time.Duration `json:"-"`
	DeadLettersFor time.Duration `json:"-"`
}

// ConversationURL is the address of a client's conversation in the
// clinic's inbox, or "" when the clinic has set no InboxURL.
func (c Clinic) ConversationURL(phone string) string {
	if c.InboxURL == "" {
		return ""
	}
	return strings.TrimRight(c.InboxURL, "/") + "/c/" + ConversationID(c.ID, phone)
}

// ConversationID names a client's conversation with a clinic in the inbox's
// URLs without the number itself: a URL may end up in a browser's history,
// a proxy's log or an alert text.
func ConversationID(clinic, phone string) string {
	sum := sha256.Sum256([]byte(clinic + "|" + phone))
	return "c" + hex.EncodeToString(sum[:12])
}

// Quota is a clinic's own daily quotas of texts; zero keeps the service's
// (QUOTA_TEXTS_PER_CLINIC_PER_DAY, QUOTA_TEXTS_PER_RECIPIENT_PER_DAY).
type Quota struct {
	TextsPerDay             int `json:"texts_per_day,omitempty"`
	TextsPerRecipientPerDay int `json:"texts_per_recipient_per_day,omitempty"`
}

// FrequencyCap is a clinic's own caps on the tips one client gets, across
// all their sessions; zero keeps the service's (FREQUENCY_CAP_PER_DAY,
// FREQUENCY_CAP_PER_WEEK).
type FrequencyCap struct {
	PerDay  int `json:"per_day,omitempty"`
	PerWeek int `json:"per_week,omitempty"`
}

// BookingSystem is how one of a clinic's booking systems calls us.
type BookingSystem struct {
	// SecretEnv names the variable holding the key the system signs its
	// webhooks with (Acuity: the API key, which also reads appointments).
	SecretEnv string `json:"secret_env"`
	// NotificationURL is the webhook URL exactly as entered in Square,
	// which Square's signature covers.
	NotificationURL string `json:"notification_url,omitempty"`
	// APIBaseURL is the system's API, for details the webhook lacks
	// (Square customers and locations, Acuity appointments).
	APIBaseURL string `json:"api_base_url,omitempty"`
	// APITokenEnv names the variable holding the API token (Square).
	APITokenEnv string `json:"api_token_env,omitempty"`
	// APIUserID is the account's user id (Acuity's basic auth).
	APIUserID string `json:"api_user_id,omitempty"`
	// TimeZone is the zone of local times in the payload (Mindbody's site
	// zone); the clinic's when empty.
	TimeZone string `json:"time_zone,omitempty"`
	// CountryCode is the calling code ("44") of the allowed country whose
	// national numbers this system sends; the clinic's first allowed
	// country when empty.
	CountryCode string `json:"country_code,omitempty"`
	// Services (Square only) names the clinic's service for each Square
	// service variation id: a booking carries only the ids, in its
	// appointment segments, and the first one named here picks the texts.
	// Names are written as service keys ("Deep tissue": deep_tissue).
	Services map[string]string `json:"services,omitempty"`

	Secret   string `json:"-"`
	APIToken string `json:"-"`
}

// Sender is the Twilio sender a clinic's texts come from: a number, or a
// Messaging Service that picks one.
type Sender struct {
	From                string `json:"from,omitempty"`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
}

// Key names the sender for per-sender rate limits.
func (s Sender) Key() string {
	if s.MessagingServiceSID != "" {
		return s.MessagingServiceSID
	}
	return s.From
}

// EscalationContacts says who at the clinic hears about a client getting worse.
type EscalationContacts struct {
	OnCallPhone      string `json:"on_call_phone,omitempty"`
	WebhookURL       string `json:"webhook_url,omitempty"`
	WebhookSecretEnv string `json:"webhook_secret_env,omitempty"`
	// Email is the clinic's address for chain steps with "email": true.
	Email string `json:"email,omitempty"`
	// Chain is what happens while nobody acknowledges, after the immediate
	// notice (the on-call text and the webhook, step 0): each step fires its
	// delay after the escalation was raised, until someone acknowledges.
	Chain []ChainStep `json:"chain,omitempty"`
	// RemindUnresolvedAfter ("4h"): acknowledged but not resolved this long
	// after, the owner is reminded. Empty: no reminder.
	RemindUnresolvedAfter string `json:"remind_unresolved_after,omitempty"`

	WebhookSecret string        `json:"-"` // read from WebhookSecretEnv at start
	RemindAfter   time.Duration `json:"-"` // RemindUnresolvedAfter, parsed
}

// ChainStep is one step of an escalation chain: whom to page when nobody
// has acknowledged After the escalation was raised.
type ChainStep struct {
	After string   `json:"after"`          // a Go duration: "10m", "30m", "90s"
	Text  []string `json:"text,omitempty"` // backup contacts texted the alert
	Call  []string `json:"call,omitempty"` // backup contacts called
	Email bool     `json:"email,omitempty"`

	Delay time.Duration `json:"-"` // After, parsed
}

// Contacts are the clinic's staff phones: the on-call phone and every
// backup in the chain. A text from one of them to the clinic's number may
// acknowledge an escalation.
func (c EscalationContacts) Contacts() []string {
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(c.OnCallPhone)
	for _, s := range c.Chain {
		for _, p := range s.Text {
			add(p)
		}
		for _, p := range s.Call {
			add(p)
		}
	}
	return out
}

// Emergency numbers by the country code of a phone number. 112 reaches the
// emergency services from any GSM phone in most of the world.
var emergencyNumbers = []struct{ prefix, number string }{
	{"+353", "112"}, {"+44", "999"}, {"+61", "000"}, {"+64", "111"}, {"+1", "911"}, {"+52", "911"},
	{"+54", "911"}, {"+57", "123"}, {"+56", "131"}, {"+27", "112"}, {"+91", "112"}, {"+81", "119"},
}

// Emergency is the emergency number to give a client: the clinic's own
// setting, else the one of the client's country, else the clinic's.
func (c Clinic) Emergency(clientPhone string) string {
	if c.EmergencyNumber != "" {
		return c.EmergencyNumber
	}
	for _, phone := range []string{clientPhone, c.ContactPhone, c.Sender.From} {
		for _, e := range emergencyNumbers {
			if strings.HasPrefix(phone, e.prefix) {
				return e.number
			}
		}
	}
	return "112"
}
