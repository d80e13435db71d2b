package staff

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// Entry is one action by someone at a clinic. Entries are only ever
// appended (the stream denies deletes and purges), so a second note never
// overwrites the first. An entry holds no message text: a staff reply's
// entry names the reply's outbound record, where the text is (and from
// where erasure removes it).
type Entry struct {
	At       time.Time        `json:"at"`
	ClinicID string           `json:"clinic_id"`
	Author   aftercare.Author `json:"author"`
	Action   string           `json:"action"` // such as "acknowledge", "reply", "assign", "done", "create_account"
	Kind     string           `json:"kind"`   // what it was done to: "conversation", "escalation", "account"
	Target   string           `json:"target"` // its id; a conversation's is given as the inbox's, and stored as its audit id
	Note     string           `json:"note,omitempty"`
}

// KindConversation is the kind of entries about a client's conversation.
// Their target is stored as the conversation's audit id, not its inbox id:
// the inbox id is an unsalted hash of clinic and number, which anyone can
// reverse by hashing every number, so it is the number in disguise.
const KindConversation = "conversation"

// Audit appends entries to the audit stream and reads a target's back.
type Audit struct {
	JS  jetstream.JetStream
	Now func() time.Time
}

func auditSubject(clinic, kind, target string) string {
	return "staffaudit." + clinic + "." + kind + "." + natsjs.Token(target)
}

func auditIDKey(clinic, conv string) string { return clinic + "." + natsjs.Token(conv) }

// A conversation's audit id is random, kept in an erasable bucket: erasing
// the client deletes it, and what the audit trail keeps about them is then
// linked to no one. A keyed hash (HMAC) would need a secret per client to
// be erasable one client at a time, which is this with more steps; a
// secret per clinic would unlink every client of the clinic at once.
func newAuditID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "a" + hex.EncodeToString(b)
}

func (a *Audit) ids(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := a.JS.KeyValue(ctx, natsjs.BucketAuditIDs)
	if err != nil {
		return nil, fmt.Errorf("audit ids: %w", err)
	}
	return kv, nil
}

// ConversationAuditID returns the id the audit trail names a conversation
// by, making one when create is set; "" when there is none.
func (a *Audit) ConversationAuditID(ctx context.Context, clinic, conv string, create bool) (string, error) {
	kv, err := a.ids(ctx)
	if err != nil {
		return "", err
	}
	key := auditIDKey(clinic, conv)
	for range 3 {
		e, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			return string(e.Value()), nil
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return "", fmt.Errorf("read audit id: %w", err)
		case !create:
			return "", nil
		}
		id := newAuditID()
		if _, err := kv.Create(ctx, key, []byte(id)); err == nil {
			return id, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("make audit id: %w", err)
		}
		// Another request made it first: read theirs.
	}
	return "", errors.New("make audit id: conflict")
}

// Conversations lists the conversations of a clinic that have an audit id,
// by their inbox ids.
func (a *Audit) Conversations(ctx context.Context, clinic string) ([]string, error) {
	kv, err := a.ids(ctx)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeysFiltered(ctx, clinic+".*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list audit ids: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var out []string
	for key := range lister.Keys() {
		// Conversation ids are plain tokens ("c" and hex), their own key.
		if conv := strings.TrimPrefix(key, clinic+"."); natsjs.Token(conv) == conv {
			out = append(out, conv)
		}
	}
	return out, ctx.Err()
}

// ForgetConversation deletes a conversation's audit id, with its history,
// so the conversation's entries name no one any more. Safe to repeat.
func (a *Audit) ForgetConversation(ctx context.Context, clinic, conv string) error {
	kv, err := a.ids(ctx)
	if err != nil {
		return err
	}
	key := auditIDKey(clinic, conv)
	if err := kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("forget audit id: %w", err)
	}
	stream, err := a.JS.Stream(ctx, "KV_"+natsjs.BucketAuditIDs)
	if err != nil {
		return fmt.Errorf("forget audit id: %w", err)
	}
	// The purge leaves a marker on the key's subject; it names the
	// conversation, so it goes too.
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+natsjs.BucketAuditIDs+"."+key)); err != nil {
		return fmt.Errorf("forget audit id: %w", err)
	}
	return nil
}

// Record appends an entry; At is set when zero. A conversation's entry is
// filed under its audit id.
func (a *Audit) Record(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = a.Now()
	}
	if e.Kind == KindConversation {
		id, err := a.ConversationAuditID(ctx, e.ClinicID, e.Target, true)
		if err != nil {
			return fmt.Errorf("record %s of %s: %w", e.Action, e.Kind, err)
		}
		e.Target = id
	}
	return a.append(ctx, e, nil)
}

// KindClinic is the kind of entries about the clinic as a whole; the
// target is the clinic's id.
const KindClinic = "clinic"

// RecordAboutClient records a staff action on one client's data (an
// export), a conversation entry: under the conversation's audit id when it
// has one, or a new one when held says the client's conversation is still
// held (an erasure or retention deletes that id with it). Otherwise, as
// after an erasure, it is recorded under the clinic, naming no client: a
// new id would be stored under the conversation's id, a hash of the
// number, and link the number again to what was erased.
func (a *Audit) RecordAboutClient(ctx context.Context, e Entry, held bool) error {
	if e.At.IsZero() {
		e.At = a.Now()
	}
	id, err := a.ConversationAuditID(ctx, e.ClinicID, e.Target, held)
	if err != nil {
		return fmt.Errorf("record %s of %s: %w", e.Action, e.Kind, err)
	}
	if id == "" {
		e.Kind, e.Target = KindClinic, e.ClinicID
		e.Note = strings.TrimSpace("a client of whom no conversation is held " + e.Note)
		return a.append(ctx, e, nil)
	}
	e.Kind, e.Target = KindConversation, id
	return a.append(ctx, e, nil)
}

func (a *Audit) append(ctx context.Context, e Entry, header nats.Header) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(auditSubject(e.ClinicID, e.Kind, e.Target))
	msg.Data = data
	for k, v := range header {
		msg.Header[k] = v
	}
	if _, err := a.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("record %s of %s: %w", e.Action, e.Kind, err)
	}
	return nil
}

// maxHistory bounds what one page shows of a target's history.
const maxHistory = 500

// History returns a target's entries, oldest first. The clinic is in the
// subject, so one clinic never reads another's. A conversation without an
// audit id (never acted on, or erased) has none.
func (a *Audit) History(ctx context.Context, clinic, kind, target string) ([]Entry, error) {
	out, _, err := a.ReadableHistory(ctx, clinic, kind, target)
	return out, err
}

// ReadableHistory is History, and how many of the target's entries could
// not be decoded (passed over: the stream is append-only, so they stay).
func (a *Audit) ReadableHistory(ctx context.Context, clinic, kind, target string) ([]Entry, int, error) {
	if kind == KindConversation {
		id, err := a.ConversationAuditID(ctx, clinic, target, false)
		if err != nil {
			return nil, 0, fmt.Errorf("read history: %w", err)
		}
		if id == "" {
			return nil, 0, nil
		}
		target = id
	}
	c, err := a.JS.CreateConsumer(ctx, natsjs.StreamAudit, jetstream.ConsumerConfig{
		FilterSubject:     auditSubject(clinic, kind, target),
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read history: %w", err)
	}
	defer func() { _ = a.JS.DeleteConsumer(context.WithoutCancel(ctx), natsjs.StreamAudit, c.CachedInfo().Name) }()
	pending := min(int(c.CachedInfo().NumPending), maxHistory)
	var out []Entry
	// Counted by messages read, not entries decoded: one that cannot be
	// decoded would otherwise be waited for.
	read, bad := 0, 0
	for read < pending {
		batch, err := c.Fetch(pending-read, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, fmt.Errorf("read history: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var e Entry
			if json.Unmarshal(m.Data(), &e) == nil {
				out = append(out, e)
			} else {
				bad++
			}
		}
		if err := batch.Error(); err != nil {
			return nil, 0, fmt.Errorf("read history: %w", err)
		}
		if n == 0 {
			break
		}
		read += n
	}
	// Entries copied from the retired stream land after newer ones.
	slices.SortStableFunc(out, func(x, y Entry) int { return x.At.Compare(y.At) })
	return out, bad, nil
}
