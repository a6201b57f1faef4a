package main

// The server's rate limits: the middleware that applies a limiter, the
// 429 answers, and the budget in the store that every instance shares.

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// rateLimited answers tooMany, with Retry-After, once the client address
// (s.clientAddr, which believes X-Forwarded-For only from trusted proxies)
// has used up its allowance: this instance's first, then the one shared by
// every instance.
func (s *server) rateLimited(l *rateLimiter, tooMany http.HandlerFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, now := s.clientAddr(r), s.now()
		ok, wait := l.allow(addr, now)
		if ok {
			ok, wait = s.spendShared(r.Context(), l, addr, now)
		}
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
			tooMany(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageTooMany is the 429 of the HTML route /auth/google.
func (s *server) pageTooMany(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a minute and try again.")
}

// jsonTooMany is the 429 of /auth/token, in the API error shape.
func jsonTooMany(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many token requests; retry after the Retry-After delay")
}

// shareTooMany is the 429 of /s/.
func (s *server) shareTooMany(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many share link requests; retry after the Retry-After delay")
		return
	}
	s.renderSharePage(w, http.StatusTooManyRequests, sharePage{Title: "Too many requests", Error: "Too many requests from your address. Wait a minute and try again."})
}

// ---- Rate limits that hold across instances ----
//
// Each instance's token bucket (tokenbucket.go) answers first; a request it lets
// through then spends one unit of its client network's budget for the
// current minute in the store, so that N instances on one MongoDB together
// allow AUTH_RATE_LIMIT a minute, not N times it. The local store serves one process, whose own
// limiter is the whole budget: it does not implement rateBudgetStore, and
// nothing is spent there.

// rateWindow is the period of a shared budget: AUTH_RATE_LIMIT is a count
// per minute.
const rateWindow = time.Minute

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
