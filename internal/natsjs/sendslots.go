package natsjs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SendSlot reads a sender's next free send slot and its revision; a sender
// with none stored gets the zero time and revision 0.
func (s *Store) SendSlot(ctx context.Context, sender string) (time.Time, uint64, error) {
	value, rev, err := s.get(ctx, s.sendSlots, Token(sender))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, 0, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("read send slot: %w", err)
	}
	nanos, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil {
		// Not a slot we wrote: start afresh rather than stop sending.
		return time.Time{}, rev, nil
	}
	return time.Unix(0, nanos), rev, nil
}

// SaveSendSlot stores a sender's next free send slot if it has not changed
// since revision rev was read (0: none was stored); ErrConflict if it has.
func (s *Store) SaveSendSlot(ctx context.Context, sender string, next time.Time, rev uint64) error {
	value := []byte(strconv.FormatInt(next.UnixNano(), 10))
	var err error
	if rev == 0 {
		_, err = s.sendSlots.Create(ctx, Token(sender), value)
	} else {
		_, err = s.sendSlots.Update(ctx, Token(sender), value, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("write send slot: %w", err)
	}
	return nil
}
