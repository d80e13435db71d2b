// Package gctune sets the garbage collector for our two programs. Their live
// heaps are small (10-20 MB, even with a million follow-ups pending) and
// every follow-up allocates briefly, so with Go's default GOGC=100 the
// collector runs constantly: about a sixth of the worker's CPU under load.
// Collecting at five times the live heap, with a soft memory limit as the
// backstop, gave the worker a fifth of its CPU back (docs/performance.md).
package gctune

import (
	"os"
	"runtime/debug"
)

// Defaults, each overridden by the standard variable when it is set.
const (
	GCPercent   = 400       // GOGC
	MemoryLimit = 192 << 20 // GOMEMLIMIT: under the Deployments' 256 MiB limit
)

// Apply sets GOGC and GOMEMLIMIT unless the environment has set them.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
