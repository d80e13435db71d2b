package erasure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
)

// An erasure runs as a job, not inside the request that asks for it: a
// large clinic's may outlast an HTTP timeout, and a job outlives a crash.
// While it runs, a tombstone refuses the client's new session events, so
// nothing erased is made again; it comes down when the job is done, and
// the clinic may then book the client afresh.

// JobStatus is where an erasure job is.
type JobStatus string

const (
	JobQueued  JobStatus = "queued"
	JobRunning JobStatus = "running"
	JobDone    JobStatus = "done"
)

// Job is one requested erasure. Phone is held only until the job is done.
type Job struct {
	ID          string           `json:"job_id"`
	ClinicID    string           `json:"clinic_id"`
	Phone       string           `json:"phone,omitempty"`
	Client      string           `json:"client_phone"` // masked
	Status      JobStatus        `json:"status"`
	RequestedAt time.Time        `json:"requested_at"`
	StartedAt   time.Time        `json:"started_at,omitzero"`
	DoneAt      time.Time        `json:"done_at,omitzero"`
	By          aftercare.Author `json:"requested_by"`
	Attempts    int              `json:"attempts"`
	// Result is the erasure's answer once done: what it erased and kept.
	Result *Result `json:"result,omitempty"`
}

// Jobs queues erasures and runs them.
type Jobs struct {
	Service *Service
	Store   *natsjs.Store
	Now     func() time.Time
	Log     *slog.Logger
	// Heartbeat is how often a job in hand tells JetStream it is still
	// being worked on; keep it well under the consumer's AckWait.
	Heartbeat time.Duration
	// StillInFlight, if set, is told each time a job finds the planner or
	// the replies still on what was stored before it began (for tests).
	StillInFlight func()
}

func newJobID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "era_" + hex.EncodeToString(b)
}

// Request records an erasure of a client, puts up their tombstone and
// queues the job. A client whose erasure is already under way gets that
// job back (queued again, in case the first request failed after the
// tombstone went up).
func (j *Jobs) Request(ctx context.Context, clinic, phone string, by aftercare.Author) (Job, error) {
	job := Job{ID: newJobID(), ClinicID: clinic, Phone: phone, Client: aftercare.MaskPhone(phone), Status: JobQueued,
		RequestedAt: j.Now().UTC(), By: by}
	kv := j.Store.ErasureJobsBucket()
	if _, err := natsjs.SaveRecord(ctx, kv, natsjs.ErasureJobKey(clinic, job.ID), job, 0); err != nil {
		return Job{}, fmt.Errorf("request erasure: %w", err)
	}
	id, err := j.Store.SetErasing(ctx, clinic, phone, job.ID)
	if err != nil {
		j.withdraw(ctx, clinic, phone, job.ID, false)
		return Job{}, fmt.Errorf("request erasure: %w", err)
	}
	ours := id == job.ID
	if !ours {
		// One is under way: ours is not needed.
		if err := j.Store.EraseKeys(ctx, natsjs.BucketErasureJobs, natsjs.ErasureJobKey(clinic, job.ID)); err != nil {
			return Job{}, fmt.Errorf("request erasure: %w", err)
		}
		if job, err = j.Job(ctx, clinic, id); errors.Is(err, aftercare.ErrNotFound) {
			// Its record never got written: write it now.
			job.ID, job.ClinicID, job.Phone, job.Client, job.Status, job.RequestedAt, job.By = id, clinic, phone, aftercare.MaskPhone(phone), JobQueued, j.Now().UTC(), by
			if _, err := natsjs.SaveRecord(ctx, kv, natsjs.ErasureJobKey(clinic, id), job, 0); err != nil && !errors.Is(err, natsjs.ErrConflict) {
				return Job{}, fmt.Errorf("request erasure: %w", err)
			}
		} else if err != nil {
			return Job{}, fmt.Errorf("request erasure: %w", err)
		}
	}
	if err := j.Store.QueueClientErasure(ctx, clinic, job.ID); err != nil {
		if ours {
			// No job is queued to take our tombstone down: take it down
			// now, or it refuses the client's sessions for good. One put
			// up by an earlier request is left to its job (or the sweep).
			j.withdraw(ctx, clinic, phone, job.ID, true)
		}
		return Job{}, fmt.Errorf("request erasure: %w", err)
	}
	return job, nil
}

// withdraw undoes a request that could not be queued: the tombstone (when
// it was put up) and the job's record, which holds the number. Failing
// that, Sweep finds the tombstone later.
func (j *Jobs) withdraw(ctx context.Context, clinic, phone, id string, tombstone bool) {
	ctx = context.WithoutCancel(ctx)
	if tombstone {
		// Only its own: a request made since may have put up another's.
		if _, err := j.Store.ClearErasingOf(ctx, clinic, phone, id); err != nil {
			j.Log.Warn("erasure not queued and its tombstone still up; the sweep takes it down", "clinic", clinic, "job", id, "client", aftercare.MaskPhone(phone), "err", err)
			return // the record tells the sweep it was this job's
		}
		// A request made meanwhile may have queued this job after all: it
		// then runs, without a tombstone, and needs its record.
		if queued, err := j.Store.ErasureQueued(ctx, clinic, id); err != nil || queued {
			return
		}
	}
	if err := j.Store.EraseKeys(ctx, natsjs.BucketErasureJobs, natsjs.ErasureJobKey(clinic, id)); err != nil {
		j.Log.Warn("erasure not queued; its record is left", "clinic", clinic, "job", id, "err", err)
	}
}

// SweepGrace is how long a job is left to its request before the sweep
// queues it again: the request queues it moments after putting up the
// tombstone.
const SweepGrace = 10 * time.Minute

// SweepResult says what a sweep of the tombstones did.
type SweepResult struct {
	Checked, Cleared, Requeued int
}

// Sweep finds tombstones no job will take down (a request whose job could
// not be queued, nor its tombstone taken down; a job given up on) and
// takes them down when their job is gone or done, or queues the job again.
func (j *Jobs) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	stones, err := j.Store.Tombstones(ctx)
	if err != nil {
		return res, fmt.Errorf("sweep erasure tombstones: %w", err)
	}
	var errs []error
	for _, t := range stones {
		res.Checked++
		job, err := j.Job(ctx, t.ClinicID, t.Job)
		switch {
		case errors.Is(err, aftercare.ErrNotFound), err == nil && job.Status == JobDone && job.Phone == "":
			// No job, or one finished: nothing else takes it down.
			// Only if it still names that job: an erasure requested since
			// has put up its own.
			var cleared bool
			cleared, err = j.Store.ClearErasingOf(ctx, t.ClinicID, t.Phone, t.Job)
			if err == nil && cleared {
				res.Cleared++
				j.Log.Warn("erasure tombstone with no job to take it down: taken down", "clinic", t.ClinicID, "job", t.Job, "client", aftercare.MaskPhone(t.Phone))
			}
		case err == nil && j.Now().Sub(job.RequestedAt) >= SweepGrace:
			var queued bool
			if queued, err = j.Store.ErasureQueued(ctx, t.ClinicID, t.Job); err == nil && !queued {
				// Several schedulers sweep: the same id within a grace
				// period is stored once (within the duplicate window).
				if err = j.Store.RequeueClientErasure(ctx, t.ClinicID, t.Job, j.Now().Truncate(SweepGrace)); err == nil {
					res.Requeued++
					j.Log.Warn("erasure job not queued: queued again", "clinic", t.ClinicID, "job", t.Job, "status", job.Status, "client", job.Client)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep erasure tombstone of job %s: %w", t.Job, err))
		}
	}
	return res, errors.Join(errs...)
}

// Job reads an erasure job of a clinic; aftercare.ErrNotFound when there
// is none (or it is another clinic's).
func (j *Jobs) Job(ctx context.Context, clinic, id string) (Job, error) {
	job, _, err := natsjs.GetRecord[Job](ctx, j.Store, j.Store.ErasureJobsBucket(), natsjs.ErasureJobKey(clinic, id))
	return job, err
}

func (j *Jobs) update(ctx context.Context, clinic, id string, change func(*Job)) (Job, error) {
	return natsjs.UpdateRecord(ctx, j.Store, j.Store.ErasureJobsBucket(), natsjs.ErasureJobKey(clinic, id), false, func(job *Job) (bool, error) {
		change(job)
		return true, nil
	})
}

// Handle runs one queued erasure (the jobs.Handler of the client-erase
// consumer). Every step is safe to repeat, so a job cut short by a crash
// is run again from the start when JetStream hands it back: the erasure,
// then the answer recorded (the number still in it), the tombstone taken
// down, and last the number dropped from the job.
func (j *Jobs) Handle(ctx context.Context, msg jetstream.Msg) error {
	clinic := strings.TrimPrefix(msg.Subject(), "erasure.client.")
	id := string(msg.Data())
	job, err := j.Job(ctx, clinic, id)
	if errors.Is(err, aftercare.ErrNotFound) {
		j.Log.Warn("erasure job not found", "clinic", clinic, "job", id)
		return nil
	}
	if err != nil {
		return err
	}
	if job.Status != JobDone {
		if job, err = j.run(ctx, msg, job); err != nil {
			return err
		}
	}
	if job.Phone == "" {
		return nil // done before
	}
	// Only while it names this job: a DELETE made since, or a run of this
	// job handed back after a crash, must not take down a newer erasure's.
	if _, err := j.Store.ClearErasingOf(ctx, clinic, job.Phone, id); err != nil {
		return err
	}
	if _, err := j.update(ctx, clinic, id, func(job *Job) { job.Phone = "" }); err != nil {
		return err
	}
	j.Log.Info("client erased", "clinic", clinic, "job", id, "client", job.Client, "kept", len(job.Result.Kept), "attempts", job.Attempts)
	return nil
}

func (j *Jobs) run(ctx context.Context, msg jetstream.Msg, job Job) (Job, error) {
	job, err := j.update(ctx, job.ClinicID, job.ID, func(job *Job) {
		job.Status, job.StartedAt, job.Attempts = JobRunning, j.Now().UTC(), job.Attempts+1
	})
	if err != nil {
		return job, err
	}
	stop := j.keepAlive(msg)
	defer stop()
	if err := j.awaitInFlight(ctx, job); err != nil {
		return job, err
	}
	res, err := j.Service.Erase(aftercare.WithAuthor(ctx, job.By), job.ClinicID, job.Phone)
	if err != nil {
		j.Log.Warn("erasure failed; it is tried again", "clinic", job.ClinicID, "job", job.ID, "attempt", job.Attempts, "err", err)
		return job, err
	}
	return j.update(ctx, job.ClinicID, job.ID, func(job *Job) {
		job.Status, job.DoneAt, job.Result = JobDone, j.Now().UTC(), &res
	})
}

// InFlightWait bounds how long an erasure waits for the planner and the
// replies to finish what was stored before it began (awaitInFlight): one
// stuck longer (a backlog, a retried event) no longer holds it up.
const InFlightWait = time.Minute

// awaitInFlight waits until the planner has finished every session event,
// and the worker every client's text, stored before this erasure began, or
// InFlightWait has passed. One taken in before the tombstone went up would
// otherwise be written after the erasure's last pass, and, the tombstone
// down by then, a second look would not see it. What is stored later finds
// the tombstone up when it is looked at.
func (j *Jobs) awaitInFlight(ctx context.Context, job Job) error {
	last := make([]uint64, len(natsjs.ErasureWaitsFor))
	for i, f := range natsjs.ErasureWaitsFor {
		var err error
		if last[i], err = j.Store.LastSeq(ctx, f.Stream); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(InFlightWait)
	for i := 0; i < len(last); {
		done, err := j.Store.DoneThrough(ctx, natsjs.ErasureWaitsFor[i], last[i])
		if err != nil {
			return err
		}
		if done {
			i++
			continue
		}
		if j.StillInFlight != nil {
			j.StillInFlight()
		}
		if time.Now().After(deadline) {
			j.Log.Warn("erasure goes on with work still in hand", "clinic", job.ClinicID, "job", job.ID, "consumer", natsjs.ErasureWaitsFor[i].Consumer, "through_seq", last[i])
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// keepAlive tells JetStream the job is in hand until stop is called: an
// erasure may take longer than the consumer's AckWait.
func (j *Jobs) keepAlive(msg jetstream.Msg) (stop func()) {
	every := j.Heartbeat
	if every <= 0 {
		every = 10 * time.Second
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}
