package planner

import "github.com/aftercare/aftercare/internal/aftercare"

// SetBetweenWrites has p run f once an event's session record is written
// and before its plan's records are.
func SetBetweenWrites(p *Planner, f func(aftercare.Session)) { p.betweenWrites = f }
