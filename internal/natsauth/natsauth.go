// Package natsauth holds who may do what on a NATS cluster the service
// shares with the clinics' booking systems: one nkey user each for the
// scheduler, the worker and every clinic's booking system, with the least
// permissions each needs, written as the auth.conf nats-server includes.
package natsauth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/aftercare/aftercare/internal/natsjs"
)

// Account holds every user: the streams and buckets are the account's, and
// JetStream is enabled for it alone.
const Account = "AFTERCARE"

// Inbox prefixes (each program's NATS_INBOX_PREFIX): a principal may read
// replies under its own prefix only, so no one reads another's JetStream
// answers, which carry stored events and records.
const (
	SchedulerInbox = "_INBOX_scheduler"
	WorkerInbox    = "_INBOX_worker"
)

// BookingInbox is the inbox prefix of a clinic's booking system, where its
// publish acknowledgements arrive.
func BookingInbox(clinic string) string { return "_INBOX_booking_" + clinic }

// User is one nkey user and what it may publish and subscribe to.
type User struct {
	Name      string // for the comment in auth.conf and the seed's file name
	NKey      string // public key (U...)
	Publish   []string
	Subscribe []string
	// AllowResponses lets the user answer a request once, on the
	// requester's reply subject (the scheduler's NATS intake).
	AllowResponses bool
}

// service is what both programs publish: their streams' subjects, the
// JetStream API (they create and update the streams, buckets and consumers
// at start), acks and flow control of their consumers, and each bucket.
func service() []string {
	pub := append(natsjs.StreamSubjects(), "$JS.API.>", "$JS.ACK.>", "$JS.FC.>")
	for _, b := range natsjs.BucketNames() {
		pub = append(pub, "$KV."+b+".>")
	}
	return pub
}

// Scheduler may also take session events as NATS requests and answer them.
func Scheduler(nkey string) User {
	return User{Name: "scheduler", NKey: nkey, Publish: service(),
		Subscribe: []string{SchedulerInbox + ".>", natsjs.IntakeSubject}, AllowResponses: true}
}

// Worker reads only its own inbox: its consumers are pulled through it.
func Worker(nkey string) User {
	return User{Name: "worker", NKey: nkey, Publish: service(), Subscribe: []string{WorkerInbox + ".>"}}
}

// Booking may publish its own clinic's session events straight to the
// sessions stream and read the stream's acknowledgements; no stream,
// bucket or JetStream API call, and no other clinic's subjects.
func Booking(clinic, nkey string) User {
	return User{Name: "booking-" + clinic, NKey: nkey,
		Publish: []string{"sessions." + clinic + ".>"}, Subscribe: []string{BookingInbox(clinic) + ".>"}}
}

var clinicID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// CheckClinic refuses a clinic id that cannot be one subject token.
func CheckClinic(id string) error {
	if !clinicID.MatchString(id) {
		return fmt.Errorf("clinic id %q: want lower-case letters, digits, - or _ (it becomes a NATS subject token)", id)
	}
	return nil
}

// Conf renders the users as the accounts block of a nats-server config.
func Conf(users []User) string {
	var b strings.Builder
	b.WriteString("# Written by cmd/natsauth: one nkey user per principal, least privilege\n")
	b.WriteString("# (docs/production-nats.md). Public keys only; the seeds stay with each principal.\n")
	fmt.Fprintf(&b, "accounts {\n  %s {\n    jetstream: enabled\n    users: [\n", Account)
	for _, u := range users {
		fmt.Fprintf(&b, "      # %s\n      {\n        nkey: %q\n        permissions: {\n", u.Name, u.NKey)
		fmt.Fprintf(&b, "          publish: {allow: %s}\n", list(u.Publish))
		fmt.Fprintf(&b, "          subscribe: {allow: %s}\n", list(u.Subscribe))
		if u.AllowResponses {
			b.WriteString("          allow_responses: {max: 1}\n")
		}
		b.WriteString("        }\n      }\n")
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}

func list(subjects []string) string {
	quoted := make([]string, len(subjects))
	for i, s := range subjects {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// Generate writes dir/auth.conf and a seed file per principal
// (dir/<name>.nk, mode 0600): the scheduler, the worker and each clinic's
// booking system. A seed already in dir is kept, so adding a clinic
// rotates no one else's credentials.
func Generate(dir string, clinics []string) ([]User, error) {
	for _, c := range clinics {
		if err := CheckClinic(c); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sorted := slices.Sorted(slices.Values(clinics))
	var users []User
	for _, name := range append([]string{"scheduler", "worker"}, prefixed(sorted)...) {
		pub, err := seed(filepath.Join(dir, name+".nk"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch name {
		case "scheduler":
			users = append(users, Scheduler(pub))
		case "worker":
			users = append(users, Worker(pub))
		default:
			users = append(users, Booking(strings.TrimPrefix(name, "booking-"), pub))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), []byte(Conf(users)), 0o600); err != nil {
		return nil, err
	}
	return users, nil
}

func prefixed(clinics []string) []string {
	out := make([]string, len(clinics))
	for i, c := range clinics {
		out[i] = "booking-" + c
	}
	return out
}

// seed reads the user seed in path, or makes one there, and returns its
// public key.
func seed(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return "", err
		}
		if raw, err = kp.Seed(); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(raw))))
	if err != nil {
		return "", fmt.Errorf("%s: not a user seed: %w", path, err)
	}
	return kp.PublicKey()
}
