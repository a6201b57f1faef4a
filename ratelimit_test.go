package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRateLimitAcrossInstances: two instances on one MongoDB together let
// through no more than AUTH_RATE_LIMIT requests a minute from one client
// address, on /auth/token and on a share link, however the requests are
// spread between them and however concurrent.
func TestRateLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	const limit = 5
	env := mongoS3Env(t)
	env["AUTH_RATE_LIMIT"] = fmt.Sprint(limit)
	servers := []apiTester{{startTestEnv(t, env)}, {startTestEnv(t, env)}}
	for _, req := range []request{
		{method: "POST", path: "/auth/token", body: map[string]string{"grant_type": "authorization_code", "code": "nope"}},
		{method: "GET", path: "/s/no-such-link", header: map[string]string{"Accept": "application/json"}},
	} {
		awayFromWindowEdge(t)
		var passed, limited atomic.Int32
		var wg sync.WaitGroup
		for i := range 4 * limit {
			wg.Go(func() {
				code, body, err := servers[i%2].try(req)
				switch {
				case err != nil:
					t.Errorf("%s %s: %v", req.method, req.path, err)
				case code == http.StatusTooManyRequests:
					limited.Add(1)
				case code >= 500:
					t.Errorf("%s %s: %d %s", req.method, req.path, code, body)
				default:
					passed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := passed.Load(); n != limit {
			t.Errorf("%s %s: %d of %d requests through two instances passed the limit, want exactly %d (%d limited)", req.method, req.path, n, 4*limit, limit, limited.Load())
		}
	}
}

// TestRateLimitOneInstanceOnMongo: the shared budget leaves what one
// instance allows as it was: AUTH_RATE_LIMIT requests, then 429 with
// Retry-After in the API's error shape.
func TestRateLimitOneInstanceOnMongo(t *testing.T) {
	t.Parallel()
	const limit = 3
	env := mongoS3Env(t)
	env["AUTH_RATE_LIMIT"] = fmt.Sprint(limit)
	e := startTestEnv(t, env)
	awayFromWindowEdge(t)
	for i := range limit {
		resp, body := e.do(request{method: "POST", path: "/auth/token", body: map[string]string{"grant_type": "authorization_code", "code": "nope"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d of %d limited: %s", i+1, limit, body)
		}
	}
	resp, body := e.do(request{method: "POST", path: "/auth/token", body: map[string]string{"grant_type": "authorization_code", "code": "nope"}})
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", resp.Header)
	}
}

// awayFromWindowEdge waits, if the minute is about to end, for the next
// one: a burst split across two windows may rightly spend two budgets.
func awayFromWindowEdge(t *testing.T) {
	if left := time.Until(time.Now().Truncate(rateWindow).Add(rateWindow)); left < 10*time.Second {
		t.Logf("waiting %v for the next rate window", left)
		time.Sleep(left + 100*time.Millisecond)
	}
}

// BenchmarkSharedRateSpend measures what the shared budget adds to a
// rate-limited request on the test MongoDB: one spend (a count and an
// insert), each client address spending the default AUTH_RATE_LIMIT (60).
func BenchmarkSharedRateSpend(b *testing.B) {
	const perClient = 60
	store := benchMongoStore(b, "bench_rate")
	s := &server{store: store, log: slog.New(slog.DiscardHandler)}
	l := newRateLimiter(perClient).sharedAs("bench")
	now := time.Now()
	i := 0
	for b.Loop() {
		c := i / perClient
		addr := netip.AddrFrom4([4]byte{10, byte(c >> 16), byte(c >> 8), byte(c)})
		i++
		if ok, _ := s.spendShared(context.Background(), l, addr, now); !ok {
			b.Fatalf("spend %d: budget spent", i)
		}
	}
}
