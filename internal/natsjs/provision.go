package natsjs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrWouldLowerReplicas refuses a start-up that would shrink a stream or
// bucket: losing replicas is an operator's decision, never a default's.
var ErrWouldLowerReplicas = errors.New("refusing to lower replicas")

// provisionAttempt bounds one request of provisioning. On a fresh cluster,
// several programs creating the same stream at once can leave a request
// unanswered by nats-server (an identical create proposed while the first
// is in flight); asking again finds the stream made.
const provisionAttempt = 2 * time.Second

// ensure runs op until it succeeds, a permanent error comes back, or ctx
// ends, each try bounded by provisionAttempt, with a jittered pause between.
func ensure(ctx context.Context, what string, op func(ctx context.Context) error) error {
	pause := 50 * time.Millisecond
	for {
		tryCtx, cancel := context.WithTimeout(ctx, provisionAttempt)
		err := op(tryCtx)
		cancel()
		if err == nil {
			return nil
		}
		if !transient(err) {
			return fmt.Errorf("provision %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("provision %s: %w (last try: %v)", what, ctx.Err(), err)
		case <-time.After(pause/2 + rand.N(pause)):
		}
		pause = min(2*pause, time.Second)
	}
}

// transient says whether asking again may succeed: no answer, no leader or
// peers yet, a concurrent create; not a config the server rejects.
func transient(err error) bool {
	if errors.Is(err, ErrWouldLowerReplicas) {
		return false
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return true // timeouts, no responders, a connection lost mid-request
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamNameInUse, jetstream.JSErrCodeConsumerExists,
		10005, // no suitable peers for placement: a peer is still joining
		10008: // JetStream cluster not available: no meta leader yet
		return true
	}
	return apiErr.Code >= 500
}

// replicasFor is the replica count to apply to something that has have
// replicas (0: does not exist yet); want 0 means NATS_REPLICAS is unset.
func replicasFor(name string, want, have int) (int, error) {
	switch {
	case want == 0 && have == 0:
		return 1, nil
	case want == 0:
		return have, nil
	case want < have:
		return 0, fmt.Errorf("%w: %s has %d replicas and NATS_REPLICAS is %d; set NATS_REPLICAS=%d (lower it by hand with the nats CLI if that is really meant)",
			ErrWouldLowerReplicas, name, have, want, have)
	}
	return want, nil
}

// ensureStream creates the stream, or updates it when what we own of its
// config differs. It never lowers its replicas.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (replicas int, err error) {
	err = ensure(ctx, "stream "+want.Name, func(ctx context.Context) error {
		cfg := want
		s, err := js.Stream(ctx, want.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if cfg.Replicas, err = replicasFor(want.Name, want.Replicas, 0); err != nil {
				return err
			}
			_, err = js.CreateStream(ctx, cfg)
			replicas = cfg.Replicas
			return err
		}
		if err != nil {
			return err
		}
		have := s.CachedInfo().Config
		if cfg.Replicas, err = replicasFor(want.Name, want.Replicas, have.Replicas); err != nil {
			return err
		}
		replicas = cfg.Replicas
		if sameStream(have, cfg) {
			return nil
		}
		_, err = js.UpdateStream(ctx, cfg)
		return err
	})
	return replicas, err
}

// sameStream compares the settings Provision owns.
func sameStream(a, b jetstream.StreamConfig) bool {
	return a.Description == b.Description && slices.Equal(a.Subjects, b.Subjects) && a.Storage == b.Storage &&
		a.Replicas == b.Replicas && a.MaxAge == b.MaxAge && a.Duplicates == b.Duplicates &&
		a.AllowMsgSchedules == b.AllowMsgSchedules
}

// ensureBucket is ensureStream for a key-value bucket.
func ensureBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (kv jetstream.KeyValue, replicas int, err error) {
	err = ensure(ctx, "bucket "+want.Bucket, func(ctx context.Context) error {
		cfg := want
		var err error
		kv, err = js.KeyValue(ctx, want.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			if cfg.Replicas, err = replicasFor(want.Bucket, want.Replicas, 0); err != nil {
				return err
			}
			kv, err = js.CreateKeyValue(ctx, cfg)
			replicas = cfg.Replicas
			return err
		}
		if err != nil {
			return err
		}
		status, err := kv.Status(ctx)
		if err != nil {
			return err
		}
		have := status.(*jetstream.KeyValueBucketStatus).Config()
		if cfg.Replicas, err = replicasFor(want.Bucket, want.Replicas, have.Replicas); err != nil {
			return err
		}
		replicas = cfg.Replicas
		if have.Description == cfg.Description && have.TTL == cfg.TTL && have.Replicas == cfg.Replicas && have.Storage == cfg.Storage {
			return nil
		}
		kv, err = js.UpdateKeyValue(ctx, cfg)
		return err
	})
	return kv, replicas, err
}

// ensureConsumer creates or updates a durable consumer, asking again while
// the cluster is settling.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := ensure(ctx, "consumer "+cfg.Durable, func(ctx context.Context) (err error) {
		c, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return c, err
}
