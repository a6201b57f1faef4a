package main

import (
	"net/netip"
	"sync"
	"time"
)

// maxRateBuckets bounds the limiter's memory even when many addresses
// arrive within one refill period.
const maxRateBuckets = 65536

// rateLimiter is a token bucket per client network: each may spend burst
// requests at once, refilled at rate per second. It prunes lazily, on
// access, so it needs no goroutine and memory follows recent clients only.
type rateLimiter struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	buckets   map[netip.Prefix]*tokenBucket
	lastPrune time.Time
}

// tokenBucket is one client network's allowance as of at.
type tokenBucket struct {
	tokens float64
	at     time.Time
}

// newRateLimiter allows perMinute requests a minute, with a burst of as many.
func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{
		rate:    float64(perMinute) / 60,
		burst:   float64(perMinute),
		buckets: map[netip.Prefix]*tokenBucket{},
	}
}

// allow spends one token of addr's bucket. When none is left it reports how
// long until the next one, for Retry-After.
func (l *rateLimiter) allow(addr netip.Addr, now time.Time) (ok bool, wait time.Duration) {
	key := clientNetwork(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	b := l.buckets[key]
	if b == nil {
		l.makeRoom()
		b = &tokenBucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.refill(now, l.rate, l.burst)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// refill adds what accrued since the bucket was last touched. A clock that
// steps back adds nothing rather than taking tokens away.
func (b *tokenBucket) refill(now time.Time, rate, burst float64) {
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*rate)
	}
	b.at = now
}

// refillTime is how long an empty bucket takes to fill: a bucket idle that
// long is indistinguishable from a new one, so it can be dropped.
func (l *rateLimiter) refillTime() time.Duration {
	return time.Duration(l.burst / l.rate * float64(time.Second))
}

// prune drops idle buckets, at most once per refill period so the scan's
// cost is spread over many requests.
func (l *rateLimiter) prune(now time.Time) {
	idle := l.refillTime()
	if now.Sub(l.lastPrune) < idle {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.at) >= idle {
			delete(l.buckets, k)
		}
	}
	l.lastPrune = now
}

// makeRoom evicts an arbitrary bucket when the map is full. That hands one
// client a fresh burst, which is better than refusing every new client.
func (l *rateLimiter) makeRoom() {
	if len(l.buckets) < maxRateBuckets {
		return
	}
	for k := range l.buckets {
		delete(l.buckets, k)
		return
	}
}

// clientNetwork is the unit a limit applies to: one IPv4 address, or one
// IPv6 /64, since a single host usually holds a whole /64.
func clientNetwork(addr netip.Addr) netip.Prefix {
	if !addr.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}
