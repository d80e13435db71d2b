package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// get reads the latest value of a key and its revision, or
// jetstream.ErrKeyNotFound.
//
// On a replicated bucket it asks the stream's leader. A key-value Get is a
// "direct get", which any replica may answer, and a replica that is behind
// (one just restarted, or a few ms behind the leader) answers "not found"
// or an older value for a key written moments ago. The service decides on
// what it reads (send or not, give up or not), so it reads what was last
// written. A single server is always its own leader: direct gets are fine.
func (s *Store) get(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, uint64, error) {
	if !s.leaderReads {
		value, rev, err := leanGet(ctx, s.js.Conn(), kv.Bucket(), key)
		if !errors.Is(err, nats.ErrNoResponders) {
			return value, rev, err
		}
		// A bucket made without direct gets (by hand, say): nats.go asks
		// its leader instead.
		e, err := kv.Get(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		return e.Value(), e.Revision(), nil
	}
	return leaderGet(ctx, s.js, kv.Bucket(), key)
}

// msgGetResponse is the JetStream API's answer to STREAM.MSG.GET.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrorCode   int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Sequence uint64 `json:"seq"`
		Header   []byte `json:"hdrs"`
		Data     []byte `json:"data"`
	} `json:"message"`
}

// errCodeNoMessage is JetStream's "no message found".
const errCodeNoMessage = 10037

// leaderReadAttempt bounds one read. While a stream elects a leader no
// server answers, and a read would otherwise wait out its whole job's
// deadline; asked again, it finds the new leader within a second or two.
const leaderReadAttempt = time.Second

// leaderGet reads a key's latest value through the JetStream API's message
// get, which only the stream's leader answers, asking again until ctx ends
// (5 s when ctx has no deadline).
func leaderGet(ctx context.Context, js jetstream.JetStream, bucket, key string) ([]byte, uint64, error) {
	return lastBySubject(ctx, js, "KV_"+bucket, "$KV."+bucket+"."+key, bucket)
}

// lastBySubject reads the last message on subject in stream from the
// stream's leader, as leaderGet; a subject with none, or whose last is a
// key-value delete, is jetstream.ErrKeyNotFound. what names it in errors.
func lastBySubject(ctx context.Context, js jetstream.JetStream, stream, subject, what string) ([]byte, uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	for {
		tryCtx, cancel := context.WithTimeout(ctx, leaderReadAttempt)
		res, err := js.Conn().RequestWithContext(tryCtx, "$JS.API.STREAM.MSG.GET."+stream, req)
		cancel()
		if err == nil {
			return decodeMsgGet(res.Data, what)
		}
		if ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders)) {
			return nil, 0, fmt.Errorf("read %s from its leader: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("read %s from its leader: %w", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func decodeMsgGet(data []byte, bucket string) ([]byte, uint64, error) {
	var r msgGetResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, 0, fmt.Errorf("read %s from its leader: %w", bucket, err)
	}
	switch {
	case r.Error != nil && r.Error.ErrorCode == errCodeNoMessage:
		return nil, 0, jetstream.ErrKeyNotFound
	case r.Error != nil:
		return nil, 0, fmt.Errorf("read %s from its leader: %s (%d)", bucket, r.Error.Description, r.Error.ErrorCode)
	case r.Message == nil:
		return nil, 0, fmt.Errorf("read %s from its leader: empty answer", bucket)
	}
	if len(r.Message.Header) > 0 {
		hdr, err := nats.DecodeHeadersMsg(r.Message.Header)
		if err != nil {
			return nil, 0, fmt.Errorf("read %s from its leader: %w", bucket, err)
		}
		if deleteMarker(hdr) {
			return nil, 0, jetstream.ErrKeyNotFound
		}
	}
	return r.Message.Data, r.Message.Sequence, nil
}

// deleteMarker says whether a key-value message marks its key deleted or
// purged: such a key has no value.
func deleteMarker(h nats.Header) bool {
	op := h.Get("KV-Operation")
	return op == "DEL" || op == "PURGE"
}

// leaderLastSeq asks a stream's leader for the stream's last sequence: a
// fence that a copy or replica must reach to be as fresh as a leader read
// made now. Only the leader's answer will do: a stream with no leader has a
// member answer, perhaps one behind, and a member other than the leader may
// answer too (nats-server lets a stream's preferred member answer for a
// moment after it is made or moved).
func leaderLastSeq(ctx context.Context, nc *nats.Conn, stream string) (uint64, error) {
	res, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.INFO."+stream, nil)
	if err != nil {
		return 0, err
	}
	var info struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
		State *struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
		Cluster *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Name string `json:"name"`
			} `json:"replicas"`
		} `json:"cluster"`
	}
	switch err := json.Unmarshal(res.Data, &info); {
	case err != nil:
		return 0, err
	case info.Error != nil:
		return 0, errors.New(info.Error.Description)
	case info.State == nil:
		// A fence of 0 would pass any copy: no state, no fence.
		return 0, fmt.Errorf("stream %s's info has no state", stream)
	case info.Cluster != nil && info.Cluster.Leader == "":
		return 0, fmt.Errorf("stream %s has no leader", stream)
	case info.Cluster != nil:
		// The answering server leaves itself out of the replicas: the
		// leader listed there means another member answered.
		for _, peer := range info.Cluster.Replicas {
			if peer.Name == info.Cluster.Leader {
				return 0, fmt.Errorf("a member other than stream %s's leader answered", stream)
			}
		}
	}
	return info.State.LastSeq, nil
}
