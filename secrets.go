package main

// Secrets: random tokens, the hashes the stores keep of them, and the HMAC
// that signs cookies (cookieSigner), with rotation of its key.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
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

// validSecret accepts the base64url form newSecret produces, bounded, so
// junk never reaches a query.
func validSecret(s string) bool {
	return len(s) >= 22 && len(s) <= 128 && allBytes(s, alnumOr("-_"))
}
