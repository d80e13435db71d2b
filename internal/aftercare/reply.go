package aftercare

import "time"

// InboundSMS is a client's text as Twilio delivered it to our webhook,
// stored before Twilio gets its answer.
type InboundSMS struct {
	MessageSID          string    `json:"message_sid"`
	AccountSID          string    `json:"account_sid,omitempty"`
	From                string    `json:"from"`
	To                  string    `json:"to"`
	MessagingServiceSID string    `json:"messaging_service_sid,omitempty"`
	Body                string    `json:"body"`
	NumMedia            int       `json:"num_media,omitempty"`
	OptOutType          string    `json:"opt_out_type,omitempty"` // STOP, START, HELP with Advanced Opt-Out
	ClinicID            string    `json:"clinic_id,omitempty"`    // empty: the number is no clinic's
	ReceivedAt          time.Time `json:"received_at"`
}

// Reply is our record of one inbound text and what was done about it.
type Reply struct {
	InboundSMS
	// SessionID is the client's most recent session in follow-up, if any.
	SessionID string `json:"session_id,omitempty"`
	Keyword   string `json:"keyword,omitempty"` // opt_out, opt_in, help
	Class     string `json:"class,omitempty"`   // triage class
	Flag      string `json:"flag,omitempty"`    // a red flag that changes the answer, such as self_harm
	Reason    string `json:"reason,omitempty"`
	Score     *int   `json:"pain_score,omitempty"`
	// PreviousScore is the client's score before this reply, kept so a
	// reprocessed reply is triaged exactly as the first time.
	PreviousScore *int   `json:"previous_score,omitempty"`
	EscalationID  string `json:"escalation_id,omitempty"`
	// Answer is what the client was told back, if anything.
	Answer      string    `json:"answer,omitempty"`
	AnswerSID   string    `json:"answer_sid,omitempty"`
	AnswerError string    `json:"answer_error,omitempty"`
	AnsweredAt  time.Time `json:"answered_at,omitzero"`
	TriagedAt   time.Time `json:"triaged_at,omitzero"`
	ProcessedAt time.Time `json:"processed_at,omitzero"`
	// Reviewed is set when someone at the clinic has read a reply triage
	// could not read with confidence (class needs_review).
	ReviewedAt time.Time `json:"reviewed_at,omitzero"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	ReviewNote string    `json:"review_note,omitempty"`
}

// MarkReviewed records that someone at the clinic has read the reply. It
// reports false when it already was: the first mark stands.
func (r *Reply) MarkReviewed(by, note string, at time.Time) bool {
	if !r.ReviewedAt.IsZero() {
		return false
	}
	r.ReviewedAt, r.ReviewedBy, r.ReviewNote = at, by, note
	return true
}

// ClientSession is one of a client's recent sessions, for linking replies.
type ClientSession struct {
	SessionID string    `json:"session_id"`
	End       time.Time `json:"end"`
	Cancelled bool      `json:"cancelled,omitempty"`
}

// ClientRecord is what we know of one client of one clinic.
type ClientRecord struct {
	ClinicID string          `json:"clinic_id"`
	Phone    string          `json:"phone"`
	Sessions []ClientSession `json:"sessions"` // newest last, a few at most
	// LastScore is the last pain score the client gave, with its reply.
	LastScore      *int      `json:"last_score,omitempty"`
	LastScoreAt    time.Time `json:"last_score_at,omitzero"`
	LastScoreReply string    `json:"last_score_reply,omitempty"`
	// StrangerAnsweredAt is when a number with no session here was last
	// answered; it is answered at most once a day, so texting us cannot be
	// used to make us send texts.
	StrangerAnsweredAt time.Time `json:"stranger_answered_at,omitzero"`
	// StrangerEscalatedAt is when such a number's report of getting worse
	// was last escalated: escalations have their own once-a-day slot, so an
	// earlier "hello?" does not keep a red flag from the clinic.
	StrangerEscalatedAt time.Time `json:"stranger_escalated_at,omitzero"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// MaxClientSessions bounds the sessions a client record remembers.
const MaxClientSessions = 5

// LatestSession returns the client's most recent session that is not
// cancelled: the one a reply is about.
func (c ClientRecord) LatestSession() (ClientSession, bool) {
	var best ClientSession
	found := false
	for _, s := range c.Sessions {
		if !s.Cancelled && (!found || s.End.After(best.End)) {
			best, found = s, true
		}
	}
	return best, found
}

// EscalationStatus is where the clinic stands with an escalation.
type EscalationStatus string

const (
	EscalationOpen         EscalationStatus = "open"
	EscalationAcknowledged EscalationStatus = "acknowledged" // someone is on it
	EscalationResolved     EscalationStatus = "resolved"
)

// Escalation is a client reply the clinic must act on now.
type Escalation struct {
	ID          string `json:"id"`
	ClinicID    string `json:"clinic_id"`
	SessionID   string `json:"session_id"`
	ClientPhone string `json:"client_phone"`
	ClientName  string `json:"client_name,omitempty"`
	Class       string `json:"class"` // red_flag or worsening
	// Flag is set for a red flag that needs more than a call back, such as
	// "self_harm": urgent, the client was given a crisis line.
	Flag       string           `json:"flag,omitempty"`
	Reason     string           `json:"reason"`
	Score      *int             `json:"pain_score,omitempty"`
	ReplySID   string           `json:"reply_sid"`
	ReplyBody  string           `json:"reply_body"`
	ReceivedAt time.Time        `json:"received_at"` // when the reply reached our webhook
	RaisedAt   time.Time        `json:"raised_at"`
	Status     EscalationStatus `json:"status"`

	// AckCode is the short code the on-call person replies with ("ACK
	// 4821") to take the escalation by text.
	AckCode string `json:"ack_code,omitempty"`

	// Derived from History, for integrators who read them before it
	// existed: the first acknowledgement, the resolution, the latest note.
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	ResolvedBy     string    `json:"resolved_by,omitempty"`
	Note           string    `json:"note,omitempty"`
	// Owner is who acknowledged it, or was last assigned it.
	Owner *Author `json:"owner,omitempty"`
	// History is every acknowledgement, note, assignment, chain step and
	// resolution, oldest first; entries are only ever appended.
	History []EscalationEntry `json:"history"`
	// Chain is how far the clinic's escalation chain has gone.
	Chain Chain `json:"chain,omitzero"`

	Notice    Notice    `json:"notice"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Notice is how the clinic was told of an escalation.
type Notice struct {
	WebhookDeliveredAt time.Time `json:"webhook_delivered_at,omitzero"`
	WebhookAttempts    int       `json:"webhook_attempts,omitempty"`
	WebhookError       string    `json:"webhook_error,omitempty"`
	OnCallSMSSID       string    `json:"on_call_sms_sid,omitempty"`
	OnCallSentAt       time.Time `json:"on_call_sent_at,omitzero"`
	OnCallStatus       string    `json:"on_call_status,omitempty"` // Twilio's delivery status
	OnCallError        string    `json:"on_call_error,omitempty"`
	// NotifiedAt is when the first channel reached the clinic.
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	// ReplayedAt is when ops replayed the escalation from the dead-letter
	// stream; retries count from then.
	ReplayedAt time.Time `json:"replayed_at,omitzero"`
}

// DeliveryStatus is a Twilio status callback about a message we sent.
type DeliveryStatus struct {
	MessageSID string `json:"message_sid"`
	Status     string `json:"status"` // queued, sent, delivered, undelivered, failed ...
	ErrorCode  string `json:"error_code,omitempty"`
	To         string `json:"to,omitempty"`
	ClinicID   string `json:"clinic_id"`
	Kind       string `json:"kind"` // followup or oncall
	SessionID  string `json:"session_id,omitempty"`
	Step       Step   `json:"step,omitempty"`
	Escalation string `json:"escalation_id,omitempty"`
	// Outbound names a staff reply: "<conversation>.<reply id>".
	Outbound   string    `json:"outbound,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}
