package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Undecodable is a record that cannot be decoded, as stored. Erasure and
// retention read every record of a clinic; one such record must not stop
// them, so they get it apart and decide by its key and bytes.
type Undecodable struct {
	Key  string
	Data []byte
}

// ReadableReplies is Replies (newest first), except that a record that
// cannot be decoded is returned apart instead of failing the listing.
func (s *Store) ReadableReplies(ctx context.Context, clinic string) ([]aftercare.Reply, []Undecodable, error) {
	out, bad, err := readable[aftercare.Reply](ctx, s, s.replies, ClinicOrUnknown(clinic)+".>")
	slices.SortFunc(out, func(a, b aftercare.Reply) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out, bad, err
}

// ReadableEscalations is Escalations (newest first), except that a record
// that cannot be decoded is returned apart instead of failing the listing.
func (s *Store) ReadableEscalations(ctx context.Context, clinic string) ([]aftercare.Escalation, []Undecodable, error) {
	out, bad, err := readable[aftercare.Escalation](ctx, s, s.escalations, clinic+".>")
	slices.SortFunc(out, func(a, b aftercare.Escalation) int { return b.RaisedAt.Compare(a.RaisedAt) })
	return out, bad, err
}

func readable[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, filter string) ([]T, []Undecodable, error) {
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", kv.Bucket(), err)
	}
	defer lister.Stop()
	var out []T
	var bad []Undecodable
	for key := range lister.Keys() {
		raw, _, err := s.get(ctx, kv, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s %s: %w", kv.Bucket(), keyForLogs(kv.Bucket(), key), err)
		}
		var v T
		if json.Unmarshal(raw, &v) != nil {
			bad = append(bad, Undecodable{Key: key, Data: raw})
			continue
		}
		out = append(out, v)
	}
	return out, bad, ctx.Err()
}
