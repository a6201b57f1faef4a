package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Operational tests: how Dropp behaves when a backend goes away, when it is
// shut down with requests in flight, when clients misbehave, and what it
// logs. They run the real server on the test rig's FerretDB and versitygw.

// opsAnswerBound is how long any request may take while a backend is down:
// every store call is bounded by mongoOpTimeout (3 s), so a client must get a
// 503 well before its own timeout. It is a bound check, not a performance
// figure.
const opsAnswerBound = 5 * time.Second

// opsDriverWords must never appear in what a client is told: they would mean
// a driver error (with addresses and internals) leaked into a response.
var opsDriverWords = []string{"mongo", "connection", "127.0.0.1", "dial", "selection", "deadline", "refused", "ferret"}

// TestOpsMongoOutageAnswers503AndRecovers stops Dropp's MongoDB under it:
// every route that needs metadata answers a quick 503 "unavailable" without
// driver text, liveness stays 200, and once MongoDB is back the same server
// (not restarted) serves the earlier data again.
func TestOpsMongoOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	ferret := startFerretDB(t)
	e := newTestEnv(t, map[string]string{"MONGODB_URI": ferret.URI()})
	tok := e.newUser("outage")
	resp, body := e.do(request{method: "POST", path: "/upload/", token: tok,
		body: map[string]any{"filename": "kept.txt", "size": 3, "content_type": "text/plain"}})
	wantStatus(t, resp, body, http.StatusCreated)
	kept := decode[uploadOut](t, body).File.ID
	list := request{method: "GET", path: "/list/", token: tok}
	resp, body = e.do(list)
	wantStatus(t, resp, body, http.StatusOK)

	ferret.Stop(t)
	down := map[string]request{
		"list":     list,
		"create":   {method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "new.txt"}},
		"complete": {method: "POST", path: "/upload/" + kept + "/complete", token: tok},
		"readyz":   {method: "GET", path: "/readyz"},
	}
	t.Run("down", func(t *testing.T) {
		for name, req := range down {
			t.Run(name, func(t *testing.T) {
				t.Parallel() // each waits out the store's timeout; together they take one
				opsWantUnavailable(t, opsEnvFor(e, t), req, ferret.addr)
			})
		}
	})
	if t.Failed() {
		return
	}
	resp, body = e.do(request{method: "GET", path: "/healthz"})
	wantStatus(t, resp, body, http.StatusOK)

	ferret.Start(t)
	began := time.Now()
	files := opsPollList(t, e, tok, 30*time.Second)
	t.Logf("list answered 200 %v after MongoDB was back", time.Since(began).Round(time.Millisecond))
	if len(files) != 1 || files[0].ID != kept {
		t.Fatalf("after MongoDB came back, list shows %+v, want the file %s made before the outage", files, kept)
	}
	resp, body = e.do(request{method: "GET", path: "/readyz"})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "after.txt"}})
	wantStatus(t, resp, body, http.StatusCreated)
}

// TestOpsMongoHangAnswers503 freezes the link to MongoDB instead of
// stopping it: connections stay open but nothing answers, as in a network
// partition. Requests must still end in a quick 503, not hang until the
// client gives up.
func TestOpsMongoHangAnswers503(t *testing.T) {
	t.Parallel()
	ferret := startFerretDB(t)
	link := opsStartLink(t, ferret.addr)
	e := newTestEnv(t, map[string]string{"MONGODB_URI": "mongodb://" + link.addr + "/"})
	tok := e.newUser("hang")
	resp, body := e.do(request{method: "GET", path: "/list/", token: tok})
	wantStatus(t, resp, body, http.StatusOK)

	link.freeze()
	t.Run("frozen", func(t *testing.T) {
		for name, req := range map[string]request{
			"list":   {method: "GET", path: "/list/", token: tok},
			"readyz": {method: "GET", path: "/readyz"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				opsWantUnavailable(t, opsEnvFor(e, t), req, link.addr)
			})
		}
	})
	link.thaw()
	if files := opsPollList(t, e, tok, 30*time.Second); len(files) != 0 {
		t.Fatalf("list after the link came back: %+v, want no files", files)
	}
}

// opsLink is a TCP relay to a server that the test can freeze: while frozen
// it accepts and reads but forwards nothing, in either direction.
type opsLink struct {
	addr string
	gate sync.Mutex // held while frozen; every forwarded chunk passes it
}

// opsStartLink relays a loopback port to target until t ends.
func opsStartLink(t *testing.T, target string) *opsLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &opsLink{addr: ln.Addr().String()}
	var running sync.WaitGroup // the accept loop and every relay goroutine
	t.Cleanup(func() { ln.Close(); running.Wait() })
	running.Add(1)
	go func() {
		defer running.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			running.Add(2)
			go func() { defer running.Done(); l.forward(out, in) }()
			go func() { defer running.Done(); l.forward(in, out) }()
		}
	}()
	return l
}

// forward copies src to dst through the gate, then closes both.
func (l *opsLink) forward(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.gate.Lock()
			l.gate.Unlock() // an empty critical section: it only waits while frozen
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *opsLink) freeze() { l.gate.Lock() }
func (l *opsLink) thaw()   { l.gate.Unlock() }

// opsEnvFor returns a copy of e whose helpers report to t, so parallel
// subtests can share one server.
func opsEnvFor(e *testEnv, t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

// opsWantUnavailable sends req and wants a 503 "unavailable" within
// opsAnswerBound whose body says nothing about the driver or the database's
// address.
func opsWantUnavailable(t *testing.T, e *testEnv, req request, dbAddr string) {
	t.Helper()
	began := time.Now()
	resp, body := e.do(req)
	took := time.Since(began)
	wantStatus(t, resp, body, http.StatusServiceUnavailable)
	if took > opsAnswerBound {
		t.Errorf("%s %s took %v with MongoDB down, want under %v", req.method, req.path, took, opsAnswerBound)
	}
	lower := strings.ToLower(string(body))
	for _, word := range append(opsDriverWords, dbAddr) {
		if strings.Contains(lower, strings.ToLower(word)) {
			t.Errorf("%s %s: body %s contains %q: driver text reached the client", req.method, req.path, body, word)
		}
	}
}

// opsPollList lists tok's files until the server answers 200, failing after
// limit. While MongoDB comes back only 503 is an acceptable answer: a 500
// would mean a reconnection error escaped the store's error mapping.
func opsPollList(t *testing.T, e *testEnv, tok string, limit time.Duration) []fileOut {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, body := e.do(request{method: "GET", path: "/list/", token: tok})
		switch resp.StatusCode {
		case http.StatusOK:
			return decode[listOut](t, body).Files
		case http.StatusServiceUnavailable:
		default:
			t.Fatalf("while MongoDB restarts, list answered %d %s, want 503 or 200", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("list still answers %d %s %v after MongoDB came back", resp.StatusCode, body, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOpsGracefulShutdownFinishesInFlightRequests runs the whole program,
// starts uploads whose JSON bodies arrive slowly, cancels runDropp's context
// half-way through the bodies, and wants: new connections refused at once,
// the in-flight requests finished with 201, and run returning nil.
func TestOpsGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	env := mongoS3Env(t)
	tok := opsMintToken(t, env)
	p := opsStartProgram(t, env)
	addr := p.listenAddr(t)
	opsWaitHealthy(t, addr)

	const n = 3
	uploads := make([]*opsSlowUpload, n)
	for i := range uploads {
		uploads[i] = opsStartSlowUpload(t, addr, tok, fmt.Sprintf(`{"filename":"in-flight-%d.txt","size":3}`, i))
	}
	for _, u := range uploads {
		u.writeFirstHalf(t) // the handler is now reading this body
	}

	p.cancel()
	opsWaitRefused(t, addr) // the listener is closed: shutdown has begun
	if p.exited() {
		t.Fatalf("run returned (%v) while %d requests were still being read", p.err, n)
	}
	for _, u := range uploads {
		u.writeRest(t)
	}
	for i, u := range uploads {
		res := u.result(t)
		if res.status != http.StatusCreated {
			t.Errorf("in-flight upload %d: status %d %s, want 201", i, res.status, res.body)
			continue
		}
		if got := decode[uploadOut](t, res.body).File.Filename; got != fmt.Sprintf("in-flight-%d.txt", i) {
			t.Errorf("in-flight upload %d: file %q", i, got)
		}
	}
	if err, ok := p.wait(10 * time.Second); !ok {
		t.Fatal("run did not return within 10s of the last in-flight request")
	} else if err != nil {
		t.Fatalf("run after a graceful shutdown = %v, want nil", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("a new connection to %s was accepted after run returned", addr)
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("stderr does not log the shutdown:\n%s", p.stderr.String())
	}
}

// opsMintToken stores a bearer token in env's database the way sign-in does,
// through a store of its own, for a server that runDropp() starts.
func opsMintToken(t *testing.T, env map[string]string) string {
	t.Helper()
	store, err := openMongoStore(t.Context(), env["MONGODB_URI"], env["MONGO_DB"], testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	tok, now := newSecret(32), time.Now().UTC()
	c := Credential{Hash: hashSecret(tok), Kind: kindBearer, UserID: newID(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := store.InsertCredential(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return tok
}

// opsSlowUpload is a POST /upload/ whose body the test writes by hand. It
// sends "Expect: 100-continue", so the server's "100 Continue" tells the test
// that the handler has started reading the body: a request truly in flight.
type opsSlowUpload struct {
	body    string
	w       *io.PipeWriter
	reading chan struct{} // closed when the server asked for the body
	done    chan opsResult
}

// opsResult is what an opsSlowUpload got back.
type opsResult struct {
	status int
	body   []byte
	err    error
}

func opsStartSlowUpload(t *testing.T, addr, tok, body string) *opsSlowUpload {
	t.Helper()
	pr, pw := io.Pipe()
	u := &opsSlowUpload{body: body, w: pw, reading: make(chan struct{}), done: make(chan opsResult, 1)}
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	var once sync.Once
	trace := &httptrace.ClientTrace{Got100Continue: func() { once.Do(func() { close(u.reading) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "POST", "http://"+addr+"/upload/", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 30 * time.Second}}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			u.done <- opsResult{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		u.done <- opsResult{status: resp.StatusCode, body: data, err: err}
	}()
	return u
}

// writeFirstHalf waits until the handler reads the body, then sends half of it.
func (u *opsSlowUpload) writeFirstHalf(t *testing.T) {
	t.Helper()
	select {
	case <-u.reading:
	case res := <-u.done:
		t.Fatalf("upload ended before the server read its body: %d %s %v", res.status, res.body, res.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not ask for the body (no 100 Continue) within 10s")
	}
	if _, err := io.WriteString(u.w, u.body[:len(u.body)/2]); err != nil {
		t.Fatal(err)
	}
}

// writeRest sends the rest of the body and ends it.
func (u *opsSlowUpload) writeRest(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(u.w, u.body[len(u.body)/2:]); err != nil {
		t.Fatalf("writing the rest of an in-flight body: %v", err)
	}
	u.w.Close()
}

func (u *opsSlowUpload) result(t *testing.T) opsResult {
	t.Helper()
	select {
	case res := <-u.done:
		if res.err != nil {
			t.Fatalf("in-flight upload: %v", res.err)
		}
		return res
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight upload got no answer within 15s")
		return opsResult{}
	}
}

// opsProgram is one run of the whole program in a goroutine, as main runs
// it, with its outputs captured.
type opsProgram struct {
	cancel         context.CancelFunc
	stdout, stderr *opsSyncBuffer
	done           chan struct{} // closed when run returned; err is then set
	err            error
}

// opsStartProgram starts runDropp with env; at t's end it cancels it and waits
// for it, so no server outlives its test.
func opsStartProgram(t *testing.T, env map[string]string, args ...string) *opsProgram {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &opsProgram{cancel: cancel, stdout: &opsSyncBuffer{}, stderr: &opsSyncBuffer{}, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = runDropp(ctx, append([]string{"dropp"}, args...), testGetenv(env), p.stdout, p.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if _, ok := p.wait(30 * time.Second); !ok {
			t.Error("run did not return within 30s of its context ending")
		}
	})
	return p
}

// wait waits up to d for run to return; ok is false if it did not.
func (p *opsProgram) wait(d time.Duration) (err error, ok bool) {
	select {
	case <-p.done:
		return p.err, true
	case <-time.After(d):
		return nil, false
	}
}

func (p *opsProgram) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// opsListeningLine is the line run prints once it accepts connections.
var opsListeningLine = regexp.MustCompile(`(?m)^listening: http://([^/\s]+)/login/$`)

// listenAddr waits for the "listening:" line and returns its address.
func (p *opsProgram) listenAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := opsListeningLine.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		if p.exited() {
			t.Fatalf("run returned %v before listening; stderr:\n%s", p.err, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within 30s; stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opsWaitHealthy polls /healthz until it answers 200.
func opsWaitHealthy(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for httpStatus("http://"+addr+"/healthz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("http://%s/healthz not 200 within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opsWaitRefused polls until a TCP connection to addr is refused.
func opsWaitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 5s after runDropp's context ended", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// opsSyncBuffer is a bytes.Buffer safe for a server writing and a test
// reading at the same time.
type opsSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *opsSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *opsSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestOpsServerTimeouts checks that the production server bounds every phase
// of a connection (security checklist item 30), then shows on a real socket that a
// client trickling its headers is cut off once ReadHeaderTimeout passes.
func TestOpsServerTimeouts(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(nil)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("newHTTPServer: %s = %v, want a bound", name, d)
		}
	}
	if srv.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v: a slowloris client holds a connection that long", srv.ReadHeaderTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want a limit of at most 1 MiB", srv.MaxHeaderBytes)
	}

	t.Run("trickled headers are cut off", func(t *testing.T) {
		t.Parallel()
		srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		srv.ReadHeaderTimeout = 300 * time.Millisecond // the production 5 s, shortened to keep the test fast
		addr := opsServe(t, srv)
		if got := httpStatus("http://" + addr + "/healthz"); got != http.StatusOK {
			t.Fatalf("a normal request got %d, want 200", got)
		}
		took, answer := opsTrickleHeaders(t, addr, 100*time.Millisecond)
		if took > time.Second {
			t.Errorf("a client sending one header byte per 100ms kept its connection %v, want it closed within ~1s", took)
		}
		if strings.Contains(answer, " 200 ") {
			t.Errorf("the trickling client was served: %q", answer)
		}
	})
}

// opsServe serves srv on a loopback port until t ends and returns the address.
func opsServe(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// opsTrickleHeaders opens a raw connection, sends a request line and one
// header, then one more header byte every interval, never ending the headers.
// It returns how long the server kept the connection open and what it sent.
func opsTrickleHeaders(t *testing.T, addr string, interval time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	closed := make(chan string, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		data, _ := io.ReadAll(conn) // until the server closes, or the deadline
		closed <- string(data)
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case answer := <-closed:
			return time.Since(began), answer
		case <-tick.C:
			conn.Write([]byte("a")) // errors once the server has closed; the reader sees it
		}
	}
}

// TestOpsPanicBecomesJSON500 wants a panicking handler turned into the API's
// JSON 500 that says nothing of the panic, while http.ErrAbortHandler keeps
// its meaning (abort the response) and is not swallowed.
func TestOpsPanicBecomesJSON500(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	h := e.srv.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom: secret internal detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/files", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	var body apiErrorJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != codeInternal || body.Message == "" {
		t.Fatalf("body %q, want {\"error\":\"internal\",\"message\":...}", rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("body %q shows the panic value", rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}

	abort := e.srv.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on to net/http", v)
		}
	}()
	abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	t.Error("http.ErrAbortHandler was swallowed")
}

// opsLoggedRequest is a request the logging test made and the log line it
// expects for it.
type opsLoggedRequest struct {
	id                    string // X-Request-Id of the response
	method, route, userID string
	status                int
}

// TestOpsRequestLog makes requests with a bearer token, a session cookie and
// downloads that return signed URLs, and reads the server's JSON log: exactly
// one line per request with method, route pattern, status, duration, user and
// request id, and no secret (token, cookie, signature) and no query string.
func TestOpsRequestLog(t *testing.T) {
	t.Parallel()
	env := mongoS3Env(t)
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatal(err)
	}
	b, err := openBackends(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	logs := &opsSyncBuffer{}
	s := newServer(cfg, slog.New(slog.NewJSONHandler(logs, nil)), b.store, b.objects)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	e := &testEnv{t: t, srv: s, URL: ts.URL, client: noRedirectClient()}

	tok := e.newUser("logged")
	cred, err := s.store.FindCredential(t.Context(), kindBearer, hashSecret(tok), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	user := cred.UserID
	sessionSecret, now := newSecret(32), time.Now().UTC()
	if err := s.store.InsertCredential(t.Context(), Credential{Hash: hashSecret(sessionSecret), Kind: kindSession,
		UserID: user, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cookie := s.signer.sign(sessionCookie, sessionSecret, now)
	wrongToken := newSecret(32)

	var made []opsLoggedRequest
	var secrets []string // must never be logged
	send := func(req request, route, userID string, status int) []byte {
		t.Helper()
		resp, body := e.do(req)
		wantStatus(t, resp, body, status)
		made = append(made, opsLoggedRequest{id: resp.Header.Get("X-Request-Id"), method: req.method, route: route, userID: userID, status: status})
		if loc := resp.Header.Get("Location"); loc != "" {
			secrets = append(secrets, opsSignature(t, loc))
		}
		return body
	}

	body := send(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "log.txt", "size": 2}},
		"POST /upload/{$}", user, http.StatusCreated)
	up := decode[uploadOut](t, body)
	for k, v := range up.Upload.Fields {
		if strings.EqualFold(k, "x-amz-signature") || strings.EqualFold(k, "policy") {
			secrets = append(secrets, v)
		}
	}
	if resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, []byte("hi")); resp.StatusCode/100 != 2 {
		t.Fatalf("S3 POST: %d %s", resp.StatusCode, body)
	}
	id := up.File.ID
	send(request{method: "POST", path: "/upload/" + id + "/complete", token: tok}, "POST /upload/{id}/complete", user, http.StatusOK)
	body = send(request{method: "GET", path: "/download/" + id, token: tok}, "GET /download/{id}", user, http.StatusOK)
	secrets = append(secrets, opsSignature(t, decode[downloadOut](t, body).URL))
	send(request{method: "GET", path: "/download/" + id + "?redirect=1", token: tok}, "GET /download/{id}", user, http.StatusFound)
	send(request{method: "GET", path: "/list/?limit=7&status=complete", header: map[string]string{"Cookie": sessionCookie + "=" + cookie}},
		"GET /list/{$}", user, http.StatusOK)
	send(request{method: "GET", path: "/list/", header: map[string]string{"Authorization": "Bearer " + wrongToken}},
		"GET /list/{$}", "", http.StatusUnauthorized)
	send(request{method: "GET", path: "/no-such-route/private-segment?q=zzz"}, "unmatched", "", http.StatusNotFound)
	send(request{method: "GET", path: "/healthz"}, "GET /healthz", "", http.StatusOK)

	lines := opsRequestLines(t, logs.String())
	if len(lines) != len(made) {
		t.Errorf("%d request log lines for %d requests:\n%s", len(lines), len(made), logs.String())
	}
	for _, want := range made {
		opsCheckLogLine(t, lines, want)
	}
	text := logs.String()
	secrets = append(secrets, tok, wrongToken, cookie, sessionSecret, "X-Amz-Signature", "x-amz-signature", "X-Amz-Credential",
		"limit=7", "redirect=", "q=zzz", "private-segment", "?")
	for _, secret := range secrets {
		if secret == "" {
			t.Fatal("a secret to look for is empty: the test lost track of a value")
		}
		if strings.Contains(text, secret) {
			t.Errorf("the log contains %q:\n%s", secret, text)
		}
	}
}

// opsSignature returns the X-Amz-Signature value of a pre-signed URL.
func opsSignature(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("X-Amz-Signature")
	if sig == "" {
		t.Fatalf("no X-Amz-Signature in %s", rawURL)
	}
	return sig
}

// opsRequestLines parses a JSON log and keeps the "request" lines.
func opsRequestLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if line["msg"] == "request" {
			lines = append(lines, line)
		}
	}
	return lines
}

// opsCheckLogLine wants exactly one line for the request and its fields.
func opsCheckLogLine(t *testing.T, lines []map[string]any, want opsLoggedRequest) {
	t.Helper()
	var found []map[string]any
	for _, l := range lines {
		if l["request_id"] == want.id {
			found = append(found, l)
		}
	}
	if want.id == "" || len(found) != 1 {
		t.Errorf("%s %s: %d log lines with request_id %q, want 1", want.method, want.route, len(found), want.id)
		return
	}
	got := found[0]
	wantFields := map[string]any{"method": want.method, "route": want.route, "status": float64(want.status), "user": want.userID}
	for k, v := range wantFields {
		if got[k] != v {
			t.Errorf("%s %s: log %s = %v, want %v (line %v)", want.method, want.route, k, got[k], v, got)
		}
	}
	if d, ok := got["duration"].(float64); !ok || d <= 0 {
		t.Errorf("%s %s: log duration = %v, want a positive number (line %v)", want.method, want.route, got["duration"], got)
	}
}

// TestOpsReadyzNamesWhatFailed wants /readyz to say which backend is down.
func TestOpsReadyzNamesWhatFailed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		start        func(t *testing.T) *testEnv // a server with one backend broken
		want, notNow string
	}{
		{
			name: "missing bucket",
			start: func(t *testing.T) *testEnv {
				return newTestEnv(t, map[string]string{"AWS_S3_BUCKET": "nonexistent-bucket-xyz"})
			},
			want: "object store", notNow: "metadata store",
		},
		{
			name: "MongoDB stopped",
			start: func(t *testing.T) *testEnv {
				ferret := startFerretDB(t)
				e := newTestEnv(t, map[string]string{"MONGODB_URI": ferret.URI()})
				resp, body := e.do(request{method: "GET", path: "/readyz"})
				wantStatus(t, resp, body, http.StatusOK)
				ferret.Stop(t)
				return e
			},
			want: "metadata store", notNow: "object store",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := c.start(t)
			began := time.Now()
			resp, body := e.do(request{method: "GET", path: "/readyz"})
			wantStatus(t, resp, body, http.StatusServiceUnavailable)
			if took := time.Since(began); took > opsAnswerBound+time.Second {
				t.Errorf("/readyz took %v", took)
			}
			msg := decode[apiErrorJSON](t, body).Message
			if !strings.Contains(msg, c.want) || strings.Contains(msg, c.notNow) {
				t.Errorf("/readyz message %q, want it to name %q and not %q", msg, c.want, c.notNow)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("/readyz Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// TestOpsStartupFailures runs the program with a broken setting: runDropp must
// return promptly with one line that names the setting, and never listen.
func TestOpsStartupFailures(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	cases := []struct {
		name string
		env  map[string]string // "" deletes the variable
		want string
	}{
		{"SECRET_KEY missing", map[string]string{"SECRET_KEY": ""}, "SECRET_KEY"},
		{"SECRET_KEY of 10 bytes", map[string]string{"SECRET_KEY": "0123456789"}, "SECRET_KEY"},
		{"PRESIGN_TTL_SECONDS not a number", map[string]string{"PRESIGN_TTL_SECONDS": "abc"}, "PRESIGN_TTL_SECONDS"},
		{"ADDR in use", map[string]string{"ADDR": busy.Addr().String()}, "ADDR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := mongoS3Env(t)
			maps.Copy(env, c.env)
			maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
			p := opsStartProgram(t, env)
			err, ok := p.wait(30 * time.Second)
			switch {
			case !ok:
				t.Fatal("run did not return within 30s")
			case err == nil:
				t.Fatal("run returned nil, want an error")
			case !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not name %s", err, c.want)
			case strings.Contains(err.Error(), "\n"):
				t.Errorf("error %q is more than one line", err)
			}
			if strings.Contains(p.stdout.String(), "listening:") {
				t.Errorf("run announced a listener before failing:\n%s", p.stdout.String())
			}
		})
	}
}
