package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
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

// contractChecker sends requests to a server and checks each answer
// against the document: the status must be documented for the route, the
// media type too, and a JSON body must match the schema. It records which
// operations and statuses were seen.
type contractChecker struct {
	t   *testing.T
	e   *testEnv
	doc *openAPIDoc

	mu    sync.Mutex
	seen  map[string]bool // "get /path"
	local bool            // the object store is the server's own
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

// call sends method to path (the document's path, e.g. "/files/{id}")
// with url (the real one), and checks the answer; it returns it.
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
	c.check(docPath, resp, body)
	return resp, body
}

func (c *contractChecker) check(docPath string, resp *http.Response, body []byte) {
	c.t.Helper()
	method := strings.ToLower(resp.Request.Method)
	where := fmt.Sprintf("%s %s (%s) answered %d", resp.Request.Method, docPath, resp.Request.URL.Path, resp.StatusCode)
	op, ok := c.doc.Paths[docPath][method]
	if !ok {
		c.t.Fatalf("%s: no such operation in openapi.json", where)
	}
	c.mu.Lock()
	c.seen[method+" "+docPath] = true
	c.mu.Unlock()
	r, ok := op.Responses[strconv.Itoa(resp.StatusCode)]
	if !ok {
		c.t.Errorf("%s, which openapi.json does not list; body %.300s", where, body)
		return
	}
	if len(r.Content) == 0 {
		if len(body) != 0 && resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			c.t.Errorf("%s with a body, which openapi.json does not describe: %.300s", where, body)
		}
		return
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := r.Content[mt]
	if !ok {
		media, ok = r.Content["*/*"]
	}
	if !ok {
		c.t.Errorf("%s as %q, which openapi.json does not list", where, mt)
		return
	}
	if mt != "application/json" {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Errorf("%s: not JSON: %v: %.300s", where, err, body)
		return
	}
	if err := c.validate(media.Schema, v, "$"); err != nil {
		c.t.Errorf("%s: the body does not match openapi.json: %v\nbody: %.500s", where, err, body)
	}
}

// validate checks v against schema. It implements the part of JSON Schema
// that openapi.json uses ($ref, type with null, properties, required,
// additionalProperties, items, enum, const, oneOf, minimum, maximum,
// minLength, maxLength, format date-time), and fails on any other
// keyword so the document cannot silently outgrow the check.
func (c *contractChecker) validate(raw json.RawMessage, v any, at string) error {
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: bad schema: %v", at, err)
	}
	if r, ok := s["$ref"]; ok {
		var ref string
		json.Unmarshal(r, &ref)
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		sub, found := c.doc.Components.Schemas[name]
		if !ok || !found {
			return fmt.Errorf("%s: unknown $ref %q", at, ref)
		}
		return c.validate(sub, v, at)
	}
	for k := range s {
		if !slices.Contains(schemaKeywords, k) {
			return fmt.Errorf("%s: the contract check does not implement the schema keyword %q", at, k)
		}
	}
	if alts, ok := s["oneOf"]; ok {
		var subs []json.RawMessage
		json.Unmarshal(alts, &subs)
		matches := 0
		for _, sub := range subs {
			if c.validate(sub, v, at) == nil {
				matches++
			}
		}
		if matches != 1 {
			return fmt.Errorf("%s: matches %d of oneOf's schemas, want 1", at, matches)
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		if json.Unmarshal(t, &types) != nil {
			var one string
			json.Unmarshal(t, &one)
			types = []string{one}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s, want %v", at, jsonType(v), types)
		}
	}
	if e, ok := s["enum"]; ok {
		var vals []any
		json.Unmarshal(e, &vals)
		if !slices.Contains(vals, v) {
			return fmt.Errorf("%s: %v is not one of %v", at, v, vals)
		}
	}
	if e, ok := s["const"]; ok {
		var want any
		json.Unmarshal(e, &want)
		if v != want {
			return fmt.Errorf("%s: %v, want %v", at, v, want)
		}
	}
	switch v := v.(type) {
	case string:
		if f, ok := s["format"]; ok && string(f) == `"date-time"` {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("%s: %q is no date-time", at, v)
			}
		}
		if err := checkBound(s, "minLength", float64(len([]rune(v))), at, 1); err != nil {
			return err
		}
		return checkBound(s, "maxLength", float64(len([]rune(v))), at, -1)
	case float64:
		if err := checkBound(s, "minimum", v, at, 1); err != nil {
			return err
		}
		return checkBound(s, "maximum", v, at, -1)
	case []any:
		if items, ok := s["items"]; ok {
			for i, el := range v {
				if err := c.validate(items, el, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		return c.validateObject(s, v, at)
	}
	return nil
}

func (c *contractChecker) validateObject(s map[string]json.RawMessage, v map[string]any, at string) error {
	var required []string
	json.Unmarshal(s["required"], &required)
	for _, name := range required {
		if _, ok := v[name]; !ok {
			return fmt.Errorf("%s: no %q", at, name)
		}
	}
	var props map[string]json.RawMessage
	json.Unmarshal(s["properties"], &props)
	for name, val := range v {
		sub, ok := props[name]
		if !ok {
			extra, has := s["additionalProperties"]
			switch {
			case !has || string(extra) == "true":
				continue
			case string(extra) == "false":
				return fmt.Errorf("%s: %q is not in the schema", at, name)
			}
			sub = extra
		}
		if err := c.validate(sub, val, at+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// schemaKeywords are the schema keywords validate implements, or that
// only describe.
var schemaKeywords = []string{"type", "properties", "required", "additionalProperties", "items", "enum", "const",
	"oneOf", "minimum", "maximum", "minLength", "maxLength", "format", "description", "default"}

// checkBound checks v against the bound keyword of s, if any: sign 1 for a
// lower bound, -1 for an upper one.
func checkBound(s map[string]json.RawMessage, keyword string, v float64, at string, sign float64) error {
	raw, ok := s[keyword]
	if !ok {
		return nil
	}
	var bound float64
	json.Unmarshal(raw, &bound)
	if (v-bound)*sign < 0 {
		return fmt.Errorf("%s: %v is outside %s %v", at, v, keyword, bound)
	}
	return nil
}

// jsonType is the JSON Schema type of a decoded JSON value.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	default:
		return "object"
	}
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
// uncalled.
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
}

// checkContract calls every operation on e (local: with the local object
// store, whose /objects/ routes are called too; else S3, which the
// document does not describe).
func checkContract(t *testing.T, e *testEnv, local bool) {
	c := &contractChecker{t: t, e: e, doc: loadOpenAPIDoc(t), seen: map[string]bool{}, local: local}
	boss, user := e.newUser("boss"), e.newUser("user")
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

	// The web page and its assets.
	c.call("/", c.req("GET", "/", "", nil))
	c.call("/", c.req("GET", "/", user, nil))
	c.call("/app.js", c.req("GET", "/app.js", "", nil))
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
	loc, _ := url.Parse(resp.Header.Get("Location"))
	_, body = c.call("/auth/token", c.req("POST", "/auth/token", "", url.Values{"grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}}))
	token := decode[struct {
		AccessToken string `json:"access_token"`
	}](t, body).AccessToken
	c.call("/auth/logout", c.req("POST", "/auth/logout", token, nil))
	c.call("/auth/logout", c.req("POST", "/auth/logout", token, nil))

	for path, ops := range c.doc.Paths {
		for method := range ops {
			if !c.seen[method+" "+path] && (local || !strings.HasPrefix(path, "/objects/")) {
				t.Errorf("%s %s is never called by this test", strings.ToUpper(method), path)
			}
		}
	}
}

func mustBody(_ *http.Response, body []byte) []byte { return body }

// uploadFormRequest is the multipart POST of an upload form.
func uploadFormRequest(t *testing.T, target string, fields map[string]string, content []byte) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "upload.bin")
	fw.Write(content)
	mw.Close()
	hr, err := http.NewRequest("POST", target, &buf)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", mw.FormDataContentType())
	return hr
}
