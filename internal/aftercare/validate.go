package aftercare

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Problem names one field that is wrong and says why.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in an input, so a caller can fix
// them all at once rather than one per round trip.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Limits on how far from now a session may end; outside them the time is
// almost certainly a mistake (a wrong year, seconds read as milliseconds).
const (
	MaxSessionAge    = 30 * 24 * time.Hour
	MaxSessionAhead  = 366 * 24 * time.Hour
	MaxIDLength      = 128
	MaxNameLength    = 64
	maxLocaleLength  = 35
	maxTimeZoneChars = 64
)

var (
	e164Pattern   = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
)

// ValidPhone reports whether phone is an E.164 number: a plus sign and 8 to
// 15 digits, the first not zero.
func ValidPhone(phone string) bool { return e164Pattern.MatchString(phone) }

// MaskPhone hides all but the country prefix and the last two digits, so logs
// can tell numbers apart without holding them: +44*******23.
func MaskPhone(phone string) string {
	if len(phone) < 6 {
		return strings.Repeat("*", len(phone))
	}
	return phone[:3] + strings.Repeat("*", len(phone)-5) + phone[len(phone)-2:]
}

// phoneLike is a run of digits long enough to be a phone number, with or
// without "+": what a provider's error message may quote back at us.
var phoneLike = regexp.MustCompile(`\+?[0-9]{7,15}`)

// MaskPhonesIn masks every phone-number-like run of digits in text, such
// as a Twilio error message ("The 'To' number +447700900444 is not ..."),
// before it is logged, stored as a reason or shown.
func MaskPhonesIn(text string) string {
	return phoneLike.ReplaceAllStringFunc(text, MaskPhone)
}

// Language returns the base language of a locale tag: "es" for "es-MX".
func Language(locale string) string {
	base, _, _ := strings.Cut(strings.ReplaceAll(locale, "_", "-"), "-")
	return strings.ToLower(base)
}

// Checks are the rules validation takes from outside this package.
type Checks struct {
	// LoadZone resolves IANA time zone names (time.LoadLocation).
	LoadZone func(string) (*time.Location, error)
	// Phone reads a client's number as the clinic may text it and returns
	// it in E.164, or an error whose text says why not. Nil: the number
	// must already be E.164 (ValidPhone).
	Phone func(string) (string, error)
}

// Validate checks a session event and returns a *ValidationError naming every
// bad field; a client's phone number is rewritten in the E.164 form the
// check returns. now bounds the plausible session end times.
func (e *SessionEvent) Validate(now time.Time, checks Checks) error {
	var v ValidationError
	checkID(&v, "event_id", e.EventID)
	checkID(&v, "session_id", e.SessionID)
	switch e.Kind {
	case KindCompleted:
		checkEnd(&v, "session_end", e.SessionEnd, now)
	case KindRescheduled:
		checkEnd(&v, "new_session_end", e.NewSessionEnd, now)
	case KindCancelled:
	case "":
		v.add("kind", "is required: one of completed, cancelled, rescheduled")
	default:
		v.add("kind", "%q is not one of completed, cancelled, rescheduled", truncate(string(e.Kind)))
	}
	if e.Kind == KindCompleted || e.Kind == KindRescheduled {
		if e.Client == nil {
			v.add("client", "is required for a %s session", e.Kind)
		}
	}
	if e.Client != nil {
		checkClient(&v, e.Client, checks)
	}
	if e.Consent != nil {
		if e.Client == nil && e.Kind != "" {
			v.add("consent", "needs client: the consent is the client's")
		}
		checkConsent(&v, e.Consent, now)
	}
	if e.Service != "" && ServiceKey(e.Service) != e.Service {
		v.add("service", "%q is not a service key: lowercase letters, digits and _, at most %d, such as %q", truncate(e.Service), MaxServiceKey, ServiceKey(truncate(e.Service)))
	}
	return v.orNil()
}

func checkID(v *ValidationError, field, id string) {
	if problem := IDProblem(id); problem != "" {
		v.add(field, "%s", problem)
	}
}

// IDProblem says what is wrong with an identifier taken from outside (an
// event, session or escalation id, in a body, a URL path or a webhook), or
// "" when nothing is: it must be 1 to MaxIDLength bytes of printable UTF-8.
// Every edge checks ids with this one rule. Ids become NATS subject tokens
// and key-value keys (base64url-encoded when not plain, a third longer), and
// nats-server closes a connection whose protocol line passes 4 KiB, so an
// unbounded id would let one request cut every clinic off from JetStream.
func IDProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxIDLength:
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return "is not UTF-8"
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	case strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }):
		return "contains characters that are not printable (format characters or spaces other than U+0020)"
	}
	return ""
}

func checkEnd(v *ValidationError, field string, end *time.Time, now time.Time) {
	switch {
	case end == nil || end.IsZero():
		v.add(field, "is required (RFC 3339, e.g. 2026-11-23T15:00:00Z)")
	case end.Before(now.Add(-MaxSessionAge)):
		v.add(field, "%s is more than %d days ago", end.Format(time.RFC3339), int(MaxSessionAge.Hours()/24))
	case end.After(now.Add(MaxSessionAhead)):
		v.add(field, "%s is more than a year ahead", end.Format(time.RFC3339))
	}
}

func checkClient(v *ValidationError, c *Client, checks Checks) {
	switch {
	case c.Phone == "":
		v.add("client.phone", "is required")
	case checks.Phone != nil:
		if normal, err := checks.Phone(c.Phone); err != nil {
			v.add("client.phone", "%s", err.Error())
		} else {
			c.Phone = normal
		}
	case !ValidPhone(c.Phone):
		v.add("client.phone", "is not an E.164 number (a plus sign, country code and number, no spaces: +447700900123)")
	}
	switch {
	case len(c.Name) > MaxNameLength:
		v.add("client.name", "is longer than %d bytes", MaxNameLength)
	case strings.ContainsFunc(c.Name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp)
	}):
		// A name goes into texts and the clinic's records: a line break
		// there could forge a line of either.
		v.add("client.name", "contains control characters or line breaks")
	case strings.ContainsFunc(c.Name, bidiControl):
		// An override turns the rest of a line around where staff read it.
		v.add("client.name", "contains bidirectional override or isolate characters (U+202A-U+202E, U+2066-U+2069)")
	}
	if c.TimeZone != "" {
		// A zone name is a path inside the zone database; refuse anything that
		// could walk out of it before asking the loader.
		if len(c.TimeZone) > maxTimeZoneChars || strings.Contains(c.TimeZone, "..") || strings.HasPrefix(c.TimeZone, "/") {
			v.add("client.time_zone", "is not an IANA time zone name")
		} else if _, err := checks.LoadZone(c.TimeZone); err != nil || strings.EqualFold(c.TimeZone, "local") {
			v.add("client.time_zone", "%q is not a known IANA time zone (e.g. Europe/London)", truncate(c.TimeZone))
		}
	}
	if c.Locale != "" && (len(c.Locale) > maxLocaleLength || !localePattern.MatchString(c.Locale)) {
		v.add("client.locale", "%q is not a language tag (e.g. en, es-MX)", truncate(c.Locale))
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Errors with a meaning the HTTP layer maps to status codes.
var (
	ErrUnauthorized = errors.New("missing or invalid credential")
	ErrForbidden    = errors.New("the credential does not belong to this clinic")
	ErrNotFound     = errors.New("not found")
)

// bidiControl is a character that reorders the text after it on screen.
func bidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}
