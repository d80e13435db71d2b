package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// quotaStream holds the quota counters: nats-server's atomic counters
// (ADR-49), one subject per counter, quota.<key>. Each increment's ack
// carries the new total, so every scheduler replica shares one exact count.
// Only the last message of a subject is kept (it holds the total). A count
// must outlive the day it counts, and a session may be booked up to a year
// ahead, so counters are kept that long past their last change.
func quotaStream(s Settings) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              StreamQuotas,
		Description:       "Texts planned per clinic and day (quota.<clinic>.<day>) and per client (quota.<clinic>.<day>.<client>)",
		Subjects:          []string{"quota.>"},
		Storage:           jetstream.FileStorage,
		Replicas:          s.Replicas,
		MaxAge:            aftercare.MaxSessionAhead + s.Retention,
		MaxMsgsPerSubject: 1,
		AllowMsgCounter:   true,
	}
}

// quotaWrite bounds one counter update, so a stream with no leader costs
// the caller a 503, not its whole request time.
const quotaWrite = 5 * time.Second

// AddToCounter adds delta (negative to take back) to the counter key and
// returns its new total.
func (s *Store) AddToCounter(ctx context.Context, key string, delta int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, quotaWrite)
	defer cancel()
	msg := nats.NewMsg("quota." + key)
	msg.Header.Set("Nats-Incr", fmt.Sprintf("%+d", delta))
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("add %d to counter %s: %w", delta, key, err)
	}
	total, err := strconv.ParseInt(ack.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %s: total %q: %w", key, ack.Value, err)
	}
	return total, nil
}

// Counter returns the counter key's total (0 when it has never counted).
func (s *Store) Counter(ctx context.Context, key string) (int64, error) {
	stream, err := s.js.Stream(ctx, StreamQuotas)
	if err != nil {
		return 0, fmt.Errorf("read counter %s: %w", key, err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, "quota."+key)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("read counter %s: %w", key, err)
	}
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return 0, fmt.Errorf("counter %s: %w", key, err)
	}
	return strconv.ParseInt(v.Val, 10, 64)
}
