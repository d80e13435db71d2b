package email_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/email"
	"github.com/aftercare/aftercare/internal/email/emailtest"
)

func TestMailReachesServer(t *testing.T) {
	t.Parallel()
	srv, err := emailtest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	m := email.New(email.Config{Host: srv.Host, Port: srv.Port, From: "aftercare@example.org", TLS: email.TLSNone, Timeout: 5 * time.Second})
	if err := m.Mail(context.Background(), "frontdesk@harbour.example", "Escalation esc_1 not acknowledged", "Reference esc_1."); err != nil {
		t.Fatal(err)
	}
	got := srv.Mails()
	if len(got) != 1 || got[0].To[0] != "frontdesk@harbour.example" || !strings.Contains(got[0].Data, "Subject: Escalation esc_1 not acknowledged") ||
		!strings.Contains(got[0].Data, "Reference esc_1.") {
		t.Fatalf("mail %+v", got)
	}
}
