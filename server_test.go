package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSecretKey is the SECRET_KEY of test servers.
const testSecretKey = "test-secret-key-0123456789abcdef-0123456789"

// testEnv is one Dropp server under test, on real backends, reached through
// a real HTTP client.
type testEnv struct {
	t      *testing.T
	srv    *server
	URL    string
	client *http.Client // does not follow redirects
}

// mongoS3Env is the environment of a server on the shared FerretDB (a fresh
// database) and versitygw (a fresh bucket).
func mongoS3Env(t *testing.T) map[string]string {
	env := s3TestEnv(t, testBucket(t))
	env["MONGODB_URI"] = requireRig(t).mongoURI
	env["MONGO_DB"] = testDatabaseName(t)
	env["SECRET_KEY"] = testSecretKey
	env["ADDR"] = "127.0.0.1:0"
	return env
}

// backendEnv is the environment of a server on the given metadata
// ("mongodb" or "local") and object ("s3" or "local") backends.
func backendEnv(t *testing.T, metadata, objects string, extra map[string]string) map[string]string {
	env := mongoS3Env(t)
	env["DATA_DIR"] = t.TempDir()
	if metadata == "local" {
		delete(env, "MONGODB_URI")
	}
	if objects == "local" {
		delete(env, "AWS_S3_BUCKET")
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// newTestEnv starts a server on MongoDB and S3 with env overriding the
// defaults of mongoS3Env.
func newTestEnv(t *testing.T, env map[string]string) *testEnv {
	t.Helper()
	vars := mongoS3Env(t)
	maps.Copy(vars, env)
	return startTestEnv(t, vars)
}

// startTestEnv builds the server exactly as run does, from env alone.
func startTestEnv(t *testing.T, env map[string]string) *testEnv {
	t.Helper()
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := testLogger(t)
	if err := ensureSecretKey(cfg); err != nil {
		t.Fatal(err)
	}
	b, err := openBackends(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("backends: %v", err)
	}
	t.Cleanup(b.close)
	s := newServer(cfg, logger, b.store, b.objects)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &testEnv{t: t, srv: s, URL: ts.URL, client: noRedirectClient()}
}

// noRedirectClient is the tests' HTTP client: it shows a redirect as the
// server answered it, so a test sees exactly what was said, and gives up
// after 30 s.
func noRedirectClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// testLogger sends server logs to the test log, shown only on failure.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newUser signs a new user in the way sign-in does and returns a bearer
// token for them.
func (e *testEnv) newUser(name string) (token string) {
	e.t.Helper()
	u, err := e.srv.store.UpsertUser(context.Background(), User{Issuer: "test", Subject: name + "-" + newID(), Email: name + "@example.com", EmailVerified: true})
	if err != nil {
		e.t.Fatalf("upsert user: %v", err)
	}
	tok, _, err := e.srv.issueToken(context.Background(), u.ID)
	if err != nil {
		e.t.Fatalf("issue token: %v", err)
	}
	return tok
}

// request is one API call for testEnv.do.
type request struct {
	method, path string
	token        string            // bearer token, if any
	body         any               // marshalled as JSON unless a string
	header       map[string]string // extra headers
}

// do sends req and returns the response with its body read.
func (e *testEnv) do(req request) (*http.Response, []byte) {
	e.t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(req.method, e.URL+req.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, data
}

// wantStatus fails the test unless resp has the status, and, for errors,
// the documented error shape with the expected code.
func wantStatus(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if status < 400 {
		return
	}
	var e apiErrorJSON
	if err := json.Unmarshal(body, &e); err != nil || e.Error != codeForStatus[status] || e.Message == "" {
		t.Fatalf("error body %s: want {\"error\":%q,\"message\":...}", body, codeForStatus[status])
	}
}

// Test copies of the API's shapes: an accidental change of the contract
// breaks these tests.
type (
	apiErrorJSON struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	fileOut struct {
		ID          string     `json:"id"`
		Filename    string     `json:"filename"`
		Size        *int64     `json:"size"`
		ContentType string     `json:"content_type"`
		Status      string     `json:"status"`
		CreatedAt   time.Time  `json:"created_at"`
		CompletedAt *time.Time `json:"completed_at"`
	}
	uploadOut struct {
		File   fileOut `json:"file"`
		Upload struct {
			URL       string            `json:"url"`
			Fields    map[string]string `json:"fields"`
			ExpiresAt time.Time         `json:"expires_at"`
		} `json:"upload"`
	}
	fileResponseOut struct {
		File fileOut `json:"file"`
	}
	listOut struct {
		Files      []fileOut `json:"files"`
		NextCursor *string   `json:"next_cursor"`
	}
	downloadOut struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		File      fileOut   `json:"file"`
	}
)

var codeForStatus = map[int]string{
	400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 409: "conflict",
	413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited", 500: "internal", 503: "unavailable",
}

// decode unmarshals body into a new T, failing the test on error.
func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}

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

// syncBuffer collects a log or a child process's output (Chromium's
// stderr, a server's log) for checks and failure messages, safe to write
// and read at once.
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
