package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/booking"
	"github.com/aftercare/aftercare/internal/phone"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/tips"
)

// DefaultSendWindow is 09:00 to 19:59 every day in the client's time zone.
const DefaultSendWindow = "* 9-19 * * *"

// MinTokenLength keeps intake credentials long enough not to be guessed.
const MinTokenLength = 24

var (
	clinicIDPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	serviceSID         = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	envNamePattern     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	emergencyPattern   = regexp.MustCompile(`^[0-9]{2,6}$`)
	countryCodePattern = regexp.MustCompile(`^[1-9][0-9]{0,2}$`)
)

// LoadClinics reads the clinics file and the secrets its entries name from
// the environment. needIntake says the program authenticates booking systems
// and so needs every clinic's intake credential.
func LoadClinics(path string, getenv func(string) string, needIntake bool) ([]aftercare.Clinic, error) {
	return loadClinics(path, getenv, clinicRules{needIntake: needIntake})
}

// clinicRules says how a program checks the clinics file.
type clinicRules struct {
	needIntake bool // the program authenticates booking systems
	anyWindow  bool // ALLOW_ANY_SEND_WINDOW: local runs and tests only
}

func loadClinics(path string, getenv func(string) string, rules clinicRules) ([]aftercare.Clinic, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CLINICS_FILE: %w", err)
	}
	return parseClinics(raw, getenv, rules)
}

// ParseClinics parses and validates a clinics document.
func ParseClinics(raw []byte, getenv func(string) string, needIntake bool) ([]aftercare.Clinic, error) {
	return parseClinics(raw, getenv, clinicRules{needIntake: needIntake})
}

func parseClinics(raw []byte, getenv func(string) string, rules clinicRules) ([]aftercare.Clinic, error) {
	needIntake := rules.needIntake
	var doc struct {
		Clinics []aftercare.Clinic `json:"clinics"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("CLINICS_FILE: %w", err)
	}
	if len(doc.Clinics) == 0 {
		return nil, errors.New("CLINICS_FILE: no clinics defined")
	}
	var errs []error
	seen := map[string]bool{}
	tokens := map[string]string{}
	senders := map[string]string{}
	for i := range doc.Clinics {
		c := &doc.Clinics[i]
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("CLINICS_FILE: clinic %q: %s", c.ID, fmt.Sprintf(format, args...)))
		}
		if !clinicIDPattern.MatchString(c.ID) {
			fail("id must be 1-32 lowercase letters, digits or dashes")
		}
		if seen[c.ID] {
			fail("id is used twice")
		}
		seen[c.ID] = true
		if c.Name == "" || len(c.Name) > tips.MaxClinicName {
			fail("name must be 1-%d characters, to keep each text to one SMS", tips.MaxClinicName)
		} else if _, ok := tips.GSM7Length(c.Name); !ok {
			fail("name has characters outside the GSM-7 alphabet, which would make every text cost 2-3 SMS")
		}
		if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" || c.TimeZone == "Local" {
			fail("time_zone %q is not an IANA time zone", c.TimeZone)
		}
		if c.SendWindow == "" {
			c.SendWindow = DefaultSendWindow
		}
		hours, known := plan.QuietHours[c.SendWindowRegion]
		if !known {
			fail("send_window_region %q is not one we know; have %v", c.SendWindowRegion, slices.Sorted(maps.Keys(plan.QuietHours)))
		}
		if w, err := plan.ParseWindow(c.SendWindow); err != nil {
			fail("send_window: %v", err)
		} else if err := w.Within(hours); known && err != nil && !rules.anyWindow {
			fail("send_window: %v (send_window_region %q); texts outside these hours break calling-hours rules", err, c.SendWindowRegion)
		}
		if c.Locale == "" {
			c.Locale = tips.DefaultLanguage
		} else if !tips.Supported(c.Locale) {
			fail("locale %q has no texts; have %v", c.Locale, tips.Languages())
		}
		switch s := c.Sender; {
		case (s.From == "") == (s.MessagingServiceSID == ""):
			fail("sender: set exactly one of from and messaging_service_sid")
		case s.From != "":
			if _, err := phone.Valid(s.From); err != nil {
				fail("sender.from %v", err)
			}
		case !serviceSID.MatchString(s.MessagingServiceSID):
			fail("sender.messaging_service_sid is not MG followed by 32 hex digits")
		}
		contactRegion, err := phone.Valid(c.ContactPhone)
		if err != nil {
			fail("contact_phone is required, as a valid E.164 number (clients who text HELP or a question are given it); it %v", err)
		}
		checkCountries(c, contactRegion, fail)
		if _, ok := tips.GSM7Length(c.ReplyBy); len(c.ReplyBy) > tips.MaxReplyBy || !ok {
			fail("reply_by must be at most %d GSM-7 characters (it goes in a text), such as \"within one working day\"", tips.MaxReplyBy)
		}
		if c.EmergencyNumber != "" && !emergencyPattern.MatchString(c.EmergencyNumber) {
			fail("emergency_number must be 2-6 digits, such as 999, 911 or 112")
		}
		for _, sender := range []string{c.Sender.From, c.Sender.MessagingServiceSID} {
			if other, dup := senders[sender]; dup && sender != "" {
				fail("sender %s is also clinic %q's: clients' replies could not be told apart", sender, other)
			}
			senders[sender] = c.ID
		}
		if c.Quota.TextsPerDay < 0 || c.Quota.TextsPerRecipientPerDay < 0 {
			fail("quota: texts_per_day and texts_per_recipient_per_day must be positive (or absent, for the service's)")
		}
		if c.RebookURL != "" {
			if u, err := checkURL(c.RebookURL); err != nil {
				fail("rebook_url: %v", err)
			} else if u.Scheme != "https" {
				fail("rebook_url must be https")
			}
		}
		if c.InboxURL != "" {
			// On-call alerts link to conversations under it: it must be
			// the inbox's own address, over TLS but for a local run.
			if u, err := checkURL(c.InboxURL); err != nil {
				fail("inbox_url: %v", err)
			} else if u.Scheme != "https" && !loopback(u.Hostname()) {
				fail("inbox_url must be https (plain http only to localhost)")
			} else if u.RawQuery != "" || u.Fragment != "" || !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/inbox") {
				fail("inbox_url must be the inbox's address, ending in /inbox, with no query: such as https://aftercare.example/inbox")
			}
		}
		if _, err := tips.Check(*c); err != nil {
			fail("%v", err)
		}
		if f := c.FrequencyCap; f.PerDay < 0 || f.PerWeek < 0 || (f.PerDay > 0 && f.PerWeek > 0 && f.PerWeek < f.PerDay) {
			fail("frequency_cap: per_day and per_week must be positive, per_week at least per_day (or absent, for the service's)")
		}
		checkRetention(&c.Retention, fail)
		if c.Escalation.OnCallPhone == "" && c.Escalation.WebhookURL == "" {
			fail("escalation: set on_call_phone or webhook_url (or both), or no one hears of a client getting worse")
		}
		if p := c.Escalation.OnCallPhone; p != "" {
			// Texted, but it may be in any country (staff abroad).
			if normal, err := (phone.Rules{}).Textable(p); err != nil {
				fail("escalation.on_call_phone %v", err)
			} else if normal != p {
				fail("escalation.on_call_phone is not in E.164 form: write it %s", normal)
			}
		}
		if u := c.Escalation.WebhookURL; u != "" {
			if parsed, err := checkURL(u); err != nil {
				fail("escalation.webhook_url: %v", err)
			} else if parsed.Scheme != "https" && !loopback(parsed.Hostname()) {
				fail("escalation.webhook_url must be https: it carries client health data")
			}
			c.Escalation.WebhookSecret = secret(c.Escalation.WebhookSecretEnv, getenv, "escalation.webhook_secret_env", MinTokenLength, fail)
		}
		checkChain(c, fail)
		for system, b := range c.Booking {
			field := "booking." + system
			if !slices.Contains(booking.Systems(), system) {
				fail("%s: no adapter for this booking system; have %v", field, booking.Systems())
				continue
			}
			if b.APIBaseURL != "" {
				if _, err := checkURL(b.APIBaseURL); err != nil {
					fail("%s.api_base_url: %v", field, err)
				}
			}
			if b.TimeZone != "" {
				if _, err := time.LoadLocation(b.TimeZone); err != nil {
					fail("%s.time_zone %q is not an IANA time zone", field, b.TimeZone)
				}
			}
			if b.CountryCode != "" {
				code, _ := strconv.Atoi(b.CountryCode)
				if region := phone.RegionOfCallingCode(code); !countryCodePattern.MatchString(b.CountryCode) || !slices.Contains(c.AllowedCountries, region) {
					fail("%s.country_code must be the calling code of one of allowed_countries %v, such as 44 for GB", field, c.AllowedCountries)
				}
			}
			if len(b.Services) > 0 && system != "square" {
				fail("%s.services: only Square's bookings name their service by an id; %s's carry its name", field, system)
			}
			for id, name := range b.Services {
				if strings.TrimSpace(id) == "" || aftercare.ServiceKey(name) == "" {
					fail("%s.services: each entry maps a service variation id to a service name, such as \"GUN7HNQBH7ZRARYZN52E7O4B\": \"deep_tissue\"; got %q: %q", field, id, name)
				}
			}
			switch system {
			case "square":
				if _, err := checkURL(b.NotificationURL); err != nil {
					fail("%s.notification_url (the URL as entered in Square, which its signature covers): %v", field, err)
				}
			case "acuity":
				if b.APIUserID == "" {
					fail("%s.api_user_id is required: Acuity's API reads the appointment with it", field)
				}
			}
			if needIntake {
				// Only the scheduler takes booking webhooks.
				b.Secret = secret(b.SecretEnv, getenv, field+".secret_env", MinBookingSecret, fail)
				if system == "square" {
					b.APIToken = secret(b.APITokenEnv, getenv, field+".api_token_env", MinBookingSecret, fail)
				}
				c.Booking[system] = b
			}
		}
		if needIntake {
			c.IntakeToken = secret(c.IntakeTokenEnv, getenv, "intake_token_env", MinTokenLength, fail)
			if other, dup := tokens[c.IntakeToken]; dup && c.IntakeToken != "" {
				fail("intake credential is the same as clinic %q's", other)
			}
			tokens[c.IntakeToken] = c.ID
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return doc.Clinics, nil
}

// checkCountries checks allowed_countries, defaulting it to the region of
// the clinic's contact number.
func checkCountries(c *aftercare.Clinic, contactRegion string, fail func(string, ...any)) {
	if len(c.AllowedCountries) == 0 {
		if contactRegion != "" {
			c.AllowedCountries = []string{contactRegion}
		}
		return
	}
	for _, region := range c.AllowedCountries {
		if !phone.KnownRegion(region) {
			fail("allowed_countries: %q is not an ISO 3166 region code with phone numbers, such as GB or MX", region)
		}
	}
}

// secret reads the variable a clinic entry names and checks it is at least
// minLength long.
func secret(name string, getenv func(string) string, field string, minLength int, fail func(string, ...any)) string {
	if !envNamePattern.MatchString(name) {
		fail("%s must name an environment variable (A-Z, 0-9, _)", field)
		return ""
	}
	v := getenv(name)
	if len(v) < minLength {
		fail("%s: environment variable %s must hold a secret of at least %d characters", field, name, minLength)
		return ""
	}
	return v
}

// loopback reports a host on this machine, where plain http is no risk.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MinBookingSecret is the shortest key accepted from a booking system: they
// choose their own lengths (Square's keys are 22 characters).
const MinBookingSecret = 16

// maxChainSteps bounds a chain: more steps than this is a paging storm.
const maxChainSteps = 10

// checkChain parses and checks the escalation chain's steps and reminder.
func checkChain(c *aftercare.Clinic, fail func(string, ...any)) {
	esc := &c.Escalation
	if esc.Email != "" {
		if addr, err := mail.ParseAddress(esc.Email); err != nil || addr.Address != esc.Email {
			fail("escalation.email %q is not a plain email address", esc.Email)
		}
	}
	if len(esc.Chain) > maxChainSteps {
		fail("escalation.chain has %d steps; at most %d", len(esc.Chain), maxChainSteps)
	}
	var last time.Duration
	for i := range esc.Chain {
		step := &esc.Chain[i]
		field := fmt.Sprintf("escalation.chain[%d]", i)
		d, err := time.ParseDuration(step.After)
		switch {
		case err != nil || d <= 0:
			fail("%s.after %q must be a positive duration such as \"10m\"", field, step.After)
		case d <= last:
			fail("%s.after %v must be later than the step before (%v)", field, d, last)
		}
		step.Delay, last = d, max(d, last)
		if len(step.Text) == 0 && len(step.Call) == 0 && !step.Email {
			fail("%s: page someone: text, call or email", field)
		}
		for _, list := range []struct {
			name   string
			phones []string
		}{{"text", step.Text}, {"call", step.Call}} {
			for _, p := range list.phones {
				if normal, err := (phone.Rules{}).Textable(p); err != nil {
					fail("%s.%s %v", field, list.name, err)
				} else if normal != p {
					fail("%s.%s is not in E.164 form: write it %s", field, list.name, normal)
				}
			}
		}
		if len(step.Call) > 0 && c.Sender.From == "" {
			fail("%s.call: a voice call needs sender.from (a Messaging Service cannot call)", field)
		}
		if step.Email && esc.Email == "" {
			fail("%s.email: set escalation.email, the clinic's address", field)
		}
	}
	if r := esc.RemindUnresolvedAfter; r != "" {
		d, err := time.ParseDuration(r)
		if err != nil || d <= 0 {
			fail("escalation.remind_unresolved_after %q must be a positive duration such as \"4h\"", r)
		}
		esc.RemindAfter = d
	}
}

// MinEscalationRetention is the least a clinic may keep its escalations,
// with their notes and history: they are clinical records, which
// record-keeping rules ask to keep for years (the CSP's 8 years in England,
// the service's default); a clinic bound by other rules may keep them
// shorter, but not less than a year, so a typo ("876h") does not delete
// what a complaint or an inspection of the care asks for.
const MinEscalationRetention = 365 * 24 * time.Hour

// checkRetention parses a clinic's retention; how it compares with the
// service's is checked with the scheduler's settings (CheckRetention).
func checkRetention(r *aftercare.Retention, fail func(string, ...any)) {
	for _, f := range []struct {
		name, value string
		into        *time.Duration
	}{{"texts", r.Texts, &r.TextsFor}, {"escalations", r.Escalations, &r.EscalationsFor}, {"dead_letters", r.DeadLetters, &r.DeadLettersFor}} {
		if f.value == "" {
			continue
		}
		d, err := time.ParseDuration(f.value)
		if err != nil || d <= 0 {
			fail("retention.%s %q must be a positive duration such as \"720h\"", f.name, f.value)
			continue
		}
		*f.into = d
	}
	if r.EscalationsFor > 0 && r.EscalationsFor < MinEscalationRetention {
		fail("retention.escalations %q is shorter than a year (%v): escalations are clinical records, kept for years (8 by default, the CSP's in England)", r.Escalations, MinEscalationRetention)
	}
}
