package natsauth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftercare/aftercare/internal/natsauth"
)

// auth.conf must be a config nats-server takes, with one user per
// principal and each user's permissions as written. (Which permissions
// are enough, and which are refused, deploy/installtest shows on a cluster.)
func TestConfIsWhatTheServerParses(t *testing.T) {
	dir := t.TempDir()
	users, err := natsauth.Generate(dir, []string{"sol", "harbour"})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("include auth.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses auth.conf: %v", err)
	}
	if len(opts.Nkeys) != 4 || len(users) != 4 {
		t.Fatalf("%d nkey users parsed, %d made; want scheduler, worker, 2 booking systems", len(opts.Nkeys), len(users))
	}
	byKey := map[string]*server.NkeyUser{}
	for _, u := range opts.Nkeys {
		byKey[u.Nkey] = u
	}
	for _, u := range users {
		parsed := byKey[u.NKey]
		if parsed == nil || parsed.Account == nil || parsed.Account.Name != natsauth.Account {
			t.Fatalf("%s: not a user of account %s", u.Name, natsauth.Account)
		}
		p := parsed.Permissions
		if strings.Join(p.Publish.Allow, " ") != strings.Join(u.Publish, " ") || strings.Join(p.Subscribe.Allow, " ") != strings.Join(u.Subscribe, " ") {
			t.Errorf("%s: parsed %v / %v, want %v / %v", u.Name, p.Publish.Allow, p.Subscribe.Allow, u.Publish, u.Subscribe)
		}
		if (p.Response != nil) != u.AllowResponses {
			t.Errorf("%s: allow_responses %v, want %v", u.Name, p.Response != nil, u.AllowResponses)
		}
	}
	if got := users[2].Publish; len(got) != 1 || got[0] != "sessions.harbour.>" {
		t.Errorf("booking-harbour publishes %v, want its own clinic's sessions only", got)
	}
}

// Adding a clinic must not change anyone else's credentials.
func TestGenerateKeepsSeeds(t *testing.T) {
	dir := t.TempDir()
	first, err := natsauth.Generate(dir, []string{"harbour"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := natsauth.Generate(dir, []string{"harbour", "sol"})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range first {
		if second[i].Name != u.Name || second[i].NKey != u.NKey {
			t.Errorf("%s: key changed from %s to %s", u.Name, u.NKey, second[i].NKey)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "scheduler.nk"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("seed file: %v %v, want mode 0600", info, err)
	}
}

func TestClinicMustBeOneSubjectToken(t *testing.T) {
	for _, bad := range []string{"", "a.b", "a*", "a>", "A", "a b", "-a"} {
		if _, err := natsauth.Generate(t.TempDir(), []string{bad}); err == nil || !strings.Contains(err.Error(), "clinic id") {
			t.Errorf("clinic %q: error %v, want one naming the clinic id", bad, err)
		}
	}
}
