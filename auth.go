package main

// Who is asking: a session cookie, a desktop app's bearer token, a personal
// access token or a trusted proxy's X-User-Id; whether that account may
// still use the server; and what a token's scopes let it do.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// errUnauthenticated: no valid credential was presented.
var errUnauthenticated = errors.New("unauthenticated")

// errNoLongerAllowed: the credential is valid, but its user is no longer
// on the allow-lists, so it is not honoured (a 401, like any credential
// that does not hold; it is kept, and works again if the user is let back).
var errNoLongerAllowed = fmt.Errorf("%w: account no longer allowed", errUnauthenticated)

// errDisabled: the credential holds, or a trusted proxy names the user,
// but an administrator disabled that user (a 401, like errNoLongerAllowed).
var errDisabled = fmt.Errorf("%w: account disabled", errUnauthenticated)

// errStaleCredential: a bearer token or session cookie was presented, but
// it does not hold: expired, revoked (signed out, a reset, a disable that
// deleted it) or never issued. Its answer says to sign in again, not to
// send a token the client already sends.
var errStaleCredential = fmt.Errorf("%w: credential expired, revoked or unknown", errUnauthenticated)

// errResetMeanwhile: the account's credentials were reset (an invitation
// used: accounts.go) after the request's credential was issued, so what
// the request made on its strength is taken back (a 401).
var errResetMeanwhile = fmt.Errorf("%w: credentials reset", errUnauthenticated)

// kindProxy marks a user named by a trusted proxy's X-User-Id.
const kindProxy = "proxy"

// authenticate finds who a request acts for. A presented but invalid
// credential never falls through to a weaker one.
func (s *server) authenticate(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !validSecret(token) {
			return principal{}, errUnauthenticated
		}
		return s.findPrincipal(r.Context(), bearerKind(token), token)
	}
	if _, err := r.Cookie(s.sessionCookieName(r)); err == nil {
		secret, ok := s.sessionSecret(r)
		if !ok {
			return principal{}, errStaleCredential
		}
		return s.findPrincipal(r.Context(), kindSession, secret)
	}
	// With TRUSTED_PROXIES set, only those proxies may name the user.
	if s.cfg.TrustXUserID && (len(s.cfg.TrustedProxies) == 0 || s.fromTrustedProxy(r)) {
		if id := r.Header.Get("X-User-Id"); validProxyUserID(id) {
			if err := s.checkEnabled(r.Context(), id); err != nil {
				return principal{}, err
			}
			return principal{userID: id, kind: kindProxy}, nil
		}
	}
	return principal{}, errUnauthenticated
}

// findPrincipal looks a bearer token or session secret up by its hash; the
// server-side record is what makes a revoked credential stay dead.
func (s *server) findPrincipal(ctx context.Context, kind, secret string) (principal, error) {
	hash := hashSecret(secret)
	c, err := s.store.FindCredential(ctx, kind, hash, s.now())
	if errors.Is(err, ErrNotFound) {
		return principal{}, errStaleCredential
	}
	if err != nil {
		return principal{}, err
	}
	if c.UserDisabled {
		return principal{}, errDisabled
	}
	if c.UserID == serverWideOwner {
		// Stored users' IDs are newID's, never this one; a record that
		// has it (hand-made, or carried over by a migration) names no one.
		return principal{}, errUnauthenticated
	}
	if err := s.checkMember(ctx, c.UserID); err != nil {
		return principal{}, err
	}
	if kind == kindPAT {
		s.touchToken(ctx, c)
	}
	return principal{userID: c.UserID, kind: kind, hash: hash, scope: c.Scope, issued: c.CreatedAt}, nil
}

// checkEnabled refuses a user an administrator disabled, on every path in
// and at every request, read from the store (no cache), so a disable holds
// at once on every instance. Disabling deletes the user's tokens and
// sessions too, but a proxy's X-User-Id is no credential Dropp can delete.
// A credential's lookup reads the flag with it (Credential.UserDisabled:
// one round trip, and a credential stored after the disable is refused
// too), so only a proxy's user is checked here. A user with no record (a
// proxy's user who never signed in here) is not disabled.
func (s *server) checkEnabled(ctx context.Context, userID string) error {
	disabled, err := s.refuseDisabled(ctx, userID)
	if err == nil && disabled {
		return errDisabled
	}
	return err
}

// checkMember applies the allow-lists to a credential's user at every use,
// not only at sign-in, from the user's stored email and groups (cached
// briefly: no round trip per request). A user named by a trusted proxy's
// X-User-Id is not checked: that proxy signs its users in and answers for
// them.
func (s *server) checkMember(ctx context.Context, userID string) error {
	if s.cfg.localSignIn() || !membershipLimited(s.cfg) {
		return nil
	}
	m, err := s.signIn.members.get(ctx, s.store, userID, s.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return errNoLongerAllowed
	case err != nil:
		return err
	case !memberAllowed(s.cfg, m):
		return errNoLongerAllowed
	}
	return nil
}

// voidedMeanwhile checks again, once a request has stored a credential
// (a token, a passkey), that the credential it authenticated with, issued
// at issued, still holds: errDisabled if its user was disabled since the
// request began, errResetMeanwhile if the account was reset since issued
// (zero for a trusted proxy's user: no credential of ours, nothing a
// reset ends). The disable and the reset write their mark before they
// delete credentials, so either this sees the mark or what was stored is
// gone.
func (s *server) voidedMeanwhile(ctx context.Context, userID string, issued time.Time) error {
	u, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound): // a proxy's user: no record, never reset
		return nil
	case err != nil:
		return err
	case u.Disabled:
		return errDisabled
	case !issued.IsZero() && u.resetSince(issued):
		return errResetMeanwhile
	}
	return nil
}

// validProxyUserID bounds what a trusted proxy may name a user: 1 to 256
// printable ASCII characters, no spaces, and never serverWideOwner, whose
// endpoints receive every user's events: a proxy user named "*" would
// hold the administrators' server-wide webhooks.
func validProxyUserID(id string) bool {
	return id != "" && id != serverWideOwner && len(id) <= 256 && allBytes(id, func(c byte) bool { return ' ' < c && c < 0x7f })
}

// refuseDisabled tells whether the user is disabled, so a sign-in or a
// code redemption must stop. A user without a record is not disabled.
func (s *server) refuseDisabled(ctx context.Context, userID string) (bool, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return u.Disabled, err
}

// touchInterval bounds how often a user's last_seen_at is written: at
// most once per this interval per user and instance.
const touchInterval = 5 * time.Minute

// touch records that userID made a request at now, writing it to the store
// if the last write is older than touchInterval. Failures only log.
func (s *server) touch(ctx context.Context, userID string) {
	now := s.now()
	s.seen.mu.Lock()
	last, ok := s.seen.m[userID]
	due := !ok || now.Sub(last) >= touchInterval
	if due {
		if s.seen.m == nil || len(s.seen.m) >= memberCacheMax {
			s.seen.m = map[string]time.Time{}
		}
		s.seen.m[userID] = now
	}
	s.seen.mu.Unlock()
	if !due {
		return
	}
	if err := s.store.TouchUser(ctx, userID, now); err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Warn("recording last_seen_at", "user", userID, "err", err)
	}
}

// ---- Personal access tokens' scopes (tokens.go is their API) ----

const (
	// patPrefix starts every personal access token, so that secret
	// scanners find a leaked one and the server knows its kind unseen.
	patPrefix = "dropp_pat_"
	// patTouchInterval bounds how often a token's last use is written:
	// at most once per interval per token, across instances.
	patTouchInterval = time.Minute
)

// The scopes a personal access token may hold. scopeNone marks the routes
// no token may use.
const (
	scopeNone          = ""
	scopeFilesRead     = "files:read"     // list, download, /me
	scopeFilesWrite    = "files:write"    // upload, complete, part URLs, delete
	scopeSharesWrite   = "shares:write"   // share links (and drops)
	scopeRequestsWrite = "requests:write" // file requests
)

// bearerKind tells a personal access token from a desktop app's token by
// its prefix.
func bearerKind(token string) string {
	if strings.HasPrefix(token, patPrefix) {
		return kindPAT
	}
	return kindBearer
}

// holds tells whether who may use a route that needs scope: a personal
// access token only if it holds it, every other credential always.
func (p principal) holds(scope string) bool {
	if p.kind != kindPAT {
		return true
	}
	return scope != scopeNone && slices.Contains(strings.Fields(p.scope), scope)
}

// refuseScope answers 403 to a token that lacks scope, naming it in the
// error shape and in WWW-Authenticate (RFC 6750 §3.1).
func refuseScope(w http.ResponseWriter, scope string) {
	if scope == scopeNone {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, codeInsufficientScope,
			"a personal access token cannot use this route: sign in (browser or desktop app) instead")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
	writeError(w, http.StatusForbidden, codeInsufficientScope, "this token lacks the scope "+scope)
}

// touchToken records that the token c was used now, unless its recorded
// last use is recent: most requests then write nothing and ask nothing
// more of the store, and the store's conditional update keeps concurrent
// requests to one write per interval. Failures only log.
func (s *server) touchToken(ctx context.Context, c Credential) {
	now := s.now()
	if !c.LastUsedAt.IsZero() && now.Sub(c.LastUsedAt) < patTouchInterval {
		return
	}
	if _, err := s.store.TouchToken(ctx, c.Hash, now, patTouchInterval); err != nil {
		s.log.Warn("recording a token's last use", "token", c.TokenID, "err", err)
	}
}

// ---- The session cookie (session.go starts sessions) ----

// sessionCookie is the session cookie's base name; over HTTPS it gets the
// __Host- prefix, which makes browsers insist on Secure, Path=/ and no
// Domain.
const sessionCookie = "dropp_session"

// sessionCookieName is the session cookie's name on this request.
func (s *server) sessionCookieName(r *http.Request) string {
	if s.isHTTPS(r) {
		return "__Host-" + sessionCookie
	}
	return sessionCookie
}

// sessionSecret returns the secret in the request's session cookie when its
// signature and age hold.
func (s *server) sessionSecret(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.sessionCookieName(r))
	if err != nil {
		return "", false
	}
	secret, err := s.signer.verify(sessionCookie, c.Value, s.cfg.SessionTTL, s.now())
	return secret, err == nil && validSecret(secret)
}

// ---- A user as the API shows them ----

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

// msgDisabled is what a disabled user is told at sign-in.
const msgDisabled = "This account has been disabled by an administrator of this server."

// msgNoLongerAllowed answers a credential or grant of a user taken off the
// allow-lists (errNoLongerAllowed).
const msgNoLongerAllowed = "this account is no longer allowed to use this server; ask its administrator"
