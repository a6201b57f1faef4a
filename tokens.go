package main

// Personal access tokens: a signed-in user makes a token for a script, a
// backup job or a CI pipeline, which cannot sign in through a browser. A
// token has a name, scopes and an expiry; its secret is shown once, has a
// prefix secret scanners recognise, and only its SHA-256 is stored. It is
// a credential like the desktop app's bearer tokens (store.go, kindPAT),
// so disabling its user, the sweeper and sign-out's checks treat it alike,
// but it may use only the routes the route table gives one of its scopes
// (requireScope): never the token routes, the admin API or sign-out, so a
// token can neither make tokens nor widen its own scopes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// patSecretBytes is the randomness after the prefix: 256 bits.
	patSecretBytes = 32
	// maxTokenName is the longest token name, in characters.
	maxTokenName = 100
)

// patNoExpiry is the expiry of a token that never expires
// (PAT_ALLOW_NO_EXPIRY): a date every store keeps, which every expiry
// check and TTL index handles like any other.
var patNoExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// patScopes lists every scope, in the order answers list them.
var patScopes = []string{scopeFilesRead, scopeFilesWrite, scopeSharesWrite, scopeRequestsWrite}

// ---- The API ----

// tokenJSON is a personal access token as the API shows it; the secret
// only in the answer that creates it. A null expires_at never expires; a
// null last_used_at was never used.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Secret     string     `json:"secret,omitempty"`
}

// toTokenJSON shows a token as the API does, without its secret.
func toTokenJSON(c *Credential) tokenJSON {
	out := tokenJSON{
		ID: c.TokenID, Name: c.Name, Scopes: strings.Fields(c.Scope),
		CreatedAt: c.CreatedAt, LastUsedAt: timeOrNil(c.LastUsedAt), ExpiresAt: timeOrNil(c.ExpiresAt),
	}
	if !c.ExpiresAt.Before(patNoExpiry) {
		out.ExpiresAt = nil
	}
	return out
}

// createTokenRequest is the body of POST /tokens.
type createTokenRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// ExpiresIn is seconds, or "never" where PAT_ALLOW_NO_EXPIRY allows
	// it; absent, PAT_MAX_TTL_SECONDS.
	ExpiresIn json.RawMessage `json:"expires_in"`
}

// handleCreateToken handles "POST /tokens": a new personal access token,
// whose secret this answer alone carries.
func (s *server) handleCreateToken(w http.ResponseWriter, r *http.Request, userID string) {
	var req createTokenRequest
	if !readJSON(w, r, &req, bodyRequired) {
		return
	}
	c, msg := s.newToken(&req, userID)
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	secret := patPrefix + newSecret(patSecretBytes)
	c.Hash = hashSecret(secret)
	if err := s.store.InsertCredential(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	// Read after the token exists, as writeToken does: a disable or a
	// reset that races with this either is seen here or deleted the token.
	if err := s.voidedMeanwhile(r.Context(), userID, requestInfoFrom(r.Context()).who.issued); err != nil {
		if errors.Is(err, errUnauthenticated) {
			if derr := s.store.DeleteCredential(r.Context(), kindPAT, c.Hash); derr != nil {
				err = derr
			}
		}
		s.failAuth(w, r, err)
		return
	}
	out := toTokenJSON(&c)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, map[string]tokenJSON{"token": out})
}

// failAuth answers a failed authentication check as requireScope does.
func (s *server) failAuth(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errDisabled):
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "this account has been disabled by an administrator of this server")
	case errors.Is(err, errResetMeanwhile):
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "this account's password or passkeys were reset: sign in again")
	default:
		s.fail(w, r, err)
	}
}

// newToken checks a request and builds the token it asks for, without
// its secret, or says what is wrong.
func (s *server) newToken(req *createTokenRequest, userID string) (Credential, string) {
	name, msg := tokenName(req.Name)
	if msg != "" {
		return Credential{}, msg
	}
	scope, msg := tokenScope(req.Scopes)
	if msg != "" {
		return Credential{}, msg
	}
	now := s.now().Truncate(time.Millisecond)
	expires, msg := s.tokenExpiry(req.ExpiresIn, now)
	if msg != "" {
		return Credential{}, msg
	}
	return Credential{
		Kind: kindPAT, UserID: userID, TokenID: newID(), Name: name, Scope: scope,
		CreatedAt: now, ExpiresAt: expires,
	}, ""
}

// tokenName checks a token's name: 1 to maxTokenName characters, trimmed,
// without control characters.
func tokenName(name string) (string, string) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 || n > maxTokenName || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Sprintf(`"name" must be 1 to %d characters, without control characters`, maxTokenName)
	}
	return name, ""
}

// tokenScope checks the scopes asked for, at least one, each known, and
// writes them space-separated in patScopes' order, each once.
func tokenScope(asked []string) (string, string) {
	if len(asked) == 0 {
		return "", `"scopes" must name at least one of: ` + strings.Join(patScopes, ", ")
	}
	for _, sc := range asked {
		if !slices.Contains(patScopes, sc) {
			return "", fmt.Sprintf("unknown scope %q: the scopes are %s", sc, strings.Join(patScopes, ", "))
		}
	}
	var held []string
	for _, sc := range patScopes {
		if slices.Contains(asked, sc) {
			held = append(held, sc)
		}
	}
	return strings.Join(held, " "), ""
}

// tokenExpiry reads "expires_in": absent or null is the longest lifetime
// allowed, a number of seconds up to it, or "never" if the operator allows it.
func (s *server) tokenExpiry(raw json.RawMessage, now time.Time) (time.Time, string) {
	maxTTL := int64(s.cfg.PATMaxTTL / time.Second)
	var seconds int64
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return now.Add(s.cfg.PATMaxTTL), ""
	case string(raw) == `"never"` && s.cfg.PATAllowNoExpiry:
		return patNoExpiry, ""
	case string(raw) == `"never"`:
		return time.Time{}, fmt.Sprintf(`this server does not allow tokens that never expire (PAT_ALLOW_NO_EXPIRY): "expires_in" must be 1 to %d seconds`, maxTTL)
	case json.Unmarshal(raw, &seconds) != nil || seconds < 1 || seconds > maxTTL:
		if s.cfg.PATAllowNoExpiry {
			return time.Time{}, fmt.Sprintf(`"expires_in" must be 1 to %d seconds, or "never"`, maxTTL)
		}
		return time.Time{}, fmt.Sprintf(`"expires_in" must be 1 to %d seconds`, maxTTL)
	}
	return now.Add(time.Duration(seconds) * time.Second), ""
}

// handleListTokens handles "GET /tokens": the user's live tokens, oldest
// first, never their secrets.
func (s *server) handleListTokens(w http.ResponseWriter, r *http.Request, userID string) {
	s.writeTokenList(w, r, userID)
}

// writeTokenList answers with the user's live tokens.
func (s *server) writeTokenList(w http.ResponseWriter, r *http.Request, userID string) {
	tokens, err := s.store.ListTokens(r.Context(), userID, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]tokenJSON{"tokens": showAll(tokens, toTokenJSON)})
}

// handleRevokeToken handles "DELETE /tokens/{id}": the user's token stops
// working at once, on every instance.
func (s *server) handleRevokeToken(w http.ResponseWriter, r *http.Request, userID string) {
	if s.revokeToken(w, r, userID, r.PathValue("id")) {
		w.WriteHeader(http.StatusNoContent)
	}
}

// revokeToken deletes the user's token tokenID, or answers 404; it
// reports whether it deleted it.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, userID, tokenID string) bool {
	err := ErrNotFound
	if validID(tokenID) {
		err = s.store.DeleteToken(r.Context(), userID, tokenID)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such token")
	case err != nil:
		s.fail(w, r, err)
	default:
		return true
	}
	return false
}

// ---- Administration ----

// handleAdminUserTokens handles "GET /admin/users/{id}/tokens": any
// user's live tokens, as they see them.
func (s *server) handleAdminUserTokens(w http.ResponseWriter, r *http.Request, admin User) {
	if _, ok := s.adminTarget(w, r); ok {
		s.writeTokenList(w, r, r.PathValue("id"))
	}
}

// handleAdminRevokeToken handles "DELETE /admin/users/{id}/tokens/{token}":
// an administrator revokes any user's token, with an audit line.
func (s *server) handleAdminRevokeToken(w http.ResponseWriter, r *http.Request, admin User) {
	target, ok := s.adminTarget(w, r)
	if ok && s.revokeToken(w, r, target.ID, r.PathValue("token")) {
		audit(s.log, r, admin, "revoke_token", target, "token", r.PathValue("token"))
		w.WriteHeader(http.StatusNoContent)
	}
}

// adminTarget returns the user the path names, or answers 404.
func (s *server) adminTarget(w http.ResponseWriter, r *http.Request) (User, bool) {
	id, ok := pathIDOf(w, r, "user")
	if !ok {
		return User{}, false
	}
	u, err := s.store.GetUser(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such user")
	case err != nil:
		s.fail(w, r, err)
	default:
		return u, true
	}
	return User{}, false
}
