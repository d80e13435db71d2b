// Package inbox is the clinic's staff inbox: one conversation per client
// (clinic and client number) with every text both ways, sorted by clinical
// priority; assigning, marking done, replying from the clinic's number and
// acknowledging escalations; and the server-rendered web pages for it.
package inbox

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/clinics"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/triage"
)

// Priority orders conversations: the lower, the sooner a person must look.
type Priority int

const (
	RedFlag Priority = iota
	Worsening
	NeedsReview
	Question
	Other
	Fine
)

var priorityNames = [...]string{"red flag", "worsening", "needs review", "question", "other", "fine"}

func (p Priority) String() string { return priorityNames[p] }

// Class is the CSS class of the priority.
func (p Priority) Class() string {
	return [...]string{"red", "worse", "review", "question", "other", "fine"}[p]
}

// PriorityOf a reply: its triage class, with keywords (STOP, HELP) and
// anything unclassified as other.
func PriorityOf(r aftercare.Reply) Priority {
	switch triage.Class(r.Class) {
	case triage.RedFlag:
		return RedFlag
	case triage.Worsening:
		return Worsening
	case triage.NeedsReview:
		return NeedsReview
	case triage.Question:
		return Question
	case triage.Improving, triage.Same:
		return Fine
	}
	return Other
}

// ConversationID names a conversation in URLs without the client's number
// (URLs end up in access logs and browser history); it is computed from
// the clinic and the number, and looked up only among the clinic's own.
// The on-call alert links to it too, so the domain package computes it.
func ConversationID(clinic, phone string) string { return aftercare.ConversationID(clinic, phone) }

// State is what staff did to a conversation, in the inbox bucket.
type State struct {
	AssignedTo   string    `json:"assigned_to,omitempty"` // staff id
	AssignedName string    `json:"assigned_name,omitempty"`
	DoneAt       time.Time `json:"done_at,omitzero"` // replies up to then are dealt with
	ReadAt       time.Time `json:"read_at,omitzero"` // last opened by anyone
}

// Summary is one line of the inbox.
type Summary struct {
	ID          string
	ClinicID    string
	Phone       string
	ClientName  string
	Priority    Priority
	Unread      bool
	Done        bool
	Latest      aftercare.Reply
	LatestAt    time.Time
	Replies     int
	Unknown     bool // the number has no session with the clinic
	State       State
	OpenReplies int
}

// Store is what the inbox reads and writes.
type Store struct {
	S       *natsjs.Store
	Clinics *clinics.Directory
	Steps   int
}

func stateKey(clinic, id string) string { return "conv." + clinic + "." + id }

// State returns a conversation's state (zero if none yet).
func (st *Store) State(ctx context.Context, clinic, id string) (State, error) {
	s, _, err := natsjs.GetRecord[State](ctx, st.S, st.S.InboxBucket(), stateKey(clinic, id))
	if errors.Is(err, aftercare.ErrNotFound) {
		err = nil
	}
	return s, err
}

// UpdateState changes a conversation's state.
func (st *Store) UpdateState(ctx context.Context, clinic, id string, change func(*State) bool) (State, error) {
	return natsjs.UpdateRecord(ctx, st.S, st.S.InboxBucket(), stateKey(clinic, id), true, func(s *State) (bool, error) {
		return change(s), nil
	})
}

// byClient groups a clinic's replies by the number that sent them.
func (st *Store) byClient(ctx context.Context, clinic string) (map[string][]aftercare.Reply, error) {
	all, err := st.S.Replies(ctx, clinic)
	if err != nil {
		return nil, err
	}
	out := map[string][]aftercare.Reply{}
	for _, r := range all { // newest first
		out[r.From] = append(out[r.From], r)
	}
	return out, nil
}

// List returns a clinic's conversations: open before done; within each,
// by priority (red flag, worsening, needs review, question, other, fine),
// unread first, then newest first.
func (st *Store) List(ctx context.Context, clinic string) ([]Summary, error) {
	groups, err := st.byClient(ctx, clinic)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(groups))
	for phone, replies := range groups {
		id := ConversationID(clinic, phone)
		state, err := st.State(ctx, clinic, id)
		if err != nil {
			return nil, err
		}
		sum := summarize(clinic, id, phone, replies, state)
		if sum.ClientName, err = st.clientName(ctx, clinic, replies); err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(
			cmp.Compare(btoi(a.Done), btoi(b.Done)),
			cmp.Compare(a.Priority, b.Priority),
			cmp.Compare(btoi(!a.Unread), btoi(!b.Unread)),
			b.LatestAt.Compare(a.LatestAt),
			cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clientName is the name the client's latest session gave, if any.
func (st *Store) clientName(ctx context.Context, clinic string, replies []aftercare.Reply) (string, error) {
	for _, r := range replies { // newest first
		if r.SessionID == "" {
			continue
		}
		sess, _, err := st.S.Session(ctx, clinic, r.SessionID)
		if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, natsjs.ErrCorrupt) {
			continue
		}
		return sess.Client.Name, err
	}
	return "", nil
}

// summarize works out a conversation's line: its priority is the most
// urgent of the replies since it was last marked done (of all, once done).
func summarize(clinic, id, phone string, replies []aftercare.Reply, state State) Summary {
	s := Summary{ID: id, ClinicID: clinic, Phone: phone, Latest: replies[0], LatestAt: replies[0].ReceivedAt,
		Replies: len(replies), State: state, Priority: Fine, Unknown: true}
	all := Fine
	for _, r := range replies {
		p := PriorityOf(r)
		all = min(all, p)
		if r.ReceivedAt.After(state.DoneAt) {
			s.OpenReplies++
			s.Priority = min(s.Priority, p)
		}
		if r.SessionID != "" {
			s.Unknown = false
		}
	}
	s.Done = s.OpenReplies == 0
	if s.Done {
		s.Priority = all
	}
	s.Unread = s.LatestAt.After(state.ReadAt)
	return s
}

// Message is one text in a conversation, either way.
type Message struct {
	At       time.Time
	Inbound  bool
	Kind     string // "client", "tip", "automatic answer", "staff reply"
	Body     string
	Status   string // delivery status of ours: queued, sent, delivered, failed ...
	Detail   string // triage class and reason of theirs, why one of ours was not sent
	By       string // the staff member who replied
	Priority Priority
	Score    *int
}

// Plan is one of the client's sessions and its tips.
type Plan struct {
	Session   aftercare.Session
	FollowUps []aftercare.FollowUp
}

// Conversation is everything the conversation page shows.
type Conversation struct {
	Summary
	Clinic      *clinics.Clinic
	Messages    []Message
	Plans       []Plan
	Escalations []aftercare.Escalation
	Scores      []Score
	Hidden      int // older messages not shown
	// Consent is the client's consent record: agreements, opt-outs, opt-ins.
	Consent aftercare.ConsentRecord
}

// MaxMessages bounds the messages a conversation page shows.
const MaxMessages = 300

// Score is a pain score the client gave.
type Score struct {
	At    time.Time
	Value int
}

// ErrNoConversation is an id that is none of the clinic's conversations.
var ErrNoConversation = errors.New("no such conversation at this clinic")

// Conversation returns one of the clinic's conversations by id: only the
// clinic's own replies are searched, so another clinic's id is not found.
func (st *Store) Conversation(ctx context.Context, clinic, id string) (Conversation, error) {
	c, ok := st.Clinics.Lookup(clinic)
	if !ok {
		return Conversation{}, ErrNoConversation
	}
	groups, err := st.byClient(ctx, clinic)
	if err != nil {
		return Conversation{}, err
	}
	var phone string
	for p := range groups {
		if ConversationID(clinic, p) == id {
			phone = p
		}
	}
	if phone == "" {
		return Conversation{}, ErrNoConversation
	}
	replies := groups[phone]
	state, err := st.State(ctx, clinic, id)
	if err != nil {
		return Conversation{}, err
	}
	conv := Conversation{Summary: summarize(clinic, id, phone, replies, state), Clinic: c}
	if conv.Consent, err = st.S.Consent(ctx, clinic, phone); err != nil && !errors.Is(err, aftercare.ErrNotFound) {
		return Conversation{}, err
	}
	for _, r := range replies {
		m := Message{At: r.ReceivedAt, Inbound: true, Kind: "client", Body: r.Body, Priority: PriorityOf(r), Score: r.Score, Detail: r.Class}
		if r.Keyword != "" {
			m.Detail = r.Keyword
		}
		switch {
		case r.Reason == "":
		case strings.HasPrefix(r.Reason, m.Detail) || strings.HasPrefix(r.Reason, strings.ReplaceAll(m.Detail, "_", " ")):
			m.Detail = r.Reason // triage's reasons start with the class
		default:
			m.Detail += ": " + r.Reason
		}
		conv.Messages = append(conv.Messages, m)
		if r.Answer != "" {
			status := "sent"
			switch {
			case r.AnswerError != "":
				status = "failed"
			case r.AnswerSID == "":
				status = "not sent"
			}
			at := r.AnsweredAt
			if at.IsZero() {
				at = r.ProcessedAt
			}
			conv.Messages = append(conv.Messages, Message{At: at, Kind: "automatic answer", Body: r.Answer, Status: status, Detail: r.AnswerError})
		}
		if r.Score != nil {
			conv.Scores = append(conv.Scores, Score{At: r.ReceivedAt, Value: *r.Score})
		}
	}
	if err := st.addPlans(ctx, c, phone, &conv); err != nil {
		return Conversation{}, err
	}
	outs, err := st.Outbound(ctx, clinic, id)
	if err != nil {
		return Conversation{}, err
	}
	for _, o := range outs {
		conv.Messages = append(conv.Messages, Message{At: o.CreatedAt, Kind: "staff reply", Body: o.Body, Status: o.Status, Detail: o.Reason, By: o.Author.Name})
	}
	escs, err := st.S.Escalations(ctx, clinic)
	if err != nil {
		return Conversation{}, err
	}
	for _, e := range escs {
		if e.ClientPhone == phone {
			conv.Escalations = append(conv.Escalations, e)
		}
	}
	slices.SortStableFunc(conv.Messages, func(a, b Message) int { return a.At.Compare(b.At) })
	if n := len(conv.Messages); n > MaxMessages {
		// A number texting without end (a stranger, a loop) must not make
		// the page without end: the latest are what staff act on.
		conv.Hidden, conv.Messages = n-MaxMessages, conv.Messages[n-MaxMessages:]
	}
	slices.SortFunc(conv.Scores, func(a, b Score) int { return a.At.Compare(b.At) })
	if conv.ClientName == "" && len(conv.Plans) > 0 {
		conv.ClientName = conv.Plans[len(conv.Plans)-1].Session.Client.Name
	}
	return conv, nil
}

// addPlans adds the client's sessions, their tips (as messages, with
// delivery status) and the plan of each.
func (st *Store) addPlans(ctx context.Context, c *clinics.Clinic, phone string, conv *Conversation) error {
	client, _, err := st.S.Client(ctx, c.ID, phone)
	if errors.Is(err, aftercare.ErrNotFound) || errors.Is(err, natsjs.ErrCorrupt) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, cs := range client.Sessions {
		sess, _, err := st.S.Session(ctx, c.ID, cs.SessionID)
		if errors.Is(err, aftercare.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		fus, err := st.S.FollowUps(ctx, c.ID, cs.SessionID, st.Steps)
		if err != nil {
			return err
		}
		p := Plan{Session: sess}
		for _, f := range fus {
			if f.PlanVersion != sess.PlanVersion {
				continue
			}
			p.FollowUps = append(p.FollowUps, f)
			if f.SentAt.IsZero() {
				continue
			}
			// The text as the worker rendered it: the clinic's own for the
			// session's service, else the built-in one.
			body, _ := c.Texts.Render(f.Step, sess.Service, sess.Client.Name, sess.Client.Locale, c.Locale)
			status := f.Delivery
			if status == "" {
				status = string(f.Status)
			}
			conv.Messages = append(conv.Messages, Message{At: f.SentAt, Kind: "tip", Body: body, Status: status, Detail: f.DeliveryError})
		}
		conv.Plans = append(conv.Plans, p)
	}
	slices.SortFunc(conv.Plans, func(a, b Plan) int { return a.Session.End.Compare(b.Session.End) })
	return nil
}
