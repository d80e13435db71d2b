package natsjs

import "time"

// LagDoNotTextWatch makes a view's watch apply each change d late, as a
// watch behind a busy connection would.
func LagDoNotTextWatch(v *DoNotTextView, d time.Duration) { v.lag.Store(int64(d)) }

// UseLeaderReads has a store on a single server read as on a cluster.
func UseLeaderReads(s *Store) { s.leaderReads = true }

// RouteSessionGets sends a session reader's direct gets to subject, where a
// test plays the stream's replicas.
func RouteSessionGets(r *SessionReads, subject string) { r.get = subject }

// LeaderLastSeq is the fences' question to a stream's leader.
var LeaderLastSeq = leaderLastSeq
