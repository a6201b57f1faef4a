package main

import (
	"context"
	"sync"
	"time"
)

// Backoff of background retries: the first wait, doubled after each attempt
// up to the last. A dependency that comes back is noticed within about
// retryMaxWait.
const (
	retryFirstWait = 250 * time.Millisecond
	retryMaxWait   = 5 * time.Second
)

// backgroundRetry runs at most one retry loop at a time, in the background.
// stop ends it and waits for it, so no loop outlives the store that owns it.
type backgroundRetry struct {
	ctx     context.Context // ended by stop
	cancel  context.CancelFunc
	mu      sync.Mutex
	running bool
	loops   sync.WaitGroup
}

func newBackgroundRetry() *backgroundRetry {
	ctx, cancel := context.WithCancel(context.Background())
	return &backgroundRetry{ctx: ctx, cancel: cancel}
}

// start calls try in the background, with backoff, until done holds. The
// caller has just seen done fail, so the first attempt waits too. While a
// loop runs, start adds none: the loop checks done under mu before it ends,
// so it sees whatever the caller recorded before calling start. Nothing
// starts once stop was called.
func (r *backgroundRetry) start(done func() bool, try func(context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running || r.ctx.Err() != nil {
		return
	}
	r.running = true
	r.loops.Add(1)
	go r.loop(done, try)
}

func (r *backgroundRetry) loop(done func() bool, try func(context.Context)) {
	defer r.loops.Done()
	wait := retryFirstWait
	for !r.finished(done) {
		select {
		case <-r.ctx.Done():
		case <-time.After(wait):
			try(r.ctx)
			wait = min(2*wait, retryMaxWait)
		}
	}
}

// finished reports, and records, whether the loop ends: done holds, or
// stop was called.
func (r *backgroundRetry) finished(done func() bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = r.ctx.Err() == nil && !done()
	return !r.running
}

// stop ends the loop, if one runs, and waits until it has returned.
func (r *backgroundRetry) stop() {
	r.mu.Lock()
	r.cancel() // under mu: no start can slip in between and outlive stop
	r.mu.Unlock()
	r.loops.Wait()
}
