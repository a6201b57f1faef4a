package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// ---- A fake OpenID provider ----

// Test keys: generated once per test binary (2048-bit generation is slow).
var (
	testSigningKey  = sync.OnceValue(newTestRSAKey)
	otherSigningKey = sync.OnceValue(newTestRSAKey)
)

// newTestRSAKey makes a real 2048-bit key, like a provider's.
func newTestRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// Credentials and key ids the fake provider knows.
const (
	testClientID     = "dropp-test.apps.example"
	testClientSecret = "test-client-secret"
	testKid          = "test-key-1"
	testKidRotated   = "test-key-2"
)

// Ways the fake provider can spoil the ID token it mints.
const (
	mintGood       = ""
	mintAudArray   = "aud-array"   // valid: aud is an array that includes us
	mintWrongAud   = "wrong-aud"   // aud names another client
	mintWrongAzp   = "wrong-azp"   // aud includes us, azp names another client
	mintWrongIss   = "wrong-iss"   // iss is another issuer
	mintExpired    = "expired"     // exp ten minutes ago
	mintWrongNonce = "wrong-nonce" // nonce is not the one Dropp sent
	mintNoNonce    = "no-nonce"    // nonce claim missing
	mintOtherKey   = "other-key"   // signed by a key not in the JWKS, under the published kid
	mintUnknownKid = "unknown-kid" // kid not in the JWKS
	mintRotated    = "rotated"     // signed by the second key, published only once rotated
	mintAlgNone    = "alg-none"    // unsigned
	mintHS256      = "hs256"       // HMAC keyed with the public modulus (algorithm confusion)
	mintTampered   = "tampered"    // valid signature, payload changed afterwards
	mintNoIDToken  = "no-id-token" // token response without an id_token
)

// fakeUser is the account the fake provider approves.
type fakeUser struct {
	Sub, Email, Name string
	Verified         bool
}

// fakeProvider is an OpenID provider for tests: discovery, an authorize
// endpoint that approves (or denies) at once, a token endpoint that checks
// the client secret and PKCE, and a JWKS. Knobs spoil what it answers.
type fakeProvider struct {
	t   *testing.T
	URL string

	mu             sync.Mutex
	user           fakeUser
	mint           string
	deny           bool
	rotated        bool           // the JWKS also publishes testKidRotated
	issuerOverride string         // issuer claimed by discovery, if set
	failDiscovery  int            // answer discovery with 503 this many more times
	claims         map[string]any // set on every ID token over the defaults; a nil value removes one
	grants         map[string]fakeGrant

	discoveryCalls, authorizeCalls, tokenCalls, jwksCalls atomic.Int32
}

// fakeGrant is what the authorize endpoint saw, kept for the token endpoint.
type fakeGrant struct {
	challenge, nonce, redirectURI, mint string
	user                                fakeUser
	claims                              map[string]any
}

// newFakeProvider starts a provider approving alice@example.com (verified).
func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	p := &fakeProvider{
		t:      t,
		user:   fakeUser{Sub: "sub-" + newSecret(8), Email: "alice@example.com", Name: "Alice", Verified: true},
		grants: map[string]fakeGrant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("GET /authorize", p.handleAuthorize)
	mux.HandleFunc("POST /token", p.handleToken)
	mux.HandleFunc("GET /jwks", p.handleJWKS)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// newFakeProviderAs is newFakeProvider signing in u.
func newFakeProviderAs(t *testing.T, u fakeUser) *fakeProvider {
	t.Helper()
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.user = u })
	return p
}

// set changes the provider's knobs under its lock.
func (p *fakeProvider) set(f func(p *fakeProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// handleDiscovery serves the discovery document (or fails, on request).
func (p *fakeProvider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	p.discoveryCalls.Add(1)
	p.mu.Lock()
	fail := p.failDiscovery > 0
	if fail {
		p.failDiscovery--
	}
	issuer := cmp.Or(p.issuerOverride, p.URL)
	p.mu.Unlock()
	if fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// handleAuthorize approves (or denies) at once, as a signed-in user who
// already consented would see it.
func (p *fakeProvider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	p.authorizeCalls.Add(1)
	q := r.URL.Query()
	if problem := checkAuthorizeQuery(q); problem != "" {
		p.t.Errorf("fake provider: bad authorize request: %s (%s)", problem, r.URL.RawQuery)
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"state": {q.Get("state")}}
	p.mu.Lock()
	if p.deny {
		v.Set("error", "access_denied")
	} else {
		code := newSecret(16)
		p.grants[code] = fakeGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri"), mint: p.mint, user: p.user, claims: maps.Clone(p.claims)}
		v.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// checkAuthorizeQuery is what a strict provider would demand of Dropp.
func checkAuthorizeQuery(q url.Values) string {
	switch {
	case q.Get("client_id") != testClientID || q.Get("response_type") != "code":
		return "client_id/response_type"
	case !strings.HasSuffix(q.Get("redirect_uri"), "/auth/google/callback"):
		return "redirect_uri"
	case strings.Join(strings.Fields(q.Get("scope")), " ") != "openid email profile":
		return "scope"
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		return "PKCE"
	case len(q.Get("state")) < 22 || len(q.Get("nonce")) < 22: // >= 128 bits of base64url
		return "state/nonce"
	case q.Get("access_type") != "online":
		return "access_type"
	}
	return ""
}

// handleToken checks the client secret, the code, the redirect URI and the
// PKCE verifier against what authorize saw, like a real provider.
func (p *fakeProvider) handleToken(w http.ResponseWriter, r *http.Request) {
	p.tokenCalls.Add(1)
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	r.ParseForm()
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, found := p.grants[code]
	delete(p.grants, code)
	p.mu.Unlock()
	if !found || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != g.redirectURI ||
		oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != g.challenge {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "secret provider detail"})
		return
	}
	resp := map[string]any{"access_token": "provider-access-token", "token_type": "Bearer", "expires_in": 3600}
	if g.mint != mintNoIDToken {
		resp["id_token"] = p.idToken(g)
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleJWKS publishes the signing key (two once rotated) and a key of
// another type that clients must skip.
func (p *fakeProvider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	p.jwksCalls.Add(1)
	keys := []any{
		map[string]string{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}, // must be ignored
		publicJWK(testKid, &testSigningKey().PublicKey),
	}
	p.mu.Lock()
	if p.rotated {
		keys = append(keys, publicJWK(testKidRotated, &otherSigningKey().PublicKey))
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// publicJWK is k as a JWK (RFC 7517 §4, RFC 7518 §6.3.1).
func publicJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}
}

// b64 is base64url without padding, as JOSE uses it.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// idToken mints the ID token for a grant, spoiled as the grant's mint says.
func (p *fakeProvider) idToken(g fakeGrant) string {
	now := time.Now()
	claims := map[string]any{
		"iss": p.URL, "sub": g.user.Sub, "aud": testClientID, "azp": testClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": g.nonce,
		"email": g.user.Email, "email_verified": g.user.Verified, "name": g.user.Name,
		"picture": "https://example.com/photo.png",
	}
	maps.Copy(claims, g.claims)
	maps.DeleteFunc(claims, func(_ string, v any) bool { return v == nil })
	header := map[string]any{"alg": "RS256", "kid": testKid, "typ": "JWT"}
	key := testSigningKey()
	switch g.mint {
	case mintAudArray:
		claims["aud"] = []string{"another-client", testClientID}
	case mintWrongAud:
		claims["aud"] = "another-client"
		delete(claims, "azp")
	case mintWrongAzp:
		claims["aud"], claims["azp"] = []string{"another-client", testClientID}, "another-client"
	case mintWrongIss:
		claims["iss"] = "https://issuer.evil.example"
	case mintExpired:
		claims["exp"] = now.Add(-10 * time.Minute).Unix()
	case mintWrongNonce:
		claims["nonce"] = "not-the-nonce-dropp-sent-0123456789"
	case mintNoNonce:
		delete(claims, "nonce")
	case mintOtherKey:
		key = otherSigningKey()
	case mintUnknownKid:
		header["kid"] = "retired-key"
	case mintRotated:
		header["kid"], key = testKidRotated, otherSigningKey()
	case mintAlgNone:
		return jsonB64(map[string]string{"alg": "none"}) + "." + jsonB64(claims) + "."
	case mintHS256:
		header["alg"] = "HS256"
		input := jsonB64(header) + "." + jsonB64(claims)
		mac := hmac.New(sha256.New, testSigningKey().PublicKey.N.Bytes())
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	case mintTampered:
		parts := strings.Split(signJWT(header, claims, key), ".")
		claims["sub"] = "someone-else"
		return parts[0] + "." + jsonB64(claims) + "." + parts[2]
	}
	return signJWT(header, claims, key)
}

// jsonB64 is a JWT segment: v in JSON, base64url-encoded.
func jsonB64(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(data)
}

// signJWT makes an RS256 compact JWS.
func signJWT(header, claims any, key *rsa.PrivateKey) string {
	input := jsonB64(header) + "." + jsonB64(claims)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	return input + "." + b64(sig)
}

// ---- Servers under test ----

// testClock is a server clock tests can move forward. It is installed
// before the server serves, so only its atomic fields change afterwards.
type testClock struct{ offset, frozenAt atomic.Int64 }

// now is the server's time: real time (or the instant it was frozen at)
// plus what the test advanced.
func (c *testClock) now() time.Time {
	base := time.Now().UTC()
	if at := c.frozenAt.Load(); at != 0 {
		base = time.Unix(0, at).UTC()
	}
	return base.Add(time.Duration(c.offset.Load()))
}

// freeze stops real time on the clock: from now on only advance moves it,
// for a test whose expectations hold at an instant, however long the
// machine takes between its requests.
func (c *testClock) freeze() { c.frozenAt.Store(time.Now().UnixNano()) }

// advance moves the server's clock forward.
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// noRedirects makes an http.Client return redirects to the test.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// signInEnv is a server under test with a movable clock and, unless it
// uses local sign-in, the fake provider it signs in through.
type signInEnv struct {
	*testEnv
	clock *testClock
	p     *fakeProvider
	stop  func() // closes the server and its backends (at the latest, at cleanup)
}

// newSignInEnv starts a server that signs in through p (local sign-in when
// p is nil). The server's URL must be known before its configuration
// (GOOGLE_REDIRECT_URI names it), so its listener is opened first.
func newSignInEnv(t *testing.T, p *fakeProvider, env map[string]string, prepare ...func(*server)) *signInEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	vars := mongoS3Env(t)
	if p != nil {
		vars["GOOGLE_CLIENT_ID"], vars["GOOGLE_CLIENT_SECRET"] = testClientID, testClientSecret
		vars["OAUTH_ISSUER"] = p.URL
		vars["GOOGLE_REDIRECT_URI"] = "http://" + ln.Addr().String() + "/auth/google/callback"
	}
	maps.Copy(vars, env)
	e := serveSignInEnv(t, ln, vars, prepare...)
	e.p = p
	return e
}

// serveSignInEnv builds the server from vars, as run does, and serves it
// on ln with a test clock.
func serveSignInEnv(t *testing.T, ln net.Listener, vars map[string]string, prepare ...func(*server)) *signInEnv {
	t.Helper()
	cfg, err := loadConfig(testGetenv(vars))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := testLogger(t)
	b, err := openBackends(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("backends: %v", err)
	}
	s := newServer(cfg, logger, b.store, b.objects)
	clock := &testClock{}
	s.now = clock.now
	for _, f := range prepare { // before serving: handlers read what they change
		f(s)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	stop := sync.OnceFunc(func() { ts.Close(); b.close() })
	t.Cleanup(stop)
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirects}
	return &signInEnv{testEnv: &testEnv{t: t, srv: s, URL: ts.URL, client: client}, clock: clock, stop: stop}
}

// ---- A browser ----

// testBrowser keeps cookies and follows redirects by hand, only while they
// stay on the test's own servers, so a test sees where a flow ends.
type testBrowser struct {
	t      *testing.T
	client *http.Client
	hosts  []string
}

// newTestBrowser makes a browser with an empty cookie jar that follows
// redirects to servers (base URLs) only.
func newTestBrowser(t *testing.T, servers ...string) *testBrowser {
	jar, _ := cookiejar.New(nil)
	b := &testBrowser{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: noRedirects}}
	for _, s := range servers {
		u, _ := url.Parse(s)
		b.hosts = append(b.hosts, u.Host)
	}
	return b
}

// get sends a GET and reads the whole answer.
func (b *testBrowser) get(u string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// follow GETs u and its redirects while they stay on the test's servers,
// and returns the last answer: a page, or a redirect elsewhere (the app).
func (b *testBrowser) follow(u string) (*http.Response, []byte) {
	b.t.Helper()
	for range 10 {
		resp, body := b.get(u)
		next, err := resp.Location()
		if err != nil || !slices.Contains(b.hosts, next.Host) {
			return resp, body
		}
		u = next.String()
	}
	b.t.Fatalf("too many redirects from %s", u)
	return nil, nil
}

// cookie is the value of the named cookie the browser holds for base, or "".
func (b *testBrowser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// ---- A desktop app ----

// testApp is what a desktop app sends to /auth/google.
type testApp struct {
	verifier, challenge, state, redirectURI string
}

// newTestApp makes a PKCE pair, a state and a loopback redirect URI on a
// random port (nothing listens there: tests read the redirect instead).
func newTestApp() testApp {
	v := oauth2.GenerateVerifier()
	// Below the ephemeral ports test servers listen on (Linux: from 32768;
	// macOS: from 49152): a redirect URI on the port of the server, or of
	// the fake provider, was followed to it by testBrowser.follow, and
	// failed a CI run with Dropp's 404 "no such route".
	port := 20000 + mrand.IntN(12000)
	return testApp{verifier: v, challenge: oauth2.S256ChallengeFromVerifier(v), state: "xyz-" + newSecret(6),
		redirectURI: "http://127.0.0.1:" + strconv.Itoa(port) + "/cb"}
}

// query is the app's /auth/google query string.
func (a testApp) query() string {
	v := url.Values{"code_challenge": {a.challenge}, "code_challenge_method": {"S256"}, "state": {a.state}}
	if a.redirectURI != "" {
		v.Set("redirect_uri", a.redirectURI)
	}
	return "?" + v.Encode()
}

// setSignInForm adds the app's PKCE challenge, redirect URI and state to a
// form posted to a sign-in page (password or passkey), as the page does
// when a desktop app started the sign-in.
func (a testApp) setSignInForm(form url.Values) {
	form.Set("code_challenge", a.challenge)
	form.Set("code_challenge_method", "S256")
	form.Set("redirect_uri", a.redirectURI)
	form.Set("state", a.state)
}

// signInApp runs the desktop flow in b up to the app's redirect, checks it
// carries a code and the app's state and nothing else, and returns the code.
func (e *signInEnv) signInApp(b *testBrowser, a testApp) string {
	e.t.Helper()
	resp, body := b.follow(e.URL + "/auth/google" + a.query())
	loc, err := resp.Location()
	want := cmp.Or(a.redirectURI, e.srv.cfg.AppRedirectURI)
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), want+"?") {
		e.t.Fatalf("desktop sign-in ended with %d Location %v, want 302 to %s; body %s", resp.StatusCode, loc, want, body)
	}
	q := loc.Query()
	if q.Get("state") != a.state || !validSecret(q.Get("code")) || len(q) != 2 {
		e.t.Fatalf("app redirect %s: want exactly code and state=%s", loc, a.state)
	}
	return q.Get("code")
}

// redeem posts a form-encoded token request for a's code.
func (e *signInEnv) redeem(a testApp, code string) (*http.Response, []byte) {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {a.verifier}}
	if a.redirectURI != "" {
		form.Set("redirect_uri", a.redirectURI)
	}
	return e.postToken("application/x-www-form-urlencoded", form.Encode())
}

// postToken posts body to /auth/token with the given Content-Type.
func (e *signInEnv) postToken(contentType, body string) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(request{method: "POST", path: "/auth/token", body: body, header: map[string]string{"Content-Type": contentType}})
}

// appToken runs the whole desktop flow and returns the access token.
func (e *signInEnv) appToken(b *testBrowser) tokenOut {
	e.t.Helper()
	a := newTestApp()
	resp, body := e.redeem(a, e.signInApp(b, a))
	wantStatus(e.t, resp, body, http.StatusOK)
	return decode[tokenOut](e.t, body)
}

// Test copies of the sign-in API's shapes.
type (
	userOut struct {
		ID      string `json:"id"`
		Email   string `json:"email"`
		Name    string `json:"name"`
		Picture string `json:"picture"`
	}
	tokenOut struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   int64   `json:"expires_in"`
		User        userOut `json:"user"`
	}
	meOut struct {
		User userOut `json:"user"`
	}
	oauthErrorOut struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
)

// ---- Assertions ----

// wantOAuthError checks an RFC 6749 §5.2 error answer.
func wantOAuthError(t *testing.T, resp *http.Response, body []byte, code string) {
	t.Helper()
	var e oauthErrorOut
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error != code || e.Description == "" {
		t.Fatalf("token endpoint: %d %s, want 400 {\"error\":%q,\"error_description\":...}", resp.StatusCode, body, code)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token error without Cache-Control: no-store")
	}
}

// wantPage checks an HTML answer on the sign-in path: status, the security
// headers, and that it neither redirects nor starts a session.
func wantPage(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", resp.Request.URL, resp.StatusCode, status, body)
	}
	wantPageHeaders(t, resp)
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("%s: redirects to %s", resp.Request.URL, loc)
	}
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, sessionCookie) && c.MaxAge >= 0 {
			t.Errorf("%s: sets a session cookie", resp.Request.URL)
		}
	}
}

// cspDirectives are the parts of the sign-in pages' CSP the checklist asks for.
var cspDirectives = []string{"default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "script-src 'none'"}

// passkeyScriptSrc is the script-src of a page with a passkey form: its
// one script, by hash, and nothing else.
func passkeyScriptSrc() string {
	csp := loginPasskeyCSP()
	directive, _, _ := strings.Cut(csp[strings.Index(csp, "script-src "):], ";")
	return directive + ";"
}

// wantPageHeaders checks the security headers of a sign-in page.
func wantPageHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	h := resp.Header
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("%s: Content-Type %q, want HTML", resp.Request.URL, h.Get("Content-Type"))
	}
	for _, d := range cspDirectives {
		csp := h.Get("Content-Security-Policy")
		if d == "script-src 'none'" && strings.Contains(csp, passkeyScriptSrc()) { // a passkey form's page runs its one script (webauthn.go)
			continue
		}
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", resp.Request.URL, h.Get("Content-Security-Policy"), d)
		}
	}
	want := map[string]string{"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %s %q, want %q", resp.Request.URL, k, h.Get(k), v)
		}
	}
}

// sessionOf returns the session cookie a response set, failing if none.
func sessionOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, sessionCookie) && c.Value != "" {
			return c
		}
	}
	t.Fatalf("%s: no session cookie set", resp.Request.URL)
	return nil
}

// me calls GET /me with extra headers and returns the status and user.
func (e *signInEnv) me(header map[string]string) (int, userOut) {
	e.t.Helper()
	resp, body := e.do(request{method: "GET", path: "/me", header: header})
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, userOut{}
	}
	return resp.StatusCode, decode[meOut](e.t, body).User
}

// bearer is the header that presents a token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// cookieHeader is the header that presents a cookie.
func cookieHeader(c *http.Cookie) map[string]string {
	return map[string]string{"Cookie": c.Name + "=" + c.Value}
}

// ---- Whole flows ----

// TestDesktopSignIn walks RFC 8252's flow end to end: the app's loopback
// redirect gets a one-time code (never a token), which it redeems with its
// verifier for a bearer token that works on the API.
func TestDesktopSignIn(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	b := newTestBrowser(t, e.URL, p.URL)
	a := newTestApp()
	code := e.signInApp(b, a)

	resp, body := e.redeem(a, code)
	wantStatus(t, resp, body, http.StatusOK)
	tok := decode[tokenOut](t, body)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 30*24*3600 || !validSecret(tok.AccessToken) || len(tok.AccessToken) < 43 {
		t.Fatalf("token response %s", body)
	}
	if tok.User.Email != "alice@example.com" || tok.User.Name != "Alice" || !validID(tok.User.ID) {
		t.Fatalf("token user %+v", tok.User)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token response Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	if status, u := e.me(bearer(tok.AccessToken)); status != http.StatusOK || u != tok.User {
		t.Fatalf("GET /me: %d %+v, want %+v", status, u, tok.User)
	}
	resp, body = e.do(request{method: "POST", path: "/upload/", token: tok.AccessToken, body: map[string]any{"filename": "hello.txt", "size": 5}})
	wantStatus(t, resp, body, http.StatusCreated)
	if b.cookie(e.URL, sessionCookie) == "" {
		t.Error("the browser got no session cookie")
	}
	if n := p.tokenCalls.Load(); n != 1 {
		t.Errorf("provider token endpoint called %d times, want 1", n)
	}
}

// TestBrowserSignIn: without a code_challenge the flow ends on the web
// page at "/" with a cookie session and no code for any app, and /login/
// shows who is signed in.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	b := newTestBrowser(t, e.URL, p.URL)
	resp, body := b.follow(e.URL + "/auth/google")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || resp.Request.URL.RawQuery != "" {
		t.Fatalf("browser sign-in ended on %s with %d", resp.Request.URL, resp.StatusCode)
	}
	if !strings.Contains(string(body), "alice@example.com") || !strings.Contains(string(body), `action="/auth/logout"`) {
		t.Fatalf("/ does not show the signed-in user and a sign-out form:\n%s", body)
	}
	resp, body = b.get(e.URL + "/login/")
	wantPageHeaders(t, resp)
	if !strings.Contains(string(body), "alice@example.com") || !strings.Contains(string(body), `action="/auth/logout"`) {
		t.Fatalf("/login/ does not show the signed-in user and a sign-out form:\n%s", body)
	}
	c := &http.Cookie{Name: sessionCookie, Value: b.cookie(e.URL, sessionCookie)}
	if status, u := e.me(cookieHeader(c)); status != http.StatusOK || u.Email != "alice@example.com" {
		t.Fatalf("GET /me with the session cookie: %d %+v", status, u)
	}
}

// TestUsersKeyedBySubject: a user is (issuer, sub); email and name are
// refreshed at each sign-in and never identify anyone.
func TestUsersKeyedBySubject(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	signIn := func(u fakeUser) userOut {
		t.Helper()
		p.set(func(p *fakeProvider) { p.user = u })
		return e.appToken(newTestBrowser(t, e.URL, p.URL)).User
	}
	first := signIn(fakeUser{Sub: "sub-1", Email: "old@example.com", Name: "Old", Verified: true})
	again := signIn(fakeUser{Sub: "sub-1", Email: "new@example.com", Name: "New", Verified: true})
	other := signIn(fakeUser{Sub: "sub-2", Email: "old@example.com", Name: "Old", Verified: true})
	if again.ID != first.ID || again.Email != "new@example.com" || again.Name != "New" {
		t.Errorf("same sub: %+v then %+v, want the same id with refreshed email and name", first, again)
	}
	if other.ID == first.ID {
		t.Errorf("another sub with the first user's old email got the first user's id %s", first.ID)
	}
}

// TestLocalSignInDesktopFlow: without GOOGLE_CLIENT_ID the desktop flow
// completes at once as LOCAL_USER_EMAIL, with the same PKCE code exchange.
func TestLocalSignInDesktopFlow(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, map[string]string{"LOCAL_USER_EMAIL": "me@laptop.local"})
	tok := e.appToken(newTestBrowser(t, e.URL))
	if tok.User.Email != "me@laptop.local" || tok.User.Name != "Local user" {
		t.Fatalf("local user %+v", tok.User)
	}
	if status, u := e.me(bearer(tok.AccessToken)); status != http.StatusOK || u.ID != tok.User.ID {
		t.Fatalf("GET /me: %d %+v", status, u)
	}
	resp, body := e.do(request{method: "POST", path: "/upload/", token: tok.AccessToken, body: map[string]any{"filename": "a.txt"}})
	wantStatus(t, resp, body, http.StatusCreated)
	if again := e.appToken(newTestBrowser(t, e.URL)); again.User.ID != tok.User.ID {
		t.Errorf("second local sign-in is user %s, want %s", again.User.ID, tok.User.ID)
	}
}

// TestLocalSignInRefusesForeignHost: a site that rebinds its DNS name to
// 127.0.0.1 reaches the server with its own Host and must not get a session
// (loopbackHostOnly refuses it before any route).
func TestLocalSignInRefusesForeignHost(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	req, _ := http.NewRequest("GET", e.URL+"/auth/google", nil)
	req.Host = "rebind.evil.example:8080"
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantStatus(t, resp, body, http.StatusBadRequest)
	if len(resp.Cookies()) != 0 || resp.Header.Get("Location") != "" {
		t.Errorf("foreign Host: Set-Cookie %v, Location %q; want neither", resp.Cookies(), resp.Header.Get("Location"))
	}
	for _, host := range []string{"localhost:8080", "127.0.0.1", "[::1]:8080"} {
		req.Host = host
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("Host %s: %d, want 303", host, resp.StatusCode)
		}
	}
	// Relayed by a proxy (even one on this machine, with a loopback Host):
	// whoever reaches the proxy would become the local user.
	for _, h := range []string{"X-Forwarded-For", "Forwarded"} {
		req, _ := http.NewRequest("GET", e.URL+"/auth/google", nil)
		req.Header.Set(h, "for=203.0.113.9")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantPage(t, resp, body, http.StatusForbidden)
	}
}

// ---- Refusals at the start ----

// badStarts are /auth/google (and /login/) queries that must be refused
// with a page, never redirected anywhere.
var badStarts = map[string]string{
	"challenge without method":   "code_challenge=" + strings.Repeat("a", 43),
	"plain method":               "code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=plain",
	"lowercase s256":             "code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=s256",
	"challenge too short":        "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 42),
	"challenge too long":         "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 129),
	"challenge bad characters":   "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 42) + "%2B",
	"empty challenge":            "code_challenge=&code_challenge_method=S256",
	"method without challenge":   "code_challenge_method=S256",
	"state without challenge":    "state=xyz",
	"redirect without challenge": "redirect_uri=" + url.QueryEscape("http://127.0.0.1:5/cb"),
	"challenge given twice":      "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge=" + strings.Repeat("b", 43),
	"state too long":             "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43) + "&state=" + strings.Repeat("s", 513),
	"state with a newline":       "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43) + "&state=a%0Ab",
}

// badRedirects must never be redirected to.
var badRedirects = []string{
	"https://evil.example", "http://localhost:1234/cb", "http://127.0.0.1.evil.example/cb", "http://user@127.0.0.1:5/cb",
	"dropp://auth/callback#x", "//evil", `/\evil`, "/%09/evil", "http://127.0.0.1/cb", "http://127.0.0.1:0/cb",
	"http://127.0.0.1:5", "http://127.0.0.1:5/cb#", "http://127.0.0.1:5/cb?x=1", "https://127.0.0.1:5/cb",
	"http://[::1]:5/cb#x", "http://127.0.0.2:5/cb", "http://127.1:5/cb", "http://0x7f000001:5/cb",
	"http://[::ffff:127.0.0.1]:5/cb", "HTTP://127.0.0.1:5/cb", "http://127.0.0.1:05/cb", "http://127.0.0.1:5/a b",
	"http://127.0.0.1:5\\@evil.example/cb", "dropp://auth/callback/extra", "DROPP://auth/callback", "dropp://auth/callback?",
}

// TestSignInRefusesBadRequests: every malformed desktop request gets a 400
// page on /auth/google and /login/, no redirect, no cookie, and never
// reaches the provider.
func TestSignInRefusesBadRequests(t *testing.T) {
	t.Parallel()
	cases := maps.Clone(badStarts)
	for _, r := range badRedirects {
		cases["redirect "+r] = "code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 43) + "&redirect_uri=" + url.QueryEscape(r)
	}
	p := newFakeProvider(t)
	envs := map[string]*signInEnv{"provider": newSignInEnv(t, p, nil), "local": newSignInEnv(t, nil, nil)}
	for envName, e := range envs {
		for name, query := range cases {
			for _, path := range []string{"/auth/google?", "/login/?"} {
				t.Run(envName+path+name, func(t *testing.T) {
					resp, body := newTestBrowser(t).get(e.URL + path + query)
					wantPage(t, resp, body, http.StatusBadRequest)
					if len(resp.Cookies()) != 0 {
						t.Errorf("sets cookies: %v", resp.Header["Set-Cookie"])
					}
				})
			}
		}
	}
	if n := p.authorizeCalls.Load() + p.discoveryCalls.Load(); n != 0 {
		t.Errorf("the provider was contacted %d times", n)
	}
}

// TestSignInAcceptsLoopbackAndAppRedirects: RFC 8252 §7.3 loopback URIs on
// any port, and the app's own URI (also by default), get the code.
func TestSignInAcceptsLoopbackAndAppRedirects(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	for _, r := range []string{"http://127.0.0.1:49152/cb", "http://[::1]:8/oauth/done", "http://127.0.0.1:65535/", "dropp://auth/callback", ""} {
		t.Run(r, func(t *testing.T) {
			a := newTestApp()
			a.redirectURI = r
			resp, body := e.redeem(a, e.signInApp(newTestBrowser(t, e.URL), a))
			wantStatus(t, resp, body, http.StatusOK)
		})
	}
}

// ---- The provider's callback ----

// toCallback starts a provider sign-in in b and follows it to the provider,
// returning the callback URL the provider sends the browser to.
func (e *signInEnv) toCallback(b *testBrowser, query string) string {
	e.t.Helper()
	resp, body := b.get(e.URL + "/auth/google" + query)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Host != strings.TrimPrefix(e.p.URL, "http://") {
		e.t.Fatalf("/auth/google: %d to %v, want 302 to the provider; %s", resp.StatusCode, loc, body)
	}
	if loc.Query().Get("state") == "" || len(loc.Query().Get("state")) < 43 {
		e.t.Fatalf("state %q is under 256 bits", loc.Query().Get("state"))
	}
	resp, _ = b.get(loc.String())
	back, err := resp.Location()
	if err != nil || !strings.HasPrefix(back.String(), e.URL+"/auth/google/callback?") {
		e.t.Fatalf("provider sent the browser to %v", back)
	}
	return back.String()
}

// TestCallbackChecksState: the callback exchanges nothing unless the state
// is known, fresh, unused and bound to this browser.
func TestCallbackChecksState(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	refused := func(t *testing.T, b *testBrowser, u string) {
		t.Helper()
		before := p.tokenCalls.Load()
		resp, body := b.get(u)
		wantPage(t, resp, body, http.StatusBadRequest)
		if p.tokenCalls.Load() != before {
			t.Errorf("the code was exchanged with the provider")
		}
	}
	t.Run("missing state", func(t *testing.T) {
		b := newTestBrowser(t, e.URL, p.URL)
		cb, _ := url.Parse(e.toCallback(b, ""))
		q := cb.Query()
		q.Del("state")
		cb.RawQuery = q.Encode()
		refused(t, b, cb.String())
	})
	t.Run("unknown state", func(t *testing.T) {
		b := newTestBrowser(t, e.URL, p.URL)
		cb, _ := url.Parse(e.toCallback(b, ""))
		q := cb.Query()
		q.Set("state", newSecret(32))
		cb.RawQuery = q.Encode()
		refused(t, b, cb.String())
	})
	t.Run("another browser's state", func(t *testing.T) {
		victim, attacker := newTestBrowser(t, e.URL, p.URL), newTestBrowser(t, e.URL, p.URL)
		e.toCallback(victim, "") // the victim holds a state cookie of its own
		refused(t, victim, e.toCallback(attacker, ""))
	})
	t.Run("no state cookie", func(t *testing.T) {
		refused(t, newTestBrowser(t), e.toCallback(newTestBrowser(t, e.URL, p.URL), ""))
	})
	t.Run("replayed", func(t *testing.T) {
		b := newTestBrowser(t, e.URL, p.URL)
		cb := e.toCallback(b, "")
		callback, _ := url.Parse(e.URL + "/auth/google/callback")
		bound := b.cookie(callback.String(), stateCookie)
		if resp, body := b.get(cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first callback: %d %s", resp.StatusCode, body)
		}
		if b.cookie(callback.String(), stateCookie) != "" {
			t.Error("the state cookie survived its callback")
		}
		// Replay with the cookie put back, so only the server's record decides.
		b.client.Jar.SetCookies(callback, []*http.Cookie{{Name: stateCookie, Value: bound, Path: "/auth/google/callback"}})
		refused(t, b, cb)
	})
	t.Run("tampered state cookie", func(t *testing.T) {
		b := newTestBrowser(t, e.URL, p.URL)
		cb := e.toCallback(b, "")
		u, _ := url.Parse(e.URL + "/auth/google/callback")
		v := b.cookie(u.String(), stateCookie)
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, Value: "A" + v[1:], Path: "/auth/google/callback"}})
		refused(t, b, cb)
	})
}

// TestCallbackStateExpires: an attempt older than ten minutes is refused.
func TestCallbackStateExpires(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	b := newTestBrowser(t, e.URL, p.URL)
	cb := e.toCallback(b, "")
	e.clock.advance(11 * time.Minute)
	resp, body := b.get(cb)
	wantPage(t, resp, body, http.StatusBadRequest)
	if n := p.tokenCalls.Load(); n != 0 {
		t.Errorf("expired state led to %d code exchanges", n)
	}
}

// TestStateCookie: the browser binding is short-lived, HttpOnly, Lax, and
// scoped to the callback; over HTTPS it is Secure with the __Secure- prefix.
func TestStateCookie(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	for _, https := range []bool{false, true} {
		env := map[string]string{}
		wantName := stateCookie
		if https {
			env["PUBLIC_URL"], wantName = "https://dropp.example", "__Secure-"+stateCookie
		}
		e := newSignInEnv(t, p, env)
		resp, _ := newTestBrowser(t).get(e.URL + "/auth/google")
		cs := resp.Cookies()
		if len(cs) != 1 {
			t.Fatalf("https=%v: cookies %v", https, resp.Header["Set-Cookie"])
		}
		c := cs[0]
		if c.Name != wantName || c.Path != "/auth/google/callback" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 || c.Secure != https || c.Domain != "" {
			t.Errorf("https=%v: state cookie %s", https, resp.Header.Get("Set-Cookie"))
		}
	}
}

// TestIDTokenChecks: an ID token that fails any check (signature, alg,
// kid, iss, aud, azp, exp, nonce) ends the sign-in with an error page: no
// session, no code for the app.
func TestIDTokenChecks(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	cases := []struct {
		mint string
		ok   bool
	}{
		{mintGood, true}, {mintAudArray, true},
		{mintWrongAud, false}, {mintWrongAzp, false}, {mintWrongIss, false}, {mintExpired, false},
		{mintWrongNonce, false}, {mintNoNonce, false}, {mintOtherKey, false}, {mintUnknownKid, false},
		{mintAlgNone, false}, {mintHS256, false}, {mintTampered, false}, {mintNoIDToken, false},
	}
	for _, c := range cases {
		t.Run(cmp.Or(c.mint, "good"), func(t *testing.T) {
			p.set(func(p *fakeProvider) { p.mint = c.mint })
			b := newTestBrowser(t, e.URL, p.URL)
			resp, body := b.follow(e.URL + "/auth/google" + newTestApp().query())
			if c.ok {
				if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
					t.Fatalf("valid token refused: %d %s", resp.StatusCode, body)
				}
				return
			}
			wantPage(t, resp, body, http.StatusBadGateway)
			if b.cookie(e.URL, sessionCookie) != "" {
				t.Error("a session was started")
			}
			if strings.Contains(string(body), "secret provider detail") {
				t.Error("the page leaks the provider's answer")
			}
		})
	}
}

// TestProviderDenied: when the user cancels at the provider, the app gets
// error=access_denied with its state, a browser gets a message on /login/.
func TestProviderDenied(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.deny = true })
	e := newSignInEnv(t, p, nil)
	a := newTestApp()
	resp, body := newTestBrowser(t, e.URL, p.URL).follow(e.URL + "/auth/google" + a.query())
	loc, _ := resp.Location()
	wantQuery := url.Values{"error": {"access_denied"}, "state": {a.state}}.Encode()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Encode() != wantQuery || !strings.HasPrefix(loc.String(), a.redirectURI+"?") {
		t.Fatalf("desktop cancel: %d to %v; %s", resp.StatusCode, loc, body)
	}
	b := newTestBrowser(t, e.URL, p.URL)
	resp, body = b.follow(e.URL + "/auth/google")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login/" || !strings.Contains(string(body), "cancelled") {
		t.Fatalf("browser cancel: %d on %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if b.cookie(e.URL, sessionCookie) != "" || p.tokenCalls.Load() != 0 {
		t.Error("a cancelled sign-in started a session or exchanged a code")
	}
}

// TestAllowedAccounts: with allow-lists set, only verified emails on them
// sign in; others get a 403 page (browser) or access_denied (app).
func TestAllowedAccounts(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com, Corp.Example", "ALLOWED_EMAILS": "boss@partner.example"})
	cases := []struct {
		email    string
		verified bool
		ok       bool
	}{
		{"alice@example.com", true, true},
		{"Alice@EXAMPLE.com", true, true},
		{"bob@corp.example", true, true},
		{"boss@partner.example", true, true},
		{"eve@evil.example", true, false},
		{"mallory@example.com", false, false},
		{"alice@example.com.evil.example", true, false},
		{"alice@sub.example.com", true, false},
		{"other@partner.example", true, false},
		{"example.com", true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s verified=%v", c.email, c.verified), func(t *testing.T) {
			p.set(func(p *fakeProvider) { p.user = fakeUser{Sub: "sub-" + c.email, Email: c.email, Verified: c.verified} })
			b := newTestBrowser(t, e.URL, p.URL)
			resp, body := b.follow(e.URL + "/auth/google")
			if c.ok {
				if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || b.cookie(e.URL, sessionCookie) == "" {
					t.Fatalf("allowed account refused: %d %s", resp.StatusCode, body)
				}
				return
			}
			wantPage(t, resp, body, http.StatusForbidden)
			a := newTestApp()
			resp, _ = newTestBrowser(t, e.URL, p.URL).follow(e.URL + "/auth/google" + a.query())
			loc, _ := resp.Location()
			if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Has("code") || loc.Query().Get("state") != a.state {
				t.Fatalf("app of a refused account sent to %v", loc)
			}
		})
	}
}

// TestDiscoveryIsLazyAndRetried: start-up never contacts the provider; a
// failed discovery is retried on the next request; a good one is cached.
func TestDiscoveryIsLazyAndRetried(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.failDiscovery = 1 })
	e := newSignInEnv(t, p, nil)
	if n := p.discoveryCalls.Load(); n != 0 {
		t.Fatalf("start-up fetched discovery %d times", n)
	}
	resp, body := newTestBrowser(t).get(e.URL + "/auth/google")
	wantPage(t, resp, body, http.StatusBadGateway)
	if len(resp.Cookies()) != 0 {
		t.Errorf("failed start set cookies %v", resp.Header["Set-Cookie"])
	}
	// Right after a failure the provider is not asked again...
	resp, body = newTestBrowser(t).get(e.URL + "/auth/google")
	wantPage(t, resp, body, http.StatusBadGateway)
	if n := p.discoveryCalls.Load(); n != 1 {
		t.Errorf("discovery fetched %d times within the retry delay, want 1", n)
	}
	// ...but a few seconds later it is, and the answer is then cached.
	e.clock.advance(discoveryRetryAfter)
	for range 2 {
		if resp, body := newTestBrowser(t).get(e.URL + "/auth/google"); resp.StatusCode != http.StatusFound {
			t.Fatalf("after the provider came back: %d %s", resp.StatusCode, body)
		}
	}
	if n := p.discoveryCalls.Load(); n != 2 {
		t.Errorf("discovery fetched %d times, want 2 (one failure, then cached)", n)
	}
}

// TestDiscoveryIssuerMustMatch: a discovery document naming another issuer
// is refused (OIDC Discovery §4.3).
func TestDiscoveryIssuerMustMatch(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.issuerOverride = "https://accounts.evil.example" })
	e := newSignInEnv(t, p, nil)
	resp, body := newTestBrowser(t).get(e.URL + "/auth/google")
	wantPage(t, resp, body, http.StatusBadGateway)
	if p.authorizeCalls.Load() != 0 {
		t.Error("sign-in went ahead with a mismatched issuer")
	}
}

// TestSigningKeyRotation: keys are cached; an unknown kid refetches the
// JWKS, but at most once a minute.
func TestSigningKeyRotation(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, nil)
	signIn := func() int {
		resp, _ := newTestBrowser(t, e.URL, p.URL).follow(e.URL + "/auth/google")
		return resp.StatusCode
	}
	want := func(status int, jwks int32) {
		t.Helper()
		if got := signIn(); got != status {
			t.Fatalf("sign-in: %d, want %d", got, status)
		}
		if n := p.jwksCalls.Load(); n != jwks {
			t.Fatalf("JWKS fetched %d times, want %d", n, jwks)
		}
	}
	want(http.StatusOK, 1)
	want(http.StatusOK, 1) // cached
	p.set(func(p *fakeProvider) { p.rotated, p.mint = true, mintRotated })
	want(http.StatusBadGateway, 1) // unknown kid, but fetched under a minute ago
	e.clock.advance(2 * time.Minute)
	want(http.StatusOK, 2)
	p.set(func(p *fakeProvider) { p.mint = mintUnknownKid })
	want(http.StatusBadGateway, 2)
	want(http.StatusBadGateway, 2)
}

// ---- The token endpoint ----

// TestTokenRequestErrors: every bad redemption is an RFC 6749 error, and a
// code is single use whatever went wrong.
func TestTokenRequestErrors(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	fresh := func(t *testing.T) (testApp, string) {
		a := newTestApp()
		return a, e.signInApp(newTestBrowser(t, e.URL), a)
	}
	form := func(a testApp, code string, edit func(url.Values)) string {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {a.verifier}, "redirect_uri": {a.redirectURI}}
		if edit != nil {
			edit(v)
		}
		return v.Encode()
	}
	const formType = "application/x-www-form-urlencoded"
	cases := []struct {
		name, want string
		edit       func(url.Values)
	}{
		{"wrong verifier", "invalid_grant", func(v url.Values) { v.Set("code_verifier", oauth2.GenerateVerifier()) }},
		{"verifier too short", "invalid_grant", func(v url.Values) { v.Set("code_verifier", v.Get("code_verifier")[:42]) }},
		{"verifier too long", "invalid_grant", func(v url.Values) { v.Set("code_verifier", strings.Repeat("a", 129)) }},
		{"verifier bad characters", "invalid_grant", func(v url.Values) { v.Set("code_verifier", v.Get("code_verifier")[:42]+"+") }},
		{"other redirect_uri", "invalid_grant", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:1/cb") }},
		{"redirect_uri omitted after a loopback start", "invalid_grant", func(v url.Values) { v.Del("redirect_uri") }},
		{"junk code", "invalid_grant", func(v url.Values) { v.Set("code", "x") }},
		{"unknown code", "invalid_grant", func(v url.Values) { v.Set("code", newSecret(32)) }},
		{"no code", "invalid_request", func(v url.Values) { v.Del("code") }},
		{"no verifier", "invalid_request", func(v url.Values) { v.Del("code_verifier") }},
		{"no grant_type", "invalid_request", func(v url.Values) { v.Del("grant_type") }},
		{"other grant_type", "unsupported_grant_type", func(v url.Values) { v.Set("grant_type", "password") }},
		{"repeated parameter", "invalid_request", func(v url.Values) { v.Add("code_verifier", v.Get("code_verifier")) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, code := fresh(t)
			resp, body := e.postToken(formType, form(a, code, c.edit))
			wantOAuthError(t, resp, body, c.want)
			if burnsCode := c.want == "invalid_grant" && !strings.Contains(c.name, "code"); burnsCode {
				// The code was taken: even the right request fails now.
				resp, body = e.postToken(formType, form(a, code, nil))
				wantOAuthError(t, resp, body, "invalid_grant")
			}
		})
	}
	t.Run("malformed verifier that matches its challenge", func(t *testing.T) {
		a := newTestApp()
		a.verifier = a.verifier[:42]
		a.challenge = oauth2.S256ChallengeFromVerifier(a.verifier)
		resp, body := e.redeem(a, e.signInApp(newTestBrowser(t, e.URL), a))
		wantOAuthError(t, resp, body, "invalid_grant")
	})
	t.Run("replayed code", func(t *testing.T) {
		a, code := fresh(t)
		resp, body := e.postToken(formType, form(a, code, nil))
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = e.postToken(formType, form(a, code, nil))
		wantOAuthError(t, resp, body, "invalid_grant")
	})
	t.Run("code in the query string", func(t *testing.T) {
		a, code := fresh(t)
		resp, body := e.do(request{method: "POST", path: "/auth/token?" + form(a, code, nil), body: "", header: map[string]string{"Content-Type": formType}})
		wantOAuthError(t, resp, body, "invalid_request")
	})
}

// TestTokenRequestDefaultRedirect: when the app sent no redirect_uri, the
// code is bound to APP_REDIRECT_URI, which the token request may omit or
// repeat exactly.
func TestTokenRequestDefaultRedirect(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	for name, redirect := range map[string]string{"omitted": "", "repeated": "dropp://auth/callback", "other": "http://127.0.0.1:5/cb"} {
		t.Run(name, func(t *testing.T) {
			a := newTestApp()
			a.redirectURI = ""
			code := e.signInApp(newTestBrowser(t, e.URL), a)
			a.redirectURI = redirect
			resp, body := e.redeem(a, code)
			if name == "other" {
				wantOAuthError(t, resp, body, "invalid_grant")
				return
			}
			wantStatus(t, resp, body, http.StatusOK)
		})
	}
}

// TestTokenRequestBodies: form and JSON bodies are accepted; anything else
// is 415 in the API's error shape, and bad JSON is invalid_request.
func TestTokenRequestBodies(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	a := newTestApp()
	code := e.signInApp(newTestBrowser(t, e.URL), a)
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "", "application/xml"} {
		resp, body := e.postToken(ct, url.Values{"code": {code}}.Encode())
		wantStatus(t, resp, body, http.StatusUnsupportedMediaType)
	}
	resp, body := e.postToken("application/json", `{"grant_type":"authorization_code","code":42}`)
	wantOAuthError(t, resp, body, "invalid_request")
	big := strings.Repeat("a", 70<<10)
	for ct, payload := range map[string]string{"application/json": `{"code":"` + big + `"}`, "application/x-www-form-urlencoded": "code=" + big} {
		resp, body = e.postToken(ct, payload)
		wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	}
	js, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "code": code, "code_verifier": a.verifier, "redirect_uri": a.redirectURI})
	resp, body = e.postToken("application/json; charset=utf-8", string(js))
	wantStatus(t, resp, body, http.StatusOK)
}

// TestTokenExpiredCode: a code past its two minutes is invalid_grant, both
// for one inserted already expired and one that aged on the server clock.
func TestTokenExpiredCode(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	a := newTestApp()
	stale := newSecret(32)
	err := e.srv.store.InsertAuthCode(t.Context(), AuthCode{Hash: hashSecret(stale), UserID: newID(),
		CodeChallenge: a.challenge, RedirectURI: a.redirectURI, ExpiresAt: e.clock.now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.redeem(a, stale)
	wantOAuthError(t, resp, body, "invalid_grant")

	code := e.signInApp(newTestBrowser(t, e.URL), a)
	e.clock.advance(authCodeTTL + time.Second)
	resp, body = e.redeem(a, code)
	wantOAuthError(t, resp, body, "invalid_grant")
}

// TestTokenConcurrentRedemption: of many simultaneous redemptions of one
// code, exactly one gets a token.
func TestTokenConcurrentRedemption(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	a := newTestApp()
	code := e.signInApp(newTestBrowser(t, e.URL), a)
	const n = 8
	var wins, losses atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {a.verifier}, "redirect_uri": {a.redirectURI}}
			resp, err := http.Post(e.URL+"/auth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				wins.Add(1)
			case http.StatusBadRequest:
				losses.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != n-1 {
		t.Fatalf("%d redemptions won and %d lost, want 1 and %d", wins.Load(), losses.Load(), n-1)
	}
}

// ---- Credentials ----

// TestLogout: logging out revokes exactly the credential used; a replayed
// token or cookie is then 401, and the cookie is cleared.
func TestLogout(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	t.Run("bearer", func(t *testing.T) {
		tok1, tok2 := e.appToken(newTestBrowser(t, e.URL)), e.appToken(newTestBrowser(t, e.URL))
		resp, body := e.do(request{method: "POST", path: "/auth/logout", token: tok1.AccessToken})
		wantStatus(t, resp, body, http.StatusNoContent)
		if status, _ := e.me(bearer(tok1.AccessToken)); status != http.StatusUnauthorized {
			t.Errorf("revoked token: %d, want 401", status)
		}
		if status, _ := e.me(bearer(tok2.AccessToken)); status != http.StatusOK {
			t.Errorf("the user's other token: %d, want 200", status)
		}
	})
	t.Run("cookie form", func(t *testing.T) {
		c := e.sessionCookie(t)
		resp, body := e.do(request{method: "POST", path: "/auth/logout", body: "", header: map[string]string{
			"Cookie": c.Name + "=" + c.Value, "Content-Type": "application/x-www-form-urlencoded",
			"Origin": e.URL, "Sec-Fetch-Site": "same-origin",
		}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/" {
			t.Fatalf("form logout: %d to %q; %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		cleared := resp.Cookies()
		if len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 || cleared[0].Path != "/" || !cleared[0].HttpOnly {
			t.Errorf("logout Set-Cookie %v, want the session cookie cleared", resp.Header["Set-Cookie"])
		}
		if status, _ := e.me(cookieHeader(c)); status != http.StatusUnauthorized {
			t.Errorf("replayed cookie after logout: %d, want 401", status)
		}
	})
	t.Run("cookie api", func(t *testing.T) {
		c := e.sessionCookie(t)
		resp, body := e.do(request{method: "POST", path: "/auth/logout", header: cookieHeader(c)})
		wantStatus(t, resp, body, http.StatusNoContent)
		if status, _ := e.me(cookieHeader(c)); status != http.StatusUnauthorized {
			t.Errorf("replayed cookie after logout: %d, want 401", status)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		resp, body := e.do(request{method: "POST", path: "/auth/logout"})
		wantStatus(t, resp, body, http.StatusUnauthorized)
	})
}

// sessionCookie signs in through the browser flow and returns the cookie.
func (e *signInEnv) sessionCookie(t *testing.T) *http.Cookie {
	t.Helper()
	resp, _ := newTestBrowser(t).get(e.URL + "/auth/google")
	return sessionOf(t, resp)
}

// TestSessionCookieChecks: a session cookie is accepted only as minted:
// its signature, its name, its age and the server-side record all count.
func TestSessionCookieChecks(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	c := e.sessionCookie(t)
	parts := strings.Split(c.Value, ".")
	secretBytes, _ := base64.RawURLEncoding.DecodeString(parts[0])
	secret := string(secretBytes)
	now := e.clock.now()
	cases := []struct {
		name, value string
		status      int
	}{
		{"as minted", c.Value, http.StatusOK},
		{"re-signed now", e.srv.signer.sign(sessionCookie, secret, now), http.StatusOK},
		{"flipped MAC", parts[0] + "." + parts[1] + "." + flipBit(parts[2], 3), http.StatusUnauthorized},
		{"flipped payload", flipBit(parts[0], 3) + "." + parts[1] + "." + parts[2], http.StatusUnauthorized},
		{"later time", parts[0] + "." + strconv.FormatInt(now.Unix()+1, 10) + "." + parts[2], http.StatusUnauthorized},
		{"truncated MAC", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4], http.StatusUnauthorized},
		{"empty MAC", parts[0] + "." + parts[1] + ".", http.StatusUnauthorized},
		{"no MAC", parts[0] + "." + parts[1], http.StatusUnauthorized},
		{"empty", "", http.StatusUnauthorized},
		{"expired", e.srv.signer.sign(sessionCookie, secret, now.Add(-e.srv.cfg.SessionTTL-time.Minute)), http.StatusUnauthorized},
		{"minted for the state cookie", e.srv.signer.sign(stateCookie, secret, now), http.StatusUnauthorized},
		{"signed by another key", newCookieSigner([]byte(strings.Repeat("k", 32))).sign(sessionCookie, secret, now), http.StatusUnauthorized},
		{"unknown session", e.srv.signer.sign(sessionCookie, newSecret(32), now), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, _ := e.me(map[string]string{"Cookie": sessionCookie + "=" + tc.value}); status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
		})
	}
}

// TestSessionCookieAttributes: HttpOnly, SameSite=Lax, Path=/, under 4 KB,
// and over HTTPS Secure with the __Host- prefix; never cached.
func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, https := range []bool{false, true} {
		env, wantName := map[string]string{}, sessionCookie
		if https {
			env["PUBLIC_URL"], wantName = "https://127.0.0.1:8443", "__Host-"+sessionCookie // local sign-in stays on loopback
		}
		e := newSignInEnv(t, nil, env)
		resp, _ := newTestBrowser(t).get(e.URL + "/auth/google")
		c := sessionOf(t, resp)
		if c.Name != wantName || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Secure != https || c.MaxAge <= 0 {
			t.Errorf("https=%v: %s", https, resp.Header.Get("Set-Cookie"))
		}
		if len(resp.Header.Get("Set-Cookie")) >= 4096 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("https=%v: cookie of %d bytes, Cache-Control %q", https, len(resp.Header.Get("Set-Cookie")), resp.Header.Get("Cache-Control"))
		}
	}
}

// TestSignInIssuesNewSession: a cookie planted before sign-in, or an
// existing session, is never upgraded: sign-in always mints a new one.
func TestSignInIssuesNewSession(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	old := e.sessionCookie(t)
	for _, planted := range []string{"planted-by-attacker", old.Value} {
		req, _ := http.NewRequest("GET", e.URL+"/auth/google", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: planted})
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := sessionOf(t, resp); c.Value == planted {
			t.Errorf("sign-in kept the cookie %q", planted)
		}
	}
	// Signing in again with a valid session ended it on the server.
	if status, _ := e.me(cookieHeader(old)); status != http.StatusUnauthorized {
		t.Errorf("the session replaced by a new sign-in: /me %d, want 401", status)
	}
}

// TestSecretKeyRotation: with SECRET_KEY_PREVIOUS set, cookies signed by
// the old key still work and new ones are signed by the new key; without
// it they fail; a short key refuses to start.
func TestSecretKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := "old-key-0123456789abcdefghijklmnop", "new-key-0123456789abcdefghijklmnopqrstuvw"
	vars := mongoS3Env(t)
	start := func(env map[string]string) *signInEnv {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		v := maps.Clone(vars)
		maps.Copy(v, env)
		return serveSignInEnv(t, ln, v)
	}
	before := start(map[string]string{"SECRET_KEY": oldKey})
	c := before.sessionCookie(t)

	rotated := start(map[string]string{"SECRET_KEY": newKey, "SECRET_KEY_PREVIOUS": oldKey})
	if status, _ := rotated.me(cookieHeader(c)); status != http.StatusOK {
		t.Errorf("old-key cookie during rotation: %d, want 200", status)
	}
	fresh := rotated.sessionCookie(t)
	now := time.Now()
	if _, err := newCookieSigner([]byte(newKey)).verify(sessionCookie, fresh.Value, time.Hour, now); err != nil {
		t.Errorf("new cookie not signed by the new key: %v", err)
	}
	if _, err := newCookieSigner([]byte(oldKey)).verify(sessionCookie, fresh.Value, time.Hour, now); err == nil {
		t.Error("new cookie verifies with the old key")
	}
	after := start(map[string]string{"SECRET_KEY": newKey})
	if status, _ := after.me(cookieHeader(c)); status != http.StatusUnauthorized {
		t.Errorf("old-key cookie after rotation ended: %d, want 401", status)
	}
	for _, bad := range []string{"0123456789", strings.Repeat("k", 31)} {
		v := maps.Clone(vars)
		v["SECRET_KEY"] = bad
		if _, err := loadConfig(testGetenv(v)); err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
			t.Errorf("SECRET_KEY of %d bytes: loadConfig error %v", len(bad), err)
		}
	}
}

// TestXUserIDHeader: X-User-Id is believed only when the operator says a
// proxy sets it, and never overrides a bearer token.
func TestXUserIDHeader(t *testing.T) {
	t.Parallel()
	plain := newSignInEnv(t, nil, nil)
	if status, _ := plain.me(map[string]string{"X-User-Id": "someone"}); status != http.StatusUnauthorized {
		t.Errorf("X-User-Id alone: %d, want 401", status)
	}
	resp, body := plain.do(request{method: "GET", path: "/list/", header: map[string]string{"X-User-Id": "someone"}})
	wantStatus(t, resp, body, http.StatusUnauthorized)

	proxied := newSignInEnv(t, newFakeProvider(t), map[string]string{"TRUST_X_USER_ID": "true", "TRUSTED_PROXIES": loopbackProxies})
	if status, u := proxied.me(map[string]string{"X-User-Id": "proxy-user-1"}); status != http.StatusOK || u.ID != "proxy-user-1" {
		t.Errorf("trusted X-User-Id: %d %+v", status, u)
	}
	tok := proxied.appToken(newTestBrowser(t, proxied.URL, proxied.p.URL))
	h := bearer(tok.AccessToken)
	h["X-User-Id"] = "someone-else"
	if status, u := proxied.me(h); status != http.StatusOK || u.ID != tok.User.ID {
		t.Errorf("token for A with X-User-Id B: %d %+v, want A (%s)", status, u, tok.User.ID)
	}
}

// TestTokenOnlyInHeader: a token in the URL is never accepted (it would
// end up in logs and Referer headers).
func TestTokenOnlyInHeader(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	tok := e.appToken(newTestBrowser(t, e.URL)).AccessToken
	for _, q := range []string{"access_token", "token", "bearer"} {
		resp, body := e.do(request{method: "GET", path: "/me?" + q + "=" + tok})
		wantStatus(t, resp, body, http.StatusUnauthorized)
	}
	if status, _ := e.me(bearer(tok)); status != http.StatusOK {
		t.Errorf("header token: %d", status)
	}
}

// TestCrossSiteCookiePost: state-changing requests authenticated by the
// cookie are refused when they come from another site, and change nothing.
func TestCrossSiteCookiePost(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	c := e.sessionCookie(t)
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		h["Cookie"] = c.Name + "=" + c.Value
		for _, path := range []string{"/auth/logout", "/upload/"} {
			resp, body := e.do(request{method: "POST", path: path, header: h, body: map[string]any{"filename": "x"}})
			wantStatus(t, resp, body, http.StatusForbidden)
		}
	}
	if status, _ := e.me(cookieHeader(c)); status != http.StatusOK {
		t.Errorf("session after refused cross-site logout: %d, want 200", status)
	}
}

// ---- Rate limits ----

// TestAuthRateLimit: past AUTH_RATE_LIMIT a minute per client address the
// sign-in routes answer 429 with Retry-After; X-Forwarded-For counts only
// from a trusted proxy.
func TestAuthRateLimit(t *testing.T) {
	t.Parallel()
	start := func(e *signInEnv, xff string) *http.Response {
		t.Helper()
		resp, body := e.do(request{method: "GET", path: "/auth/google", header: map[string]string{"X-Forwarded-For": xff}})
		if resp.StatusCode == http.StatusTooManyRequests {
			wantPage(t, resp, body, http.StatusTooManyRequests)
		}
		return resp
	}
	wantLimited := func(resp *http.Response) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", resp.StatusCode)
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	t.Run("direct", func(t *testing.T) {
		e := newSignInEnv(t, newFakeProvider(t), map[string]string{"AUTH_RATE_LIMIT": "2"})
		for i, xff := range []string{"203.0.113.1", "203.0.113.2"} {
			if resp := start(e, xff); resp.StatusCode != http.StatusFound {
				t.Fatalf("request %d: %d", i, resp.StatusCode)
			}
		}
		wantLimited(start(e, "203.0.113.3")) // an untrusted X-Forwarded-For changes nothing
		for range 2 {
			resp, body := e.postToken("application/x-www-form-urlencoded", "")
			wantOAuthError(t, resp, body, "invalid_request")
		}
		resp, body := e.postToken("application/x-www-form-urlencoded", "")
		wantStatus(t, resp, body, http.StatusTooManyRequests)
		wantLimited(resp)
		e.clock.advance(time.Minute)
		if resp := start(e, ""); resp.StatusCode != http.StatusFound {
			t.Errorf("a minute later: %d, want 302", resp.StatusCode)
		}
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		e := newSignInEnv(t, newFakeProvider(t), map[string]string{"AUTH_RATE_LIMIT": "2", "TRUSTED_PROXIES": "127.0.0.0/8"})
		for range 2 {
			if resp := start(e, "203.0.113.1"); resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		wantLimited(start(e, "203.0.113.1"))
		wantLimited(start(e, "198.51.100.7, 203.0.113.1")) // the hop the proxy saw decides
		if resp := start(e, "203.0.113.2"); resp.StatusCode != http.StatusFound {
			t.Errorf("another client behind the proxy: %d, want 302", resp.StatusCode)
		}
	})
}

// TestRateLimiter: burst, refill, Retry-After, IPv6 /64 grouping and
// pruning of idle buckets.
func TestRateLimiter(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(3)
	now := time.Unix(1_000_000, 0)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 3 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, wait := l.allow(a, now); ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("past the burst: ok=%v wait=%v, want refused with wait <= 20s", ok, wait)
	}
	if ok, _ := l.allow(a, now.Add(20*time.Second)); !ok {
		t.Error("one token should have refilled after 20s")
	}
	if ok, _ := l.allow(netip.MustParseAddr("192.0.2.2"), now); !ok {
		t.Error("another address shares the first one's bucket")
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	for range 3 {
		l.allow(v6, now)
	}
	if ok, _ := l.allow(netip.MustParseAddr("2001:db8::ffff:1"), now); ok {
		t.Error("another address of the same IPv6 /64 got a fresh bucket")
	}
	for i := range 1000 {
		l.allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now)
	}
	l.allow(a, now.Add(2*time.Minute))
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after everyone went idle, want 1", n)
	}
}

// ---- Pages ----

// TestSignInPageHeaders: every page on the sign-in path, errors included,
// carries the CSP, no-referrer, nosniff and no-store, loads nothing from
// elsewhere, and its only style block matches the CSP hash.
func TestSignInPageHeaders(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, map[string]string{"AUTH_RATE_LIMIT": "2"})
	pages := map[string]int{
		"/login/": 200, "/login/?error=access_denied": 200, "/login/" + newTestApp().query(): 200,
		"/auth/google?code_challenge_method=plain": 400, "/auth/google/callback?state=x&code=y": 400,
	}
	for path, status := range pages {
		resp, body := newTestBrowser(t).get(e.URL + path)
		wantPage(t, resp, body, status)
		wantSelfContained(t, path, resp, string(body))
	}
	// The redirect to the provider must not leak our URL (it carries the
	// app's state) in a Referer, nor be cached.
	resp, _ := newTestBrowser(t).get(e.URL + "/auth/google")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("redirect to the provider: %d, Referrer-Policy %q, Cache-Control %q",
			resp.StatusCode, resp.Header.Get("Referrer-Policy"), resp.Header.Get("Cache-Control"))
	}
	resp, body := newTestBrowser(t).get(e.URL + "/auth/google") // the third of AUTH_RATE_LIMIT=2
	wantPage(t, resp, body, http.StatusTooManyRequests)
	wantSelfContained(t, "429 page", resp, string(body))
}

// Patterns for reading pages: attributes holding URLs, and style blocks.
var (
	urlAttr   = regexp.MustCompile(`(?i)\b(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)
	styleElem = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// wantSelfContained fails if a page refers to another origin, runs script,
// or has a style block the CSP would block.
func wantSelfContained(t *testing.T, name string, resp *http.Response, body string) {
	t.Helper()
	for _, m := range urlAttr.FindAllStringSubmatch(body, -1) {
		if u := html.UnescapeString(m[1]); !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			t.Errorf("%s: refers to %q", name, u)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "@import") || strings.Contains(body, "url(") {
		t.Errorf("%s: has script or external CSS", name)
	}
	styles := styleElem.FindAllStringSubmatch(body, -1)
	if len(styles) != 1 {
		t.Fatalf("%s: %d style blocks, want 1", name, len(styles))
	}
	sum := sha256.Sum256([]byte(styles[0][1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "style-src "+hash) {
		t.Errorf("%s: CSP %q does not allow the style block (%s)", name, resp.Header.Get("Content-Security-Policy"), hash)
	}
}

// TestLoginPageEscapesUserText: names and emails from the provider are
// shown escaped.
func TestLoginPageEscapesUserText(t *testing.T) {
	t.Parallel()
	p := newFakeProviderAs(t, fakeUser{Sub: "x", Email: `"><script>alert(1)</script>@example.com`, Name: `<img src=x onerror=alert(1)>`, Verified: true})
	e := newSignInEnv(t, p, nil)
	b := newTestBrowser(t, e.URL, p.URL)
	if resp, body := b.follow(e.URL + "/auth/google"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "&lt;script&gt;") {
		t.Fatalf("the web page does not show the email escaped: %d\n%s", resp.StatusCode, body)
	}
	resp, body := b.get(e.URL + "/login/")
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") || !strings.Contains(page, "&lt;script&gt;") {
		t.Fatalf("user text not shown escaped:\n%s", page)
	}
	if strings.Contains(page, "<img") || strings.Contains(page, "<script") {
		t.Fatalf("user text rendered as HTML:\n%s", page)
	}
}

// TestLoginPageCarriesDesktopParams: /login/ passes a desktop app's checked
// parameters on to /auth/google, and reflects no other query text.
func TestLoginPageCarriesDesktopParams(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	a := newTestApp()
	a.state = `"><b>x</b>`
	resp, body := newTestBrowser(t).get(e.URL + "/login/" + a.query() + "&error=%3Cb%3Ehi")
	wantPage(t, resp, body, http.StatusOK)
	m := regexp.MustCompile(`id="sign-in" href="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no sign-in link:\n%s", body)
	}
	link, err := url.Parse(html.UnescapeString(string(m[1])))
	if err != nil || link.Path != "/auth/google" {
		t.Fatalf("sign-in link %q", m[1])
	}
	want, _ := url.ParseQuery(a.query()[1:])
	if link.Query().Encode() != want.Encode() {
		t.Errorf("sign-in link carries %v, want %v", link.Query(), want)
	}
	if strings.Contains(string(body), "<b>") {
		t.Errorf("query text reflected unescaped:\n%s", body)
	}
	resp, _ = newTestBrowser(t).get(e.URL + "/login" + a.query())
	if loc, _ := resp.Location(); resp.StatusCode/100 != 3 || loc == nil || loc.Path != "/login/" {
		t.Errorf("/login without a slash: %d to %v", resp.StatusCode, loc)
	}
}

// TestLoginFormActionAllowsTheApp: the password form of a desktop sign-in
// posts to /auth/password, whose answer redirects to the app's redirect
// URI; browsers check a form's redirects against form-action, so the
// page's CSP names that URI's origin (a loopback one), or the app's
// scheme (the default dropp:), and nothing else; pages without an app
// request keep form-action 'self'. TestTeamServerOnOneMachine is the same
// in Chromium.
func TestLoginFormActionAllowsTheApp(t *testing.T) {
	t.Parallel()
	e := newAccountsEnv(t, "local", nil)
	loopback, ownScheme := newTestApp(), newTestApp()
	ownScheme.redirectURI = ""
	u, _ := url.Parse(loopback.redirectURI)
	formAction := func(resp *http.Response) string {
		_, directive, _ := strings.Cut(resp.Header.Get("Content-Security-Policy"), "form-action ")
		directive, _, _ = strings.Cut(directive, ";")
		return directive
	}
	pages := []struct{ name, path, want string }{
		{"no app", "/login/", "'self'"},
		{"loopback app", "/login/" + loopback.query(), "'self' http://" + u.Host},
		{"the app's own scheme", "/login/" + ownScheme.query(), "'self' dropp:"},
	}
	for _, p := range pages {
		resp, body := e.do(request{method: "GET", path: p.path})
		wantPage(t, resp, body, http.StatusOK)
		if got := formAction(resp); got != p.want {
			t.Errorf("%s: form-action %s, want %s", p.name, got, p.want)
		}
	}
	// A wrong password shows the form again, with the app's request.
	resp, body := e.signInPassword("nobody@example.com", "not the password at all", &loopback, nil)
	if resp.StatusCode != http.StatusUnauthorized || formAction(resp) != "'self' http://"+u.Host {
		t.Errorf("the form again after a wrong password: %d, form-action %s; %.200s", resp.StatusCode, formAction(resp), body)
	}
}

// TestNewSignInWarnsWithoutAllowList: with a provider and no allow-list,
// start-up says that anyone can sign in; with one, it does not.
func TestNewSignInWarnsWithoutAllowList(t *testing.T) {
	t.Parallel()
	for allowed, wantWarning := range map[string]bool{"": true, "example.com": false} {
		cfg, err := loadConfig(testGetenv(map[string]string{
			"GOOGLE_CLIENT_ID": testClientID, "GOOGLE_CLIENT_SECRET": testClientSecret,
			"GOOGLE_REDIRECT_URI": "https://dropp.example/auth/google/callback", "ALLOWED_EMAIL_DOMAINS": allowed,
		}))
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		newSignIn(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "anyone"); got != wantWarning {
			t.Errorf("ALLOWED_EMAIL_DOMAINS=%q: logged %q, want warning=%v", allowed, logs.String(), wantWarning)
		}
	}
}

// TestIDClaimsDecoding: aud may be a string or an array, and
// email_verified a boolean or the string "true".
func TestIDClaimsDecoding(t *testing.T) {
	t.Parallel()
	cases := map[string]idClaims{
		`{"aud":"a","email_verified":true}`:         {Audience: audience{"a"}, EmailVerified: true},
		`{"aud":["a","b"],"email_verified":"true"}`: {Audience: audience{"a", "b"}, EmailVerified: true},
		`{"aud":"a","email_verified":false}`:        {Audience: audience{"a"}},
		`{"aud":"a","email_verified":"false"}`:      {Audience: audience{"a"}},
		`{"aud":"a"}`:                               {Audience: audience{"a"}},
	}
	for in, want := range cases {
		var got idClaims
		if err := json.Unmarshal([]byte(in), &got); err != nil || !slices.Equal(got.Audience, want.Audience) || got.EmailVerified != want.EmailVerified {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
	var bad idClaims
	if err := json.Unmarshal([]byte(`{"aud":42}`), &bad); err == nil {
		t.Error(`aud 42 decoded without error`)
	}
}

// TestIDClaimsGoogleIssuerSpellings: Google's ID tokens may carry its issuer
// with or without the scheme; only Google's gets that allowance.
func TestIDClaimsGoogleIssuerSpellings(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	claims := func(iss string) idClaims {
		return idClaims{Issuer: iss, Subject: "s", Audience: audience{"cid"}, Expiry: float64(now.Add(time.Hour).Unix()), Nonce: "n"}
	}
	cases := []struct {
		issuer, iss string
		ok          bool
	}{
		{googleIssuer, googleIssuer, true},
		{googleIssuer, "accounts.google.com", true},
		{googleIssuer, "http://accounts.google.com", false},
		{"https://login.example.com", "login.example.com", false},
		{"https://login.example.com", "https://login.example.com", true},
	}
	for _, c := range cases {
		cl := claims(c.iss)
		if err := cl.check(c.issuer, "cid", "n", now); (err == nil) != c.ok {
			t.Errorf("issuer %q, iss %q: err = %v, want ok=%v", c.issuer, c.iss, err, c.ok)
		}
	}
}

// ---- Google: its hd claim, one user per account, membership at use ----

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
	cfg := &config{OIDCIssuer: "https://login.example.com", AllowedDomains: []string{"example.com"}}
	if !signInAllowed(cfg, idClaims{Email: "a@example.com", EmailVerified: true}) {
		t.Error("another issuer's account without hd refused")
	}
	cfg.OIDCIssuer = googleIssuer
	if signInAllowed(cfg, idClaims{Email: "a@example.com", EmailVerified: true}) {
		t.Error("a Google account without hd admitted by domain")
	}
}

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

// ---- Any OpenID provider: a Keycloak-like provider, groups, email_verified ----

// newKeycloakLikeProvider starts the fake provider answering as Keycloak
// or Authentik do with a group mapper: its own issuer, the user's groups
// in a "groups" claim, and no email_verified (they send it only when a
// mapper asks for it).
func newKeycloakLikeProvider(t *testing.T, groups any) *fakeProvider {
	p := newFakeProvider(t)
	p.set(func(p *fakeProvider) { p.claims = map[string]any{"email_verified": nil, "groups": groups} })
	return p
}

// signInAs makes the provider approve sub with email and the groups claim
// (nil: no groups claim at all).
func (p *fakeProvider) signInAs(sub, email string, groups any) {
	p.set(func(p *fakeProvider) {
		p.user = fakeUser{Sub: sub, Email: email, Name: sub}
		p.claims["groups"] = groups
	})
}

// oidcVars is the environment of a server on the named metadata store
// ("mongo" or "local") that signs in through the provider at issuer,
// written with the OIDC_* names only, env on top.
func oidcVars(t *testing.T, store, issuer string, env map[string]string) map[string]string {
	vars := mongoS3Env(t)
	if store == "local" {
		vars["MONGODB_URI"], vars["DATA_DIR"] = "", t.TempDir()
	}
	vars["OIDC_CLIENT_ID"], vars["OIDC_CLIENT_SECRET"], vars["OIDC_ISSUER"] = testClientID, testClientSecret, issuer
	for k, v := range env {
		vars[k] = v
	}
	return vars
}

// serveOIDC starts a server from vars on a new listener, which
// OIDC_REDIRECT_URI names.
func serveOIDC(t *testing.T, p *fakeProvider, vars map[string]string) *signInEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	vars["OIDC_REDIRECT_URI"] = "http://" + ln.Addr().String() + "/auth/google/callback"
	e := serveSignInEnv(t, ln, vars)
	e.p = p
	return e
}

// eachMetadataStore runs test once on the local store and once on MongoDB.
func eachMetadataStore(t *testing.T, test func(t *testing.T, store string)) {
	for _, store := range []string{"local", "mongo"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			test(t, store)
		})
	}
}

// browserSignIn runs a browser sign-in on e and returns the final answer
// and the session cookie ("" if none).
func (e *signInEnv) browserSignIn() (*http.Response, []byte, *http.Cookie) {
	e.t.Helper()
	b := newTestBrowser(e.t, e.URL, e.p.URL)
	resp, body := b.follow(e.URL + "/auth/google")
	return resp, body, &http.Cookie{Name: sessionCookie, Value: b.cookie(e.URL, sessionCookie)}
}

// storedUser is the stored record of the user a token belongs to.
func (e *signInEnv) storedUser(token string) User {
	e.t.Helper()
	status, me := e.me(bearer(token))
	if status != http.StatusOK {
		e.t.Fatalf("/me: %d", status)
	}
	u, err := e.srv.store.GetUser(e.t.Context(), me.ID)
	if err != nil {
		e.t.Fatalf("GetUser(%s): %v", me.ID, err)
	}
	return u
}

// adminStatus is the status of GET /admin/users with the header h.
func (e *signInEnv) adminStatus(h map[string]string) int {
	e.t.Helper()
	resp, _ := e.do(request{method: "GET", path: "/admin/users", header: h})
	return resp.StatusCode
}

// TestOIDCGenericProviderGroups, on each store: through a Keycloak-like
// provider, the desktop flow (PKCE, one-time code) signs in a member of
// ALLOWED_GROUPS, whose groups are stored and refreshed at each sign-in;
// ADMIN_GROUPS makes an administrator, at once for the tokens already
// issued; a non-member is refused (403 page, access_denied for the app);
// a single-string claim counts as one group; a claim of another shape
// fails the sign-in cleanly, with no session.
func TestOIDCGenericProviderGroups(t *testing.T) {
	t.Parallel()
	eachMetadataStore(t, func(t *testing.T, store string) {
		p := newKeycloakLikeProvider(t, nil)
		e := serveOIDC(t, p, oidcVars(t, store, p.URL, map[string]string{
			"ALLOWED_GROUPS": "dropp-users, dropp-admins", "ADMIN_GROUPS": "dropp-admins",
		}))

		p.signInAs("sub-alice", "alice@example.com", []string{"dropp-users", "other", "dropp-users"})
		tok := e.appToken(newTestBrowser(t, e.URL, p.URL))
		u := e.storedUser(tok.AccessToken)
		if !slices.Equal(u.Groups, []string{"dropp-users", "other"}) || u.EmailVerified {
			t.Errorf("stored user %+v, want groups [dropp-users other], email not verified", u)
		}
		if status := e.adminStatus(bearer(tok.AccessToken)); status != http.StatusForbidden {
			t.Errorf("/admin/users for a plain member: %d, want 403", status)
		}

		p.signInAs("sub-alice", "alice@example.com", []string{"dropp-admins"})
		again := e.appToken(newTestBrowser(t, e.URL, p.URL))
		if u := e.storedUser(again.AccessToken); !slices.Equal(u.Groups, []string{"dropp-admins"}) || u.ID != tok.User.ID {
			t.Errorf("after signing in again: %+v, want the same user with groups [dropp-admins]", u)
		}
		for _, token := range []string{tok.AccessToken, again.AccessToken} {
			if status := e.adminStatus(bearer(token)); status != http.StatusOK {
				t.Errorf("/admin/users for a member of ADMIN_GROUPS: %d, want 200", status)
			}
		}

		p.signInAs("sub-single", "sam@example.com", "dropp-users")
		if resp, body, c := e.browserSignIn(); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || c.Value == "" {
			t.Errorf("a single-string groups claim: %d %s", resp.StatusCode, body)
		}

		for name, groups := range map[string]any{"other groups": []string{"visitors"}, "no groups": nil, "empty": []string{}} {
			p.signInAs("sub-"+name, "eve@example.com", groups)
			resp, body, c := e.browserSignIn()
			wantPage(t, resp, body, http.StatusForbidden)
			if c.Value != "" {
				t.Errorf("%s: refused account got a session", name)
			}
			a := newTestApp()
			resp, _ = newTestBrowser(t, e.URL, p.URL).follow(e.URL + "/auth/google" + a.query())
			if loc, _ := resp.Location(); loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Has("code") {
				t.Errorf("%s: the app of a refused account was sent to %v", name, loc)
			}
		}

		for _, groups := range []any{42, map[string]any{"dropp-users": true}, []any{"dropp-users", 1}} {
			p.signInAs("sub-odd", "odd@example.com", groups)
			resp, body, c := e.browserSignIn()
			wantPage(t, resp, body, http.StatusBadGateway)
			if c.Value != "" || strings.Contains(string(body), "groups") {
				t.Errorf("groups claim %v: session %v, page %s", groups, c.Value != "", body)
			}
		}
	})
}

// TestOIDCAllowedGroupsAtEveryRequest, on each store: after a restart
// that takes a group off ALLOWED_GROUPS, its members' tokens and sessions
// are refused at the next request (and so is their sign-in), while a
// group newly on ADMIN_GROUPS gives its members /admin at once.
func TestOIDCAllowedGroupsAtEveryRequest(t *testing.T) {
	t.Parallel()
	eachMetadataStore(t, func(t *testing.T, store string) {
		p := newKeycloakLikeProvider(t, nil)
		vars := oidcVars(t, store, p.URL, map[string]string{"ALLOWED_GROUPS": "team-a,team-b"})
		before := serveOIDC(t, p, vars)
		type member struct {
			token   string
			session *http.Cookie
		}
		signIn := func(sub, group string) member {
			p.signInAs(sub, sub+"@example.com", []string{group})
			tok := before.appToken(newTestBrowser(t, before.URL, p.URL))
			_, _, c := before.browserSignIn()
			return member{tok.AccessToken, c}
		}
		alice, bob := signIn("alice", "team-a"), signIn("bob", "team-b")
		if status := before.adminStatus(bearer(bob.token)); status != http.StatusForbidden {
			t.Errorf("bob is an administrator before ADMIN_GROUPS names team-b: %d", status)
		}
		before.stop() // the local store is one process's at a time

		vars["ALLOWED_GROUPS"], vars["ADMIN_GROUPS"] = "team-b", "team-b"
		after := serveOIDC(t, p, vars)
		for what, h := range map[string]map[string]string{"token": bearer(alice.token), "session": cookieHeader(alice.session)} {
			resp, body := after.do(request{method: "GET", path: "/me", header: h})
			wantStatus(t, resp, body, http.StatusUnauthorized)
			if !strings.Contains(string(body), "no longer allowed") {
				t.Errorf("alice's %s refused with %s, want a message saying the account is no longer allowed", what, body)
			}
		}
		for what, h := range map[string]map[string]string{"token": bearer(bob.token), "session": cookieHeader(bob.session)} {
			if status, _ := after.me(h); status != http.StatusOK {
				t.Errorf("bob's %s: %d, want 200", what, status)
			}
			if status := after.adminStatus(h); status != http.StatusOK {
				t.Errorf("bob's %s on /admin/users once ADMIN_GROUPS names team-b: %d, want 200", what, status)
			}
		}
		p.signInAs("alice", "alice@example.com", []string{"team-a"})
		resp, body, _ := after.browserSignIn()
		wantPage(t, resp, body, http.StatusForbidden)
	})
}

// TestOIDCMissingEmailVerified: a token without email_verified (as
// Keycloak-like providers send by default) leaves the email unverified:
// it names no administrator on ADMIN_EMAILS and passes no email
// allow-list, unless OIDC_TRUST_EMAIL=true says the provider verifies
// every email. An explicit "email_verified": false is never overridden.
func TestOIDCMissingEmailVerified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		trust    string
		verified any // the claim; nil: absent
		admin    bool
	}{
		{"absent", "false", nil, false},
		{"absent, trusted", "true", nil, true},
		{"false, trusted", "true", false, false},
		{"true", "false", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newKeycloakLikeProvider(t, nil)
			p.set(func(p *fakeProvider) { p.claims["email_verified"] = c.verified })
			open := serveOIDC(t, p, oidcVars(t, "mongo", p.URL, map[string]string{"ADMIN_EMAILS": "alice@example.com", "OIDC_TRUST_EMAIL": c.trust}))
			tok := open.appToken(newTestBrowser(t, open.URL, p.URL))
			want := map[bool]int{false: http.StatusForbidden, true: http.StatusOK}[c.admin]
			if status := open.adminStatus(bearer(tok.AccessToken)); status != want {
				t.Errorf("/admin/users: %d, want %d", status, want)
			}

			listed := serveOIDC(t, p, oidcVars(t, "mongo", p.URL, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com", "OIDC_TRUST_EMAIL": c.trust}))
			resp, body, _ := listed.browserSignIn()
			if c.admin {
				if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
					t.Errorf("verified email on an allowed domain refused: %d %s", resp.StatusCode, body)
				}
			} else {
				wantPage(t, resp, body, http.StatusForbidden)
			}
		})
	}
}

// TestOIDCNameOnButton: the sign-in button names the provider: Google by
// default, the issuer's host for another issuer, OIDC_NAME when set,
// escaped as HTML.
func TestOIDCNameOnButton(t *testing.T) {
	t.Parallel()
	p := newKeycloakLikeProvider(t, nil)
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OIDC_NAME": "Authentik"}, ">Sign in with Authentik<"},
		{map[string]string{}, ">Sign in with 127.0.0.1<"},
		{map[string]string{"OIDC_NAME": `<b>"Corp" & co</b>`}, ">Sign in with &lt;b&gt;&#34;Corp&#34; &amp; co&lt;/b&gt;<"},
	}
	for _, c := range cases {
		e := serveOIDC(t, p, oidcVars(t, "local", p.URL, c.env))
		resp, body := newTestBrowser(t).get(e.URL + "/login/")
		wantPage(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), c.want) || strings.Contains(string(body), "<b>") {
			t.Errorf("OIDC_NAME=%q: /login/ lacks %q:\n%s", c.env["OIDC_NAME"], c.want, body)
		}
		a := newTestApp()
		_, body = newTestBrowser(t).get(e.URL + "/login/" + a.query())
		if !strings.Contains(string(body), strings.TrimSuffix(c.want, "<")+" to connect the Dropp app<") {
			t.Errorf("OIDC_NAME=%q: the desktop sign-in button does not name the provider:\n%s", c.env["OIDC_NAME"], body)
		}
	}
	cfg, err := loadConfig(configGetenv("OIDC_CLIENT_ID", "id", "OIDC_CLIENT_SECRET", "s", "PUBLIC_URL", "https://d.example.com"))
	if err != nil || cfg.OIDCName != "Google" {
		t.Errorf("with Google's issuer, OIDC_NAME defaults to %q (%v), want Google", cfg.OIDCName, err)
	}
}
