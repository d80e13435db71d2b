package natsjs

import (
	"context"
	"time"

	"github.com/aftercare/aftercare/internal/aftercare"
)

// Consent returns a client's consent record at a clinic, or
// aftercare.ErrNotFound when nothing was ever recorded.
func (s *Store) Consent(ctx context.Context, clinic, phone string) (aftercare.ConsentRecord, error) {
	rec, _, err := getJSON[aftercare.ConsentRecord](ctx, s, s.consent, phoneKey(clinic, phone))
	return rec, err
}

// AddConsent appends an entry to a client's consent record (a new record
// if there is none); an entry already there is not added twice.
func (s *Store) AddConsent(ctx context.Context, clinic, phone string, e aftercare.ConsentEntry, now time.Time) error {
	_, err := update(ctx, s, s.consent, phoneKey(clinic, phone), true, func(rec *aftercare.ConsentRecord) (bool, error) {
		rec.ClinicID, rec.Phone = clinic, phone
		if !rec.Add(e) {
			return false, nil
		}
		rec.UpdatedAt = now
		return true, nil
	})
	return err
}

// MarkConfirmation records that the confirmation text of the client's first
// session was queued; first is false when it had been already.
func (s *Store) MarkConfirmation(ctx context.Context, clinic, phone string, now time.Time) (first bool, err error) {
	_, err = update(ctx, s, s.consent, phoneKey(clinic, phone), true, func(rec *aftercare.ConsentRecord) (bool, error) {
		rec.ClinicID, rec.Phone = clinic, phone
		if !rec.ConfirmationAt.IsZero() {
			first = false
			return false, nil
		}
		rec.ConfirmationAt, rec.UpdatedAt, first = now, now, true
		return true, nil
	})
	return first, err
}

// RecordOptOut opts a client out of (or back into) a clinic's texts and
// adds it to their consent record: the opt-out first, since the law asks
// that it be honoured at once; a redelivery adds the entry once.
func (s *Store) RecordOptOut(ctx context.Context, clinic, phone string, e aftercare.ConsentEntry, now time.Time) error {
	if err := s.SetOptOut(ctx, clinic, phone, e.Kind == aftercare.ConsentOptOut, now); err != nil {
		return err
	}
	return s.AddConsent(ctx, clinic, phone, e, now)
}
