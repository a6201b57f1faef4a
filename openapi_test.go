package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// openAPIDoc is the part of the OpenAPI document the tests read: its
// operations by path and method. Answers are checked by openapicheck, which
// reads the rest.
type openAPIDoc struct {
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

func loadOpenAPIDoc(t *testing.T) *openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &doc
}

// routeTablePatterns reads the route table from the source: every
// mux.Handle or mux.HandleFunc call in server.routes, so that a route added
// there is seen without a second list to keep. (GET /metrics is served on
// its own listener, METRICS_ADDR, not by the API's mux.)
func routeTablePatterns(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "routes" && fn.Recv != nil {
				patterns = append(patterns, muxPatterns(t, fset, fn)...)
			}
		}
	}
	if len(patterns) < 10 {
		t.Fatalf("found only %d routes in the source: %q", len(patterns), patterns)
	}
	return patterns
}

// muxPatterns lists the patterns of the mux.Handle and mux.HandleFunc
// calls in fn.
func muxPatterns(t *testing.T, fset *token.FileSet, fn *ast.FuncDecl) []string {
	var patterns []string
	ast.Inspect(fn, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if recv, ok := sel.X.(*ast.Ident); !ok || recv.Name != "mux" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: a route pattern that is not a string literal cannot be checked against openapi.json", fset.Position(call.Pos()))
			return true
		}
		p, _ := strconv.Unquote(lit.Value)
		patterns = append(patterns, p)
		return true
	})
	return patterns
}

// openAPIRoute turns a ServeMux pattern into the document's method and
// path: "{$}" (exact match of a trailing slash) is dropped and "{key...}"
// is the parameter "{key}".
func openAPIRoute(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	path = strings.ReplaceAll(path, "...}", "}")
	return strings.ToLower(method), path
}

// TestOpenAPIDocumentsEveryRoute: every route of the route table is an
// operation of openapi.json, and every operation is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPIDoc(t)
	routes := map[string]bool{}
	for _, p := range routeTablePatterns(t) {
		method, path := openAPIRoute(p)
		routes[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("route %q is not in openapi.json (want paths[%q].%s)", p, path, method)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !routes[method+" "+path] {
				t.Errorf("openapi.json has %s %s, which is no route", strings.ToUpper(method), path)
			}
		}
	}
}

// TestOpenAPIServed: the document is served as JSON, cacheable, with a
// validator, and is valid OpenAPI 3.1 in its outline.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	resp, body := e.do(request{method: "GET", path: "/openapi.json"})
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("Cache-Control %q is not cacheable", cc)
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Error("the served document is not the embedded one")
	}
	var outline struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(body, &outline); err != nil || outline.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, %v", outline.OpenAPI, err)
	}
	resp, body = e.do(request{method: "GET", path: "/openapi.json", header: map[string]string{"If-None-Match": resp.Header.Get("ETag")}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d %s", resp.StatusCode, body)
	}
}

// contractChecker sends requests to a server and records each exchange
// for openapicheck, which checks them against the document when the test
// ends (see checkExchanges). It records which operations were called.
type contractChecker struct {
	t   *testing.T
	e   *testEnv
	doc *openAPIDoc

	mu        sync.Mutex
	seen      map[string]bool // "get /path"
	exchanges []recordedExchange
	local     bool // the object store is the server's own
}

// object sends a request to the object store: checked against the
// document in local mode; with S3 (not Dropp's to describe) it is sent
// only if it is one the flow needs (need), unchecked.
func (c *contractChecker) object(docPath string, hr *http.Request, need bool) {
	c.t.Helper()
	if c.local {
		c.call(docPath, hr)
		return
	}
	if !need {
		return
	}
	resp, err := c.e.client.Do(hr)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("S3 %s %s: %d", hr.Method, hr.URL.Path, resp.StatusCode)
	}
}

// call sends hr, whose path is docPath in the document (e.g.
// "/files/{id}"), and records the answer; it returns it.
func (c *contractChecker) call(docPath string, hr *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.e.client.Do(hr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", hr.Method, hr.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	c.record(docPath, resp, body)
	return resp, body
}

// record keeps the exchange for checkExchanges.
func (c *contractChecker) record(docPath string, resp *http.Response, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[strings.ToLower(resp.Request.Method)+" "+docPath] = true
	c.exchanges = append(c.exchanges, recordedExchange{Method: resp.Request.Method, Path: docPath,
		URL: resp.Request.URL.Path, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)})
}

// checkExchanges runs openapicheck on what c recorded and fails the test
// with its report if any answer breaks the document.
func (c *contractChecker) checkExchanges() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := runOpenAPICheck(c.t, c.exchanges)
	if err != nil {
		c.t.Errorf("openapicheck: %v\n%s", err, out)
		return
	}
	c.t.Logf("openapicheck: %s", strings.TrimSpace(out))
}

// recordedExchange is a line of openapicheck's -exchanges file (its
// exchange type).
type recordedExchange struct {
	Method      string `json:"method"`
	Path        string `json:"path"` // the document's path, e.g. "/files/{id}"
	URL         string `json:"url"`  // the real one, for messages
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// runOpenAPICheck writes exchanges to a file and runs openapicheck on it
// and openapi.json. It returns the checker's output, and an error if it
// found a problem (or could not run). A missing checker fails the test:
// a skipped contract check would pass while checking nothing.
func runOpenAPICheck(t *testing.T, exchanges []recordedExchange) (string, error) {
	t.Helper()
	bin, err := findBinary("DROPP_OPENAPICHECK_BIN", "openapicheck")
	if err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for _, x := range exchanges {
		if err := enc.Encode(x); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "exchanges.jsonl")
	if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-spec", "openapi.json", "-exchanges", file).CombinedOutput()
	return string(out), err
}

// req builds a request to the server under test.
func (c *contractChecker) req(method, path, token string, body any) *http.Request {
	c.t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		r, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		r, ctype = strings.NewReader(b), "text/plain"
	default:
		data, _ := json.Marshal(b)
		r, ctype = bytes.NewReader(data), "application/json"
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = c.e.URL + path
	}
	hr, err := http.NewRequest(method, target, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		hr.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	return hr
}

// TestOpenAPIMatchesAnswers calls every operation of the document on a
// local-mode server, each with a success and an error, and checks every
// answer against the document; then it checks that no operation went
// uncalled. The same on MongoDB and S3, and on both with invited accounts
// (openapi_accounts_test.go).
func TestOpenAPIMatchesAnswers(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		checkContract(t, newLocalTestEnv(t, map[string]string{"ADMIN_EMAILS": "boss@example.com"}), true)
	})
	t.Run("mongodb+s3", func(t *testing.T) {
		t.Parallel()
		checkContract(t, newTestEnv(t, map[string]string{"ADMIN_EMAILS": "boss@example.com"}), false)
	})
	// The same with invited accounts (SIGNIN=accounts), on both stores.
	for _, metadata := range accountStores {
		t.Run(map[string]string{"local": "local", "mongodb": "mongodb+s3"}[metadata]+" with accounts", func(t *testing.T) {
			t.Parallel()
			checkContract(t, accountsContractEnv(t, metadata), metadata == "local")
		})
	}
}

// TestOpenAPICheckCatchesBrokenAnswers: what the contract test records
// reaches a checker that refuses a broken answer, so a checker that
// accepted everything would fail the suite. A real answer of POST /upload/
// passes; the same answer without its file's "id", or with 200 where the
// document lists 201, fails, each problem named.
func TestOpenAPICheckCatchesBrokenAnswers(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	c := &contractChecker{t: t, e: e, doc: loadOpenAPIDoc(t), seen: map[string]bool{}, local: true}
	c.call("/upload/", c.req("POST", "/upload/", e.newUser("user"), map[string]any{"filename": "notes.txt"}))
	answer := c.exchanges[0]
	if out, err := runOpenAPICheck(t, []recordedExchange{answer}); err != nil {
		t.Fatalf("the real answer: %v\n%s", err, out)
	}
	noID, undocumented := answer, answer
	noID.Body = withoutFileID(t, answer.Body)
	undocumented.Status = http.StatusOK
	out, err := runOpenAPICheck(t, []recordedExchange{noID, undocumented})
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("broken answers: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{
		`POST /upload/ (/upload/) answered 201: the body does not match the document: $.file: no "id"`,
		"POST /upload/ (/upload/) answered 200, which the document does not list",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("openapicheck said:\n%s\nwant a line with %q", out, want)
		}
	}
}

// withoutFileID is an upload answer's body with its file's "id" removed.
func withoutFileID(t *testing.T, body string) string {
	t.Helper()
	var answer map[string]any
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	file, ok := answer["file"].(map[string]any)
	if !ok || file["id"] == nil {
		t.Fatalf("no file id in %s", body)
	}
	delete(file, "id")
	data, _ := json.Marshal(answer)
	return string(data)
}

// checkContract calls every operation on e (local: with the local object
// store, whose /objects/ routes are called too; else S3, which the
// document does not describe).
func checkContract(t *testing.T, e *testEnv, local bool) {
	c := &contractChecker{t: t, e: e, doc: loadOpenAPIDoc(t), seen: map[string]bool{}, local: local}
	defer c.checkExchanges() // after a t.Fatal too: its cause may be an answer the checker explains
	boss, user := contractUser(e, "boss"), contractUser(e, "user")
	const missing = "0123456789abcdef0123456789abcdef"

	c.call("/healthz", c.req("GET", "/healthz", "", nil))
	c.call("/readyz", c.req("GET", "/readyz", "", nil))
	c.call("/openapi.json", c.req("GET", "/openapi.json", "", nil))

	// Files: create, upload, complete, list, download, share, delete.
	c.call("/upload", c.req("POST", "/upload", user, map[string]any{"filename": "a.txt"}))
	c.call("/upload/", c.req("POST", "/upload/", "", map[string]any{"filename": "a.txt"}))
	c.call("/upload/", c.req("POST", "/upload/", user, map[string]any{"filename": "a/b"}))
	c.call("/upload/", c.req("POST", "/upload/", user, "filename=x"))
	content := []byte("hello\n")
	_, body := c.call("/upload/", c.req("POST", "/upload/", user, map[string]any{"filename": "notes.txt", "size": len(content), "content_type": "text/plain"}))
	up := decode[uploadOut](t, body)
	c.object("/objects/upload", uploadFormRequest(t, up.Upload.URL, map[string]string{"key": up.Upload.Fields["key"]}, content), false)
	c.object("/objects/upload", uploadFormRequest(t, up.Upload.URL, up.Upload.Fields, content), true)
	id := up.File.ID
	c.call("/upload/{id}/complete", c.req("POST", "/upload/"+missing+"/complete", user, nil))
	c.call("/upload/{id}/complete", c.req("POST", "/upload/"+id+"/complete", user, nil))
	c.call("/list/", c.req("GET", "/list/?limit=1", user, nil))
	c.call("/list/", c.req("GET", "/list/?limit=0", user, nil))
	c.call("/list", c.req("GET", "/list?status=complete", user, nil))
	c.call("/download/{id}", c.req("GET", "/download/"+missing, user, nil))
	c.call("/download/{id}", c.req("GET", "/download/"+id+"?redirect=1", user, nil))
	_, body = c.call("/download/{id}", c.req("GET", "/download/"+id, user, nil))
	dl := decode[struct {
		URL string `json:"url"`
	}](t, body)
	c.object("/objects/{key}", c.req("GET", dl.URL, "", nil), true)
	c.object("/objects/{key}", c.req("GET", strings.Replace(dl.URL, "sig=", "sig=00", 1), "", nil), false)

	c.call("/files/{id}/shares", c.req("POST", "/files/"+missing+"/shares", user, map[string]any{}))
	_, body = c.call("/files/{id}/shares", c.req("POST", "/files/"+id+"/shares", user, map[string]any{"max_downloads": 5}))
	share := decode[struct {
		Share struct{ ID, URL string } `json:"share"`
	}](t, body)
	c.call("/files/{id}/shares", c.req("GET", "/files/"+id+"/shares", user, nil))
	c.call("/files/{id}/shares", c.req("GET", "/files/"+missing+"/shares", user, nil))
	linkPath := strings.TrimPrefix(share.Share.URL, e.URL)
	page := c.req("GET", linkPath, "", nil)
	c.call("/s/{token}", page)
	page = c.req("GET", linkPath, "", nil)
	page.Header.Set("Accept", "application/json")
	c.call("/s/{token}", page)
	page = c.req("GET", "/s/nosuchlink", "", nil)
	page.Header.Set("Accept", "application/json")
	c.call("/s/{token}", page)
	c.call("/s/{token}/download", c.req("GET", linkPath+"/download", "", nil))
	c.call("/s/{token}/download", c.req("POST", linkPath+"/download", "", nil))
	c.call("/s/{token}/download", c.req("POST", "/s/nosuchlink/download", "", nil))
	checkProtectedLinkContract(c, user, id) // linkprotect_test.go
	// Drops and previews (drops.go, previews.go).
	c.call("/shares", c.req("POST", "/shares", user, map[string]any{"file_ids": []string{}}))
	_, body = c.call("/shares", c.req("POST", "/shares", user, map[string]any{"file_ids": []string{id}, "allow_preview": true, "max_downloads": 3}))
	drop := decode[struct {
		Share struct{ ID, URL string } `json:"share"`
	}](t, body)
	dropPath := strings.TrimPrefix(drop.Share.URL, e.URL)
	c.call("/shares", c.req("GET", "/shares?limit=1", user, nil))
	c.call("/shares/{id}/files", c.req("POST", "/shares/"+drop.Share.ID+"/files", user, map[string]any{"file_ids": []string{id}}))
	c.call("/shares/{id}/files", c.req("POST", "/shares/"+missing+"/files", user, map[string]any{"file_ids": []string{id}}))
	c.call("/s/{token}/files/{file_id}/download", c.req("GET", dropPath+"/files/"+id+"/download", "", nil))
	jsonDownload := c.req("POST", dropPath+"/files/"+id+"/download", "", nil)
	jsonDownload.Header.Set("Accept", "application/json")
	c.call("/s/{token}/files/{file_id}/download", jsonDownload)
	c.call("/s/{token}/files/{file_id}/download", c.req("POST", dropPath+"/files/"+missing+"/download", "", nil))
	c.call("/s/{token}/files/{file_id}/preview", c.req("GET", dropPath+"/files/"+id+"/preview", "", nil)) // text/plain: 403
	c.call("/files/{id}/preview", c.req("GET", "/files/"+id+"/preview", user, nil))
	c.call("/files/{id}/preview", c.req("GET", "/files/"+missing+"/preview", user, nil))
	c.call("/shares/{id}/files/{file_id}", c.req("DELETE", "/shares/"+drop.Share.ID+"/files/"+id, user, nil))
	c.call("/shares/{id}/files/{file_id}", c.req("DELETE", "/shares/"+drop.Share.ID+"/files/"+id, user, nil))
	c.call("/shares/{id}", c.req("DELETE", "/shares/"+share.Share.ID, user, nil))
	c.call("/shares/{id}", c.req("DELETE", "/shares/"+share.Share.ID, user, nil))
	c.call("/files/{id}", c.req("DELETE", "/files/"+id, user, nil))
	c.call("/files/{id}", c.req("DELETE", "/files/"+id, user, nil))

	// A file in parts: part URLs, a PUT, the stored parts, complete.
	_, body = c.call("/upload/", c.req("POST", "/upload/", user, map[string]any{"filename": "big.bin", "size": len(content), "multipart": true}))
	mpID := decode[uploadOut](t, body).File.ID
	c.call("/upload/{id}/parts", c.req("POST", "/upload/"+mpID+"/parts", user, map[string]any{"part_numbers": []int{0}}))
	_, body = c.call("/upload/{id}/parts", c.req("POST", "/upload/"+mpID+"/parts", user, map[string]any{"part_numbers": []int{1}}))
	part := decode[struct {
		Parts []struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		} `json:"parts"`
	}](t, body).Parts[0]
	put := func(u string) *http.Request {
		hr := c.req("PUT", u, "", nil)
		hr.Body, hr.ContentLength = io.NopCloser(bytes.NewReader(content)), int64(len(content))
		for k, v := range part.Headers {
			if k != "Content-Length" {
				hr.Header.Set(k, v)
			}
		}
		return hr
	}
	c.object("/objects/{key}", put(strings.Replace(part.URL, "sig=", "sig=00", 1)), false)
	c.object("/objects/{key}", put(part.URL), true)
	c.call("/upload/{id}/parts", c.req("GET", "/upload/"+mpID+"/parts", user, nil))
	c.call("/upload/{id}/complete", c.req("POST", "/upload/"+mpID+"/complete", user, nil))
	c.call("/upload/{id}/parts", c.req("GET", "/upload/"+mpID+"/parts", user, nil))

	checkWebhookContract(c, user, boss)    // webhooks_test.go
	checkRequestsContract(c, user)         // requests_test.go
	checkProtectedRequestContract(c, user) // requests_protect_test.go

	// Account and administration.
	c.call("/me", c.req("GET", "/me", user, nil))
	c.call("/me", c.req("GET", "/me", "", nil))
	c.call("/admin/users", c.req("GET", "/admin/users", boss, nil))
	c.call("/admin/users", c.req("GET", "/admin/users", user, nil))
	userID := decode[struct {
		User struct{ ID string } `json:"user"`
	}](t, mustBody(c.call("/me", c.req("GET", "/me", user, nil)))).User.ID
	bossID := decode[struct {
		User struct{ ID string } `json:"user"`
	}](t, mustBody(c.call("/me", c.req("GET", "/me", boss, nil)))).User.ID
	c.call("/admin/users/{id}/disable", c.req("POST", "/admin/users/"+bossID+"/disable", boss, nil))
	c.call("/admin/users/{id}/disable", c.req("POST", "/admin/users/"+userID+"/disable", boss, nil))
	c.call("/admin/users/{id}/enable", c.req("POST", "/admin/users/"+missing+"/enable", boss, nil))
	c.call("/admin/users/{id}/enable", c.req("POST", "/admin/users/"+userID+"/enable", boss, nil))
	c.call("/admin/", c.req("GET", "/admin/", "", nil))

	// Personal access tokens (tokens.go): made, used within and beyond
	// their scope, listed, revoked, by their user and by an administrator
	// (the user's earlier token ended when they were disabled).
	user, _, err := e.srv.issueToken(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	c.call("/tokens", c.req("POST", "/tokens", user, map[string]any{"name": "ci", "scopes": []string{"files:admin"}}))
	_, body = c.call("/tokens", c.req("POST", "/tokens", user, map[string]any{"name": "ci", "scopes": []string{"files:read"}, "expires_in": 3600}))
	pat := decode[struct {
		Token struct{ ID, Secret string } `json:"token"`
	}](t, body).Token
	if pat.Secret == "" {
		t.Fatalf("POST /tokens made no token: %s", body)
	}
	c.call("/me", c.req("GET", "/me", pat.Secret, nil))
	c.call("/files/{id}", c.req("DELETE", "/files/"+missing, pat.Secret, nil))
	c.call("/tokens", c.req("GET", "/tokens", pat.Secret, nil))
	c.call("/tokens", c.req("GET", "/tokens", user, nil))
	c.call("/admin/users/{id}/tokens", c.req("GET", "/admin/users/"+userID+"/tokens", boss, nil))
	c.call("/admin/users/{id}/tokens", c.req("GET", "/admin/users/"+missing+"/tokens", boss, nil))
	c.call("/admin/users/{id}/tokens/{token}", c.req("DELETE", "/admin/users/"+userID+"/tokens/"+pat.ID, boss, nil))
	c.call("/admin/users/{id}/tokens/{token}", c.req("DELETE", "/admin/users/"+userID+"/tokens/"+pat.ID, boss, nil))
	c.call("/tokens/{id}", c.req("DELETE", "/tokens/"+pat.ID, user, nil))

	// The web page and its assets.
	c.call("/", c.req("GET", "/", "", nil))
	c.call("/", c.req("GET", "/", user, nil))
	c.call("/app.js", c.req("GET", "/app.js", "", nil))
	c.call("/uploader.js", c.req("GET", "/uploader.js", "", nil))
	c.call("/app.css", c.req("GET", "/app.css", "", nil))

	// Sign-in, as a desktop app, then sign-out.
	c.call("/login/", c.req("GET", "/login/", "", nil))
	c.call("/auth/google", c.req("GET", "/auth/google?code_challenge=short", "", nil))
	c.call("/auth/google/callback", c.req("GET", "/auth/google/callback?state=x&code=y", "", nil))
	c.call("/auth/token", c.req("POST", "/auth/token", "", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}))
	c.call("/auth/token", c.req("POST", "/auth/token", "", map[string]any{"grant_type": "authorization_code", "Code": "x"}))
	verifier := newSecret(32)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:53682/callback"
	q := url.Values{"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"s"}, "redirect_uri": {redirect}}
	resp, _ := c.call("/auth/google", c.req("GET", "/auth/google?"+q.Encode(), "", nil))
	loc := contractAppRedirect(c, resp, q)
	_, body = c.call("/auth/token", c.req("POST", "/auth/token", "", url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}}))
	token := decode[struct {
		AccessToken string `json:"access_token"`
	}](t, body).AccessToken
	c.call("/auth/logout", c.req("POST", "/auth/logout", token, nil))
	c.call("/auth/logout", c.req("POST", "/auth/logout", token, nil))

	for path, ops := range c.doc.Paths {
		for method := range ops {
			if !c.seen[method+" "+path] && (local || !strings.HasPrefix(path, "/objects/")) && !accountsOperations[method+" "+path] && !passkeyOperations[method+" "+path] {
				t.Errorf("%s %s is never called by this test", strings.ToUpper(method), path)
			}
		}
	}
}

func mustBody(_ *http.Response, body []byte) []byte { return body }

// linksAwayStore is a Store whose share link lookups fail with err.
type linksAwayStore struct {
	Store
	err error
}

func (s linksAwayStore) ShareLink(context.Context, string, time.Time) (Share, error) {
	return Share{}, s.err
}

// TestOpenAPILinkRoutesOutages: while the store is away (503) or fails
// (500), every public share link route answers so, as a page or as JSON,
// and the document lists those answers, as it does for the owner's
// routes and GET /r/{token}.
func TestOpenAPILinkRoutesOutages(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	c := &contractChecker{t: t, e: e, doc: loadOpenAPIDoc(t), seen: map[string]bool{}, local: true}
	defer c.checkExchanges()
	store, link := e.srv.store, "/s/"+newSecret(shareTokenBytes)
	for _, outage := range []struct {
		err    error
		status int
	}{{ErrUnavailable, http.StatusServiceUnavailable}, {errors.New("the disk is on fire"), http.StatusInternalServerError}} {
		e.srv.store = linksAwayStore{store, outage.err}
		for _, op := range []struct{ method, docPath, path string }{
			{"GET", "/s/{token}", link},
			{"POST", "/s/{token}", link},
			{"GET", "/s/{token}/download", link + "/download"},
			{"POST", "/s/{token}/download", link + "/download"},
			{"GET", "/s/{token}/files/{file_id}/preview", link + "/files/" + newID() + "/preview"},
			{"GET", "/s/{token}/files/{file_id}/download", link + "/files/" + newID() + "/download"},
			{"POST", "/s/{token}/files/{file_id}/download", link + "/files/" + newID() + "/download"},
		} {
			for _, accept := range []string{"application/json", "text/html"} {
				var body any
				if op.method == "POST" && op.docPath == "/s/{token}" {
					body = url.Values{"password": {"whatever-password-1"}}
				}
				hr := c.req(op.method, op.path, "", body)
				hr.Header.Set("Accept", accept)
				hr.Header.Set("Sec-Fetch-User", "?1") // a download a person started, not the page
				if resp, answer := c.call(op.docPath, hr); resp.StatusCode != outage.status {
					t.Errorf("%s %s (%s) with the store %v: %d %.100s, want %d", op.method, op.docPath, accept, outage.err, resp.StatusCode, answer, outage.status)
				}
			}
		}
	}
}
