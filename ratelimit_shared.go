package main

// Rate limits that hold across instances. Each instance's token bucket
// (ratelimit.go) answers first; a request it lets through then spends one
// unit of its client network's budget for the current minute in the store,
// so that N instances on one MongoDB together allow AUTH_RATE_LIMIT a
// minute, not N times it. The local store serves one process, whose own
// limiter is the whole budget: it does not implement rateBudgetStore, and
// nothing is spent there.

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// rateWindow is the period of a shared budget: AUTH_RATE_LIMIT is a count
// per minute.
const rateWindow = time.Minute

// sharedBudget is a limiter's budget in the store, and what this instance
// saw of the current window: per bucket, the last unit it saw taken, from
// which its next spend tries. A spend thus costs one insert, and once the
// window's budget is seen spent, none.
type sharedBudget struct {
	name   string // the budget's name in the store
	window time.Time
	seen   map[string]int // bucket -> last unit seen taken, in window
}

// sharedAs makes the limiter's budget shared by every instance on the
// store, under name (one per limiter, so that token requests do not spend
// the share links' budget).
func (l *rateLimiter) sharedAs(name string) *rateLimiter {
	l.shared = &sharedBudget{name: name, seen: map[string]int{}}
	return l
}

// spendShared spends one unit of addr's shared budget for l, once l itself
// let the request through. When the window's budget is spent it reports
// how long until the next window. A store that cannot be asked lets the
// request through: the instance's own limit still holds, and the request
// itself then meets the same store.
func (s *server) spendShared(ctx context.Context, l *rateLimiter, addr netip.Addr, now time.Time) (ok bool, wait time.Duration) {
	budgets, shared := s.store.(rateBudgetStore)
	if !shared || l.shared == nil {
		return true, 0
	}
	window := now.Truncate(rateWindow)
	end := window.Add(rateWindow)
	bucket := fmt.Sprintf("%s %s %d", l.shared.name, clientNetwork(addr), window.Unix())
	budget := int(l.burst)
	from := l.seenTaken(window, bucket) + 1
	if from > budget {
		return false, end.Sub(now)
	}
	n, err := budgets.SpendRateBudget(ctx, bucket, from, budget, end)
	if err != nil {
		s.log.Warn("shared rate limit unavailable; this instance's own limit applies", "limit", l.shared.name, "err", err)
		return true, 0
	}
	if n == 0 {
		l.sawTaken(window, bucket, budget)
		return false, end.Sub(now)
	}
	l.sawTaken(window, bucket, n)
	return true, 0
}

// seenTaken is the last unit of bucket this instance saw taken in window.
func (l *rateLimiter) seenTaken(window time.Time, bucket string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.shared.window.Equal(window) {
		return 0
	}
	return l.shared.seen[bucket]
}

// sawTaken records that unit n of bucket is taken. A new window forgets
// the last one's buckets, and so does a full map (what is forgotten only
// costs inserts that find their unit taken).
func (l *rateLimiter) sawTaken(window time.Time, bucket string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.shared
	if !b.window.Equal(window) || len(b.seen) >= maxRateBuckets {
		clear(b.seen)
		b.window = window
	}
	b.seen[bucket] = max(b.seen[bucket], n)
}
