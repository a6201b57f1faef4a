package main

// Tests of the sign-in hardening (issue 7, items 13-17): ID token claims
// and header, Google's hd claim, membership checked at use, one user per
// Google account whatever the issuer's spelling, JWKS and discovery
// caching, and concurrent first sign-ins.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// onEachStore runs test on a fresh store of each backend (storeOpeners:
// local, and a MongoDB (FerretDB) database), in parallel subtests.
func onEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for name, open := range storeOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

// TestUpsertUserConcurrentFirstSignIn: many first sign-ins of one subject
// at once all succeed, as one user (item 17: a lost insert race was a 409).
func TestUpsertUserConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		for round := range 5 {
			u := User{Issuer: "https://issuer.example", Subject: fmt.Sprintf("sub-%d-%s", round, newID()), Email: "a@example.com"}
			ids := make([]string, 8)
			errs := make([]error, len(ids))
			var wg sync.WaitGroup
			for i := range ids {
				wg.Go(func() {
					got, err := s.UpsertUser(t.Context(), u)
					ids[i], errs[i] = got.ID, err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: concurrent first sign-ins: %v", round, err)
			}
			for _, id := range ids {
				if id == "" || id != ids[0] {
					t.Fatalf("round %d: concurrent first sign-ins made users %v, want one", round, ids)
				}
			}
		}
	})
}

// TestUpsertUserGoogleIssuerSpellings: a Google user stored under the bare
// spelling of the issuer (as sign-in once stored it) is found when it
// signs in again under the canonical one; a new user gets the canonical
// spelling, and other issuers get no such allowance (item 15).
func TestUpsertUserGoogleIssuerSpellings(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		legacy, err := s.UpsertUser(ctx, User{Issuer: googleIssuerBare, Subject: "sub-legacy", Email: "old@example.com"})
		ctMust(t, "UpsertUser(bare)", err)
		again, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-legacy", Email: "new@example.com"})
		ctMust(t, "UpsertUser(canonical)", err)
		if again.ID != legacy.ID || again.Email != "new@example.com" {
			t.Errorf("legacy user signing in again: %+v, want ID %s with the new email", again, legacy.ID)
		}
		fresh, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-new"})
		ctMust(t, "UpsertUser(new)", err)
		if got, err := s.GetUser(ctx, fresh.ID); err != nil || got.Issuer != googleIssuer {
			t.Errorf("new Google user stored as %+v, %v; want issuer %q", got, err, googleIssuer)
		}
		other, err := s.UpsertUser(ctx, User{Issuer: "https://login.example.com", Subject: "sub-legacy"})
		ctMust(t, "UpsertUser(other issuer)", err)
		if other.ID == legacy.ID {
			t.Error("another issuer's subject was taken for the Google user")
		}
	})
}

// ---- Item 13: ID token claims and header ----

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

// ---- A stand-in for Google ----

// googleFake answers for https://accounts.google.com, reached through a
// transport that routes that host to a local TLS server. Unlike
// fakeProvider it mints Google's own claims: hd, and either spelling of
// the issuer. Its authorize step is left to the test (see signIn).
type googleFake struct {
	srv *httptest.Server

	mu     sync.Mutex
	grants map[string]map[string]any // code → the ID token's claims
}

// newGoogleFake starts the TLS server behind accounts.google.com.
func newGoogleFake(t *testing.T) *googleFake {
	g := &googleFake{grants: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": googleIssuer, "authorization_endpoint": googleIssuer + "/o/oauth2/v2/auth",
			"token_endpoint": googleIssuer + "/token", "jwks_uri": googleIssuer + "/jwks",
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{publicJWK(testKid, &testSigningKey().PublicKey)}})
	})
	mux.HandleFunc("POST /token", g.handleToken)
	g.srv = httptest.NewTLSServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// handleToken answers a code with the ID token granted for it.
func (g *googleFake) handleToken(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	g.mu.Lock()
	claims, ok := g.grants[r.PostForm.Get("code")]
	g.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	token := signJWT(map[string]any{"alg": "RS256", "kid": testKid, "typ": "JWT"}, claims, testSigningKey())
	writeJSON(w, http.StatusOK, map[string]any{"access_token": "x", "token_type": "Bearer", "id_token": token})
}

// route sends c's requests for any host to the fake, trusting its
// certificate (issued for example.com).
func (g *googleFake) route(c *http.Client) {
	tr := g.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"}
	addr := g.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c.Transport = tr
}

// providerVars is the environment of a server on a fresh database that
// signs in through a provider at issuer ("" for Google's), env on top.
func providerVars(t *testing.T, issuer string, env map[string]string) map[string]string {
	vars := mongoS3Env(t)
	vars["GOOGLE_CLIENT_ID"], vars["GOOGLE_CLIENT_SECRET"] = testClientID, testClientSecret
	if issuer != "" {
		vars["OAUTH_ISSUER"] = issuer
	}
	maps.Copy(vars, env)
	return vars
}

// serveWithCallback starts a server from vars on a new listener, which
// GOOGLE_REDIRECT_URI names.
func serveWithCallback(t *testing.T, vars map[string]string) *signInEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	vars = maps.Clone(vars)
	vars["GOOGLE_REDIRECT_URI"] = "http://" + ln.Addr().String() + "/auth/google/callback"
	return serveSignInEnv(t, ln, vars)
}

// newGoogleSignInEnv starts a server with the default issuer (Google), its
// provider client routed to g, and env on top.
func newGoogleSignInEnv(t *testing.T, g *googleFake, env map[string]string) *signInEnv {
	t.Helper()
	e := serveWithCallback(t, providerVars(t, "", env))
	g.route(e.srv.signIn.provider.client) // before the first request
	return e
}

// signIn runs a browser sign-in on e as the account claims describes
// (over the defaults of a verified Workspace user of example.com; a nil
// value removes a claim), and returns the final answer and the browser.
func (g *googleFake) signIn(t *testing.T, e *signInEnv, claims map[string]any) (*http.Response, []byte, *testBrowser) {
	t.Helper()
	b := newTestBrowser(t, e.URL)
	resp, body := b.get(e.URL + "/auth/google")
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), googleIssuer+"/") {
		t.Fatalf("sign-in start: %d to %v; %s", resp.StatusCode, loc, body)
	}
	q := loc.Query()
	now := time.Now()
	granted := map[string]any{
		"iss": googleIssuer, "sub": "sub-" + newSecret(8), "aud": testClientID, "azp": testClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": q.Get("nonce"),
		"email": "alice@example.com", "email_verified": true, "hd": "example.com",
	}
	maps.Copy(granted, claims)
	maps.DeleteFunc(granted, func(_ string, v any) bool { return v == nil })
	code := newSecret(16)
	g.mu.Lock()
	g.grants[code] = granted
	g.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	resp, body = b.follow(q.Get("redirect_uri") + "?" + back.Encode())
	return resp, body, b
}

// signedInUser is the stored user of b's session on e, failing if none.
func signedInUser(t *testing.T, e *signInEnv, b *testBrowser) User {
	t.Helper()
	status, me := e.me(map[string]string{"Cookie": sessionCookie + "=" + b.cookie(e.URL, sessionCookie)})
	if status != http.StatusOK {
		t.Fatalf("/me with the new session: %d", status)
	}
	u, err := e.srv.store.GetUser(t.Context(), me.ID)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", me.ID, err)
	}
	return u
}

// ---- Item 14: hd with Google ----

// TestGoogleDomainNeedsHostedDomain: with Google and ALLOWED_EMAIL_DOMAINS,
// a verified company address passes only on an account of that Workspace
// (hd); a personal account with the same verified address is refused.
// ALLOWED_EMAILS admits its exact addresses whatever hd says.
func TestGoogleDomainNeedsHostedDomain(t *testing.T) {
	t.Parallel()
	g := newGoogleFake(t)
	e := newGoogleSignInEnv(t, g, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com", "ALLOWED_EMAILS": "boss@partner.example"})
	cases := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"workspace account", nil, true},
		{"hd in another case", map[string]any{"hd": "Example.COM"}, true},
		{"personal account, company address", map[string]any{"hd": nil}, false},
		{"other workspace, company address", map[string]any{"hd": "evil.example"}, false},
		{"workspace, unverified", map[string]any{"email_verified": false}, false},
		{"listed address, personal account", map[string]any{"email": "boss@partner.example", "hd": nil}, true},
		{"workspace domain, other email domain", map[string]any{"email": "eve@evil.example"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body, b := g.signIn(t, e, c.claims)
			if c.ok {
				if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || b.cookie(e.URL, sessionCookie) == "" {
					t.Fatalf("allowed account refused: %d %s", resp.StatusCode, body)
				}
				return
			}
			wantPage(t, resp, body, http.StatusForbidden)
		})
	}
}

// TestSignInAllowedOtherIssuers: the hd rule is Google's alone; another
// issuer's verified email on an allowed domain passes without it.
func TestSignInAllowedOtherIssuers(t *testing.T) {
	t.Parallel()
	cfg := &config{OAuthIssuer: "https://login.example.com", AllowedDomains: []string{"example.com"}}
	if !signInAllowed(cfg, idClaims{Email: "a@example.com", EmailVerified: true}) {
		t.Error("another issuer's account without hd refused")
	}
	cfg.OAuthIssuer = googleIssuer
	if signInAllowed(cfg, idClaims{Email: "a@example.com", EmailVerified: true}) {
		t.Error("a Google account without hd admitted by domain")
	}
}

// ---- Item 15: one user per Google account, membership at use ----

// TestGoogleIssuerStoredOnce: an ID token with Google's bare issuer
// spelling signs in the user stored under the canonical one and vice
// versa; a new user is stored under the canonical spelling.
func TestGoogleIssuerStoredOnce(t *testing.T) {
	t.Parallel()
	g := newGoogleFake(t)
	e := newGoogleSignInEnv(t, g, nil)
	signIn := func(iss, sub string) User {
		resp, body, b := g.signIn(t, e, map[string]any{"iss": iss, "sub": sub})
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
			t.Fatalf("sign-in with iss %q: %d %s", iss, resp.StatusCode, body)
		}
		return signedInUser(t, e, b)
	}
	first := signIn(googleIssuerBare, "sub-new")
	if first.Issuer != googleIssuer {
		t.Errorf("new user stored with issuer %q, want %q", first.Issuer, googleIssuer)
	}
	if again := signIn(googleIssuer, "sub-new"); again.ID != first.ID {
		t.Errorf("the same account became two users: %s, %s", first.ID, again.ID)
	}
	legacy, err := e.srv.store.UpsertUser(t.Context(), User{Issuer: googleIssuerBare, Subject: "sub-legacy"})
	ctMust(t, "UpsertUser(legacy)", err)
	for _, iss := range []string{googleIssuer, googleIssuerBare} {
		if got := signIn(iss, "sub-legacy"); got.ID != legacy.ID {
			t.Errorf("a user stored under %q signing in with iss %q became user %s, want %s", googleIssuerBare, iss, got.ID, legacy.ID)
		}
	}
}

// TestRemovedMemberLosesAccess: someone taken off the allow-lists (a
// restart with new lists, on the same database) is refused at the next
// request with every token and session they hold, with a message that
// says why; the /login/ page shows them signed out. Members still listed
// keep access, and the same credentials work again on a server that lists
// them.
func TestRemovedMemberLosesAccess(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	vars := providerVars(t, p.URL, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com", "ALLOWED_EMAILS": "bob@partner.example"})
	before := serveWithCallback(t, vars)
	type member struct {
		token   string
		session *http.Cookie
	}
	signIn := func(email string) member {
		p.set(func(p *fakeProvider) { p.user = fakeUser{Sub: "sub-" + email, Email: email, Verified: true} })
		tok := before.appToken(newTestBrowser(t, before.URL, p.URL))
		b := newTestBrowser(t, before.URL, p.URL)
		b.follow(before.URL + "/auth/google")
		return member{tok.AccessToken, &http.Cookie{Name: sessionCookie, Value: b.cookie(before.URL, sessionCookie)}}
	}
	alice, bob, carol := signIn("alice@example.com"), signIn("bob@partner.example"), signIn("carol@example.com")

	// The restart: example.com is off the domain list, carol listed alone.
	vars["ALLOWED_EMAIL_DOMAINS"], vars["ALLOWED_EMAILS"] = "", "bob@partner.example, carol@example.com"
	after := serveWithCallback(t, vars)
	for name, m := range map[string]member{"alice": alice} {
		for what, h := range map[string]map[string]string{"token": bearer(m.token), "session": cookieHeader(m.session)} {
			resp, body := after.do(request{method: "GET", path: "/me", header: h})
			wantStatus(t, resp, body, http.StatusUnauthorized)
			if !strings.Contains(string(body), "no longer allowed") {
				t.Errorf("%s's %s refused with %s, want a message saying the account is no longer allowed", name, what, body)
			}
		}
		resp, body := after.do(request{method: "GET", path: "/login/", header: cookieHeader(m.session)})
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "alice@example.com") {
			t.Errorf("/login/ for a removed member: %d, shows them signed in: %v", resp.StatusCode, strings.Contains(string(body), "alice@example.com"))
		}
	}
	for name, m := range map[string]member{"bob": bob, "carol": carol} {
		for what, h := range map[string]map[string]string{"token": bearer(m.token), "session": cookieHeader(m.session)} {
			if status, _ := after.me(h); status != http.StatusOK {
				t.Errorf("%s (still listed): %s refused with %d", name, what, status)
			}
		}
	}
	if status, _ := before.me(bearer(alice.token)); status != http.StatusOK {
		t.Errorf("alice's token on a server that lists her: %d", status)
	}
}

// countingStore counts GetUser calls on the store it wraps.
type countingStore struct {
	Store
	getUser atomic.Int32
}

func (c *countingStore) GetUser(ctx context.Context, id string) (User, error) {
	c.getUser.Add(1)
	return c.Store.GetUser(ctx, id)
}

// TestMembershipCheckIsCached: the allow-list check at use reads a user's
// email from the store at most once per userEmailTTL, and not at all
// without allow-lists; a user who no longer exists is refused.
func TestMembershipCheckIsCached(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: openTestLocalStore(t, t.TempDir())}
	u, err := store.UpsertUser(t.Context(), User{Issuer: "https://issuer.example", Subject: "s", Email: "a@example.com"})
	ctMust(t, "UpsertUser", err)
	clock := &testClock{}
	cfg := &config{GoogleClientID: testClientID, AllowedDomains: []string{"example.com"}}
	s := &server{cfg: cfg, store: store, now: clock.now, signIn: &signIn{}}
	check := func(userID string, want error, reads int32) {
		t.Helper()
		if err := s.checkMember(t.Context(), userID); !errors.Is(err, want) {
			t.Fatalf("checkMember(%s) = %v, want %v", userID, err, want)
		}
		if n := store.getUser.Load(); n != reads {
			t.Fatalf("GetUser called %d times, want %d", n, reads)
		}
	}
	check(u.ID, nil, 1)
	check(u.ID, nil, 1)
	clock.advance(userEmailTTL)
	check(u.ID, nil, 2)
	check(newID(), errNoLongerAllowed, 3)
	cfg.AllowedDomains = nil
	check(newID(), nil, 3)
}

// ---- Item 16: JWKS and discovery ----

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

// gateProvider routes prov's requests through a new gatedTransport.
func gateProvider(prov *oidcProvider, path string) *gatedTransport {
	g := &gatedTransport{path: path, entered: make(chan struct{})}
	prov.client.Transport = g
	return g
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
	p := newFakeProvider(t)
	prov := newOIDCProvider(p.URL, testClientID)
	jwks := gateProvider(prov, "/jwks")
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
	p := newFakeProvider(t)
	prov := newOIDCProvider(p.URL, testClientID)
	jwks := gateProvider(prov, "/jwks")
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
