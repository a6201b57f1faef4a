package main

import (
	"net/netip"
	"testing"
	"time"
)

// TestRateLimiterFloodKeepsBusyClientLimited: a flood of fresh addresses,
// many times what the limiter holds, evicts only the least recently used
// buckets, never the bucket of a client that keeps trying, so the flood
// cannot hand that client a fresh burst.
func TestRateLimiterFloodKeepsBusyClientLimited(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(10)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // no refill during the test
	busy := netip.MustParseAddr("2001:db8::1")
	for range 10 {
		if ok, _ := l.allow(busy, now); !ok {
			t.Fatal("refused within the burst")
		}
	}
	fresh := netip.MustParseAddr("10.0.0.0")
	for i := range 8 * maxRateBuckets {
		fresh = fresh.Next()
		if ok, _ := l.allow(fresh, now); !ok {
			t.Fatalf("fresh address %s refused", fresh)
		}
		if i%1000 == 0 {
			if ok, _ := l.allow(busy, now); ok {
				t.Fatalf("after %d fresh addresses, the busy client got a new burst", i+1)
			}
		}
	}
	if n := len(l.buckets); n > maxRateBuckets {
		t.Errorf("%d buckets, want at most %d", n, maxRateBuckets)
	}
}

// TestRateLimiterEvictsLeastRecentlyUsed: when full, the bucket evicted is
// the one used longest ago, and idle buckets are dropped once full again.
func TestRateLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(60) // one a second, full again after a minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addr := netip.MustParseAddr("10.0.0.0")
	first := addr.Next()
	for range maxRateBuckets {
		addr = addr.Next()
		l.allow(addr, now)
	}
	second := first.Next()
	later := now.Add(30 * time.Second)
	l.allow(first, later) // first is now the most recently used, second the least
	l.allow(addr.Next(), later)
	if _, ok := l.buckets[clientNetwork(second)]; ok {
		t.Errorf("the least recently used bucket survived")
	}
	if _, ok := l.buckets[clientNetwork(first)]; !ok {
		t.Errorf("a recently used bucket was evicted")
	}
	l.allow(first, now.Add(time.Minute))
	if n := len(l.buckets); n != 2 {
		t.Errorf("a refill period after the flood, %d buckets, want 2 (the two used since)", n)
	}
}
