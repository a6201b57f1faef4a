package main

// Tests of the hardening items of issue 7: filenames that spoof or break
// clients, Host header reflection and DNS rebinding, records whose object
// key the store refuses, logout with several credentials, strict
// /auth/token bodies, and the rate limiter's eviction.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// newLocalTestEnv starts a server on the local metadata and object stores
// with local sign-in, with env overriding those defaults.
func newLocalTestEnv(t *testing.T, env map[string]string) *testEnv {
	t.Helper()
	vars := map[string]string{"DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:0"}
	for k, v := range env {
		vars[k] = v
	}
	return startTestEnv(t, vars)
}

// syncBuffer is a log destination safe to write from handlers and read
// from the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFilenameRefusesSpoofingCharacters: names that read as something
// else (a bidi override turns "invoice\u202Etxt.exe" into "invoiceexe.txt"),
// hide characters, break lines, or name a directory are refused with a
// message that names the character; ordinary names in any script pass.
func TestFilenameRefusesSpoofingCharacters(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	tok := e.newUser("namer")
	refused := []struct{ name, filename, message string }{
		{"right-to-left override", "invoice\u202Etxt.exe", "U+202E RIGHT-TO-LEFT OVERRIDE, a format character (Unicode Cf)"},
		{"left-to-right override", "a\u202Db.txt", "U+202D LEFT-TO-RIGHT OVERRIDE"},
		{"right-to-left isolate", "a\u2067b.txt", "U+2067 RIGHT-TO-LEFT ISOLATE"},
		{"right-to-left mark", "a\u200Fb.txt", "U+200F RIGHT-TO-LEFT MARK"},
		{"zero width space", "pay\u200Bpal.pdf", "U+200B ZERO WIDTH SPACE"},
		{"zero width joiner", "a\u200Db.txt", "U+200D ZERO WIDTH JOINER"},
		{"byte order mark", "\uFEFFa.txt", "U+FEFF ZERO WIDTH NO-BREAK SPACE"},
		{"soft hyphen", "a\u00ADb.txt", "U+00AD SOFT HYPHEN"},
		{"other format character", "a\U000E0001b.txt", "U+E0001, a format character (Unicode Cf)"},
		{"line separator", "a\u2028b.txt", "U+2028 LINE SEPARATOR, a line separator (Unicode Zl)"},
		{"paragraph separator", "a\u2029b.txt", "U+2029 PARAGRAPH SEPARATOR, a paragraph separator (Unicode Zp)"},
		{"NUL", "a\x00b.txt", "U+0000, a control character (Unicode Cc)"},
		{"C1 control", "a\u0085b.txt", "U+0085, a control character (Unicode Cc)"},
		{"dot", ".", `must not be "." or ".."`},
		{"dot dot", "..", `must not be "." or ".."`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": tc.filename}})
			wantStatus(t, resp, body, http.StatusBadRequest)
			if msg := decode[apiErrorJSON](t, body).Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
	for _, name := range []string{"...", ".hidden", "a..b", "..x", "résumé.pdf", "שלום.txt", "مرحبا.txt", "日本語.txt", "emoji 👍🏽.png", "a b.txt"} {
		resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": name}})
		wantStatus(t, resp, body, http.StatusCreated)
	}
}

// TestDeleteRecordWithRefusedObjectKey: a record whose object key the
// object store refuses (left by another backend or version) can still be
// deleted; the refusal is logged, not answered as a 500 forever.
func TestDeleteRecordWithRefusedObjectKey(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	logs := &syncBuffer{}
	e.srv.log = slog.New(slog.NewTextHandler(logs, nil))
	tok := e.newUser("deleter")
	owner := apiTester{e}.userID(tok)
	for _, key := range []string{"../outside", "users/x/.hidden", ""} {
		f := &File{ID: newID(), Owner: owner, Filename: "old.txt", Status: statusPending, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ObjectKey: key}
		if err := e.srv.store.InsertFile(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(request{method: "DELETE", path: "/files/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.do(request{method: "DELETE", path: "/files/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNotFound)
		if !strings.Contains(logs.String(), "file="+f.ID) || !strings.Contains(logs.String(), "invalid object key") {
			t.Errorf("key %q: the store's refusal is not logged: %s", key, logs)
		}
	}
}

// TestRateLimiterFloodKeepsBusyClientLimited: a flood of fresh addresses,
// many times what the limiter holds, evicts only the least recently used
// buckets, never the bucket of a client that keeps trying, so the flood
// cannot hand that client a fresh burst.
func TestRateLimiterFloodKeepsBusyClientLimited(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(10)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // no refill during the test
	busy := netip.MustParseAddr("2001:db8::1")
	for range 10 {
		if ok, _ := l.allow(busy, now); !ok {
			t.Fatal("refused within the burst")
		}
	}
	fresh := netip.MustParseAddr("10.0.0.0")
	for i := range 8 * maxRateBuckets {
		fresh = fresh.Next()
		if ok, _ := l.allow(fresh, now); !ok {
			t.Fatalf("fresh address %s refused", fresh)
		}
		if i%1000 == 0 {
			if ok, _ := l.allow(busy, now); ok {
				t.Fatalf("after %d fresh addresses, the busy client got a new burst", i+1)
			}
		}
	}
	if n := len(l.buckets); n > maxRateBuckets {
		t.Errorf("%d buckets, want at most %d", n, maxRateBuckets)
	}
}

// TestRateLimiterEvictsLeastRecentlyUsed: when full, the bucket evicted is
// the one used longest ago, and idle buckets are dropped once full again.
func TestRateLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(60) // one a second, full again after a minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addr := netip.MustParseAddr("10.0.0.0")
	first := addr.Next()
	for range maxRateBuckets {
		addr = addr.Next()
		l.allow(addr, now)
	}
	second := first.Next()
	later := now.Add(30 * time.Second)
	l.allow(first, later) // first is now the most recently used, second the least
	l.allow(addr.Next(), later)
	if _, ok := l.buckets[clientNetwork(second)]; ok {
		t.Errorf("the least recently used bucket survived")
	}
	if _, ok := l.buckets[clientNetwork(first)]; !ok {
		t.Errorf("a recently used bucket was evicted")
	}
	l.allow(first, now.Add(time.Minute))
	if n := len(l.buckets); n != 2 {
		t.Errorf("a refill period after the flood, %d buckets, want 2 (the two used since)", n)
	}
}

// TestLogoutRevokesEveryCredentialPresented: a sign-out that carries both a
// bearer token and a session cookie ends both, and clears the cookie.
func TestLogoutRevokesEveryCredentialPresented(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	c := e.sessionCookie(t)
	tok := e.newUser("both")
	header := cookieHeader(c)
	header["Authorization"] = "Bearer " + tok
	resp, body := e.do(request{method: "POST", path: "/auth/logout", header: header})
	wantStatus(t, resp, body, http.StatusNoContent)
	if status, _ := e.me(bearer(tok)); status != http.StatusUnauthorized {
		t.Errorf("bearer token after logout: %d, want 401", status)
	}
	if status, _ := e.me(cookieHeader(c)); status != http.StatusUnauthorized {
		t.Errorf("session cookie after logout: %d, want 401", status)
	}
	cleared := false
	for _, set := range resp.Cookies() {
		cleared = cleared || set.Name == c.Name && set.MaxAge < 0
	}
	if !cleared {
		t.Errorf("logout Set-Cookie %v, want the session cookie cleared", resp.Header["Set-Cookie"])
	}
}

// TestTokenJSONIsStrict: a JSON token request is read as strictly as the
// API's bodies: unknown fields, trailing data, a field given twice and a
// field name in another case are invalid_request, and do not burn the code.
func TestTokenJSONIsStrict(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	cases := []struct {
		name, want string
		body       func(a testApp, code string) string
	}{
		{"unknown field", `unknown field "scope"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q,"redirect_uri":%q,"scope":"all"}`, code, a.verifier, a.redirectURI)
		}},
		{"trailing data", "not a valid token request", func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q,"redirect_uri":%q} {}`, code, a.verifier, a.redirectURI)
		}},
		{"duplicate field", `duplicate field "code"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":"decoy","code":%q,"code_verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
		{"upper-case field", `unknown field "CODE"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","CODE":%q,"code_verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
		{"mixed-case field", `unknown field "Code_Verifier"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"Code_Verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp()
			code := e.signInApp(newTestBrowser(t, e.URL), a)
			resp, body := e.postToken("application/json", tc.body(a, code))
			wantOAuthError(t, resp, body, "invalid_request")
			if d := decode[oauthErrorOut](t, body).Description; !strings.Contains(d, tc.want) {
				t.Errorf("error_description %q, want it to say %q", d, tc.want)
			}
			resp, body = e.redeem(a, code)
			wantStatus(t, resp, body, http.StatusOK)
		})
	}
}

// TestAPIJSONRefusesDuplicateAndCaseVariantFields: the API's bodies refuse
// a field given twice (encoding/json would keep the last) and a field name
// that matches only by ignoring case, with the usual 400.
func TestAPIJSONRefusesDuplicateAndCaseVariantFields(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	tok := e.newUser("strict")
	up := func(body string) (*http.Response, []byte) {
		return e.do(request{method: "POST", path: "/upload/", token: tok, body: body})
	}
	for _, tc := range []struct{ body, want string }{
		{`{"filename":"a/b","filename":"ok.txt"}`, `duplicate field "filename"`},
		{`{"filename":"a.txt","size":1,"size":2}`, `duplicate field "size"`},
		{`{"FileName":"a.txt"}`, `unknown field "FileName"`},
		{`{"filename":"a.txt","Content_Type":"text/plain"}`, `unknown field "Content_Type"`},
		{"{\"filename\":\"a.txt\",\"\u017Fize\":1}", "unknown field \"\u017Fize\""}, // ſ folds to s
	} {
		resp, body := up(tc.body)
		wantStatus(t, resp, body, http.StatusBadRequest)
		if msg := decode[apiErrorJSON](t, body).Message; msg != tc.want {
			t.Errorf("%s: message %q, want %q", tc.body, msg, tc.want)
		}
	}
	resp, body := up(`{"filename":"a.txt","size":1,"content_type":"text/plain"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	id := decode[uploadOut](t, body).File.ID
	resp, body = e.do(request{method: "POST", path: "/upload/" + id + "/complete", token: tok, body: `{"size":1,"size":1}`})
	wantStatus(t, resp, body, http.StatusBadRequest)
	if msg := decode[apiErrorJSON](t, body).Message; msg != `duplicate field "size"` {
		t.Errorf("complete: message %q, want duplicate field", msg)
	}
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

// TestProductionURLsIgnoreHost: with a provider and no PUBLIC_URL, upload
// and download URLs are built from GOOGLE_REDIRECT_URI's origin, whatever
// Host the request names.
func TestProductionURLsIgnoreHost(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{
		"GOOGLE_CLIENT_ID": testClientID, "GOOGLE_CLIENT_SECRET": testClientSecret,
		"GOOGLE_REDIRECT_URI": "https://dropp.example.com/auth/google/callback",
	})
	tok := e.newUser("prod")
	const host = "attacker.example"
	resp, body := e.doWithHost(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "a.txt"}}, host)
	wantStatus(t, resp, body, http.StatusCreated)
	up := decode[uploadOut](t, body)
	if want := "https://dropp.example.com/objects/upload"; up.Upload.URL != want {
		t.Errorf("upload URL %q, want %q", up.Upload.URL, want)
	}
	f := &File{ID: newID(), Owner: apiTester{e}.userID(tok), Filename: "b.txt", Status: statusComplete,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	f.ObjectKey = objectKey(f.Owner, f.ID, f.CreatedAt)
	if err := e.srv.store.InsertFile(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	resp, body = e.doWithHost(request{method: "GET", path: "/download/" + f.ID, token: tok}, host)
	wantStatus(t, resp, body, http.StatusOK)
	if u := decode[downloadOut](t, body).URL; !strings.HasPrefix(u, "https://dropp.example.com/objects/") {
		t.Errorf("download URL %q, want it on https://dropp.example.com", u)
	}
}

// doWithHost is e.do with the request's Host set.
func (e *testEnv) doWithHost(req request, host string) (*http.Response, []byte) {
	e.t.Helper()
	hr, err := http.NewRequest(req.method, e.URL+req.path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if req.body != nil {
		data, _ := json.Marshal(req.body)
		hr.Body = io.NopCloser(bytes.NewReader(data))
		hr.ContentLength = int64(len(data))
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Host = host
	hr.Header.Set("Authorization", "Bearer "+req.token)
	resp, err := e.client.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// TestCheckFieldNames: only the names of the top-level object count, read
// as the decoder reads them (escapes resolved), never strings that merely
// look like names inside values.
func TestCheckFieldNames(t *testing.T) {
	t.Parallel()
	fields := []string{"a", "b", "obj"}
	tests := []struct{ data, want string }{
		{`{"a":1,"b":"x"}`, ""},
		{` { "a" : 1 , "b" : 2 } `, ""},
		{`{"a":1,"a":2}`, `duplicate field "a"`},
		{`{"a":1, "\u0061":2}`, `duplicate field "a"`},
		{`{"A":1}`, `unknown field "A"`},
		{`{"\u0041":1}`, `unknown field "A"`},
		{`{"b":"\"a\":1,\"a\":2","a":"}{"}`, ""},
		{`{"obj":{"x":1,"x":2,"A":3},"a":[{"a":1},"b:"]}`, ""},
		{`{"obj":{"a":{"b":1}},"b":{"c":[1,2]},"a":null}`, ""},
		{`{"obj":[],"obj":{}}`, `duplicate field "obj"`},
		{`{"b":"\\","c":1}`, `unknown field "c"`},
		{`"a"`, ""},
		{`["a","b","a"]`, ""},
		{`null`, ""},
		{`{}`, ""},
	}
	for _, tc := range tests {
		err := checkFieldNames([]byte(tc.data), fields)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.data, got, tc.want)
		}
	}
	if err := checkFieldNames([]byte(`{"x":1,"y":2,"x":3}`), nil); err == nil || err.Error() != `duplicate field "x"` {
		t.Errorf("without fields: %v, want the duplicate refused", err)
	}
}

// TestJSONFieldNames: the names checkFieldNames allows are exactly the
// ones encoding/json decodes into, embedded structs included.
func TestJSONFieldNames(t *testing.T) {
	t.Parallel()
	type Inner struct {
		Deep string `json:"deep"`
	}
	type outer struct {
		*Inner
		tokenRequest
		Tagged  string `json:"tagged,omitempty"`
		Plain   string
		Skipped string `json:"-"`
		private string
	}
	got := jsonFieldNames(&outer{})
	want := []string{"deep", "grant_type", "code", "code_verifier", "redirect_uri", "tagged", "Plain"}
	if !slices.Equal(got, want) {
		t.Errorf("jsonFieldNames = %q, want %q", got, want)
	}
	if got := jsonFieldNames(&map[string]any{}); got != nil {
		t.Errorf("jsonFieldNames(map) = %q, want nil", got)
	}
}
