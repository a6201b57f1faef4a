package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests of personal access tokens run on both stores: the local store
// with local objects, and MongoDB (FerretDB) with S3 (versitygw).

// patOut is a token as the API shows it, as a client reads it.
type patOut struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Secret     string     `json:"secret"`
}

// tokenTeam is a server with an administrator and a member, each with a
// desktop bearer token, and a clock the test moves.
type tokenTeam struct {
	*testEnv
	boss, member     string // desktop tokens
	bossID, memberID string
	dataDir          string // the local store's DATA_DIR; "" on MongoDB
	clock            atomic.Int64
	logs             *syncBuffer // every log line, at debug level
}

// tokenBackends are the stores the token tests run on.
var tokenBackends = []string{"local", "mongo"}

// newTokenTeam starts a server on backend with env overriding the defaults.
func newTokenTeam(t *testing.T, backend string, env map[string]string) *tokenTeam {
	t.Helper()
	vars := map[string]string{"ADMIN_EMAILS": "boss@example.com"}
	for k, v := range env {
		vars[k] = v
	}
	team := &tokenTeam{logs: &syncBuffer{}}
	if backend == "local" {
		team.dataDir = t.TempDir()
		vars["DATA_DIR"] = team.dataDir
		team.testEnv = newLocalTestEnv(t, vars)
	} else {
		team.testEnv = newTestEnv(t, vars)
	}
	team.clock.Store(time.Now().UTC().Truncate(time.Millisecond).UnixNano())
	team.srv.now = func() time.Time { return time.Unix(0, team.clock.Load()).UTC() }
	team.srv.log = slog.New(slog.NewJSONHandler(team.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	team.boss, team.member = team.newUser("boss"), team.newUser("member")
	team.bossID, team.memberID = apiTester{team.testEnv}.userID(team.boss), apiTester{team.testEnv}.userID(team.member)
	return team
}

// onTokenBackends runs test in a parallel subtest per backend of
// tokenBackends, on a team whose server starts with env.
func onTokenBackends(t *testing.T, env map[string]string, test func(t *testing.T, team *tokenTeam)) {
	for _, backend := range tokenBackends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, newTokenTeam(t, backend, env))
		})
	}
}

// desktopToken issues a new desktop app token for the user, valid from
// the server's clock on.
func (team *tokenTeam) desktopToken(userID string) string {
	team.t.Helper()
	tok, _, err := team.srv.issueToken(team.t.Context(), userID)
	if err != nil {
		team.t.Fatal(err)
	}
	return tok
}

// advance moves the server's clock.
func (team *tokenTeam) advance(d time.Duration) { team.clock.Add(int64(d)) }

// now is the server's clock.
func (team *tokenTeam) now() time.Time { return time.Unix(0, team.clock.Load()).UTC() }

// createToken makes a token with the given scopes through the API and
// expects 201.
func (team *tokenTeam) createToken(owner string, scopes ...string) patOut {
	team.t.Helper()
	resp, body := team.do(request{method: "POST", path: "/tokens", token: owner, body: map[string]any{"name": "test " + strings.Join(scopes, "+"), "scopes": scopes}})
	wantStatus(team.t, resp, body, http.StatusCreated)
	return decode[struct{ Token patOut }](team.t, body).Token
}

// listTokens is GET /tokens.
func (team *tokenTeam) listTokens(owner string) []patOut {
	team.t.Helper()
	resp, body := team.do(request{method: "GET", path: "/tokens", token: owner})
	wantStatus(team.t, resp, body, http.StatusOK)
	return decode[struct{ Tokens []patOut }](team.t, body).Tokens
}

// wantScopeRefused fails unless the answer is 403 insufficient_scope
// naming scope (scopeNone: no token may use the route).
func wantScopeRefused(t *testing.T, resp *http.Response, body []byte, scope string) {
	t.Helper()
	e := decodeError(body)
	if resp.StatusCode != http.StatusForbidden || e.Error != "insufficient_scope" || !strings.Contains(e.Message, scope) {
		t.Fatalf("%s %s: %d %s; want 403 insufficient_scope naming %q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, scope)
	}
	if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || (scope != "" && !strings.Contains(h, `scope="`+scope+`"`)) {
		t.Errorf("WWW-Authenticate %q: want insufficient_scope naming %q", h, scope)
	}
}

// decodeError reads the error shape, or nothing.
func decodeError(body []byte) apiErrorJSON {
	var e apiErrorJSON
	json.Unmarshal(body, &e)
	return e
}

// routeDecisions says, for every route of the route table, what a personal
// access token needs to use it: a scope, routeNoToken (no token may), or
// routePublic (the route takes no user credential at all). A route missing
// here fails TestTokenScopesAtEveryRoute: each new route needs a decision.
const (
	routeNoToken = "no token"
	routePublic  = "public"
)

var routeDecisions = map[string]string{
	"GET /healthz":      routePublic,
	"GET /readyz":       routePublic,
	"GET /openapi.json": routePublic,
	"GET /{$}":          routePublic,
	"GET /app.js":       routePublic,
	"GET /uploader.js":  routePublic,
	"GET /app.css":      routePublic,

	"POST /upload":               scopeFilesWrite,
	"POST /upload/{$}":           scopeFilesWrite,
	"POST /upload/{id}/complete": scopeFilesWrite,
	"POST /upload/{id}/parts":    scopeFilesWrite,
	"GET /upload/{id}/parts":     scopeFilesWrite,
	"GET /list":                  scopeFilesRead,
	"GET /list/{$}":              scopeFilesRead,
	"GET /download/{id}":         scopeFilesRead,
	"DELETE /files/{id}":         scopeFilesWrite,
	"GET /me":                    scopeFilesRead,

	"POST /tokens":        routeNoToken,
	"GET /tokens":         routeNoToken,
	"DELETE /tokens/{id}": routeNoToken,

	"GET /admin/users":                         routeNoToken,
	"POST /admin/users/{id}/disable":           routeNoToken,
	"POST /admin/users/{id}/enable":            routeNoToken,
	"POST /admin/users/{id}/reinvite":          routeNoToken,
	"POST /admin/invitations":                  routeNoToken,
	"GET /admin/users/{id}/tokens":             routeNoToken,
	"DELETE /admin/users/{id}/tokens/{token}":  routeNoToken,
	"GET /admin/{$}":                           routePublic, // a page; its data comes from the API above
	"GET /login/{$}":                           routePublic,
	"GET /auth/google":                         routePublic,
	"GET /auth/google/callback":                routePublic,
	"POST /auth/token":                         routePublic,
	"POST /auth/logout":                        routeNoToken,
	"POST /auth/password":                      routePublic,
	"GET /invite/{token}":                      routePublic,
	"POST /invite/{token}":                     routePublic,
	"POST /files/{id}/shares":                  scopeSharesWrite,
	"GET /files/{id}/shares":                   scopeSharesWrite,
	"DELETE /shares/{id}":                      scopeSharesWrite,
	"GET /s/{token}":                           routePublic,
	"GET /s/{token}/download":                  routePublic,
	"POST /s/{token}/download":                 routePublic,
	"POST /shares":                             scopeSharesWrite, // drops.go
	"GET /shares":                              scopeSharesWrite,
	"POST /shares/{id}/files":                  scopeSharesWrite,
	"DELETE /shares/{id}/files/{file_id}":      scopeSharesWrite,
	"GET /files/{id}/preview":                  scopeFilesRead, // previews.go
	"GET /s/{token}/files/{file_id}/download":  routePublic,
	"POST /s/{token}/files/{file_id}/download": routePublic,
	"GET /s/{token}/files/{file_id}/preview":   routePublic,
	"POST /objects/upload":                     routePublic,
	"GET /objects/{key...}":                    routePublic,
	"PUT /objects/{key...}":                    routePublic,
	"POST /s/{token}":                          routePublic, // a protected link's password (linkprotect.go)
	// Webhooks (webhooks.go): managed only by a signed-in user, never by a token.
	"POST /webhooks":                      routeNoToken,
	"GET /webhooks":                       routeNoToken,
	"DELETE /webhooks/{id}":               routeNoToken,
	"POST /webhooks/{id}/test":            routeNoToken,
	"GET /webhooks/{id}/deliveries":       routeNoToken,
	"POST /webhooks/{id}/rotate":          routeNoToken,
	"POST /admin/webhooks":                routeNoToken,
	"GET /admin/webhooks":                 routeNoToken,
	"DELETE /admin/webhooks/{id}":         routeNoToken,
	"POST /admin/webhooks/{id}/test":      routeNoToken,
	"GET /admin/webhooks/{id}/deliveries": routeNoToken,
	"POST /admin/webhooks/{id}/rotate":    routeNoToken,

	// File requests (requests.go): the owner's API, and the sender's
	// routes, which take no credential.
	"POST /requests":                       scopeRequestsWrite,
	"GET /requests":                        scopeRequestsWrite,
	"DELETE /requests/{id}":                scopeRequestsWrite,
	"POST /requests/{id}/close":            scopeRequestsWrite,
	"POST /requests/{id}/reopen":           scopeRequestsWrite,
	"GET /r/{token}":                       routePublic,
	"POST /r/{token}":                      routePublic, // a protected request's password (requests.go)
	"POST /r/{token}/upload":               routePublic,
	"POST /r/{token}/upload/{$}":           routePublic,
	"POST /r/{token}/upload/{id}/complete": routePublic,
	"POST /r/{token}/upload/{id}/parts":    routePublic,
	"GET /r/{token}/upload/{id}/parts":     routePublic,
	"DELETE /r/{token}/upload/{id}":        routePublic, // a sender takes back a file still being sent

	// Passkeys (webauthn.go).
	"POST /auth/passkey/options":           routePublic,
	"POST /auth/passkey":                   routePublic,
	"POST /invite/{token}/passkey/options": routePublic,
	"POST /invite/{token}/passkey":         routePublic,
	"POST /auth/passkey/register/options":  routeNoToken,
	"POST /auth/passkey/register":          routeNoToken,
}

// routeRequest turns a route pattern into a request on made-up ids.
func routeRequest(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	for _, param := range []string{"{id}", "{token}", "{key...}", "{file_id}"} {
		path = strings.ReplaceAll(path, param, newID())
	}
	return method, path
}

// TestTokenScopesAtEveryRoute: on every route of the route table, a token
// with the route's scope gets past the scope check, a token with any other
// scope gets 403 naming it, a route no token may use refuses every token
// (even an administrator's, on the admin API), and the desktop app's token
// is never refused for scope. A route without a decision fails.
func TestTokenScopesAtEveryRoute(t *testing.T) {
	t.Parallel()
	patterns := routeTablePatterns(t)
	for _, p := range patterns {
		if _, ok := routeDecisions[p]; !ok {
			t.Errorf("route %q has no decision in routeDecisions: give it a scope in the route table (scoped) or keep it api (no token), and add it here", p)
		}
	}
	onTokenBackends(t, nil, func(t *testing.T, team *tokenTeam) {
		byScope := map[string]string{}
		for _, sc := range patScopes {
			byScope[sc] = team.createToken(team.boss, sc).Secret
		}
		all := team.createToken(team.boss, patScopes...).Secret
		for _, p := range patterns {
			need := routeDecisions[p]
			if need == routePublic {
				continue
			}
			method, path := routeRequest(p)
			for sc, secret := range byScope {
				resp, body := team.do(request{method: method, path: path, token: secret})
				if sc == need {
					wantNotScopeRefused(t, resp, body)
				} else {
					wantScopeRefused(t, resp, body, namedScope(need))
				}
			}
			resp, body := team.do(request{method: method, path: path, token: all})
			if need == routeNoToken {
				wantScopeRefused(t, resp, body, "")
			} else {
				wantNotScopeRefused(t, resp, body)
			}
			resp, body = team.do(request{method: method, path: path, token: team.desktopToken(team.bossID)})
			wantNotScopeRefused(t, resp, body) // a fresh one each time: POST /auth/logout revokes it
		}
	})
}

// namedScope is the scope a refusal names: none for a route no token may use.
func namedScope(need string) string {
	if need == routeNoToken {
		return scopeNone
	}
	return need
}

// wantNotScopeRefused fails if the answer is a scope refusal; any other
// answer (a 404 for the made-up id, a 400 for the missing body) is the
// handler's.
func wantNotScopeRefused(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		t.Errorf("%s %s: %d %s; want the handler's answer", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
	}
}

// TestTokenLifecycle: a token is created with its secret shown once
// (prefixed, 256 bits), listed without it, works within its scope, cannot
// manage tokens, and stops at once when revoked; the secret never appears
// in the logs.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	onTokenBackends(t, nil, func(t *testing.T, team *tokenTeam) {
		created := team.now()
		tok := team.createToken(team.member, scopeFilesWrite, scopeFilesRead, scopeFilesRead)
		rest, ok := strings.CutPrefix(tok.Secret, "dropp_pat_")
		if !ok || len(rest) != 43 || !validSecret(rest) {
			t.Fatalf("secret %q: want dropp_pat_ and 43 base64url characters (256 bits)", tok.Secret)
		}
		if !validID(tok.ID) || tok.Name != "test files:write+files:read+files:read" || strings.Join(tok.Scopes, " ") != "files:read files:write" ||
			!tok.CreatedAt.Equal(created) || tok.LastUsedAt != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(created.Add(365*24*time.Hour)) {
			t.Errorf("created token %+v: want its id, name, scopes once each in order, created now, never used, expiring in a year", tok)
		}

		resp, body := team.do(request{method: "GET", path: "/me", token: tok.Secret})
		wantStatus(t, resp, body, http.StatusOK)
		if me := decode[struct{ User userJSON }](t, body); me.User.ID != team.memberID {
			t.Errorf("GET /me with the token: user %q, want the member %q", me.User.ID, team.memberID)
		}
		resp, body = team.do(request{method: "POST", path: "/tokens", token: tok.Secret, body: map[string]any{"name": "more", "scopes": []string{"files:read"}}})
		wantScopeRefused(t, resp, body, "")
		resp, body = team.do(request{method: "GET", path: "/tokens", token: team.member})
		wantStatus(t, resp, body, http.StatusOK)
		if strings.Contains(string(body), rest) || strings.Contains(string(body), "secret") {
			t.Errorf("GET /tokens shows the secret: %s", body)
		}
		list := decode[struct{ Tokens []patOut }](t, body).Tokens
		if len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(created) {
			t.Errorf("GET /tokens = %+v: want the one token, last used now", list)
		}
		if others := team.listTokens(team.boss); len(others) != 0 {
			t.Errorf("another user lists %+v, want none", others)
		}

		resp, body = team.do(request{method: "DELETE", path: "/tokens/" + tok.ID, token: team.boss})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = team.do(request{method: "DELETE", path: "/tokens/" + tok.ID, token: tok.Secret})
		wantScopeRefused(t, resp, body, "")
		resp, body = team.do(request{method: "DELETE", path: "/tokens/" + tok.ID, token: team.member})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = team.do(request{method: "GET", path: "/me", token: tok.Secret})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = team.do(request{method: "DELETE", path: "/tokens/" + tok.ID, token: team.member})
		wantStatus(t, resp, body, http.StatusNotFound)
		resp, body = team.do(request{method: "DELETE", path: "/tokens/not-an-id", token: team.member})
		wantStatus(t, resp, body, http.StatusNotFound)
		if len(team.listTokens(team.member)) != 0 {
			t.Error("a revoked token is still listed")
		}
		if logs := team.logs.String(); strings.Contains(logs, rest) || !strings.Contains(logs, `"route":"POST /tokens"`) {
			t.Errorf("the logs show the secret, or are not these requests':\n%s", logs)
		}
	})
}

// TestTokenCreateValidation: a bad request gets 400 (415 for a non-JSON
// body) in the error shape, and makes no token.
func TestTokenCreateValidation(t *testing.T) {
	t.Parallel()
	team := newTokenTeam(t, "local", map[string]string{"PAT_MAX_TTL_SECONDS": "86400"})
	for name, body := range map[string]string{
		"no body":            ``,
		"not an object":      `[]`,
		"unknown scope":      `{"name":"n","scopes":["files:read","admin"]}`,
		"empty scopes":       `{"name":"n","scopes":[]}`,
		"no scopes":          `{"name":"n"}`,
		"null scopes":        `{"name":"n","scopes":null}`,
		"scope not a string": `{"name":"n","scopes":[1]}`,
		"no name":            `{"scopes":["files:read"]}`,
		"blank name":         `{"name":"  ","scopes":["files:read"]}`,
		"control in name":    `{"name":"a\u0007b","scopes":["files:read"]}`,
		"long name":          `{"name":"` + strings.Repeat("é", 101) + `","scopes":["files:read"]}`,
		"zero expiry":        `{"name":"n","scopes":["files:read"],"expires_in":0}`,
		"negative expiry":    `{"name":"n","scopes":["files:read"],"expires_in":-5}`,
		"over the maximum":   `{"name":"n","scopes":["files:read"],"expires_in":86401}`,
		"fractional expiry":  `{"name":"n","scopes":["files:read"],"expires_in":1.5}`,
		"never, not allowed": `{"name":"n","scopes":["files:read"],"expires_in":"never"}`,
		"string expiry":      `{"name":"n","scopes":["files:read"],"expires_in":"3600"}`,
		"unknown field":      `{"name":"n","scopes":["files:read"],"admin":true}`,
		"scopes twice":       `{"name":"n","scopes":["files:read"],"scopes":["files:write"]}`,
	} {
		resp, out := team.do(request{method: "POST", path: "/tokens", token: team.member, body: body, header: map[string]string{"Content-Type": "application/json"}})
		if resp.StatusCode != http.StatusBadRequest || decodeError(out).Error != codeInvalidRequest {
			t.Errorf("%s: %d %s, want 400 invalid_request", name, resp.StatusCode, out)
		}
	}
	resp, out := team.do(request{method: "POST", path: "/tokens", token: team.member, body: `name=n`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	wantStatus(t, resp, out, http.StatusUnsupportedMediaType)
	if list := team.listTokens(team.member); len(list) != 0 {
		t.Errorf("refused requests made tokens: %+v", list)
	}
}

// TestTokenExpiry: a token lasts what it asked for, PAT_MAX_TTL_SECONDS at
// most (and by default); "never" only where PAT_ALLOW_NO_EXPIRY allows it.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	onTokenBackends(t, map[string]string{"PAT_ALLOW_NO_EXPIRY": "true", "PAT_MAX_TTL_SECONDS": "7200"}, func(t *testing.T, team *tokenTeam) {
		start := team.now()
		create := func(expiresIn any) patOut {
			t.Helper()
			body := map[string]any{"name": fmt.Sprint(expiresIn), "scopes": []string{"files:read"}}
			if expiresIn != nil {
				body["expires_in"] = expiresIn
			}
			resp, out := team.do(request{method: "POST", path: "/tokens", token: team.member, body: body})
			wantStatus(t, resp, out, http.StatusCreated)
			return decode[struct{ Token patOut }](t, out).Token
		}
		minute, byDefault, never := create(60), create(nil), create("never")
		if !minute.ExpiresAt.Equal(start.Add(time.Minute)) || !byDefault.ExpiresAt.Equal(start.Add(2*time.Hour)) || never.ExpiresAt != nil {
			t.Fatalf("expiries %v, %v, %v: want in a minute, in PAT_MAX_TTL_SECONDS, null", minute.ExpiresAt, byDefault.ExpiresAt, never.ExpiresAt)
		}
		uses := func(tok patOut) int {
			resp, _ := team.do(request{method: "GET", path: "/me", token: tok.Secret})
			return resp.StatusCode
		}
		team.advance(59 * time.Second)
		if uses(minute) != http.StatusOK {
			t.Error("a token was refused before it expired")
		}
		team.advance(time.Second)
		if got := uses(minute); got != http.StatusUnauthorized {
			t.Errorf("a token at its expiry: %d, want 401", got)
		}
		team.advance(3 * time.Hour)
		if uses(byDefault) != http.StatusUnauthorized || uses(never) != http.StatusOK {
			t.Error("after PAT_MAX_TTL_SECONDS: want the default token expired and the one that never expires working")
		}
		team.advance(50 * 365 * 24 * time.Hour)
		if uses(never) != http.StatusOK {
			t.Error(`a token that never expires stopped after 50 years`)
		}
		if list := team.listTokens(team.desktopToken(team.memberID)); len(list) != 1 || list[0].ID != never.ID {
			t.Errorf("listed %+v; want only the token that never expires", list)
		}
	})
}

// TestTokenLastUsedThrottled: a token's last use is written at the first
// use and then at most once a minute, however many requests it makes (on
// the local store, nothing is written to the log in between).
func TestTokenLastUsedThrottled(t *testing.T) {
	t.Parallel()
	onTokenBackends(t, nil, func(t *testing.T, team *tokenTeam) {
		tok := team.createToken(team.member, scopeFilesRead)
		lastUsed := func() *time.Time {
			t.Helper()
			return team.listTokens(team.member)[0].LastUsedAt
		}
		use := func() {
			t.Helper()
			resp, body := team.do(request{method: "GET", path: "/list", token: tok.Secret})
			wantStatus(t, resp, body, http.StatusOK)
		}
		if lastUsed() != nil {
			t.Fatal("a new token shows a last use")
		}
		first := team.now()
		use()
		size := team.metadataSize()
		for range 5 {
			team.advance(10 * time.Second)
			use()
		}
		if got := team.metadataSize(); got != size {
			t.Errorf("the local store's log grew from %d to %d bytes over 5 uses within a minute", size, got)
		}
		if at := lastUsed(); at == nil || !at.Equal(first) {
			t.Errorf("last used %v after uses within a minute; want the first use, %v", at, first)
		}
		team.advance(10 * time.Second) // a minute after the first use
		use()
		if at := lastUsed(); at == nil || !at.Equal(team.now()) {
			t.Errorf("last used %v a minute later; want %v", at, team.now())
		}
	})
}

// metadataSize is the size of the local store's files, or 0 on MongoDB.
func (team *tokenTeam) metadataSize() int64 {
	team.t.Helper()
	if team.dataDir == "" {
		return 0
	}
	var n int64
	err := filepath.Walk(filepath.Join(team.dataDir, "metadata"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		team.t.Fatal(err)
	}
	return n
}

// TestTokenAdministration: an administrator lists and revokes any user's
// tokens (audited); a member cannot; disabling a user ends all their
// tokens, which stay dead once the user is enabled again.
func TestTokenAdministration(t *testing.T) {
	t.Parallel()
	onTokenBackends(t, nil, func(t *testing.T, team *tokenTeam) {
		a := team.createToken(team.member, scopeFilesRead)
		team.advance(time.Millisecond)
		b := team.createToken(team.member, scopeSharesWrite)
		path := "/admin/users/" + team.memberID + "/tokens"
		resp, body := team.do(request{method: "GET", path: path, token: team.member})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = team.do(request{method: "GET", path: path, token: team.boss})
		wantStatus(t, resp, body, http.StatusOK)
		if list := decode[struct{ Tokens []patOut }](t, body).Tokens; len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID || strings.Contains(string(body), "dropp_pat_") {
			t.Errorf("admin list %s: want both tokens, oldest first, no secrets", body)
		}
		for _, p := range []string{"/admin/users/" + newID() + "/tokens", "/admin/users/nope/tokens"} {
			resp, body = team.do(request{method: "GET", path: p, token: team.boss})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		resp, body = team.do(request{method: "DELETE", path: "/admin/users/" + team.bossID + "/tokens/" + a.ID, token: team.boss})
		wantStatus(t, resp, body, http.StatusNotFound) // not the boss's token
		resp, body = team.do(request{method: "DELETE", path: path + "/" + a.ID, token: team.member})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = team.do(request{method: "DELETE", path: path + "/" + a.ID, token: team.boss})
		wantStatus(t, resp, body, http.StatusNoContent)
		auditLine(t, team.logs, "revoke_token")
		resp, body = team.do(request{method: "GET", path: "/me", token: a.Secret})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = team.do(request{method: "GET", path: "/files/" + newID() + "/shares", token: b.Secret})
		wantStatus(t, resp, body, http.StatusNotFound) // b still works

		resp, body = team.do(request{method: "POST", path: "/admin/users/" + team.memberID + "/disable", token: team.boss})
		wantStatus(t, resp, body, http.StatusOK)
		if n := decode[struct {
			Revoked int `json:"revoked_credentials"`
		}](t, body).Revoked; n != 2 {
			t.Errorf("disable revoked %d credentials, want 2 (the desktop token and the token left)", n)
		}
		resp, body = team.do(request{method: "GET", path: "/files/" + newID() + "/shares", token: b.Secret})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = team.do(request{method: "POST", path: "/admin/users/" + team.memberID + "/enable", token: team.boss})
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = team.do(request{method: "GET", path: "/files/" + newID() + "/shares", token: b.Secret})
		wantStatus(t, resp, body, http.StatusUnauthorized)
	})
}

// ctTokens: a user's personal access tokens are listed (live ones only,
// oldest first, every field kept), found like any credential, deleted by
// their owner's id only, and deleted with the user's credentials.
func ctTokens(t *testing.T, s Store) {
	ctx := t.Context()
	now, owner, other := ctNow(), ctNewID(), ctNewID()
	pat := func(user string, created, expires time.Time) Credential {
		c := Credential{Hash: ctNewID(), Kind: kindPAT, UserID: user, TokenID: newID(), Name: "n " + ctNewID(), Scope: "files:read shares:write",
			CreatedAt: created, ExpiresAt: expires, LastUsedAt: created.Add(time.Second)}
		if err := s.InsertCredential(ctx, c); err != nil {
			t.Fatalf("InsertCredential: %v", err)
		}
		return c
	}
	older, newer := pat(owner, now.Add(-time.Hour), now.Add(time.Hour)), pat(owner, now, now.Add(time.Hour))
	pat(owner, now.Add(-2*time.Hour), now) // expired
	never := pat(other, now, patNoExpiry)
	session := Credential{Hash: ctNewID(), Kind: kindSession, UserID: owner, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertCredential(ctx, session); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListTokens(ctx, owner, now)
	if err != nil || len(got) != 2 || ctToken(got[0]) != ctToken(older) || ctToken(got[1]) != ctToken(newer) {
		t.Fatalf("ListTokens = %v, %v; want\n%s\n%s", got, err, ctToken(older), ctToken(newer))
	}
	if found, err := s.FindCredential(ctx, kindPAT, never.Hash, now.Add(100*365*24*time.Hour)); err != nil || ctToken(found) != ctToken(never) {
		t.Errorf("FindCredential(a token that never expires, in 100 years) = %s, %v; want %s", ctToken(found), err, ctToken(never))
	}
	if err := s.DeleteToken(ctx, other, older.TokenID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteToken(another user's) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx, owner, older.TokenID); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if err := s.DeleteToken(ctx, owner, older.TokenID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteToken(again) = %v, want ErrNotFound", err)
	}
	if _, err := s.FindCredential(ctx, kindPAT, older.Hash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindCredential(deleted token) = %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteUserCredentials(ctx, owner); err != nil || n != 3 {
		t.Errorf("DeleteUserCredentials = %d, %v; want the token, the expired one and the session", n, err)
	}
	if got, err := s.ListTokens(ctx, owner, now); err != nil || len(got) != 0 {
		t.Errorf("ListTokens after DeleteUserCredentials = %v, %v", got, err)
	}
}

// ctToken describes a credential with a token's fields too.
func ctToken(c Credential) string {
	return fmt.Sprintf("%s id=%s name=%q scope=%q last_used=%s", ctDescribe(c), c.TokenID, c.Name, c.Scope, ctTime(c.LastUsedAt))
}

// ctTouchToken: a token's last use is written when unset or at least the
// interval old, never more often. Concurrent calls all leave the same
// value; on MongoDB the conditional update is atomic, so one writes, but
// FerretDB may let two pass its filter, so only "at least one" is checked.
func ctTouchToken(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	c := Credential{Hash: ctNewID(), Kind: kindPAT, UserID: ctNewID(), TokenID: newID(), Name: "n", Scope: "files:read", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		found, err := s.FindCredential(ctx, kindPAT, c.Hash, now)
		if err != nil {
			t.Fatal(err)
		}
		return found.LastUsedAt
	}
	for _, step := range []struct {
		at    time.Time
		wrote bool
		want  time.Time
	}{
		{now, true, now},
		{now.Add(59 * time.Second), false, now},
		{now.Add(time.Minute), true, now.Add(time.Minute)},
		{now.Add(time.Minute + time.Millisecond), false, now.Add(time.Minute)},
	} {
		wrote, err := s.TouchToken(ctx, c.Hash, step.at, time.Minute)
		if err != nil || wrote != step.wrote || !lastUsed().Equal(step.want) {
			t.Errorf("TouchToken(+%v) = %v, %v, last used %v; want %v, last used %v", step.at.Sub(now), wrote, err, lastUsed(), step.wrote, step.want)
		}
	}
	if wrote, err := s.TouchToken(ctx, ctNewID(), now, time.Minute); wrote || err != nil {
		t.Errorf("TouchToken(missing) = %v, %v; want false, nil", wrote, err)
	}
	var writes atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			wrote, err := s.TouchToken(ctx, c.Hash, now.Add(3*time.Minute), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if wrote {
				writes.Add(1)
			}
		})
	}
	wg.Wait()
	if writes.Load() < 1 || !lastUsed().Equal(now.Add(3*time.Minute)) {
		t.Errorf("%d of 8 concurrent TouchToken calls wrote, last used %v; want at least one, at +3m", writes.Load(), lastUsed())
	}
}

// FuzzTokenRequest: whatever body POST /tokens gets, checking it never
// panics, and a request it accepts makes a token of known scopes, a
// bounded name and an expiry within the maximum.
func FuzzTokenRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"ci","scopes":["files:read"],"expires_in":3600}`,
		`{"name":"x","scopes":["files:write","files:write"],"expires_in":"never"}`,
		`{"name":"\u0000","scopes":[],"expires_in":-1}`,
		`{"name":"ok","scopes":["shares:write"],"expires_in":1e3}`,
	} {
		f.Add([]byte(seed))
	}
	cfg := &config{PATMaxTTL: 24 * time.Hour}
	s := &server{cfg: cfg, now: func() time.Time { return time.Unix(1e9, 0).UTC() }}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req createTokenRequest
		if decodeStrictJSON(strings.NewReader(string(body)), &req) != nil {
			return
		}
		c, msg := s.newToken(&req, "u")
		if msg != "" {
			return
		}
		if c.Name == "" || len([]rune(c.Name)) > maxTokenName || c.Scope == "" {
			t.Fatalf("accepted %s as %+v", body, c)
		}
		for _, sc := range strings.Fields(c.Scope) {
			if !(principal{kind: kindPAT, scope: c.Scope}).holds(sc) || !strings.Contains(strings.Join(patScopes, " "), sc) {
				t.Fatalf("accepted unknown scope %q from %s", sc, body)
			}
		}
		if d := c.ExpiresAt.Sub(s.now()); d <= 0 || d > cfg.PATMaxTTL {
			t.Fatalf("accepted %s with expiry in %v", body, d)
		}
	})
}

// TestTokenMintedAcrossResetTakenBack: a POST /tokens authenticated by a
// session before the account's reset, whose body arrives after it (held
// back a byte), makes no token that outlives the reset.
func TestTokenMintedAcrossResetTakenBack(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("member@example.com", "the old password", false)
		resp, _ := e.signInPassword("member@example.com", "the old password", nil, nil)
		session := sessionOf(t, resp)
		finish := heldPost(t, e.URL, "/tokens", map[string]string{
			"Content-Type": "application/json", "Cookie": session.Name + "=" + session.Value,
		}, `{"name":"ci","scopes":["files:read"]}`)
		resp, body := e.setPassword(e.invite("member@example.com", false), "the new password")
		wantStatus(t, resp, body, http.StatusSeeOther)
		resp, text := finish()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST /tokens authenticated before the reset, finished after: %d %s; want 401", resp.StatusCode, text)
		}
		if resp.StatusCode == http.StatusCreated {
			tok := decode[map[string]tokenJSON](t, []byte(text))["token"]
			if status, _ := e.me(bearer(tok.Secret)); status == http.StatusOK {
				t.Error("and its token answers /me 200")
			}
		}
		tok := e.passwordToken("member@example.com", "the new password")
		resp, body = e.do(request{method: "GET", path: "/tokens", token: tok.AccessToken})
		wantStatus(t, resp, body, http.StatusOK)
		if list := decode[map[string][]tokenJSON](t, body)["tokens"]; len(list) != 0 {
			t.Errorf("the account's tokens after the reset: %+v; want none", list)
		}
	})
}
