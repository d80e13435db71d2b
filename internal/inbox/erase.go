package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// EraseConversation removes what the inbox holds of one conversation: its
// state, its staff replies (records, queued jobs and the timers of those
// waiting for the send window). It returns how many staff replies it
// erased. The audit stream's entries about the conversation stay: it is
// append-only (see internal/erasure).
func (st *Store) EraseConversation(ctx context.Context, clinic, conv string) (int, error) {
	outs, err := st.S.Keys(ctx, natsjs.BucketInbox, outboundKey(clinic, conv, "*"))
	if err != nil {
		return 0, err
	}
	if err := st.S.EraseKeys(ctx, natsjs.BucketInbox, append(outs, stateKey(clinic, conv))...); err != nil {
		return 0, err
	}
	if err := st.S.PurgeSubjects(ctx, natsjs.StreamOutbox, "outbox_schedule."+clinic+"."+conv+".>"); err != nil {
		return 0, err
	}
	// A queued job names the conversation, not the client, in its body.
	needle := []byte(`"` + conv + `"`)
	_, err = st.S.EraseMessages(ctx, natsjs.StreamOutbox, "outbox."+clinic, func(m natsjs.StreamMsg) bool {
		return bytes.Contains(m.Data, needle)
	})
	return len(outs), err
}

// ExpireConversation is EraseConversation for retention (see
// erasure.Service.Expire): only the staff replies written before before go,
// with their queued jobs and timers. A newer one is kept, unsent or not,
// and the conversation's state with it: staff assigned the conversation or
// marked it done with that reply in view. The state goes with the last
// reply. A reply that cannot be decoded cannot be dated: it is kept, and
// the bucket's own age (NATS_RETENTION) takes it. It returns how many
// replies it erased and how many it kept.
func (st *Store) ExpireConversation(ctx context.Context, clinic, conv string, before time.Time) (erased, kept int, err error) {
	keys, err := st.S.Keys(ctx, natsjs.BucketInbox, outboundKey(clinic, conv, "*"))
	if err != nil {
		return 0, 0, err
	}
	old := map[string]bool{} // reply ids
	var oldKeys []string
	for _, key := range keys {
		o, _, err := natsjs.GetRecord[Outbound](ctx, st.S, st.S.InboxBucket(), key)
		switch {
		case errors.Is(err, aftercare.ErrNotFound):
			continue
		case errors.Is(err, natsjs.ErrCorrupt):
			kept++
			continue
		case err != nil:
			return 0, 0, err
		}
		if !o.CreatedAt.Before(before) {
			kept++
			continue
		}
		old[o.ID] = true
		oldKeys = append(oldKeys, key)
	}
	if len(old) == 0 {
		return 0, kept, st.eraseStateIfNoReplies(ctx, clinic, conv, kept)
	}
	// Jobs and timers before the records, so the worker does not take a
	// job whose record is gone.
	for id := range old {
		if err := st.S.PurgeSubjects(ctx, natsjs.StreamOutbox, "outbox_schedule."+clinic+"."+conv+"."+id); err != nil {
			return 0, kept, err
		}
	}
	if _, err := st.S.EraseMessages(ctx, natsjs.StreamOutbox, "outbox."+clinic, func(m natsjs.StreamMsg) bool {
		var job outboxJob
		return json.Unmarshal(m.Data, &job) == nil && job.ConversationID == conv && old[job.ID]
	}); err != nil {
		return 0, kept, err
	}
	if err := st.S.EraseKeys(ctx, natsjs.BucketInbox, oldKeys...); err != nil {
		return 0, kept, err
	}
	return len(oldKeys), kept, st.eraseStateIfNoReplies(ctx, clinic, conv, kept)
}

// eraseStateIfNoReplies removes the conversation's state once no staff
// reply is left: listed again, not taken from the first listing, so that a
// reply staff wrote meanwhile keeps it (and is not erased with it, as
// EraseConversation, which lists and erases at once, would).
func (st *Store) eraseStateIfNoReplies(ctx context.Context, clinic, conv string, kept int) error {
	if kept > 0 {
		return nil
	}
	outs, err := st.S.Keys(ctx, natsjs.BucketInbox, outboundKey(clinic, conv, "*"))
	if err != nil || len(outs) > 0 {
		return err
	}
	return st.S.EraseKeys(ctx, natsjs.BucketInbox, stateKey(clinic, conv))
}
