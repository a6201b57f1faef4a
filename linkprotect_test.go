package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Test copies of the protected link's API shapes.
type protectedShareOut struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Protected   bool   `json:"protected"`
	MembersOnly bool   `json:"members_only"`
}

// linkPassword is a password the rules accept.
const linkPassword = "correct horse battery staple"

// newProtectEnv is newShareEnv on start with cheap password hashes and no
// per-address request limit in the way.
func newProtectEnv(t *testing.T, start func(*testing.T, map[string]string) *testEnv) shareEnv {
	t.Helper()
	e := newShareEnv(t, start, map[string]string{"AUTH_RATE_LIMIT": "100000"})
	e.srv.links.hasher = newPasswordHasher(testHashParams)
	return e
}

// protectedShare shares a new complete file of token's user with body and
// returns the answer and the link's path.
func (e shareEnv) protectedShare(token string, body map[string]any) (protectedShareOut, string) {
	e.t.Helper()
	f, _ := e.stored(token, map[string]any{"filename": "secret plans.txt", "content_type": "text/plain"}, []byte("the plans\n"))
	resp, data := e.do(request{method: "POST", path: "/files/" + f.ID + "/shares", token: token, body: body})
	wantStatus(e.t, resp, data, http.StatusCreated)
	if bytes.Contains(data, []byte("scrypt")) || bytes.Contains(data, []byte(linkPassword)) {
		e.t.Fatalf("the create answer shows the password or its hash: %s", data)
	}
	sh := decode[struct {
		Share protectedShareOut `json:"share"`
	}](e.t, data).Share
	return sh, strings.TrimPrefix(sh.URL, e.URL)
}

// postPassword posts pw to the link at path as the page's form does, with
// extra headers.
func (e shareEnv) postPassword(path, pw string, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return e.do(request{method: "POST", path: path, body: url.Values{"password": {pw}}.Encode(), header: h})
}

// unlock gives the right password and returns the cookie it set, checking
// its attributes.
func (e shareEnv) unlock(path string) string {
	e.t.Helper()
	resp, body := e.postPassword(path, linkPassword, asBrowser)
	wantStatus(e.t, resp, body, http.StatusSeeOther)
	if loc := resp.Header.Get("Location"); loc != path {
		e.t.Fatalf("a right password sends the browser to %q, want %q", loc, path)
	}
	for _, c := range resp.Cookies() {
		if c.Name != linkPassCookie {
			continue
		}
		if c.Path != path || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != int(linkPassTTL.Seconds()) {
			e.t.Errorf("the link's cookie: %s", c.Raw)
		}
		return c.Name + "=" + c.Value
	}
	e.t.Fatalf("a right password set no cookie: %v", resp.Header["Set-Cookie"])
	return ""
}

// wantAnswer is wantStatus for a route that answers a page or JSON, as
// the request asked: a page is HTML, JSON has the error shape.
func wantAnswer(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if wantsJSON(resp.Request) {
		wantStatus(t, resp, body, status)
		return
	}
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%s %s: %d %s, want a %d page; body %s", resp.Request.Method, resp.Request.URL.Path,
			resp.StatusCode, resp.Header.Get("Content-Type"), status, body)
	}
}

// with adds header pairs to a copy of h.
func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// wantCookieRefused checks that the cookie of another link opens neither
// the page nor the download of the share link shareURL, as JSON or as a
// page; whose names the cookie and the link in a failure.
func (e shareEnv) wantCookieRefused(t *testing.T, shareURL, cookie, whose string) {
	t.Helper()
	for _, h := range []map[string]string{asJSON, asBrowser} {
		resp, body := e.link("GET", shareURL, "", with(h, "Cookie", cookie))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s page: %d %s", whose, resp.StatusCode, body)
		}
		resp, body = e.link("POST", shareURL, "/download", with(h, "Cookie", cookie))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s download: %d %s", whose, resp.StatusCode, body)
		}
	}
}

// wantSameAnswer checks that each case, a link's path and a password
// posted to it, answers as a wrong password on wrongPath does, as a page
// and as JSON. placeholder stands for the token in the form's target.
func (e shareEnv) wantSameAnswer(t *testing.T, wrongPath, placeholder string, cases map[string][2]string) {
	t.Helper()
	for _, h := range []map[string]string{asBrowser, asJSON} {
		answer := func(path, pw string) string {
			resp, body := e.postPassword(path, pw, h)
			// The token is in the form's target: compare the rest.
			return resp.Status + " " + resp.Header.Get("Content-Type") + " " + strings.ReplaceAll(string(body), path, placeholder)
		}
		want := answer(wrongPath, "not the password at all")
		for name, c := range cases {
			if got := answer(c[0], c[1]); got != want {
				t.Errorf("%s answers\n%s\nwhere a wrong password answers\n%s", name, got, want)
			}
		}
	}
}

// membersOnlySignIn is where a members-only link at path sends a
// signed-out browser.
func membersOnlySignIn(path string) string {
	return "/login/?next=" + url.QueryEscape(path) + "&notice=members_only"
}

// wantSentToSignIn checks that a signed-out browser's method on the
// members-only link at path, or on its route suffix, a page's or a
// click's, is sent to sign in and back to the link.
func (e shareEnv) wantSentToSignIn(t *testing.T, method, path, suffix string) {
	t.Helper()
	for _, h := range []map[string]string{asBrowser, asClick} {
		resp, body := e.do(request{method: method, path: path + suffix, header: h})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != membersOnlySignIn(path) {
			t.Errorf("signed out, %s %s sends the browser to %q, want %q", method, path+suffix, loc, membersOnlySignIn(path))
		}
	}
}

// signInBack signs a browser in from the sign-in page a members-only link
// at path sent it to, checks that it comes back to the link and that the
// link's page, with the session, shows want; it returns the session.
func (e shareEnv) signInBack(t *testing.T, path, want string) string {
	t.Helper()
	session, back := signInFrom(t, e.testEnv, membersOnlySignIn(path))
	if back != path {
		t.Errorf("after sign-in the browser is sent to %q, want %q", back, path)
	}
	resp, body := e.do(request{method: "GET", path: path, header: with(asBrowser, "Cookie", session)})
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		t.Errorf("signed in, the page: %d %s", resp.StatusCode, body)
	}
	return session
}

// TestLinkPassword (issue 21 §3): a share link with a password, on both
// stores. The page, its JSON and the download all need the password's
// cookie; a wrong password, then the right one; a cookie opens its own
// link only; creation applies the account password rules and never shows
// the password; the form refuses another site's post.
func TestLinkPassword(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		sh, path := e.protectedShare(alice, map[string]any{"password": linkPassword, "max_downloads": 5})
		if !sh.Protected || sh.MembersOnly {
			t.Fatalf("created %+v, want protected and not members only", sh)
		}

		t.Run("Creation", func(t *testing.T) {
			f, _ := e.stored(alice, map[string]any{"filename": "x.txt"}, []byte("x"))
			for _, body := range []string{`{"password": "short"}`, `{"password": "123qweasdzxc"}`, `{"password": ""}`,
				`{"password": 12345678901234}`, `{"members_only": "yes"}`} {
				resp, data := e.do(request{method: "POST", path: "/files/" + f.ID + "/shares", token: alice, body: body})
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d %s", body, resp.StatusCode, data)
					continue
				}
				wantStatus(t, resp, data, http.StatusBadRequest)
			}
			resp, data := e.do(request{method: "GET", path: "/files/" + sh.fileID(t, e, alice) + "/shares", token: alice})
			wantStatus(t, resp, data, http.StatusOK)
			listed := decode[struct {
				Shares []protectedShareOut `json:"shares"`
			}](t, data).Shares
			if len(listed) != 1 || !listed[0].Protected || listed[0].MembersOnly || bytes.Contains(data, []byte("scrypt")) {
				t.Errorf("the list shows %s", data)
			}
		})

		t.Run("LockedWithoutThePassword", func(t *testing.T) {
			resp, body := e.link("GET", sh.URL, "", asBrowser)
			wantLinkHeaders(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte(`id="password-form"`)) ||
				bytes.Contains(body, []byte("secret plans")) {
				t.Errorf("the locked page: %d %s", resp.StatusCode, body)
			}
			resp, body = e.link("GET", sh.URL, "", asJSON)
			wantStatus(t, resp, body, http.StatusUnauthorized)
			if bytes.Contains(body, []byte("secret plans")) {
				t.Errorf("the locked JSON tells the file: %s", body)
			}
			for _, h := range []map[string]string{asJSON, asBrowser, asClick} {
				resp, body = e.link("POST", sh.URL, "/download", h)
				wantAnswer(t, resp, body, http.StatusUnauthorized)
			}
			resp, body = e.link("GET", sh.URL, "/download", asClick)
			wantAnswer(t, resp, body, http.StatusUnauthorized)
			if n := e.shares(alice, sh.fileID(t, e, alice))[0].Downloads; n != 0 {
				t.Errorf("refused downloads counted %d", n)
			}
		})

		t.Run("WrongThenRight", func(t *testing.T) {
			resp, body := e.postPassword(path, "not the password at all", asBrowser)
			wantAnswer(t, resp, body, http.StatusUnauthorized)
			if !bytes.Contains(body, []byte(msgWrongLinkPassword)) || len(resp.Cookies()) != 0 {
				t.Errorf("a wrong password: %v %s", resp.Header["Set-Cookie"], body)
			}
			cookie := e.unlock(path)
			resp, body = e.link("GET", sh.URL, "", with(asJSON, "Cookie", cookie))
			wantStatus(t, resp, body, http.StatusOK)
			if got := decode[sharedFileOut](t, body); got.Filename != "secret plans.txt" {
				t.Errorf("the unlocked JSON: %s", body)
			}
			resp, body = e.link("GET", sh.URL, "", with(asBrowser, "Cookie", cookie))
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("secret plans.txt")) {
				t.Errorf("the unlocked page: %d %s", resp.StatusCode, body)
			}
			resp, body = e.link("POST", sh.URL, "/download", with(asJSON, "Cookie", cookie))
			wantStatus(t, resp, body, http.StatusOK) // asked for JSON: the URL (drops.go)
			if _, got := e.fetch(decode[struct{ URL string }](t, body).URL); string(got) != "the plans\n" {
				t.Errorf("downloaded %q", got)
			}
		})

		t.Run("JSONPassword", func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: path, body: map[string]any{"password": "wrong wrong wrong"}, header: asJSON})
			wantStatus(t, resp, body, http.StatusUnauthorized)
			resp, body = e.do(request{method: "POST", path: path, body: map[string]any{"password": linkPassword}, header: asJSON})
			wantStatus(t, resp, body, http.StatusSeeOther)
			resp, body = e.do(request{method: "POST", path: path, body: map[string]any{"password": 1}, header: asJSON})
			wantStatus(t, resp, body, http.StatusBadRequest)
			resp, body = e.do(request{method: "POST", path: path, body: "password", header: map[string]string{"Content-Type": "text/plain"}})
			wantStatus(t, resp, body, http.StatusUnsupportedMediaType)
		})

		t.Run("CookieOfOneLinkOnAnother", func(t *testing.T) {
			other, otherPath := e.protectedShare(alice, map[string]any{"password": linkPassword})
			e.wantCookieRefused(t, other.URL, e.unlock(path), "link A's cookie on link B's")
			// Its value under link B's name, and a cookie past its lifetime.
			otherCookie := e.unlock(otherPath)
			resp, body := e.link("GET", other.URL, "", with(asJSON, "Cookie", otherCookie))
			wantStatus(t, resp, body, http.StatusOK)
			e.clock.advance(linkPassTTL + time.Second)
			resp, body = e.link("GET", other.URL, "", with(asJSON, "Cookie", otherCookie))
			wantStatus(t, resp, body, http.StatusUnauthorized)
		})

		t.Run("AnotherSitesPost", func(t *testing.T) {
			resp, body := e.postPassword(path, linkPassword, with(asBrowser, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"))
			if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
				t.Errorf("another site's post: %d %v %s", resp.StatusCode, resp.Header["Set-Cookie"], body)
			}
		})
	})
}

// fileID is the file a protected share was made for, read from the
// owner's file list (the test copy keeps only what it checks).
func (sh protectedShareOut) fileID(t *testing.T, e shareEnv, owner string) string {
	t.Helper()
	for _, f := range e.list(owner, "").Files {
		for _, s := range e.shares(owner, f.ID) {
			if s.ID == sh.ID {
				return f.ID
			}
		}
	}
	t.Fatalf("no file has share %s", sh.ID)
	return ""
}

// TestLinkPasswordSameAnswer (issue 21 §3): a wrong password, an unknown
// link, a link without a password and a members-only link tried by a
// stranger get the same status and body, as a page and as JSON, on both
// stores; and an unknown link takes the time of a wrong password (a hash
// is verified either way), not the time of a store lookup.
func TestLinkPasswordSameAnswer(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		_, protected := e.protectedShare(alice, map[string]any{"password": linkPassword})
		_, open := e.protectedShare(alice, map[string]any{})
		_, members := e.protectedShare(alice, map[string]any{"password": linkPassword, "members_only": true})
		unknown := "/s/" + newSecret(shareTokenBytes)
		e.wantSameAnswer(t, protected, "/s/TOKEN", map[string][2]string{
			"unknown link":      {unknown, "not the password at all"},
			"link, no password": {open, linkPassword},
			"members only":      {members, linkPassword},
		})

		// The work: a wrong password and an unknown link each verify
		// one hash at the same cost (the scrypt work the hasher counts).
		// Without the dummy hash an unknown link answers after a store
		// lookup only. Wall times told that apart only on a quiet
		// machine: on a loaded one the fastest of four interleaved
		// tries of a wrong password took 745 ms, of an unknown link 173.
		hasher := e.srv.links.hasher
		_, secondLink := e.protectedShare(alice, map[string]any{"password": linkPassword})
		hasher.dummy() // made once, on first use: not an answer's work
		workOf := func(path string) int64 {
			before := hasher.work.Load()
			e.postPassword(path, "not the password at all", asJSON)
			return hasher.work.Load() - before
		}
		wrong, none := workOf(secondLink), workOf("/s/"+newSecret(shareTokenBytes))
		if wrong == 0 || none != wrong {
			t.Errorf("scrypt work: %d for an unknown link, %d for a wrong password; want the same, not 0", none, wrong)
		}
	})
}

// TestLinkPasswordAttemptsLimited (issue 21 §3): after a few wrong
// passwords a link makes each next attempt wait longer, even with the
// right password, and so does a client address across links; unknown
// links count the same; the wait passes.
func TestLinkPasswordAttemptsLimited(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		clock := stopClock(e.srv) // a slow request must not let a wait pass
		alice := e.newUser("alice")
		_, path := e.protectedShare(alice, map[string]any{"password": linkPassword})
		unknown := "/s/" + newSecret(shareTokenBytes)
		for _, p := range []string{path, unknown} {
			for i := range freeLinkFailures + 1 {
				resp, body := e.postPassword(p, "wrong guess number "+string(rune('a'+i)), asJSON)
				wantStatus(t, resp, body, http.StatusUnauthorized)
			}
			for _, pw := range []string{"one more guess", linkPassword} {
				resp, body := e.postPassword(p, pw, asJSON)
				wantStatus(t, resp, body, http.StatusTooManyRequests)
				if resp.Header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q after %d failures, want 1", resp.Header.Get("Retry-After"), freeLinkFailures+1)
				}
			}
		}
		resp, body := e.postPassword(path, "wrong again", asBrowser)
		if resp.StatusCode != http.StatusTooManyRequests || !bytes.Contains(body, []byte(`id="password-form"`)) {
			t.Errorf("the page while waiting: %d %s", resp.StatusCode, body)
		}
		clock.advance(time.Second)
		resp, body = e.postPassword(path, "wrong after the wait", asJSON)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = e.postPassword(path, linkPassword, asJSON)
		wantStatus(t, resp, body, http.StatusTooManyRequests) // now 2 s
		clock.advance(2 * time.Second)
		e.unlock(path)

		// The address: freeAddressFailures in all, over fresh links.
		clock.advance(failureMemory)
		for range freeAddressFailures + 1 {
			resp, body := e.postPassword("/s/"+newSecret(shareTokenBytes), "guess", asJSON)
			wantStatus(t, resp, body, http.StatusUnauthorized)
		}
		resp, body = e.postPassword("/s/"+newSecret(shareTokenBytes), "guess", asJSON)
		wantStatus(t, resp, body, http.StatusTooManyRequests)
	})
}

// TestLinkPasswordDelayPerIPv6Network: a link password's per-address
// delay is kept per client network, as the rate limiter's bucket is (an
// IPv6 /64), not per address of it.
func TestLinkPasswordDelayPerIPv6Network(t *testing.T) {
	t.Parallel()
	env := proxyAuthEnv() // trusts the loopback proxy's X-Forwarded-For
	env["AUTH_RATE_LIMIT"] = "100000"
	e := newShareEnv(t, newLocalTestEnv, env)
	e.srv.links.hasher = newPasswordHasher(testHashParams)
	stopClock(e.srv)
	from := func(addr string) map[string]string {
		return map[string]string{"Accept": "application/json", "X-Forwarded-For": addr}
	}
	for range freeAddressFailures + 1 {
		resp, body := e.postPassword("/s/"+newSecret(shareTokenBytes), "guess", from("2001:db8:1:2::1"))
		wantStatus(t, resp, body, http.StatusUnauthorized)
	}
	resp, body := e.postPassword("/s/"+newSecret(shareTokenBytes), "guess", from("2001:db8:1:2::2"))
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	resp, body = e.postPassword("/s/"+newSecret(shareTokenBytes), "guess", from("2001:db8:1:3::1"))
	wantStatus(t, resp, body, http.StatusUnauthorized)
}

// stoppedClock is a server's clock that moves only when the test says.
type stoppedClock struct {
	base   time.Time
	offset atomic.Int64
}

// stopClock stops the server's clock at the present.
func stopClock(s *server) *stoppedClock {
	c := &stoppedClock{base: s.now()}
	s.now = func() time.Time { return c.base.Add(time.Duration(c.offset.Load())) }
	return c
}

// advance moves the clock forward.
func (c *stoppedClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestMembersOnlyLink (issue 21 §3): a members-only link, on both stores.
// Signed out, its page sends the browser to sign in, which brings it back
// to the link; its JSON and its download answer 401 and count nothing. A
// signed-in user of this Dropp (session cookie or bearer token) opens it
// and downloads.
func TestMembersOnlyLink(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		alice, bob := e.newUser("alice"), e.newUser("bob")
		sh, path := e.protectedShare(alice, map[string]any{"members_only": true})
		if sh.Protected || !sh.MembersOnly {
			t.Fatalf("created %+v, want members only without a password", sh)
		}
		e.wantSentToSignIn(t, "GET", path, "")
		e.wantSentToSignIn(t, "POST", path, "/download")
		resp, body := e.link("GET", sh.URL, "", asJSON)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = e.link("POST", sh.URL, "/download", asJSON)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		if n := e.shares(alice, sh.fileID(t, e, alice))[0].Downloads; n != 0 {
			t.Errorf("refused downloads counted %d", n)
		}

		// Bob, with his token: a member.
		resp, body = e.do(request{method: "GET", path: path, token: bob, header: asJSON})
		wantStatus(t, resp, body, http.StatusOK)
		resp, body = e.do(request{method: "POST", path: path + "/download", token: bob, header: asJSON})
		wantStatus(t, resp, body, http.StatusOK)

		// A browser signs in from the sign-in page it was sent to and
		// comes back to the link, with a session that opens it.
		e.signInBack(t, path, "secret plans.txt")
	})
}

// signInFrom opens the sign-in page at loginPath as a browser, then signs
// in (local sign-in) carrying the cookies the page set; it returns the
// session cookie and where the sign-in sends the browser.
func signInFrom(t *testing.T, e *testEnv, loginPath string) (session, location string) {
	t.Helper()
	resp, body := e.do(request{method: "GET", path: loginPath, header: asBrowser})
	wantStatus(t, resp, body, http.StatusOK)
	var jar []string
	for _, c := range resp.Cookies() {
		jar = append(jar, c.Name+"="+c.Value)
	}
	resp, body = e.do(request{method: "GET", path: "/auth/google", header: with(asBrowser, "Cookie", strings.Join(jar, "; "))})
	wantStatus(t, resp, body, http.StatusSeeOther)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.MaxAge > 0 {
			session = c.Name + "=" + c.Value
		}
		if c.Name == returnCookie && c.MaxAge >= 0 {
			t.Errorf("the return cookie outlives its use: %s", c.Raw)
		}
	}
	if session == "" {
		t.Fatalf("sign-in set no session: %v", resp.Header["Set-Cookie"])
	}
	return session, resp.Header.Get("Location")
}

// TestReturnPathRefusesOpenRedirects: the sign-in page's ?next= brings a
// browser back only to a plain path on this server; any other site, in
// any spelling, ends the sign-in on the web page. A forged, replayed or
// expired return cookie does the same.
func TestReturnPathRefusesOpenRedirects(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	for _, next := range []string{
		"https://evil.example", "//evil.example", "/\\evil.example", "/%09/evil.example", "/\t/evil.example",
		"\\\\evil.example", "http:/evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/s/x#@evil.example",
		"/s/x?@evil.example", "/ /evil.example", "///evil.example", "/s//evil.example", " /s/x", "/", "",
		"/" + strings.Repeat("a", maxReturnPath),
	} {
		_, back := signInFrom(t, e, "/login/?next="+url.QueryEscape(next))
		if back != "/" {
			t.Errorf("next=%q: sign-in sends the browser to %q, want /", next, back)
		}
	}
	if _, back := signInFrom(t, e, "/login/?next=/s/Ab-_9.~x"); back != "/s/Ab-_9.~x" {
		t.Errorf("a plain path: sign-in sends the browser to %q", back)
	}

	now := e.srv.now()
	for name, cookie := range map[string]string{
		"unsigned":             returnCookie + "=/s/x",
		"another cookie's MAC": returnCookie + "=" + e.srv.signer.sign(stateCookie, "/s/x", now),
		"an unsafe path":       returnCookie + "=" + e.srv.signer.sign(returnCookie, "//evil.example", now),
		"expired":              returnCookie + "=" + e.srv.signer.sign(returnCookie, "/s/x", now.Add(-authStateTTL-time.Minute)),
	} {
		resp, body := e.do(request{method: "GET", path: "/auth/google", header: with(asBrowser, "Cookie", cookie)})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("%s return cookie: sign-in sends the browser to %q", name, loc)
		}
	}
}

// TestSafeReturnPath: the paths a sign-in may return to.
func TestSafeReturnPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/s/abc", "/r/Ab-_9", "/admin/", "/a.b~c"} {
		if !safeReturnPath(p) {
			t.Errorf("safeReturnPath(%q) = false", p)
		}
	}
	for _, p := range []string{"", "/", "//x", "/\\x", "/%09/x", "https://x", "/a//b", "/a b", "/a?b", "/a#b", "a/b", "/é"} {
		if safeReturnPath(p) {
			t.Errorf("safeReturnPath(%q) = true", p)
		}
	}
}

// checkProtectedLinkContract calls the protected links' operations for
// checkContract (TestOpenAPIMatchesAnswers), on the complete file fileID
// of user: each answer of POST /s/{token}, and the locked answers of the
// link's page and download.
func checkProtectedLinkContract(c *contractChecker, user, fileID string) {
	c.t.Helper()
	c.e.srv.links.hasher = newPasswordHasher(testHashParams)
	create := func(body map[string]any) string {
		_, data := c.call("/files/{id}/shares", c.req("POST", "/files/"+fileID+"/shares", user, body))
		return strings.TrimPrefix(decode[struct{ Share struct{ URL string } }](c.t, data).Share.URL, c.e.URL)
	}
	c.call("/files/{id}/shares", c.req("POST", "/files/"+fileID+"/shares", user, map[string]any{"password": "short"}))
	locked := create(map[string]any{"password": linkPassword})
	c.call("/s/{token}/download", acceptJSON(c.req("POST", locked+"/download", "", nil)))
	checkLockedLinkContract(c, "/s/{token}", locked)
	c.call("/s/{token}", c.req("POST", locked, "", url.Values{"password": {linkPassword}}))
	members := create(map[string]any{"members_only": true})
	checkMembersOnlyContract(c, "/s/{token}", members, user)
	c.call("/login/", c.req("GET", "/login/?notice=members_only&next="+url.QueryEscape(members), "", nil))
}

// acceptJSON asks for hr's answer as JSON.
func acceptJSON(hr *http.Request) *http.Request {
	hr.Header.Set("Accept", "application/json")
	return hr
}

// checkLockedLinkContract calls, for checkContract, the answers of a
// password-protected link at path (route, in the API document): its
// locked page and JSON and each refusal of a posted password.
func checkLockedLinkContract(c *contractChecker, route, path string) {
	c.t.Helper()
	c.call(route, c.req("GET", path, "", nil))
	c.call(route, acceptJSON(c.req("GET", path, "", nil)))
	c.call(route, c.req("POST", path, "", url.Values{"password": {"not the password at all"}}))
	c.call(route, acceptJSON(c.req("POST", path, "", map[string]any{"password": "not the password at all"})))
	c.call(route, acceptJSON(c.req("POST", path, "", map[string]any{"password": 1})))
	c.call(route, c.req("POST", path, "", url.Values{"other": {"x"}}))
	c.call(route, c.req("POST", path, "", "password"))
}

// checkMembersOnlyContract calls, for checkContract, the page of a
// members-only link at path (route, in the API document) signed out, as
// JSON, and with user's token.
func checkMembersOnlyContract(c *contractChecker, route, path, user string) {
	c.t.Helper()
	c.call(route, c.req("GET", path, "", nil))
	c.call(route, acceptJSON(c.req("GET", path, "", nil)))
	c.call(route, c.req("GET", path, user, nil))
}

// TestProtectedLinkAcrossInstances (issue 21 §5): two instances on one
// MongoDB and bucket. A link made on one is unlocked on the other, and
// the cookie the other set opens the page and the download on the first;
// a sign-in on the other, from a members-only link, opens it on the first.
func TestProtectedLinkAcrossInstances(t *testing.T) {
	t.Parallel()
	one, two := twoInstances(t)
	for _, e := range []shareEnv{one, two} {
		e.srv.links.hasher = newPasswordHasher(testHashParams)
	}
	alice := one.newUser("alice")
	locked, lockedPath := one.protectedShare(alice, map[string]any{"password": linkPassword})
	members, membersPath := one.protectedShare(alice, map[string]any{"members_only": true})

	resp, body := two.postPassword(lockedPath, "not the password at all", asJSON)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	cookie := two.unlock(lockedPath)
	resp, body = one.link("GET", locked.URL, "", with(asJSON, "Cookie", cookie))
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = one.link("POST", locked.URL, "/download", with(asJSON, "Cookie", cookie))
	wantStatus(t, resp, body, http.StatusOK)

	session, back := signInFrom(t, two.testEnv, "/login/?next="+url.QueryEscape(membersPath))
	if back != membersPath {
		t.Errorf("after sign-in on the second instance the browser is sent to %q, want %q", back, membersPath)
	}
	resp, body = one.link("GET", members.URL, "", with(asJSON, "Cookie", session))
	wantStatus(t, resp, body, http.StatusOK)
}

// TestLinkProtectionStored: a share's protection comes back from
// ShareLink, ListShares and CountShareDownload as inserted, on MongoDB and
// on the local store, there also after the store is opened again (its
// log replayed); a share without one comes back with none.
func TestLinkProtectionStored(t *testing.T) {
	t.Parallel()
	type stored struct {
		f    *File
		want map[string]LinkProtection
	}
	check := func(t *testing.T, s Store, st stored) {
		t.Helper()
		f, want := st.f, st.want
		for hash, p := range want {
			got, err := s.ShareLink(t.Context(), hash, ctNow())
			if err != nil || got.Protection != p {
				t.Errorf("ShareLink: %+v, %v; want protection %+v", got.Protection, err, p)
			}
			got, err = s.CountShareDownload(t.Context(), got, f.ID, ctNow())
			if err != nil || got.Protection != p {
				t.Errorf("CountShareDownload: %+v, %v; want protection %+v", got.Protection, err, p)
			}
		}
		listed, err := s.ListShares(t.Context(), ShareQuery{Owner: f.Owner, FileID: f.ID, Now: ctNow(), Limit: 10})
		if err != nil || len(listed) != len(want) {
			t.Fatalf("ListShares: %d, %v", len(listed), err)
		}
		for _, sh := range listed {
			if sh.Protection != want[sh.TokenHash] {
				t.Errorf("ListShares: protection %+v, want %+v", sh.Protection, want[sh.TokenHash])
			}
		}
	}
	insert := func(t *testing.T, s Store) stored {
		f := ctShareFile(t, s, ctNewID())
		want := map[string]LinkProtection{}
		for _, p := range []LinkProtection{{}, {PasswordHash: "$scrypt$ln=10,r=8,p=1$c2FsdA$a2V5", MembersOnly: true}, {MembersOnly: true}} {
			now := ctNow()
			sh := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}},
				CreatedAt: now, ExpiresAt: now.Add(time.Hour), Protection: p}
			ctMust(t, "InsertShare", s.InsertShare(t.Context(), sh, 0))
			want[sh.TokenHash] = p
		}
		return stored{f, want}
	}
	onEachStoreReplayed(t, insert, check)
}
