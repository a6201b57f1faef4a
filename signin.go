package main

// Where every sign-in starts: the sign-in page offers the ways that are on
// (a password and passkeys with SIGNIN=accounts, else the provider, or the
// local user), and /auth/google starts the one the app asked for.

import (
	"cmp"
	"context"
	"net/http"
)

// loginNotices are the messages /login/?error= may show. Only these codes
// are recognised, so the page never reflects text from its URL.
var loginNotices = map[string]string{
	"access_denied": "Sign-in was cancelled at the provider.",
	"password_set":  "Your password is set. Sign in with it.",
	"members_only":  "This link is only for members of this Dropp. Sign in to open it.", // linkprotect.go
	"passkey_set":   "Your passkey is set. Sign in with it.",
	"passkey_added": "Your passkey is added.",
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
	page := loginPage{Title: "Sign in", User: user, Notice: loginNotices[cmp.Or(q.Get("error"), q.Get("notice"))], SignInLabel: s.signInLabel(app)}
	s.rememberReturnPath(w, r) // ?next=, for finishSignIn (returnpath.go)
	if user == nil || app.desktop() {
		s.offerSignIn(&page, app)
	}
	page.AddPasskey = s.offersAddPasskey(r.Context(), user)
	s.renderPage(w, http.StatusOK, page)
}

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
	if s.passwordPageFirst(r) {
		http.Redirect(w, r, "/login/"+app.query(), http.StatusFound) // accounts.go
		return
	}
	authURL, err := s.beginProviderSignIn(w, r, app)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	http.Redirect(w, r, authURL, http.StatusFound)
}

// offerSignIn puts on the page each way to sign in that is on.
func (s *server) offerSignIn(page *loginPage, app appRequest) {
	if !s.cfg.accountsSignIn() {
		page.SignInURL = "/auth/google" + app.query()
		return
	}
	page.Password = &passwordForm{App: app}
	page.SignInURL = s.oidcButton(app)
}

// passwordPageFirst tells /auth/google, where the desktop app starts, to
// send the browser to the sign-in page, which offers the password form.
func (s *server) passwordPageFirst(r *http.Request) bool {
	return s.cfg.accountsSignIn() && (!s.cfg.oidcSignIn() || r.URL.Query().Get("via") != "oidc")
}

// offersAddPasskey tells whether the sign-in page offers the signed-in
// user to add a passkey: accounts only.
func (s *server) offersAddPasskey(ctx context.Context, user *userJSON) bool {
	if !s.cfg.accountsSignIn() || user == nil {
		return false
	}
	u, err := s.store.GetUser(ctx, user.ID)
	return err == nil && u.Issuer == accountsIssuer
}
