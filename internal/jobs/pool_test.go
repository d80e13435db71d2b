package jobs

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// One job after another runs on the one goroutine the first started.
func TestPoolKeepsGoroutinesForTheNextJob(t *testing.T) {
	p := &pool{work: make(chan func()), idle: time.Minute}
	done := make(chan struct{})
	p.Go(func() { done <- struct{}{} })
	<-done
	for range 100 {
		time.Sleep(5 * time.Millisecond) // back in its select, waiting for work
		p.Go(func() { done <- struct{}{} })
		<-done
	}
	// One, but a loaded machine may not have it back in its select in time
	// now and then; without reuse it would be 101.
	if n := p.started.Load(); n > 20 {
		t.Errorf("%d goroutines started for 101 jobs in turn, want about 1", n)
	}
}

// Jobs at once each get a goroutine (none waits for another to end), and
// idle goroutines end.
func TestPoolRunsJobsAtOnceAndLetsIdleOnesGo(t *testing.T) {
	p := &pool{work: make(chan func()), idle: 20 * time.Millisecond}
	before := runtime.NumGoroutine()
	var started, release sync.WaitGroup
	release.Add(1)
	for range 50 {
		started.Add(1)
		p.Go(func() {
			started.Done()
			release.Wait()
		})
	}
	started.Wait() // all 50 running at once, or this never returns
	release.Done()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines a while after the jobs ended, %d before", n, before)
	}
}
