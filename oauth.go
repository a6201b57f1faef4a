package main

// Sign-in: Dropp is an OpenID Connect client of the provider (Google) and
// the authorization server of its desktop app (RFC 8252: the app opens the
// browser on /auth/google with a PKCE challenge and gets a one-time code on
// its redirect URI, which it redeems at /auth/token with the verifier).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Lifetimes and bounds of the sign-in flows.
const (
	authStateTTL    = 10 * time.Minute // provider round trip: the user may pick an account, type a password
	authCodeTTL     = 2 * time.Minute  // the app redeems at once; short so a leaked code is soon useless
	providerTimeout = 10 * time.Second // every call to the provider
	maxAppState     = 512              // bytes of the app's state echoed back
	maxProviderBody = 1 << 20          // discovery and JWKS documents
	jwksMinRefetch  = time.Minute      // an unknown kid refetches keys at most this often
	jwksMaxAge      = time.Hour        // cached keys are refreshed after this
	idTokenLeeway   = time.Minute      // clock skew allowed on exp
	localIssuer     = "local"          // issuer of the local sign-in's user
)

// stateCookie binds a provider sign-in to the browser that started it. It
// is signed under this name, so no other cookie's value passes for it.
const stateCookie = "dropp_oauth_state"

// Errors of the sign-in flows, mapped to pages by failPage.
var (
	// errProvider: the provider was unreachable or answered something that
	// did not verify. Details are logged, never shown.
	errProvider = errors.New("sign-in provider failed")
	// errNotAllowed: the account is not on ALLOWED_EMAIL_DOMAINS/ALLOWED_EMAILS.
	errNotAllowed = errors.New("account not allowed")
)

//go:embed login.html
var loginHTML string

// signIn holds what the sign-in flows share across requests: the page
// template, the rate limiters and, unless sign-in is local, the provider.
type signIn struct {
	page        *template.Template
	csp         string
	startLimit  *rateLimiter // GET /auth/google
	tokenLimit  *rateLimiter // POST /auth/token
	provider    *oidcProvider
	oauth       oauth2.Config // Endpoint is filled in from discovery
	redirectURL string        // our callback, as registered with the provider
}

// newSignIn parses the page once and prepares the provider client. Nothing
// here talks to the provider, so start-up never depends on reaching it.
func newSignIn(cfg *config, logger *slog.Logger) *signIn {
	si := &signIn{
		page:       template.Must(template.New("login.html").Parse(loginHTML)),
		csp:        loginCSP(loginHTML),
		startLimit: newRateLimiter(cfg.AuthRateLimit),
		tokenLimit: newRateLimiter(cfg.AuthRateLimit),
	}
	if cfg.localSignIn() {
		logger.Info("GOOGLE_CLIENT_ID is unset: local sign-in, every visitor signs in as the local user", "email", cfg.LocalUserEmail)
		return si
	}
	if len(cfg.AllowedDomains) == 0 && len(cfg.AllowedEmails) == 0 {
		logger.Warn("ALLOWED_EMAIL_DOMAINS and ALLOWED_EMAILS are unset: anyone with an account at the provider can sign in")
	}
	si.redirectURL = cfg.GoogleRedirectURI
	if si.redirectURL == "" {
		si.redirectURL = cfg.PublicURL.String() + "/auth/google/callback"
	}
	si.provider = newOIDCProvider(cfg.OAuthIssuer, cfg.GoogleClientID)
	si.oauth = oauth2.Config{
		ClientID:     cfg.GoogleClientID,
		ClientSecret: cfg.GoogleClientSecret,
		RedirectURL:  si.redirectURL,
		Scopes:       []string{"openid", "email", "profile"},
	}
	return si
}

// loginCSP allows nothing but this origin, no scripts at all, and exactly
// the page's own <style> block (by hash), so no third party is ever loaded.
func loginCSP(page string) string {
	_, rest, _ := strings.Cut(page, "<style>")
	style, _, _ := strings.Cut(rest, "</style>")
	sum := sha256.Sum256([]byte(style))
	return "default-src 'self'; script-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// addSignInRoutes registers the sign-in routes.
func (s *server) addSignInRoutes(mux *http.ServeMux) {
	si := s.signIn
	mux.Handle("GET /login/{$}", s.signInHeaders(http.HandlerFunc(s.handleLogin)))
	mux.Handle("GET /auth/google", s.signInHeaders(s.rateLimited(si.startLimit, s.pageTooMany, http.HandlerFunc(s.handleSignInStart))))
	mux.Handle("GET /auth/google/callback", s.signInHeaders(http.HandlerFunc(s.handleSignInCallback)))
	mux.Handle("POST /auth/token", s.signInHeaders(s.rateLimited(si.tokenLimit, jsonTooMany, http.HandlerFunc(s.handleToken))))
	mux.Handle("POST /auth/logout", s.signInHeaders(s.requireUser(s.handleLogout)))
	mux.Handle("GET /me", apiHeaders(s.requireUser(s.handleMe)))
}

// signInHeaders sets the headers of every response on the sign-in path:
// nothing cached (they set cookies and carry codes), no Referer leaking a
// code or state to the next site, no framing, no third-party content.
func (s *server) signInHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.signIn.csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// rateLimited answers tooMany, with Retry-After, once the client address
// (s.clientAddr, which believes X-Forwarded-For only from trusted proxies)
// has used up its allowance.
func (s *server) rateLimited(l *rateLimiter, tooMany http.HandlerFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.allow(s.clientAddr(r), s.now())
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

// ---- Pages ----

// loginPage is what login.html shows; every field is escaped by
// html/template.
type loginPage struct {
	Title       string
	Error       string    // what went wrong, on error pages
	Notice      string    // a fixed message chosen by code, never reflected text
	User        *userJSON // who is signed in, if anyone
	SignInURL   string    // the sign-in link; "" hides it
	SignInLabel string
	BackLink    bool // link back to /login/ on error pages
}

// loginNotices are the messages /login/?error= may show. Only these codes
// are recognised, so the page never reflects text from its URL.
var loginNotices = map[string]string{
	"access_denied": "Sign-in was cancelled at the provider.",
}

// handleLogin handles "GET /login/": the sign-in page. It carries a desktop
// app's parameters through to /auth/google once checked, and shows who is
// signed in with a sign-out button.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, problem := s.parseAppRequest(q)
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, problem)
		return
	}
	user, err := s.browserUser(r)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	page := loginPage{Title: "Sign in", User: user, Notice: loginNotices[q.Get("error")], SignInLabel: s.signInLabel(app)}
	if user == nil || app.desktop() {
		page.SignInURL = "/auth/google" + app.query()
	}
	s.renderPage(w, http.StatusOK, page)
}

// signInLabel names what the sign-in link does.
func (s *server) signInLabel(app appRequest) string {
	switch {
	case s.cfg.localSignIn() && app.desktop():
		return "Connect the Dropp app as " + s.cfg.LocalUserEmail
	case s.cfg.localSignIn():
		return "Sign in as " + s.cfg.LocalUserEmail
	case app.desktop():
		return "Sign in with Google to connect the Dropp app"
	}
	return "Sign in with Google"
}

// browserUser is the user of the request's session cookie, or nil.
func (s *server) browserUser(r *http.Request) (*userJSON, error) {
	c, err := r.Cookie(s.sessionCookieName(r))
	if err != nil {
		return nil, nil
	}
	id, err := s.sessionUser(r.Context(), c.Value)
	if errors.Is(err, errUnauthenticated) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	uj := toUserJSON(u)
	return &uj, nil
}

// renderPage executes the page into a buffer first, so a template error
// becomes a clean 500 instead of half a page.
func (s *server) renderPage(w http.ResponseWriter, status int, p loginPage) {
	var buf bytes.Buffer
	if err := s.signIn.page.Execute(&buf, p); err != nil {
		s.log.Error("render login page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows an error page (HTML routes never answer JSON).
func (s *server) renderError(w http.ResponseWriter, status int, msg string) {
	s.renderPage(w, status, loginPage{Title: http.StatusText(status), Error: msg, BackLink: true})
}

// failPage is fail for HTML routes: it logs the detail and shows a page
// that says only what the user can act on.
func (s *server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	reqID := requestInfoFrom(r.Context()).id
	switch {
	case errors.Is(err, errProvider):
		s.log.Warn("sign-in provider", "err", err, "request_id", reqID)
		s.renderError(w, http.StatusBadGateway, "Sign-in with the provider did not succeed: it could not be reached or its answer could not be verified. Try again in a moment.")
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("backend unavailable", "err", err, "request_id", reqID)
		s.renderError(w, http.StatusServiceUnavailable, "Dropp's storage is not answering. Try again in a moment.")
	default:
		s.log.Error("internal error", "err", err, "request_id", reqID)
		s.renderError(w, http.StatusInternalServerError, "Something went wrong on the server.")
	}
}

// ---- What the desktop app asks for ----

// appRequest is what a desktop app asks for when it starts a sign-in:
// where to send the one-time code, the PKCE challenge the code is bound
// to, and the app's own state. The zero value is a browser-only sign-in.
type appRequest struct {
	Challenge   string
	RedirectURI string
	State       string
}

// desktop tells a desktop app's sign-in from a browser-only one.
func (a appRequest) desktop() bool { return a.Challenge != "" }

// query is the request in /auth/google's query string form ("" for a
// browser sign-in).
func (a appRequest) query() string {
	if !a.desktop() {
		return ""
	}
	v := url.Values{"code_challenge": {a.Challenge}, "code_challenge_method": {"S256"}, "redirect_uri": {a.RedirectURI}}
	if a.State != "" {
		v.Set("state", a.State)
	}
	return "?" + v.Encode()
}

// appParams are the query parameters a desktop app may send.
var appParams = []string{"code_challenge", "code_challenge_method", "state", "redirect_uri"}

// parseAppRequest validates a desktop app's parameters, the same way on
// /login/ and /auth/google. It returns a message for the error page if
// they are unacceptable.
func (s *server) parseAppRequest(q url.Values) (appRequest, string) {
	for _, k := range appParams {
		if len(q[k]) > 1 {
			return appRequest{}, k + " is given more than once."
		}
	}
	app := appRequest{Challenge: q.Get("code_challenge"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state")}
	if app.Challenge == "" {
		if slices.ContainsFunc(appParams, q.Has) {
			return appRequest{}, "A desktop sign-in needs a PKCE code_challenge with code_challenge_method=S256."
		}
		return appRequest{}, ""
	}
	if problem := s.checkAppRequest(&app, q.Get("code_challenge_method")); problem != "" {
		return appRequest{}, problem
	}
	return app, ""
}

// checkAppRequest checks a desktop request's values and fills in the
// default redirect URI.
func (s *server) checkAppRequest(app *appRequest, method string) string {
	switch {
	case method != "S256":
		return "code_challenge_method must be S256 (plain is not accepted)."
	case !validPKCE(app.Challenge):
		return "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~."
	case len(app.State) > maxAppState || !visibleASCII(app.State):
		return fmt.Sprintf("state must be at most %d printable ASCII characters.", maxAppState)
	}
	if app.RedirectURI == "" {
		app.RedirectURI = s.cfg.AppRedirectURI
	}
	if app.RedirectURI != s.cfg.AppRedirectURI && !isLoopbackRedirect(app.RedirectURI) {
		return "redirect_uri must be the app's registered URI or http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH."
	}
	return ""
}

// validPKCE accepts a code verifier or challenge as RFC 7636 §4.1 defines
// it: 43 to 128 unreserved characters.
func validPKCE(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}

// visibleASCII reports whether s has only characters RFC 6749 allows in a
// state (VSCHAR, %x20-7E).
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isLoopbackRedirect accepts exactly http://127.0.0.1:PORT/PATH and
// http://[::1]:PORT/PATH (RFC 8252 §7.3). The URL must survive a parse
// and re-serialisation unchanged, which rules out userinfo, fragments,
// backslashes, odd encodings and anything a browser might read otherwise.
// "localhost" is refused: it may resolve elsewhere (RFC 8252 §8.3).
func isLoopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.String() != raw || strings.ContainsAny(raw, "#\\") {
		return false
	}
	if u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.ForceQuery || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "::1" {
		return false
	}
	port, err := strconv.Atoi(u.Port())
	return err == nil && port > 0 && port <= 65535 && strconv.Itoa(port) == u.Port()
}

// ---- Starting a sign-in ----

// handleSignInStart handles "GET /auth/google": after checking a desktop
// app's parameters it sends the browser to the provider or, with local
// sign-in, signs the local user in at once.
func (s *server) handleSignInStart(w http.ResponseWriter, r *http.Request) {
	app, problem := s.parseAppRequest(r.URL.Query())
	if problem != "" {
		s.renderError(w, http.StatusBadRequest, problem)
		return
	}
	if s.cfg.localSignIn() {
		s.signInLocalUser(w, r, app)
		return
	}
	authURL, err := s.beginProviderSignIn(w, r, app)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusFound)
}

// beginProviderSignIn records a fresh attempt (state, nonce, PKCE verifier,
// and the app's request) and returns the provider's authorization URL. The
// state is bound to this browser by a signed cookie holding a secret whose
// hash is kept with the attempt.
func (s *server) beginProviderSignIn(w http.ResponseWriter, r *http.Request, app appRequest) (string, error) {
	conf, err := s.signIn.oauthConfig(r.Context())
	if err != nil {
		return "", err
	}
	state, browser, nonce, verifier := newSecret(32), newSecret(32), newSecret(32), oauth2.GenerateVerifier()
	now := s.now()
	err = s.store.InsertAuthState(r.Context(), AuthState{
		Hash: hashSecret(state), BrowserHash: hashSecret(browser), Nonce: nonce, Verifier: verifier,
		AppRedirect: app.RedirectURI, AppState: app.State, CodeChallenge: app.Challenge,
		ExpiresAt: now.Add(authStateTTL),
	})
	if err != nil {
		return "", err
	}
	s.setStateCookie(w, r, s.signer.sign(stateCookie, browser, now), int(authStateTTL.Seconds()))
	return conf.AuthCodeURL(state, oauth2.AccessTypeOnline, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", nonce)), nil
}

// stateCookieName gets the __Secure- prefix over HTTPS (not __Host-: the
// cookie is scoped to the callback path).
func (s *server) stateCookieName(r *http.Request) string {
	if s.isHTTPS(r) {
		return "__Secure-" + stateCookie
	}
	return stateCookie
}

// setStateCookie sets (maxAge > 0) or clears (maxAge < 0) the state cookie.
// Lax is enough: the provider sends the browser back with a top-level GET.
func (s *server) setStateCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: s.stateCookieName(r), Value: value, Path: "/auth/google/callback", MaxAge: maxAge,
		HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// signInLocalUser is local sign-in: no provider, the configured local user.
// It refuses Host names other than loopback (or PUBLIC_URL's), so a page
// that rebinds its own DNS name to 127.0.0.1 cannot sign itself in.
func (s *server) signInLocalUser(w http.ResponseWriter, r *http.Request, app appRequest) {
	if !s.isLocalHost(r.Host) {
		s.renderError(w, http.StatusForbidden, "Local sign-in is only available at a loopback address such as http://127.0.0.1.")
		return
	}
	email := s.cfg.LocalUserEmail
	u, err := s.store.UpsertUser(r.Context(), User{Issuer: localIssuer, Subject: email, Email: email, Name: "Local user"})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.finishSignIn(w, r, u.ID, app)
}

// isLocalHost accepts a Host header naming loopback or PUBLIC_URL's host.
func (s *server) isLocalHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if s.cfg.PublicURL != nil && strings.EqualFold(host, s.cfg.PublicURL.Hostname()) {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return strings.EqualFold(host, "localhost") || err == nil && addr.IsLoopback()
}

// ---- Back from the provider ----

// handleSignInCallback handles "GET /auth/google/callback", where the
// provider sends the browser back. Nothing is exchanged until the state is
// proven fresh, unused and this browser's.
func (s *server) handleSignInCallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.localSignIn() {
		s.renderError(w, http.StatusNotFound, "This server uses local sign-in; there is no provider to come back from.")
		return
	}
	st, ok := s.takeState(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Get("error") != "" {
		s.denySignIn(w, r, st, http.StatusSeeOther, "/login/?error=access_denied")
		return
	}
	userID, err := s.providerUser(r.Context(), st, q.Get("code"))
	switch {
	case errors.Is(err, errNotAllowed):
		s.log.Info("sign-in refused", "err", err)
		s.denySignIn(w, r, st, http.StatusForbidden, "")
	case err != nil:
		s.failPage(w, r, err)
	default:
		s.finishSignIn(w, r, userID, stateApp(st))
	}
}

// takeState consumes the attempt named by the callback's state and checks
// that this browser started it. On false the error page has been written.
func (s *server) takeState(w http.ResponseWriter, r *http.Request) (AuthState, bool) {
	const problem = "This sign-in could not be matched to one started in this browser (it may have expired or been used already). Start again."
	state := r.URL.Query().Get("state")
	browser, cookieErr := s.stateCookieValue(r)
	s.setStateCookie(w, r, "", -1) // single use, whatever happens next
	if !validSecret(state) || cookieErr != nil {
		s.renderError(w, http.StatusBadRequest, problem)
		return AuthState{}, false
	}
	st, err := s.store.TakeAuthState(r.Context(), hashSecret(state), s.now())
	if errors.Is(err, ErrNotFound) || err == nil && !equalHashes(st.BrowserHash, hashSecret(browser)) {
		s.renderError(w, http.StatusBadRequest, problem)
		return AuthState{}, false
	}
	if err != nil {
		s.failPage(w, r, err)
		return AuthState{}, false
	}
	return st, true
}

// stateCookieValue is the browser secret in a valid state cookie.
func (s *server) stateCookieValue(r *http.Request) (string, error) {
	c, err := r.Cookie(s.stateCookieName(r))
	if err != nil {
		return "", err
	}
	secret, err := s.signer.verify(stateCookie, c.Value, authStateTTL, s.now())
	if err == nil && !validSecret(secret) {
		err = errBadCookie
	}
	return secret, err
}

// equalHashes compares two hex digests in constant time.
func equalHashes(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// stateApp is the desktop request recorded with a provider attempt.
func stateApp(st AuthState) appRequest {
	return appRequest{Challenge: st.CodeChallenge, RedirectURI: st.AppRedirect, State: st.AppState}
}

// denySignIn ends a sign-in that was cancelled or refused: a desktop app
// gets error=access_denied on its redirect URI (taken from the stored
// attempt, never from the query); a browser gets browserStatus, a redirect
// to browserURL or the refusal page.
func (s *server) denySignIn(w http.ResponseWriter, r *http.Request, st AuthState, browserStatus int, browserURL string) {
	app := stateApp(st)
	switch {
	case app.desktop():
		s.redirectToApp(w, r, app, url.Values{"error": {"access_denied"}})
	case browserURL != "":
		http.Redirect(w, r, browserURL, browserStatus)
	default:
		s.renderError(w, browserStatus, "This account is not allowed to use this Dropp server. Ask its administrator, or sign in with another account.")
	}
}

// providerUser exchanges the code, verifies the ID token, applies the
// allow-lists and records the user, keyed by (issuer, subject).
func (s *server) providerUser(ctx context.Context, st AuthState, code string) (string, error) {
	if code == "" || len(code) > 4096 {
		return "", fmt.Errorf("%w: callback without a usable code", errProvider)
	}
	claims, err := s.signIn.exchange(ctx, code, st, s.now())
	if err != nil {
		return "", err
	}
	if !emailAllowed(s.cfg, claims.Email, bool(claims.EmailVerified)) {
		return "", fmt.Errorf("%w: %q (verified: %v)", errNotAllowed, claims.Email, bool(claims.EmailVerified))
	}
	u, err := s.store.UpsertUser(ctx, User{
		Issuer: claims.Issuer, Subject: claims.Subject, Email: claims.Email, Name: claims.Name, Picture: claims.Picture,
	})
	return u.ID, err
}

// emailAllowed applies ALLOWED_EMAILS and ALLOWED_EMAIL_DOMAINS (either
// list admits) to a verified email. With neither set, anyone is allowed.
func emailAllowed(cfg *config, email string, verified bool) bool {
	if len(cfg.AllowedDomains) == 0 && len(cfg.AllowedEmails) == 0 {
		return true
	}
	if !verified {
		return false
	}
	email = strings.ToLower(email)
	at := strings.LastIndexByte(email, '@')
	return slices.Contains(cfg.AllowedEmails, email) || at > 0 && slices.Contains(cfg.AllowedDomains, email[at+1:])
}

// finishSignIn starts a brand-new browser session and, for a desktop app,
// hands it a one-time code on its redirect URI (never a token: another app
// may have claimed the URI's scheme, and a code is useless without the
// app's verifier).
func (s *server) finishSignIn(w http.ResponseWriter, r *http.Request, userID string, app appRequest) {
	var code string
	if app.desktop() {
		code = newSecret(32)
		err := s.store.InsertAuthCode(r.Context(), AuthCode{
			Hash: hashSecret(code), UserID: userID, CodeChallenge: app.Challenge,
			RedirectURI: app.RedirectURI, ExpiresAt: s.now().Add(authCodeTTL),
		})
		if err != nil {
			s.failPage(w, r, err)
			return
		}
	}
	if err := s.startSession(w, r, userID); err != nil {
		s.failPage(w, r, err)
		return
	}
	if !app.desktop() {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	s.redirectToApp(w, r, app, url.Values{"code": {code}})
}

// redirectToApp sends the browser to the app's (validated) redirect URI
// with params and the app's state.
func (s *server) redirectToApp(w http.ResponseWriter, r *http.Request, app appRequest, params url.Values) {
	u, err := url.Parse(app.RedirectURI)
	if err != nil { // only a broken APP_REDIRECT_URI gets here
		s.failPage(w, r, fmt.Errorf("APP_REDIRECT_URI: %w", err))
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if app.State != "" {
		q.Set("state", app.State)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// ---- The desktop app's token request ----

// tokenRequest is the body of POST /auth/token (RFC 6749 §4.1.3), form
// encoded or JSON.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	Code         string `json:"code"`
	CodeVerifier string `json:"code_verifier"`
	RedirectURI  string `json:"redirect_uri"`
}

// tokenResponse is the success body of POST /auth/token.
type tokenResponse struct {
	AccessToken string   `json:"access_token"`
	TokenType   string   `json:"token_type"`
	ExpiresIn   int64    `json:"expires_in"`
	User        userJSON `json:"user"`
}

// oauthError is the error body of POST /auth/token (RFC 6749 §5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// writeOAuthError answers 400 in RFC 6749 §5.2's shape.
func writeOAuthError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, oauthError{Error: code, Description: description})
}

// handleToken handles "POST /auth/token": the app redeems its one-time
// code with the PKCE verifier for a bearer token. The code is taken first
// (atomically, single use), so any failed attempt also burns it.
func (s *server) handleToken(w http.ResponseWriter, r *http.Request) {
	req, ok := readTokenRequest(w, r)
	if !ok {
		return
	}
	switch {
	case req.GrantType == "":
		writeOAuthError(w, "invalid_request", "grant_type is required")
		return
	case req.GrantType != "authorization_code":
		writeOAuthError(w, "unsupported_grant_type", "only authorization_code is supported")
		return
	case req.Code == "" || req.CodeVerifier == "":
		writeOAuthError(w, "invalid_request", "code and code_verifier are required")
		return
	}
	c, err := s.takeAuthCode(r.Context(), req.Code)
	if errors.Is(err, ErrNotFound) {
		writeOAuthError(w, "invalid_grant", "the code is invalid, expired or already used")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if problem := checkRedemption(c, req, s.cfg.AppRedirectURI); problem != "" {
		writeOAuthError(w, "invalid_grant", problem)
		return
	}
	s.writeToken(w, r, c.UserID)
}

// takeAuthCode redeems a code; junk never reaches the store.
func (s *server) takeAuthCode(ctx context.Context, code string) (AuthCode, error) {
	if !validSecret(code) {
		return AuthCode{}, ErrNotFound
	}
	return s.store.TakeAuthCode(ctx, hashSecret(code), s.now())
}

// checkRedemption checks a taken code against the request: the redirect
// URI it was issued for (which may be omitted when it was the default) and
// BASE64URL(SHA256(verifier)) against the challenge, in constant time.
func checkRedemption(c AuthCode, req tokenRequest, defaultRedirect string) string {
	redirect := req.RedirectURI
	if redirect == "" && c.RedirectURI == defaultRedirect {
		redirect = defaultRedirect
	}
	switch {
	case redirect != c.RedirectURI:
		return "redirect_uri does not match the one the sign-in started with"
	case !validPKCE(req.CodeVerifier):
		return "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~"
	case subtle.ConstantTimeCompare([]byte(oauth2.S256ChallengeFromVerifier(req.CodeVerifier)), []byte(c.CodeChallenge)) != 1:
		return "code_verifier does not match the code_challenge"
	}
	return ""
}

// writeToken issues the bearer token and answers with it and the user.
func (s *server) writeToken(w http.ResponseWriter, r *http.Request, userID string) {
	user, err := s.store.GetUser(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token, expires, err := s.issueToken(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(expires.Sub(s.now()).Round(time.Second).Seconds()), User: toUserJSON(user),
	})
}

// readTokenRequest decodes the body as a form (what RFC 6749 specifies) or
// JSON; anything else is 415. On false the error has been answered.
func readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	var req tokenRequest
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		req, err = decodeTokenForm(body)
	case "application/json":
		err = json.NewDecoder(body).Decode(&req)
	default:
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the body as application/x-www-form-urlencoded or application/json")
		return req, false
	}
	if err != nil {
		writeOAuthError(w, "invalid_request", "the body is not a valid token request")
		return req, false
	}
	return req, true
}

// decodeTokenForm parses a form body; a parameter given twice is an error
// (RFC 6749 §3.2).
func decodeTokenForm(body io.Reader) (tokenRequest, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return tokenRequest{}, err
	}
	v, err := url.ParseQuery(string(data))
	if err != nil {
		return tokenRequest{}, err
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return tokenRequest{}, fmt.Errorf("%s repeated", k)
		}
	}
	return tokenRequest{GrantType: v.Get("grant_type"), Code: v.Get("code"), CodeVerifier: v.Get("code_verifier"), RedirectURI: v.Get("redirect_uri")}, nil
}

// ---- Who am I, and signing out ----

// userJSON is a User as the API shows it.
type userJSON struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Picture string `json:"picture"`
}

// toUserJSON shows the fields a client may see.
func toUserJSON(u User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Picture: u.Picture}
}

// handleMe handles "GET /me": the signed-in user. A user named by a trusted
// proxy (TRUST_X_USER_ID) has no record, so only the id is known.
func (s *server) handleMe(w http.ResponseWriter, r *http.Request, userID string) {
	u, err := s.store.GetUser(r.Context(), userID)
	if errors.Is(err, ErrNotFound) {
		u, err = User{ID: userID}, nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]userJSON{"user": toUserJSON(u)})
}

// handleLogout handles "POST /auth/logout": it deletes the server-side
// record of the credential used, so replaying it fails, and clears the
// session cookie. The sign-out form gets a redirect to /login/.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request, userID string) {
	if err := s.revokeCredential(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := r.Cookie(s.sessionCookieName(r)); err == nil {
		http.SetCookie(w, &http.Cookie{
			Name: s.sessionCookieName(r), Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode,
		})
	}
	if isFormPost(r) {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeCredential deletes the credential the request authenticated with,
// in the order authenticate tries them.
func (s *server) revokeCredential(r *http.Request) error {
	if h := r.Header.Get("Authorization"); h != "" {
		_, token, _ := strings.Cut(h, " ")
		return s.store.DeleteCredential(r.Context(), kindBearer, hashSecret(token))
	}
	c, err := r.Cookie(s.sessionCookieName(r))
	if err != nil {
		return nil // a trusted proxy's user: nothing of ours to revoke
	}
	secret, err := s.signer.verify(sessionCookie, c.Value, s.cfg.SessionTTL, s.now())
	if err != nil {
		return nil
	}
	return s.store.DeleteCredential(r.Context(), kindSession, hashSecret(secret))
}

// isFormPost tells an HTML form submission (or a browser asking for HTML)
// from an API client.
func isFormPost(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" ||
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// ---- The OpenID provider ----

// oauthConfig is the oauth2 configuration with the discovered endpoints.
func (si *signIn) oauthConfig(ctx context.Context) (*oauth2.Config, error) {
	meta, err := si.provider.discover(ctx)
	if err != nil {
		return nil, err
	}
	conf := si.oauth
	conf.Endpoint = oauth2.Endpoint{AuthURL: meta.AuthURL, TokenURL: meta.TokenURL, AuthStyle: meta.authStyle()}
	return &conf, nil
}

// exchange redeems the provider's code with our PKCE verifier and returns
// the verified claims of its ID token.
func (si *signIn) exchange(ctx context.Context, code string, st AuthState, now time.Time) (idClaims, error) {
	conf, err := si.oauthConfig(ctx)
	if err != nil {
		return idClaims{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, si.provider.client), providerTimeout)
	defer cancel()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return idClaims{}, fmt.Errorf("%w: code exchange: %s", errProvider, describeExchangeError(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return idClaims{}, fmt.Errorf("%w: token response without an id_token", errProvider)
	}
	return si.provider.verifyIDToken(ctx, raw, st.Nonce, now)
}

// describeExchangeError keeps the provider's error code for the log, not
// its whole response body.
func describeExchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Sprintf("HTTP %d, error %q", re.Response.StatusCode, re.ErrorCode)
	}
	return err.Error()
}

// oidcProvider is the OpenID provider at an issuer URL: its discovery
// document, fetched when first needed and kept once valid (a failure is
// retried on a later request), and its signing keys.
type oidcProvider struct {
	issuer, clientID string
	client           *http.Client

	metaMu sync.Mutex
	meta   *providerMeta

	keysMu sync.Mutex
	keys   map[string]*rsa.PublicKey // by kid
	keysAt time.Time                 // when keys were fetched
}

// newOIDCProvider prepares, without any network call, the provider at
// issuer for our client id.
func newOIDCProvider(issuer, clientID string) *oidcProvider {
	return &oidcProvider{issuer: issuer, clientID: clientID, client: &http.Client{Timeout: providerTimeout}}
}

// providerMeta is the part of the discovery document Dropp uses.
type providerMeta struct {
	Issuer      string   `json:"issuer"`
	AuthURL     string   `json:"authorization_endpoint"`
	TokenURL    string   `json:"token_endpoint"`
	JWKSURL     string   `json:"jwks_uri"`
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// authStyle picks how to send the client secret. Naming it, rather than
// letting oauth2 auto-detect, avoids a second exchange attempt on failure.
func (m *providerMeta) authStyle() oauth2.AuthStyle {
	if len(m.AuthMethods) == 0 || slices.Contains(m.AuthMethods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// discover returns the provider's metadata, fetching it on first use. The
// lock is held across the fetch so a burst of first requests fetches once.
func (p *oidcProvider) discover(ctx context.Context) (*providerMeta, error) {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta != nil {
		return p.meta, nil
	}
	var m providerMeta
	if err := p.getJSON(ctx, strings.TrimSuffix(p.issuer, "/")+"/.well-known/openid-configuration", &m); err != nil {
		return nil, err
	}
	if err := m.check(p.issuer); err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", errProvider, err)
	}
	p.meta = &m
	return p.meta, nil
}

// check validates discovered metadata: the issuer must be exactly the one
// configured (OIDC Discovery §4.3), and endpoints must not drop from HTTPS.
func (m *providerMeta) check(issuer string) error {
	if m.Issuer != issuer {
		return fmt.Errorf("issuer %q, want %q", m.Issuer, issuer)
	}
	scheme := "https"
	if strings.HasPrefix(issuer, "http://") {
		scheme = "http"
	}
	for _, e := range []string{m.AuthURL, m.TokenURL, m.JWKSURL} {
		u, err := url.Parse(e)
		if err != nil || u.Scheme != scheme || u.Host == "" {
			return fmt.Errorf("endpoint %q is not an absolute %s URL", e, scheme)
		}
	}
	return nil
}

// getJSON fetches a provider document, bounded in time and size.
func (p *oidcProvider) getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errProvider, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: GET %s: %v", errProvider, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: HTTP %d", errProvider, u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxProviderBody)).Decode(v); err != nil {
		return fmt.Errorf("%w: GET %s: %v", errProvider, u, err)
	}
	return nil
}

// publicKey returns the provider's key with that kid. Keys are refetched
// when older than jwksMaxAge, or for an unknown kid (the provider rotated)
// at most once per jwksMinRefetch, so forged kids cannot make Dropp hammer
// the provider.
func (p *oidcProvider) publicKey(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, error) {
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	key, ok := p.keys[kid]
	age := now.Sub(p.keysAt)
	if p.keys == nil || age >= jwksMaxAge || !ok && age >= jwksMinRefetch {
		keys, err := p.fetchKeys(ctx)
		if err != nil {
			return nil, err
		}
		p.keys, p.keysAt = keys, now
		key, ok = keys[kid]
	}
	if !ok {
		return nil, fmt.Errorf("%w: ID token signed with unknown key %q", errProvider, kid)
	}
	return key, nil
}

// jwk is one key of a JWKS document (RFC 7517).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// fetchKeys reads the provider's JWKS, keeping the RSA signing keys.
func (p *oidcProvider) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	meta, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := p.getJSON(ctx, meta.JWKSURL, &set); err != nil {
		return nil, err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if key, ok := k.rsaKey(); ok {
			keys[k.Kid] = key
		}
	}
	return keys, nil
}

// rsaKey decodes an RS256 signing key from its base64url modulus and
// exponent; anything else (other types, uses, algorithms, weak keys) is
// skipped.
func (k jwk) rsaKey() (*rsa.PublicKey, bool) {
	if k.Kty != "RSA" || k.Use != "" && k.Use != "sig" || k.Alg != "" && k.Alg != "RS256" {
		return nil, false
	}
	n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
		return nil, false
	}
	exp := 0
	for _, b := range e {
		exp = exp<<8 | int(b)
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	return key, key.N.BitLen() >= 2048 && exp >= 3 && exp%2 == 1
}

// idClaims are the ID token claims Dropp reads (OIDC Core §2, §5.1).
type idClaims struct {
	Issuer          string    `json:"iss"`
	Subject         string    `json:"sub"`
	Audience        audience  `json:"aud"`
	AuthorizedParty string    `json:"azp"`
	Expiry          float64   `json:"exp"`
	Nonce           string    `json:"nonce"`
	Email           string    `json:"email"`
	EmailVerified   looseBool `json:"email_verified"`
	Name            string    `json:"name"`
	Picture         string    `json:"picture"`
}

// audience is the aud claim: one string or an array of them.
type audience []string

// UnmarshalJSON accepts both forms of aud (OIDC Core §2).
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// looseBool is email_verified, which some providers send as "true".
type looseBool bool

// UnmarshalJSON reads true or "true" as true, anything else as false.
func (v *looseBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	*v = looseBool(s == "true")
	return nil
}

// jwtHeader is the JOSE header of an ID token.
type jwtHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// verifyIDToken checks an ID token's RS256 signature against the
// provider's keys, then its claims: iss, aud (and azp), exp, sub, nonce.
func (p *oidcProvider) verifyIDToken(ctx context.Context, raw, nonce string, now time.Time) (idClaims, error) {
	payload, err := p.verifySignature(ctx, raw, now)
	if err != nil {
		return idClaims{}, err
	}
	var c idClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return idClaims{}, fmt.Errorf("%w: ID token claims: %v", errProvider, err)
	}
	if err := c.check(p.issuer, p.clientID, nonce, now); err != nil {
		return idClaims{}, fmt.Errorf("%w: ID token: %v", errProvider, err)
	}
	return c, nil
}

// verifySignature checks a compact JWS and returns its payload. Only
// RS256 is accepted: the algorithm is ours to choose, never the token's
// (no "none", no HMAC keyed with a public key).
func (p *oidcProvider) verifySignature(ctx context.Context, raw string, now time.Time) ([]byte, error) {
	parts := strings.Split(raw, ".")
	if len(raw) > 16<<10 || len(parts) != 3 {
		return nil, fmt.Errorf("%w: ID token is not a compact JWS", errProvider)
	}
	var h jwtHeader
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || json.Unmarshal(hb, &h) != nil {
		return nil, fmt.Errorf("%w: ID token encoding: %v", errProvider, err)
	}
	if h.Alg != "RS256" || len(h.Crit) > 0 {
		return nil, fmt.Errorf("%w: ID token alg %q (crit %v), want RS256", errProvider, h.Alg, h.Crit)
	}
	key, err := p.publicKey(ctx, h.Kid, now)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig); err != nil {
		return nil, fmt.Errorf("%w: ID token signature: %v", errProvider, err)
	}
	return payload, nil
}

// check validates the claims as OIDC Core §3.1.3.7 requires.
func (c *idClaims) check(issuer, clientID, nonce string, now time.Time) error {
	switch {
	case c.Issuer != issuer:
		return fmt.Errorf("iss %q, want %q", c.Issuer, issuer)
	case !slices.Contains(c.Audience, clientID):
		return fmt.Errorf("aud %q does not include our client id", c.Audience)
	case c.AuthorizedParty != "" && c.AuthorizedParty != clientID:
		return fmt.Errorf("azp %q is not our client id", c.AuthorizedParty)
	case !now.Before(time.Unix(int64(c.Expiry), 0).Add(idTokenLeeway)):
		return fmt.Errorf("expired at %v", time.Unix(int64(c.Expiry), 0).UTC())
	case c.Subject == "" || len(c.Subject) > 255:
		return errors.New("missing or oversized sub")
	case nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1:
		return errors.New("nonce does not match")
	}
	return nil
}
