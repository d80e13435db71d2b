// Package zones loads IANA time zones once each. time.LoadLocation reads
// and parses the zone's file on every call: once per session event and per
// text, it was a tenth of the scheduler's CPU under load.
package zones

import (
	"sync"
	"time"
)

// loaded holds every zone loaded so far. Only names that load are kept,
// and the zone database has a few hundred, so it stays small.
var loaded sync.Map // name → *time.Location

// Load is time.LoadLocation, from memory after the first time.
func Load(name string) (*time.Location, error) {
	if loc, ok := loaded.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	loaded.Store(name, loc)
	return loc, nil
}
