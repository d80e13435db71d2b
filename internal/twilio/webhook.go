package twilio

import (
	"errors"
	"net/http"
	"strings"

	twclient "github.com/twilio/twilio-go/client"
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
