package staff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// migratedHeader names the retired stream's sequence an entry was copied
// from, so a migration cut short resumes without copying twice.
const migratedHeader = "Aftercare-Migrated-Seq"

// ReplyTextRemoved is what a staff reply's entry copied from the retired
// stream says in place of the text it held.
const ReplyTextRemoved = "text removed from the audit trail; it was in the staff reply's record"

// Migrated says what a migration of the retired audit stream did.
type Migrated struct {
	Copied, Skipped int
	// Unlinked counts conversations erased before the migration: their
	// entries up to the erasure are filed under an id nothing records.
	Unlinked int
	Retired  bool // the retired stream was there, and is now deleted
}

var twilioSIDPrefix = regexp.MustCompile(`^(SM|MM)[0-9a-f]{32}: `)

// scrub returns a conversation's entry as the retired stream held it, less
// what the audit trail no longer holds: a reply's text, an escalation's id
// and note (the escalation is kept, and names the client; its own entries
// keep the note), a text's Twilio id.
func scrub(e Entry) Entry {
	switch e.Action {
	case "reply":
		e.Note = ReplyTextRemoved
	case "assign", "done", "export", "erase":
	case "reviewed":
		e.Note = twilioSIDPrefix.ReplaceAllString(e.Note, "")
	default:
		e.Note = ""
	}
	return e
}

// MigrateRetired copies the retired audit stream (RetiredStreamAudit) into
// the audit stream without message text, naming conversations by their
// audit ids, then deletes it. Entries of a conversation erased since are
// filed under a fresh random id nothing records, as erasure would now
// leave them. Safe to run again after a failure; run it from one process.
func (a *Audit) MigrateRetired(ctx context.Context) (Migrated, error) {
	var res Migrated
	old, err := a.JS.Stream(ctx, natsjs.RetiredStreamAudit)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("migrate audit: %w", err)
	}
	done, err := a.migratedSeqs(ctx)
	if err != nil {
		return res, err
	}
	type entryAt struct {
		seq uint64
		e   Entry
	}
	var entries []entryAt
	lastErase := map[string]uint64{} // clinic and inbox id: the erasure's sequence
	info := old.CachedInfo()
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := old.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("migrate audit: read %d: %w", seq, err)
		}
		var e Entry
		if err := json.Unmarshal(m.Data, &e); err != nil {
			res.Skipped++ // not an entry; it never showed in a history either
			continue
		}
		if e.Kind == KindConversation && e.Action == "erase" {
			lastErase[e.ClinicID+"|"+e.Target] = seq
		}
		entries = append(entries, entryAt{seq, e})
	}
	unlinked := map[string]string{}
	for _, x := range entries {
		if done[x.seq] {
			continue
		}
		e := x.e
		if e.Kind == KindConversation {
			conv := e.ClinicID + "|" + e.Target
			if x.seq <= lastErase[conv] {
				if unlinked[conv] == "" {
					unlinked[conv] = newAuditID()
					res.Unlinked++
				}
				e.Target = unlinked[conv]
			} else if e.Target, err = a.ConversationAuditID(ctx, e.ClinicID, e.Target, true); err != nil {
				return res, fmt.Errorf("migrate audit: %w", err)
			}
			e = scrub(e)
		}
		h := nats.Header{}
		h.Set(migratedHeader, strconv.FormatUint(x.seq, 10))
		if err := a.append(ctx, e, h); err != nil {
			return res, fmt.Errorf("migrate audit: %w", err)
		}
		res.Copied++
	}
	if err := a.JS.DeleteStream(ctx, natsjs.RetiredStreamAudit); err != nil {
		return res, fmt.Errorf("migrate audit: delete %s: %w", natsjs.RetiredStreamAudit, err)
	}
	res.Retired = true
	return res, nil
}

// migratedSeqs lists the retired stream's sequences already copied.
func (a *Audit) migratedSeqs(ctx context.Context) (map[uint64]bool, error) {
	done := map[uint64]bool{}
	stream, err := a.JS.Stream(ctx, natsjs.StreamAudit)
	if err != nil {
		return nil, fmt.Errorf("migrate audit: %w", err)
	}
	info := stream.CachedInfo()
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("migrate audit: read %d: %w", seq, err)
		}
		if n, err := strconv.ParseUint(m.Header.Get(migratedHeader), 10, 64); err == nil {
			done[n] = true
		}
	}
	return done, nil
}
