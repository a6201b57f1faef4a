package main

// Sign-in: Dropp is an OpenID Connect client of the provider (Google by
// default, or any other: OIDC_ISSUER) and the authorization server of its
// desktop app (RFC 8252: the app opens the browser on /auth/google with a
// PKCE challenge and gets a one-time code on its redirect URI, which it
// redeems at /auth/token with the verifier). The routes keep Google's name
// for every provider: registered callbacks and released apps use them.

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	authCodeTTL = 2 * time.Minute // the app redeems at once; short so a leaked code is soon useless
	maxAppState = 512             // bytes of the app's state echoed back
	localIssuer = "local"         // issuer of the local sign-in's user
)

// Errors of the sign-in flows, mapped to pages by failPage.
var (
	// errNotAllowed: the account is not on ALLOWED_EMAIL_DOMAINS/ALLOWED_EMAILS,
	// or in none of ALLOWED_GROUPS.
	errNotAllowed = errors.New("account not allowed")
)

//go:embed login.html
var loginHTML string

// newSignIn parses the page once and prepares the provider client. Nothing
// here talks to the provider, so start-up never depends on reaching it.
func newSignIn(cfg *config, logger *slog.Logger) *signIn {
	si := &signIn{
		page:       parsePage("login.html", loginHTML),
		csp:        loginCSP(loginHTML),
		startLimit: newRateLimiter(cfg.AuthRateLimit).sharedAs("signin"),
		tokenLimit: newRateLimiter(cfg.AuthRateLimit).sharedAs("token"),
	}
	if cfg.localSignIn() {
		logger.Info("OIDC_CLIENT_ID is unset: local sign-in, every visitor signs in as the local user", "email", cfg.LocalUserEmail)
		return si
	}
	si.accounts = newPasswordSignIn(cfg.AuthRateLimit)
	if !cfg.oidcSignIn() {
		return si
	}
	if !membershipLimited(cfg) {
		logger.Warn("ALLOWED_EMAIL_DOMAINS, ALLOWED_EMAILS and ALLOWED_GROUPS are unset: anyone with an account at the provider can sign in")
	}
	si.redirectURL = cfg.OIDCRedirectURI
	if si.redirectURL == "" {
		si.redirectURL = cfg.PublicURL.String() + "/auth/google/callback"
	}
	si.provider = newOIDCProvider(cfg.OIDCIssuer, cfg.OIDCClientID)
	si.oauth = oauth2.Config{
		ClientID:     cfg.OIDCClientID,
		ClientSecret: cfg.OIDCClientSecret,
		RedirectURL:  si.redirectURL,
		Scopes:       []string{"openid", "email", "profile"},
	}
	return si
}

// signInHeaders sets the headers of every response on the sign-in path:
// nothing cached (they set cookies and carry codes), no Referer leaking a
// code or state to the next site, no framing, no third-party content.
// (nosniff is on every response already: see logRequests.)
func (s *server) signInHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.signIn.csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
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
	// Password is the email and password form (accounts.go), nil when
	// accounts are off.
	Password *passwordForm
	Invite   *invitePage // the invitation's form, on its page
	// AddPasskey offers the signed-in account to add a passkey (webauthn.go).
	AddPasskey bool
}

// invitePage is what the invitation page (login.html) shows.
type invitePage struct {
	Email  string
	Action string // where the form posts: the invitation's own path
}

// passwordForm is the email and password form of the sign-in page, with
// the desktop app's request carried through as hidden fields.
type passwordForm struct {
	Email string
	App   appRequest
}

// OffersPasskeys tells whether the page shows a passkey form, and so
// carries the script that runs it; other sign-in pages run no script.
func (p loginPage) OffersPasskeys() bool { return p.Password != nil || p.Invite != nil || p.AddPasskey }

// loginPasskeyCSP is the sign-in pages' CSP (loginCSP) allowing also
// login.html's one inline script, the passkey forms', by its hash as the
// template writes it (shareCSP's way).
var loginPasskeyCSP = sync.OnceValue(func() string {
	return scriptCSP(loginHTML, parsePage("login.html", loginHTML), loginPage{AddPasskey: true})
})

// signInLabel names what the sign-in link does.
func (s *server) signInLabel(app appRequest) string {
	switch {
	case s.cfg.localSignIn() && app.desktop():
		return "Connect the Dropp app as " + s.cfg.LocalUserEmail
	case s.cfg.localSignIn():
		return "Sign in as " + s.cfg.LocalUserEmail
	case app.desktop():
		return "Sign in with " + s.cfg.OIDCName + " to connect the Dropp app"
	}
	return "Sign in with " + s.cfg.OIDCName
}

// browserUser is the user of the request's session cookie, or nil.
func (s *server) browserUser(r *http.Request) (*userJSON, error) {
	secret, ok := s.sessionSecret(r)
	if !ok {
		return nil, nil
	}
	who, err := s.findPrincipal(r.Context(), kindSession, secret)
	if errors.Is(err, errUnauthenticated) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(r.Context(), who.userID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	uj := toUserJSON(u)
	return &uj, nil
}

// renderPage shows the sign-in page (login.html) with p.
func (s *server) renderPage(w http.ResponseWriter, status int, p loginPage) {
	if p.OffersPasskeys() { // its script runs (webauthn.go)
		w.Header().Set("Content-Security-Policy", loginPasskeyCSP())
	}
	if p.Password != nil && p.Password.App.desktop() {
		// The password form's answer redirects to the desktop app, and
		// browsers hold a form's redirects to form-action too. (After any
		// other change of the page's CSP: this adds to the one set.)
		if source := formTarget(p.Password.App.RedirectURI); source != "" {
			h := w.Header()
			h.Set("Content-Security-Policy", allowFormAction(h.Get("Content-Security-Policy"), source))
		}
	}
	s.renderHTML(w, status, s.signIn.page, p)
}

// formTarget is the CSP source of a desktop app's redirect URI (one that
// checkAppRequest accepted): the origin of a loopback URI, the scheme of
// the app's own (dropp:).
func formTarget(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" {
		return "" // not reached: the URI was checked
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + ":"
}

// renderError shows an error page (HTML routes never answer JSON).
func (s *server) renderError(w http.ResponseWriter, status int, msg string) {
	s.renderPage(w, status, loginPage{Title: http.StatusText(status), Error: msg, BackLink: true})
}

// failPage is fail for HTML routes: it shows a page that says only what
// the user can act on. The provider failing is a sign-in page's own case
// (no API route talks to the provider); every other error is classified
// as the API's are.
func (s *server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errProvider) {
		s.log.Warn("sign-in provider", "err", err, "request_id", requestInfoFrom(r.Context()).id)
		s.renderError(w, http.StatusBadGateway, "Sign-in with the provider did not succeed: it could not be reached or its answer could not be verified. Try again in a moment.")
		return
	}
	f := s.classify(r, err)
	setRetryAfter(w, err)
	s.renderError(w, f.status, f.page)
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

// visibleASCII reports whether s has only characters RFC 6749 allows in a
// state (VSCHAR, %x20-7E).
func visibleASCII(s string) bool {
	return allBytes(s, func(c byte) bool { return 0x20 <= c && c <= 0x7e })
}

// isLoopbackRedirect accepts exactly http://127.0.0.1:PORT/PATH and
// http://[::1]:PORT/PATH (RFC 8252 §7.3). The URL must survive a parse
// and re-serialisation unchanged, which rules out userinfo, fragments,
// backslashes, odd encodings and anything a browser might read otherwise.
// "localhost" is refused: it may resolve elsewhere (RFC 8252 §8.3).
func isLoopbackRedirect(raw string) bool {
	u, err := url.Parse(raw)
	// An "@" is refused anywhere: after the host a URL parser reads it as
	// path, but a person or a laxer parser may take what precedes it for
	// user info ("http://127.0.0.1:1/@evil.example").
	if err != nil || u.String() != raw || strings.ContainsAny(raw, "#\\@") {
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

// validPKCE accepts a code verifier or challenge as RFC 7636 §4.1 defines
// it: 43 to 128 unreserved characters.
func validPKCE(v string) bool {
	return len(v) >= 43 && len(v) <= 128 && allBytes(v, alnumOr("-._~"))
}

// ---- Starting a sign-in ----

// beginProviderSignIn records a fresh attempt (state, nonce, PKCE verifier,
// and the app's request) and returns the provider's authorization URL. The
// state is bound to this browser by a signed cookie holding a secret whose
// hash is kept with the attempt.
func (s *server) beginProviderSignIn(w http.ResponseWriter, r *http.Request, app appRequest) (string, error) {
	conf, err := s.signIn.oauthConfig(r.Context(), s.now())
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

// signInLocalUser is local sign-in: no provider, the configured local user.
// It refuses Host names other than loopback, so a page that rebinds its own
// DNS name to 127.0.0.1 cannot sign itself in, and requests relayed by a
// proxy, which would hand the local user to whoever reaches the proxy.
func (s *server) signInLocalUser(w http.ResponseWriter, r *http.Request, app appRequest) {
	if !isLocalHost(r.Host) || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
		s.renderError(w, http.StatusForbidden, "Local sign-in is only available at a loopback address such as http://127.0.0.1.")
		return
	}
	email := s.cfg.LocalUserEmail
	u, err := s.store.UpsertUser(r.Context(), User{Issuer: localIssuer, Subject: email, Email: email, EmailVerified: true, Name: "Local user", CreatedAt: s.now()})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.finishSignIn(w, r, u.ID, app, s.now())
}

// ---- Back from the provider ----

// handleSignInCallback handles "GET /auth/google/callback", where the
// provider sends the browser back. Nothing is exchanged until the state is
// proven fresh, unused and this browser's.
func (s *server) handleSignInCallback(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.oidcSignIn() {
		s.renderError(w, http.StatusNotFound, "This server does not sign in through an OpenID provider; there is no provider to come back from.")
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
		s.finishSignIn(w, r, userID, stateApp(st), s.now())
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
	s.denyApp(w, r, stateApp(st), browserStatus, browserURL)
}

// denyApp is denySignIn for the desktop request app.
func (s *server) denyApp(w http.ResponseWriter, r *http.Request, app appRequest, browserStatus int, browserURL string) {
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
// allow-lists and records the user, keyed by (issuer, subject), with the
// groups the token lists (refreshed at each sign-in).
func (s *server) providerUser(ctx context.Context, st AuthState, code string) (string, error) {
	if code == "" || len(code) > 4096 {
		return "", fmt.Errorf("%w: callback without a usable code", errProvider)
	}
	claims, err := s.signIn.exchange(ctx, code, st, s.now())
	if err != nil {
		return "", err
	}
	account, err := accountOf(s.cfg, claims)
	if err != nil {
		return "", fmt.Errorf("%w: ID token: %v", errProvider, err)
	}
	claims.EmailVerified = looseBool(account.EmailVerified) // the allow-lists take the same verdict
	if !signInAllowed(s.cfg, claims) || !groupsAllowed(s.cfg, account.Groups) {
		return "", fmt.Errorf("%w: %q (verified: %v, hd %q, groups %q)", errNotAllowed, claims.Email, bool(claims.EmailVerified), claims.HostedDomain, account.Groups)
	}
	account.CreatedAt = s.now() // kept only when the user is new
	u, err := s.store.UpsertUser(ctx, account)
	if err == nil {
		s.signIn.members.put(u, s.now())
	}
	return u.ID, err
}

// accountOf is the user an ID token describes, as stored at sign-in. It
// decides whether the email counts as verified: when the token says so,
// or, with OIDC_TRUST_EMAIL=true, when it says nothing either way (many
// providers other than Google leave email_verified out). An explicit
// "email_verified": false is never overridden.
func accountOf(cfg *config, claims idClaims) (User, error) {
	groups, err := claims.groups(cfg.OIDCGroupsClaim)
	if err != nil {
		return User{}, err
	}
	return User{
		Issuer: claims.Issuer, Subject: claims.Subject, Email: claims.Email, EmailVerified: emailVerified(cfg, claims),
		Name: claims.Name, Picture: claims.Picture, Groups: groups,
	}, nil
}

// emailVerified is whether Dropp takes the token's email as verified: see
// accountOf.
func emailVerified(cfg *config, claims idClaims) bool {
	return bool(claims.EmailVerified) || cfg.OIDCTrustEmail && !claims.emailVerifiedSent()
}

// ---- Who may sign in ----

// signInAllowed applies the allow-lists (either one admits) to a verified
// email at sign-in. With Google as the issuer, a domain admits only an
// account of a Workspace on an allowed domain (the hd claim): a personal
// Google account can carry a verified company address, an ex-employee's
// too.
func signInAllowed(cfg *config, c idClaims) bool {
	switch {
	case !allowListSet(cfg):
		return true
	case !bool(c.EmailVerified):
		return false
	case slices.Contains(cfg.AllowedEmails, strings.ToLower(c.Email)):
		return true
	}
	hostedOK := cfg.OIDCIssuer != googleIssuer || slices.Contains(cfg.AllowedDomains, strings.ToLower(c.HostedDomain))
	return hostedOK && domainAllowed(cfg, c.Email)
}

// finishSignIn starts a brand-new browser session and, for a desktop app,
// hands it a one-time code on its redirect URI (never a token: another app
// may have claimed the URI's scheme, and a code is useless without the
// app's verifier). checkedAt is when the sign-in began to read what it
// checked (a password hash, a passkey): a reset from then on voids it.
// The allow-lists are applied here too, to accounts as to provider users:
// one taken off them is told so, rather than get a session every request
// refuses.
func (s *server) finishSignIn(w http.ResponseWriter, r *http.Request, userID string, app appRequest, checkedAt time.Time) {
	if disabled, err := s.refuseDisabled(r.Context(), userID); err != nil || disabled {
		s.refuseSignIn(w, r, err)
		return
	}
	if err := s.checkMember(r.Context(), userID); errors.Is(err, errNoLongerAllowed) {
		s.log.Info("sign-in refused", "user", userID, "err", err)
		s.denyApp(w, r, app, http.StatusForbidden, "")
		return
	} else if err != nil {
		s.failPage(w, r, err)
		return
	}
	var made signInMade
	var code string
	if app.desktop() {
		code = newSecret(32)
		made.code = hashSecret(code)
		// The code's lifetime counts from checkedAt, so that writeToken
		// can tell a code of a sign-in a reset voided (AuthCode.checkedAt).
		err := s.store.InsertAuthCode(r.Context(), AuthCode{
			Hash: made.code, UserID: userID, CodeChallenge: app.Challenge,
			RedirectURI: app.RedirectURI, ExpiresAt: checkedAt.Add(authCodeTTL),
		})
		if err != nil {
			s.failPage(w, r, err)
			return
		}
	}
	var err error
	if made.session, err = s.startSession(w, r, userID); err != nil {
		s.failPage(w, r, err)
		return
	}
	if s.signInVoided(w, r, userID, checkedAt, made) {
		return
	}
	if !app.desktop() {
		http.Redirect(w, r, s.takeReturnPath(w, r), http.StatusSeeOther) // the web page, or ?next= (returnpath.go)
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

// oauthConfig is the oauth2 configuration with the discovered endpoints.
func (si *signIn) oauthConfig(ctx context.Context, now time.Time) (*oauth2.Config, error) {
	meta, err := si.provider.discover(ctx, now)
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
	conf, err := si.oauthConfig(ctx, now)
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

// signInMade is what a sign-in stored: its session and, for the desktop
// app, its code (hashes; "" for none).
type signInMade struct{ session, code string }

// msgResetMeanwhile answers a sign-in that a reset of the account voided.
const msgResetMeanwhile = "This account's password or passkeys were reset while you signed in. Sign in again with the new ones."

// signInVoided checks again, once the sign-in's session exists, whether
// the user was disabled after the first check, or the account reset since
// checkedAt (voidedMeanwhile). If so, it deletes what the sign-in made
// (for a disable, every credential of the user) and answers the refusal.
func (s *server) signInVoided(w http.ResponseWriter, r *http.Request, userID string, checkedAt time.Time, made signInMade) bool {
	voided := s.voidedMeanwhile(r.Context(), userID, checkedAt)
	var err error
	switch {
	case voided == nil:
		return false
	case errors.Is(voided, errDisabled):
		_, err = s.store.DeleteUserCredentials(r.Context(), userID)
	case errors.Is(voided, errResetMeanwhile):
		err = s.takeBackSignIn(r.Context(), made)
	default:
		err = voided
	}
	s.setCookie(w, r, s.sessionCookieName(r), "", "/", -1)
	if err == nil && errors.Is(voided, errResetMeanwhile) {
		s.renderError(w, http.StatusUnauthorized, msgResetMeanwhile)
		return true
	}
	s.refuseSignIn(w, r, err)
	return true
}

// takeBackSignIn deletes what a voided sign-in made.
func (s *server) takeBackSignIn(ctx context.Context, made signInMade) error {
	if made.code != "" {
		if _, err := s.store.TakeAuthCode(ctx, made.code, time.Time{}); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return s.store.DeleteCredential(ctx, kindSession, made.session)
}

// refuseSignIn ends a sign-in of a disabled user (err nil) or one whose
// user could not be read.
func (s *server) refuseSignIn(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderError(w, http.StatusForbidden, msgDisabled)
}
