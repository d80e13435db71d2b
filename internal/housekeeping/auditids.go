package housekeeping

import (
	"context"
	"slices"
	"strings"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// forgetAuditIDs deletes the audit ids (aftercare_audit_ids) of a clinic's
// conversations of which nothing is held any more: no client record, no
// text from the number, no inbox state or staff reply. Those records
// expire at the clinic's or the service's age; the id, which links the
// number to the conversation's audit entries, has no age of its own, so
// without this it would outlive all the rest. What erasure keeps (an
// escalation, a STOP) and retention keeps (the consent record) does not
// hold it, as it does not after an erasure.
//
// The ids are listed before what is held is read: an id made since is not
// touched, and one listed for a conversation that comes back in between
// (a new session of a former client) only starts that conversation's
// history afresh.
func (r *Retention) forgetAuditIDs(ctx context.Context, clinic string, limit int) (int, error) {
	audit := r.Audit
	convs, err := audit.Conversations(ctx, clinic)
	if err != nil || len(convs) == 0 {
		return 0, err
	}
	held := map[string]bool{}
	clients, err := r.Store.Keys(ctx, natsjs.BucketClients, clinic+".*")
	if err != nil {
		return 0, err
	}
	for _, key := range clients {
		held[aftercare.ConversationID(clinic, "+"+strings.TrimPrefix(key, clinic+"."))] = true
	}
	// The inbox's keys: conv.<clinic>.<conversation>, out.<clinic>.<conversation>.<reply>.
	for _, filter := range []string{"conv." + clinic + ".*", "out." + clinic + ".*.*"} {
		keys, err := r.Store.Keys(ctx, natsjs.BucketInbox, filter)
		if err != nil {
			return 0, err
		}
		for _, key := range keys {
			held[strings.Split(key, ".")[2]] = true
		}
	}
	unheld := slices.DeleteFunc(convs, func(c string) bool { return held[c] })
	if len(unheld) > 0 {
		// Texts from a number with no client record (no session) hold it
		// too; read only when something else does not.
		replies, _, err := r.Store.ReadableReplies(ctx, clinic)
		if err != nil {
			return 0, err
		}
		for _, rep := range replies {
			held[aftercare.ConversationID(clinic, rep.From)] = true
		}
		unheld = slices.DeleteFunc(unheld, func(c string) bool { return held[c] })
	}
	n := 0
	for _, conv := range unheld[:min(len(unheld), limit)] {
		if err := audit.ForgetConversation(ctx, clinic, conv); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
