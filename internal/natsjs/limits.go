package natsjs

import (
	"context"
	"slices"
	"time"
)

// limitsTTL keeps an hour's counter past its hour, then drops it.
const limitsTTL = 3 * time.Hour

// hourCount is one hour's counter: the ids that took a place in it, so a
// job handled again (a redelivery, a retried answer) keeps its place
// rather than taking another.
type hourCount struct {
	Taken []string `json:"taken"`
}

// TakeHourly takes one of limit places in the hour holding at, under name
// (such as "stranger-answers") for clinic, on behalf of id. It reports
// false when the limit's places are all taken by others. The count is a
// compare-and-set on one key, so every worker replica shares it.
func (s *Store) TakeHourly(ctx context.Context, name, clinic, id string, at time.Time, limit int) (bool, error) {
	key := ClinicOrUnknown(clinic) + "." + Token(name) + "." + at.UTC().Format("20060102T15") // not 10 digits in a row, which reads as a phone number in logs
	taken := false
	_, err := update(ctx, s, s.limits, key, true, func(c *hourCount) (bool, error) {
		switch {
		case slices.Contains(c.Taken, id):
			taken = true
			return false, nil
		case len(c.Taken) >= limit:
			taken = false
			return false, nil
		}
		c.Taken = append(c.Taken, id)
		taken = true
		return true, nil
	})
	return taken && err == nil, err
}
