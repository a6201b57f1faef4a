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

// sharedAs makes the limiter's budget shared by every instance on the
// store, under name (one per limiter, so that token requests do not spend
// the share links' budget).
func (l *rateLimiter) sharedAs(name string) *rateLimiter {
	l.shared = name
	return l
}

// spendShared spends one unit of addr's shared budget for l, once l itself
// let the request through. When the window's budget is spent it reports
// how long until the next window. A store that cannot be asked lets the
// request through: the instance's own limit still holds, and the request
// itself then meets the same store.
func (s *server) spendShared(ctx context.Context, l *rateLimiter, addr netip.Addr, now time.Time) (ok bool, wait time.Duration) {
	budgets, shared := s.store.(rateBudgetStore)
	if !shared || l.shared == "" {
		return true, 0
	}
	start := now.Truncate(rateWindow)
	end := start.Add(rateWindow)
	bucket := fmt.Sprintf("%s %s %d", l.shared, clientNetwork(addr), start.Unix())
	spent, err := budgets.SpendRateBudget(ctx, bucket, int(l.burst), end)
	if err != nil {
		s.log.Warn("shared rate limit unavailable; this instance's own limit applies", "limit", l.shared, "err", err)
		return true, 0
	}
	return spent, end.Sub(now)
}
