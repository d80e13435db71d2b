package natsjs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The worker reads and writes records for every text it sends. These are the
// requests nats.go's KeyValue Get and Update make, sent straight on the
// connection: without its per-call key pattern, options and full decode of
// each answer, a write costs the client about 15 µs less (of 53) and a read
// 5 µs less (of 43) (docs/performance.md). Same subjects, same headers, same
// answers from nats-server; a bucket under a JetStream domain or API prefix
// would need nats.go's own, and the service uses neither.

// leanGet reads a key's latest value and revision with a direct get, or
// jetstream.ErrKeyNotFound (no value, or a delete or purge marker). A bucket
// that allows no direct gets answers nats.ErrNoResponders (see Store.get).
func leanGet(ctx context.Context, nc *nats.Conn, bucket, key string) ([]byte, uint64, error) {
	if !validKey(key) {
		return nil, 0, jetstream.ErrInvalidKey
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	res, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.KV_"+bucket+".$KV."+bucket+"."+key, nil)
	if err != nil {
		return nil, 0, err
	}
	if len(res.Data) == 0 {
		switch status := res.Header.Get("Status"); status {
		case "":
		case "404":
			return nil, 0, jetstream.ErrKeyNotFound
		default:
			return nil, 0, fmt.Errorf("nats: direct get: %s %s", status, res.Header.Get("Description"))
		}
	}
	if deleteMarker(res.Header) {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	rev, err := strconv.ParseUint(res.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("nats: direct get: no sequence in the answer: %w", err)
	}
	return res.Data, rev, nil
}

// leanUpdate writes a key's value if its latest revision is still rev; a newer
// one is ErrConflict. As nats.go's publish does, a request nobody answers
// (a stream electing its leader) is asked twice more, 250 ms apart.
func leanUpdate(ctx context.Context, nc *nats.Conn, bucket, key string, data []byte, rev uint64) (uint64, error) {
	if !validKey(key) {
		return 0, jetstream.ErrInvalidKey
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	msg := &nats.Msg{Subject: "$KV." + bucket + "." + key, Data: data,
		Header: nats.Header{jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(rev, 10)}}}
	res, err := nc.RequestMsgWithContext(ctx, msg)
	for retry := 0; errors.Is(err, nats.ErrNoResponders) && retry < 2; retry++ {
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(250 * time.Millisecond):
		}
		res, err = nc.RequestMsgWithContext(ctx, msg)
	}
	if err != nil {
		return 0, err
	}
	return pubAckSequence(res.Data)
}

// withDefaultTimeout gives a request without a deadline nats.go's 5 s: a
// reply lost with its connection would otherwise be waited for forever.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, 5*time.Second)
}

// JetStream's "wrong last sequence", and its form on a replicated stream.
const (
	errCodeWrongLastSequence         = 10071
	errCodeWrongLastSequenceReplicas = 10164
)

// pubAckSequence reads the stream sequence from a publish's acknowledgement,
// `{"stream":"KV_x","seq":42}`, decoding it in full only when it is an error.
func pubAckSequence(ack []byte) (uint64, error) {
	if !bytes.Contains(ack, []byte(`"error"`)) {
		if _, rest, ok := bytes.Cut(ack, []byte(`"seq":`)); ok {
			end := bytes.IndexAny(rest, ",}")
			if end > 0 {
				if seq, err := strconv.ParseUint(string(bytes.TrimSpace(rest[:end])), 10, 64); err == nil && seq > 0 {
					return seq, nil
				}
			}
		}
	}
	var r struct {
		Error *struct {
			ErrorCode   int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(ack, &r); err != nil || r.Error == nil {
		return 0, fmt.Errorf("nats: %w", jetstream.ErrInvalidJSAck)
	}
	if c := r.Error.ErrorCode; c == errCodeWrongLastSequence || c == errCodeWrongLastSequenceReplicas {
		return 0, ErrConflict
	}
	return 0, fmt.Errorf("nats: %s (%d)", r.Error.Description, r.Error.ErrorCode)
}

// validKey is nats.go's key check (letters, digits and -/_=., with no dot
// at either end nor two together) without its regular expression.
func validKey(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '/' || c == '_' || c == '=' || c == '.':
		default:
			return false
		}
	}
	return true
}
