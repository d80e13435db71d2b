package natsjs

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// JobUnderway reports whether a follow-up's job is on its way to a
// worker: a timer is set for it (its first, or one a worker deferred it to),
// or its job has fired and its clinic's lane has not acknowledged it yet
// (laneAckFloor is the lane's acknowledgement floor, see LaneAckFloor). The
// reconciler re-fires only a job that is neither: a backlog waiting its
// turn in a lane must not be fired again every few minutes.
func (s *Store) JobUnderway(ctx context.Context, d aftercare.DueFollowUp, laneAckFloor uint64) (bool, error) {
	schedSubject, dueSubject := dueSubjects(d)
	// A timer is removed from the stream when it fires.
	for _, timer := range []string{schedSubject, deferredSubject(d)} {
		_, _, err := lastBySubject(ctx, s.js, StreamFollowUps, timer, "follow-up timer")
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return false, fmt.Errorf("look up the timer: %w", err)
		}
	}
	_, seq, err := lastBySubject(ctx, s.js, StreamFollowUps, dueSubject, "fired follow-up")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up the fired job: %w", err)
	}
	return seq > laneAckFloor, nil
}

// LaneAckFloor is the stream sequence up to which a clinic's lane has
// acknowledged every job; 0 when the lane does not exist yet (it will take
// every job of the clinic's when a worker makes it).
func (s *Store) LaneAckFloor(ctx context.Context, clinic string) (uint64, error) {
	lane, err := s.js.Consumer(ctx, StreamFollowUps, SenderLaneName(clinic))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("lane of %s: %w", clinic, err)
	}
	return lane.CachedInfo().AckFloor.Stream, nil
}
