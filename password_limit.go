package main

// Password sign-in's state: the hasher and the rate limits. Every attempt spends a token of the
// client address's bucket (AUTH_RATE_LIMIT a minute, ratelimit.go). On top
// of that, failures grow a delay, per account and per client address:
// a few failures are free, then each next attempt must wait twice as long
// as the one before, up to maxFailureDelay. It is a delay, never a lock-out:
// the owner can always sign in once it has passed, and a browser that
// signed in to the account before (it holds a device cookie for it) is
// counted on its own, so a stranger's failures do not slow the owner down
// (OWASP's "device cookies").

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"
)

// The delay curve; docs/accounts.md gives the figures it makes.
const (
	freeAccountFailures = 5                // per account (or per device cookie)
	freeAddressFailures = 20               // per client address
	firstFailureDelay   = time.Second      // after the free failures, doubling
	maxFailureDelay     = time.Minute      // the longest wait between two attempts
	failureMemory       = 15 * time.Minute // failures are forgotten after this long without one
	maxFailureEntries   = 65536            // bounds the memory a flood of names can take
	deviceCookie        = "dropp_device"
	deviceCookieTTL     = 180 * 24 * time.Hour
)

// passwordSignIn holds password sign-in's limits.
type passwordSignIn struct {
	hasher    *passwordHasher
	addrLimit *rateLimiter  // every attempt and invitation form, per client network
	accounts  *failureDelay // per account, or per device cookie
	addresses *failureDelay // per client address
}

// newPasswordSignIn sets the limits: perMinute attempts a minute from one
// address (AUTH_RATE_LIMIT), and the failure delays.
func newPasswordSignIn(perMinute int) *passwordSignIn {
	return &passwordSignIn{
		hasher:    newPasswordHasher(owaspScrypt),
		addrLimit: newRateLimiter(perMinute).sharedAs("password"),
		accounts:  newFailureDelay(freeAccountFailures),
		addresses: newFailureDelay(freeAddressFailures),
	}
}

// admit lets an attempt through, counting it as a failure until it
// succeeds, or returns how long to wait. device, when the browser holds a
// device cookie for the account, replaces the account's key.
func (p *passwordSignIn) admit(addr, email, device string, now time.Time) time.Duration {
	acct := accountKey(email, device)
	if wait := max(p.accounts.wait(acct, now), p.addresses.wait(addr, now)); wait > 0 {
		return wait
	}
	p.accounts.fail(acct, now)
	p.addresses.fail(addr, now)
	return 0
}

// succeeded clears the account's failures for a sign-in that passed, and
// takes back the one admit counted for the address (only that one: a
// stranger with an account of their own must not wipe their address's
// failures by signing in between guesses).
func (p *passwordSignIn) succeeded(addr, email, device string) {
	p.accounts.forget(accountKey(email, device))
	p.addresses.undo(addr)
}

// forgetFailures clears an account's failures (its password was just set).
func (p *passwordSignIn) forgetFailures(email string) {
	if p != nil {
		p.accounts.forget(accountKey(email, ""))
	}
}

// accountKey names whose failures an attempt counts toward.
func accountKey(email, device string) string {
	if device != "" {
		return "device " + device
	}
	return "account " + email
}

// failureDelay counts recent failures per key.
type failureDelay struct {
	mu   sync.Mutex
	free int
	m    map[string]failureCount
}

// failureCount is a key's failures, the last one at last.
type failureCount struct {
	n    int
	last time.Time
}

func newFailureDelay(free int) *failureDelay {
	return &failureDelay{free: free, m: map[string]failureCount{}}
}

// delayAfter is the wait after n failures: none for the free ones, then
// firstFailureDelay doubling up to maxFailureDelay.
func (d *failureDelay) delayAfter(n int) time.Duration {
	excess := n - d.free
	if excess <= 0 {
		return 0
	}
	return min(maxFailureDelay, firstFailureDelay<<min(excess-1, 16))
}

// wait is how long key must still wait before its next attempt.
func (d *failureDelay) wait(key string, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.m[key]
	if !ok || now.Sub(c.last) >= failureMemory {
		return 0
	}
	return max(0, c.last.Add(d.delayAfter(c.n)).Sub(now))
}

// fail counts one failure of key at now.
func (d *failureDelay) fail(key string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.m[key]
	if now.Sub(c.last) >= failureMemory {
		c = failureCount{}
	}
	if _, known := d.m[key]; !known && len(d.m) >= maxFailureEntries {
		d.dropOld(now)
	}
	d.m[key] = failureCount{n: c.n + 1, last: now}
}

// dropOld makes room: the keys whose failures are forgotten anyway, then,
// down to three quarters of the table (so that the sort runs once per
// many new keys), those with the fewest failures, oldest first. A flood of
// new names never wipes the delay of a key under attack: to outrank it,
// each flooding key needs as many failures, each waited for.
func (d *failureDelay) dropOld(now time.Time) {
	for k, c := range d.m {
		if now.Sub(c.last) >= failureMemory {
			delete(d.m, k)
		}
	}
	excess := len(d.m) - maxFailureEntries*3/4
	if excess <= 0 {
		return
	}
	keys := slices.Collect(maps.Keys(d.m))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(d.m[a].n, d.m[b].n), d.m[a].last.Compare(d.m[b].last))
	})
	for _, k := range keys[:excess] {
		delete(d.m, k)
	}
}

// undo takes back one failure of key.
func (d *failureDelay) undo(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.m[key]; ok && c.n > 1 {
		d.m[key] = failureCount{n: c.n - 1, last: c.last}
	} else {
		delete(d.m, key)
	}
}

// forget clears key's failures.
func (d *failureDelay) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, key)
}
