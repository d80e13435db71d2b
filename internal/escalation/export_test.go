package escalation

// SetBetweenHolds sets a function Raise runs between its two passes over
// a session's follow-up records.
func SetBetweenHolds(l *Lifecycle, f func()) { l.betweenHolds = f }
