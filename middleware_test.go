package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// TestClientAddr: rate limits key on the connection's peer, and on
// X-Forwarded-For only through trusted proxies, reading every header line so
// a client cannot put its own forged line before the proxy's.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	s := &server{cfg: &config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		name  string
		peer  string
		lines []string
		want  string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "10.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged first hop ignored", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"forged line before the proxy's", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.1:4000", []string{"198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"entry with a port", "10.0.0.1:4000", []string{"198.51.100.1:5678"}, "198.51.100.1"},
		{"IPv6 entry with a port", "10.0.0.1:4000", []string{"[2001:db8::1]:5678"}, "2001:db8::1"},
		{"garbage stops the walk", "10.0.0.1:4000", []string{"198.51.100.1, garbage"}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, l := range tt.lines {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := s.clientAddr(r); got.String() != tt.want {
				t.Errorf("clientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestProxyUserCrossSite: a user named by a trusted proxy's X-User-Id is an
// ambient credential like a cookie (the proxy signs browsers in with its
// own), so cross-site state changes are refused; the same request from the
// desktop app (no browser headers) goes through.
func TestProxyUserCrossSite(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, proxyAuthEnv())
	body := map[string]any{"filename": "x.txt"}
	for _, h := range []map[string]string{
		{"X-User-Id": "mallory-victim", "Sec-Fetch-Site": "cross-site"},
		{"X-User-Id": "mallory-victim", "Origin": "https://evil.example"},
	} {
		resp, data := e.do(request{method: "POST", path: "/upload/", body: body, header: h})
		wantStatus(t, resp, data, http.StatusForbidden)
	}
	resp, data := e.do(request{method: "POST", path: "/upload/", body: body, header: map[string]string{"X-User-Id": "mallory-victim"}})
	wantStatus(t, resp, data, http.StatusCreated)
}

// TestUnauthenticatedSaysWhatToDo: a request without a credential is told
// to send one; one whose token or session no longer holds (signed out, or
// never issued) is told to sign in again, with RFC 6750's invalid_token
// challenge, not to send the token it sent (review 16).
func TestUnauthenticatedSaysWhatToDo(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	token := e.newUser("alice")
	resp, data := e.do(request{method: "POST", path: "/auth/logout", token: token})
	wantStatus(t, resp, data, http.StatusNoContent)
	for _, c := range []struct {
		name      string
		req       request
		message   string
		challenge string
	}{
		{"no credential", request{method: "GET", path: "/me"}, "sign in first", "Bearer"},
		{"a revoked token", request{method: "GET", path: "/me", token: token}, "sign in again", `Bearer error="invalid_token"`},
		{"a session cookie that holds no session", request{method: "GET", path: "/me", header: map[string]string{"Cookie": sessionCookie + "=forged"}},
			"sign in again", `Bearer error="invalid_token"`},
	} {
		resp, data := e.do(c.req)
		wantStatus(t, resp, data, http.StatusUnauthorized)
		if !strings.Contains(string(data), c.message) || resp.Header.Get("WWW-Authenticate") != c.challenge {
			t.Errorf("%s: %s, WWW-Authenticate %q; want %q and %q", c.name, data, resp.Header.Get("WWW-Authenticate"), c.message, c.challenge)
		}
	}
}

// TestJSONErrorsHideGoTypes: a wrongly typed body is described in API
// terms, never with the server's Go type names.
func TestJSONErrorsHideGoTypes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("typed")
	for _, body := range []string{`[]`, `"x"`, `{"filename":"a","size":1.5}`, `{"filename":{"a":1}}`} {
		resp, data := e.do(request{method: "POST", path: "/upload/", token: tok, body: body})
		wantStatus(t, resp, data, http.StatusBadRequest)
		if s := string(data); strings.Contains(s, "main.") || strings.Contains(s, "int64") || strings.Contains(s, "string") {
			t.Errorf("body %s: error names Go types: %s", body, s)
		}
	}
}

// TestMuxErrorsAreJSON: unknown routes answer 404 and known routes with
// another method 405 (with Allow), both in the API's error shape.
func TestMuxErrorsAreJSON(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("router")
	resp, body := e.do(request{method: "GET", path: "/no/such/route", token: tok})
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = e.do(request{method: "DELETE", path: "/download/" + newID(), token: tok})
	wantStatus(t, resp, body, http.StatusMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 without Allow: GET (got %q)", allow)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("405 Cache-Control %q", cc)
	}
}

// TestNoCORS: nothing that accepts cookies answers with a CORS grant, so no
// other site can read an answer (security checklist item 21).
func TestNoCORS(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("cors")
	origin := map[string]string{"Origin": "https://evil.example"}
	for _, req := range []request{
		{method: "GET", path: "/list/", token: tok, header: origin},
		{method: "OPTIONS", path: "/upload/", header: origin},
		{method: "GET", path: "/me", token: tok, header: origin},
		{method: "GET", path: "/login/", header: origin},
	} {
		resp, _ := e.do(req)
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q", req.method, req.path, v)
		}
	}
}

// TestMiddlewareAllocations holds the per-request cost of the middleware
// path down: GET /me through the request log, panic recovery, the loopback
// Host check, the mux, bearer authentication and the API headers, around
// one lookup in the in-memory store and a small JSON answer. Each
// allocation left is named below; one more is a regression.
func TestMiddlewareAllocations(t *testing.T) {
	store := newMemStore()
	s := newServer(benchConfig(t), slog.New(slog.NewTextHandler(io.Discard, nil)), store, benchObjects(t))
	u, err := store.UpsertUser(t.Context(), User{Issuer: "test", Subject: "allocs", Email: "allocs@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.issueToken(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/me", nil)
	req.Host = "localhost" // local sign-in answers loopback Hosts only
	req.Header.Set("Authorization", "Bearer "+tok)
	w := &reusedResponse{header: http.Header{}}
	serve := func() {
		clear(w.header)
		w.status = 0
		s.ServeHTTP(w, req)
	}
	serve()
	if w.status != http.StatusOK {
		t.Fatalf("GET /me: %d", w.status)
	}
	// The request id string; the record that holds the request's info,
	// status and context; the request copy carrying that context; the log
	// record's sixth attribute (slog keeps five inline); the mux error
	// writer; the token's hash; the store fixture's map key; the answer
	// boxed for writeJSON.
	want := 8.0
	if raceEnabled {
		want += 5 // values the race detector's instrumentation moves to the heap
	}
	got := testing.AllocsPerRun(100, serve)
	t.Logf("GET /me: %.0f allocations per request", got)
	if got > want {
		t.Errorf("GET /me allocates %.0f times per request, want at most %.0f", got, want)
	}
}

// reusedResponse is a ResponseWriter that keeps nothing and is reused
// across requests, so that only the server's own allocations are counted.
type reusedResponse struct {
	header http.Header
	status int
}

func (w *reusedResponse) Header() http.Header         { return w.header }
func (w *reusedResponse) Write(b []byte) (int, error) { return len(b), nil }
func (w *reusedResponse) WriteHeader(code int)        { w.status = code }

// TestStrictJSONNamesAllocateNothing: readJSON reads a request type's field
// names by reflection once, not on every request, and checking a body's
// names against them copies none.
func TestStrictJSONNamesAllocateNothing(t *testing.T) {
	v := &createUploadRequest{}
	body := []byte(`{"filename":"report.pdf","size":1048576,"content_type":"application/pdf"}`)
	jsonFieldNames(v)
	got := testing.AllocsPerRun(100, func() {
		if err := checkFieldNames(body, jsonFieldNames(v)); err != nil {
			t.Fatal(err)
		}
	})
	if got != 0 {
		t.Errorf("checking a body's field names allocates %.0f times, want 0", got)
	}
}

// TestIsLocalHost: local sign-in answers only Host headers that name
// loopback, with a port or without one.
func TestIsLocalHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1": true, "127.0.0.2:80": true,
		"[::1]": true, "[::1]:8080": true, "::1": true,
		"example.com": false, "example.com:8080": false, "localhost.example.com": false, "10.0.0.1:80": false,
		"[::2]:80": false, "localhost:8080:1": false, "": false,
	} {
		if got := isLocalHost(host); got != want {
			t.Errorf("isLocalHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// countingStore is a real Store that counts the calls of the reads tests
// bound: GetUser (a membership check) and GetUsage (the admin list).
type countingStore struct {
	Store
	getUser, getUsage atomic.Int32
}

func (c *countingStore) GetUser(ctx context.Context, id string) (User, error) {
	c.getUser.Add(1)
	return c.Store.GetUser(ctx, id)
}

func (c *countingStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	c.getUsage.Add(1)
	return c.Store.GetUsage(ctx, owner)
}

// TestMembershipCheckIsCached: the allow-list check at use reads a user's
// email and groups from the store at most once per memberCacheTTL, and not at all
// without allow-lists; a user who no longer exists is refused.
func TestMembershipCheckIsCached(t *testing.T) {
	t.Parallel()
	store := &countingStore{Store: openTestLocalStore(t, t.TempDir())}
	u, err := store.UpsertUser(t.Context(), User{Issuer: "https://issuer.example", Subject: "s", Email: "a@example.com"})
	ctMust(t, "UpsertUser", err)
	clock := &testClock{}
	cfg := &config{OIDCClientID: testClientID, AllowedDomains: []string{"example.com"}}
	s := &server{cfg: cfg, store: store, now: clock.now, signIn: &signIn{}}
	check := func(userID string, want error, reads int32) {
		t.Helper()
		if err := s.checkMember(t.Context(), userID); !errors.Is(err, want) {
			t.Fatalf("checkMember(%s) = %v, want %v", userID, err, want)
		}
		if n := store.getUser.Load(); n != reads {
			t.Fatalf("GetUser called %d times, want %d", n, reads)
		}
	}
	check(u.ID, nil, 1)
	check(u.ID, nil, 1)
	clock.advance(memberCacheTTL)
	check(u.ID, nil, 2)
	check(newID(), errNoLongerAllowed, 3)
	cfg.AllowedDomains = nil
	check(newID(), nil, 3)
}

// TestLocalModeAnswersOnlyLoopbackHosts: with local sign-in, a request
// whose Host is not loopback (a page whose DNS name was rebound to
// 127.0.0.1, or a URL built from it) gets a JSON 400 on every route, even
// with a valid credential; loopback names and addresses, any port, pass.
func TestLocalModeAnswersOnlyLoopbackHosts(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	tok := e.newUser("local")
	send := func(method, path, host string) (*http.Response, []byte) {
		t.Helper()
		return e.doWithHost(request{method: method, path: path, token: tok}, host)
	}
	routes := []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/list/"}, {"GET", "/me"}, {"POST", "/upload/"}, {"DELETE", "/files/" + newID()},
		{"GET", "/login/"}, {"GET", "/auth/google"}, {"POST", "/auth/token"}, {"POST", "/auth/logout"},
		{"POST", "/objects/upload"}, {"GET", "/objects/users/x/y"}, {"GET", "/no/such/route"},
	}
	for _, host := range []string{"rebind.evil.example", "rebind.evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1:8080", "[::2]:8080", "0.0.0.0"} {
		for _, rt := range routes {
			resp, body := send(rt.method, rt.path, host)
			wantStatus(t, resp, body, http.StatusBadRequest)
		}
	}
	for _, host := range []string{"localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:65535", "127.8.9.10:80", "[::1]", "[::1]:8080"} {
		resp, body := send("GET", "/me", host)
		wantStatus(t, resp, body, http.StatusOK)
	}
}
