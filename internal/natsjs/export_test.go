package natsjs

import "time"

// LagDoNotTextWatch makes a view's watch apply each change d late, as a
// watch behind a busy connection would.
func LagDoNotTextWatch(v *DoNotTextView, d time.Duration) { v.lag.Store(int64(d)) }
