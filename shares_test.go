package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
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

// shareEnv is a server under test for the share-link tests: a movable
// clock and the request log captured at the Info level.
type shareEnv struct {
	apiTester
	clock *testClock
	logs  *syncBuffer
}

// shareBackends start a server on each store the tests must pass on.
var shareBackends = []struct {
	name  string
	start func(t *testing.T, env map[string]string) *testEnv
}{
	{"mongodb+s3", newTestEnv},
	{"local", newLocalTestEnv},
}

// newShareEnv starts a server with start and takes over its clock and log
// before it has served anything.
func newShareEnv(t *testing.T, start func(*testing.T, map[string]string) *testEnv, env map[string]string) shareEnv {
	t.Helper()
	e := start(t, env)
	se := shareEnv{apiTester{e}, &testClock{}, &syncBuffer{}}
	e.srv.now = se.clock.now
	e.srv.log = slog.New(slog.NewTextHandler(io.MultiWriter(se.logs, testLogWriter{t}), nil))
	return se
}

// twoInstances starts two servers on one MongoDB database and one bucket,
// with no per-address request limit in the way.
func twoInstances(t *testing.T) (shareEnv, shareEnv) {
	t.Helper()
	env := mongoS3Env(t)
	env["AUTH_RATE_LIMIT"] = "100000"
	return shareEnv{apiTester: apiTester{startTestEnv(t, env)}}, shareEnv{apiTester: apiTester{startTestEnv(t, env)}}
}

// onShareBackends runs test in a parallel subtest per backend of
// shareBackends, on the server open starts with that backend's start.
func onShareBackends(t *testing.T, open func(*testing.T, func(*testing.T, map[string]string) *testEnv) shareEnv, test func(t *testing.T, e shareEnv)) {
	for _, b := range shareBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t, b.start))
		})
	}
}

// shareEnvWith is newShareEnv with env, for onShareBackends.
func shareEnvWith(env map[string]string) func(*testing.T, func(*testing.T, map[string]string) *testEnv) shareEnv {
	return func(t *testing.T, start func(*testing.T, map[string]string) *testEnv) shareEnv {
		return newShareEnv(t, start, env)
	}
}

// on returns the same server with its helpers reporting to t.
func (e shareEnv) on(t *testing.T) shareEnv {
	e.apiTester = e.apiTester.on(t)
	return e
}

// Test copies of the share API's shapes.
type (
	shareOut struct {
		ID           string    `json:"id"`
		FileID       string    `json:"file_id"`
		URL          string    `json:"url"`
		ExpiresAt    time.Time `json:"expires_at"`
		MaxDownloads *int64    `json:"max_downloads"`
		Downloads    int64     `json:"downloads"`
		CreatedAt    time.Time `json:"created_at"`
	}
	sharedFileOut struct {
		Filename      string    `json:"filename"`
		Size          int64     `json:"size"`
		ContentType   string    `json:"content_type"`
		ExpiresAt     time.Time `json:"expires_at"`
		DownloadsLeft *int64    `json:"downloads_left"`
	}
)

// share creates a share of file id with body and expects 201.
func (e shareEnv) share(token, id string, body any) shareOut {
	e.t.Helper()
	return answerMember[shareOut](e.apiTester, request{method: "POST", path: "/files/" + id + "/shares", token: token, body: body}, http.StatusCreated, "share")
}

// shares lists the shares of file id and expects 200.
func (e shareEnv) shares(token, id string) []shareOut {
	e.t.Helper()
	return answerMember[[]shareOut](e.apiTester, request{method: "GET", path: "/files/" + id + "/shares", token: token}, http.StatusOK, "shares")
}

// link requests a share URL's path (plus suffix) as a client would, with
// no credential.
func (e shareEnv) link(method, shareURL, suffix string, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	u, err := url.Parse(shareURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(request{method: method, path: u.Path + suffix, header: header})
}

// asJSON asks for the JSON form of a link page.
var asJSON = map[string]string{"Accept": "application/json"}

// asBrowser asks as a browser does.
var asBrowser = map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

// asClick is a browser's navigation that a person started: a click on a
// link (Sec-Fetch-User: ?1).
var asClick = map[string]string{"Accept": asBrowser["Accept"], "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1"}

// wantLinkHeaders checks the headers every answer under /s/ carries.
func wantLinkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for name, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s %s: %s %q, want %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
		}
	}
}

// TestShareLinks walks the contract on MongoDB with S3 and on the local
// stores: create, list, page, download, revoke, expiry, the max_downloads
// race, ownership, dead links and the log.
func TestShareLinks(t *testing.T) {
	t.Parallel()
	// Far more requests than a person makes: the limit has a test of its own.
	onShareBackends(t, shareEnvWith(map[string]string{"AUTH_RATE_LIMIT": "100000"}), func(t *testing.T, e shareEnv) {
		alice, bob := e.newUser("alice"), e.newUser("bob")
		content := []byte("the quarterly numbers\n")
		f, _ := e.stored(alice, map[string]any{"filename": "numbers é.txt", "content_type": "text/plain"}, content)
		var urls []string
		collect := func(sh shareOut) shareOut { urls = append(urls, sh.URL); return sh }
		t.Run("CreateListDownloadRevoke", func(t *testing.T) {
			shareCreateListDownloadRevoke(e.on(t), alice, f, content, collect)
		})
		t.Run("Validation", func(t *testing.T) { shareValidation(e.on(t), alice, f) })
		t.Run("Ownership", func(t *testing.T) { shareOwnership(e.on(t), alice, bob, f, collect) })
		t.Run("Expiry", func(t *testing.T) { shareExpiry(e.on(t), alice, f, collect) })
		t.Run("MaxDownloadsRace", func(t *testing.T) { shareMaxDownloadsRace(e.on(t), alice, f, collect) })
		t.Run("PreviewsDoNotCount", func(t *testing.T) { sharePreviewsDoNotCount(e.on(t), alice, f, collect) })
		t.Run("DeadLinksLookAlike", func(t *testing.T) { shareDeadLinksLookAlike(e.on(t), alice, content, collect) })
		t.Run("TokensNotLogged", func(t *testing.T) { shareTokensNotLogged(e.on(t), urls) })
	})
}

// shareCreateListDownloadRevoke: the answer shapes, the page and its JSON,
// a download that gives the bytes, and a revocation that kills the link.
func shareCreateListDownloadRevoke(e shareEnv, alice string, f fileOut, content []byte, collect func(shareOut) shareOut) {
	t := e.t
	before := e.clock.now()
	sh := collect(e.share(alice, f.ID, nil))
	token := strings.TrimPrefix(sh.URL, e.URL+"/s/")
	if !strings.HasPrefix(sh.URL, e.URL+"/s/") || len(token) < 22 || strings.ContainsAny(token, "/?#") {
		t.Fatalf("share URL %q: want %s/s/<token of at least 128 bits>", sh.URL, e.URL)
	}
	if raw, _ := base64.RawURLEncoding.DecodeString(token); len(raw) < 16 {
		t.Errorf("token %q carries %d bytes, want at least 16", token, len(raw))
	}
	ttl := sh.ExpiresAt.Sub(before)
	if sh.FileID != f.ID || sh.MaxDownloads != nil || sh.Downloads != 0 || ttl < 7*24*time.Hour-time.Second || ttl > 7*24*time.Hour+time.Second {
		t.Errorf("default share %+v: want file %s, unlimited, 7 days", sh, f.ID)
	}
	limited := collect(e.share(alice, f.ID, map[string]any{"expires_in": 3600, "max_downloads": 2}))
	if limited.MaxDownloads == nil || *limited.MaxDownloads != 2 || !limited.ExpiresAt.Equal(limited.CreatedAt.Add(time.Hour)) {
		t.Errorf("limited share %+v", limited)
	}
	list := e.shares(alice, f.ID)
	first, second := sh, limited
	if first.CreatedAt.Equal(second.CreatedAt) && second.ID < first.ID {
		first, second = second, first // made in one millisecond: ids break the tie
	}
	if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID || list[0].URL != "" || list[1].URL != "" {
		t.Fatalf("list %+v: want both shares, oldest first (then by id), without URLs", list)
	}

	resp, body := e.link("GET", limited.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusOK)
	wantLinkHeaders(t, resp)
	got := decode[sharedFileOut](t, body)
	if got.Filename != "numbers é.txt" || got.Size != int64(len(content)) || got.ContentType != "text/plain" ||
		got.DownloadsLeft == nil || *got.DownloadsLeft != 2 || !got.ExpiresAt.Equal(limited.ExpiresAt) {
		t.Errorf("link JSON %s", body)
	}
	resp, page := e.link("GET", limited.URL, "", asBrowser)
	wantStatus(t, resp, page, http.StatusOK)
	wantLinkHeaders(t, resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type %q", ct)
	}
	for _, want := range []string{"numbers é.txt", "22 bytes", "2 downloads left", `method="post"`, "Download"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	for _, owner := range []string{"alice", "@example.com"} {
		if strings.Contains(string(page), owner) || strings.Contains(string(body), owner) {
			t.Errorf("the link names its owner (%q)", owner)
		}
	}

	for i, method := range []string{"POST", "GET"} {
		resp, body = e.link(method, limited.URL, "/download", asClick)
		wantStatus(t, resp, body, http.StatusSeeOther)
		wantLinkHeaders(t, resp)
		shareWantDownload(t, e, resp.Header.Get("Location"), content)
		list := e.shares(alice, f.ID)
		at := slices.IndexFunc(list, func(s shareOut) bool { return s.ID == limited.ID })
		if at < 0 || list[at].Downloads != int64(i+1) {
			n := int64(-1)
			if at >= 0 {
				n = list[at].Downloads
			}
			t.Errorf("after %d downloads the list says %d", i+1, n)
		}
	}
	resp, body = e.link("GET", limited.URL, "/download", asJSON)
	wantStatus(t, resp, body, http.StatusNotFound)

	resp, body = e.do(request{method: "DELETE", path: "/shares/" + sh.ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	for _, suffix := range []string{"", "/download"} {
		resp, body = e.link("GET", sh.URL, suffix, asJSON)
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body = e.do(request{method: "DELETE", path: "/shares/" + sh.ID, token: alice})
	wantStatus(t, resp, body, http.StatusNotFound)
	if list := e.shares(alice, f.ID); len(list) != 1 || list[0].ID != limited.ID {
		t.Errorf("list after revoke: %+v", list)
	}
}

// shareWantDownload follows a download redirect: a URL valid about 60 s
// that gives the bytes as an attachment.
func shareWantDownload(t *testing.T, e shareEnv, location string, content []byte) {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("Location %q: %v", location, err)
	}
	q := u.Query()
	if exp := q.Get("X-Amz-Expires"); exp != "" && exp != "60" && exp != "59" {
		t.Errorf("pre-signed URL lives %s s, want 60", exp)
	}
	if exp := q.Get("expires"); exp != "" {
		if at, _ := strconv.ParseInt(exp, 10, 64); at > e.clock.now().Add(61*time.Second).Unix() {
			t.Errorf("local download URL expires at %d, over 60 s from now", at)
		}
	}
	resp, body := e.fetch(location)
	if resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("download: %d %q", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "numbers%20%C3%A9.txt") {
		t.Errorf("Content-Disposition %q", cd)
	}
}

// shareValidation: what a create refuses, and why.
func shareValidation(e shareEnv, alice string, f fileOut) {
	t := e.t
	bad := []any{
		map[string]any{"expires_in": 0},
		map[string]any{"expires_in": 30*24*3600 + 1},
		map[string]any{"expires_in": "1h"},
		map[string]any{"max_downloads": 0},
		map[string]any{"max_downloads": 100001},
		map[string]any{"max_downloads": 1.5},
		map[string]any{"password": "x"},
		"[]",
	}
	for _, body := range bad {
		resp, data := e.do(request{method: "POST", path: "/files/" + f.ID + "/shares", token: alice, body: body})
		wantStatus(t, resp, data, http.StatusBadRequest)
	}
	e.share(alice, f.ID, map[string]any{"expires_in": 30 * 24 * 3600, "max_downloads": 100000})
	pending := e.create(alice, map[string]any{"filename": "later.txt"}).File
	resp, data := e.do(request{method: "POST", path: "/files/" + pending.ID + "/shares", token: alice})
	wantStatus(t, resp, data, http.StatusConflict)
	resp, data = e.do(request{method: "POST", path: "/files/" + f.ID + "/shares"})
	wantStatus(t, resp, data, http.StatusUnauthorized)
}

// shareOwnership: another user's file or share is a 404 like a missing one.
func shareOwnership(e shareEnv, alice, bob string, f fileOut, collect func(shareOut) shareOut) {
	t := e.t
	sh := collect(e.share(alice, f.ID, nil))
	for _, r := range []struct{ method, path, missing string }{
		{"POST", "/files/" + f.ID + "/shares", "/files/" + newID() + "/shares"},
		{"GET", "/files/" + f.ID + "/shares", "/files/" + newID() + "/shares"},
		{"DELETE", "/shares/" + sh.ID, "/shares/" + newID()},
	} {
		resp, body := e.do(request{method: r.method, path: r.path, token: bob})
		wantStatus(t, resp, body, http.StatusNotFound)
		_, missing := e.do(request{method: r.method, path: r.missing, token: bob})
		if !bytes.Equal(body, missing) {
			t.Errorf("%s %s: %s, but a missing one answers %s", r.method, r.path, body, missing)
		}
	}
	resp, body := e.do(request{method: "DELETE", path: "/shares/not-an-id", token: alice})
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = e.link("GET", sh.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusOK) // bob's attempts changed nothing
}

// shareExpiry: at its expiry, by the server's clock, a link is dead and
// no longer listed.
func shareExpiry(e shareEnv, alice string, f fileOut, collect func(shareOut) shareOut) {
	t := e.t
	sh := collect(e.share(alice, f.ID, map[string]any{"expires_in": 60}))
	e.clock.advance(59 * time.Second)
	resp, body := e.link("GET", sh.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusOK)
	e.clock.advance(time.Second)
	defer e.clock.advance(-60 * time.Second)
	for _, suffix := range []string{"", "/download"} {
		resp, body = e.link("GET", sh.URL, suffix, asJSON)
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	for _, l := range e.shares(alice, f.ID) {
		if l.ID == sh.ID {
			t.Errorf("expired share still listed: %+v", l)
		}
	}
}

// shareMaxDownloadsRace: 20 concurrent downloads of a link allowing 5,
// through the HTTP API: exactly 5 succeed.
func shareMaxDownloadsRace(e shareEnv, alice string, f fileOut, collect func(shareOut) shareOut) {
	t := e.t
	sh := collect(e.share(alice, f.ID, map[string]any{"max_downloads": 5}))
	u, _ := url.Parse(sh.URL)
	statuses := make(chan int, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			code, body, err := e.try(request{method: "POST", path: u.Path + "/download"})
			if err != nil {
				t.Errorf("download: %v", err)
			} else if code != http.StatusSeeOther && code != http.StatusNotFound {
				t.Errorf("download: %d %s", code, body)
			}
			statuses <- code
		})
	}
	wg.Wait()
	close(statuses)
	counted := 0
	for code := range statuses {
		if code == http.StatusSeeOther {
			counted++
		}
	}
	if counted != 5 {
		t.Errorf("%d of 20 concurrent downloads succeeded, want exactly 5", counted)
	}
	for _, l := range e.shares(alice, f.ID) {
		if l.ID == sh.ID && l.Downloads != 5 {
			t.Errorf("list counts %d downloads, want 5", l.Downloads)
		}
	}
}

// sharePreviewsDoNotCount: what a chat app's link preview, a crawler or a
// link checker sends never uses up a download.
func sharePreviewsDoNotCount(e shareEnv, alice string, f fileOut, collect func(shareOut) shareOut) {
	t := e.t
	sh := collect(e.share(alice, f.ID, map[string]any{"max_downloads": 1}))
	bots := []string{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "facebookexternalhit/1.1",
		"Twitterbot/1.0", "WhatsApp/2.23.20.0", "Mozilla/5.0 (compatible; Discordbot/2.0)", "TelegramBot (like TwitterBot)"}
	for _, ua := range bots {
		for _, accept := range []string{"text/html", "application/json", "*/*"} {
			resp, body := e.link("GET", sh.URL, "", map[string]string{"User-Agent": ua, "Accept": accept})
			wantStatus(t, resp, body, http.StatusOK)
		}
		resp, body := e.link("HEAD", sh.URL, "", map[string]string{"User-Agent": ua})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD page by %s: %d %s", ua, resp.StatusCode, body)
		}
		// A pasted download link: the bot gets the page, not the file.
		for _, accept := range []string{"text/html", "*/*", ""} {
			resp, body := e.link("GET", sh.URL, "/download", map[string]string{"User-Agent": ua, "Accept": accept})
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `method="post"`) {
				t.Errorf("GET download by %s (Accept %q): %d %s, want 200 and the page with its button", ua, accept, resp.StatusCode, body)
			}
		}
		resp, body = e.link("GET", sh.URL, "/download", map[string]string{"User-Agent": ua, "Accept": "application/json"})
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"downloads_left":1`) {
			t.Errorf("GET download as JSON by %s: %d %s, want 200 and the link's JSON", ua, resp.StatusCode, body)
		}
		resp, _ = e.link("HEAD", sh.URL, "/download", map[string]string{"User-Agent": ua})
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("HEAD download by %s: %d, want 405", ua, resp.StatusCode)
		}
	}
	for _, l := range e.shares(alice, f.ID) {
		if l.ID == sh.ID && l.Downloads != 0 {
			t.Errorf("previews counted %d downloads", l.Downloads)
		}
	}
	resp, body := e.link("POST", sh.URL, "/download", nil)
	wantStatus(t, resp, body, http.StatusSeeOther)
}

// shareDeadLinksLookAlike: unknown, malformed, expired, revoked, used-up
// and deleted-file links get the very same answer, as a page and as JSON.
func shareDeadLinksLookAlike(e shareEnv, alice string, content []byte, collect func(shareOut) shareOut) {
	t := e.t
	f, _ := e.stored(alice, map[string]any{"filename": "dead.txt"}, content)
	gone, _ := e.stored(alice, map[string]any{"filename": "gone.txt"}, content)
	expired := collect(e.share(alice, f.ID, map[string]any{"expires_in": 1}))
	revoked := collect(e.share(alice, f.ID, nil))
	usedUp := collect(e.share(alice, f.ID, map[string]any{"max_downloads": 1}))
	deleted := collect(e.share(alice, gone.ID, nil))
	resp, body := e.link("POST", usedUp.URL, "/download", nil)
	wantStatus(t, resp, body, http.StatusSeeOther)
	resp, body = e.do(request{method: "DELETE", path: "/shares/" + revoked.ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.do(request{method: "DELETE", path: "/files/" + gone.ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	e.clock.advance(2 * time.Second)
	defer e.clock.advance(-2 * time.Second)
	madeUp := e.URL + "/s/" + newSecret(shareTokenBytes)
	links := map[string]string{
		"expired": expired.URL, "revoked": revoked.URL, "used up": usedUp.URL, "file deleted": deleted.URL,
		"made up": madeUp, "malformed": e.URL + "/s/abc", "hex": e.URL + "/s/" + strings.Repeat("a", 64),
	}
	for _, c := range []struct {
		name, method, suffix string
		header               map[string]string
	}{
		{"page", "GET", "", asBrowser},
		{"JSON", "GET", "", asJSON},
		{"download", "POST", "/download", nil},
		{"download JSON", "GET", "/download", asJSON},
	} {
		var first []byte
		var firstName string
		for name, link := range links {
			resp, body := e.link(c.method, link, c.suffix, c.header)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s of a %s link: %d, want 404", c.name, name, resp.StatusCode)
			}
			wantLinkHeaders(t, resp)
			if first == nil {
				first, firstName = body, name
			} else if !bytes.Equal(body, first) {
				t.Errorf("%s: a %s link answers\n%s\nbut a %s link\n%s", c.name, name, body, firstName, first)
			}
		}
		if c.header == nil || c.header["Accept"] != "application/json" {
			if !strings.Contains(string(first), deadSharePage) {
				t.Errorf("%s: dead link page %s", c.name, first)
			}
		} else if string(first) != `{"error":"not_found","message":"no such link"}`+"\n" {
			t.Errorf("%s: dead link JSON %s", c.name, first)
		}
	}
}

// shareTokensNotLogged: after everything above, no token (nor a path that
// holds one) is in the log, which names the route pattern instead.
func shareTokensNotLogged(e shareEnv, urls []string) {
	t := e.t
	logs := e.logs.String()
	if !strings.Contains(logs, `route="GET /s/{token}"`) || !strings.Contains(logs, `route="POST /s/{token}/download"`) {
		t.Errorf("the log does not name the link routes:\n%s", logs)
	}
	if len(urls) < 10 {
		t.Fatalf("only %d links were made", len(urls))
	}
	for _, u := range urls {
		token := u[strings.LastIndex(u, "/")+1:]
		if strings.Contains(logs, token) {
			t.Errorf("token %s is in the log", token)
		}
		if strings.Contains(logs, hashSecret(token)) {
			t.Errorf("the hash of token %s is in the log", token)
		}
	}
	if strings.Contains(strings.ReplaceAll(logs, "/s/{token}", ""), "/s/") {
		t.Errorf("a link path is in the log:\n%s", logs)
	}
}

// TestShareLinkRateLimit: /s/ is limited per client address, pages and
// downloads alike, answering 429 with Retry-After.
func TestShareLinkRateLimit(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, map[string]string{"AUTH_RATE_LIMIT": "3"})
	path := "/s/" + newSecret(shareTokenBytes)
	for i := range 3 {
		resp, body := e.do(request{method: "GET", path: path, header: asJSON})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for _, r := range []request{{method: "GET", path: path, header: asJSON}, {method: "POST", path: path + "/download", header: asJSON}} {
		resp, body := e.do(r)
		wantStatus(t, resp, body, http.StatusTooManyRequests)
		if resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	resp, body := e.do(request{method: "GET", path: path})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "Too many requests") {
		t.Errorf("page: %d %s", resp.StatusCode, body)
	}
}

// TestShareSettings: the defaults the settings table gives, and a default
// lifetime over the maximum refused at start.
func TestShareSettings(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(configGetenv())
	if err != nil {
		t.Fatal(err)
	}
	if c.ShareTTL != 7*24*time.Hour || c.ShareMaxTTL != 30*24*time.Hour {
		t.Errorf("defaults %v, %v; want 7 and 30 days", c.ShareTTL, c.ShareMaxTTL)
	}
	for _, s := range settings {
		want := map[string]string{"SHARE_TTL_SECONDS": "604800", "SHARE_MAX_TTL_SECONDS": "2592000"}[s.name]
		if first, _, _ := strings.Cut(s.def, " "); want != "" && first != want {
			t.Errorf("-h says %s defaults to %q, want %s", s.name, s.def, want)
		}
	}
	_, err = loadConfig(configGetenv("SHARE_TTL_SECONDS", "7200", "SHARE_MAX_TTL_SECONDS", "3600"))
	if err == nil || !strings.Contains(err.Error(), "SHARE_TTL_SECONDS (7200) is over SHARE_MAX_TTL_SECONDS (3600)") {
		t.Errorf("SHARE_TTL_SECONDS over the maximum: %v", err)
	}
}

// TestShareMaxDownloadsAcrossInstances: two servers on one database count
// one link's downloads together: 20 concurrent downloads, half through
// each, of a link allowing 5 give exactly 5.
func TestShareMaxDownloadsAcrossInstances(t *testing.T) {
	t.Parallel()
	first, second := twoInstances(t)
	alice := first.newUser("alice")
	f, _ := first.stored(alice, map[string]any{"filename": "twice.txt"}, []byte("shared by two servers"))
	sh := first.share(alice, f.ID, map[string]any{"max_downloads": 5})
	path := strings.TrimPrefix(sh.URL, first.URL) + "/download"
	var counted atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		server := []shareEnv{first, second}[i%2]
		wg.Go(func() {
			code, body, err := server.try(request{method: "POST", path: path})
			switch {
			case err != nil:
				t.Errorf("download: %v", err)
			case code == http.StatusSeeOther:
				counted.Add(1)
			case code != http.StatusNotFound:
				t.Errorf("download: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	if counted.Load() != 5 {
		t.Errorf("%d of 20 downloads through two servers succeeded, want exactly 5", counted.Load())
	}
	if list := second.shares(alice, f.ID); len(list) != 1 || list[0].Downloads != 5 {
		t.Errorf("the other server lists %+v, want 5 downloads", list)
	}
}

// TestShareLinkOfDisabledUser: the links of a user an administrator
// disables die with their credentials, as a page, as JSON and as a
// download (which counts nothing); enabled again, the user's links work.
func TestShareLinkOfDisabledUser(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(nil), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		f, _ := e.stored(alice, map[string]any{"filename": "a.txt"}, []byte("hello"))
		sh := e.share(alice, f.ID, map[string]any{"max_downloads": 1})
		ctx := context.Background()
		owner := e.userID(alice)
		if err := e.srv.store.SetUserDisabled(ctx, owner, true); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"", "/download"} {
			resp, body := e.link("GET", sh.URL, suffix, asJSON)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		if err := e.srv.store.SetUserDisabled(ctx, owner, false); err != nil {
			t.Fatal(err)
		}
		resp, body := e.link("POST", sh.URL, "/download", nil)
		wantStatus(t, resp, body, http.StatusSeeOther)
	})
}

// TestLinksOfProxyUserWithoutRecord: a user a trusted proxy names in
// X-User-Id has no user record (only a sign-in makes one); the share link
// and the file request they make work, as their own requests do, rather
// than answer 404 from the start. (One backend: the check is the server's,
// and local objects would sign their forms for the proxy's public URL.)
func TestLinksOfProxyUserWithoutRecord(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newTestEnv, proxyAuthEnv())
	dave := map[string]string{"X-User-Id": "dave"}
	resp, body := e.do(request{method: "POST", path: "/upload/", header: dave, body: map[string]any{"filename": "a.txt", "size": 5}})
	wantStatus(t, resp, body, http.StatusCreated)
	up := decode[uploadOut](t, body)
	e.upload(up, []byte("hello"))
	resp, body = e.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", header: dave})
	wantStatus(t, resp, body, http.StatusOK)
	sh := answerMember[shareOut](e.apiTester, request{method: "POST", path: "/files/" + up.File.ID + "/shares", header: dave}, http.StatusCreated, "share")
	resp, body = e.link("GET", sh.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusOK)
	fr := answerMember[requestJSON](e.apiTester, request{method: "POST", path: "/requests", header: dave,
		body: map[string]any{"title": "Send me", "max_files": 1, "max_bytes": 10}}, http.StatusCreated, "request")
	resp, body = e.link("GET", fr.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusOK)
}

// outboxDownStore is a Store whose outbox refuses every write.
type outboxDownStore struct{ Store }

func (outboxDownStore) InsertDeliveries(context.Context, []WebhookDelivery) error {
	return errors.New("outbox down")
}

// TestShareCreatedWhenItsEventIsLost: a share whose share.created event
// cannot be written is still answered 201 with its URL, which works, and
// the lost event is logged; before, the answer was a 500 for a link that
// was made, listed and counted, whose URL nobody got.
func TestShareCreatedWhenItsEventIsLost(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	alice := e.newUser("alice")
	f, _ := e.stored(alice, map[string]any{"filename": "a.txt", "content_type": "text/plain", "size": 2}, []byte("hi"))
	addWebhook(t, e.testEnv, alice, "", "http://127.0.0.1:1/hook", eventShareCreated)
	e.srv.store = outboxDownStore{e.srv.store}
	sh := e.share(alice, f.ID, nil)
	drop := e.drop(alice, map[string]any{"file_ids": []string{f.ID}})
	for _, u := range []string{sh.URL, drop.URL} {
		resp, body := e.link("GET", u, "", asJSON)
		wantStatus(t, resp, body, http.StatusOK)
	}
	if live := e.shares(alice, f.ID); len(live) != 2 {
		t.Errorf("the file has %d live shares, want the 2 made", len(live))
	}
	if n := strings.Count(e.logs.String(), "share create: writing its webhook event"); n != 2 {
		t.Errorf("the log tells %d lost share.created events, want 2:\n%s", n, e.logs.String())
	}
}

// TestShareLimitPerFile, on each backend: a file takes at most
// MAX_SHARES_PER_FILE live links; one more is a 409 in the error shape
// that names the setting, until one is revoked; other files are not
// affected; and parallel creates never leave more than the limit.
func TestShareLimitPerFile(t *testing.T) {
	t.Parallel()
	const limit = 5
	onShareBackends(t, shareEnvWith(map[string]string{"MAX_SHARES_PER_FILE": strconv.Itoa(limit), "AUTH_RATE_LIMIT": "100000"}), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		f, _ := e.stored(alice, map[string]any{"filename": "a.txt"}, []byte("a"))
		other, _ := e.stored(alice, map[string]any{"filename": "b.txt"}, []byte("b"))
		var first shareOut
		for i := range limit {
			sh := e.share(alice, f.ID, nil)
			if i == 0 {
				first = sh
			}
		}
		overLimit := func() {
			t.Helper()
			resp, body := e.do(request{method: "POST", path: "/files/" + f.ID + "/shares", token: alice})
			wantStatus(t, resp, body, http.StatusConflict)
			if !strings.Contains(string(body), "MAX_SHARES_PER_FILE") {
				t.Errorf("over the limit: %s, want a message naming MAX_SHARES_PER_FILE", body)
			}
		}
		overLimit()
		e.share(alice, other.ID, nil)
		resp, body := e.do(request{method: "DELETE", path: "/shares/" + first.ID, token: alice})
		wantStatus(t, resp, body, http.StatusNoContent)
		e.share(alice, f.ID, nil)
		overLimit()
		if n := len(e.shares(alice, f.ID)); n != limit {
			t.Errorf("%d live links, want %d", n, limit)
		}

		created, live := shareBurst(t, e, alice, 40, failOnShed)
		if created < 1 || created > limit || live != created {
			t.Errorf("40 parallel creates: %d created, %d live; want 1 to %d, all live", created, live, limit)
		}
	})
}

// TestShareLimitBurstFillsRoom: a burst of creates on a fresh file, on a
// database whose calls queue (two at once), fills the file's room. On
// MongoDB each create inserts, counts and takes its insert back when over
// the cap; racing tries that stayed in step all took theirs back, and the
// burst left 0 to 2 of 5 (raceBackoff). A create the gate sheds (503) is
// sent again, as a client does.
func TestShareLimitBurstFillsRoom(t *testing.T) {
	t.Parallel()
	const limit = 5
	env := map[string]string{"MAX_SHARES_PER_FILE": strconv.Itoa(limit), "AUTH_RATE_LIMIT": "100000", "MONGODB_MAX_CALLS": "2", "MONGODB_QUEUE": "256"}
	onShareBackends(t, shareEnvWith(env), func(t *testing.T, e shareEnv) {
		created, live := shareBurst(t, e, e.newUser("alice"), 40, retryShed)
		if created != limit || live != limit {
			t.Errorf("40 parallel creates: %d created, %d live; want %d of each", created, live, limit)
		}
	})
}

// shedPolicy says what shareBurst does with a create answered 503.
type shedPolicy int

const (
	failOnShed shedPolicy = iota // an error of the test
	retryShed                    // sent again after a second, as a client follows Retry-After
)

// shareBurst sends n creates of a share at once for a new file of the user
// and returns how many were created (the others must be refused with 409)
// and how many of the file's shares are live after.
func shareBurst(t *testing.T, e shareEnv, user string, n int, shed shedPolicy) (created, live int) {
	t.Helper()
	f, _ := e.stored(user, map[string]any{"filename": "burst.txt"}, []byte("b"))
	create := request{method: "POST", path: "/files/" + f.ID + "/shares", token: user}
	var count atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, body, err := e.try(create)
			for tries := 1; err == nil && code == http.StatusServiceUnavailable && shed == retryShed && tries < 20; tries++ {
				time.Sleep(time.Second)
				code, body, err = e.try(create)
			}
			switch {
			case err != nil:
				t.Error(err)
			case code == http.StatusCreated:
				count.Add(1)
			case code != http.StatusConflict:
				t.Errorf("a parallel create: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	live = len(e.shares(user, f.ID))
	t.Logf("%d parallel creates: %d created, %d live", n, count.Load(), live)
	return int(count.Load()), live
}

// TestShareListPages, on each backend: GET /files/{id}/shares pages as
// GET /list/ does (limit, cursor = next_cursor, null on the last page),
// oldest first, each share once, with /list/'s refusals of a bad limit or
// cursor.
func TestShareListPages(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(map[string]string{"AUTH_RATE_LIMIT": "100000"}), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		f, _ := e.stored(alice, map[string]any{"filename": "a.txt"}, []byte("a"))
		var want []string
		for range 7 {
			want = append(want, e.share(alice, f.ID, nil).ID)
			e.clock.advance(time.Millisecond)
		}
		var got []string
		path := "/files/" + f.ID + "/shares?limit=3"
		for pages := 1; ; pages++ {
			resp, body := e.do(request{method: "GET", path: path, token: alice})
			wantStatus(t, resp, body, http.StatusOK)
			page := decode[struct {
				Shares     []shareOut `json:"shares"`
				NextCursor *string    `json:"next_cursor"`
			}](t, body)
			for _, sh := range page.Shares {
				got = append(got, sh.ID)
			}
			if page.NextCursor == nil {
				if pages != 3 || len(page.Shares) != 1 {
					t.Errorf("last page is page %d with %d shares, want page 3 with 1", pages, len(page.Shares))
				}
				break
			}
			if len(page.Shares) != 3 || pages > 3 {
				t.Fatalf("page %d: %d shares and a next_cursor", pages, len(page.Shares))
			}
			path = "/files/" + f.ID + "/shares?limit=3&cursor=" + url.QueryEscape(*page.NextCursor)
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages gave %v, want %v (oldest first, each once)", got, want)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=bogus", "cursor=" + strings.Repeat("A", 20)} {
			resp, body := e.do(request{method: "GET", path: "/files/" + f.ID + "/shares?" + q, token: alice})
			wantStatus(t, resp, body, http.StatusBadRequest)
			listResp, listBody := e.do(request{method: "GET", path: "/list/?" + q, token: alice})
			wantStatus(t, listResp, listBody, http.StatusBadRequest)
			if string(body) != string(listBody) {
				t.Errorf("?%s: shares answer %s, /list/ answers %s", q, body, listBody)
			}
		}
	})
}
