package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

func setup(t *testing.T) (*twilio.Sender, *twiliotest.Server) {
	t.Helper()
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	s, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s, stand
}

func TestSendFromNumber(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	sid, err := s.Send(context.Background(), sms.Message{To: "+447700900123", From: "+447700900100", Body: "hello", StatusCallback: "https://example.test/cb"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := stand.Messages()
	if len(msgs) != 1 {
		t.Fatalf("stand-in got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if sid != m.SID || m.To != "+447700900123" || m.From != "+447700900100" || m.Body != "hello" || m.StatusCallback != "https://example.test/cb" {
		t.Errorf("sent %+v, sid %q", m, sid)
	}
}

func TestSendWithMessagingService(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	if _, err := s.Send(context.Background(), sms.Message{To: "+447700900123", MessagingServiceSID: "MG00000000000000000000000000000001", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if m := stand.Messages()[0]; m.MessagingServiceSID != "MG00000000000000000000000000000001" || m.From != "" {
		t.Errorf("sent %+v, want Messaging Service and no From", m)
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		reply      twiliotest.Reply
		permanent  bool
		retryAfter time.Duration
	}{
		{"429 with Retry-After seconds", twiliotest.Reply{Status: 429, Code: 20429, RetryAfter: "7"}, false, 7 * time.Second},
		{"500 JSON", twiliotest.Reply{Status: 500, Code: 20500}, false, 0},
		{"503 HTML from a proxy", twiliotest.Reply{Status: 503, HTML: true, RetryAfter: "3"}, false, 3 * time.Second},
		{"21211 invalid number", twiliotest.Reply{Status: 400, Code: 21211}, true, 0},
		{"21610 unsubscribed", twiliotest.Reply{Status: 400, Code: 21610}, true, 0},
		{"21614 not mobile", twiliotest.Reply{Status: 400, Code: 21614}, true, 0},
		{"30001 queue full", twiliotest.Reply{Status: 400, Code: 30001}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, stand := setup(t)
			stand.Script(tt.reply)
			_, err := s.Send(context.Background(), sms.Message{To: "+447700900123", From: "+447700900100", Body: "x"})
			if err == nil {
				t.Fatal("want an error")
			}
			if got := sms.IsPermanent(err); got != tt.permanent {
				t.Fatalf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			var temp *sms.TemporaryError
			if !tt.permanent {
				if !errors.As(err, &temp) {
					t.Fatalf("want a TemporaryError, got %T", err)
				}
				if temp.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", temp.RetryAfter, tt.retryAfter)
				}
				if temp.Status != tt.reply.Status {
					t.Errorf("Status = %d, want %d", temp.Status, tt.reply.Status)
				}
			}
			if len(stand.Messages()) != 0 {
				t.Error("a failed request must not record a message")
			}
		})
	}
}

func TestSendTimeoutIsTemporary(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	stand.Script(twiliotest.Reply{Delay: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.Send(ctx, sms.Message{To: "+447700900123", From: "+447700900100", Body: "x"})
	var temp *sms.TemporaryError
	if !errors.As(err, &temp) {
		t.Fatalf("want a TemporaryError, got %v", err)
	}
}

// A send ends its request when its context ends, or at the sender's own
// timeout, without waiting for Twilio's late answer; either way the
// outcome is unknown, so the error is temporary and says it gave up.
func TestSendGivesUpAtItsContextOrItsTimeout(t *testing.T) {
	t.Parallel()
	stand := twiliotest.NewServer()
	t.Cleanup(stand.Close)
	newSender := func(timeout time.Duration) *twilio.Sender {
		s, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const answerAfter = time.Second
	for _, tc := range []struct {
		name    string
		sender  *twilio.Sender
		ctxWait time.Duration
	}{
		{"context", newSender(10 * time.Second), 50 * time.Millisecond},
		{"timeout", newSender(50 * time.Millisecond), time.Minute},
	} {
		stand.Script(twiliotest.Reply{Delay: answerAfter})
		ctx, cancel := context.WithTimeout(context.Background(), tc.ctxWait)
		start := time.Now()
		_, err := tc.sender.Send(ctx, sms.Message{To: "+447700900123", From: "+447700900100", Body: "x"})
		took := time.Since(start)
		cancel()
		var temp *sms.TemporaryError
		if !errors.As(err, &temp) || !strings.Contains(err.Error(), "gave up waiting for Twilio") {
			t.Errorf("%s: want a TemporaryError that gave up waiting, got %v", tc.name, err)
		}
		if took >= answerAfter {
			t.Errorf("%s: the send waited %v, for Twilio's answer", tc.name, took)
		}
	}
}

func TestWrongCredentialsArePermanent(t *testing.T) {
	t.Parallel()
	stand := twiliotest.NewServer()
	defer stand.Close()
	s, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: "wrongtoken", BaseURL: stand.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), sms.Message{To: "+447700900123", From: "+447700900100", Body: "x"})
	var perm *sms.PermanentError
	if !errors.As(err, &perm) || perm.Status != http.StatusUnauthorized || perm.Code != 20003 {
		t.Fatalf("want permanent 401/20003, got %v", err)
	}
}

// With an API key the request authenticates as the key, not the account:
// the stand-in refuses a wrong secret, so a send proves which was used.
func TestSendWithAPIKey(t *testing.T) {
	t.Parallel()
	stand := twiliotest.NewServer()
	defer stand.Close()
	for _, tt := range []struct {
		secret string
		ok     bool
	}{{twiliotest.APIKeySecret, true}, {twiliotest.AuthToken, false}} {
		s, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
			APIKeySID: twiliotest.APIKeySID, APIKeySecret: tt.secret, BaseURL: stand.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), sms.Message{To: "+447700900123", From: "+447700900100", Body: "x"})
		var perm *sms.PermanentError
		switch {
		case tt.ok && err != nil:
			t.Errorf("with the key's secret: %v", err)
		case !tt.ok && (!errors.As(err, &perm) || perm.Status != http.StatusUnauthorized):
			t.Errorf("with the key's SID and the auth token: %v, want permanent 401", err)
		}
	}
	if n := len(stand.Messages()); n != 1 {
		t.Errorf("stand-in took %d messages, want 1", n)
	}
}

// FindSent finds a message Twilio took only if its number, sender, body and
// time all match: a client's earlier text of the same step, or the same
// text from another clinic, is not it.
func TestFindSent(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	ctx := context.Background()
	before := time.Now()
	day1 := sms.Message{To: "+447700900123", From: "+447700900100", Body: "Harbour: Day 1"}
	viaService := sms.Message{To: "+447700900123", MessagingServiceSID: "MG00000000000000000000000000000001", Body: "Sol: Dia 1"}
	var sids []string
	for _, m := range []sms.Message{day1, viaService, {To: "+447700900999", From: "+447700900100", Body: "Harbour: Day 1"}} {
		sid, err := s.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}
	otherSender := day1
	otherSender.From = "+447700900555"
	otherBody := day1
	otherBody.Body = "Harbour: Day 2"
	for _, tt := range []struct {
		name  string
		m     sms.Message
		since time.Time
		want  string
	}{
		{"the same text", day1, before, sids[0]},
		{"through a Messaging Service", viaService, before, sids[1]},
		{"another sender", otherSender, before, ""},
		{"another body", otherBody, before, ""},
		{"taken before the attempt", day1, before.Add(2 * clockSkewForTest), ""},
	} {
		sid, err := s.FindSent(ctx, tt.m, tt.since)
		if err != nil || sid != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, sid, err, tt.want)
		}
	}
	if n := stand.Lists(); n != 5 {
		t.Errorf("stand-in listed %d times, want 5", n)
	}
	stand.Fail(twiliotest.Reply{Status: http.StatusServiceUnavailable, HTML: true})
	var temp *sms.TemporaryError
	if _, err := s.FindSent(ctx, day1, before); !errors.As(err, &temp) || temp.Status != http.StatusServiceUnavailable {
		t.Errorf("lookup in an outage: %v, want a temporary 503", err)
	}
}

// clockSkewForTest is the package's clockSkew: a message created more than
// this before an attempt is not that attempt's.
const clockSkewForTest = time.Minute

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	if _, err := twilio.New(twilio.Config{BaseURL: "ftp://x"}); err == nil {
		t.Fatal("want an error for a non-http base URL")
	}
}

// A text's trip through twilio-go to the local stand-in, sixteen at once,
// as a worker sends them; the stand-in's share is in the figure too:
//
//	go test -run XXX -bench Send -benchmem ./internal/twilio/
func BenchmarkSend(b *testing.B) {
	stand := twiliotest.NewServer()
	defer stand.Close()
	s, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, BaseURL: stand.URL})
	if err != nil {
		b.Fatal(err)
	}
	msg := sms.Message{To: "+447700900123", From: "+447700900100", Body: "Harbour Clinic: Day 1: drink plenty of water today. Reply STOP to opt out"}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
