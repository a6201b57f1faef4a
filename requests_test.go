package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test copies of the file request API's shapes.
type (
	requestOut struct {
		ID            string    `json:"id"`
		URL           string    `json:"url"`
		Title         string    `json:"title"`
		Message       string    `json:"message"`
		MaxFiles      int64     `json:"max_files"`
		MaxBytes      int64     `json:"max_bytes"`
		ContentTypes  []string  `json:"content_types"`
		Closed        bool      `json:"closed"`
		FilesReceived int64     `json:"files_received"`
		BytesReceived int64     `json:"bytes_received"`
		CreatedAt     time.Time `json:"created_at"`
		ExpiresAt     time.Time `json:"expires_at"`
	}
	openRequestOut struct {
		Title        string    `json:"title"`
		Message      string    `json:"message"`
		ExpiresAt    time.Time `json:"expires_at"`
		FilesLeft    int64     `json:"files_left"`
		BytesLeft    int64     `json:"bytes_left"`
		ContentTypes []string  `json:"content_types"`
	}
	requestFileOut struct {
		ID         string `json:"id"`
		Filename   string `json:"filename"`
		Size       *int64 `json:"size"`
		Status     string `json:"status"`
		RequestID  string `json:"request_id"`
		SenderName string `json:"sender_name"`
		SenderNote string `json:"sender_note"`
	}
)

// requestBackends are the four pairs of stores a file request must work on.
var requestBackends = []struct{ metadata, objects string }{
	{"mongodb", "s3"}, {"mongodb", "local"}, {"local", "s3"}, {"local", "local"},
}

// onEachRequestBackend runs test on a server of each pair, with a movable
// clock and the request log captured, in parallel.
func onEachRequestBackend(t *testing.T, env map[string]string, test func(t *testing.T, e shareEnv)) {
	for _, b := range requestBackends {
		t.Run(b.metadata+"+"+b.objects, func(t *testing.T) {
			t.Parallel()
			start := func(t *testing.T, env map[string]string) *testEnv {
				return startTestEnv(t, backendEnv(t, b.metadata, b.objects, env))
			}
			test(t, newShareEnv(t, start, env))
		})
	}
}

// newRequest creates a file request of the owner with body, expecting 201.
func (e shareEnv) newRequest(token string, body map[string]any) requestOut {
	e.t.Helper()
	return answerMember[requestOut](e.apiTester, request{method: "POST", path: "/requests", token: token, body: body}, http.StatusCreated, "request")
}

// requests lists the owner's requests, expecting 200.
func (e shareEnv) requests(token string) []requestOut {
	e.t.Helper()
	return answerMember[[]requestOut](e.apiTester, request{method: "GET", path: "/requests", token: token}, http.StatusOK, "requests")
}

// linkPath is the path of a request's link.
func linkPath(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/r/") {
		t.Fatalf("request link %q", link)
	}
	return u.Path
}

// strangerCreate announces a stranger's upload through the link, with no
// credential, and returns the answer.
func (e shareEnv) strangerCreate(link string, body map[string]any) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(request{method: "POST", path: linkPath(e.t, link) + "/upload", body: body})
}

// strangerSend announces, uploads and completes content through the link
// as a stranger does, and returns the completed file.
func (e shareEnv) strangerSend(link, name string, content []byte, extra map[string]any) requestFileOut {
	e.t.Helper()
	body := map[string]any{"filename": name, "size": len(content)}
	for k, v := range extra {
		body[k] = v
	}
	return e.sendThrough(linkPath(e.t, link), body, content, nil, "")
}

// sendThrough announces (with body), uploads and completes content through
// the request at path, as a stranger with header and token (a cookie, a
// bearer token; either may be empty), and returns the completed file.
func (e shareEnv) sendThrough(path string, body map[string]any, content []byte, header map[string]string, token string) requestFileOut {
	e.t.Helper()
	resp, data := e.do(request{method: "POST", path: path + "/upload", token: token, header: header, body: body})
	wantStatus(e.t, resp, data, http.StatusCreated)
	up := decode[uploadOut](e.t, data)
	e.apiTester.upload(up, content)
	resp, data = e.do(request{method: "POST", path: path + "/upload/" + up.File.ID + "/complete", token: token, header: header})
	wantStatus(e.t, resp, data, http.StatusOK)
	return decode[struct {
		File requestFileOut `json:"file"`
	}](e.t, data).File
}

// TestFileRequests walks the contract on every pair of stores: the owner
// creates, lists, closes, reopens and deletes a request; a stranger opens
// it and sends files, with a name and a note, that land in the owner's
// account, charged to the owner's quota; the stranger can never list,
// download or delete; bad input is a 400; a dead request is the dead share
// link's 404; the token never reaches the log.
func TestFileRequests(t *testing.T) {
	t.Parallel()
	onEachRequestBackend(t, map[string]string{"AUTH_RATE_LIMIT": "100000", "QUOTA_BYTES_PER_USER": "1000000"}, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr := e.newRequest(alice, map[string]any{
			"title": "Holiday photos", "message": "Send me yours!\nThanks", "max_files": 3, "max_bytes": 100_000, "expires_in": 3600,
			"content_types": []string{"image/*", "text/plain"},
		})
		if fr.URL == "" || fr.Title != "Holiday photos" || fr.MaxFiles != 3 || fr.Closed || len(fr.ContentTypes) != 2 {
			t.Fatalf("created %+v", fr)
		}
		token := strings.TrimPrefix(linkPath(t, fr.URL), "/r/")
		if len(token) != 43 {
			t.Fatalf("token %q: want 43 base64url characters (256 bits)", token)
		}
		if list := e.requests(alice); len(list) != 1 || list[0].ID != fr.ID || list[0].URL != "" {
			t.Fatalf("list %+v: want the request, without its URL", list)
		}

		// The stranger's page and JSON.
		resp, data := e.link("GET", fr.URL, "", asBrowser)
		wantStatus(t, resp, data, http.StatusOK)
		wantLinkHeaders(t, resp)
		if page := string(data); !strings.Contains(page, "Holiday photos") || !strings.Contains(page, "Room for 3 more files") {
			t.Fatalf("page lacks the title or the room left:\n%s", page)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("request page CSP %q", csp)
		}
		resp, data = e.link("GET", fr.URL, "", asJSON)
		wantStatus(t, resp, data, http.StatusOK)
		if o := decode[openRequestOut](t, data); o.Title != fr.Title || o.Message != "Send me yours!\nThanks" || o.FilesLeft != 3 || o.BytesLeft != 100_000 {
			t.Fatalf("request JSON %+v", o)
		}

		// Bad input from a stranger.
		for _, c := range []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"filename": "a.txt", "content_type": "text/plain"}, "is required to send through a file request"},
			{map[string]any{"filename": "a.pdf", "size": 3, "content_type": "application/pdf"}, "content_type"},
			{map[string]any{"filename": "a.txt", "size": 3}, "content_type"},
			{map[string]any{"filename": "a.txt", "size": 3, "content_type": "text/plain", "sender_name": strings.Repeat("x", 101)}, "sender_name"},
			{map[string]any{"filename": "a.txt", "size": 3, "content_type": "text/plain", "sender_name": "Ann\u202Etxt.exe"}, "sender_name"},
			{map[string]any{"filename": "a.txt", "size": 3, "content_type": "text/plain", "sender_note": strings.Repeat("x", 1001)}, "sender_note"},
			{map[string]any{"filename": "a.txt", "size": 3, "content_type": "text/plain", "owner": "bob"}, "owner"},
		} {
			resp, data := e.strangerCreate(fr.URL, c.body)
			wantStatus(t, resp, data, http.StatusBadRequest)
			if !strings.Contains(string(data), c.want) {
				t.Errorf("%v: %s, want a message about %s", c.body, data, c.want)
			}
		}

		// A stranger sends a file; it lands in the owner's account.
		content := []byte("a photo, honestly\n")
		sent := e.strangerSend(fr.URL, "beach.txt", content, map[string]any{
			"content_type": "text/plain", "sender_name": "Ann <b>", "sender_note": "from the beach\nday 2",
		})
		if sent.Status != statusComplete || sent.RequestID != fr.ID || sent.SenderName != "Ann <b>" || sent.SenderNote != "from the beach\nday 2" {
			t.Fatalf("sent %+v", sent)
		}
		var listed []requestFileOut
		resp, data = e.do(request{method: "GET", path: "/list/", token: alice})
		wantStatus(t, resp, data, http.StatusOK)
		listed = decode[struct {
			Files []requestFileOut `json:"files"`
		}](t, data).Files
		if len(listed) != 1 || listed[0].ID != sent.ID || listed[0].RequestID != fr.ID || listed[0].SenderName != "Ann <b>" {
			t.Fatalf("owner's list %+v: want the sent file, marked", listed)
		}
		if got := downloaded(t, e.apiTester, alice, sent.ID); !bytes.Equal(got, content) {
			t.Fatalf("owner downloads %q", got)
		}
		e.wantMeUsage(alice, int64(len(content)), 1)
		if list := e.requests(alice); list[0].FilesReceived != 1 || list[0].BytesReceived != int64(len(content)) {
			t.Fatalf("request after one file: %+v", list[0])
		}

		// The stranger can never list, download or delete.
		base := linkPath(t, fr.URL)
		for _, c := range []request{
			{method: "GET", path: "/list/"},
			{method: "GET", path: "/download/" + sent.ID},
			{method: "DELETE", path: "/files/" + sent.ID},
		} {
			resp, data := e.do(c)
			wantStatus(t, resp, data, http.StatusUnauthorized)
		}
		// A sender may take back only a file still being sent: a received
		// one stays the owner's (409).
		resp, data = e.do(request{method: "DELETE", path: base + "/upload/" + sent.ID})
		wantStatus(t, resp, data, http.StatusConflict)
		if f, err := e.srv.store.GetFile(t.Context(), e.userID(alice), sent.ID); err != nil || f.Status != statusComplete {
			t.Fatalf("the received file after a sender's DELETE: %+v %v", f, err)
		}
		for _, c := range []request{
			{method: "GET", path: base + "/upload/" + sent.ID},
			{method: "GET", path: base + "/files"},
			{method: "GET", path: base + "/upload/" + sent.ID + "/download"},
		} {
			resp, data := e.do(c)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed || bytes.Contains(data, content) {
				t.Errorf("%s %s: %d %s, want no such route", c.method, c.path, resp.StatusCode, data)
			}
		}
		// Nor act on the owner's own files through the link.
		own, _ := e.stored(alice, map[string]any{"filename": "own.txt", "size": 3}, []byte("own"))
		for _, suffix := range []string{"/complete", "/parts"} {
			resp, data := e.do(request{method: "POST", path: base + "/upload/" + own.ID + suffix, body: map[string]any{"part_numbers": []int{1}}})
			wantStatus(t, resp, data, http.StatusNotFound)
		}

		// Closed, reopened, expired, deleted: dead the way a share link is.
		deadShare := "/s/" + newSecret(shareTokenBytes)
		wantSameDead := func(what, path string) {
			t.Helper()
			for _, accept := range []map[string]string{asBrowser, asJSON} {
				want, wantBody := e.do(request{method: "GET", path: deadShare, header: accept})
				got, gotBody := e.do(request{method: "GET", path: path, header: accept})
				if got.StatusCode != http.StatusNotFound || got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
					t.Errorf("%s request (%s): %d %s\nwant the dead share link's %d %s", what, accept["Accept"], got.StatusCode, gotBody, want.StatusCode, wantBody)
				}
				for _, h := range []string{"Content-Type", "Content-Security-Policy", "Referrer-Policy", "Cache-Control", "X-Robots-Tag", "X-Frame-Options"} {
					if got.Header.Get(h) != want.Header.Get(h) {
						t.Errorf("%s request: %s %q, dead share link %q", what, h, got.Header.Get(h), want.Header.Get(h))
					}
				}
			}
			resp, data := e.do(request{method: "POST", path: path + "/upload", body: map[string]any{"filename": "x.txt", "size": 1, "content_type": "text/plain"}, header: asJSON})
			wantStatus(t, resp, data, http.StatusNotFound)
		}
		wantSameDead("unknown", "/r/"+newSecret(shareTokenBytes))
		wantSameDead("malformed", "/r/nope")
		resp, data = e.do(request{method: "POST", path: "/requests/" + fr.ID + "/close", token: alice})
		wantStatus(t, resp, data, http.StatusOK)
		wantSameDead("closed", base)
		resp, data = e.do(request{method: "POST", path: "/requests/" + fr.ID + "/reopen", token: alice})
		wantStatus(t, resp, data, http.StatusOK)
		resp, data = e.link("GET", fr.URL, "", asJSON)
		wantStatus(t, resp, data, http.StatusOK)
		bob := e.newUser("bob")
		for _, p := range []string{"/close", "/reopen"} {
			resp, data = e.do(request{method: "POST", path: "/requests/" + fr.ID + p, token: bob})
			wantStatus(t, resp, data, http.StatusNotFound)
		}
		resp, data = e.do(request{method: "DELETE", path: "/requests/" + fr.ID, token: bob})
		wantStatus(t, resp, data, http.StatusNotFound)
		if list := e.requests(bob); len(list) != 0 {
			t.Errorf("bob lists alice's requests: %+v", list)
		}
		e.clock.advance(2 * time.Hour)
		wantSameDead("expired", base)
		e.clock.advance(-2 * time.Hour)
		resp, data = e.do(request{method: "DELETE", path: "/requests/" + fr.ID, token: alice})
		wantStatus(t, resp, data, http.StatusNoContent)
		wantSameDead("deleted", base)
		if got := downloaded(t, e.apiTester, alice, sent.ID); !bytes.Equal(got, content) {
			t.Fatalf("the received file went with its request: %q", got)
		}

		if strings.Contains(e.logs.String(), token) {
			t.Errorf("the request's token is in the log")
		}
	})
}

// TestCreateRequestValidation: a bad request body is a 400 naming the field.
func TestCreateRequestValidation(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, nil)
	alice := e.newUser("alice")
	ok := map[string]any{"title": "t", "max_files": 1, "max_bytes": 1}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{with("title", nil), "title"},
		{with("title", ""), "title"},
		{with("title", strings.Repeat("t", 201)), "title"},
		{with("title", "a\nb"), "title"},
		{with("message", strings.Repeat("m", 2001)), "message"},
		{with("max_files", nil), "max_files"},
		{with("max_files", 0), "max_files"},
		{with("max_files", 10001), "max_files"},
		{with("max_bytes", 0), "max_bytes"},
		{with("max_bytes", int64(1)<<62+1), "max_bytes\\\" is required, 1 to 4611686018427387904"}, // its bound named, not "at least 1"
		{with("expires_in", 0), "expires_in"},
		{with("content_types", []string{"not a type"}), "content_types"},
		{with("owner", "bob"), "owner"},
	} {
		resp, data := e.do(request{method: "POST", path: "/requests", token: alice, body: c.body})
		wantStatus(t, resp, data, http.StatusBadRequest)
		if !strings.Contains(string(data), c.field) {
			t.Errorf("%v: %s, want a message naming %s", c.body, data, c.field)
		}
	}
	resp, data := e.do(request{method: "POST", path: "/requests", body: ok})
	wantStatus(t, resp, data, http.StatusUnauthorized)
	for _, p := range []string{"/requests/not-an-id/close", "/requests/" + newID() + "/reopen"} {
		resp, data := e.do(request{method: "POST", path: p, token: alice})
		wantStatus(t, resp, data, http.StatusNotFound)
	}
}

// TestRequestRefusesTypesNoFileMatches: a request cannot be made with a
// content type that would refuse every file sent (review 16: it was made,
// 201, and each sender was then told their file's type was not one it
// takes, naming the very type): one with parameters (a sender's type is
// compared without its own), "*/*" or another "*" major type. A family and
// a type in capitals are taken, normalised, and take their files.
func TestRequestRefusesTypesNoFileMatches(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, nil)
	alice := e.newUser("alice")
	for _, listed := range []string{"text/plain; charset=utf-8", "*/*", "image/*; q=1", "*/png", "image/pn*"} {
		resp, data := e.do(request{method: "POST", path: "/requests", token: alice, body: map[string]any{
			"title": "t", "max_files": 5, "max_bytes": 1000, "content_types": []string{listed}}})
		wantStatus(t, resp, data, http.StatusBadRequest)
		if !strings.Contains(string(data), "content_types") {
			t.Errorf("content_types [%q]: %s, want a message naming content_types", listed, data)
		}
	}
	fr := e.newRequest(alice, map[string]any{"title": "t", "max_files": 5, "max_bytes": 1000, "content_types": []string{"IMAGE/*", "Text/Plain"}})
	if !slices.Equal(fr.ContentTypes, []string{"image/*", "text/plain"}) {
		t.Errorf("content_types stored as %q", fr.ContentTypes)
	}
	for _, sent := range []string{"image/png", "text/plain; charset=utf-8"} {
		resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "a", "size": 1, "content_type": sent})
		wantStatus(t, resp, data, http.StatusCreated)
	}
}

// TestRequestCapsUnderConcurrency: strangers racing to send through one
// request never get more files or more bytes into it than it allows, and
// the ones refused get a 409; on every pair of stores.
func TestRequestCapsUnderConcurrency(t *testing.T) {
	t.Parallel()
	onEachRequestBackend(t, map[string]string{"AUTH_RATE_LIMIT": "100000"}, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		var total int64
		for _, c := range []struct {
			name               string
			maxFiles, maxBytes int64
		}{{"files", 4, 1 << 20}, {"bytes", 100, 50}} {
			fr := e.newRequest(alice, map[string]any{"title": c.name, "max_files": c.maxFiles, "max_bytes": c.maxBytes})
			const racers = 16
			codes := make([]int, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() {
					code, body, err := e.try(request{method: "POST", path: linkPath(t, fr.URL) + "/upload", body: map[string]any{"filename": "f.bin", "size": 10}})
					if err != nil || code != http.StatusCreated && code != http.StatusConflict {
						t.Errorf("racing create: %d %s %v", code, body, err)
					}
					codes[i] = code
				})
			}
			wg.Wait()
			var created int64
			for _, code := range codes {
				if code == http.StatusCreated {
					created++
				}
			}
			var got requestOut
			for _, r := range e.requests(alice) {
				if r.ID == fr.ID {
					got = r
				}
			}
			if got.FilesReceived != created || got.FilesReceived > c.maxFiles || got.BytesReceived > c.maxBytes || created == 0 {
				t.Errorf("%s: %d of %d racing uploads created, request holds %d files, %d bytes; caps %d files, %d bytes",
					c.name, created, racers, got.FilesReceived, got.BytesReceived, c.maxFiles, c.maxBytes)
			}
			total += created
		}
		e.wantMeUsage(alice, total*10, total) // each pending upload charged to the owner at create
	})
}

// checkRequestsContract calls every file request operation for
// TestOpenAPIMatchesAnswers (checkContract), with the owner's token user:
// the owner's API, then a stranger's page, upload (a form and parts) and
// dead link.
func checkRequestsContract(c *contractChecker, user string) {
	t := c.t
	missing := newID()
	c.call("/requests", c.req("POST", "/requests", user, map[string]any{"title": ""}))
	_, body := c.call("/requests", c.req("POST", "/requests", user, map[string]any{
		"title": "Scans", "message": "Please", "max_files": 5, "max_bytes": 1 << 20, "content_types": []string{"text/*"}}))
	fr := decode[struct {
		Request struct{ ID, URL string } `json:"request"`
	}](t, body).Request
	c.call("/requests", c.req("GET", "/requests?limit=1", user, nil))
	c.call("/requests", c.req("GET", "/requests?limit=0", user, nil))
	link := strings.TrimPrefix(fr.URL, c.e.URL)
	c.call("/r/{token}", c.req("GET", link, "", nil))
	page := c.req("GET", link, "", nil)
	page.Header.Set("Accept", "application/json")
	c.call("/r/{token}", page)
	dead := c.req("GET", "/r/nosuchlink", "", nil)
	dead.Header.Set("Accept", "application/json")
	c.call("/r/{token}", dead)

	content := []byte("scan\n")
	c.call("/r/{token}/upload", c.req("POST", link+"/upload", "", map[string]any{"filename": "a.bin", "size": 1}))
	c.call("/r/{token}/upload", c.req("POST", "/r/nosuchlink/upload", "", map[string]any{"filename": "a.txt", "size": 1}))
	c.call("/r/{token}/upload/", c.req("POST", link+"/upload/", "", map[string]any{"filename": "b.txt"}))
	_, body = c.call("/r/{token}/upload", c.req("POST", link+"/upload", "", map[string]any{
		"filename": "scan.txt", "size": len(content), "content_type": "text/plain", "sender_name": "Ann", "sender_note": "hi"}))
	up := decode[uploadOut](t, body)
	c.object("/objects/upload", uploadFormRequest(t, up.Upload.URL, up.Upload.Fields, content), true)
	c.call("/r/{token}/upload/{id}/complete", c.req("POST", link+"/upload/"+missing+"/complete", "", nil))
	c.call("/r/{token}/upload/{id}/complete", c.req("POST", link+"/upload/"+up.File.ID+"/complete", "", nil))

	_, body = c.call("/r/{token}/upload", c.req("POST", link+"/upload", "", map[string]any{
		"filename": "big.txt", "size": len(content), "content_type": "text/plain", "multipart": true}))
	mpID := decode[uploadOut](t, body).File.ID
	c.call("/r/{token}/upload/{id}/parts", c.req("POST", link+"/upload/"+mpID+"/parts", "", map[string]any{"part_numbers": []int{0}}))
	c.call("/r/{token}/upload/{id}/parts", c.req("POST", link+"/upload/"+mpID+"/parts", "", map[string]any{"part_numbers": []int{1}}))
	c.call("/r/{token}/upload/{id}/parts", c.req("GET", link+"/upload/"+mpID+"/parts", "", nil))
	c.call("/r/{token}/upload/{id}/parts", c.req("GET", link+"/upload/"+up.File.ID+"/parts", "", nil))
	c.call("/r/{token}/upload/{id}", c.req("DELETE", link+"/upload/"+mpID, "", nil))
	c.call("/r/{token}/upload/{id}", c.req("DELETE", link+"/upload/"+mpID, "", nil))
	c.call("/r/{token}/upload/{id}", c.req("DELETE", link+"/upload/"+up.File.ID, "", nil))

	c.call("/requests/{id}/close", c.req("POST", "/requests/"+fr.ID+"/close", user, nil))
	c.call("/requests/{id}/close", c.req("POST", "/requests/"+missing+"/close", user, nil))
	c.call("/r/{token}", c.req("GET", link, "", nil))
	c.call("/requests/{id}/reopen", c.req("POST", "/requests/"+fr.ID+"/reopen", user, nil))
	c.call("/requests/{id}", c.req("DELETE", "/requests/"+fr.ID, user, nil))
	c.call("/requests/{id}", c.req("DELETE", "/requests/"+fr.ID, user, nil))
}

// TestRequestMultipartResume: a stranger sends a file in parts through a
// request, loses its state after the first part, asks the link which parts
// are stored, sends the rest and completes; the owner gets the whole file.
// On every pair of stores (the parts go straight to S3 in S3 mode).
func TestRequestMultipartResume(t *testing.T) {
	t.Parallel()
	onEachRequestBackend(t, map[string]string{"AUTH_RATE_LIMIT": "100000", "PART_SIZE_BYTES": strconv.Itoa(5 << 20)}, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr := e.newRequest(alice, map[string]any{"title": "Video", "max_files": 1, "max_bytes": 7 << 20})
		base := linkPath(t, fr.URL)
		content := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16)
		resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "clip.bin", "size": len(content), "multipart": true, "sender_name": "Bo"})
		wantStatus(t, resp, data, http.StatusCreated)
		up := decode[multipartCreateOut](t, data)
		if up.Upload.Method != "multipart" || up.Upload.PartCount != 2 {
			t.Fatalf("multipart create: %s", data)
		}
		parts := func(nums ...int) []putOut {
			resp, data := e.do(request{method: "POST", path: base + "/upload/" + up.File.ID + "/parts", body: map[string]any{"part_numbers": nums}})
			wantStatus(t, resp, data, http.StatusOK)
			return decode[partURLsOut](t, data).Parts
		}
		send := func(p putOut) {
			start := int64(p.PartNumber-1) * up.Upload.PartSize
			end := min(start+up.Upload.PartSize, int64(len(content)))
			if status, body := putBodyTo(t, p.URL, p.Headers, content[start:end]); status/100 != 2 {
				t.Fatalf("PUT part %d: %d %s", p.PartNumber, status, body)
			}
		}
		send(parts(1)[0])
		// The state is lost: the link says what is stored.
		resp, data = e.do(request{method: "GET", path: base + "/upload/" + up.File.ID + "/parts"})
		wantStatus(t, resp, data, http.StatusOK)
		if stored := decode[storedPartsOut](t, data).Parts; len(stored) != 1 || stored[0].PartNumber != 1 {
			t.Fatalf("stored parts after one: %s", data)
		}
		send(parts(2)[0])
		resp, data = e.do(request{method: "POST", path: base + "/upload/" + up.File.ID + "/complete"})
		wantStatus(t, resp, data, http.StatusOK)
		if got := downloaded(t, e.apiTester, alice, up.File.ID); !bytes.Equal(got, content) {
			t.Fatalf("owner downloads %d bytes, want the %d sent", len(got), len(content))
		}
		// The request is now full.
		resp, data = e.strangerCreate(fr.URL, map[string]any{"filename": "more.bin", "size": 1})
		wantStatus(t, resp, data, http.StatusConflict)
	})
}

// TestRequestAbandonedUploadSwept: a stranger's upload that is never sent
// is swept as the owner's own would be: its record and charge go, and the
// request gets its room back. On every pair of stores.
func TestRequestAbandonedUploadSwept(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AUTH_RATE_LIMIT": "100000", "UPLOAD_POST_TTL_SECONDS": "600", "SWEEP_GRACE_SECONDS": "60", "QUOTA_BYTES_PER_USER": "1000000"}
	onEachRequestBackend(t, env, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr := e.newRequest(alice, map[string]any{"title": "Docs", "max_files": 1, "max_bytes": 1000, "expires_in": 86400})
		resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "never.txt", "size": 500})
		wantStatus(t, resp, data, http.StatusCreated)
		e.wantMeUsage(alice, 500, 1)
		resp, data = e.strangerCreate(fr.URL, map[string]any{"filename": "full.txt", "size": 1})
		wantStatus(t, resp, data, http.StatusConflict)
		e.clock.advance(e.srv.cfg.UploadTTL + e.srv.cfg.SweepGrace + time.Minute)
		if res := e.srv.sweep(t.Context()); res.failures != 0 {
			t.Fatalf("sweep: %+v", res)
		}
		e.wantMeUsage(alice, 0, 0)
		if list := e.requests(alice); len(list) != 1 || list[0].FilesReceived != 0 {
			t.Fatalf("after the sweep: %+v, want the request empty", list)
		}
		e.strangerSend(fr.URL, "now.txt", []byte("room again"), nil)
	})
}

// TestTakeBackCannotFillTheOwnersQuota: on S3 a taken-back single upload
// is held, charged to the owner while its form may still write, so it
// keeps its room in the request until then. Before, the room came back at
// once: a stranger creating and taking back uploads over and over left
// each charge on the owner's quota, and through a request of 1000 bytes
// filled a quota of 2000, so the owner's own upload was refused (review
// 17). On every pair of stores: with local objects nothing is held.
func TestTakeBackCannotFillTheOwnersQuota(t *testing.T) {
	t.Parallel()
	onEachRequestBackend(t, map[string]string{"AUTH_RATE_LIMIT": "100000", "QUOTA_BYTES_PER_USER": "2000"}, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr := e.newRequest(alice, map[string]any{"title": "Contract", "max_files": 1, "max_bytes": 1000})
		base := linkPath(t, fr.URL)
		for range 6 {
			resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "x.pdf", "size": 500})
			if resp.StatusCode != http.StatusCreated {
				break // the request is full while the held upload may still be written
			}
			resp, data = e.do(request{method: "DELETE", path: base + "/upload/" + decode[uploadOut](t, data).File.ID})
			wantStatus(t, resp, data, http.StatusNoContent)
		}
		resp, data := e.do(request{method: "POST", path: "/upload/", token: alice, body: map[string]any{"filename": "own.txt", "size": 1000}})
		wantStatus(t, resp, data, http.StatusCreated)
	})
}

// TestRequestSenderTakesBackPendingFile: a sender who cancelled, or whose
// upload failed, takes back their pending file (one request, or parts)
// with DELETE /r/{token}/upload/{id}, and the request has room again
// (review 13: the dead upload held a request of one file until the
// sweeper, hours or days later). A file the owner received cannot be
// taken back (409), nor a file of the owner's own (404), nor one twice
// (404). On every pair of stores.
func TestRequestSenderTakesBackPendingFile(t *testing.T) {
	t.Parallel()
	onEachRequestBackend(t, map[string]string{"AUTH_RATE_LIMIT": "100000"}, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr := e.newRequest(alice, map[string]any{"title": "Contract", "max_files": 1, "max_bytes": 1000})
		base := linkPath(t, fr.URL)
		takeBack := func(id string) (*http.Response, []byte) {
			return e.do(request{method: "DELETE", path: base + "/upload/" + id})
		}
		for _, multipart := range []bool{true, false} {
			resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "contract.pdf", "size": 500, "multipart": multipart})
			wantStatus(t, resp, data, http.StatusCreated)
			id := decode[uploadOut](t, data).File.ID
			resp, data = e.strangerCreate(fr.URL, map[string]any{"filename": "again.pdf", "size": 500})
			wantStatus(t, resp, data, http.StatusConflict)
			resp, data = takeBack(id)
			wantStatus(t, resp, data, http.StatusNoContent)
			// On S3 a single upload's file is held while its form may still
			// write: its bytes keep their room until then, as they stay
			// charged to the owner (TestTakeBackCannotFillTheOwnersQuota).
			held := int64(0)
			if !multipart && !e.srv.cfg.localObjectStore() {
				held = 500
			}
			if list := e.requests(alice); len(list) != 1 || list[0].FilesReceived != 0 || list[0].BytesReceived != held {
				t.Fatalf("after the take-back (multipart %v): %+v, want no file and %d bytes held", multipart, list, held)
			}
			resp, data = takeBack(id)
			wantStatus(t, resp, data, http.StatusNotFound)
		}
		fr = e.newRequest(alice, map[string]any{"title": "Signed", "max_files": 1, "max_bytes": 1000})
		base = linkPath(t, fr.URL)
		sent := e.strangerSend(fr.URL, "signed.pdf", []byte("signed"), nil)
		resp, data := takeBack(sent.ID)
		wantStatus(t, resp, data, http.StatusConflict)
		if got := downloaded(t, e.apiTester, alice, sent.ID); string(got) != "signed" {
			t.Errorf("after a refused take-back the owner downloads %q", got)
		}
		own := e.create(alice, map[string]any{"filename": "own.txt", "size": 3})
		resp, data = takeBack(own.File.ID)
		wantStatus(t, resp, data, http.StatusNotFound)
	})
}

// TestTakeBackAfterCompleteKeepsTheReceivedFile: on S3 a sender's
// complete of a single upload lands between the take-back's read of the
// file (still pending) and its hold. The complete answers 200, so the
// take-back must lose (409) and the owner keep the file. Before, the
// hold was not conditional on the file still being pending: it held the
// received file deleted, and the owner lost a file its sender was told
// had arrived. On both metadata stores.
func TestTakeBackAfterCompleteKeepsTheReceivedFile(t *testing.T) {
	t.Parallel()
	for _, metadata := range []string{"mongodb", "local"} {
		t.Run(metadata+"+s3", func(t *testing.T) {
			t.Parallel()
			start := func(t *testing.T, env map[string]string) *testEnv {
				return startTestEnv(t, backendEnv(t, metadata, "s3", env))
			}
			e := newShareEnv(t, start, map[string]string{"AUTH_RATE_LIMIT": "100000"})
			alice := e.newUser("alice")
			fr := e.newRequest(alice, map[string]any{"title": "Contract", "max_files": 1, "max_bytes": 1000})
			base := linkPath(t, fr.URL)
			content := []byte("signed")
			resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "contract.pdf", "size": len(content)})
			wantStatus(t, resp, data, http.StatusCreated)
			up := decode[uploadOut](t, data)
			e.apiTester.upload(up, content)
			var completed struct {
				status int
				body   []byte
			}
			hooked := &afterGetFile{Store: e.srv.store}
			hooked.hook = func() { // the take-back's read: the complete runs whole before its hold
				completed.status, completed.body, _ = e.try(request{method: "POST", path: base + "/upload/" + up.File.ID + "/complete"})
			}
			e.srv.store = hooked
			resp, data = e.do(request{method: "DELETE", path: base + "/upload/" + up.File.ID})
			if completed.status != http.StatusOK {
				t.Fatalf("the complete between the take-back's read and its hold: %d %s, want 200", completed.status, completed.body)
			}
			wantStatus(t, resp, data, http.StatusConflict)
			if got := downloaded(t, e.apiTester, alice, up.File.ID); !bytes.Equal(got, content) {
				t.Errorf("the owner downloads %q, want the file the sender was told was received", got)
			}
			e.wantMeUsage(alice, int64(len(content)), 1)
		})
	}
}

// afterGetFile is a Store that calls hook once, after the first GetFile
// made after the hook is set.
type afterGetFile struct {
	Store
	hook func()
	done atomic.Bool
}

func (s *afterGetFile) GetFile(ctx context.Context, owner, id string) (*File, error) {
	f, err := s.Store.GetFile(ctx, owner, id)
	if s.done.CompareAndSwap(false, true) {
		s.hook()
	}
	return f, err
}

// TestTakeBackRetriedAfterFailedDeleteFinishes: on MongoDB a sender's
// take-back whose delete (or, on S3, hold) fails after its claim on the
// file (its request ends at the store call after that claim) is retried: the retry
// finishes it (204), and the request has room again. Before, the retry of
// a delete found the claim of the first try and answered 409 "this file
// was received", of a file the owner never received, which then held the
// request's room for an hour.
func TestTakeBackRetriedAfterFailedDeleteFinishes(t *testing.T) {
	t.Parallel()
	for _, objects := range []string{"local", "s3"} {
		t.Run("mongodb+"+objects, func(t *testing.T) {
			t.Parallel()
			e, alice, base, up := newMongoRequestUpload(t, objects, 500)
			afterClaim := int64(2) // DeleteAbandonedFile claims first; HoldPendingFile reads the file first
			if objects == "s3" {
				afterClaim = 3
			}
			failing := &atTakeBack{Store: e.srv.store, at: afterClaim} // its request ends there
			e.srv.store = failing
			resp, data := e.do(request{method: "DELETE", path: base + "/upload/" + up.File.ID})
			if resp.StatusCode < 500 || failing.call == nil || !failing.call.reached() {
				t.Fatalf("the take-back ended at its store call %d: %d %s, want a 5xx", afterClaim, resp.StatusCode, data)
			}
			resp, data = e.do(request{method: "DELETE", path: base + "/upload/" + up.File.ID})
			wantStatus(t, resp, data, http.StatusNoContent)
			held := int64(0) // on S3 the held file keeps its bytes' room (TestTakeBackCannotFillTheOwnersQuota)
			if objects == "s3" {
				held = 500
			}
			if list := e.requests(alice); list[0].FilesReceived != 0 || list[0].BytesReceived != held {
				t.Errorf("after the take-back: %+v, want no file and %d bytes held", list[0], held)
			}
			e.wantMeUsage(alice, held, 0)
		})
	}
}

// TestTakeBackRacingItsOwnCompleteSaysTakenBack: on MongoDB a sender's
// take-back and the same sender's complete of one upload: the complete
// runs whole after the take-back's claim on the file, and loses to it
// (404, the file deleted). The take-back then finds the file gone, not
// pending, and must say it took it back, since the owner never got it.
// Before, it answered 409 "this file was received" (review 18).
func TestTakeBackRacingItsOwnCompleteSaysTakenBack(t *testing.T) {
	t.Parallel()
	e, alice, base, up := newMongoRequestUpload(t, "local", 5)
	e.apiTester.upload(up, []byte("hello"))
	var completed int
	e.srv.store = &atTakeBack{Store: e.srv.store, at: 2, do: func() { // after its claim, before its delete
		completed, _, _ = e.try(request{method: "POST", path: base + "/upload/" + up.File.ID + "/complete"})
	}}
	resp, data := e.do(request{method: "DELETE", path: base + "/upload/" + up.File.ID})
	if completed != http.StatusNotFound {
		t.Fatalf("the complete after the take-back's claim: %d, want 404 (swept)", completed)
	}
	wantStatus(t, resp, data, http.StatusNoContent)
	if list := e.requests(alice); list[0].FilesReceived != 0 || list[0].BytesReceived != 0 {
		t.Errorf("after the take-back: %+v, want no file", list[0])
	}
	e.wantMeUsage(alice, 0, 0)
}

// newMongoRequestUpload starts a server on MongoDB with objects, where
// alice has a request for one file of up to 1,000 bytes, and a stranger
// has announced a file of size through it; it returns the request's path
// and the upload.
func newMongoRequestUpload(t *testing.T, objects string, size int) (shareEnv, string, string, uploadOut) {
	start := func(t *testing.T, env map[string]string) *testEnv {
		return startTestEnv(t, backendEnv(t, "mongodb", objects, env))
	}
	e := newShareEnv(t, start, map[string]string{"AUTH_RATE_LIMIT": "100000"})
	alice := e.newUser("alice")
	fr := e.newRequest(alice, map[string]any{"title": "Contract", "max_files": 1, "max_bytes": 1000})
	resp, data := e.strangerCreate(fr.URL, map[string]any{"filename": "contract.pdf", "size": size})
	wantStatus(t, resp, data, http.StatusCreated)
	return e, alice, linkPath(t, fr.URL), decode[uploadOut](t, data)
}

// atTakeBack is a Store whose first take-back (DeleteAbandonedFile,
// HoldPendingFile) runs do at its at-th store call, or, with no do, has
// its request end there.
type atTakeBack struct {
	Store
	at   int64
	do   func()
	call *atStoreCall
}

// during is the context of a take-back: the first one's is watched.
func (s *atTakeBack) during(ctx context.Context) context.Context {
	if s.call != nil {
		return ctx
	}
	s.call = newAtStoreCall(ctx, s.at, s.do)
	return s.call
}

func (s *atTakeBack) DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) (*File, error) {
	return s.Store.DeleteAbandonedFile(s.during(ctx), owner, id, createdBefore)
}

func (s *atTakeBack) HoldPendingFile(ctx context.Context, owner, id string) (*File, error) {
	return s.Store.HoldPendingFile(s.during(ctx), owner, id)
}

// TestRequestRateLimits: calls on one request are limited per request,
// whatever their address, and per client address, as share links are.
func TestRequestRateLimits(t *testing.T) {
	t.Parallel()
	env := proxyAuthEnv()
	env["AUTH_RATE_LIMIT"] = "4"
	e := newShareEnv(t, newLocalTestEnv, env)
	alice := e.newUser("alice")
	one := e.newRequest(alice, map[string]any{"title": "One", "max_files": 1, "max_bytes": 1})
	two := e.newRequest(alice, map[string]any{"title": "Two", "max_files": 1, "max_bytes": 1})
	from := func(addr, link string) *http.Response {
		resp, _ := e.do(request{method: "GET", path: linkPath(t, link), header: map[string]string{"Accept": "application/json", "X-Forwarded-For": addr}})
		return resp
	}
	for i := range 4 {
		if resp := from(fmt.Sprintf("192.0.2.%d", i+1), one.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d on one request: %d", i+1, resp.StatusCode)
		}
	}
	resp := from("192.0.2.100", one.URL)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fifth call on one request from a new address: %d, want 429 with Retry-After", resp.StatusCode)
	}
	if resp := from("192.0.2.101", two.URL); resp.StatusCode != http.StatusOK {
		t.Fatalf("another request: %d, want 200 (the limit is per request)", resp.StatusCode)
	}
	for range 3 {
		from("198.51.100.7", two.URL)
	}
	resp, data := e.do(request{method: "POST", path: linkPath(t, two.URL) + "/upload", body: map[string]any{"filename": "a", "size": 1},
		header: map[string]string{"X-Forwarded-For": "198.51.100.7"}})
	wantStatus(t, resp, data, http.StatusTooManyRequests)
}

// TestFileRequestAcrossInstances: two instances on one MongoDB and one
// bucket share file requests: one made on the first is open on the
// second, a file announced on one completes on the other, and strangers
// racing on both never take the request over its caps.
func TestFileRequestAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	alice := a.newUser("alice")
	fr := a.newRequest(alice, map[string]any{"title": "Shared", "max_files": 5, "max_bytes": 1 << 20})
	path := linkPath(t, fr.URL)
	resp, data := b.do(request{method: "GET", path: path, header: asJSON})
	wantStatus(t, resp, data, http.StatusOK)

	content := []byte("announced on one, completed on the other\n")
	resp, data = b.do(request{method: "POST", path: path + "/upload", body: map[string]any{"filename": "x.txt", "size": len(content)}})
	wantStatus(t, resp, data, http.StatusCreated)
	up := decode[uploadOut](t, data)
	b.apiTester.upload(up, content)
	resp, data = a.do(request{method: "POST", path: path + "/upload/" + up.File.ID + "/complete"})
	wantStatus(t, resp, data, http.StatusOK)
	if got := downloaded(t, b.apiTester, alice, up.File.ID); !bytes.Equal(got, content) {
		t.Fatalf("downloaded %q", got)
	}

	const racers = 10 // more, under -race on a loaded machine, outlast mongoOpTimeout (503)
	codes := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		on := []shareEnv{a, b}[i%2]
		wg.Go(func() {
			code, body, err := on.try(request{method: "POST", path: path + "/upload", body: map[string]any{"filename": "r.bin", "size": 1}})
			if err != nil || code != http.StatusCreated && code != http.StatusConflict {
				t.Errorf("racing create: %d %s %v", code, body, err)
			}
			codes[i] = code
		})
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == http.StatusCreated {
			created++
		}
	}
	got := b.requests(alice)
	if len(got) != 1 || got[0].FilesReceived != int64(created)+1 || got[0].FilesReceived > 5 || created == 0 {
		t.Fatalf("%d of %d racing uploads on two instances created; the request holds %+v (at most 5 files)", created, racers, got)
	}
	resp, data = a.do(request{method: "POST", path: "/requests/" + fr.ID + "/close", token: alice})
	wantStatus(t, resp, data, http.StatusOK)
	resp, data = b.do(request{method: "GET", path: path, header: asJSON})
	wantStatus(t, resp, data, http.StatusNotFound)
}

// TestFileRequestOfDisabledOwner: the request of a user an administrator
// disables is a dead link until they are enabled again.
func TestFileRequestOfDisabledOwner(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, nil)
	alice := e.newUser("alice")
	fr := e.newRequest(alice, map[string]any{"title": "t", "max_files": 1, "max_bytes": 10})
	for _, disabled := range []bool{true, false} {
		if err := e.srv.store.SetUserDisabled(t.Context(), e.userID(alice), disabled); err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{true: http.StatusNotFound, false: http.StatusOK}[disabled]
		resp, data := e.link("GET", fr.URL, "", asJSON)
		wantStatus(t, resp, data, want)
	}
}
