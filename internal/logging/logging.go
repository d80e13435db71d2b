// Package logging builds the programs' structured logger.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a JSON (or text) logger at level ("debug", "info", ...).
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
