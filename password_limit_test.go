package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSignInRateLimitOverHTTP measures the sign-in limits as an attacker
// sees them: a client that posts wrong passwords to /auth/password as
// fast as the server lets it, waiting exactly the Retry-After of each 429,
// for ten minutes of the server's clock. Once against one account, once
// from one address against a fresh email each time. It logs the guesses
// answered in each minute and the waits asked for (docs/accounts.md quotes
// them), on both stores; they must be TestFailureDelayCurve's figures.
func TestSignInRateLimitOverHTTP(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("victim@example.com", "the victim's password", false)
		for _, c := range []struct {
			name      string
			email     func(i int) string
			perMinute []int
		}{
			{"one account", func(int) string { return "victim@example.com" }, []int{11, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{"one address", func(i int) string { return fmt.Sprintf("guess%d@example.com", i) }, []int{26, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		} {
			perMinute, waits := attackSignIn(t, e, c.email)
			t.Logf("%s: guesses answered per minute: %v; waits asked (Retry-After): %v", c.name, perMinute, waits)
			if !slices.Equal(perMinute, c.perMinute) {
				t.Errorf("%s: guesses per minute %v, want %v", c.name, perMinute, c.perMinute)
			}
			e.clock.advance(failureMemory) // forgotten before the next case
		}
	})
}

// attackSignIn posts wrong passwords for ten minutes of the server's clock,
// honouring each Retry-After exactly, and returns the guesses answered (401)
// in each minute and the first ten waits.
func attackSignIn(t *testing.T, e *signInEnv, email func(i int) string) (perMinute []int, waits []string) {
	t.Helper()
	perMinute = make([]int, 10)
	start := e.srv.now()
	for i := 0; ; i++ {
		minute := int(e.srv.now().Sub(start) / time.Minute)
		if minute >= len(perMinute) {
			return perMinute, waits
		}
		resp, body := e.signInPassword(email(i), "a wrong guess "+strconv.Itoa(i), nil, nil)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			perMinute[minute]++
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if len(waits) < 10 {
				waits = append(waits, resp.Header.Get("Retry-After")+"s")
			}
			e.clock.advance(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("guess %d: %d %.200s", i, resp.StatusCode, body)
		}
	}
}

// TestFailureDelayOutlastsAFlood: a flood of new names, each failing past
// its free failures, fills the table; the key under attack, with more
// failures than any of them, keeps its delay, and the table stays bounded
// (review 9: the full table was cleared whole, the victim's delay with it).
func TestFailureDelayOutlastsAFlood(t *testing.T) {
	t.Parallel()
	d := newFailureDelay(freeAccountFailures)
	now := time.Unix(0, 0)
	for range freeAccountFailures + 6 {
		d.fail("victim", now)
	}
	want := d.wait("victim", now)
	for i := range maxFailureEntries {
		for range freeAccountFailures + 1 {
			d.fail("flood "+strconv.Itoa(i), now)
		}
	}
	if got := d.wait("victim", now); got != want || want == 0 {
		t.Errorf("after the flood the victim waits %v, want %v", got, want)
	}
	if len(d.m) > maxFailureEntries {
		t.Errorf("the table holds %d keys, want at most %d", len(d.m), maxFailureEntries)
	}
}

// TestFailureDelayPerIPv6Network: the per-address failure delay is kept
// per client network, as the rate limiter's bucket is (an IPv6 /64): a
// client whose twenty free failures are spent gets no fresh ones by
// moving to the next address of its /64.
func TestFailureDelayPerIPv6Network(t *testing.T) {
	t.Parallel()
	e := newAccountsEnv(t, "local", map[string]string{"TRUSTED_PROXIES": "127.0.0.1", "AUTH_RATE_LIMIT": "200"})
	e.clock.freeze() // a slow request must not let a wait pass
	try := func(addr string, i int) int {
		resp, _ := e.signInPassword("user"+strconv.Itoa(i)+"@example.com", "not the password at all", nil, map[string]string{"X-Forwarded-For": addr})
		return resp.StatusCode
	}
	i := 0
	for ; i < 40 && try("2001:db8:1:2::1", i) != http.StatusTooManyRequests; i++ {
	}
	if i == 40 {
		t.Fatal("2001:db8:1:2::1 was never slowed down")
	}
	for j := 2; j < 12; j++ {
		if status := try("2001:db8:1:2::"+strconv.Itoa(j), 100+j); status != http.StatusTooManyRequests {
			t.Errorf("2001:db8:1:2::%d, right after its /64's 429: %d; want 429", j, status)
		}
	}
	if status := try("2001:db8:1:3::1", 200); status != http.StatusUnauthorized {
		t.Errorf("an address of another /64: %d; want 401 (its own delay)", status)
	}
}
