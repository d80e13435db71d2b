package twilio_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aftercare/aftercare/internal/sms"
	"github.com/aftercare/aftercare/internal/twilio"
	"github.com/aftercare/aftercare/internal/twiliotest"
)

// DeleteMessage removes a message from Twilio's logs with twilio-go's
// Messages DELETE; one Twilio no longer has (404, 20404) is no error, so
// a repeated erasure job deletes nothing twice; wrong credentials are a
// permanent failure, for the job to be given up and looked at.
func TestDeleteMessage(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	ctx := context.Background()
	keep, err := s.Send(ctx, sms.Message{To: "+447700900124", From: "+447700900100", Body: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Send(ctx, sms.Message{To: "+447700900123", From: "+447700900100", Body: "erase me"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.DeleteMessage(ctx, gone); err != nil {
			t.Fatal(err)
		}
	}
	if msgs := stand.Messages(); len(msgs) != 1 || msgs[0].SID != keep {
		t.Errorf("left at Twilio: %+v", msgs)
	}
	if d := stand.Deleted(); len(d) != 1 || d[0] != gone {
		t.Errorf("deleted %v, want %s once", d, gone)
	}
	wrong, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: "wrongtoken000000000000000000000001", BaseURL: stand.URL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.DeleteMessage(ctx, keep); !sms.IsPermanent(err) {
		t.Errorf("wrong credentials: %v, want a permanent error", err)
	}
	if len(stand.Messages()) != 1 {
		t.Errorf("a request with wrong credentials deleted a message")
	}
}

// A message still being delivered cannot be deleted yet (Twilio's 20009):
// a temporary failure, to ask again in minutes, not a refusal that gives
// the erasure up.
func TestDeleteMessageStillBeingDelivered(t *testing.T) {
	t.Parallel()
	s, stand := setup(t)
	ctx := context.Background()
	sid, err := s.Send(ctx, sms.Message{To: "+447700900123", From: "+447700900100", Body: "erase me"})
	if err != nil {
		t.Fatal(err)
	}
	stand.Sending(sid, true)
	err = s.DeleteMessage(ctx, sid)
	var later *sms.TemporaryError
	if !errors.As(err, &later) || later.Code != 20009 || later.RetryAfter < time.Minute {
		t.Fatalf("deleting a message still being delivered: %v, want a temporary error to retry in minutes", err)
	}
	stand.Sending(sid, false)
	if err := s.DeleteMessage(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if d := stand.Deleted(); len(d) != 1 || d[0] != sid {
		t.Errorf("deleted %v, want %s", d, sid)
	}
}
