package main

// The admission gate in front of the database (issue 23 §4 and §6). A
// database serves a few queries at once well; sent more, it runs them all
// slower, every request's latency grows with the crowd, and queries Dropp
// has already given up on keep it busy. So each instance lets at most
// MONGODB_MAX_CALLS store calls reach MongoDB at once, queues at most
// MONGODB_QUEUE more (first come, first served), and refuses the rest at
// once with errDBBusy, which the API answers 503 with Retry-After.
//
// Only a request's first call can be refused: once one of its calls got
// through, the request is admitted and its later calls (and what it writes
// after its client went away) wait in the queue, bounded by their deadline
// only, so that a request is turned away before it changed anything rather
// than halfway. A call made while its request (or, for background work, its
// enclosing call) holds a slot passes without taking another, since waiting
// for a second slot while holding one could leave every slot held by a
// waiter.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// errDBBusy: the gate refused a call, its queue being full or its deadline
// reached while it waited; the client should retry after dbRetryAfter.
var errDBBusy = errors.New("metadata store: too busy")

// reasonDBBusy is what a client reads about errDBBusy.
const reasonDBBusy = "metadata store: too many requests at once"

// dbRetryAfter is the Retry-After of an answer to errDBBusy: about what a
// queue's worth of calls takes to drain.
const dbRetryAfter = time.Second

// dbGate bounds the calls in flight and the calls waiting for one. A nil
// *dbGate lets every call through (a store opened by a command or a test).
type dbGate struct {
	slots    chan struct{} // a call in flight holds one element
	waiting  atomic.Int64  // calls queued for a slot
	maxQueue int64
	// abandonHold is how long the slot of a call given up on stays
	// taken (see leave).
	abandonHold time.Duration
}

// newDBGate lets calls through at once and queues queue more; the slot of
// a call given up on stays taken for abandonHold (the store's own bound on
// a call: the database may still be working on it).
func newDBGate(calls, queue int, abandonHold time.Duration) *dbGate {
	return &dbGate{slots: make(chan struct{}, calls), maxQueue: int64(queue), abandonHold: abandonHold}
}

// dbPass is one call's way through the gate, to give back with leave.
type dbPass struct {
	g      *dbGate
	ticket *dbTicket
	slot   bool // the call holds a slot (else it rides on its request's)
}

// enter lets a call through, perhaps after waiting in the queue, and
// returns ctx with the call's ticket, for the calls it makes in turn. It
// fails with errDBBusy when the queue is full and the call's request was
// not admitted yet, or when ctx ends or wait passes while the call waits.
func (g *dbGate) enter(ctx context.Context, wait time.Duration) (context.Context, dbPass, error) {
	if g == nil {
		return ctx, dbPass{}, nil
	}
	ticket, _ := ctx.Value(dbTicketKey{}).(*dbTicket)
	if ticket == nil { // background work: a ticket of its own call
		ticket = new(dbTicket)
		ctx = context.WithValue(ctx, dbTicketKey{}, ticket)
	}
	if ticket.inFlight.Add(1) > 1 {
		return ctx, dbPass{g, ticket, false}, nil
	}
	if err := g.acquire(ctx, wait, ticket.admitted.Load()); err != nil {
		ticket.inFlight.Add(-1)
		return nil, dbPass{}, err
	}
	ticket.admitted.Store(true)
	return ctx, dbPass{g, ticket, true}, nil
}

// acquire takes a slot, waiting in the queue when none is free; a caller
// not yet admitted finds the queue full and is refused.
func (g *dbGate) acquire(ctx context.Context, wait time.Duration, admitted bool) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.waiting.Add(1) > g.maxQueue && !admitted {
		g.waiting.Add(-1)
		return &unavailableError{reason: reasonDBBusy, err: fmt.Errorf("%w: %d calls queued", errDBBusy, g.maxQueue)}
	}
	defer g.waiting.Add(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}: // blocked senders are served in order
		return nil
	case <-timer.C:
		return &unavailableError{reason: reasonDBBusy, err: fmt.Errorf("%w: waited %v for a slot", errDBBusy, wait)}
	case <-ctx.Done():
		return &unavailableError{reason: reasonDBBusy, err: fmt.Errorf("%w: waited for a slot until %w", errDBBusy, context.Cause(ctx))}
	}
}

// leave gives back what enter took. A call whose context ended first (the
// deadline passed, or its client went away) may still be running in the
// database: FerretDB 1.x goes on with a query after the driver closed its
// connection, and past its maxTimeMS (docs/scale.md measures it), so its
// slot is held for g.abandonHold more, lest the gate send new work to a
// database still busy with abandoned work.
func (p dbPass) leave(ctx context.Context) {
	if p.g == nil {
		return
	}
	p.ticket.inFlight.Add(-1)
	switch {
	case !p.slot:
	case ctx.Err() != nil && p.g.abandonHold > 0:
		time.AfterFunc(p.g.abandonHold, func() { <-p.g.slots })
	default:
		<-p.g.slots
	}
}
