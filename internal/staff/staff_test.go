package staff_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/natsjs"
	"github.com/aftercare/aftercare/internal/natsjs/natsjstest"
	"github.com/aftercare/aftercare/internal/staff"
)

type bundle struct {
	svc   *staff.Service
	env   *natsjstest.Env
	clock *clock
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func setup(t *testing.T) bundle {
	t.Helper()
	env := natsjstest.Start(t)
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	return bundle{svc: staff.New(env.Store, staff.Limits{PerAccount: 3, PerAddress: 5}, c.now, natsjstest.Logger()), env: env, clock: c}
}

var system = aftercare.Author{Kind: aftercare.AuthorSystem, Name: "test"}

func create(t *testing.T, svc *staff.Service, clinic, email string, role staff.Role) staff.Account {
	t.Helper()
	a, err := svc.Create(context.Background(), staff.NewAccount{ClinicID: clinic, Email: email, Name: "Dana " + clinic, Role: role, Password: "correct horse battery"}, system)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPasswordsAreArgon2id(t *testing.T) {
	t.Parallel()
	h, err := staff.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Errorf("hash %q", h)
	}
	if ok, err := staff.CheckPassword(h, "correct horse battery"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := staff.CheckPassword(h, "correct horse batterY"); ok {
		t.Error("wrong password accepted")
	}
	if _, err := staff.CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("a hash of another kind was read")
	}
}

func TestCreateRefusesBadAccountsAndDuplicateEmails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	create(t, b.svc, "harbour", "Dana@Harbour.example", staff.ClinicAdmin)
	good := staff.NewAccount{ClinicID: "sol", Email: "lee@sol.example", Name: "Lee", Role: staff.Clinician, Password: "twelve chars!"}
	for name, tc := range map[string]struct {
		change func(*staff.NewAccount)
		want   string
	}{
		"bad email":      {func(n *staff.NewAccount) { n.Email = "Lee <lee@sol.example>" }, "email must be"},
		"no name":        {func(n *staff.NewAccount) { n.Name = " " }, "name must be"},
		"bad role":       {func(n *staff.NewAccount) { n.Role = "owner" }, "role must be"},
		"short password": {func(n *staff.NewAccount) { n.Password = "short" }, "password must be"},
	} {
		n := good
		tc.change(&n)
		_, err := b.svc.Create(ctx, n, system)
		var inv *staff.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// The email is the login: unique across clinics, whatever its case.
	dup := good
	dup.Email = "dana@harbour.EXAMPLE"
	if _, err := b.svc.Create(ctx, dup, system); !errors.Is(err, staff.ErrEmailTaken) {
		t.Errorf("duplicate email: %v", err)
	}
	if list, _ := b.svc.List(ctx, "sol"); len(list) != 0 {
		t.Errorf("a refused account was stored: %+v", list)
	}
}

func TestLoginStartsASessionWithACSRFToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := create(t, b.svc, "harbour", "dana@harbour.example", staff.Clinician)
	token, sess, who, err := b.svc.Login(ctx, " DANA@harbour.example", "correct horse battery", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if who.ID != a.ID || sess.ClinicID != "harbour" || len(sess.CSRF) < 40 || len(token) < 40 {
		t.Fatalf("session %+v for %+v", sess, who)
	}
	got, acct, err := b.svc.Session(ctx, token)
	if err != nil || acct.ID != a.ID || !got.CheckCSRF(sess.CSRF) {
		t.Fatalf("session read back: %+v %+v %v", got, acct, err)
	}
	if got.CheckCSRF("") || got.CheckCSRF(sess.CSRF[:len(sess.CSRF)-1]) {
		t.Error("a wrong CSRF token passed")
	}
	if _, _, err := b.svc.Session(ctx, token+"x"); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("unknown session: %v", err)
	}
	b.clock.advance(natsjs.StaffSessionTTL)
	if _, _, err := b.svc.Session(ctx, token); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("expired session: %v", err)
	}
	token2, _, _, err := b.svc.Login(ctx, "dana@harbour.example", "correct horse battery", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Logout(ctx, token2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.svc.Session(ctx, token2); !errors.Is(err, staff.ErrNoSession) {
		t.Errorf("session after logout: %v", err)
	}
}

// Failed logins are counted per account and per address in JetStream, so
// two replicas share the count; past the limit even the right password is
// refused until the hour is over.
func TestLoginAttemptsAreRateLimitedAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	create(t, b.svc, "harbour", "dana@harbour.example", staff.Clinician)
	create(t, b.svc, "harbour", "lee@harbour.example", staff.Clinician)
	replica := staff.New(b.env.Store, b.svc.Limits, b.clock.now, natsjstest.Logger())
	for i, svc := range []*staff.Service{b.svc, replica, b.svc} {
		if _, _, _, err := svc.Login(ctx, "dana@harbour.example", "guess", "192.0.2.1"); !errors.Is(err, staff.ErrLogin) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, _, _, err := replica.Login(ctx, "dana@harbour.example", "correct horse battery", "198.51.100.7"); !errors.Is(err, staff.ErrTooManyAttempts) {
		t.Errorf("4th attempt on the account: %v, want ErrTooManyAttempts", err)
	}
	// Another account from the same address still works (2 more failures allowed there).
	if _, _, _, err := b.svc.Login(ctx, "lee@harbour.example", "correct horse battery", "192.0.2.1"); err != nil {
		t.Errorf("another account: %v", err)
	}
	// One address trying many emails is stopped too.
	for _, email := range []string{"a@x.example", "b@x.example"} {
		if _, _, _, err := b.svc.Login(ctx, email, "guess", "192.0.2.1"); !errors.Is(err, staff.ErrLogin) {
			t.Fatalf("%s: %v", email, err)
		}
	}
	if _, _, _, err := b.svc.Login(ctx, "lee@harbour.example", "correct horse battery", "192.0.2.1"); !errors.Is(err, staff.ErrTooManyAttempts) {
		t.Errorf("6th attempt from the address: %v, want ErrTooManyAttempts", err)
	}
	b.clock.advance(time.Hour)
	if _, _, _, err := b.svc.Login(ctx, "dana@harbour.example", "correct horse battery", "192.0.2.1"); err != nil {
		t.Errorf("the next hour: %v", err)
	}
}

func TestAPITokensActAsTheirAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := create(t, b.svc, "harbour", "dana@harbour.example", staff.Clinician)
	token, err := b.svc.NewAPIToken(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.svc.ByAPIToken(ctx, token)
	if err != nil || got.ID != a.ID || got.ClinicID != "harbour" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{"", token + "x", strings.TrimPrefix(token, staff.APITokenPrefix), natsjstest.HarbourToken} {
		if _, err := b.svc.ByAPIToken(ctx, bad); !errors.Is(err, staff.ErrNoSession) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Notes are entries appended, never overwritten, and a clinic reads only
// its own; the stream refuses deletes.
func TestAuditIsAppendOnlyAndPerClinic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	audit := &staff.Audit{JS: b.env.Store.JetStream(), Now: b.clock.now}
	dana := aftercare.Author{Kind: aftercare.AuthorStaff, ID: "stf_1", Name: "Dana"}
	for _, note := range []string{"called, no answer", "called again, booked GP"} {
		if err := audit.Record(ctx, staff.Entry{ClinicID: "harbour", Author: dana, Action: "note", Kind: "conversation", Target: "+447700900123", Note: note}); err != nil {
			t.Fatal(err)
		}
	}
	if err := audit.Record(ctx, staff.Entry{ClinicID: "sol", Author: dana, Action: "note", Kind: "conversation", Target: "+447700900123", Note: "sol's"}); err != nil {
		t.Fatal(err)
	}
	h, err := audit.History(ctx, "harbour", "conversation", "+447700900123")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Note != "called, no answer" || h[1].Note != "called again, booked GP" || h[1].Author != dana || h[0].At.IsZero() {
		t.Fatalf("history %+v", h)
	}
	stream, err := b.env.Store.JetStream().Stream(ctx, natsjs.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(ctx, 1); err == nil {
		t.Error("an audit entry was deleted")
	}
	if err := stream.Purge(ctx); err == nil {
		t.Error("the audit stream was purged")
	}
}

// Guesses sent all at once are each counted before any password is
// checked: no more than the limit are ever checked, and a burst waits a
// bounded time for the password checks the whole scheduler shares.
func TestConcurrentGuessesStopAtTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	create(t, b.svc, "harbour", "dana@harbour.example", staff.Clinician)
	var wg sync.WaitGroup
	var checked, refused, other atomic.Int32
	for i := range 30 {
		wg.Go(func() {
			_, _, _, err := b.svc.Login(ctx, "dana@harbour.example", "guess", fmt.Sprintf("192.0.2.%d", i))
			switch {
			case errors.Is(err, staff.ErrLogin):
				checked.Add(1)
			case errors.Is(err, staff.ErrTooManyAttempts), errors.Is(err, staff.ErrBusy):
				refused.Add(1)
			default:
				other.Add(1)
				t.Errorf("guess: %v", err)
			}
		})
	}
	wg.Wait()
	if int(checked.Load()) > b.svc.Limits.PerAccount || checked.Load()+refused.Load() != 30 {
		t.Errorf("%d guesses checked (limit %d), %d refused, %d other", checked.Load(), b.svc.Limits.PerAccount, refused.Load(), other.Load())
	}
}
