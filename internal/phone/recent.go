package phone

import "sync"

// recent remembers the last few thousand answers of Textable. Reading a
// number with phonenumbers' patterns costs some 50 µs, and each session
// event's number is read twice: by the intake and again by the planner.
var recent = &verdicts{cur: map[string]verdict{}}

// recentSize bounds each of the two generations recent keeps.
const recentSize = 4096

type verdict struct {
	number string
	err    error
}

// verdicts is a cache of two generations: when the current one is full it
// becomes the old one, and the old one is dropped. Memory stays bounded
// however many numbers pass, and a number used recently stays in.
type verdicts struct {
	mu       sync.Mutex
	cur, old map[string]verdict
}

func (v *verdicts) get(key string) (verdict, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if got, ok := v.cur[key]; ok {
		return got, true
	}
	got, ok := v.old[key]
	if ok {
		v.putLocked(key, got)
	}
	return got, ok
}

func (v *verdicts) put(key string, got verdict) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(key, got)
}

func (v *verdicts) putLocked(key string, got verdict) {
	if len(v.cur) >= recentSize {
		v.old, v.cur = v.cur, make(map[string]verdict, recentSize)
	}
	v.cur[key] = got
}
