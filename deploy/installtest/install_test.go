package installtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/aftercare/aftercare/internal/harness"
	"github.com/aftercare/aftercare/internal/natsauth"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// Two clinics, each with its own booking-system principal.
const clinicsJSON = `{"clinics":[
 {"id":"harbour","name":"Harbour Massage","time_zone":"Europe/London","send_window":"* * * * *","locale":"en",
  "sender":{"from":"+447700900100"},"contact_phone":"+442079460000","intake_token_env":"HARBOUR_TOKEN",
  "escalation":{"on_call_phone":"+447700900199"}},
 {"id":"sol","name":"Fisio Sol","time_zone":"America/Mexico_City","send_window":"* * * * *","locale":"es",
  "sender":{"messaging_service_sid":"MG00000000000000000000000000000001"},"contact_phone":"+525555550100",
  "intake_token_env":"SOL_TOKEN","escalation":{"on_call_phone":"+525555550199"}}]}`

const harbourToken = "harbour-intake-token-0000000000000001"

// overlay is the prod overlay as kustomize builds it: the shared settings
// and each program's Deployment.
type overlay struct {
	env         map[string]string
	deployments map[string]*appsv1.Deployment
}

func buildOverlay(t *testing.T, dir string) overlay {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := overlay{env: map[string]string{}, deployments: map[string]*appsv1.Deployment{}}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "ConfigMap":
			if strings.HasPrefix(r.GetName(), "aftercare-env") {
				var cm corev1.ConfigMap
				if err := json.Unmarshal(toJSON(t, y), &cm); err != nil {
					t.Fatal(err)
				}
				o.env = cm.Data
			}
		case "Deployment":
			var d appsv1.Deployment
			if err := json.Unmarshal(toJSON(t, y), &d); err != nil {
				t.Fatal(err)
			}
			o.deployments[d.Name] = &d
		}
	}
	return o
}

// programEnv is a program's environment as its pod would have it (the
// overlay's ConfigMap and the container's own env), with NATS' address
// moved to loopback, absolute paths under root, and the test's clinics,
// offsets and Twilio stand-in.
func programEnv(o overlay, d *appsv1.Deployment, root string, natsURLs []string, extra ...string) []string {
	vars := map[string]string{}
	for k, v := range o.env {
		vars[k] = v
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		vars[e.Name] = e.Value
	}
	for k, v := range vars {
		if strings.HasPrefix(v, "/") {
			vars[k] = root + v
		}
	}
	vars["NATS_URL"] = strings.Join(natsURLs, ",")
	env := []string{}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// TestRenderedInstall is the install an ops team follows, end to end: the
// official chart rendered with values-prod.yaml, its 3 nodes booted with
// TLS on clients and routes and the nkey users of cmd/natsauth, then the
// real scheduler and worker with the prod overlay's settings (TLS, R3,
// each program's own seed and inbox). A session posted over HTTP and one
// a booking system publishes straight to JetStream each become 3 texts;
// then each principal is shown what it may do and what it is refused.
func TestRenderedInstall(t *testing.T) {
	r := render(t, "../nats/values-prod.yaml")
	secrets, credDir := testSecrets(t)
	c := bootCluster(t, r, secrets)

	bin := buildPrograms(t)
	o := buildOverlay(t, "../k8s/overlays/prod")
	if o.env["NATS_REPLICAS"] != "3" {
		t.Fatalf("prod overlay NATS_REPLICAS=%q, want 3", o.env["NATS_REPLICAS"])
	}
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	clinics := filepath.Join(t.TempDir(), "clinics.json")
	if err := os.WriteFile(clinics, []byte(clinicsJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := []string{"HTTP_ADDR=127.0.0.1:0", "CLINICS_FILE=" + clinics, "HARBOUR_TOKEN=" + harbourToken,
		"SOL_TOKEN=sol-intake-token-00000000000000000001", "FOLLOWUP_OFFSETS=2s,4s,6s", "LOG_LEVEL=debug",
		// Seconds-apart texts at whatever hour CI runs: the test clinics text at
		// any hour, as every other test of the programs does.
		"ALLOW_ANY_SEND_WINDOW=true", "FREQUENCY_CAP_PER_DAY=0", "FREQUENCY_CAP_PER_WEEK=0",
		"SMS_DRIVER=twilio", "TWILIO_ACCOUNT_SID=" + twiliotest.AccountSID, "TWILIO_AUTH_TOKEN=" + twiliotest.AuthToken,
		"TWILIO_API_BASE_URL=" + stand.URL, "SEND_RATE_PER_SENDER=50", "SEND_BURST=10", "PUBLIC_BASE_URL=https://aftercare.example"}
	procs := map[string]*harness.Proc{}
	for _, name := range []string{"scheduler", "worker"} {
		d := o.deployments["aftercare-"+name]
		if d == nil {
			t.Fatalf("prod overlay has no Deployment aftercare-%s", name)
		}
		root := filepath.Join(t.TempDir(), name)
		place(t, root, d.Spec.Template.Spec, name, secrets, files{})
		p, err := harness.Start(name, filepath.Join(bin, name), nil, programEnv(o, d, root, c.urls, extra...), true)
		if err != nil {
			t.Fatalf("%v\n%s", err, c.logs)
		}
		procs[name] = p
		t.Cleanup(func() {
			p.Stop()
			if strings.Contains(p.Logs(), "Permissions Violation") || t.Failed() {
				t.Errorf("%s logs:\n%s", name, p.Logs())
			}
		})
		if err := harness.WaitReady(p.Addr, 90*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", name, err, p.Tail(), c.logs)
		}
	}

	// A session over the scheduler's HTTP intake.
	end := time.Now()
	postSession(t, procs["scheduler"].Addr, event("e1", "s1", "+447700900001", end))
	// One a booking system publishes straight to the sessions stream, as
	// its own user, with its own inbox for the acknowledgement.
	booking := connectAs(t, c, credDir, "booking-harbour", natsauth.BookingInbox("harbour"))
	js, err := jetstream.New(booking.nc)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("sessions.harbour.s2")
	msg.Data = []byte(event("e2", "s2", "+447700900002", end))
	msg.Header.Set(jetstream.MsgIDHeader, "harbour.e2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatalf("booking system's publish: %v", err)
	}
	if ack.Stream != "AFTERCARE_SESSIONS" {
		t.Fatalf("acknowledged by stream %s", ack.Stream)
	}
	for _, phone := range []string{"+447700900001", "+447700900002"} {
		if got := messagesTo(stand, phone, 3, 60*time.Second); len(got) != 3 {
			t.Errorf("%s got %d texts, want 3\n%s", phone, len(got), c.logs)
		}
	}

	t.Run("metrics", func(t *testing.T) { checkMetricsExist(t, procs["scheduler"].Addr, procs["worker"].Addr) })
	checkPermissions(t, c, credDir)
}

func event(id, session, phone string, end time.Time) string {
	b, _ := json.Marshal(map[string]any{"event_id": id, "session_id": session, "kind": "completed",
		"session_end": end.UTC().Format(time.RFC3339Nano),
		"client":      map[string]string{"phone": phone, "time_zone": "Europe/London", "locale": "en"}})
	return string(b)
}

func postSession(t *testing.T, addr, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/sessions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+harbourToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %d %s", res.StatusCode, out)
	}
}

func messagesTo(stand *twiliotest.Server, phone string, want int, within time.Duration) []twiliotest.Message {
	deadline := time.Now().Add(within)
	for {
		var got []twiliotest.Message
		for _, m := range stand.Messages() {
			if m.To == phone {
				got = append(got, m)
			}
		}
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// releaseVersion is what the release build would build in; /metrics must
// report it.
const releaseVersion = "9.8.7-installtest"

// buildPrograms compiles the scheduler and worker from the repository's
// own module (not this one's dependency versions), with the version flag
// the Dockerfile uses.
func buildPrograms(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-ldflags", "-X "+versionFlag(t)+"="+releaseVersion,
		"-o", bin+string(filepath.Separator), "./cmd/scheduler", "./cmd/worker")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the programs: %v\n%s", err, out)
	}
	return bin
}

var _ = fmt.Sprintf
