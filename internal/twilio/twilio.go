// Package twilio sends SMS through Twilio's REST API with the official
// twilio-go client, and sorts Twilio's answers into temporary and permanent
// failures.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/sms"
)

// DefaultBaseURL is Twilio's API; tests and Twilio-compatible providers
// point BaseURL elsewhere.
const DefaultBaseURL = "https://api.twilio.com"

// Config is what the sender needs to reach Twilio.
type Config struct {
	AccountSID string
	AuthToken  string
	// APIKeySID and APIKeySecret, when set, authenticate instead of the
	// auth token (the account SID still names the account).
	APIKeySID    string
	APIKeySecret string
	BaseURL      string        // DefaultBaseURL when empty
	Timeout      time.Duration // per request, reading the answer included
	// Observe, if set, is told how long each call took and how it ended:
	// "ok", "temporary" or "permanent".
	Observe func(took time.Duration, outcome string)
}

// Sender sends messages with twilio-go.
type Sender struct {
	cfg       Config
	transport http.RoundTripper
}

var (
	_ sms.Sender = (*Sender)(nil)
	_ sms.Finder = (*Sender)(nil)
)

// New returns a Sender. It checks the base URL but makes no request.
func New(cfg Config) (*Sender, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("twilio base URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt := http.DefaultTransport.(*http.Transport).Clone()
	// Keep a connection per concurrent send: a new TLS handshake per text
	// would cost more than the text. The default transport also caps idle
	// connections at 100 in all: with more sends at once than that, the
	// rest were closed and dialled again for every text.
	rt.MaxIdleConnsPerHost = 256
	rt.MaxIdleConns = 0
	return &Sender{cfg: cfg, transport: &rebase{base: base, next: rt}}, nil
}

// Send creates the message. twilio-go keeps no response headers and takes no
// context, so each call gets its own small client whose transport gives the
// request ctx and records the HTTP status and Retry-After.
func (s *Sender) Send(ctx context.Context, m sms.Message) (string, error) {
	start := time.Now()
	sid, err := s.send(ctx, m)
	if s.cfg.Observe != nil {
		outcome := "ok"
		switch {
		case sms.IsPermanent(err):
			outcome = "permanent"
		case err != nil:
			outcome = "temporary"
		}
		s.cfg.Observe(time.Since(start), outcome)
	}
	return sid, err
}

func (s *Sender) send(ctx context.Context, m sms.Message) (string, error) {
	params := &openapi.CreateMessageParams{}
	params.SetTo(m.To)
	if m.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(m.MessagingServiceSID)
	} else {
		params.SetFrom(m.From)
	}
	params.SetBody(m.Body)
	if m.StatusCallback != "" {
		params.SetStatusCallback(m.StatusCallback)
	}
	rec := &recorder{next: s.transport}
	msg, err := call(ctx, s, rec, func(api *openapi.ApiService) (*openapi.ApiV2010Message, error) { return api.CreateMessage(params) })
	switch {
	case errors.Is(err, errAbandoned):
		// The request may still reach Twilio: an unknown outcome, which the
		// next attempt looks up (FindSent) before sending again.
		return "", &sms.TemporaryError{Err: fmt.Errorf("create message: %w", err)}
	case err != nil:
		return "", classify(err, rec.status, rec.retryAfter)
	case msg == nil || msg.Sid == nil || *msg.Sid == "":
		return "", &sms.TemporaryError{Status: rec.status, Err: errors.New("create message: Twilio answered without a message sid")}
	}
	return *msg.Sid, nil
}

// Call places a voice call that plays c.Twiml (Twilio's Calls API). Like
// Send, it has no idempotency key: a call that got no answer may have been
// placed.
func (s *Sender) Call(ctx context.Context, c sms.Call) (string, error) {
	params := &openapi.CreateCallParams{}
	params.SetTo(c.To)
	params.SetFrom(c.From)
	params.SetTwiml(c.Twiml)
	rec := &recorder{next: s.transport}
	resp, err := call(ctx, s, rec, func(api *openapi.ApiService) (*openapi.ApiV2010Call, error) { return api.CreateCall(params) })
	switch {
	case errors.Is(err, errAbandoned):
		return "", &sms.TemporaryError{Err: fmt.Errorf("create call: %w", err)}
	case err != nil:
		return "", classify(err, rec.status, rec.retryAfter)
	case resp == nil || resp.Sid == nil || *resp.Sid == "":
		return "", &sms.TemporaryError{Status: rec.status, Err: errors.New("create call: Twilio answered without a call sid")}
	}
	return *resp.Sid, nil
}

// findPageSize is how many of a number's messages FindSent looks through.
// Twilio sorts by date sent, newest first, and a queued text has none yet;
// but a client gets a few texts a week from us, so one page holds all of
// the recent ones whatever their order.
const findPageSize = 50

// clockSkew allows for Twilio's clock (and its whole-second timestamps)
// differing from ours.
const clockSkew = time.Minute

// FindSent looks through the latest messages to m.To for one with m's body,
// sender and a creation time since since (less clockSkew). The list holds
// messages in every status, queued ones included.
func (s *Sender) FindSent(ctx context.Context, m sms.Message, since time.Time) (string, error) {
	params := &openapi.ListMessageParams{}
	params.SetTo(m.To)
	params.SetPageSize(findPageSize)
	rec := &recorder{next: s.transport}
	page, err := call(ctx, s, rec, func(api *openapi.ApiService) (*openapi.ListMessageResponse, error) {
		return api.PageMessage(params, "", "")
	})
	if errors.Is(err, errAbandoned) {
		return "", &sms.TemporaryError{Err: fmt.Errorf("list messages: %w", err)}
	}
	if err != nil {
		return "", classify(err, rec.status, rec.retryAfter)
	}
	for _, msg := range page.Messages {
		if msg.Sid == nil || msg.Body == nil || *msg.Body != m.Body || msg.DateCreated == nil {
			continue
		}
		if m.MessagingServiceSID != "" {
			if msg.MessagingServiceSid == nil || *msg.MessagingServiceSid != m.MessagingServiceSID {
				continue
			}
		} else if msg.From == nil || *msg.From != m.From {
			continue
		}
		created, err := time.Parse(time.RFC1123Z, *msg.DateCreated)
		if err == nil && !created.Before(since.Add(-clockSkew)) {
			return *msg.Sid, nil
		}
	}
	return "", nil
}

// DeleteMessage removes a message, its body and numbers, from Twilio's
// logs (the Messages resource's DELETE): for a clinic that has Twilio
// forget an erased client too. A message Twilio no longer has is no error,
// so a repeated job deletes nothing twice. One still being delivered
// (Twilio's 20009) is a temporary failure: Twilio deletes it once its
// delivery is over, minutes later.
func (s *Sender) DeleteMessage(ctx context.Context, sid string) error {
	rec := &recorder{next: s.transport}
	_, err := call(ctx, s, rec, func(api *openapi.ApiService) (struct{}, error) { return struct{}{}, api.DeleteMessage(sid, nil) })
	var rest *twclient.TwilioRestError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errAbandoned):
		return &sms.TemporaryError{Err: fmt.Errorf("delete message %s: %w", sid, err)}
	case errors.As(err, &rest) && rest.Status == http.StatusNotFound:
		return nil
	case errors.As(err, &rest) && rest.Code == codeDeliveryNotCompleted:
		return &sms.TemporaryError{Code: rest.Code, Status: rest.Status, RetryAfter: max(rec.retryAfter, deliveryNotCompletedRetry),
			Err: masked{fmt.Errorf("delete message %s: delivery not completed yet: %w", sid, err)}}
	}
	return classify(fmt.Errorf("delete message %s: %w", sid, err), rec.status, rec.retryAfter)
}

// codeDeliveryNotCompleted is Twilio's answer to deleting a message whose
// delivery is not over ("Cannot delete message because delivery has not
// been completed"); deliveryNotCompletedRetry is when to ask again.
const (
	codeDeliveryNotCompleted  = 20009
	deliveryNotCompletedRetry = 2 * time.Minute
)

// api returns a Twilio API client of its own whose transport records the
// HTTP status and Retry-After (twilio-go keeps no response headers).
func (s *Sender) api(rec *recorder) *openapi.ApiService {
	user, password := s.cfg.AccountSID, s.cfg.AuthToken
	if s.cfg.APIKeySID != "" {
		user, password = s.cfg.APIKeySID, s.cfg.APIKeySecret
	}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(user, password),
		HTTPClient: &http.Client{
			Transport:     rec,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.cfg.AccountSID)
	return openapi.NewApiServiceWithClient(c)
}

// errAbandoned is call's error when ctx, or the per-request timeout, ended
// before Twilio's answer was read.
var errAbandoned = errors.New("gave up waiting for Twilio")

// call runs a twilio-go request on an API client whose transport is rec.
// twilio-go's requests take no context, so rec gives each HTTP request ctx,
// bounded by the configured timeout: the request ends when ctx does. (A
// goroutine per request that stopped waiting for it instead cost a twentieth
// of the worker's CPU, growing each new goroutine's stack to twilio-go's.)
func call[T any](ctx context.Context, s *Sender, rec *recorder, request func(*openapi.ApiService) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	rec.ctx = ctx
	v, err := request(s.api(rec))
	var rest *twclient.TwilioRestError
	if err != nil && ctx.Err() != nil && !errors.As(err, &rest) {
		// Not Twilio's answer but our giving up on it: the request may
		// still have reached Twilio. (A failure of its own that came as
		// ctx ended is taken as this too: the safe side, as the next
		// attempt looks for the text before sending.) The error says at
		// which step; its URL can hold the client's number.
		var zero T
		return zero, fmt.Errorf("%w: %w (%w)", errAbandoned, ctx.Err(), masked{err})
	}
	return v, err
}

// Twilio error codes that retrying will not fix.
var permanentCodes = map[int]string{
	21211: "invalid To number",
	21408: "region not enabled",
	21610: "recipient has opted out (replied STOP)",
	21612: "cannot route to this number",
	21614: "To is not a mobile number",
	21606: "From is not a valid message-capable number",
	21659: "From is not a Twilio number",
	21703: "messaging service has no senders",
	20003: "authentication failed",
	21222: "invalid account sid",
	21224: "invalid auth token",
	30007: "carrier filtering",
}

// Twilio error codes that mean "later": too many requests, the sender's queue full.
var temporaryCodes = map[int]bool{20429: true, 30001: true, 21611: true, 20500: true, 20503: true}

func classify(err error, status int, retryAfter time.Duration) error {
	// Twilio's messages may quote the client's number back (21211, 21408):
	// everything below is logged and stored as reasons.
	err = masked{err}
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		if status == 0 {
			status = rest.Status
		}
		switch {
		case temporaryCodes[rest.Code], status == http.StatusTooManyRequests, status >= 500:
			return &sms.TemporaryError{Code: rest.Code, Status: status, RetryAfter: retryAfter, Err: err}
		case permanentCodes[rest.Code] != "":
			return &sms.PermanentError{Code: rest.Code, Status: status, Err: fmt.Errorf("%s: %w", permanentCodes[rest.Code], err)}
		default:
			// Any other 4xx is a request Twilio refuses as it stands.
			return &sms.PermanentError{Code: rest.Code, Status: status, Err: err}
		}
	}
	// Not a Twilio error body: a proxy's HTML 503, a timeout, a refused
	// connection. Retry unless the status says the request itself is wrong.
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return &sms.PermanentError{Status: status, Err: err}
	}
	return &sms.TemporaryError{Status: status, RetryAfter: retryAfter, Err: err}
}

// rebase sends requests meant for api.twilio.com to the configured base URL.
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

func (r *rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.base.Host == req.URL.Host && r.base.Scheme == req.URL.Scheme {
		return r.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.URL.Scheme = r.base.Scheme
	req.URL.Host = r.base.Host
	req.URL.Path = r.base.Path + req.URL.Path
	req.Host = r.base.Host
	return r.next.RoundTrip(req)
}

// recorder gives the request it sees its context, and keeps the status
// and Retry-After of the response.
type recorder struct {
	next       http.RoundTripper
	ctx        context.Context
	status     int
	retryAfter time.Duration
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.ctx != nil {
		req = req.WithContext(r.ctx)
	}
	res, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.status = res.StatusCode
	r.retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	return res, nil
}

// parseRetryAfter reads either form of Retry-After: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// masked is an error whose message has its phone numbers masked; the
// error it wraps (a TwilioRestError with its code) is still there for
// errors.As.
type masked struct{ err error }

func (m masked) Error() string { return aftercare.MaskPhonesIn(m.err.Error()) }
func (m masked) Unwrap() error { return m.err }
