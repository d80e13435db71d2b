package natsjs

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// The staff accounts and the inbox keep their own record types in their
// own packages (staff, inbox); natsjs provisions their buckets, so their
// replicas and retention follow the service's settings like every other.

// StaffBuckets returns the buckets of staff accounts and of their sessions.
func (s *Store) StaffBuckets() (accounts, sessions jetstream.KeyValue) {
	return s.staff, s.staffSessions
}

// InboxBucket returns the bucket of conversations' state and staff replies.
func (s *Store) InboxBucket() jetstream.KeyValue { return s.inbox }

// JetStream is the connection's JetStream, for the audit and outbox streams.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// GetRecord reads a JSON record of another package's bucket, as the
// service's own are read (from the leader when replicated):
// aftercare.ErrNotFound when missing, ErrCorrupt when it cannot be decoded.
func GetRecord[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string) (T, uint64, error) {
	return getJSON[T](ctx, s, kv, key)
}

// SaveRecord writes a JSON record if still at revision rev (0: only if
// new); ErrConflict otherwise.
func SaveRecord(ctx context.Context, kv jetstream.KeyValue, key string, v any, rev uint64) (uint64, error) {
	return saveJSON(ctx, kv, key, v, rev)
}

// UpdateRecord is read-change-write with compare-and-set, as UpdateReply.
func UpdateRecord[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, key string, create bool, change func(*T) (bool, error)) (T, error) {
	return update(ctx, s, kv, key, create, change)
}
