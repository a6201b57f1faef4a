package main

// The rate limiter itself: a token bucket per client network, and what this
// instance saw of the budget it shares with other instances (spendShared,
// ratelimit.go).

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// maxRateBuckets bounds the limiter's memory even when many addresses
// arrive within one refill period.
const maxRateBuckets = 65536

// rateLimiter is a token bucket per client network: each may spend burst
// requests at once, refilled at rate per second. Buckets are kept in the
// order they were last used, so both dropping idle ones and, when full,
// evicting the least recently used take constant time per bucket, with no
// goroutine and no scan.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[netip.Prefix]*list.Element // of *tokenBucket, in recent
	recent  *list.List                     // most recently used first
	shared  *sharedBudget                  // nil: not shared (sharedBudget, below)
}

// tokenBucket is one client network's allowance as of at.
type tokenBucket struct {
	key    netip.Prefix
	tokens float64
	at     time.Time
}

// newRateLimiter allows perMinute requests a minute, with a burst of as many.
func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{
		rate:    float64(perMinute) / 60,
		burst:   float64(perMinute),
		buckets: map[netip.Prefix]*list.Element{},
		recent:  list.New(),
	}
}

// allow spends one token of addr's bucket. When none is left it reports how
// long until the next one, for Retry-After.
func (l *rateLimiter) allow(addr netip.Addr, now time.Time) (ok bool, wait time.Duration) {
	key := clientNetwork(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropIdle(now)
	b := l.bucket(key, now)
	b.refill(now, l.rate, l.burst)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// bucket returns key's bucket, marked as the most recently used; a new one
// starts full. When the limiter is full, the least recently used bucket
// makes room: a flood of new addresses then only evicts each other and
// clients gone quiet, never a client that keeps coming back.
func (l *rateLimiter) bucket(key netip.Prefix, now time.Time) *tokenBucket {
	if e, ok := l.buckets[key]; ok {
		l.recent.MoveToFront(e)
		return e.Value.(*tokenBucket)
	}
	if l.recent.Len() >= maxRateBuckets {
		l.remove(l.recent.Back())
	}
	b := &tokenBucket{key: key, tokens: l.burst, at: now}
	l.buckets[key] = l.recent.PushFront(b)
	return b
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

// dropIdle drops the buckets idle for a whole refill period. They are the
// least recently used, at the back of the list, so it stops at the first
// one still in use.
func (l *rateLimiter) dropIdle(now time.Time) {
	idle := l.refillTime()
	for e := l.recent.Back(); e != nil && now.Sub(e.Value.(*tokenBucket).at) >= idle; e = l.recent.Back() {
		l.remove(e)
	}
}

// remove forgets one bucket.
func (l *rateLimiter) remove(e *list.Element) {
	delete(l.buckets, l.recent.Remove(e).(*tokenBucket).key)
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
