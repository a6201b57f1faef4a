package main

// The OpenID provider as Dropp sees it: discovery, the code exchange, the
// JWKS keys and the ID token checks, all written against the standard
// library and golang.org/x/oauth2.

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// oidcProvider is the OpenID provider at an issuer URL: its discovery
// document, fetched when first needed and refreshed daily, and its signing
// keys (see publicKey).
type oidcProvider struct {
	issuer, clientID string
	client           *http.Client

	meta providerDoc[*providerMeta]
	keys providerDoc[map[string]*rsa.PublicKey] // by kid
}

// newOIDCProvider prepares, without any network call, the provider at
// issuer for our client id.
func newOIDCProvider(issuer, clientID string) *oidcProvider {
	return &oidcProvider{
		issuer: issuer, clientID: clientID,
		client: &http.Client{Timeout: providerTimeout, CheckRedirect: refuseHTTPSDowngrade},
	}
}

// refuseHTTPSDowngrade is the provider client's redirect policy: the
// standard limit of 10, and never from https to http, where the code
// exchange and the documents that vouch for ID tokens could be read or
// replaced on the way.
func refuseHTTPSDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect from https to %s refused", req.URL.Scheme)
	}
	return nil
}

// providerDoc is one of the provider's documents (discovery, JWKS) as
// cached here. One fetch runs at a time and no lock is held across it: a
// request that can use the cached copy meanwhile does, others wait for the
// fetch's result.
type providerDoc[T any] struct {
	mu       sync.Mutex
	val      T
	at       time.Time     // when val was fetched; zero until a fetch succeeds
	err      error         // the last fetch's error; nil after a success
	nextTry  time.Time     // no fetch starts before then
	inflight chan struct{} // closed when the fetch in flight ends; nil if none
}

// docVerdict is what a caller of providerDoc.get makes of the cached copy:
// fresh needs no fetch; otherwise unusable says why it must not be used
// (nil: it will do if no fresher copy can be had).
type docVerdict struct {
	fresh    bool
	unusable error
}

// errNoProviderDoc: nothing fetched yet (only seen if a fetch never ran).
var errNoProviderDoc = fmt.Errorf("%w: provider document not fetched", errProvider)

// get returns the cached copy if judge finds it fresh. Otherwise it
// fetches, unless a fetch is in flight (then it waits, or uses the copy if
// judge allows) or the last one was too recent (refetchAfter after a
// success, discoveryRetryAfter after a failure: a failing or hostile
// provider is not asked at every request). After a failed fetch a usable
// copy is still served.
func (d *providerDoc[T]) get(ctx context.Context, now time.Time, refetchAfter time.Duration,
	judge func(val T, age time.Duration) docVerdict, fetch func(context.Context) (T, error)) (T, error) {
	for {
		d.mu.Lock()
		v := docVerdict{unusable: errNoProviderDoc}
		if !d.at.IsZero() {
			v = judge(d.val, now.Sub(d.at))
		}
		val, lastErr, inflight := d.val, d.err, d.inflight
		start := !v.fresh && inflight == nil && !now.Before(d.nextTry)
		if start {
			d.inflight = make(chan struct{})
		}
		d.mu.Unlock()
		switch {
		case v.fresh || !start && v.unusable == nil:
			return val, nil
		case start:
			d.refetch(ctx, now, refetchAfter, fetch)
		case inflight != nil:
			select {
			case <-inflight:
			case <-ctx.Done():
				var zero T
				return zero, fmt.Errorf("%w: waiting for the provider: %v", errProvider, ctx.Err())
			}
		default:
			var zero T
			return zero, cmp.Or(lastErr, v.unusable)
		}
	}
}

// refetch runs the fetch get started and records its outcome. It is not
// cut short by the caller's context: others may be waiting for it.
func (d *providerDoc[T]) refetch(ctx context.Context, now time.Time, refetchAfter time.Duration, fetch func(context.Context) (T, error)) {
	val, err := fetch(context.WithoutCancel(ctx))
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		d.val, d.at, d.nextTry = val, now, now.Add(refetchAfter)
	} else {
		d.nextTry = now.Add(discoveryRetryAfter)
	}
	d.err = err
	close(d.inflight)
	d.inflight = nil
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

// discover returns the provider's metadata, fetched on first use and
// refreshed once it is discoveryMaxAge old. Should a refresh fail, the
// copy in hand keeps serving: endpoints seldom move, and the ID token
// checks do not rest on it alone.
func (p *oidcProvider) discover(ctx context.Context, now time.Time) (*providerMeta, error) {
	judge := func(_ *providerMeta, age time.Duration) docVerdict { return docVerdict{fresh: age < discoveryMaxAge} }
	return p.meta.get(ctx, now, discoveryMaxAge, judge, p.fetchMeta)
}

// fetchMeta reads and checks the discovery document.
func (p *oidcProvider) fetchMeta(ctx context.Context) (*providerMeta, error) {
	var m providerMeta
	if err := p.getJSON(ctx, strings.TrimSuffix(p.issuer, "/")+"/.well-known/openid-configuration", &m); err != nil {
		return nil, err
	}
	if err := m.check(p.issuer); err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", errProvider, err)
	}
	return &m, nil
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
// the provider. If a refetch fails, keys up to jwksStaleLimit old still
// verify: a provider's brief outage does not stop sign-in.
func (p *oidcProvider) publicKey(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, error) {
	judge := func(keys map[string]*rsa.PublicKey, age time.Duration) docVerdict {
		switch _, ok := keys[kid]; {
		case !ok:
			return docVerdict{unusable: fmt.Errorf("%w: ID token signed with unknown key %q", errProvider, kid)}
		case age >= jwksStaleLimit:
			return docVerdict{unusable: fmt.Errorf("%w: signing keys are %v old", errProvider, age.Round(time.Minute))}
		}
		return docVerdict{fresh: age < jwksMaxAge}
	}
	fetch := func(ctx context.Context) (map[string]*rsa.PublicKey, error) { return p.fetchKeys(ctx, now) }
	keys, err := p.keys.get(ctx, now, jwksMinRefetch, judge, fetch)
	if err != nil {
		return nil, err
	}
	return keys[kid], nil
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
func (p *oidcProvider) fetchKeys(ctx context.Context, now time.Time) (map[string]*rsa.PublicKey, error) {
	meta, err := p.discover(ctx, now)
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
	NotBefore       float64   `json:"nbf"` // 0 when absent
	IssuedAt        float64   `json:"iat"` // 0 when absent
	Nonce           string    `json:"nonce"`
	Email           string    `json:"email"`
	EmailVerified   looseBool `json:"email_verified"`
	HostedDomain    string    `json:"hd"` // Google: the account's Workspace domain; "" for a personal account
	Name            string    `json:"name"`
	Picture         string    `json:"picture"`
	// all is every claim as sent, for those read by a name or a presence
	// the fixed fields above cannot tell (see groups, emailVerifiedSent).
	all map[string]json.RawMessage
}

// emailVerifiedSent tells whether the token said anything about
// email_verified: non-Google providers often leave it out.
func (c *idClaims) emailVerifiedSent() bool {
	_, ok := c.all["email_verified"]
	return ok
}

// maxGroups and maxGroupLen bound the groups kept from a token: far more
// than any team uses, and the token itself is at most 16 KiB.
const (
	maxGroups   = 1000
	maxGroupLen = 256
)

// groups reads the user's groups from the claim named: a JSON array of
// strings (Keycloak, Authentik, Azure AD, Okta), or a single string (some
// providers send one group so). Absent or null is no groups. Anything else
// (a number, an object, an array holding one) is an error: a provider
// configured to send something else must not pass as "no groups" silently.
// The groups come back sorted and without duplicates or empty names.
func (c *idClaims) groups(claim string) ([]string, error) {
	return parseGroupsClaim(c.all[claim])
}

// parseGroupsClaim is groups on the claim's raw JSON.
func parseGroupsClaim(raw json.RawMessage) ([]string, error) {
	var list []string
	switch t := strings.TrimSpace(string(raw)); {
	case t == "" || t == "null":
		return nil, nil
	case strings.HasPrefix(t, `"`):
		var one string
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, errors.New("groups claim is not a valid string")
		}
		list = []string{one}
	case strings.HasPrefix(t, "["):
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errors.New("groups claim is an array of something other than strings")
		}
	default:
		return nil, errors.New("groups claim is neither a string nor an array of strings")
	}
	slices.Sort(list)
	list = slices.DeleteFunc(slices.Compact(list), func(g string) bool { return g == "" })
	if len(list) > maxGroups || slices.ContainsFunc(list, func(g string) bool { return len(g) > maxGroupLen }) {
		return nil, fmt.Errorf("groups claim has over %d groups or a group name over %d bytes", maxGroups, maxGroupLen)
	}
	return list, nil
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
	Typ  string   `json:"typ"`
	Crit []string `json:"crit"`
}

// verifyIDToken checks an ID token's RS256 signature against the
// provider's keys, then its claims: iss, aud (and azp), exp, nbf, iat,
// sub, nonce. The claims come back with the issuer as configured, so each
// account is stored under one spelling of it.
func (p *oidcProvider) verifyIDToken(ctx context.Context, raw, nonce string, now time.Time) (idClaims, error) {
	payload, err := p.verifySignature(ctx, raw, now)
	if err != nil {
		return idClaims{}, err
	}
	var c idClaims
	if err := errors.Join(json.Unmarshal(payload, &c), json.Unmarshal(payload, &c.all)); err != nil {
		return idClaims{}, fmt.Errorf("%w: ID token claims: %v", errProvider, err)
	}
	if err := c.check(p.issuer, p.clientID, nonce, now); err != nil {
		return idClaims{}, fmt.Errorf("%w: ID token: %v", errProvider, err)
	}
	c.Issuer = p.issuer
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
	// typ is optional, but when present it must say this is a JWT, not
	// another kind of token signed with the same keys (RFC 7519 §5.1).
	if h.Typ != "" && !strings.EqualFold(h.Typ, "JWT") {
		return nil, fmt.Errorf("%w: ID token typ %q, want JWT", errProvider, h.Typ)
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

// check validates the claims as OIDC Core §3.1.3.7 requires. iat and nbf
// are checked when present (iat only against the future: exp bounds the
// past).
func (c *idClaims) check(issuer, clientID, nonce string, now time.Time) error {
	switch {
	case c.Issuer != issuer && !(issuer == googleIssuer && c.Issuer == googleIssuerBare):
		// Google documents both spellings of its issuer in ID tokens.
		return fmt.Errorf("iss %q, want %q", c.Issuer, issuer)
	case !slices.Contains(c.Audience, clientID):
		return fmt.Errorf("aud %q does not include our client id", c.Audience)
	case len(c.Audience) > 1 && c.AuthorizedParty == "":
		return fmt.Errorf("aud %q names other clients too, and azp is missing", c.Audience)
	case c.AuthorizedParty != "" && c.AuthorizedParty != clientID:
		return fmt.Errorf("azp %q is not our client id", c.AuthorizedParty)
	case !now.Before(claimTime(c.Expiry).Add(idTokenLeeway)):
		return fmt.Errorf("expired at %v", claimTime(c.Expiry))
	case c.NotBefore != 0 && claimTime(c.NotBefore).After(now.Add(idTokenFutureSkew)):
		return fmt.Errorf("not valid before %v", claimTime(c.NotBefore))
	case c.IssuedAt != 0 && claimTime(c.IssuedAt).After(now.Add(idTokenFutureSkew)):
		return fmt.Errorf("issued in the future, at %v", claimTime(c.IssuedAt))
	case c.Subject == "" || len(c.Subject) > 255:
		return errors.New("missing or oversized sub")
	case nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1:
		return errors.New("nonce does not match")
	}
	return nil
}

// claimTime is a NumericDate claim (seconds since the epoch) as a time.
func claimTime(seconds float64) time.Time { return time.Unix(int64(seconds), 0).UTC() }

// Lifetimes and bounds of the calls to the OpenID provider and of the
// documents and ID tokens it hands back.
const (
	providerTimeout     = 10 * time.Second // every call to the provider
	maxProviderBody     = 1 << 20          // discovery and JWKS documents
	jwksMinRefetch      = time.Minute      // an unknown kid refetches keys at most this often
	discoveryRetryAfter = 5 * time.Second  // a failed discovery (or JWKS) fetch is answered again until then
	discoveryMaxAge     = 24 * time.Hour   // the discovery document is refreshed after this
	jwksMaxAge          = time.Hour        // cached keys are refreshed after this
	jwksStaleLimit      = 24 * time.Hour   // ...but verify up to this age while refreshes fail
	idTokenLeeway       = time.Minute      // clock skew allowed on exp
	idTokenFutureSkew   = 5 * time.Minute  // clock skew allowed on nbf and iat
)

// errProvider: the provider was unreachable or answered something that
// did not verify. Details are logged, never shown.
var errProvider = errors.New("sign-in provider failed")
