package aftercare

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// A worker decodes a job and its session's record, and encodes its
// follow-up's record twice, for every text it sends; with encoding/json
// that was a tenth of its CPU. The functions here read and write the form
// encoding/json gives these types (compact, no escapes) directly, and hand
// anything else to encoding/json: the result is always what it would give.

// ParseDue decodes a DueFollowUp job, as json.Unmarshal does.
func ParseDue(data []byte) (DueFollowUp, error) { return parse(data, parseDueFast) }

// ParseSession decodes a Session record, as json.Unmarshal does.
func ParseSession(data []byte) (Session, error) { return parse(data, parseSessionFast) }

// parse takes the fast way when it can, and encoding/json's otherwise.
func parse[T any](data []byte, fast func([]byte) (T, bool)) (T, error) {
	if v, ok := fast(data); ok {
		return v, nil
	}
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}

// parseDueFast reads an object of the job's own keys with plain string and
// unsigned integer values, and its client as parseSessionFast reads one; ok
// is false for anything else.
func parseDueFast(data []byte) (d DueFollowUp, ok bool) {
	rest, ok := object(data, func(key, b []byte) ([]byte, bool) {
		switch string(key) {
		case "clinic_id":
			return textValue(b, &d.ClinicID)
		case "session_id":
			return textValue(b, &d.SessionID)
		case "due_at":
			return timeValue(b, &d.DueAt)
		case "step":
			return smallIntValue(b, (*int)(&d.Step))
		case "plan_version":
			return uintValue(b, &d.PlanVersion)
		case "planned_revision":
			return uintValue(b, &d.PlannedRevision)
		case "planned_format":
			return smallIntValue(b, &d.PlannedFormat)
		case "service":
			return textValue(b, &d.Service)
		case "client":
			if d.Client == nil {
				d.Client = &Client{}
			}
			return clientValue(b, d.Client)
		}
		return nil, false
	})
	return d, ok && len(rest) == 0
}

// parseSessionFast reads a session record in the form encoding/json
// writes it: the session's own keys, its client's in a nested object, the
// recent events as an array or null, and strings without escapes (UTF-8
// is fine: names need not be ASCII); ok is false for anything else.
func parseSessionFast(data []byte) (s Session, ok bool) {
	rest, ok := object(data, func(key, b []byte) ([]byte, bool) {
		switch string(key) {
		case "clinic_id":
			return textValue(b, &s.ClinicID)
		case "session_id":
			return textValue(b, &s.SessionID)
		case "status":
			return textValue(b, (*string)(&s.Status))
		case "service":
			return textValue(b, &s.Service)
		case "escalation_id":
			return textValue(b, &s.EscalationID)
		case "end":
			return timeValue(b, &s.End)
		case "updated_at":
			return timeValue(b, &s.UpdatedAt)
		case "plan_version":
			return uintValue(b, &s.PlanVersion)
		case "recent_events":
			return textsValue(b, &s.RecentEvents)
		case "client":
			return clientValue(b, &s.Client)
		}
		return nil, false
	})
	return s, ok && len(rest) == 0
}

// clientValue reads a client object into c: into the same Client, as
// encoding/json does with a key given twice.
func clientValue(b []byte, c *Client) ([]byte, bool) {
	return object(b, func(key, b []byte) ([]byte, bool) {
		switch string(key) {
		case "phone":
			return textValue(b, &c.Phone)
		case "name":
			return textValue(b, &c.Name)
		case "time_zone":
			return textValue(b, &c.TimeZone)
		case "locale":
			return textValue(b, &c.Locale)
		}
		return nil, false
	})
}

// object reads an object with no spaces, handing each key to field, which
// reads the key's value and returns what follows it.
func object(b []byte, field func(key, value []byte) (rest []byte, ok bool)) (rest []byte, ok bool) {
	if b, ok = bytes.CutPrefix(b, []byte("{")); !ok {
		return nil, false
	}
	if rest, ok = bytes.CutPrefix(b, []byte("}")); ok {
		return rest, true
	}
	for {
		var key []byte
		if key, b, ok = plainString(b); !ok {
			return nil, false
		}
		if b, ok = bytes.CutPrefix(b, []byte(":")); !ok {
			return nil, false
		}
		if b, ok = field(key, b); !ok {
			return nil, false
		}
		switch {
		case len(b) > 0 && b[0] == '}':
			return b[1:], true
		case len(b) > 0 && b[0] == ',':
			b = b[1:]
		default:
			return nil, false
		}
	}
}

// textValue reads a string with no escapes and valid UTF-8 into v: such a
// string encoding/json takes as it stands.
func textValue(b []byte, v *string) ([]byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, false
	}
	ascii := true
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[1:i]) {
				return nil, false // encoding/json would put U+FFFD in
			}
			*v = string(b[1:i])
			return b[i+1:], true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// textsValue reads null (nil) or an array of textValue strings ([]: empty,
// not nil), replacing *v, as encoding/json does.
func textsValue(b []byte, v *[]string) ([]byte, bool) {
	if rest, ok := bytes.CutPrefix(b, []byte("null")); ok {
		*v = nil
		return rest, true
	}
	b, ok := bytes.CutPrefix(b, []byte("["))
	if !ok {
		return nil, false
	}
	texts := []string{}
	if rest, ok := bytes.CutPrefix(b, []byte("]")); ok {
		*v = texts
		return rest, true
	}
	for {
		var t string
		if b, ok = textValue(b, &t); !ok {
			return nil, false
		}
		texts = append(texts, t)
		switch {
		case len(b) > 0 && b[0] == ']':
			*v = texts
			return b[1:], true
		case len(b) > 0 && b[0] == ',':
			b = b[1:]
		default:
			return nil, false
		}
	}
}

// timeValue reads a quoted time with time.Time's own decoder.
func timeValue(b []byte, v *time.Time) ([]byte, bool) {
	_, rest, ok := plainString(b)
	if !ok || v.UnmarshalJSON(b[:len(b)-len(rest)]) != nil {
		return nil, false
	}
	return rest, true
}

// uintValue reads an unsigned integer as JSON writes one.
func uintValue(b []byte, v *uint64) ([]byte, bool) {
	n, rest, ok := plainUint(b)
	if ok {
		*v = n
	}
	return rest, ok
}

// smallIntValue reads an int from 0 to 2^31-1 as JSON writes one.
func smallIntValue(b []byte, v *int) ([]byte, bool) {
	n, rest, ok := plainUint(b)
	if !ok || n > 1<<31-1 {
		return nil, false
	}
	*v = int(n)
	return rest, true
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
