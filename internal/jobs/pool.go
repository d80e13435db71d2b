package jobs

import (
	"sync"
	"sync/atomic"
	"time"
)

// goroutines runs functions on goroutines that outlive one call. A job's
// calls go deep (twilio-go, net/http, nats.go), and a fresh goroutine's
// stack is grown by copying, again for every job: a twelfth of the
// worker's CPU under load. A goroutine kept for the next job keeps its
// grown stack. Idle ones end after a while, so a burst leaves none behind.
var goroutines = &pool{work: make(chan func()), idle: 10 * time.Second}

type pool struct {
	work    chan func()
	idle    time.Duration
	started atomic.Int64 // goroutines started, for tests
}

// Go runs f on an idle goroutine kept from an earlier call, or a new one.
func Go(f func()) { goroutines.Go(f) }

func (p *pool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.started.Add(1)
		go p.loop(f)
	}
}

func (p *pool) loop(f func()) {
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(p.idle)
		select {
		case f = <-p.work:
		case <-idle.C:
			return
		}
	}
}

// Group waits for functions run with its Go, as sync.WaitGroup's Go does,
// on the pool's goroutines.
type Group struct{ wg sync.WaitGroup }

// Go runs f on the pool, counted in the group.
func (g *Group) Go(f func()) {
	g.wg.Add(1)
	Go(func() {
		defer g.wg.Done()
		f()
	})
}

// Wait waits for every f the group ran.
func (g *Group) Wait() { g.wg.Wait() }
