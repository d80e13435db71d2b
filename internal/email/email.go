// Package email sends the service's few emails (an escalation nobody has
// acknowledged, a reminder to its owner) over SMTP with wneessen/go-mail.
// They carry a reference, never a client's number or words: email crosses
// servers the clinic does not control.
package email

import (
	"context"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of the connection to the SMTP server.
const (
	TLSStartTLS = "starttls" // STARTTLS required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain: a relay on loopback only, or tests
)

// Config is how to reach the SMTP server.
type Config struct {
	Host     string
	Port     int
	Username string // empty: no authentication
	Password string
	From     string
	TLS      string // TLSStartTLS, TLSImplicit or TLSNone
	Timeout  time.Duration
}

// Mailer sends plain-text emails.
type Mailer struct{ cfg Config }

// New returns a Mailer; it makes no connection.
func New(cfg Config) *Mailer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Mailer{cfg: cfg}
}

// Mail sends one plain-text message to one address, on a connection of its
// own: these emails are rare, and a held connection would go stale.
func (m *Mailer) Mail(ctx context.Context, to, subject, body string) error {
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return fmt.Errorf("email from %q: %w", m.cfg.From, err)
	}
	if err := msg.To(to); err != nil {
		return fmt.Errorf("email to: %w", err)
	}
	msg.Subject(subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, body)

	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	client, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("email client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send email via %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}
