package main

// The desktop app's side of sign-in: redeeming a one-time code for a
// bearer token (RFC 6749 §4.1.3 with PKCE), and who-am-I and sign-out.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

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
	s.writeToken(w, r, c)
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

// checkedAt is when the sign-in that issued the code began to read what
// it checked: finishSignIn counts the code's lifetime from it.
func (c AuthCode) checkedAt() time.Time { return c.ExpiresAt.Add(-authCodeTTL) }

// writeToken issues the bearer token for the code and answers with it
// and the user.
func (s *server) writeToken(w http.ResponseWriter, r *http.Request, c AuthCode) {
	token, expires, err := s.issueToken(r.Context(), c.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Read after the token exists, so a disable or a reset that races
	// with this either is seen here or deleted the token (admin.go,
	// accounts.go). A grant of a disabled account, one off the
	// allow-lists, or one a reset voided is a revoked grant (RFC 6749
	// section 5.2), answered in the OAuth shape like every other.
	user, err := s.store.GetUser(r.Context(), c.UserID)
	refusal := ""
	if err == nil {
		refusal, err = s.grantRevoked(r.Context(), user, c)
	}
	if err == nil && refusal != "" {
		if user.Disabled {
			_, err = s.store.DeleteUserCredentials(r.Context(), c.UserID)
		} else {
			err = s.store.DeleteCredential(r.Context(), kindBearer, hashSecret(token))
		}
		if err == nil {
			writeOAuthError(w, "invalid_grant", refusal)
			return
		}
	}
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

// grantRevoked says why the code's grant no longer holds for user, or "".
func (s *server) grantRevoked(ctx context.Context, user User, c AuthCode) (string, error) {
	switch {
	case user.Disabled:
		return msgDisabled, nil
	case user.resetSince(c.checkedAt()):
		return "the account's password or passkeys were reset after this sign-in: sign in again", nil
	}
	if err := s.checkMember(ctx, user.ID); errors.Is(err, errNoLongerAllowed) {
		return msgNoLongerAllowed, nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// readTokenRequest decodes the body as a form (what RFC 6749 specifies) or
// JSON, as strictly as the API's JSON (decodeStrictJSON); anything else is
// 415. On false the error has been answered, in the OAuth shape.
func readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	var req tokenRequest
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		req, err = decodeTokenForm(body)
	case "application/json":
		err = decodeStrictJSON(body, &req)
	default:
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the body as application/x-www-form-urlencoded or application/json")
		return req, false
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("the body is over %d bytes", maxJSONBody))
		return req, false
	case err != nil && mt == "application/json":
		writeOAuthError(w, "invalid_request", "the body is not a valid token request: "+jsonProblem(err))
		return req, false
	case err != nil:
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

// meResponse is the body of GET /me.
type meResponse struct {
	User  userJSON  `json:"user"`
	Usage usageJSON `json:"usage"`
}

// handleMe handles "GET /me": the signed-in user and their usage. A user
// named by a trusted proxy (TRUST_X_USER_ID) has no record, so only the id
// is known.
func (s *server) handleMe(w http.ResponseWriter, r *http.Request, userID string) {
	u, err := s.store.GetUser(r.Context(), userID)
	if errors.Is(err, ErrNotFound) {
		u, err = User{ID: userID}, nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	usage, err := s.store.GetUsage(r.Context(), userID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, meResponse{User: toUserJSON(u), Usage: s.toUsageJSON(usage)})
}

// handleLogout handles "POST /auth/logout": it deletes the server-side
// record of every credential the request presents, so replaying any of them
// fails, and clears the session cookie. The sign-out form gets a redirect
// to /login/.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request, userID string) {
	if err := s.revokeCredentials(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.clearSessionCookie(w, r) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signedOutAlready sends the sign-out form of a browser whose session has
// ended already (another tab signed out, it expired, or a disable or a
// reset ended it) to /login/, its cookie cleared, as a sign-out with a
// live session is: signing out twice is no error to show a person. An
// API caller without a live credential still gets requireUser's 401.
func (s *server) signedOutAlready(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsHTMLRedirect(r) && r.Header.Get("Authorization") == "" && s.csrf.Check(r) == nil {
			if _, err := s.authenticate(r); errors.Is(err, errUnauthenticated) {
				s.clearSessionCookie(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// clearSessionCookie clears the session cookie the request sent, if any,
// and sends a browser's form to /login/ (true), where an API caller gets
// a status from the caller (false).
func (s *server) clearSessionCookie(w http.ResponseWriter, r *http.Request) bool {
	name := s.sessionCookieName(r)
	if _, err := r.Cookie(name); err == nil {
		s.setCookie(w, r, name, "", "/", -1)
	}
	if wantsHTMLRedirect(r) {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return true
	}
	return false
}

// revokeCredentials deletes the credential the request authenticated with
// and also a valid session cookie sent beside a bearer token (authenticate
// never looks at it then), so a sign-out never leaves the other signed in.
// A trusted proxy's user has nothing of ours to revoke.
func (s *server) revokeCredentials(r *http.Request) error {
	who := requestInfoFrom(r.Context()).who
	if who.hash != "" {
		if err := s.store.DeleteCredential(r.Context(), who.kind, who.hash); err != nil {
			return err
		}
	}
	if secret, ok := s.sessionSecret(r); ok && who.kind != kindSession {
		return s.store.DeleteCredential(r.Context(), kindSession, hashSecret(secret))
	}
	return nil
}

// wantsHTMLRedirect tells a browser (an HTML form submission, or a request
// that accepts HTML), which should be sent on to a page, from an API
// client, which gets a status.
func wantsHTMLRedirect(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" ||
		strings.Contains(r.Header.Get("Accept"), "text/html")
}
