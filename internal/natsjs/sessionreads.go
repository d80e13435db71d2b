package natsjs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// SessionReads reads session records for a worker from whichever replica of
// the sessions stream answers first, each answer as fresh as a read from
// the stream's leader made after the question was asked.
//
// At R3 a leader read goes through the JetStream API, which costs
// nats-server several times what a direct get costs, and every read lands
// on one node. But a replica may be behind its leader (one just restarted,
// or a few ms behind under load), and a session read from it could miss a
// cancellation, a move or an escalation's hold written a moment before. So
// each read is a direct get for the key's last message that also says how
// far the answering replica has got (a multi-subject direct get ends with
// the replica's last sequence, Nats-UpTo-Sequence), and its answer is taken
// only when that reaches a fence: the stream's last sequence as its leader
// gives it after the question was asked. One fence serves every read asked
// while the one before was out, so under load there is one leader request
// a round trip, not one a text. An answer short of its fence, or none, is
// read from the leader.
//
// On a single server (no leader reads) it is Store.Session.
type SessionReads struct {
	store *Store
	nc    *nats.Conn
	get   string // the direct get's subject
	// Replica and Leader count the answers taken from a replica and the
	// reads that went to the leader.
	Replica, Leader atomic.Int64

	mu      sync.Mutex
	sub     *nats.Subscription
	inbox   string // replies come to inbox.<id>
	lastID  uint64
	waiting map[string]chan *nats.Msg
	fencing bool          // a fence request is out
	next    *sessionFence // the fence that reads asked now wait for
}

// sessionFence is one fence: the stream's last sequence at its leader.
type sessionFence struct {
	done chan struct{}
	last uint64
	err  error
}

// NewSessionReads makes a session reader on the store's connection.
func NewSessionReads(store *Store) *SessionReads {
	return &SessionReads{store: store, nc: store.js.Conn(), get: "$JS.API.DIRECT.GET.KV_" + BucketSessions, waiting: map[string]chan *nats.Msg{}}
}

// Session is Store.Session, read from any replica with a fence.
func (r *SessionReads) Session(ctx context.Context, clinic, session string) (aftercare.Session, uint64, error) {
	if !r.store.leaderReads {
		r.Leader.Add(1) // a single server is its own leader
		return r.store.Session(ctx, clinic, session)
	}
	key := sessionKey(clinic, session)
	if !validKey(key) {
		return r.store.Session(ctx, clinic, session) // answers the key's error
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if value, rev, ok := r.fromReplica(ctx, key); ok {
		r.Replica.Add(1)
		return decoded(r.store.sessions, key, value, rev, nil, aftercare.ParseSession)
	}
	// Not found, behind, no fence or no answer in time: the leader knows.
	r.Leader.Add(1)
	return r.store.Session(ctx, clinic, session)
}

// fromReplica reads key from a replica that has reached a fence, within a
// second (leaderReadAttempt): an answer lost with a replica that stopped
// must not take the job's whole time. The first get goes out with the
// fence's request; when its replica had not reached the fence (it may be a
// write or two behind under load), one more is made once the fence is
// known, before the leader is asked.
func (r *SessionReads) fromReplica(ctx context.Context, key string) (value []byte, rev uint64, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, leaderReadAttempt)
	defer cancel()
	fence := r.fence()
	for attempt := 0; attempt < 2; attempt++ {
		value, rev, upTo, err := r.replicaGet(ctx, key)
		if err != nil {
			return nil, 0, false
		}
		select {
		case <-fence.done:
		case <-ctx.Done():
			return nil, 0, false
		}
		if fence.err != nil {
			return nil, 0, false
		}
		if upTo >= fence.last {
			return value, rev, true
		}
	}
	return nil, 0, false
}

// fence returns the fence that a read asked now waits for: one whose
// request to the leader is sent after this call.
func (r *SessionReads) fence() *sessionFence {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.next
	if f == nil {
		f = &sessionFence{done: make(chan struct{})}
		r.next = f
	}
	if !r.fencing {
		r.fencing = true
		go r.fences()
	}
	return f
}

// fences asks the leader for one fence after another while reads wait.
func (r *SessionReads) fences() {
	for {
		r.mu.Lock()
		f := r.next
		r.next = nil
		if f == nil {
			r.fencing = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), leaderReadAttempt)
		f.last, f.err = leaderLastSeq(ctx, r.nc, "KV_"+BucketSessions)
		cancel()
		close(f.done)
	}
}

// errNoAnswer is a replica's get that cannot be taken: no message, a delete
// marker, or an answer not of the expected shape.
var errNoAnswer = errors.New("no usable answer from a replica")

// replicaGet reads key's last message from whichever replica answers, and
// that replica's last sequence when it answered.
func (r *SessionReads) replicaGet(ctx context.Context, key string) (value []byte, rev, upTo uint64, err error) {
	replies, reply, err := r.await()
	if err != nil {
		return nil, 0, 0, err
	}
	defer r.forget(reply)
	req := []byte(`{"multi_last":["$KV.` + BucketSessions + `.` + key + `"]}`)
	if err := r.nc.PublishRequest(r.get, reply, req); err != nil {
		return nil, 0, 0, err
	}
	for {
		var m *nats.Msg
		select {
		case m = <-replies:
		case <-ctx.Done():
			return nil, 0, 0, ctx.Err()
		}
		switch m.Header.Get("Status") {
		case "":
			// The key's message: a delete or purge marker is no session.
			if deleteMarker(m.Header) {
				return nil, 0, 0, errNoAnswer
			}
			if rev, err = strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64); err != nil {
				return nil, 0, 0, errNoAnswer
			}
			value = m.Data
		case "204": // the end, with how far the replica had got
			upTo, err = strconv.ParseUint(m.Header.Get("Nats-UpTo-Sequence"), 10, 64)
			if err != nil || value == nil {
				return nil, 0, 0, errNoAnswer
			}
			return value, rev, upTo, nil
		default: // 404 and the like
			return nil, 0, 0, errNoAnswer
		}
	}
}

// await makes a reply subject for one get and the channel its answers
// come to. One subscription serves every get, so a get costs no SUB and
// UNSUB, which each server of the cluster would have to process.
func (r *SessionReads) await() (<-chan *nats.Msg, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sub == nil {
		// Under the connection's own inbox prefix: a principal may
		// subscribe only there (natsauth).
		inbox := r.nc.NewInbox()
		sub, err := r.nc.Subscribe(inbox+".*", r.route)
		if err != nil {
			return nil, "", fmt.Errorf("subscribe to session answers: %w", err)
		}
		r.sub, r.inbox = sub, inbox
	}
	r.lastID++
	reply := r.inbox + "." + strconv.FormatUint(r.lastID, 10)
	ch := make(chan *nats.Msg, 2) // the message and the end
	r.waiting[reply] = ch
	return ch, reply, nil
}

func (r *SessionReads) route(m *nats.Msg) {
	r.mu.Lock()
	ch := r.waiting[m.Subject]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default: // more than a get's answer: dropped, the get gives up on its shape
		}
	}
}

func (r *SessionReads) forget(reply string) {
	r.mu.Lock()
	delete(r.waiting, reply)
	r.mu.Unlock()
}
