package twilio

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// SignatureHeader carries Twilio's signature of a webhook request.
const SignatureHeader = "X-Twilio-Signature"

// ErrBadSignature means a webhook request was not signed by Twilio with our
// auth token: forged, altered, or signed for another URL.
var ErrBadSignature = errors.New("missing or invalid X-Twilio-Signature")

// ErrNoAuthToken means webhooks cannot be checked: TWILIO_AUTH_TOKEN is unset.
var ErrNoAuthToken = errors.New("cannot check X-Twilio-Signature: TWILIO_AUTH_TOKEN is not set")

// WebhookVerifier checks X-Twilio-Signature with twilio-go's RequestValidator.
type WebhookVerifier struct {
	validator twclient.RequestValidator
	enabled   bool
	// publicBase is the URL Twilio calls us at (behind an ingress the URL
	// the request shows is not the one Twilio signed).
	publicBase string
}

// NewWebhookVerifier checks signatures made with authToken against URLs under
// publicBaseURL; with no base URL, the request's own Host is used.
func NewWebhookVerifier(authToken, publicBaseURL string) *WebhookVerifier {
	return &WebhookVerifier{
		validator:  twclient.NewRequestValidator(authToken),
		enabled:    authToken != "",
		publicBase: strings.TrimSuffix(publicBaseURL, "/"),
	}
}

// URL is the URL Twilio called for r, the one its signature covers.
func (v *WebhookVerifier) URL(r *http.Request) string {
	base := v.publicBase
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + r.URL.RequestURI()
}

// Verify checks the signature of a request whose raw body is body.
func (v *WebhookVerifier) Verify(r *http.Request, body []byte) error {
	if !v.enabled {
		return ErrNoAuthToken
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" || !v.validator.ValidateBody(v.URL(r), body, sig) {
		return ErrBadSignature
	}
	return nil
}

// messageSIDPattern is a message's SID: SM (SMS) or MM (MMS) and 32 hex digits.
var messageSIDPattern = regexp.MustCompile(`^(SM|MM)[0-9a-fA-F]{32}$`)

// maxNumberLength bounds From and To: E.164 is 16 characters, other
// channels' addresses ("whatsapp:+44...") a little more.
const maxNumberLength = 64

// ParseWebhook parses a webhook's form-encoded body, whole or not at all:
// it must be UTF-8 (a client's text is stored as sent, never mended) and
// name a message by its SID.
func ParseWebhook(body []byte) (url.Values, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("body is not UTF-8")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("body is not form-encoded: %w", err)
	}
	for name, values := range form {
		for _, v := range values {
			if !utf8.ValidString(name) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("parameter %.40q is not UTF-8 once decoded", name)
			}
		}
	}
	if !messageSIDPattern.MatchString(form.Get("MessageSid")) {
		return nil, errors.New("MessageSid must be SM or MM followed by 32 hex digits")
	}
	return form, nil
}

// ParseInbound reads an incoming-message webhook's parameters: the clinic
// and the time it arrived are for the caller to add.
func ParseInbound(form url.Values) (aftercare.InboundSMS, error) {
	in := aftercare.InboundSMS{
		MessageSID: form.Get("MessageSid"), AccountSID: form.Get("AccountSid"),
		From: form.Get("From"), To: form.Get("To"), MessagingServiceSID: form.Get("MessagingServiceSid"),
		Body: form.Get("Body"), OptOutType: form.Get("OptOutType"),
	}
	if in.From == "" || in.To == "" || len(in.From) > maxNumberLength || len(in.To) > maxNumberLength {
		return in, fmt.Errorf("From and To are required, at most %d characters each", maxNumberLength)
	}
	if media := form.Get("NumMedia"); media != "" {
		n, err := strconv.Atoi(media)
		if err != nil || n < 0 || n > 10 {
			return in, errors.New("NumMedia must be a whole number from 0 to 10")
		}
		in.NumMedia = n
	}
	return in, nil
}
