package aftercare

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// A worker decodes a job and encodes its follow-up's record twice for every
// text it sends; with encoding/json that was a fifteenth of its CPU. The two
// functions here read and write the form encoding/json gives these types
// (compact, keys in field order, plain ASCII strings) directly, and hand
// anything else to encoding/json: the result is always what it would give.

// ParseDue decodes a DueFollowUp job, as json.Unmarshal does.
func ParseDue(data []byte) (DueFollowUp, error) {
	if d, ok := parseDueFast(data); ok {
		return d, nil
	}
	var d DueFollowUp
	err := json.Unmarshal(data, &d)
	return d, err
}

// parseDueFast reads a flat object of the job's own keys with plain string
// and unsigned integer values; ok is false for anything else.
func parseDueFast(data []byte) (d DueFollowUp, ok bool) {
	rest, ok := bytes.CutPrefix(data, []byte("{"))
	if !ok {
		return d, false
	}
	if string(rest) == "}" {
		return d, true
	}
	for {
		var key, value []byte
		if key, rest, ok = plainString(rest); !ok {
			return d, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(":")); !ok {
			return d, false
		}
		switch string(key) {
		case "clinic_id", "session_id", "due_at":
			quoted := rest
			if value, rest, ok = plainString(rest); !ok {
				return d, false
			}
			quoted = quoted[:len(quoted)-len(rest)]
			switch string(key) {
			case "clinic_id":
				d.ClinicID = string(value)
			case "session_id":
				d.SessionID = string(value)
			default:
				// time.Time's own decoder, on the quoted text, decides.
				if d.DueAt.UnmarshalJSON(quoted) != nil {
					return d, false
				}
			}
		case "step", "plan_version", "planned_revision", "planned_format":
			var n uint64
			if n, rest, ok = plainUint(rest); !ok {
				return d, false
			}
			switch string(key) {
			case "step":
				if n > 1<<31-1 {
					return d, false
				}
				d.Step = Step(n)
			case "plan_version":
				d.PlanVersion = n
			case "planned_revision":
				d.PlannedRevision = n
			default:
				if n > 1<<31-1 {
					return d, false
				}
				d.PlannedFormat = int(n)
			}
		default:
			return d, false
		}
		switch {
		case string(rest) == "}":
			return d, true
		case len(rest) > 0 && rest[0] == ',':
			rest = rest[1:]
		default:
			return d, false
		}
	}
}

// plainString reads a quoted string of printable ASCII with no escapes.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// plainUint reads digits with no leading zero (but "0"), as JSON writes an
// unsigned integer.
func plainUint(b []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || i > 19 || (i > 1 && b[0] == '0') {
		return 0, nil, false
	}
	n, err := strconv.ParseUint(string(b[:i]), 10, 64)
	return n, b[i:], err == nil
}

// EncodeFollowUp encodes a follow-up's record as json.Marshal does, byte
// for byte.
func EncodeFollowUp(f FollowUp) ([]byte, error) {
	if b, ok := appendFollowUp(make([]byte, 0, 512), f); ok {
		return b, nil
	}
	return json.Marshal(f)
}

// appendFollowUp writes FollowUp's fields in order, with their tags'
// omitempty and omitzero; ok is false for a string encoding/json would
// escape, or a time it would not write. Keep it in step with FollowUp's
// fields: TestEncodeFollowUpAsJSONDoes fails when one is missing.
func appendFollowUp(b []byte, f FollowUp) ([]byte, bool) {
	w := fieldWriter{b: b, ok: true}
	w.str("clinic_id", f.ClinicID, false)
	w.str("session_id", f.SessionID, false)
	w.int("step", int64(f.Step), false)
	w.uint("plan_version", f.PlanVersion)
	w.time("due_at", f.DueAt, false)
	w.str("status", string(f.Status), false)
	w.str("reason", f.Reason, true)
	w.int("attempts", int64(f.Attempts), true)
	w.time("claimed_at", f.ClaimedAt, true)
	w.time("maybe_sent_since", f.MaybeSentSince, true)
	w.str("message_sid", f.MessageSID, true)
	w.time("sent_at", f.SentAt, true)
	w.str("delivery", f.Delivery, true)
	w.str("delivery_error", f.DeliveryError, true)
	w.time("delivery_at", f.DeliveryAt, true)
	w.time("updated_at", f.UpdatedAt, false)
	return append(w.b, '}'), w.ok
}

// fieldWriter appends an object's fields, each after a ',' or the '{'.
type fieldWriter struct {
	b  []byte
	ok bool
}

func (w *fieldWriter) key(name string) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = append(append(append(w.b, '"'), name...), '"', ':')
}

func (w *fieldWriter) str(name, s string, omitEmpty bool) {
	if omitEmpty && s == "" {
		return
	}
	for i := 0; i < len(s); i++ {
		// encoding/json escapes these (and <, >, & for HTML).
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			w.ok = false
			return
		}
	}
	w.key(name)
	w.b = append(append(append(w.b, '"'), s...), '"')
}

func (w *fieldWriter) int(name string, n int64, omitEmpty bool) {
	if omitEmpty && n == 0 {
		return
	}
	w.key(name)
	w.b = strconv.AppendInt(w.b, n, 10)
}

func (w *fieldWriter) uint(name string, n uint64) {
	w.key(name)
	w.b = strconv.AppendUint(w.b, n, 10)
}

func (w *fieldWriter) time(name string, t time.Time, omitZero bool) {
	if omitZero && t.IsZero() {
		return
	}
	w.key(name)
	var err error
	// What Time.MarshalJSON writes, and fails on (a year past 9999, say).
	if w.b, err = t.AppendText(append(w.b, '"')); err != nil {
		w.ok = false
		return
	}
	w.b = append(w.b, '"')
}
