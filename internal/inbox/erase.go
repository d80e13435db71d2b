package inbox

import (
	"bytes"
	"context"

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
