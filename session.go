package main

// Sessions: the session and sign-in state cookies, signed by s.signer
// (secrets.go), and the tokens a sign-in issues.

import (
	"context"
	"net/http"
	"time"
)

// setCookie sets (maxAge > 0) or clears (maxAge < 0) one of Dropp's
// cookies, all with the same attributes: never readable by script, Secure
// whenever the client reached us over HTTPS, and SameSite=Lax: sent on a
// top-level navigation (the provider sends the browser back to the callback
// with a GET), never on another site's POST.
func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
}

// issueToken mints a bearer token for userID: 256 random bits, of which
// only the hash is stored.
func (s *server) issueToken(ctx context.Context, userID string) (string, time.Time, error) {
	token := newSecret(32)
	now := s.now()
	c := Credential{Hash: hashSecret(token), Kind: kindBearer, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.TokenTTL)}
	if err := s.store.InsertCredential(ctx, c); err != nil {
		return "", time.Time{}, err
	}
	return token, c.ExpiresAt, nil
}

// startSession records a new server-side session for userID, sets its
// signed cookie and returns its hash. A new session id every time: a
// cookie planted before sign-in is never upgraded.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, userID string) (string, error) {
	// A session this browser already had ends here, so an old cookie
	// (perhaps copied off this machine) does not outlive the new sign-in.
	if old, ok := s.sessionSecret(r); ok {
		if err := s.store.DeleteCredential(r.Context(), kindSession, hashSecret(old)); err != nil {
			return "", err
		}
	}
	secret := newSecret(32)
	now := s.now()
	c := Credential{Hash: hashSecret(secret), Kind: kindSession, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.InsertCredential(r.Context(), c); err != nil {
		return "", err
	}
	value := s.signer.sign(sessionCookie, secret, now)
	s.setCookie(w, r, s.sessionCookieName(r), value, "/", int(s.cfg.SessionTTL.Seconds()))
	w.Header().Set("Cache-Control", "no-store")
	return c.Hash, nil
}

// stateCookie binds a provider sign-in to the browser that started it. It
// is signed under this name, so no other cookie's value passes for it.
const stateCookie = "dropp_oauth_state"

// stateCookieName gets the __Secure- prefix over HTTPS (not __Host-: the
// cookie is scoped to the callback path).
func (s *server) stateCookieName(r *http.Request) string {
	if s.isHTTPS(r) {
		return "__Secure-" + stateCookie
	}
	return stateCookie
}

// setStateCookie sets (maxAge > 0) or clears (maxAge < 0) the state cookie,
// which only the callback needs to see.
func (s *server) setStateCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	s.setCookie(w, r, s.stateCookieName(r), value, "/auth/google/callback", maxAge)
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

// authStateTTL bounds the provider round trip of a sign-in (the user may pick
// an account, type a password): the life of the sign-in state cookie.
const authStateTTL = 10 * time.Minute
