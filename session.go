package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// errBadCookie covers every way a signed cookie can fail verification; the
// reason is never told to the client.
var errBadCookie = errors.New("invalid signed cookie")

// cookieSigner signs and verifies cookie values by hand:
//
//	value = base64url(payload) "." unix-seconds "." base64url(mac)
//	mac   = HMAC-SHA256(key, name "\x00" unix-seconds "\x00" payload)
//
// The MAC covers the cookie name, so a value minted for one cookie is
// refused as another, and the issue time, so age is enforced here on the
// server whatever Max-Age the browser was told.
type cookieSigner struct {
	keys [][]byte // keys[0] signs; every key verifies (rotation)
}

// newCookieSigner derives a cookie-signing key from each secret, so the raw
// SECRET_KEY is never used directly for two purposes.
func newCookieSigner(current []byte, previous ...[]byte) *cookieSigner {
	s := &cookieSigner{keys: [][]byte{deriveKey(current, "cookie")}}
	for _, p := range previous {
		if len(p) > 0 {
			s.keys = append(s.keys, deriveKey(p, "cookie"))
		}
	}
	return s
}

// deriveKey gives an independent key for each use of one secret.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dropp/" + purpose))
	return m.Sum(nil)
}

// sign returns the cookie value carrying payload, issued at now.
func (s *cookieSigner) sign(name, payload string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := cookieMAC(s.keys[0], name, ts, payload)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + ts + "." +
		base64.RawURLEncoding.EncodeToString(mac)
}

// verify returns the payload of a cookie value if a known key signed it for
// this cookie name and it was issued no more than maxAge before now.
func (s *cookieSigner) verify(name, value string, maxAge time.Duration, now time.Time) (string, error) {
	parts := strings.Split(value, ".")
	if len(parts) != 3 {
		return "", errBadCookie
	}
	payload, err1 := decodeCanonicalBase64(parts[0])
	mac, err2 := decodeCanonicalBase64(parts[2])
	issued, err3 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || len(mac) != sha256.Size {
		return "", errBadCookie
	}
	if !s.macMatches(mac, name, parts[1], string(payload)) {
		return "", errBadCookie
	}
	age := now.Sub(time.Unix(issued, 0))
	if age > maxAge || age < -time.Minute { // a little clock skew between instances
		return "", errBadCookie
	}
	return string(payload), nil
}

// decodeCanonicalBase64 decodes unpadded base64url, refusing every text but
// the one encoding of its bytes. The decoder alone ignores the unused low
// bits of the last character and any CR or LF, so a flipped bit there
// would leave a cookie valid.
func decodeCanonicalBase64(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && base64.RawURLEncoding.EncodeToString(b) != s {
		err = errBadCookie
	}
	return b, err
}

// macMatches tells whether mac signs the cookie under any of the keys (the
// current one, or the previous during a key rotation).
func (s *cookieSigner) macMatches(mac []byte, name, ts, payload string) bool {
	ok := false
	for _, k := range s.keys {
		// Check every key so the time taken does not tell which one matched.
		if hmac.Equal(mac, cookieMAC(k, name, ts, payload)) {
			ok = true
		}
	}
	return ok
}

// cookieMAC is the MAC of the cookieSigner format: zero bytes, which neither
// a cookie name nor a timestamp contains, keep the three parts apart.
func cookieMAC(key []byte, name, ts, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// newSecret returns n random bytes, base64url-encoded: the form of every
// token, session id, state and code Dropp hands out.
func newSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is how secrets are stored: only their SHA-256, so a leaked
// database hands out no working token.
func hashSecret(secret string) string {
	// It runs on every authenticated request, so only the result is
	// allocated: the secret is copied to the stack ([]byte(secret) is
	// allocated past 32 bytes) and hex-encoded there.
	var buf [128]byte // holds any secret validSecret passes
	sum := sha256.Sum256(append(buf[:0], secret...))
	var digest [2 * sha256.Size]byte
	hex.Encode(digest[:], sum[:])
	return string(digest[:])
}

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

// validSecret accepts the base64url form newSecret produces, bounded, so
// junk never reaches a query.
func validSecret(s string) bool {
	return len(s) >= 22 && len(s) <= 128 && allBytes(s, alnumOr("-_"))
}

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

// startSession records a new server-side session for userID and sets its
// signed cookie. A new session id every time: a cookie planted before
// sign-in is never upgraded.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, userID string) error {
	// A session this browser already had ends here, so an old cookie
	// (perhaps copied off this machine) does not outlive the new sign-in.
	if old, ok := s.sessionSecret(r); ok {
		if err := s.store.DeleteCredential(r.Context(), kindSession, hashSecret(old)); err != nil {
			return err
		}
	}
	secret := newSecret(32)
	now := s.now()
	c := Credential{Hash: hashSecret(secret), Kind: kindSession, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.InsertCredential(r.Context(), c); err != nil {
		return err
	}
	value := s.signer.sign(sessionCookie, secret, now)
	s.setCookie(w, r, s.sessionCookieName(r), value, "/", int(s.cfg.SessionTTL.Seconds()))
	w.Header().Set("Cache-Control", "no-store")
	return nil
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
