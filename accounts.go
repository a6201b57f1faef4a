package main

// Accounts by invitation (SIGNIN=accounts): an administrator, or
// `dropp invite` on the server's host, makes a one-time invitation link;
// its holder chooses a password there, and then signs in with email and
// password on /login/. A successful password check ends the way every
// sign-in does (finishSignIn: a new session and, for the desktop app, a
// one-time code), so everything after it is the same as for an OpenID
// user. Details and the rate limits' figures: docs/accounts.md.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ---- Emails ----

// maxEmailLen bounds an email address (RFC 5321's path limit).
const maxEmailLen = 254

// normalEmail is the form accounts are keyed by: trimmed, lowercased.
func normalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// validEmail accepts a plausible address: one "@" with something on each
// side and a dot in the domain, no white space or control characters.
// Whether it reaches anyone is the inviter's affair.
func validEmail(email string) bool {
	local, domain, ok := strings.Cut(email, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.Contains(domain, "@") &&
		len(email) <= maxEmailLen && utf8.ValidString(email) &&
		!strings.ContainsFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// ---- Invitations ----

// invitationPath is where an invitation link points, before its token.
const invitationPath = "/invite/"

// createInvitation stores a new invitation for email and returns its link
// under base (PUBLIC_URL). The token is 256 random bits; only its hash is
// stored, and the link exists only in the answer.
func createInvitation(ctx context.Context, store Store, base, email string, admin bool, ttl time.Duration, now time.Time) (string, Invitation, error) {
	token, email := newSecret(32), normalEmail(email)
	now = now.UTC().Truncate(time.Millisecond) // as every time the API answers (review 16: nanoseconds here)
	inv := Invitation{Hash: hashSecret(token), Email: email, Admin: admin, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := store.InsertInvitation(ctx, inv); err != nil {
		return "", Invitation{}, err
	}
	return base + invitationPath + token, inv, nil
}

// handleInvitePage handles "GET /invite/{token}": the form to choose a
// password. An unknown, used or expired invitation gets one same page.
func (s *server) handleInvitePage(w http.ResponseWriter, r *http.Request) {
	inv, ok := s.openInvitation(w, r)
	if ok {
		s.renderInvite(w, http.StatusOK, inv, r.PathValue("token"), "")
	}
}

// msgInvitationInvalid is the one 404 answer of an invitation link that
// cannot be used: unknown, used or expired alike, whether found so when
// the link is opened or when its password or passkey form is sent.
const msgInvitationInvalid = "This invitation link is not valid: it may have been used already or have expired. Ask an administrator for a new one."

// openInvitation finds the request's unexpired invitation; on false the
// error page has been written.
func (s *server) openInvitation(w http.ResponseWriter, r *http.Request) (Invitation, bool) {
	token := r.PathValue("token")
	var inv Invitation
	err := ErrNotFound
	if validSecret(token) {
		inv, err = s.store.GetInvitation(r.Context(), hashSecret(token), s.now())
	}
	switch {
	case errors.Is(err, ErrNotFound):
		s.renderError(w, http.StatusNotFound, msgInvitationInvalid)
		return Invitation{}, false
	case err != nil:
		s.failPage(w, r, err)
		return Invitation{}, false
	}
	return inv, true
}

// renderInvite shows the invitation form, with a problem if there is one.
func (s *server) renderInvite(w http.ResponseWriter, status int, inv Invitation, token, problem string) {
	s.renderPage(w, status, loginPage{Title: "Choose a password", Error: problem,
		Invite: &invitePage{Email: inv.Email, Action: invitationPath + token}})
}

// handleInviteSubmit handles "POST /invite/{token}": it checks the new
// password, then takes the invitation (once: of two concurrent
// submissions one wins), sets the password of the account, creating it
// if need be, and sends the browser to sign in. A reset ends every
// session and token the account had.
func (s *server) handleInviteSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.formPost(w, r) {
		return
	}
	inv, ok := s.openInvitation(w, r)
	if !ok {
		return
	}
	body, ok := s.readForm(w, r)
	if !ok {
		return
	}
	pw, problem := parseInviteForm(body)
	if problem == "" {
		if err := checkNewPassword(pw); err != nil {
			problem = strings.TrimPrefix(err.Error(), errPasswordRules.Error()+": ")
			problem = "This password cannot be used: " + problem + "."
		}
	}
	if problem != "" {
		s.renderInvite(w, http.StatusBadRequest, inv, r.PathValue("token"), problem)
		return
	}
	if err := s.redeemInvitation(r.Context(), hashSecret(r.PathValue("token")), pw); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.renderError(w, http.StatusNotFound, msgInvitationInvalid)
			return
		}
		s.failPage(w, r, err)
		return
	}
	http.Redirect(w, r, "/login/?notice=password_set", http.StatusSeeOther)
}

// redeemInvitation hashes the password, takes the invitation and applies
// it. The hash comes first: a slow hash must not hold an invitation that
// is already taken.
func (s *server) redeemInvitation(ctx context.Context, hash, pw string) error {
	phc, err := s.signIn.accounts.hasher.hash(ctx, pw)
	if err != nil {
		return err
	}
	return s.useInvitation(ctx, hash, phc, nil)
}

// useInvitation takes the invitation and gives its account, creating it
// if need be, what was chosen on its page as its only credential: a
// password hash (phc), or a passkey (pk, with phc ""; webauthn.go). The
// account's other passkeys, sessions, tokens and one-time codes end, and
// so do the email's other invitations, which would reset it again.
func (s *server) useInvitation(ctx context.Context, hash, phc string, pk *Passkey) error {
	inv, err := s.store.TakeInvitation(ctx, hash, s.now())
	if err != nil {
		return err
	}
	u, err := s.store.UpsertUser(ctx, User{Issuer: accountsIssuer, Subject: inv.Email, Email: inv.Email, EmailVerified: true, CreatedAt: s.now()})
	if err != nil {
		return err
	}
	// Sessions end first, so that a step failing below never leaves them.
	if err := s.endCredentials(ctx, u.ID); err != nil {
		return err
	}
	if err := s.store.SetAccountPassword(ctx, u.ID, phc, inv.Admin); err != nil {
		return err
	}
	if _, err := s.store.DeleteUserPasskeys(ctx, u.ID); err != nil {
		return err
	}
	if pk != nil {
		pk.UserID = u.ID
		if err := s.store.InsertPasskey(ctx, *pk); err != nil {
			return err
		}
	}
	// And again, now that the old password and passkeys no longer work:
	// a sign-in that checked them before and made its session since is
	// ended here, or sees the mark (finishSignIn).
	if err := s.endCredentials(ctx, u.ID); err != nil {
		return err
	}
	// Last, so that a reset that failed above can still be done with
	// another of the email's links.
	if _, err := s.store.DeleteInvitations(ctx, inv.Email); err != nil {
		return err
	}
	s.signIn.accounts.forgetFailures(inv.Email)
	s.log.Info("invitation used", "user", u.ID, "email", inv.Email, "admin", inv.Admin, "reset", u.PasswordHash != "", "passkey", pk != nil)
	return nil
}

// endCredentials ends everything the account's credentials so far gave:
// it marks them reset (User.CredentialsResetAt: a code, token, passkey or
// session being made by a request that authenticated before is taken
// back when that request reads the mark), then deletes the tokens and
// sessions there are. The mark comes first: a credential stored after
// the delete is one whose maker reads the mark after storing it.
func (s *server) endCredentials(ctx context.Context, userID string) error {
	if err := s.store.MarkCredentialsReset(ctx, userID, s.now()); err != nil {
		return err
	}
	_, err := s.store.DeleteUserCredentials(ctx, userID)
	return err
}

// parseInviteForm reads the invitation form: password and confirm, each
// once, equal.
func parseInviteForm(body string) (string, string) {
	v, err := url.ParseQuery(body)
	if err != nil {
		return "", "The form could not be read."
	}
	pw, ok1 := singleField(v, "password")
	confirm, ok2 := singleField(v, "confirm")
	switch {
	case !ok1 || !ok2:
		return "", "Fill in the password twice."
	case pw != confirm:
		return "", "The two passwords differ."
	}
	return pw, ""
}

// ---- Signing in with a password ----

// viaOIDC marks a link to /auth/google as the provider's button, which
// with accounts on would otherwise lead back to the sign-in page.
func viaOIDC(query string) string {
	if query == "" {
		return "?via=oidc"
	}
	return query + "&via=oidc"
}

// signInForm is what the sign-in form posts.
type signInForm struct {
	Email    string
	Password string
	App      url.Values // the desktop app's parameters, as parseAppRequest reads them
}

// parseSignInForm reads the sign-in form: email and password once each,
// and the app's parameters.
func parseSignInForm(body string) (signInForm, string) {
	v, err := url.ParseQuery(body)
	if err != nil {
		return signInForm{}, "The form could not be read."
	}
	email, ok1 := singleField(v, "email")
	pw, ok2 := singleField(v, "password")
	if !ok1 || !ok2 {
		return signInForm{}, "Fill in your email and password."
	}
	app := url.Values{}
	for _, k := range appParams {
		if vs, ok := v[k]; ok {
			app[k] = vs
		}
	}
	return signInForm{Email: normalEmail(email), Password: pw, App: app}, ""
}

// msgWrongPassword is the one answer to an unknown email, a wrong password
// and a disabled account alike.
const msgWrongPassword = "The email or password is not right."

// handlePasswordSignIn handles "POST /auth/password". An unknown email, a
// wrong password and a disabled account get the same page, after the same
// work (a hash is verified in each case). Each account and each client
// address may fail a few times freely, then waits longer after each
// failure (failureDelay).
func (s *server) handlePasswordSignIn(w http.ResponseWriter, r *http.Request) {
	if !s.formPost(w, r) {
		return
	}
	body, ok := s.readForm(w, r)
	if !ok {
		return
	}
	form, problem := parseSignInForm(body)
	app, appProblem := s.parseAppRequest(form.App)
	if problem = cmp.Or(problem, appProblem); problem != "" {
		s.renderError(w, http.StatusBadRequest, problem)
		return
	}
	pa := s.signIn.accounts
	checkedAt := s.now() // before the hash is read: a reset from then on voids this sign-in
	acct, err := s.store.FindAccount(r.Context(), form.Email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.failPage(w, r, err)
		return
	}
	device := s.deviceKey(r, acct.ID)
	now := s.now()
	// The address's delay is the rate limiter's unit, an IPv6 /64: an
	// attacker with one would otherwise move on to its next address.
	network := clientNetwork(s.clientAddr(r)).String()
	if wait := pa.admit(network, form.Email, device, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.renderError(w, http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins for this account or from your address. Try again in %d seconds.", int(math.Ceil(wait.Seconds()))))
		return
	}
	ok, err = s.passwordMatches(r.Context(), acct, form.Password)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	if !ok {
		s.renderPage(w, http.StatusUnauthorized, loginPage{Title: "Sign in", Error: msgWrongPassword,
			Password: &passwordForm{Email: form.Email, App: app}, SignInURL: s.oidcButton(app), SignInLabel: s.signInLabel(app)})
		return
	}
	pa.succeeded(network, form.Email, device)
	s.setDeviceCookie(w, r, acct.ID, now)
	s.finishSignIn(w, r, acct.ID, app, checkedAt)
}

// oidcButton is the provider's link on the sign-in page, "" when OIDC is off.
func (s *server) oidcButton(app appRequest) string {
	if !s.cfg.oidcSignIn() {
		return ""
	}
	return "/auth/google" + viaOIDC(app.query())
}

// passwordMatches verifies pw against the account's hash, or against a
// dummy hash when there is no account, no password or the account is
// disabled, so that each case costs one verification.
func (s *server) passwordMatches(ctx context.Context, acct User, pw string) (bool, error) {
	usable := acct.ID != "" && acct.PasswordHash != "" && !acct.Disabled
	return s.signIn.accounts.hasher.verifyOrDummy(ctx, acct.PasswordHash, usable, pw, func(err error) {
		s.log.Error("stored password hash unreadable", "user", acct.ID, "err", err)
	})
}

// formPost checks what every form post of the accounts pages needs: it
// comes from our own origin (the cross-origin protection the cookie API
// has: a login CSRF would sign the victim in as the attacker) and is a
// urlencoded form. On false the error page has been written.
func (s *server) formPost(w http.ResponseWriter, r *http.Request) bool {
	if err := s.csrf.Check(r); err != nil {
		s.renderError(w, http.StatusForbidden, "This form was sent from another site, so it was refused.")
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		s.renderError(w, http.StatusUnsupportedMediaType, "Send the form as application/x-www-form-urlencoded.")
		return false
	}
	return true
}

// readForm reads a bounded form body.
func (s *server) readForm(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		s.renderError(w, http.StatusRequestEntityTooLarge, "The form is too large.")
		return "", false
	}
	return string(b), true
}

// setDeviceCookie remembers, in this browser, that it signed in to the
// account: a signed cookie naming the account and this device, sent only
// to the password form's target.
func (s *server) setDeviceCookie(w http.ResponseWriter, r *http.Request, userID string, now time.Time) {
	value := s.signer.sign(deviceCookie, userID+" "+newSecret(16), now)
	s.setCookie(w, r, deviceCookie, value, "/auth/password", int(deviceCookieTTL.Seconds()))
}

// deviceKey is the device named by the request's device cookie if it was
// issued for the account userID, else "".
func (s *server) deviceKey(r *http.Request, userID string) string {
	c, err := r.Cookie(deviceCookie)
	if err != nil || userID == "" {
		return ""
	}
	payload, err := s.signer.verify(deviceCookie, c.Value, deviceCookieTTL, s.now())
	id, device, ok := strings.Cut(payload, " ")
	if err != nil || !ok || id != userID {
		return ""
	}
	return userID + " " + device
}
