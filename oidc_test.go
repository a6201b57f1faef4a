package main

// Tests of the OpenID provider client: ID token claims and header, the
// keys (JWKS) and discovery document it caches, and its HTTP client.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIDTokenTimesAudienceAndType: nbf and iat more than 5 minutes ahead
// are refused, several audiences need azp naming us, and a typ other than
// JWT (in any case) is refused; what stays within those bounds passes.
func TestIDTokenTimesAudienceAndType(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	prov := newOIDCProvider(p.URL, testClientID)
	now := time.Now()
	cases := []struct {
		name string
		edit func(header, claims map[string]any)
		ok   bool
	}{
		{"good", func(h, c map[string]any) {}, true},
		{"nbf past", func(h, c map[string]any) { c["nbf"] = now.Add(-time.Hour).Unix() }, true},
		{"nbf within skew", func(h, c map[string]any) { c["nbf"] = now.Add(4 * time.Minute).Unix() }, true},
		{"nbf beyond skew", func(h, c map[string]any) { c["nbf"] = now.Add(6 * time.Minute).Unix() }, false},
		{"iat within skew", func(h, c map[string]any) { c["iat"] = now.Add(4 * time.Minute).Unix() }, true},
		{"iat beyond skew", func(h, c map[string]any) { c["iat"] = now.Add(6 * time.Minute).Unix() }, false},
		{"one aud, no azp", func(h, c map[string]any) { delete(c, "azp") }, true},
		{"several aud, azp us", func(h, c map[string]any) { c["aud"] = []string{"another-client", testClientID} }, true},
		{"several aud, no azp", func(h, c map[string]any) {
			c["aud"] = []string{"another-client", testClientID}
			delete(c, "azp")
		}, false},
		{"one aud, azp other", func(h, c map[string]any) { c["azp"] = "another-client" }, false},
		{"typ jwt lower case", func(h, c map[string]any) { h["typ"] = "jwt" }, true},
		{"no typ", func(h, c map[string]any) { delete(h, "typ") }, true},
		{"typ at+jwt", func(h, c map[string]any) { h["typ"] = "at+jwt" }, false},
		{"typ JWS", func(h, c map[string]any) { h["typ"] = "JWS" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			header := map[string]any{"alg": "RS256", "kid": testKid, "typ": "JWT"}
			claims := map[string]any{
				"iss": p.URL, "sub": "sub-1", "aud": testClientID, "azp": testClientID,
				"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "the-nonce",
			}
			c.edit(header, claims)
			_, err := prov.verifyIDToken(t.Context(), signJWT(header, claims, testSigningKey()), "the-nonce", now)
			if (err == nil) != c.ok {
				t.Fatalf("verifyIDToken: %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, errProvider) {
				t.Errorf("error %v is not errProvider", err)
			}
		})
	}
}

// ---- JWKS and discovery ----

// gatedTransport carries the provider client's requests, except that the
// test can make those for one path fail (503) or wait at a gate.
type gatedTransport struct {
	path    string
	entered chan struct{} // receives as each request for path waits at the gate

	mu    sync.Mutex
	fail  bool
	gate  chan struct{} // requests for path wait until it is closed; nil: no gate
	calls int           // requests for path
}

// newGatedJWKS is a fake provider and an OIDC provider of it whose
// requests for the keys (/jwks) go through a new gatedTransport.
func newGatedJWKS(t *testing.T) (*fakeProvider, *oidcProvider, *gatedTransport) {
	t.Helper()
	p := newFakeProvider(t)
	prov := newOIDCProvider(p.URL, testClientID)
	g := &gatedTransport{path: "/jwks", entered: make(chan struct{})}
	prov.client.Transport = g
	return p, prov, g
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != g.path {
		return http.DefaultTransport.RoundTrip(r)
	}
	g.mu.Lock()
	g.calls++
	fail, gate := g.fail, g.gate
	g.mu.Unlock()
	if gate != nil {
		g.entered <- struct{}{}
		<-gate
	}
	if fail {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

// set changes the transport's knobs under its lock.
func (g *gatedTransport) set(f func(g *gatedTransport)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

// callCount is how many requests for the path came through.
func (g *gatedTransport) callCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// TestJWKSFailedRefetchKeepsCachedKeys: when a refetch of the keys fails,
// the cached keys still verify for up to 24 hours (a failed fetch is not
// retried for a few seconds); past that, sign-in fails until the JWKS
// answers again.
func TestJWKSFailedRefetchKeepsCachedKeys(t *testing.T) {
	t.Parallel()
	_, prov, jwks := newGatedJWKS(t)
	t0 := time.Now()
	want := func(at time.Duration, ok bool, calls int) {
		t.Helper()
		_, err := prov.publicKey(t.Context(), testKid, t0.Add(at))
		if (err == nil) != ok {
			t.Fatalf("at +%v: publicKey: %v, want ok=%v", at, err, ok)
		}
		if n := jwks.callCount(); n != calls {
			t.Fatalf("at +%v: JWKS asked %d times, want %d", at, n, calls)
		}
	}
	want(0, true, 1)
	jwks.set(func(g *gatedTransport) { g.fail = true })
	want(2*time.Hour, true, 2)                // stale, the refetch fails: cached keys
	want(2*time.Hour+time.Second, true, 2)    // not asked again at once
	want(2*time.Hour+10*time.Second, true, 3) // asked again a little later
	want(25*time.Hour, false, 4)              // too old to trust
	jwks.set(func(g *gatedTransport) { g.fail = false })
	want(25*time.Hour+10*time.Second, true, 5)
}

// TestJWKSRefetchHoldsNoLock: while a refetch of the keys is on the
// network, sign-ins whose key is cached go ahead without waiting, and
// those that need the new keys wait for that one fetch.
func TestJWKSRefetchHoldsNoLock(t *testing.T) {
	t.Parallel()
	p, prov, jwks := newGatedJWKS(t)
	t0 := time.Now()
	if _, err := prov.publicKey(t.Context(), testKid, t0); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	jwks.set(func(g *gatedTransport) { g.gate = gate })
	p.set(func(p *fakeProvider) { p.rotated = true })
	later := t0.Add(2 * time.Hour) // the keys are due for a refetch
	results := make(chan error, 6)
	lookup := func(kid string) { _, err := prov.publicKey(t.Context(), kid, later); results <- err }
	go lookup(testKid) // starts the refetch, which waits at the gate
	<-jwks.entered

	go lookup(testKid)
	select {
	case err := <-results:
		if err != nil {
			t.Errorf("cached key during a refetch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a sign-in with a cached key waited for the refetch")
	}
	for range 4 {
		go lookup(testKidRotated) // unknown yet: must wait for the fetch
	}
	close(gate)
	for range 5 {
		if err := <-results; err != nil {
			t.Errorf("after the refetch: %v", err)
		}
	}
	if n := jwks.callCount(); n != 2 {
		t.Errorf("JWKS asked %d times, want 2 (one refetch for all)", n)
	}
}

// TestDiscoveryRefreshedDaily: the discovery document is fetched again
// once a day old; if that fails, the copy in hand still serves.
func TestDiscoveryRefreshedDaily(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	prov := newOIDCProvider(p.URL, testClientID)
	t0 := time.Now()
	want := func(at time.Duration, calls int32) {
		t.Helper()
		if _, err := prov.discover(t.Context(), t0.Add(at)); err != nil {
			t.Fatalf("at +%v: discover: %v", at, err)
		}
		if n := p.discoveryCalls.Load(); n != calls {
			t.Fatalf("at +%v: discovery fetched %d times, want %d", at, n, calls)
		}
	}
	want(0, 1)
	want(23*time.Hour, 1)
	want(24*time.Hour, 2)
	p.set(func(p *fakeProvider) { p.failDiscovery = 1 })
	want(48*time.Hour, 3)
	want(48*time.Hour+time.Second, 3)
}

// TestProviderRefusesHTTPSDowngrade: the provider client follows a
// redirect from https to https, or http to http, but never from https to
// http.
func TestProviderRefusesHTTPSDowngrade(t *testing.T) {
	t.Parallel()
	var plainCalls atomic.Int32
	doc := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) }
	plainMux := http.NewServeMux()
	plainMux.HandleFunc("GET /doc", func(w http.ResponseWriter, r *http.Request) { plainCalls.Add(1); doc(w, r) })
	plainMux.Handle("GET /hop", http.RedirectHandler("/doc", http.StatusFound))
	plain := httptest.NewServer(plainMux)
	t.Cleanup(plain.Close)
	tlsMux := http.NewServeMux()
	tlsMux.HandleFunc("GET /doc", doc)
	tlsMux.Handle("GET /up", http.RedirectHandler("/doc", http.StatusFound))
	tlsMux.Handle("GET /down", http.RedirectHandler(plain.URL+"/doc", http.StatusFound))
	secure := httptest.NewTLSServer(tlsMux)
	t.Cleanup(secure.Close)
	prov := newOIDCProvider(secure.URL, testClientID)
	prov.client.Transport = secure.Client().Transport

	var v map[string]bool
	if err := prov.getJSON(t.Context(), secure.URL+"/down", &v); !errors.Is(err, errProvider) || plainCalls.Load() != 0 {
		t.Errorf("https to http: %v, plain server asked %d times; want errProvider and no request", err, plainCalls.Load())
	}
	for _, u := range []string{secure.URL + "/up", plain.URL + "/hop"} {
		if err := prov.getJSON(t.Context(), u, &v); err != nil || !v["ok"] {
			t.Errorf("%s: %v, %v", u, v, err)
		}
	}
}

// TestParseGroupsClaim: an array of strings or one string are groups
// (sorted, without duplicates or empty names); absent and null are none;
// every other shape is an error.
func TestParseGroupsClaim(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw  string
		want []string
		ok   bool
	}{
		{``, nil, true},
		{`null`, nil, true},
		{`[]`, []string{}, true},
		{`"admins"`, []string{"admins"}, true},
		{`""`, []string{}, true},
		{`["b","a","b",""]`, []string{"a", "b"}, true},
		{`["/dropp/admins","Admins","admins"]`, []string{"/dropp/admins", "Admins", "admins"}, true},
		{`["caf\u00e9"]`, []string{"café"}, true},
		{`42`, nil, false},
		{`true`, nil, false},
		{`{"admins":true}`, nil, false},
		{`["a",1]`, nil, false},
		{`[["a"]]`, nil, false},
		{`[{"name":"a"}]`, nil, false},
		{`["` + strings.Repeat("g", maxGroupLen+1) + `"]`, nil, false},
		{`[` + strings.Repeat(`"g",`, maxGroups) + `"h"]`, []string{"g", "h"}, true}, // duplicates dropped first
	}
	for _, c := range cases {
		got, err := parseGroupsClaim(json.RawMessage(c.raw))
		if (err == nil) != c.ok || c.ok && !(len(got) == 0 && len(c.want) == 0 || reflect.DeepEqual(got, c.want)) {
			t.Errorf("%.60s: %q, %v; want %q, ok=%v", c.raw, got, err, c.want, c.ok)
		}
	}
	many := make([]string, maxGroups+1)
	for i := range many {
		many[i] = fmt.Sprint("g", i)
	}
	raw, _ := json.Marshal(many)
	if _, err := parseGroupsClaim(raw); err == nil {
		t.Errorf("%d distinct groups accepted, want at most %d", len(many), maxGroups)
	}
	var c idClaims
	if err := json.Unmarshal([]byte(`{"roles":["x"],"groups":"y"}`), &c.all); err != nil {
		t.Fatal(err)
	}
	if got, err := c.groups("roles"); err != nil || !slices.Equal(got, []string{"x"}) {
		t.Errorf("groups from the claim roles: %q, %v", got, err)
	}
}
