package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The tests of this file check the files API against its contract, on the
// shared FerretDB and versitygw, through a real HTTP client. Each top-level
// test has its own server, database and bucket; subtests share them and run
// in parallel wherever their state allows.

// apiTester is one test server as seen from one (sub)test: every helper
// reports to that test, so parallel subtests each fail on their own.
type apiTester struct{ *testEnv }

// newAPITester starts a server with env overriding the test defaults.
func newAPITester(t *testing.T, env map[string]string) apiTester {
	t.Helper()
	return apiTester{newTestEnv(t, env)}
}

// on returns the same server with its helpers reporting to t.
func (a apiTester) on(t *testing.T) apiTester {
	e := *a.testEnv
	e.t = t
	return apiTester{&e}
}

// userID is the user a bearer token acts for.
func (a apiTester) userID(token string) string {
	a.t.Helper()
	c, err := a.srv.store.FindCredential(context.Background(), kindBearer, hashSecret(token), time.Now())
	if err != nil {
		a.t.Fatalf("find credential: %v", err)
	}
	return c.UserID
}

// create asks for an upload form and expects 201.
func (a apiTester) create(token string, body map[string]any) uploadOut {
	a.t.Helper()
	resp, data := a.do(request{method: "POST", path: "/upload/", token: token, body: body})
	wantStatus(a.t, resp, data, http.StatusCreated)
	return decode[uploadOut](a.t, data)
}

// upload posts content through the form the server returned and expects the
// object store to take it.
//
// versitygw (the test suite's S3) keeps objects as files in directories
// named after their keys, and removes a directory when a delete empties
// it: an upload into that directory at that moment gets 409
// ExistingObjectIsDirectory (versitygw issue #1988). S3 has no
// directories, so the form is posted once more on that answer only.
func (a apiTester) upload(up uploadOut, content []byte) {
	a.t.Helper()
	resp, body := postUploadForm(a.t, up.Upload.URL, up.Upload.Fields, content)
	if resp.StatusCode == http.StatusConflict && bytes.Contains(body, []byte("<Code>ExistingObjectIsDirectory</Code>")) {
		a.t.Logf("versitygw issue #1988 (409 ExistingObjectIsDirectory): posting the form again")
		resp, body = postUploadForm(a.t, up.Upload.URL, up.Upload.Fields, content)
	}
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("S3 POST of %d bytes: %d %s", len(content), resp.StatusCode, body)
	}
}

// complete calls POST /upload/{id}/complete with an optional JSON body.
func (a apiTester) complete(token, id string, body any) (*http.Response, []byte) {
	a.t.Helper()
	return a.do(request{method: "POST", path: "/upload/" + id + "/complete", token: token, body: body})
}

// stored creates, uploads and completes a file; it returns the completed
// file and its object key (from its record: on S3 the form writes to a
// staging key, see stagingObjects).
func (a apiTester) stored(token string, create map[string]any, content []byte) (fileOut, string) {
	a.t.Helper()
	up := a.create(token, create)
	a.upload(up, content)
	resp, body := a.complete(token, up.File.ID, nil)
	wantStatus(a.t, resp, body, http.StatusOK)
	f := decode[fileResponseOut](a.t, body).File
	return f, a.storedKey(a.userID(token), f.ID)
}

// list calls GET /list/ with a raw query and expects 200.
func (a apiTester) list(token, query string) listOut {
	a.t.Helper()
	resp, body := a.do(request{method: "GET", path: "/list/?" + query, token: token})
	wantStatus(a.t, resp, body, http.StatusOK)
	return decode[listOut](a.t, body)
}

// listIDs is every id of the caller's files (at most 1000) matching query.
func (a apiTester) listIDs(token, query string) []string {
	a.t.Helper()
	var ids []string
	for _, f := range a.list(token, "limit=1000&"+query).Files {
		ids = append(ids, f.ID)
	}
	return ids
}

// answerMember sends req, expects status and returns the answer's member
// named key (e.g. the list of GET /shares, "shares").
func answerMember[T any](a apiTester, req request, status int, key string) T {
	a.t.Helper()
	resp, data := a.do(req)
	wantStatus(a.t, resp, data, status)
	var v T
	if raw, ok := decode[map[string]json.RawMessage](a.t, data)[key]; ok {
		v = decode[T](a.t, raw)
	}
	return v
}

// try is e.do without a test: safe from any goroutine.
func (a apiTester) try(req request) (int, []byte, error) {
	var body io.Reader
	if req.body != nil {
		data, err := json.Marshal(req.body)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(req.method, a.URL+req.path, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Authorization", "Bearer "+req.token)
	resp, err := a.client.Do(hr)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// fetch GETs a URL (a pre-signed one) and returns the response and body.
func (a apiTester) fetch(u string) (*http.Response, []byte) {
	a.t.Helper()
	resp, err := a.client.Get(u)
	if err != nil {
		a.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp, body
}

// headObject asks the S3 server directly whether key exists in the
// server's bucket.
func (a apiTester) headObject(key string) (exists bool) {
	a.t.Helper()
	_, err := requireRig(a.t).s3.HeadObject(a.t.Context(), &s3.HeadObjectInput{Bucket: aws.String(a.srv.cfg.Bucket), Key: aws.String(key)})
	var nf *s3types.NotFound
	var nsk *s3types.NoSuchKey
	switch {
	case err == nil:
		return true
	case errors.As(err, &nf), errors.As(err, &nsk):
		return false
	}
	a.t.Fatalf("HEAD %s: %v", key, err)
	return false
}

// apiUUIDRE is the lowercase canonical UUID form of file ids.
var apiUUIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// apiCheckFileJSON checks the raw JSON of a File: exactly the documented
// fields, RFC 3339 UTC times, and null where the contract says null.
func apiCheckFileJSON(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("file %s: %v", raw, err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"completed_at", "content_type", "created_at", "filename", "id", "size", "status"}
	if !slices.Equal(keys, want) {
		t.Fatalf("file has fields %v, want %v: %s", keys, want, raw)
	}
	var f fileOut
	json.Unmarshal(raw, &f)
	if !apiUUIDRE.MatchString(f.ID) {
		t.Errorf("id %q is not a lowercase UUID", f.ID)
	}
	checkTime := func(name string) {
		var s string
		if err := json.Unmarshal(m[name], &s); err != nil {
			t.Errorf("%s = %s, want an RFC 3339 string", name, m[name])
			return
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %q, want RFC 3339 in UTC", name, s)
		}
	}
	checkTime("created_at")
	switch f.Status {
	case "pending":
		if string(m["completed_at"]) != "null" {
			t.Errorf("pending file has completed_at %s, want null", m["completed_at"])
		}
	case "complete":
		checkTime("completed_at")
		if string(m["size"]) == "null" {
			t.Errorf("complete file has size null")
		}
	default:
		t.Errorf("status %q, want pending or complete", f.Status)
	}
}

// apiRawFile extracts the raw "file" member of a response body.
func apiRawFile(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	return decode[struct {
		File json.RawMessage `json:"file"`
	}](t, body).File
}

// TestAPICreateUploadValidation: every malformed POST /upload/ body gets
// its exact status and code and creates nothing; the edge cases the
// contract allows are accepted and echoed exactly.
func TestAPICreateUploadValidation(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, map[string]string{"MAX_UPLOAD_BYTES": "1000"})
	badUser, goodUser := a.newUser("bad"), a.newUser("good")

	bad := []struct {
		name, body string
		status     int
	}{
		{"empty object", `{}`, 400},
		{"null filename", `{"filename":null}`, 400},
		{"empty filename", `{"filename":""}`, 400},
		{"256-byte filename", `{"filename":"` + strings.Repeat("a", 256) + `"}`, 400},
		{"256-byte multibyte filename", `{"filename":"` + strings.Repeat("€", 85) + `a"}`, 400},
		{"slash", `{"filename":"a/b.txt"}`, 400},
		{"leading slash", `{"filename":"/etc/passwd"}`, 400},
		{"backslash", `{"filename":"a\\b.txt"}`, 400},
		{"dot-dot backslash", `{"filename":"..\\..\\x"}`, 400},
		{"NUL", `{"filename":"a\u0000b.txt"}`, 400},
		{"LF", `{"filename":"a\nb.txt"}`, 400},
		{"CR LF", `{"filename":"a\r\nSet-Cookie: x.txt"}`, 400},
		{"tab", `{"filename":"a\tb.txt"}`, 400},
		{"DEL", `{"filename":"a\u007fb.txt"}`, 400},
		{"C1 control", `{"filename":"a\u0085b.txt"}`, 400},
		{"right-to-left override", `{"filename":"\u202Egnp.exe"}`, 400},
		// encoding/json turns invalid UTF-8 and lone surrogates into U+FFFD
		// before validateFilename sees the name; these must still be refused.
		{"invalid UTF-8", "{\"filename\":\"a\xff\xfeb.txt\"}", 400},
		{"lone surrogate escape", `{"filename":"a\ud800b.txt"}`, 400},
		{"filename object", `{"filename":{"name":"a.txt"}}`, 400},
		{"filename array", `{"filename":["a.txt"]}`, 400},
		{"filename number", `{"filename":5}`, 400},
		{"filename bool", `{"filename":true}`, 400},
		{"size fraction", `{"filename":"a.txt","size":1.5}`, 400},
		{"size string", `{"filename":"a.txt","size":"12"}`, 400},
		{"size negative", `{"filename":"a.txt","size":-1}`, 400},
		{"size over max", `{"filename":"a.txt","size":1001}`, 400},
		{"size over int64", `{"filename":"a.txt","size":100000000000000000000000000000}`, 400},
		{"size bool", `{"filename":"a.txt","size":true}`, 400},
		{"size object", `{"filename":"a.txt","size":{"n":1}}`, 400},
		{"content_type empty", `{"filename":"a.txt","content_type":""}`, 400},
		{"content_type no slash", `{"filename":"a.txt","content_type":"text"}`, 400},
		{"content_type no subtype", `{"filename":"a.txt","content_type":"text/"}`, 400},
		{"content_type space", `{"filename":"a.txt","content_type":"text plain"}`, 400},
		{"content_type bad parameter", `{"filename":"a.txt","content_type":"text/plain; charset"}`, 400},
		{"content_type header injection", `{"filename":"a.txt","content_type":"text/plain\r\nX-Evil: 1"}`, 400},
		{"content_type 256 bytes", `{"filename":"a.txt","content_type":"application/` + strings.Repeat("x", 244) + `"}`, 400},
		{"content_type object", `{"filename":"a.txt","content_type":{"type":"text/plain"}}`, 400},
		{"content_type number", `{"filename":"a.txt","content_type":1}`, 400},
		{"unknown field", `{"filename":"a.txt","owner":"someone-else"}`, 400},
		{"client-chosen key", `{"filename":"a.txt","key":"users/x/y"}`, 400},
		{"array body", `[{"filename":"a.txt"}]`, 400},
		{"string body", `"a.txt"`, 400},
		{"null body", `null`, 400},
		{"empty body", ``, 400},
		{"truncated JSON", `{"filename":"a.txt"`, 400},
	}
	t.Run("refused", func(t *testing.T) {
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a := a.on(t)
				resp, body := a.do(request{method: "POST", path: "/upload/", token: badUser, body: tc.body})
				wantStatus(t, resp, body, tc.status)
			})
		}
	})
	if ids := a.on(t).listIDs(badUser, ""); len(ids) != 0 {
		t.Errorf("refused requests created %d files", len(ids))
	}

	size := func(n int64) *int64 { return &n }
	good := []struct {
		name     string
		filename string
		size     *int64
		ctype    string
	}{
		{"255-byte filename", strings.Repeat("a", 251) + ".txt", nil, ""},
		{"255-byte multibyte filename", strings.Repeat("€", 85), nil, ""},
		{"1-byte filename", "a", nil, ""},
		{"unicode filename", "日本語 ファイル 🎉 héllo.txt", nil, ""},
		{"quotes and markup", `a"b <img onerror=alert(1)>.png`, nil, ""},
		{"percent and dots", "50%20off ..pdf", nil, ""},
		{"size 0", "empty.bin", size(0), ""},
		{"size == MAX_UPLOAD_BYTES", "max.bin", size(1000), ""},
		{"content_type plain", "a.png", nil, "image/png"},
		{"content_type with params", "a.txt", nil, "text/plain; charset=utf-8"},
		{"content_type mixed case quoted param", "a.html", nil, `Text/HTML; Charset="UTF-8"`},
		{"content_type long subtype", "a.docx", nil, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
	}
	t.Run("accepted", func(t *testing.T) {
		for _, tc := range good {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a := a.on(t)
				req := map[string]any{"filename": tc.filename}
				if tc.size != nil {
					req["size"] = *tc.size
				}
				if tc.ctype != "" {
					req["content_type"] = tc.ctype
				}
				before := time.Now()
				resp, body := a.do(request{method: "POST", path: "/upload/", token: goodUser, body: req})
				wantStatus(t, resp, body, http.StatusCreated)
				apiCheckFileJSON(t, apiRawFile(t, body))
				up := decode[uploadOut](t, body)
				f := up.File
				if f.Filename != tc.filename {
					t.Errorf("filename %q, want %q", f.Filename, tc.filename)
				}
				if f.Status != "pending" || f.CompletedAt != nil {
					t.Errorf("new file is %q, completed_at %v; want pending, null", f.Status, f.CompletedAt)
				}
				if (f.Size == nil) != (tc.size == nil) || f.Size != nil && *f.Size != *tc.size {
					t.Errorf("size %v, want %v", f.Size, tc.size)
				}
				if d := f.CreatedAt.Sub(before); d < -time.Second || d > time.Minute {
					t.Errorf("created_at %v is %v from the request", f.CreatedAt, d)
				}
				if tc.ctype != "" {
					wantMT, wantParams, _ := mime.ParseMediaType(tc.ctype)
					mt, params, err := mime.ParseMediaType(f.ContentType)
					if err != nil || mt != wantMT || !apiSameParams(params, wantParams) {
						t.Errorf("content_type %q, want the media type %q", f.ContentType, tc.ctype)
					}
				} else if f.ContentType != "" {
					t.Errorf("content_type %q, want empty", f.ContentType)
				}
				if up.Upload.URL == "" || up.Upload.Fields["key"] == "" || up.Upload.Fields["policy"] == "" {
					t.Errorf("upload form incomplete: %s", body)
				}
			})
		}
	})
}

// apiSameParams compares media type parameters: names are
// case-insensitive (mime lowercases them), values compared as given except
// charset, whose value is case-insensitive too.
func apiSameParams(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || (v != w && !(k == "charset" && strings.EqualFold(v, w))) {
			return false
		}
	}
	return true
}

// TestAPICompleteBodyValidation: complete's optional body follows the same
// rules as every JSON body, is checked before the object store is asked, and
// a refused body leaves the file pending.
func TestAPICompleteBodyValidation(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, map[string]string{"MAX_UPLOAD_BYTES": "1000"})
	tok := a.newUser("complete")
	content := []byte("12345")

	cases := []struct {
		name   string
		body   any // nil: no body at all
		header map[string]string
		status int
	}{
		{"no body", nil, nil, 200},
		{"empty body", "", nil, 200},
		{"empty object", `{}`, nil, 200},
		{"right size", `{"size":5}`, nil, 200},
		{"size fraction", `{"size":1.5}`, nil, 400},
		{"size string", `{"size":"5"}`, nil, 400},
		// An out-of-range size is bad input (400), not a mismatch (409).
		{"size negative", `{"size":-1}`, nil, 400},
		{"size over max", `{"size":1001}`, nil, 400},
		{"size object", `{"size":{"n":5}}`, nil, 400},
		{"size null and unknown field", `{"size":null,"etag":"x"}`, nil, 400},
		{"unknown field", `{"status":"complete"}`, nil, 400},
		{"array body", `[5]`, nil, 400},
		{"invalid JSON", `{"size":`, nil, 400},
		{"trailing object", `{"size":5} {}`, nil, 400},
		// dec.More() alone would miss a stray } or ] and swallow the
		// body-limit error; these must be refused.
		{"trailing brace", `{"size":5}}`, nil, 400},
		{"trailing bracket", `{"size":5}]`, nil, 400},
		{"text/plain", `{"size":5}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"form", `size=5`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"too large", `{"size":5}` + strings.Repeat(" ", 65<<10), nil, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			up := a.create(tok, map[string]any{"filename": "c.txt"})
			a.upload(up, content)
			resp, body := a.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: tok, body: tc.body, header: tc.header})
			wantStatus(t, resp, body, tc.status)
			pending := slices.Contains(a.listIDs(tok, "status=pending"), up.File.ID)
			if tc.status == 200 {
				if f := decode[fileResponseOut](t, body).File; f.Status != "complete" || f.Size == nil || *f.Size != 5 {
					t.Errorf("completed file %+v", f)
				}
				if pending {
					t.Errorf("file still listed as pending after 200")
				}
			} else if !pending {
				t.Errorf("refused complete (%d) changed the file: it is no longer pending", tc.status)
			}
		})
	}
}

// TestAPIListQueryValidation: bad ?limit=, ?status= and ?cursor= values
// are refused with 400; the edges of the allowed range work.
func TestAPIListQueryValidation(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("lister")
	a.create(tok, map[string]any{"filename": "one.txt"})
	a.create(tok, map[string]any{"filename": "two.txt"})

	cases := []struct {
		query  string
		status int
		n      int // files on the page, for 200
	}{
		{"", 200, 2},
		{"limit=1", 200, 1},
		{"limit=1000", 200, 2},
		{"status=pending", 200, 2},
		{"status=complete", 200, 0},
		{"limit=0", 400, 0},
		{"limit=1001", 400, 0},
		{"limit=-1", 400, 0},
		{"limit=abc", 400, 0},
		{"limit=1.5", 400, 0},
		{"limit=99999999999999999999", 400, 0},
		{"status=bogus", 400, 0},
		{"status=PENDING", 400, 0},
		{"status=pending%00", 400, 0},
		{"cursor=garbage", 400, 0},
		{"cursor=%7B%22%24gt%22%3A%22%22%7D", 400, 0}, // {"$gt":""}
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("123.not-a-uuid")), 400, 0},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("-5."+newID())), 400, 0},
		{"cursor=" + strings.Repeat("A", 5000), 400, 0},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			resp, body := a.do(request{method: "GET", path: "/list/?" + tc.query, token: tok})
			wantStatus(t, resp, body, tc.status)
			if tc.status == 200 {
				if got := decode[listOut](t, body); len(got.Files) != tc.n {
					t.Errorf("%d files, want %d", len(got.Files), tc.n)
				}
				raw := decode[map[string]json.RawMessage](t, body)
				if tc.n == 0 && string(raw["files"]) != "[]" {
					t.Errorf("empty page has files %s, want []", raw["files"])
				}
				if _, ok := raw["next_cursor"]; !ok || len(raw) != 2 {
					t.Errorf("list body %s, want exactly files and next_cursor", body)
				}
			}
		})
	}
}

// wantAnsweredAsMissing checks that each {id} route of a file, with each
// of ids as its id, answers token's user exactly as a well-formed id that
// does not exist: a 404 with the same body, and no Location (a download
// URL) in it.
func (a apiTester) wantAnsweredAsMissing(t *testing.T, token string, ids map[string]string) {
	for _, r := range []struct{ method, pattern string }{
		{"POST", "/upload/%s/complete"},
		{"GET", "/download/%s"},
		{"GET", "/download/%s?redirect=1"},
		{"DELETE", "/files/%s"},
	} {
		resp, missing := a.on(t).do(request{method: r.method, path: fmt.Sprintf(r.pattern, newID()), token: token})
		wantStatus(t, resp, missing, http.StatusNotFound)
		for name, id := range ids {
			t.Run(r.method+" "+r.pattern+" "+name, func(t *testing.T) {
				t.Parallel()
				a := a.on(t)
				resp, body := a.do(request{method: r.method, path: fmt.Sprintf(r.pattern, id), token: token})
				wantStatus(t, resp, body, http.StatusNotFound)
				if !bytes.Equal(body, missing) {
					t.Errorf("body %s differs from a missing id's %s", body, missing)
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("Location %q on a 404", loc)
				}
			})
		}
	}
}

// TestAPIPathIDValidation: malformed ids on every {id} route answer 404
// with the same body as a well-formed id that does not exist, never 500 and
// never another user's or another file's data.
func TestAPIPathIDValidation(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("ids")
	f, _ := a.stored(tok, map[string]any{"filename": "real.txt"}, []byte("real"))

	ids := map[string]string{
		"not-a-uuid":          "not-a-uuid",
		"upper-case uuid":     strings.ToUpper(f.ID),
		"uuid without dashes": strings.ReplaceAll(f.ID, "-", ""),
		"uuid with braces":    "%7B" + f.ID + "%7D",
		"uuid plus space":     f.ID + "%20",
		"uuid plus NUL":       f.ID + "%00",
		"escaped dot-dot":     "..%2Fx",
		"escaped dots":        "%2e%2e",
		"mongo operator":      "%7B%22%24ne%22%3Anull%7D",
		"1000 characters":     strings.Repeat("a", 1000),
	}
	t.Run("ids", func(t *testing.T) { a.wantAnsweredAsMissing(t, tok, ids) })
	// The real file survived every malformed id (a DELETE that, say,
	// lower-cased the id would have removed it).
	if l := a.list(tok, ""); len(l.Files) != 1 || l.Files[0].ID != f.ID || l.Files[0].Status != "complete" {
		t.Errorf("after the malformed ids, list = %+v", l.Files)
	}
}

// apiPostPolicy is the decoded policy document of an upload form.
type apiPostPolicy struct {
	Expiration time.Time         `json:"expiration"`
	Conditions []json.RawMessage `json:"conditions"`
}

// apiPolicyTerms flattens a policy: exact conditions by lower-cased field
// name, the content-length-range, and any other array condition.
type apiPolicyTerms struct {
	exact       map[string]string
	lengthRange []int64
	other       []string
}

// apiDecodePolicy decodes the base64 JSON policy of an upload form.
func apiDecodePolicy(t *testing.T, encoded string) (apiPostPolicy, apiPolicyTerms) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("policy is not base64: %v", err)
	}
	var p apiPostPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("policy %s: %v", raw, err)
	}
	terms := apiPolicyTerms{exact: map[string]string{}}
	for _, c := range p.Conditions {
		var obj map[string]string
		if json.Unmarshal(c, &obj) == nil {
			for k, v := range obj {
				terms.exact[strings.ToLower(k)] = v
			}
			continue
		}
		var arr []any
		if err := json.Unmarshal(c, &arr); err != nil || len(arr) != 3 {
			t.Fatalf("policy condition %s is neither {field: value} nor a 3-element array", c)
		}
		op, _ := arr[0].(string)
		switch op {
		case "content-length-range":
			lo, ok1 := arr[1].(float64)
			hi, ok2 := arr[2].(float64)
			if !ok1 || !ok2 {
				t.Fatalf("content-length-range %s: want numbers", c)
			}
			terms.lengthRange = []int64{int64(lo), int64(hi)}
		case "eq":
			field, _ := arr[1].(string)
			value, _ := arr[2].(string)
			terms.exact[strings.ToLower(strings.TrimPrefix(field, "$"))] = value
		default:
			terms.other = append(terms.other, string(c))
		}
	}
	return p, terms
}

// TestAPIUploadPolicy decodes the POST policy: it pins the bucket, the
// exact server-made key under a per-user prefix, the size, the exact
// Content-Type and the configured expiry, and covers every form field.
func TestAPIUploadPolicy(t *testing.T) {
	t.Parallel()
	const ttl = 120 * time.Second
	a := newAPITester(t, map[string]string{"UPLOAD_POST_TTL_SECONDS": "120", "MAX_UPLOAD_BYTES": "5000"})
	alice, bob := a.newUser("alice"), a.newUser("bob")
	const secretName = "secret-merger-plan ${filename}.pdf"

	cases := []struct {
		name      string
		body      map[string]any
		wantRange []int64
		wantType  string
	}{
		{"size and type", map[string]any{"filename": secretName, "size": 42, "content_type": "application/pdf"}, []int64{42, 42}, "application/pdf"},
		{"size 0", map[string]any{"filename": secretName, "size": 0}, []int64{0, 0}, ""},
		{"no size", map[string]any{"filename": secretName, "content_type": "text/plain; charset=utf-8"}, []int64{0, 5000}, "text/plain; charset=utf-8"},
		{"neither", map[string]any{"filename": secretName}, []int64{0, 5000}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			before := time.Now()
			up := a.create(alice, tc.body)
			after := time.Now()
			fields := up.Upload.Fields
			p, terms := apiDecodePolicy(t, fields["policy"])

			if len(terms.other) > 0 {
				t.Errorf("policy has loose conditions %v; want exact ones only (no starts-with)", terms.other)
			}
			if got := terms.exact["bucket"]; got != a.srv.cfg.Bucket {
				t.Errorf("bucket condition %q, want %q", got, a.srv.cfg.Bucket)
			}
			key := fields["key"]
			if got, ok := terms.exact["key"]; !ok || got != key {
				t.Errorf("key condition %q (present %v), want exactly the form's key %q", got, ok, key)
			}
			for _, part := range []string{"secret", "merger", "plan", "filename", ".pdf", "$"} {
				if strings.Contains(strings.ToLower(key), part) {
					t.Errorf("key %q contains %q from the client's filename", key, part)
				}
			}
			if !slices.Equal(terms.lengthRange, tc.wantRange) {
				t.Errorf("content-length-range %v, want %v", terms.lengthRange, tc.wantRange)
			}
			ct, hasCT := terms.exact["content-type"]
			switch {
			case tc.wantType == "" && (hasCT || fields["Content-Type"] != ""):
				t.Errorf("no content_type given, but policy pins %q and the form sends %q", ct, fields["Content-Type"])
			case tc.wantType != "" && (ct != tc.wantType || fields["Content-Type"] != tc.wantType):
				t.Errorf("Content-Type condition %q and field %q, want both %q", ct, fields["Content-Type"], tc.wantType)
			}
			// S3 refuses a form field that no condition covers.
			for name := range fields {
				lname := strings.ToLower(name)
				if lname == "policy" || lname == "x-amz-signature" {
					continue
				}
				if v, ok := terms.exact[lname]; !ok || v != fields[name] {
					t.Errorf("form field %s=%q has no exact condition (got %q)", name, fields[name], v)
				}
			}
			lo, hi := before.Add(ttl-2*time.Second), after.Add(ttl+time.Second)
			if p.Expiration.Before(lo) || p.Expiration.After(hi) {
				t.Errorf("policy expires %v, want about now + %v (%v..%v)", p.Expiration, ttl, lo, hi)
			}
			if d := up.Upload.ExpiresAt.Sub(p.Expiration).Abs(); d >= time.Second {
				t.Errorf("expires_at %v, but the policy expires %v", up.Upload.ExpiresAt, p.Expiration)
			}
			if !strings.Contains(up.Upload.URL, a.srv.cfg.Bucket) {
				t.Errorf("form URL %q does not point at the bucket %q", up.Upload.URL, a.srv.cfg.Bucket)
			}
		})
	}

	t.Run("per-user prefix", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		keyOf := func(tok string) string {
			return a.create(tok, map[string]any{"filename": secretName}).Upload.Fields["key"]
		}
		a1, a2, b1 := keyOf(alice), keyOf(alice), keyOf(bob)
		if a1 == a2 {
			t.Fatalf("two files of one user share the key %q", a1)
		}
		if path.Dir(a1) != path.Dir(a2) || path.Dir(a1) == "." {
			t.Errorf("alice's keys %q and %q do not share a per-user prefix", a1, a2)
		}
		if pa, pb := path.Dir(a1)+"/", path.Dir(b1)+"/"; pa == pb || strings.HasPrefix(b1, pa) || strings.HasPrefix(a1, pb) {
			t.Errorf("alice's key %q and bob's key %q share a prefix", a1, b1)
		}
	})
}

// TestAPIS3RefusesTamperedForms: against the real versitygw, a form used
// for anything but exactly what the policy allows is refused, and complete
// then answers 409 because nothing was stored.
func TestAPIS3RefusesTamperedForms(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("tamper")
	content := []byte("12345")

	cases := []struct {
		name    string
		tamper  func(fields map[string]string) // changes the form's fields
		content []byte
		status  int
	}{
		{"untampered", func(map[string]string) {}, content, http.StatusNoContent},
		{"over the declared size", func(map[string]string) {}, []byte("123456"), http.StatusBadRequest},
		{"under the declared size", func(map[string]string) {}, []byte("1234"), http.StatusBadRequest},
		{"other Content-Type", func(f map[string]string) { f["Content-Type"] = "text/html" }, content, http.StatusForbidden},
		{"no Content-Type", func(f map[string]string) { delete(f, "Content-Type") }, content, http.StatusForbidden},
		{"other key", func(f map[string]string) { f["key"] = path.Dir(f["key"]) + "/" + newID() }, content, http.StatusForbidden},
		{"extra unsigned field", func(f map[string]string) { f["x-amz-meta-evil"] = "1" }, content, http.StatusForbidden},
		{"success_action_redirect added", func(f map[string]string) { f["success_action_redirect"] = "https://evil.example/" }, content, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			up := a.create(tok, map[string]any{"filename": "t.txt", "size": len(content), "content_type": "text/plain"})
			key := up.Upload.Fields["key"]
			tc.tamper(up.Upload.Fields)
			resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, tc.content)
			apiWantS3Status(t, resp, body, tc.status)
			resp, body = a.complete(tok, up.File.ID, nil)
			if tc.status/100 == 2 {
				wantStatus(t, resp, body, http.StatusOK)
				return
			}
			wantStatus(t, resp, body, http.StatusConflict)
			for _, k := range []string{key, up.Upload.Fields["key"]} {
				if a.headObject(k) {
					t.Errorf("refused form left an object at %q", k)
				}
			}
		})
	}
}

// apiWantS3Status checks the status of the object store's answer to a form.
// Any 2xx counts for a success (S3 answers 204 by default).
func apiWantS3Status(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode == status || status/100 == 2 && resp.StatusCode/100 == 2 {
		return
	}
	t.Fatalf("S3 POST: status %d, want %d; body %s", resp.StatusCode, status, body)
}

// TestAPIS3RefusesExpiredPolicy: once UPLOAD_POST_TTL_SECONDS has passed,
// the form no longer works.
func TestAPIS3RefusesExpiredPolicy(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, map[string]string{"UPLOAD_POST_TTL_SECONDS": "1"})
	tok := a.newUser("late")
	up := a.create(tok, map[string]any{"filename": "late.txt", "size": 4})
	// Expiry is rounded up to a whole second: never less than the TTL.
	if d := time.Until(up.Upload.ExpiresAt); d < 900*time.Millisecond || d > 2*time.Second {
		t.Fatalf("expires_at %v is %v away with UPLOAD_POST_TTL_SECONDS=1", up.Upload.ExpiresAt, d)
	}
	time.Sleep(time.Until(up.Upload.ExpiresAt) + 1500*time.Millisecond)
	resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, []byte("late"))
	apiWantS3Status(t, resp, body, http.StatusForbidden)
	resp, body = a.complete(tok, up.File.ID, nil)
	wantStatus(t, resp, body, http.StatusConflict)
}

// wantCompleteRefused: completing file id (without a size) answers 409,
// and the file stays pending; why says what was wrong with it.
func (a apiTester) wantCompleteRefused(tok, id, why string) {
	a.t.Helper()
	resp, body := a.complete(tok, id, nil)
	wantStatus(a.t, resp, body, http.StatusConflict)
	if !slices.Contains(a.listIDs(tok, "status=pending"), id) {
		a.t.Errorf("file not pending after a complete refused because %s", why)
	}
}

// TestAPICompleteSemantics: complete asks S3, never trusts the client's
// size, refuses mismatches without changing the file, and is idempotent.
func TestAPICompleteSemantics(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("completer")

	t.Run("before upload", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "early.txt", "size": 3})
		a.wantCompleteRefused(tok, up.File.ID, "nothing was uploaded yet")
	})

	t.Run("claimed size differs from the object", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "five.txt"})
		a.upload(up, []byte("12345"))
		resp, body := a.complete(tok, up.File.ID, map[string]any{"size": 6})
		wantStatus(t, resp, body, http.StatusConflict)
		if !slices.Contains(a.listIDs(tok, "status=pending"), up.File.ID) {
			t.Fatalf("file not listed as pending after a size mismatch")
		}
		if slices.Contains(a.listIDs(tok, "status=complete"), up.File.ID) {
			t.Fatalf("file listed as complete after a size mismatch")
		}
		resp, body = a.complete(tok, up.File.ID, map[string]any{"size": 5})
		wantStatus(t, resp, body, http.StatusOK)
		if f := decode[fileResponseOut](t, body).File; f.Status != "complete" || f.Size == nil || *f.Size != 5 {
			t.Fatalf("completed file %+v", f)
		}
	})

	t.Run("object differs from the size declared at create", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "declared.txt", "size": 5})
		// Bypass the policy, as a client with its own S3 access could.
		_, err := requireRig(t).s3.PutObject(t.Context(), &s3.PutObjectInput{
			Bucket: aws.String(a.srv.cfg.Bucket), Key: aws.String(up.Upload.Fields["key"]), Body: strings.NewReader("123456"),
		})
		if err != nil {
			t.Fatal(err)
		}
		a.wantCompleteRefused(tok, up.File.ID, "the object's size disagreed with the declared size")
	})

	t.Run("size comes from S3", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "seven.txt"}})
		wantStatus(t, resp, body, http.StatusCreated)
		if raw := decode[map[string]json.RawMessage](t, apiRawFile(t, body)); string(raw["size"]) != "null" {
			t.Errorf("size of a file of unknown size is %s, want null", raw["size"])
		}
		up := decode[uploadOut](t, body)
		a.upload(up, []byte("1234567"))
		resp, body = a.complete(tok, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)
		apiCheckFileJSON(t, apiRawFile(t, body))
		f := decode[fileResponseOut](t, body).File
		if f.Size == nil || *f.Size != 7 {
			t.Errorf("size %v, want the 7 bytes S3 holds", f.Size)
		}
		if f.CompletedAt == nil || f.CompletedAt.Before(f.CreatedAt) {
			t.Errorf("completed_at %v before created_at %v", f.CompletedAt, f.CreatedAt)
		}
		if l := a.list(tok, "status=complete&limit=1000"); !slices.ContainsFunc(l.Files, func(g fileOut) bool {
			return g.ID == f.ID && g.Size != nil && *g.Size == 7
		}) {
			t.Errorf("list does not show the file complete with size 7: %+v", l.Files)
		}
	})

	t.Run("again is a no-op", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		first, _ := a.stored(tok, map[string]any{"filename": "twice.txt"}, []byte("abc"))
		time.Sleep(20 * time.Millisecond) // a second write would get a later completed_at
		for _, body := range []any{nil, map[string]any{"size": 3}, map[string]any{"size": 999}} {
			resp, data := a.complete(tok, first.ID, body)
			wantStatus(t, resp, data, http.StatusOK)
			again := decode[fileResponseOut](t, data).File
			if again.CompletedAt == nil || !again.CompletedAt.Equal(*first.CompletedAt) || *again.Size != *first.Size {
				t.Errorf("complete again (body %v) = %+v, want unchanged %+v", body, again, first)
			}
		}
	})

	t.Run("concurrent completes", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "race.txt"})
		a.upload(up, []byte("race"))
		const n = 5
		var wg sync.WaitGroup
		statuses, bodies, errs := make([]int, n), make([][]byte, n), make([]error, n)
		for i := range n {
			wg.Go(func() {
				statuses[i], bodies[i], errs[i] = a.try(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: tok})
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || statuses[i] != 200 {
				t.Fatalf("concurrent complete %d: %d %s %v", i, statuses[i], bodies[i], errs[i])
			}
			if f := decode[fileResponseOut](t, bodies[i]).File; f.Status != "complete" || f.Size == nil || *f.Size != 4 || f.CompletedAt == nil {
				t.Errorf("concurrent complete %d: %+v", i, f)
			}
		}
		// Every answer agreeing on completed_at needs an atomic
		// conditional update, which MongoDB has and FerretDB 1.x (the
		// rig) has not: its findAndModify is a query, then a write.
	})
}

// apiDispositionRE splits an RFC 6266 attachment header into its ASCII
// fallback and its RFC 5987 UTF-8 name.
var apiDispositionRE = regexp.MustCompile(`^attachment;\s*filename="([^"]*)";\s*filename\*=UTF-8''(\S+)$`)

// apiCheckDisposition checks that a header offers name safely.
func apiCheckDisposition(t *testing.T, cd, name string) {
	t.Helper()
	m := apiDispositionRE.FindStringSubmatch(cd)
	if m == nil {
		t.Fatalf("Content-Disposition %q: want attachment; filename=\"...\"; filename*=UTF-8''...", cd)
	}
	for _, c := range []byte(m[1]) {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' {
			t.Errorf("ASCII filename %q has the unsafe byte %q", m[1], c)
		}
	}
	if strings.Trim(m[2], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~%") != "" {
		t.Errorf("filename* value %q has characters outside RFC 5987 attr-char", m[2])
	}
	if got, err := url.PathUnescape(m[2]); err != nil || got != name {
		t.Errorf("filename* decodes to %q (%v), want %q", got, err, name)
	}
	if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != name {
		t.Errorf("mime.ParseMediaType(%q) = %q, %v; want filename %q", cd, params["filename"], err, name)
	}
}

// TestAPIDownload: pending files cannot be downloaded; complete ones get a
// working short-lived URL, or a redirect to one, that serves the bytes as
// an attachment with a safe Content-Disposition and the declared type.
func TestAPIDownload(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, map[string]string{"PRESIGN_TTL_SECONDS": "300"})
	tok := a.newUser("downloader")

	t.Run("pending", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "p.txt"})
		for _, q := range []string{"", "?redirect=1"} {
			resp, body := a.do(request{method: "GET", path: "/download/" + up.File.ID + q, token: tok})
			wantStatus(t, resp, body, http.StatusConflict)
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q for a pending file", loc)
			}
		}
	})

	t.Run("url and redirect", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		content := []byte("download me\n")
		f, _ := a.stored(tok, map[string]any{"filename": "d.txt", "content_type": "text/plain"}, content)

		before := time.Now()
		resp, body := a.do(request{method: "GET", path: "/download/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		dl := decode[downloadOut](t, body)
		apiCheckFileJSON(t, apiRawFile(t, body))
		if dl.File.ID != f.ID || dl.File.Status != "complete" {
			t.Errorf("download file = %+v", dl.File)
		}
		if lo, hi := before.Add(298*time.Second), time.Now().Add(301*time.Second); dl.ExpiresAt.Before(lo) || dl.ExpiresAt.After(hi) {
			t.Errorf("expires_at %v, want about now + PRESIGN_TTL_SECONDS=300", dl.ExpiresAt)
		}
		got, data := a.fetch(dl.URL)
		if got.StatusCode != 200 || !bytes.Equal(data, content) {
			t.Fatalf("GET url: %d %q", got.StatusCode, data)
		}

		resp, body = a.do(request{method: "GET", path: "/download/" + f.ID + "?redirect=1", token: tok})
		wantStatus(t, resp, body, http.StatusFound)
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			t.Fatalf("redirect Location %q", loc)
		}
		got, data = a.fetch(loc)
		if got.StatusCode != 200 || !bytes.Equal(data, content) {
			t.Fatalf("GET Location: %d %q", got.StatusCode, data)
		}
		apiCheckDisposition(t, got.Header.Get("Content-Disposition"), "d.txt")

		resp, body = a.do(request{method: "GET", path: "/download/" + f.ID + "?redirect=maybe", token: tok})
		wantStatus(t, resp, body, http.StatusBadRequest)
	})

	names := []string{
		`a"b.txt`,
		`50%20off.pdf`,
		`<img onerror=alert(1)>.png`,
		`héllo wörld.txt`,
		`semi;colon 'q' (1)+[x]=y.txt`,
		`%0d%0aSet-Cookie: x=y.txt`,
		`=?utf-8?q?x?=.txt`,
		`日本語.txt`,
	}
	for _, name := range names {
		t.Run("Content-Disposition "+name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			f, _ := a.stored(tok, map[string]any{"filename": name}, []byte("x"))
			if f.Filename != name {
				t.Fatalf("filename %q, want %q", f.Filename, name)
			}
			resp, body := a.do(request{method: "GET", path: "/download/" + f.ID, token: tok})
			wantStatus(t, resp, body, http.StatusOK)
			got, _ := a.fetch(decode[downloadOut](t, body).URL)
			if got.StatusCode != 200 {
				t.Fatalf("GET url: %d", got.StatusCode)
			}
			apiCheckDisposition(t, got.Header.Get("Content-Disposition"), name)
		})
	}

	for _, name := range []string{`..\..\x`, "a\r\nb.txt", "a\x00b.txt", "../../etc/passwd", "\u202Egnp.exe"} {
		t.Run(fmt.Sprintf("refused at create %q", name), func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			resp, body := a.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": name}})
			wantStatus(t, resp, body, http.StatusBadRequest)
		})
	}

	types := []struct{ declared, served string }{
		{"image/png", "image/png"},
		{"text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{"", "application/octet-stream"},
	}
	for _, tc := range types {
		t.Run("Content-Type "+tc.declared, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			req := map[string]any{"filename": "typed"}
			if tc.declared != "" {
				req["content_type"] = tc.declared
			}
			f, _ := a.stored(tok, req, []byte("<html><script>alert(1)</script>"))
			resp, body := a.do(request{method: "GET", path: "/download/" + f.ID + "?redirect=1", token: tok})
			wantStatus(t, resp, body, http.StatusFound)
			got, _ := a.fetch(resp.Header.Get("Location"))
			if ct := got.Header.Get("Content-Type"); ct != tc.served {
				t.Errorf("served Content-Type %q, want %q", ct, tc.served)
			}
		})
	}
}

// TestAPIOwnership: another user's file id is indistinguishable from a
// missing one on every route, leaves the file untouched, and lists are
// scoped by exact owner, also for proxy-supplied user ids.
func TestAPIOwnership(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	alice, bob := a.newUser("alice"), a.newUser("bob")
	content := []byte("alice's secret")
	done, _ := a.stored(alice, map[string]any{"filename": "secret.txt"}, content)
	pending := a.create(alice, map[string]any{"filename": "pending.txt"}).File
	uploaded := a.create(alice, map[string]any{"filename": "uploaded.txt"})
	a.upload(uploaded, []byte("up"))

	targets := map[string]string{"complete file": done.ID, "pending file": pending.ID, "uploaded pending file": uploaded.File.ID}
	t.Run("routes", func(t *testing.T) { a.wantAnsweredAsMissing(t, bob, targets) })

	// Nothing of alice's changed.
	resp, body := a.do(request{method: "GET", path: "/download/" + done.ID, token: alice})
	wantStatus(t, resp, body, http.StatusOK)
	if got, data := a.fetch(decode[downloadOut](t, body).URL); got.StatusCode != 200 || !bytes.Equal(data, content) {
		t.Errorf("alice's download after bob's attempts: %d %q", got.StatusCode, data)
	}
	if ids := a.listIDs(alice, "status=pending"); len(ids) != 2 || !slices.Contains(ids, uploaded.File.ID) {
		t.Errorf("alice's pending files after bob's attempts: %v (bob's complete must not complete hers)", ids)
	}
	if ids := a.listIDs(alice, ""); len(ids) != 3 {
		t.Errorf("alice has %d files after bob's attempts, want 3", len(ids))
	}
	for _, q := range []string{"", "status=pending", "status=complete"} {
		if ids := a.listIDs(bob, q); len(ids) != 0 {
			t.Errorf("bob's list?%s shows %v", q, ids)
		}
	}
}

// TestAPIOwnershipProxyUsers: with TRUST_X_USER_ID, users whose ids share
// a prefix see nothing of each other's, and their keys share no prefix.
func TestAPIOwnershipProxyUsers(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, proxyAuthEnv())
	as := func(user string, r request) (*http.Response, []byte) {
		r.header = map[string]string{"X-User-Id": user}
		return a.do(r)
	}
	users := []string{"alice", "alice2", "alic"}
	files := map[string]uploadOut{}
	for _, u := range users {
		resp, body := as(u, request{method: "POST", path: "/upload/", body: map[string]any{"filename": u + ".txt"}})
		wantStatus(t, resp, body, http.StatusCreated)
		files[u] = decode[uploadOut](t, body)
		a.upload(files[u], []byte(u))
		resp, body = as(u, request{method: "POST", path: "/upload/" + files[u].File.ID + "/complete"})
		wantStatus(t, resp, body, http.StatusOK)
	}
	for _, u := range users {
		resp, body := as(u, request{method: "GET", path: "/list/"})
		wantStatus(t, resp, body, http.StatusOK)
		if l := decode[listOut](t, body); len(l.Files) != 1 || l.Files[0].ID != files[u].File.ID {
			t.Errorf("%s's list = %+v, want only %s's own file", u, l.Files, u)
		}
		for _, other := range users {
			if other == u {
				continue
			}
			resp, body := as(u, request{method: "GET", path: "/download/" + files[other].File.ID})
			wantStatus(t, resp, body, http.StatusNotFound)
			key, otherKey := files[u].Upload.Fields["key"], files[other].Upload.Fields["key"]
			if strings.HasPrefix(otherKey, path.Dir(key)+"/") {
				t.Errorf("%s's key %q lies under %s's prefix %q", other, otherKey, u, path.Dir(key))
			}
		}
	}
}

// TestAPIPagination: pages are newest first, complete, without duplicates,
// stable while files are added, and filterable by status.
func TestAPIPagination(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)

	// makeFiles creates n pending files and returns their ids, oldest first.
	makeFiles := func(a apiTester, tok string, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = a.create(tok, map[string]any{"filename": fmt.Sprintf("f%02d.txt", i)}).File.ID
		}
		return ids
	}
	// walk lists every page with the given page size, calling between(i)
	// before fetching page i (from 1), and returns the pages.
	walk := func(a apiTester, tok, query string, limit int, between func(page int)) [][]fileOut {
		var pages [][]fileOut
		cursor := ""
		for i := 0; ; i++ {
			if i > 0 && between != nil {
				between(i)
			}
			q := fmt.Sprintf("limit=%d&%s", limit, query)
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			l := a.list(tok, q)
			pages = append(pages, l.Files)
			if l.NextCursor == nil {
				return pages
			}
			if *l.NextCursor == "" || i > 100 {
				a.t.Fatalf("next_cursor %q after page %d", *l.NextCursor, i)
			}
			cursor = *l.NextCursor
		}
	}
	// checkWalk checks page sizes, order and that the walk yields exactly ids.
	checkWalk := func(t *testing.T, pages [][]fileOut, sizes []int, ids []string) {
		t.Helper()
		var got []fileOut
		var gotSizes []int
		for _, p := range pages {
			gotSizes = append(gotSizes, len(p))
			got = append(got, p...)
		}
		if !slices.Equal(gotSizes, sizes) {
			t.Errorf("page sizes %v, want %v", gotSizes, sizes)
		}
		seen := map[string]bool{}
		for i, f := range got {
			if seen[f.ID] {
				t.Errorf("file %s listed twice", f.ID)
			}
			seen[f.ID] = true
			if i > 0 {
				prev := got[i-1]
				if f.CreatedAt.After(prev.CreatedAt) || f.CreatedAt.Equal(prev.CreatedAt) && f.ID > prev.ID {
					t.Errorf("not newest first: %s (%v) after %s (%v)", f.ID, f.CreatedAt, prev.ID, prev.CreatedAt)
				}
			}
		}
		for _, id := range ids {
			if !seen[id] {
				t.Errorf("file %s skipped", id)
			}
		}
		if len(seen) != len(ids) {
			t.Errorf("walk yields %d files, want %d", len(seen), len(ids))
		}
		// Newest first also means: against creation order, reversed,
		// except for files created in the same millisecond.
		pos := map[string]int{}
		for i, id := range ids {
			pos[id] = i
		}
		for i := 1; i < len(got); i++ {
			if pos[got[i].ID] > pos[got[i-1].ID] && !got[i].CreatedAt.Equal(got[i-1].CreatedAt) {
				t.Errorf("file created %dth listed after the one created %dth", pos[got[i].ID], pos[got[i-1].ID])
			}
		}
	}

	t.Run("pages", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("pager")
		ids := makeFiles(a, tok, 25)
		checkWalk(t, walk(a, tok, "", 10, nil), []int{10, 10, 5}, ids)
		checkWalk(t, walk(a, tok, "", 25, nil), []int{25}, ids)
		checkWalk(t, walk(a, tok, "", 1000, nil), []int{25}, ids)
		checkWalk(t, walk(a, tok, "", 24, nil), []int{24, 1}, ids)
	})

	t.Run("stable under concurrent inserts", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("walker")
		ids := makeFiles(a, tok, 25)
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		insert := func(n int) {
			for range n {
				wg.Go(func() {
					status, body, err := a.try(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "late.txt"}})
					if err == nil && status != http.StatusCreated {
						err = fmt.Errorf("concurrent create: %d %s", status, body)
					}
					if err != nil {
						errs <- err
					}
				})
			}
		}
		pages := walk(a, tok, "", 10, func(page int) {
			insert(map[int]int{1: 2, 2: 3}[page]) // racing with the next page's fetch
			time.Sleep(5 * time.Millisecond)
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		checkWalk(t, pages, []int{10, 10, 5}, ids)
		if all := a.listIDs(tok, ""); len(all) != 30 {
			t.Errorf("after the walk, %d files, want 30", len(all))
		}
	})

	t.Run("status filter", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("filter")
		ids := makeFiles(a, tok, 7)
		var complete, pending []string
		for i := range 3 {
			f, _ := a.stored(tok, map[string]any{"filename": fmt.Sprintf("c%d.txt", i)}, []byte("c"))
			complete = append(complete, f.ID)
		}
		pending = ids
		pages := walk(a, tok, "status=complete", 2, nil)
		checkWalk(t, pages, []int{2, 1}, complete)
		for _, p := range pages {
			for _, f := range p {
				if f.Status != "complete" {
					t.Errorf("status=complete lists a %s file", f.Status)
				}
			}
		}
		pages = walk(a, tok, "status=pending", 3, nil)
		checkWalk(t, pages, []int{3, 3, 1}, pending)
		for _, p := range pages {
			for _, f := range p {
				if f.Status != "pending" {
					t.Errorf("status=pending lists a %s file", f.Status)
				}
			}
		}
	})
}

// TestAPIDelete: delete removes the object and the record, once; a pending
// file whose object never arrived deletes too.
func TestAPIDelete(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("deleter")

	t.Run("complete file", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		f, key := a.stored(tok, map[string]any{"filename": "gone.txt"}, []byte("bye"))
		if !a.headObject(key) {
			t.Fatalf("object %q missing before delete", key)
		}
		resp, body := a.do(request{method: "DELETE", path: "/files/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		if len(body) != 0 {
			t.Errorf("204 with body %q", body)
		}
		if a.headObject(key) {
			t.Errorf("object %q still in S3 after delete", key)
		}
		if slices.Contains(a.listIDs(tok, ""), f.ID) {
			t.Errorf("deleted file still listed")
		}
		for _, r := range []request{
			{method: "DELETE", path: "/files/" + f.ID, token: tok},
			{method: "GET", path: "/download/" + f.ID, token: tok},
			{method: "POST", path: "/upload/" + f.ID + "/complete", token: tok},
		} {
			resp, body = a.do(r)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
	})

	t.Run("pending file never uploaded", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		up := a.create(tok, map[string]any{"filename": "never.txt"})
		resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		if slices.Contains(a.listIDs(tok, ""), up.File.ID) {
			t.Errorf("deleted pending file still listed")
		}
		resp, body = a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNotFound)
	})

	t.Run("only the one file", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("keeper")
		keep, keepKey := a.stored(tok, map[string]any{"filename": "keep.txt"}, []byte("keep"))
		drop, _ := a.stored(tok, map[string]any{"filename": "drop.txt"}, []byte("drop"))
		resp, body := a.do(request{method: "DELETE", path: "/files/" + drop.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		if ids := a.listIDs(tok, ""); !slices.Equal(ids, []string{keep.ID}) {
			t.Errorf("after deleting one of two files, list = %v", ids)
		}
		if !a.headObject(keepKey) {
			t.Errorf("the other file's object was deleted too")
		}
	})
}

// TestAPIAuth: only a valid, unexpired bearer token in the Authorization
// header (or, when the operator allows it, a proxy's X-User-Id) gets in.
func TestAPIAuth(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	alice, bob := a.newUser("alice"), a.newUser("bob")
	aliceID, bobID := a.userID(alice), a.userID(bob)
	aliceFile := a.create(alice, map[string]any{"filename": "alice.txt"}).File.ID
	bobFile := a.create(bob, map[string]any{"filename": "bob.txt"}).File.ID

	expired := newSecret(32)
	now := time.Now().UTC()
	err := a.srv.store.InsertCredential(t.Context(), Credential{
		Hash: hashSecret(expired), Kind: kindBearer, UserID: aliceID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A session secret is not a bearer token.
	session := newSecret(32)
	err = a.srv.store.InsertCredential(t.Context(), Credential{
		Hash: hashSecret(session), Kind: kindSession, UserID: aliceID, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name   string
		query  string
		header map[string]string
	}{
		{"no credentials", "", nil},
		{"X-User-Id alone", "", map[string]string{"X-User-Id": aliceID}},
		{"token in access_token query", "?access_token=" + alice, nil},
		{"token in token query", "?token=" + alice, nil},
		{"Bearer garbage", "", map[string]string{"Authorization": "Bearer garbage"}},
		{"Bearer empty", "", map[string]string{"Authorization": "Bearer "}},
		{"Bearer alone", "", map[string]string{"Authorization": "Bearer"}},
		{"Basic", "", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+alice))}},
		{"raw token", "", map[string]string{"Authorization": alice}},
		{"unknown well-formed token", "", map[string]string{"Authorization": "Bearer " + newSecret(32)}},
		{"token with a character changed", "", map[string]string{"Authorization": "Bearer " + apiFlipLast(alice)}},
		{"token with suffix", "", map[string]string{"Authorization": "Bearer " + alice + "x"}},
		{"token hash", "", map[string]string{"Authorization": "Bearer " + hashSecret(alice)}},
		{"expired token", "", map[string]string{"Authorization": "Bearer " + expired}},
		{"session secret as bearer", "", map[string]string{"Authorization": "Bearer " + session}},
		{"garbage bearer plus X-User-Id", "", map[string]string{"Authorization": "Bearer garbage", "X-User-Id": aliceID}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			for _, r := range []request{
				{method: "GET", path: "/list/" + tc.query},
				{method: "POST", path: "/upload/" + tc.query, body: map[string]any{"filename": "x.txt"}},
				{method: "GET", path: "/download/" + aliceFile + tc.query},
				{method: "DELETE", path: "/files/" + aliceFile + tc.query},
			} {
				r.header = tc.header
				resp, body := a.do(r)
				wantStatus(t, resp, body, http.StatusUnauthorized)
			}
		})
	}

	t.Run("bearer", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		if ids := a.listIDs(alice, ""); !slices.Contains(ids, aliceFile) || slices.Contains(ids, bobFile) {
			t.Errorf("alice's list = %v", ids)
		}
	})

	t.Run("bearer A plus X-User-Id B acts as A", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "GET", path: "/list/", token: alice, header: map[string]string{"X-User-Id": bobID}})
		wantStatus(t, resp, body, http.StatusOK)
		l := decode[listOut](t, body)
		if len(l.Files) != 1 || l.Files[0].ID != aliceFile {
			t.Errorf("list with alice's token and bob's X-User-Id = %+v, want alice's file only", l.Files)
		}
	})

	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		p := newAPITester(t, proxyAuthEnv())
		tok := p.newUser("carol")
		carolFile := p.create(tok, map[string]any{"filename": "carol.txt"}).File.ID

		resp, body := p.do(request{method: "POST", path: "/upload/", body: map[string]any{"filename": "proxy.txt"}, header: map[string]string{"X-User-Id": "dave"}})
		wantStatus(t, resp, body, http.StatusCreated)
		daveFile := decode[uploadOut](t, body).File.ID
		resp, body = p.do(request{method: "GET", path: "/list/", header: map[string]string{"X-User-Id": "dave"}})
		wantStatus(t, resp, body, http.StatusOK)
		if l := decode[listOut](t, body); len(l.Files) != 1 || l.Files[0].ID != daveFile {
			t.Errorf("dave's list = %+v", l.Files)
		}

		resp, body = p.do(request{method: "GET", path: "/list/", token: tok, header: map[string]string{"X-User-Id": "dave"}})
		wantStatus(t, resp, body, http.StatusOK)
		if l := decode[listOut](t, body); len(l.Files) != 1 || l.Files[0].ID != carolFile {
			t.Errorf("bearer carol + X-User-Id dave lists %+v, want carol's file only", l.Files)
		}

		for name, h := range map[string]map[string]string{
			"garbage bearer plus X-User-Id": {"Authorization": "Bearer garbage", "X-User-Id": "dave"},
			"empty X-User-Id":               {"X-User-Id": ""},
			"X-User-Id with a space":        {"X-User-Id": "dave smith"},
			"X-User-Id over 256 bytes":      {"X-User-Id": strings.Repeat("d", 257)},
		} {
			resp, body := p.do(request{method: "GET", path: "/list/", header: h})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
				continue
			}
			wantStatus(t, resp, body, http.StatusUnauthorized)
		}
	})
}

// apiFlipLast changes the last character of a token to another valid one.
func apiFlipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return s[:len(s)-1] + string(repl)
}

// TestAPIHeaders: every API answer, success or error, is nosniff and
// no-store; unknown routes answer in the JSON error shape; health checks
// answer.
func TestAPIHeaders(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("headers")
	f, _ := a.stored(tok, map[string]any{"filename": "h.txt"}, []byte("h"))
	pending := a.create(tok, map[string]any{"filename": "p.txt"}).File
	doomed := a.create(tok, map[string]any{"filename": "doomed.txt"}).File

	cases := []struct {
		name   string
		req    request
		status int
	}{
		{"create", request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "n.txt"}}, 201},
		{"create without slash", request{method: "POST", path: "/upload", token: tok, body: map[string]any{"filename": "n.txt"}}, 201},
		{"complete", request{method: "POST", path: "/upload/" + f.ID + "/complete", token: tok}, 200},
		{"list", request{method: "GET", path: "/list/", token: tok}, 200},
		{"list without slash", request{method: "GET", path: "/list", token: tok}, 200},
		{"download", request{method: "GET", path: "/download/" + f.ID, token: tok}, 200},
		{"download redirect", request{method: "GET", path: "/download/" + f.ID + "?redirect=1", token: tok}, 302},
		{"delete", request{method: "DELETE", path: "/files/" + doomed.ID, token: tok}, 204},
		{"unauthorized", request{method: "GET", path: "/list/"}, 401},
		{"bad request", request{method: "POST", path: "/upload/", token: tok, body: `{"filename":""}`}, 400},
		{"unsupported media type", request{method: "POST", path: "/upload/", token: tok, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{"too large", request{method: "POST", path: "/upload/", token: tok, body: `{"filename":"` + strings.Repeat("a", 65<<10) + `"}`}, 413},
		{"missing file", request{method: "GET", path: "/download/" + newID(), token: tok}, 404},
		{"conflict", request{method: "GET", path: "/download/" + pending.ID, token: tok}, 409},
		{"unknown route", request{method: "GET", path: "/nope"}, 404},
		{"unknown route with auth", request{method: "POST", path: "/nope/deeper", token: tok}, 404},
		{"unknown API subpath", request{method: "GET", path: "/files/" + f.ID + "/x", token: tok}, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			resp, body := a.do(tc.req)
			wantStatus(t, resp, body, tc.status)
			apiWantHeaders(t, resp)
			if len(body) > 0 && tc.status != http.StatusFound && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q for a JSON body", resp.Header.Get("Content-Type"))
			}
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "PUT", path: "/list/", token: tok})
		if resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Fatalf("PUT /list/: %d, want 404 or 405", resp.StatusCode)
		}
		wantStatus(t, resp, body, resp.StatusCode)
		apiWantHeaders(t, resp)
	})

	t.Run("healthz", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "GET", path: "/healthz"})
		wantStatus(t, resp, body, http.StatusOK)
		apiWantHeaders(t, resp)
		if got := decode[map[string]string](t, body); len(got) != 1 || got["status"] != "ok" {
			t.Errorf("/healthz body %s, want {\"status\":\"ok\"}", body)
		}
	})

	t.Run("readyz", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "GET", path: "/readyz"})
		wantStatus(t, resp, body, http.StatusOK)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("/readyz without nosniff")
		}
	})
}

// apiWantHeaders checks the headers every API response carries.
func apiWantHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s (%d): X-Content-Type-Options %q, want nosniff", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s %s (%d): Cache-Control %q, want no-store", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, got)
	}
}

// TestAPIRequestBodies: POST /upload/ accepts only a JSON object sent as
// application/json, of at most 64 KiB, with nothing after it.
func TestAPIRequestBodies(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("bodies")

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("filename", "a.txt")
	mw.Close()
	valid := `{"filename":"a.txt"}`

	cases := []struct {
		name, ctype, body string
		status            int
	}{
		{"json", "application/json", valid, 201},
		{"json with charset", "application/json; charset=utf-8", valid, 201},
		{"json just under the limit", "application/json", valid + strings.Repeat(" ", 64<<10-len(valid)), 201},
		{"text/plain", "text/plain", valid, 415},
		{"text/plain with charset", "text/plain;charset=UTF-8", valid, 415},
		{"form", "application/x-www-form-urlencoded", "filename=a.txt", 415},
		{"multipart", mw.FormDataContentType(), mp.String(), 415},
		{"no content type", "", valid, 415},
		{"json-like type", "application/json-patch+json", valid, 415},
		{"malformed content type", "application/json; =", valid, 415},
		{"65 KiB", "application/json", `{"filename":"` + strings.Repeat("a", 65<<10) + `"}`, 413},
		// The body limit applies past the JSON value too.
		{"65 KiB of whitespace", "application/json", valid + strings.Repeat(" ", 65<<10), 413},
		{"trailing object", "application/json", valid + `{"filename":"b.txt"}`, 400},
		{"trailing garbage", "application/json", valid + ` x`, 400},
		// Stray closing brackets after the value are refused.
		{"trailing brace", "application/json", valid + `}`, 400},
		{"trailing bracket", "application/json", valid + `]`, 400},
		{"unknown field", "application/json", `{"filename":"a.txt","status":"complete"}`, 400},
		{"duplicate key with bad value last", "application/json", `{"filename":"a.txt","filename":"../a"}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := a.on(t)
			hr, err := http.NewRequest("POST", a.URL+"/upload/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				hr.Header.Set("Content-Type", tc.ctype)
			}
			hr.Header.Set("Authorization", "Bearer "+tok)
			resp, err := a.client.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantStatus(t, resp, body, tc.status)
		})
	}
}
