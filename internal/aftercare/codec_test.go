package aftercare

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomFill sets every field of the struct v points to, by kind, from
// values that include the awkward ones: a field added to the struct is
// filled too, so a codec that does not know it fails the comparison.
func randomFill(t *testing.T, r *rand.Rand, v any) {
	t.Helper()
	strs := []string{"", "harbour", "sess-12_A", `say "hi"`, "a<b>&c", "héllo", "José Ñúñez", "line\nbreak", "back\\slash", "SM0123456789abcdef"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -8*3600), time.FixedZone("", 59)}
	s := reflect.ValueOf(v).Elem()
	for i := range s.NumField() {
		f := s.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[time.Time]():
			var tm time.Time
			switch r.IntN(4) {
			case 0: // zero
			case 1:
				tm = time.Date(1+r.IntN(10001), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), zones[r.IntN(len(zones))])
			default:
				tm = time.Date(2026, 12, 2, 9, r.IntN(60), r.IntN(60), r.IntN(3)*int(time.Millisecond), zones[r.IntN(2)])
			}
			f.Set(reflect.ValueOf(tm))
		case f.Kind() == reflect.String:
			if r.IntN(3) > 0 {
				f.SetString(strs[r.IntN(3)])
			} else {
				f.SetString(strs[r.IntN(len(strs))])
			}
		case f.Kind() == reflect.Int:
			f.SetInt([]int64{0, 1, 3, -1, math.MaxInt32, math.MaxInt64}[r.IntN(6)])
		case f.Kind() == reflect.Uint64:
			f.SetUint([]uint64{0, 1, 7, 1 << 40, math.MaxUint64}[r.IntN(5)])
		case f.Kind() == reflect.Struct:
			randomFill(t, r, f.Addr().Interface())
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			if r.IntN(2) == 0 { // nil, or a filled struct
				p := reflect.New(f.Type().Elem())
				randomFill(t, r, p.Interface())
				f.Set(p)
			}
		case f.Type() == reflect.TypeFor[[]string]():
			var texts []string // nil, empty, or a few
			if n := r.IntN(5); n > 0 {
				texts = []string{}
				for range n - 1 {
					texts = append(texts, strs[r.IntN(len(strs))])
				}
			}
			f.Set(reflect.ValueOf(texts))
		default:
			t.Fatalf("randomFill knows no %s field %s: teach it, and the codec", f.Kind(), s.Type().Field(i).Name)
		}
	}
}

func TestEncodeFollowUpAsJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for range 20000 {
		var f FollowUp
		randomFill(t, r, &f)
		want, wantErr := json.Marshal(f)
		got, err := EncodeFollowUp(f)
		if (err != nil) != (wantErr != nil) || string(got) != string(want) {
			t.Fatalf("EncodeFollowUp(%+v)\n = %s, %v\nwant %s, %v", f, got, err, want, wantErr)
		}
		if _, ok := appendFollowUp(nil, f); ok {
			fast++
		}
	}
	// A record as a worker writes it takes the fast way.
	now := time.Date(2026, 12, 2, 9, 0, 0, 123000000, time.UTC)
	sent := FollowUp{ClinicID: "harbour", SessionID: "appt-5521", Step: 2, PlanVersion: 3, DueAt: now, Status: FollowUpSent,
		Attempts: 1, ClaimedAt: now, MessageSID: "SM0123", SentAt: now, UpdatedAt: now}
	if _, ok := appendFollowUp(nil, sent); !ok || fast < 1000 {
		t.Errorf("the fast way was taken for %d of 20000 records, and for a sent record: %v", fast, ok)
	}
}

func TestParseDueAsJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for range 20000 {
		var d DueFollowUp
		randomFill(t, r, &d)
		data, err := json.Marshal(d)
		if err != nil {
			continue // a time JSON cannot write
		}
		sameAsJSON(t, data, ParseDue)
		if _, ok := parseDueFast(data); ok {
			fast++
		}
	}
	f := FollowUp{ClinicID: "harbour", SessionID: "appt-5521", Step: 1, PlanVersion: 1,
		DueAt: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Status: FollowUpScheduled}
	sess := Session{ClinicID: "harbour", SessionID: "appt-5521", Status: SessionActive, PlanVersion: 1,
		Service: "deep tissue", Client: Client{Phone: "+447700900123", Name: "José", TimeZone: "Europe/London", Locale: "es"}}
	job, _ := json.Marshal(DueWithSession(f, 42, &sess))
	got, ok := parseDueFast(job)
	if !ok || fast < 1000 {
		t.Errorf("the fast way was taken for %d of 20000 jobs, and for a planner's job: %v", fast, ok)
	}
	if s, carried := got.PlannedSession(); !carried || !reflect.DeepEqual(s.Client, sess.Client) || s.Service != sess.Service {
		t.Errorf("the planner's job %s carries %+v, %v; want its session's client and service", job, s, carried)
	}
}

// sameAsJSON checks parse gives what json.Unmarshal gives, error or not.
func sameAsJSON[T any](t *testing.T, data []byte, parse func([]byte) (T, error)) {
	t.Helper()
	var want T
	wantErr := json.Unmarshal(data, &want)
	got, err := parse(data)
	if (err != nil) != (wantErr != nil) || (err == nil && !reflect.DeepEqual(got, want)) {
		t.Fatalf("parse(%s)\n = %+v, %v\nwant %+v, %v", data, got, err, want, wantErr)
	}
}

func FuzzParseDueAsJSONDoes(f *testing.F) {
	for _, seed := range []string{
		`{"clinic_id":"harbour","session_id":"s1","step":1,"plan_version":2,"due_at":"2026-12-03T09:00:00Z","planned_revision":42,"planned_format":1}`,
		`{}`, `{"step":01}`, `{"step":-1}`, `{"Step":2}`, `{"step":1,"step":2}`, `{"due_at":"2026-12-03T24:00:00Z"}`,
		`{"clinic_id":"a\"b"}`, `{"step":99999999999999999999}`, `{"step":1} `, `{"step":1,}`, `{"unknown":1}`,
		`{"due_at":null}`, `{"plan_version":18446744073709551615}`, `{"planned_format":2147483648}`,
		`{"client":{"phone":"+447700900123","name":"Ann"},"service":"sports"}`, `{"client":null}`,
		`{"client":{"phone":"+1"},"client":{"name":"B"}}`, `{"client":{"pin":1}}`, `{"client":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAsJSON(t, data, ParseDue) })
}

func TestParseSessionAsJSONDoes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fast := 0
	for range 20000 {
		var s Session
		randomFill(t, r, &s)
		data, err := json.Marshal(s)
		if err != nil {
			continue // a time JSON cannot write
		}
		sameAsJSON(t, data, ParseSession)
		if _, ok := parseSessionFast(data); ok {
			fast++
		}
	}
	end := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	record, _ := json.Marshal(Session{ClinicID: "harbour", SessionID: "appt-5521", Status: SessionActive,
		Client: Client{Phone: "+447700900123", Name: "José", TimeZone: "Europe/London", Locale: "es"}, End: end,
		PlanVersion: 7, RecentEvents: []string{"evt-1", "evt-2"}, UpdatedAt: end})
	if _, ok := parseSessionFast(record); !ok || fast < 1000 {
		t.Errorf("the fast way was taken for %d of 20000 records, and for a planner's record: %v", fast, ok)
	}
}

func FuzzParseSessionAsJSONDoes(f *testing.F) {
	for _, seed := range []string{
		`{"clinic_id":"harbour","session_id":"s1","status":"completed","client":{"phone":"+447700900123","name":"José","time_zone":"Europe/London","locale":"es"},"end":"2026-12-02T09:00:00Z","plan_version":7,"recent_events":["e1","e2"],"updated_at":"2026-12-02T09:00:01Z"}`,
		`{}`, `{"client":{}}`, `{"client":null}`, `{"client":{"name":"a"},"client":{"phone":"b"}}`, `{"recent_events":[]}`,
		`{"recent_events":null}`, `{"recent_events":["a"],"recent_events":null}`, `{"recent_events":["a",]}`, `{"recent_events":[1]}`,
		"{\"client\":{\"name\":\"bad\xffutf8\"}}", `{"client":{"name":"\u00e9"}}`, `{"Client":{"Name":"a"}}`, `{"plan_version":1.0}`,
		`{"end":"2026-12-02T09:00:00+01:00"}`, `{"end":null}`, `{"status":"cancelled"} `, `{"clinic_id":"a","unknown":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameAsJSON(t, data, ParseSession) })
}

// The floor is encoding/json on the same values, in the same run:
//
//	go test -run XXX -bench 'Due|Session|FollowUpRecord' -benchmem ./internal/aftercare/
func BenchmarkDecodeDue(b *testing.B) {
	job, _ := json.Marshal(DueOf(FollowUp{ClinicID: "harbour", SessionID: "appt-5521", Step: 1, PlanVersion: 1,
		DueAt: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Status: FollowUpScheduled}, 42))
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var d DueFollowUp
			if err := json.Unmarshal(job, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseDue", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseDue(job); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeSession(b *testing.B) {
	end := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	record, _ := json.Marshal(Session{ClinicID: "harbour", SessionID: "appt-5521", Status: SessionActive,
		Client: Client{Phone: "+447700900123", Name: "José", TimeZone: "Europe/London", Locale: "es"}, End: end,
		PlanVersion: 7, RecentEvents: []string{"evt-1", "evt-2"}, UpdatedAt: end})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var s Session
			if err := json.Unmarshal(record, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseSession", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseSession(record); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeFollowUpRecord(b *testing.B) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC)
	f := FollowUp{ClinicID: "harbour", SessionID: "appt-5521", Step: 2, PlanVersion: 3, DueAt: now, Status: FollowUpSent,
		Attempts: 1, ClaimedAt: now, MessageSID: "SM0123456789abcdef0123456789abcdef", SentAt: now, UpdatedAt: now}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodeFollowUp", func(b *testing.B) {
		for b.Loop() {
			if _, err := EncodeFollowUp(f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
