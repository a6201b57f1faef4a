package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestCtx is the context of a request that has not called the store
// yet: it carries a ticket of its own, as loggedRequest's does.
func requestCtx() context.Context {
	return context.WithValue(context.Background(), dbTicketKey{}, new(dbTicket))
}

// waitQueued waits until n calls wait at g: counted in g.waiting and
// parked in acquire's select. The count goes up a moment before its call
// parks, and only parked calls are in the slot channel's queue, which
// serves them in order; a test of that order must not start the next call
// before this one is in the queue.
func waitQueued(t *testing.T, g *dbGate, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); g.waiting.Load() != n || parkedInAcquire() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued and %d parked, want %d", g.waiting.Load(), parkedInAcquire(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// parkedInAcquire counts the goroutines blocked in dbGate.acquire's
// select, from a dump of every goroutine's stack.
func parkedInAcquire() int64 {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var n int64
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, "[select") && strings.Contains(g, "(*dbGate).acquire(") {
			n++
		}
	}
	return n
}

// enterAsync enters g from a goroutine and leaves again; the result
// arrives on the channel once the call left (so a test that reads it
// next sees the slot given back).
func enterAsync(g *dbGate, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, p, err := g.enter(ctx, time.Minute)
		if err == nil {
			p.leave(ctx)
		}
		done <- err
	}()
	return done
}

func wantBusy(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errDBBusy) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want errDBBusy (an ErrUnavailable)", err)
	}
}

// TestDBGateRefusesBeyondQueue: calls fill the slots, then the queue, and
// the next new request is refused at once; a slot given back lets the
// first waiter in.
func TestDBGateRefusesBeyondQueue(t *testing.T) {
	g := newDBGate(2, 1, mongoOpTimeout)
	_, a, err := g.enter(requestCtx(), time.Minute)
	ctMust(t, "first call", err)
	_, b, err := g.enter(requestCtx(), time.Minute)
	ctMust(t, "second call", err)
	queued := enterAsync(g, requestCtx())
	waitQueued(t, g, 1)
	began := time.Now()
	_, _, err = g.enter(requestCtx(), time.Minute)
	wantBusy(t, err)
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Errorf("refused after %v, want at once", took)
	}
	a.leave(context.Background())
	if err := <-queued; err != nil {
		t.Fatalf("queued call: %v", err)
	}
	b.leave(context.Background())
	if len(g.slots) != 0 || g.waiting.Load() != 0 {
		t.Fatalf("%d slots held, %d waiting after every call left", len(g.slots), g.waiting.Load())
	}
}

// TestDBGateWaiterGivesUpWithItsContext: a queued call ends with its
// context, as busy, and leaves the queue.
func TestDBGateWaiterGivesUpWithItsContext(t *testing.T) {
	g := newDBGate(1, 4, mongoOpTimeout)
	_, held, err := g.enter(requestCtx(), time.Minute)
	ctMust(t, "first call", err)
	defer held.leave(context.Background())
	ctx, cancel := context.WithTimeout(requestCtx(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, _, err = g.enter(ctx, time.Minute)
	wantBusy(t, err)
	if took := time.Since(began); took < 50*time.Millisecond || took > time.Second {
		t.Errorf("gave up after %v, want when its deadline passed (50ms)", took)
	}
	if n := g.waiting.Load(); n != 0 {
		t.Fatalf("%d calls still counted as waiting", n)
	}
}

// TestDBGateAdmittedRequestWaits: once one of a request's calls got
// through, its later calls wait even when the queue is full, so that no
// request is refused halfway; and a call made while its request holds a
// slot takes none.
func TestDBGateAdmittedRequestWaits(t *testing.T) {
	g := newDBGate(1, 0, mongoOpTimeout)
	req := requestCtx()
	ctx, first, err := g.enter(req, time.Minute)
	ctMust(t, "first call", err)
	if _, nested, err := g.enter(ctx, time.Minute); err != nil {
		t.Fatalf("a call inside the request's call: %v, want it through without a slot", err)
	} else {
		nested.leave(context.Background())
	}
	if len(g.slots) != 1 {
		t.Fatalf("%d slots held, want the first call's only", len(g.slots))
	}
	_, _, err = g.enter(requestCtx(), time.Minute)
	wantBusy(t, err) // a new request, the queue (0) full
	first.leave(context.Background())

	_, other, err := g.enter(requestCtx(), time.Minute) // another request takes the slot
	ctMust(t, "other request", err)
	later := enterAsync(g, req) // the admitted request's next call waits
	waitQueued(t, g, 1)
	other.leave(context.Background())
	if err := <-later; err != nil {
		t.Fatalf("the admitted request's later call: %v, want it to wait for the slot", err)
	}
}

// TestDBGateBackgroundCallsNest: a call without a request (the sweeper's,
// a webhook's) gets a ticket of its own, so the calls it makes inside take
// no second slot.
func TestDBGateBackgroundCallsNest(t *testing.T) {
	g := newDBGate(1, 0, mongoOpTimeout)
	ctx, outer, err := g.enter(context.Background(), time.Minute)
	ctMust(t, "outer call", err)
	_, inner, err := g.enter(ctx, time.Minute)
	ctMust(t, "inner call", err)
	inner.leave(context.Background())
	outer.leave(context.Background())
	if len(g.slots) != 0 {
		t.Fatalf("%d slots held after both left", len(g.slots))
	}
}

// TestDBGateServesInOrder: waiting calls get the slot first come, first
// served, so no request waits behind later ones.
func TestDBGateServesInOrder(t *testing.T) {
	g := newDBGate(1, 8, mongoOpTimeout)
	_, held, err := g.enter(requestCtx(), time.Minute)
	ctMust(t, "first call", err)
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, p, err := g.enter(requestCtx(), time.Minute)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			p.leave(context.Background())
		}()
		waitQueued(t, g, int64(i+1))
	}
	held.leave(context.Background())
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want 0 to 4", order)
		}
	}
}

// TestNilDBGateLetsEverythingThrough: a store opened without the gate (by
// dropp migrate, dropp invite, a test) is unbounded.
func TestNilDBGateLetsEverythingThrough(t *testing.T) {
	var g *dbGate
	for range 3 {
		_, p, err := g.enter(requestCtx(), time.Minute)
		ctMust(t, "enter", err)
		p.leave(context.Background())
	}
}

// TestDBGateShedsOverloadWith503 fills the gate of a server on FerretDB
// whose link is frozen (calls hang, holding their slots, as on a database
// swamped with work), then sends more requests: each must be answered at
// once with 503 and Retry-After in the API's error shape, and counted,
// rather than wait for MongoDB's timeout.
func TestDBGateShedsOverloadWith503(t *testing.T) {
	t.Parallel()
	ferret := startFerretDB(t)
	link := opsStartLink(t, ferret.addr)
	e := newTestEnv(t, map[string]string{"MONGODB_URI": "mongodb://" + link.addr + "/", "MONGODB_MAX_CALLS": "2", "MONGODB_QUEUE": "2"})
	tok := e.newUser("gate")
	resp, body := e.do(request{method: "GET", path: "/list/", token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	gate := e.srv.store.(*mongoStore).gate

	link.freeze()
	var held sync.WaitGroup
	for range 4 { // two in flight, two queued: they wait for the link
		held.Add(1)
		go func() {
			defer held.Done()
			e.client.Do(mustRequest(t, "GET", e.URL+"/list/", tok))
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); len(gate.slots) != 2 || gate.waiting.Load() != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls in flight, %d queued; want 2 and 2", len(gate.slots), gate.waiting.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, path := range []string{"/list/", "/me", "/download/nosuchfile"} {
		began := time.Now()
		resp, body := e.do(request{method: "GET", path: path, token: tok})
		took := time.Since(began)
		wantStatus(t, resp, body, http.StatusServiceUnavailable)
		if got := resp.Header.Get("Retry-After"); got != "1" {
			t.Errorf("GET %s: Retry-After %q, want 1", path, got)
		}
		if took > 500*time.Millisecond {
			t.Errorf("GET %s answered after %v, want at once (the gate is full)", path, took)
		}
		if strings.Contains(string(body), link.addr) {
			t.Errorf("GET %s: body %s names the database", path, body)
		}
	}
	link.thaw()
	held.Wait()
	var metrics bytes.Buffer
	e.srv.metrics.write(&metrics)
	if want := `dropp_backend_errors_total{kind="overloaded"} 3`; !strings.Contains(metrics.String(), want) {
		t.Errorf("metrics lack %s:\n%s", want, metrics.String())
	}
	if files := opsPollList(t, e, tok, 30*time.Second); len(files) != 0 {
		t.Fatalf("list after the overload: %+v, want no files", files)
	}
}

// mustRequest builds a GET with a bearer token.
func mustRequest(t *testing.T, method, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	ctMust(t, "request", err)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// TestDBGateHoldsAbandonedCallsSlot: a call whose context ended before it
// returned keeps its slot for abandonHold, since the database may still
// work on it; a call that finished gives it back at once.
func TestDBGateHoldsAbandonedCallsSlot(t *testing.T) {
	g := newDBGate(1, 0, mongoOpTimeout)
	g.abandonHold = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(requestCtx())
	_, p, err := g.enter(ctx, time.Minute)
	ctMust(t, "enter", err)
	cancel() // the client went away while the call ran
	p.leave(ctx)
	_, _, err = g.enter(requestCtx(), time.Minute)
	wantBusy(t, err)
	time.Sleep(300 * time.Millisecond)
	_, p, err = g.enter(requestCtx(), time.Minute)
	ctMust(t, "enter after the hold", err)
	p.leave(context.Background())
	if len(g.slots) != 0 {
		t.Fatalf("%d slots held after a finished call left", len(g.slots))
	}
}
