// Package clinics is the directory of configured clinics: lookup by id, by
// booking-system credential, and each clinic's parsed zone and send window.
package clinics

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
	"github.com/aftercare/aftercare/internal/phone"
	"github.com/aftercare/aftercare/internal/plan"
	"github.com/aftercare/aftercare/internal/tips"
	"github.com/aftercare/aftercare/internal/zones"
)

// Clinic is a configured clinic with its zone and window ready to use.
type Clinic struct {
	aftercare.Clinic
	Location *time.Location
	Window   plan.Window
	// Phones are the numbers the clinic may text: its allowed countries.
	Phones phone.Rules
	// Texts renders the clinic's tips: its own, else the built-in ones.
	Texts *tips.Book
}

// Checks are the rules an event for this clinic is validated by: real time
// zones, and clients' numbers the clinic may text.
func (c *Clinic) Checks() aftercare.Checks {
	return aftercare.Checks{LoadZone: zones.Load, Phone: c.Phones.Textable}
}

// ClientLocation is the client's zone, or the clinic's when the client's is
// unknown or unloadable.
func (c *Clinic) ClientLocation(tz string) *time.Location {
	if tz != "" {
		if loc, err := zones.Load(tz); err == nil {
			return loc
		}
	}
	return c.Location
}

// Directory holds every clinic.
type Directory struct {
	byID    map[string]*Clinic
	byToken map[[32]byte]*Clinic
	// bySender finds a clinic by its number or Messaging Service; the
	// configuration makes sure no two clinics share one.
	bySender map[string]*Clinic
}

// New builds a directory from validated clinic configuration.
func New(list []aftercare.Clinic) (*Directory, error) {
	d := &Directory{byID: map[string]*Clinic{}, byToken: map[[32]byte]*Clinic{}, bySender: map[string]*Clinic{}}
	for _, c := range list {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("clinic %s: %w", c.ID, err)
		}
		w, err := plan.ParseWindow(c.SendWindow)
		if err != nil {
			return nil, fmt.Errorf("clinic %s: %w", c.ID, err)
		}
		countries := c.AllowedCountries
		if region, err := phone.Valid(c.ContactPhone); len(countries) == 0 && err == nil {
			countries = []string{region} // as the configuration defaults it
		}
		entry := &Clinic{Clinic: c, Location: loc, Window: w, Phones: phone.Rules{Countries: countries}, Texts: tips.NewBook(c)}
		d.byID[c.ID] = entry
		for _, sender := range []string{c.Sender.From, c.Sender.MessagingServiceSID} {
			if sender == "" {
				continue
			}
			if other, dup := d.bySender[sender]; dup {
				return nil, fmt.Errorf("clinic %s: sender %s is also clinic %s's; replies could not be told apart", c.ID, sender, other.ID)
			}
			d.bySender[sender] = entry
		}
		if c.IntakeToken != "" {
			d.byToken[sha256.Sum256([]byte(c.IntakeToken))] = entry
		}
	}
	return d, nil
}

// Lookup returns the clinic with an id.
func (d *Directory) Lookup(id string) (*Clinic, bool) {
	c, ok := d.byID[id]
	return c, ok
}

// Authenticate returns the clinic a booking-system credential belongs to.
// Tokens are compared by their hashes, in constant time, so neither a map
// lookup's timing nor a byte-by-byte compare leaks a valid token.
func (d *Directory) Authenticate(token string) (*Clinic, error) {
	if token == "" {
		return nil, aftercare.ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(token))
	for h, c := range d.byToken {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			return c, nil
		}
	}
	return nil, aftercare.ErrUnauthorized
}

// BySender returns the clinic whose texts come from a Messaging Service or
// number: the clinic a client's reply to that sender belongs to.
func (d *Directory) BySender(to, messagingServiceSID string) (*Clinic, bool) {
	if messagingServiceSID != "" {
		if c, ok := d.bySender[messagingServiceSID]; ok {
			return c, true
		}
	}
	c, ok := d.bySender[to]
	return c, ok
}

// IDs lists every clinic's id, sorted.
func (d *Directory) IDs() []string {
	return slices.Sorted(maps.Keys(d.byID))
}
