package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHashParams make hashes cheap: one at owaspScrypt takes seconds under
// the race detector. TestPasswordHashOWASP checks the real setting.
var testHashParams = scryptParams{logN: 10, r: 8, p: 1}

// cheapHashes makes a server under test hash at testHashParams (a
// newSignInEnv preparation).
func cheapHashes(s *server) { s.signIn.accounts.hasher = newPasswordHasher(testHashParams) }

// accountStores are the metadata stores every accounts test runs on.
var accountStores = []string{"local", "mongodb"}

// newAccountsEnv starts a server with SIGNIN=accounts on the given
// metadata store ("local" or "mongodb"), with a movable clock.
func newAccountsEnv(t *testing.T, metadata string, env map[string]string) *signInEnv {
	t.Helper()
	vars := map[string]string{"SIGNIN": "accounts", "PUBLIC_URL": "http://dropp.test"}
	if metadata == "local" {
		vars["MONGODB_URI"], vars["AWS_S3_BUCKET"], vars["DATA_DIR"] = "", "", t.TempDir()
	}
	for k, v := range env {
		vars[k] = v
	}
	return newSignInEnv(t, nil, vars, cheapHashes)
}

// eachAccountStore runs test on a fresh accounts server per store.
func eachAccountStore(t *testing.T, env map[string]string, test func(t *testing.T, e *signInEnv)) {
	for _, metadata := range accountStores {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			test(t, newAccountsEnv(t, metadata, env))
		})
	}
}

// invite makes an invitation as the admin API does and returns the path
// of its link on this server.
func (e *signInEnv) invite(email string, admin bool) string {
	e.t.Helper()
	link, _, err := createInvitation(context.Background(), e.srv.store, "", email, admin, e.srv.cfg.InvitationTTL, e.srv.now())
	if err != nil {
		e.t.Fatalf("invite: %v", err)
	}
	return link
}

// postForm posts a urlencoded form.
func (e *signInEnv) postForm(path string, form url.Values, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return e.do(request{method: "POST", path: path, body: form.Encode(), header: h})
}

// setPassword redeems the invitation at path with pw.
func (e *signInEnv) setPassword(path, pw string) (*http.Response, []byte) {
	e.t.Helper()
	return e.postForm(path, url.Values{"password": {pw}, "confirm": {pw}}, nil)
}

// newAccount invites email and sets its password; it returns the user ID.
func (e *signInEnv) newAccount(email, pw string, admin bool) string {
	e.t.Helper()
	resp, body := e.setPassword(e.invite(email, admin), pw)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/?notice=password_set" {
		e.t.Fatalf("set password: %d %s", resp.StatusCode, body)
	}
	u, err := e.srv.store.FindAccount(context.Background(), normalEmail(email))
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

// signInPassword posts the sign-in form, with a desktop app's fields if app is set.
func (e *signInEnv) signInPassword(email, pw string, app *testApp, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	form := url.Values{"email": {email}, "password": {pw}}
	if app != nil {
		app.setSignInForm(form)
	}
	return e.postForm("/auth/password", form, header)
}

// passwordToken runs the desktop flow with a password: the app opens
// /auth/google, which sends the browser to /login/; the form posts there;
// the code comes back on the app's redirect URI and is redeemed.
func (e *signInEnv) passwordToken(email, pw string) tokenOut {
	e.t.Helper()
	a := newTestApp()
	resp, body := e.do(request{method: "GET", path: "/auth/google" + a.query()})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/login/?") {
		e.t.Fatalf("/auth/google with accounts: %d to %q, want 302 to /login/; %s", resp.StatusCode, loc, body)
	}
	resp, body = e.do(request{method: "GET", path: resp.Header.Get("Location")})
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`name="code_challenge" value="`+a.challenge+`"`)) {
		e.t.Fatalf("login page does not carry the app's request: %d %s", resp.StatusCode, body)
	}
	resp, body = e.signInPassword(email, pw, &a, nil)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), a.redirectURI+"?") {
		e.t.Fatalf("password sign-in: %d %v, want 302 to the app; %s", resp.StatusCode, loc, body)
	}
	resp, body = e.redeem(a, loc.Query().Get("code"))
	wantStatus(e.t, resp, body, http.StatusOK)
	return decode[tokenOut](e.t, body)
}

// TestAccountsDesktopSignIn: an invited account sets its password, signs
// in through the desktop flow (RFC 8252 with PKCE, a one-time code) and
// uses the bearer token on /me, /upload/ and /list/, on both stores.
func TestAccountsDesktopSignIn(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		id := e.newAccount("Ann@Example.com", "correct horse battery", false)
		// Without OIDC, the provider's path leads to the sign-in page, whatever it asks.
		resp, body := e.do(request{method: "GET", path: "/auth/google?via=oidc"})
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login/" {
			t.Fatalf("/auth/google?via=oidc without OIDC: %d %q; %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		resp, body = e.do(request{method: "GET", path: "/auth/google/callback?state=x&code=y"})
		wantPage(t, resp, body, http.StatusNotFound)
		tok := e.passwordToken("ann@example.com", "correct horse battery")
		if tok.User.ID != id || tok.User.Email != "ann@example.com" {
			t.Fatalf("token for %+v, want %s", tok.User, id)
		}
		if status, me := e.me(bearer(tok.AccessToken)); status != http.StatusOK || me.ID != id {
			t.Fatalf("/me: %d %+v", status, me)
		}
		resp, body = e.do(request{method: "POST", path: "/upload/", token: tok.AccessToken, body: map[string]any{"filename": "a.txt", "size": 3}})
		wantStatus(t, resp, body, http.StatusCreated)
		resp, body = e.do(request{method: "GET", path: "/list/", token: tok.AccessToken})
		wantStatus(t, resp, body, http.StatusOK)
		if files := decode[listOut](t, body).Files; len(files) != 1 || files[0].Filename != "a.txt" {
			t.Fatalf("list: %s", body)
		}
		// A browser sign-in gets a session cookie and is sent to the web page.
		resp, body = e.signInPassword("ann@example.com", "correct horse battery", nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("browser sign-in: %d %s", resp.StatusCode, body)
		}
		if status, me := e.me(cookieHeader(sessionOf(t, resp))); status != http.StatusOK || me.ID != id {
			t.Fatalf("/me by cookie: %d %+v", status, me)
		}
	})
}

// TestInvitationSingleUse: of concurrent redemptions of one invitation
// exactly one wins; a used or expired invitation is a 404 page.
func TestInvitationSingleUse(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		path := e.invite("race@example.com", false)
		statuses := make([]int, 8)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() {
				resp, _ := e.setPassword(path, fmt.Sprintf("password number %d!", i))
				statuses[i] = resp.StatusCode
			})
		}
		wg.Wait()
		if won := slices.IndexFunc(statuses, func(s int) bool { return s == http.StatusSeeOther }); won < 0 ||
			slices.ContainsFunc(statuses, func(s int) bool { return s != http.StatusSeeOther && s != http.StatusNotFound }) ||
			len(slices.DeleteFunc(slices.Clone(statuses), func(s int) bool { return s != http.StatusSeeOther })) != 1 {
			t.Fatalf("statuses %v: want exactly one 303, the rest 404", statuses)
		}
		resp, body := e.do(request{method: "GET", path: path})
		wantPage(t, resp, body, http.StatusNotFound)

		expiring := e.invite("late@example.com", false)
		resp, body = e.do(request{method: "GET", path: expiring})
		wantPage(t, resp, body, http.StatusOK)
		e.clock.advance(e.srv.cfg.InvitationTTL)
		resp, body = e.do(request{method: "GET", path: expiring})
		wantPage(t, resp, body, http.StatusNotFound)
		resp, body = e.setPassword(expiring, "a long enough password")
		wantPage(t, resp, body, http.StatusNotFound)
		if _, err := e.srv.store.FindAccount(context.Background(), "late@example.com"); err != ErrNotFound {
			t.Fatalf("an expired invitation made an account: %v", err)
		}
		resp, body = e.do(request{method: "GET", path: invitationPath + "not-a-token"})
		wantPage(t, resp, body, http.StatusNotFound)
	})
}

// TestPasswordRules: 12 to 256 characters, counted as characters; no
// common password; the two fields must match. A refused password leaves
// the invitation usable.
func TestPasswordRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pw string
		ok bool
	}{
		{"elevenchars", false},
		{strings.Repeat("é", 12), true}, // 24 bytes, 12 characters
		{strings.Repeat("é", 11), false},
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
		{"qwerty123456", false}, // on the list
		{"QWERTY123456", false}, // ignoring case
		{"1qaz2wsx3edc", false},
		{"qwerty1234567", true},
		{"\xff\xfe invalid utf-8 text", false},
	} {
		if err := checkNewPassword(c.pw); (err == nil) != c.ok {
			t.Errorf("checkNewPassword(%q) = %v, want ok=%v", c.pw, err, c.ok)
		}
	}
	if n := len(commonPasswords()); n != 10000 {
		t.Errorf("common password list has %d entries, want 10000", n)
	}
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		path := e.invite("rules@example.com", false)
		for _, form := range []url.Values{
			{"password": {"short one"}, "confirm": {"short one"}},
			{"password": {"qwerty123456"}, "confirm": {"qwerty123456"}},
			{"password": {"a long enough password"}, "confirm": {"a long enough passw0rd"}},
			{"password": {"a long enough password"}},
			{"password": {"a long enough password", "twice"}, "confirm": {"a long enough password"}},
		} {
			resp, body := e.postForm(path, form, nil)
			wantPage(t, resp, body, http.StatusBadRequest)
		}
		resp, body := e.setPassword(path, "a long enough password")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("after refusals the invitation should still work: %d %s", resp.StatusCode, body)
		}
	})
}

// TestPasswordHashOWASP: new hashes use scrypt at N=2^17, r=8, p=1 in
// production, record their parameters, and verify in constant time
// against the stored key; a damaged hash verifies nothing.
func TestPasswordHashOWASP(t *testing.T) {
	t.Parallel()
	if owaspScrypt != (scryptParams{logN: 17, r: 8, p: 1}) {
		t.Fatalf("owaspScrypt = %+v", owaspScrypt)
	}
	cheap := newPasswordHasher(testHashParams)
	// "pw" salted with "0123456789abcdef" at the OWASP parameters, from
	// another implementation (Python's hashlib.scrypt, i.e. OpenSSL's):
	// one scrypt at N=2^17 under -race, where computing the key here too
	// took a second one.
	phc := "$scrypt$ln=17,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$RFrU3Tk/PdTY7NktxajKr9cWnJVFDZdPEDVwH6HxkSo"
	if ok, err := cheap.verify(context.Background(), phc, "pw"); !ok || err != nil {
		t.Fatalf("verify at OWASP parameters: %v %v", ok, err)
	}
	h, err := cheap.hash(context.Background(), "some password here")
	if err != nil || !strings.HasPrefix(h, "$scrypt$ln=10,r=8,p=1$") {
		t.Fatalf("hash %q %v", h, err)
	}
	if ok, _ := cheap.verify(context.Background(), h, "some password herE"); ok {
		t.Fatal("a wrong password verified")
	}
	if p := newPasswordSignIn(60).hasher.params; p != owaspScrypt {
		t.Errorf("the server hashes at %+v, want %+v", p, owaspScrypt)
	}
	for _, bad := range []string{"", "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=1,t=1,p=1$a$b", h + "!"} {
		if ok, err := cheap.verify(context.Background(), bad, "pw"); ok || err == nil {
			t.Errorf("verify(%q) = %v, %v; want false with an error", bad, ok, err)
		}
	}
}

// TestSignInNoEnumeration: an unknown email, a wrong password and a
// disabled account get the same status and the same page, after the same
// work: one verification of a hash at the same cost (the scrypt work the
// hasher counts). Wall times told that apart only on a quiet machine: on
// a loaded one, medians of interleaved tries still differed fourfold.
func TestSignInNoEnumeration(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("boss@example.com", "the boss password", true)
		e.newAccount("known@example.com", "the right password", false)
		offID := e.newAccount("off@example.com", "the right password", false)
		if err := e.srv.store.SetUserDisabled(context.Background(), offID, true); err != nil {
			t.Fatal(err)
		}
		cases := []struct{ name, email string }{
			{"unknown email", "nobody@example.com"},
			{"wrong password", "known@example.com"},
			{"disabled account", "off@example.com"},
		}
		hasher := e.srv.signIn.accounts.hasher
		hasher.dummy() // made once, on first use: not an answer's work
		oneHash := int64(1<<testHashParams.logN) * int64(testHashParams.r) * int64(testHashParams.p)
		var bodies []string
		for range 7 { // 21 failures: what one address may fail before a delay
			for _, c := range cases {
				pw := "the wrong password"
				if c.name == "disabled account" {
					pw = "the right password"
				}
				before := hasher.work.Load()
				resp, body := e.signInPassword(c.email, pw, nil, nil)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: status %d, want 401; %s", c.name, resp.StatusCode, body)
				}
				if work := hasher.work.Load() - before; work != oneHash {
					t.Fatalf("%s: the answer did scrypt work %d, want %d (one hash, as a wrong password costs)", c.name, work, oneHash)
				}
				bodies = append(bodies, strings.ReplaceAll(string(body), c.email, "EMAIL"))
			}
			e.clock.advance(maxFailureDelay + time.Second)
		}
		for i, b := range bodies {
			if b != bodies[0] {
				t.Fatalf("answer %d differs from the first:\n%s\n---\n%s", i, b, bodies[0])
			}
		}
	})
}

// TestPasswordRateLimit: per account, five failures are free, then each
// attempt waits twice as long, up to a minute (429 with Retry-After,
// whether or not the account exists); a browser that signed in to the
// account before is counted apart, so a stranger cannot slow its owner
// down; per address, twenty failures are free. The clock stands still
// but where the test moves it: "too soon" must not depend on how fast a
// loaded machine answers (a second between two attempts, or fifteen
// minutes less one second since the first failures).
func TestPasswordRateLimit(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.clock.freeze()
		e.newAccount("owner@example.com", "the owner password", false)
		resp, body := e.signInPassword("owner@example.com", "the owner password", nil, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner sign-in: %d %s", resp.StatusCode, body)
		}
		var device *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == deviceCookie {
				device = c
			}
		}
		if device == nil || device.Path != "/auth/password" || !device.HttpOnly {
			t.Fatalf("device cookie %+v", device)
		}
		for _, email := range []string{"owner@example.com", "ghost@example.com"} {
			for i := range 6 {
				resp, body := e.signInPassword(email, "guess number "+fmt.Sprint(i), nil, nil)
				wantPage(t, resp, body, http.StatusUnauthorized)
			}
			resp, body := e.signInPassword(email, "one guess too soon", nil, nil)
			wantPage(t, resp, body, http.StatusTooManyRequests)
			if got := resp.Header.Get("Retry-After"); got != "1" {
				t.Fatalf("%s: Retry-After %q, want 1", email, got)
			}
		}
		// The owner's browser, with its device cookie, is not held back.
		resp, body = e.signInPassword("owner@example.com", "the owner password", nil, cookieHeader(device))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner with a device cookie: %d %s", resp.StatusCode, body)
		}
		e.clock.advance(time.Second)
		resp, body = e.signInPassword("ghost@example.com", "a guess in time", nil, nil)
		wantPage(t, resp, body, http.StatusUnauthorized)
		resp, _ = e.signInPassword("ghost@example.com", "too soon again", nil, nil)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("after 7 failures: %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		// Per address: 13 failures so far; 8 more on fresh names are free,
		// the next waits whatever the name.
		e.clock.advance(failureMemory - time.Second) // accounts' first failures still remembered
		for i := range 8 {
			resp, body := e.signInPassword(fmt.Sprintf("n%d@example.com", i), "a wrong password", nil, nil)
			wantPage(t, resp, body, http.StatusUnauthorized)
		}
		resp, body = e.signInPassword("fresh@example.com", "a wrong password", nil, nil)
		wantPage(t, resp, body, http.StatusTooManyRequests)
		m := e.srv.metrics
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.signIns["success"] != 2 || m.signIns["rejected"] != 21 || m.signIns["rate_limited"] != 4 {
			t.Errorf("dropp_sign_ins_total %v, want 2 successes, 21 rejected, 4 rate limited", m.signIns)
		}
	})
}

// TestFailureDelayCurve measures what an attacker hammering one account,
// or trying from one address, as fast as allowed gets: the attempts
// allowed in each minute and the waits between them (docs/accounts.md
// quotes these figures).
func TestFailureDelayCurve(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		free      int
		perMinute []int
	}{
		{"account", freeAccountFailures, []int{11, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"address", freeAddressFailures, []int{26, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		d := newFailureDelay(c.free)
		start := time.Unix(0, 0)
		now := start
		perMinute := make([]int, 10)
		var waits []time.Duration
		for now.Sub(start) < 10*time.Minute {
			if w := d.wait("victim", now); w > 0 {
				waits = append(waits, w)
				now = now.Add(w)
				continue
			}
			d.fail("victim", now)
			perMinute[int(now.Sub(start)/time.Minute)]++
		}
		t.Logf("per %s: attempts per minute: %v; waits: %v", c.name, perMinute, waits[:10])
		if !slices.Equal(perMinute, c.perMinute) {
			t.Errorf("per %s: attempts per minute %v, want %v", c.name, perMinute, c.perMinute)
		}
		if want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}; !slices.EqualFunc(waits[:8], want, func(a, b time.Duration) bool { return a == b*time.Second }) {
			t.Errorf("per %s: waits %v, want %v seconds", c.name, waits[:8], want)
		}
		// Failures are forgotten after failureMemory without one.
		if w := d.wait("victim", now.Add(failureMemory)); w != 0 {
			t.Errorf("wait after %v quiet: %v", failureMemory, w)
		}
	}
}

// TestDisableEndsAccountSessions: an administrator made by invitation
// disables a member; the member's token and session stop working at the
// next request, and their sign-in is refused like a wrong password.
func TestDisableEndsAccountSessions(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("boss@example.com", "the boss password", true)
		memberID := e.newAccount("member@example.com", "the member password", false)
		boss := e.passwordToken("boss@example.com", "the boss password")
		member := e.passwordToken("member@example.com", "the member password")
		resp, _ := e.signInPassword("member@example.com", "the member password", nil, nil)
		session := sessionOf(t, resp)

		resp, body := e.do(request{method: "POST", path: "/admin/users/" + memberID + "/disable", token: member.AccessToken})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = e.do(request{method: "POST", path: "/admin/users/" + memberID + "/disable", token: boss.AccessToken})
		wantStatus(t, resp, body, http.StatusOK)
		for name, h := range map[string]map[string]string{"token": bearer(member.AccessToken), "cookie": cookieHeader(session)} {
			if status, _ := e.me(h); status != http.StatusUnauthorized {
				t.Errorf("disabled member's %s: /me %d, want 401", name, status)
			}
		}
		_, wrong := e.signInPassword("member@example.com", "not the password", nil, nil)
		resp, body = e.signInPassword("member@example.com", "the member password", nil, nil)
		if resp.StatusCode != http.StatusUnauthorized || !bytes.Equal(body, wrong) {
			t.Fatalf("disabled member's sign-in: %d, want the wrong-password answer; %s", resp.StatusCode, body)
		}
		resp, body = e.do(request{method: "POST", path: "/admin/users/" + memberID + "/enable", token: boss.AccessToken})
		wantStatus(t, resp, body, http.StatusOK)
		e.passwordToken("member@example.com", "the member password")
	})
}

// TestReinviteResets: an administrator re-invites an account; the old
// password works until the new invitation is used, then it and every
// session and token of the account stop working. A user of the OpenID
// provider cannot be re-invited, nor an email off the allow-lists invited.
func TestReinviteResets(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com"}, func(t *testing.T, e *signInEnv) {
		e.newAccount("boss@example.com", "the boss password", true)
		memberID := e.newAccount("member@example.com", "the old password", false)
		boss := e.passwordToken("boss@example.com", "the boss password")
		member := e.passwordToken("member@example.com", "the old password")

		resp, body := e.do(request{method: "POST", path: "/admin/users/" + memberID + "/reinvite", token: boss.AccessToken})
		wantStatus(t, resp, body, http.StatusCreated)
		inv := decode[struct {
			Invitation invitationJSON `json:"invitation"`
		}](t, body).Invitation
		if inv.Email != "member@example.com" || !strings.HasPrefix(inv.URL, "http://dropp.test/invite/") {
			t.Fatalf("re-invitation %+v", inv)
		}
		if status, _ := e.me(bearer(member.AccessToken)); status != http.StatusOK {
			t.Fatalf("before the reset is used the old token works: %d", status)
		}
		resp, body = e.setPassword(strings.TrimPrefix(inv.URL, "http://dropp.test"), "the new password")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d %s", resp.StatusCode, body)
		}
		if status, _ := e.me(bearer(member.AccessToken)); status != http.StatusUnauthorized {
			t.Errorf("old token after the reset: %d, want 401", status)
		}
		resp, body = e.signInPassword("member@example.com", "the old password", nil, nil)
		wantPage(t, resp, body, http.StatusUnauthorized)
		if tok := e.passwordToken("member@example.com", "the new password"); tok.User.ID != memberID {
			t.Fatalf("the reset made another user: %+v", tok.User)
		}

		oidcUser := e.newUser("oidc")
		resp, body = e.do(request{method: "POST", path: "/admin/users/" + e.userIDOf(oidcUser) + "/reinvite", token: boss.AccessToken})
		wantStatus(t, resp, body, http.StatusConflict)
		resp, body = e.do(request{method: "POST", path: "/admin/users/nosuchuser/reinvite", token: boss.AccessToken})
		wantStatus(t, resp, body, http.StatusNotFound)

		// The admin API invites by email; the answer is the only place the link appears.
		resp, body = e.do(request{method: "POST", path: "/admin/invitations", token: boss.AccessToken, body: map[string]any{"email": " New@Example.com ", "admin": true}})
		wantStatus(t, resp, body, http.StatusCreated)
		if inv := decode[struct {
			Invitation invitationJSON `json:"invitation"`
		}](t, body).Invitation; inv.Email != "new@example.com" || !inv.Admin {
			t.Fatalf("invitation %+v", inv)
		}
		// Its time to the millisecond, as every time the API answers.
		if !regexp.MustCompile(`"expires_at":"[0-9-]+T[0-9:]+(\.[0-9]{1,3})?Z"`).Match(body) {
			t.Errorf("invitation's expires_at is not in the API's time layout: %s", body)
		}
		for _, bad := range []any{map[string]any{"email": "x@elsewhere.example"}, map[string]any{"email": "not an email"}, map[string]any{"email": 3}, map[string]any{"email": "a@b.c", "extra": 1}} {
			resp, body = e.do(request{method: "POST", path: "/admin/invitations", token: boss.AccessToken, body: bad})
			wantStatus(t, resp, body, http.StatusBadRequest)
		}
		resp, body = e.do(request{method: "POST", path: "/admin/invitations", token: member.AccessToken, body: map[string]any{"email": "x@example.com"}})
		wantStatus(t, resp, body, http.StatusUnauthorized) // the reset ended this token
	})
}

// userIDOf is the user ID of a bearer token, from /me.
func (e *signInEnv) userIDOf(token string) string {
	e.t.Helper()
	status, me := e.me(bearer(token))
	if status != http.StatusOK {
		e.t.Fatalf("/me: %d", status)
	}
	return me.ID
}

// TestAccountFormsCSRF: the sign-in and invitation forms refuse posts from
// another site (the cross-origin protection of every cookie change), and
// bodies that are not urlencoded forms.
func TestAccountFormsCSRF(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("csrf@example.com", "the right password", false)
		path := e.invite("csrf2@example.com", false)
		forms := map[string]url.Values{
			"/auth/password": {"email": {"csrf@example.com"}, "password": {"the right password"}},
			path:             {"password": {"a long enough password"}, "confirm": {"a long enough password"}},
		}
		for p, form := range forms {
			for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}} {
				resp, body := e.postForm(p, form, h)
				wantPage(t, resp, body, http.StatusForbidden)
			}
			resp, body := e.do(request{method: "POST", path: p, body: form.Encode(), header: map[string]string{"Content-Type": "text/plain"}})
			wantPage(t, resp, body, http.StatusUnsupportedMediaType)
			resp, body = e.do(request{method: "POST", path: p, body: strings.Repeat("a", maxFormBody+1), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
			wantPage(t, resp, body, http.StatusRequestEntityTooLarge)
			resp, _ = e.postForm(p, form, map[string]string{"Sec-Fetch-Site": "same-origin"})
			if resp.StatusCode >= 400 {
				t.Errorf("POST %s from the same origin: %d", p, resp.StatusCode)
			}
		}
	})
}

// TestInviteCommand: `dropp invite EMAIL -admin` prints a link that makes
// an administrator, while the server runs, on both stores.
func TestInviteCommand(t *testing.T) {
	t.Parallel()
	for _, metadata := range accountStores {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			vars := mongoS3Env(t)
			vars["SIGNIN"], vars["PUBLIC_URL"] = "accounts", "http://dropp.test"
			if metadata == "local" {
				vars["MONGODB_URI"], vars["AWS_S3_BUCKET"], vars["DATA_DIR"] = "", "", t.TempDir()
			}
			e := newSignInEnv(t, nil, vars, cheapHashes) // running, holding the local store's lock
			var out, errOut bytes.Buffer
			if err := runDropp(t.Context(), []string{"dropp", "invite", "First@Example.com", "-admin"}, testGetenv(vars), &out, &errOut); err != nil {
				t.Fatalf("dropp invite: %v; %s", err, errOut.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			link := lines[len(lines)-1]
			if !strings.HasPrefix(link, "http://dropp.test/invite/") || !strings.Contains(out.String(), "first@example.com") {
				t.Fatalf("output %q", out.String())
			}
			resp, body := e.setPassword(strings.TrimPrefix(link, "http://dropp.test"), "the first password")
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("set password: %d %s", resp.StatusCode, body)
			}
			tok := e.passwordToken("first@example.com", "the first password")
			resp, body = e.do(request{method: "GET", path: "/admin/users", token: tok.AccessToken})
			wantStatus(t, resp, body, http.StatusOK)
			resp, body = e.setPassword(strings.TrimPrefix(link, "http://dropp.test"), "the second password")
			wantPage(t, resp, body, http.StatusNotFound)
		})
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		code int
	}{
		{[]string{"dropp", "invite"}, nil, 2},
		{[]string{"dropp", "invite", "not-an-email"}, nil, 2},
		{[]string{"dropp", "invite", "a@example.com", "b@example.com"}, nil, 2},
		{[]string{"dropp", "invite", "a@example.com", "-bogus"}, nil, 2},
		{[]string{"dropp", "invite", "a@example.com"}, map[string]string{}, 1}, // accounts off
		{[]string{"dropp", "invite", "a@example.com"}, map[string]string{"SIGNIN": "accounts", "PUBLIC_URL": "http://dropp.test", "ALLOWED_EMAIL_DOMAINS": "team.example"}, 1},
	} {
		env := map[string]string{"DATA_DIR": t.TempDir()}
		if c.env == nil {
			env["SIGNIN"], env["PUBLIC_URL"] = "accounts", "http://dropp.test"
		}
		for k, v := range c.env {
			env[k] = v
		}
		err := runDropp(t.Context(), c.args, testGetenv(env), new(bytes.Buffer), new(bytes.Buffer))
		if got := exitCode(err); got != c.code {
			t.Errorf("%v: exit %d (%v), want %d", c.args, got, err, c.code)
		}
	}
}

// TestSignInSetting: SIGNIN's values and defaults, and the address rules:
// with accounts Dropp may listen anywhere and PUBLIC_URL may be any host;
// local sign-in still refuses both.
func TestSignInSetting(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		want []string // nil: refused
	}{
		{map[string]string{}, []string{"local"}},
		{map[string]string{"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "s", "PUBLIC_URL": "https://d.example"}, []string{"oidc"}},
		{map[string]string{"SIGNIN": "accounts", "PUBLIC_URL": "https://d.example", "ADDR": ":8080"}, []string{"accounts"}},
		{map[string]string{"SIGNIN": "Accounts, OIDC", "GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "s", "PUBLIC_URL": "https://d.example"}, []string{"accounts", "oidc"}},
		{map[string]string{"SIGNIN": "accounts"}, nil},                                          // no PUBLIC_URL for links
		{map[string]string{"SIGNIN": "oidc", "PUBLIC_URL": "https://d.example"}, nil},           // no client
		{map[string]string{"SIGNIN": "local,accounts", "PUBLIC_URL": "https://d.example"}, nil}, // not a combination
		{map[string]string{"SIGNIN": "passwords"}, nil},
		{map[string]string{"SIGNIN": "local", "PUBLIC_URL": "https://d.example"}, nil}, // local stays loopback-only
		{map[string]string{"SIGNIN": "local", "ADDR": ":8080"}, nil},
	} {
		env := map[string]string{"DATA_DIR": t.TempDir()}
		for k, v := range c.env {
			env[k] = v
		}
		cfg, err := loadConfig(testGetenv(env))
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%v: accepted, want refused", c.env)
		case c.want != nil && err != nil:
			t.Errorf("%v: %v", c.env, err)
		case c.want != nil && !slices.Equal(cfg.SignIn, c.want):
			t.Errorf("%v: SignIn %v, want %v", c.env, cfg.SignIn, c.want)
		}
	}
}

// FuzzSignInForm: any body parses to a clear answer without panicking; a
// form that parses has a normalised email and only the app's parameters.
func FuzzSignInForm(f *testing.F) {
	f.Add("email=a%40b.c&password=x&code_challenge=abc&state=1")
	f.Add("email=a&email=b&password=")
	f.Add("%zz&password")
	f.Fuzz(func(t *testing.T, body string) {
		form, problem := parseSignInForm(body)
		if problem != "" {
			return
		}
		if form.Email != normalEmail(form.Email) {
			t.Errorf("email %q is not normalised", form.Email)
		}
		for k := range form.App {
			if !slices.Contains(appParams, k) {
				t.Errorf("app parameter %q is not one of %v", k, appParams)
			}
		}
	})
}

// FuzzInviteForm: the invitation form and the password rules never panic,
// and a password the form yields is exactly what was typed twice.
func FuzzInviteForm(f *testing.F) {
	f.Add("password=correct+horse+battery&confirm=correct+horse+battery")
	f.Add("password=%FF%FE&confirm=%FF%FE")
	f.Add("password=a&confirm=b&confirm=c")
	f.Fuzz(func(t *testing.T, body string) {
		pw, problem := parseInviteForm(body)
		if problem != "" {
			return
		}
		v, _ := url.ParseQuery(body)
		if v.Get("password") != pw || v.Get("confirm") != pw {
			t.Errorf("parsed %q from %q", pw, body)
		}
		checkNewPassword(pw)
	})
}

// FuzzParsePHC: a stored hash of any shape is read within its bounds or
// refused, never a panic.
func FuzzParsePHC(f *testing.F) {
	f.Add("$scrypt$ln=17,r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$scrypt$ln=99,r=8,p=1$$")
	f.Fuzz(func(t *testing.T, phc string) {
		p, _, _, err := parsePHC(phc)
		if err == nil && (p.logN > maxScryptLogN || scryptMemoryUnit*p.r<<p.logN > maxScryptMemory) {
			t.Errorf("%q passed with %+v", phc, p)
		}
	})
}

// accountsOperations are the operations only a server with SIGNIN=accounts
// has: TestOpenAPIAccountsAnswers calls them, checkContract the others.
var accountsOperations = map[string]bool{
	"post /auth/password": true, "get /invite/{token}": true, "post /invite/{token}": true,
	"post /admin/invitations": true, "post /admin/users/{id}/reinvite": true,
}

// checkAccountsContract runs calls on a server with accounts on each
// account store, checks every answer against openapi.json and that the
// calls reached each of ops.
func checkAccountsContract(t *testing.T, ops map[string]bool, calls func(t *testing.T, e *signInEnv, c *contractChecker)) {
	for _, metadata := range accountStores {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			e := newAccountsEnv(t, metadata, nil)
			c := &contractChecker{t: t, e: e.testEnv, doc: loadOpenAPIDoc(t), seen: map[string]bool{}, local: metadata == "local"}
			defer c.checkExchanges()
			calls(t, e, c)
			for op := range ops {
				if !c.seen[op] {
					t.Errorf("%s is never called by this test", op)
				}
			}
		})
	}
}

// TestOpenAPIAccountsAnswers calls every accounts operation on both stores,
// with successes and errors, and checks the answers against openapi.json.
func TestOpenAPIAccountsAnswers(t *testing.T) {
	t.Parallel()
	checkAccountsContract(t, accountsOperations, func(t *testing.T, e *signInEnv, c *contractChecker) {
		e.newAccount("boss@example.com", "the boss password", true)
		memberID := e.newAccount("member@example.com", "the member password", false)
		boss := e.passwordToken("boss@example.com", "the boss password").AccessToken
		member := e.passwordToken("member@example.com", "the member password").AccessToken

		const inv = "/admin/invitations"
		c.call(inv, c.req("POST", inv, boss, map[string]any{"email": "new@example.com", "admin": true}))
		c.call(inv, c.req("POST", inv, boss, map[string]any{"email": "nope"}))
		c.call(inv, c.req("POST", inv, boss, "email=x"))
		c.call(inv, c.req("POST", inv, member, map[string]any{"email": "new@example.com"}))
		c.call(inv, c.req("POST", inv, "", map[string]any{"email": "new@example.com"}))
		c.call(inv, c.req("POST", inv, boss, url.Values{"email": {"page@example.com"}}))
		// The page's form, refused: the page again, the reason above the form.
		resp, body := c.call(inv, c.req("POST", inv, boss, url.Values{"email": {"a@b"}}))
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(body), `id="invite-error">email must be an email address`) {
			t.Errorf("the admin page's invitation of a@b: %d %s %.300s, want the page with the reason", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		const re = "/admin/users/{id}/reinvite"
		c.call(re, c.req("POST", "/admin/users/"+e.userIDOf(e.newUser("oidc"))+"/reinvite", boss, nil))
		c.call(re, c.req("POST", "/admin/users/0123456789abcdef0123456789abcdef/reinvite", boss, nil))
		_, body = c.call(re, c.req("POST", "/admin/users/"+memberID+"/reinvite", boss, nil))
		link := strings.TrimPrefix(decode[struct {
			Invitation invitationJSON `json:"invitation"`
		}](t, body).Invitation.URL, "http://dropp.test")

		const page = "/invite/{token}"
		c.call(page, c.req("GET", link, "", nil))
		c.call(page, c.req("GET", "/invite/nosuchinvitation", "", nil))
		c.call(page, c.req("POST", link, "", url.Values{"password": {"short"}, "confirm": {"short"}}))
		c.call(page, c.req("POST", link, "", "password=x"))
		c.call(page, c.req("POST", link, "", url.Values{"password": {"the new password"}, "confirm": {"the new password"}}))
		c.call(page, c.req("POST", link, "", url.Values{"password": {"the new password"}, "confirm": {"the new password"}}))

		const pw = "/auth/password"
		c.call(pw, c.req("POST", pw, "", url.Values{"email": {"member@example.com"}, "password": {"the member password"}}))
		c.call(pw, c.req("POST", pw, "", url.Values{"email": {"member@example.com"}, "password": {"the new password"}}))
		c.call(pw, c.req("POST", pw, "", url.Values{"email": {"member@example.com"}}))
		cross := c.req("POST", pw, "", url.Values{"email": {"member@example.com"}, "password": {"x"}})
		cross.Header.Set("Sec-Fetch-Site", "cross-site")
		c.call(pw, cross)
		a := newTestApp()
		c.call(pw, c.req("POST", pw, "", url.Values{"email": {"member@example.com"}, "password": {"the new password"},
			"code_challenge": {a.challenge}, "code_challenge_method": {"S256"}, "redirect_uri": {a.redirectURI}}))

	})
}

// TestOIDCAndAccounts: with SIGNIN=oidc,accounts the sign-in page offers
// both; the desktop app lands on it, its provider button keeps the app's
// request, and an OpenID user and an account each get a token.
func TestOIDCAndAccounts(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	e := newSignInEnv(t, p, map[string]string{"SIGNIN": "oidc,accounts", "PUBLIC_URL": "http://dropp.test"}, cheapHashes)
	a := newTestApp()
	resp, body := e.do(request{method: "GET", path: "/login/" + a.query()})
	wantPage(t, resp, body, http.StatusOK)
	button := `href="/auth/google` + strings.ReplaceAll(a.query(), "&", "&amp;") + `&amp;via=oidc"`
	if !bytes.Contains(body, []byte(`id="password-form"`)) || !bytes.Contains(body, []byte(button)) {
		t.Fatalf("/login/ should offer the password form and %s:\n%s", button, body)
	}
	b := newTestBrowser(t, e.URL, p.URL)
	resp, body = b.follow(e.URL + "/auth/google" + a.query() + "&via=oidc")
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), a.redirectURI+"?") {
		t.Fatalf("provider sign-in: %d %v; %s", resp.StatusCode, loc, body)
	}
	resp, body = e.redeem(a, loc.Query().Get("code"))
	wantStatus(t, resp, body, http.StatusOK)
	if u := decode[tokenOut](t, body).User; u.Email != "alice@example.com" {
		t.Fatalf("OpenID user %+v", u)
	}
	e.newAccount("bob@example.com", "bob's own password", false)
	if u := e.passwordToken("bob@example.com", "bob's own password").User; u.Email != "bob@example.com" {
		t.Fatalf("account %+v", u)
	}
}

// desktopCode signs in with a password through the desktop flow and
// returns the one-time code, not redeemed yet.
func (e *signInEnv) desktopCode(email, pw string, a testApp) string {
	e.t.Helper()
	resp, body := e.signInPassword(email, pw, &a, nil)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		e.t.Fatalf("password sign-in: %d %v; %s", resp.StatusCode, loc, body)
	}
	return loc.Query().Get("code")
}

// heldPost sends a POST's headers and all of its body but the last byte,
// so that the handler has authenticated the request and waits for the
// rest; finish sends the last byte and reads the answer.
func heldPost(t *testing.T, base, path string, header map[string]string, body string) (finish func() (*http.Response, string)) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n" + body[:len(body)-1])
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the handler has authenticated the request and reads the body
	return func() (*http.Response, string) {
		t.Helper()
		if _, err := io.WriteString(conn, body[len(body)-1:]); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(data)
	}
}

// TestResetEndsCodeIssuedBefore: a desktop one-time code issued by a
// sign-in with the old password (whoever knew it, the reason for a
// reset) is refused once the account is reset, like its sessions.
func TestResetEndsCodeIssuedBefore(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("member@example.com", "the old password", false)
		a := newTestApp()
		code := e.desktopCode("member@example.com", "the old password", a)
		resp, body := e.setPassword(e.invite("member@example.com", false), "the new password")
		wantStatus(t, resp, body, http.StatusSeeOther)
		resp, body = e.redeem(a, code)
		if resp.StatusCode != http.StatusBadRequest || decode[oauthError](t, body).Error != "invalid_grant" {
			t.Errorf("a code issued before the reset, redeemed after it: %d %s; want 400 invalid_grant", resp.StatusCode, body)
		}
		if tok := e.passwordToken("member@example.com", "the new password"); tok.AccessToken == "" {
			t.Error("the new password's desktop sign-in got no token")
		}
	})
}

// TestResetVoidsSignInInFlight: a sign-in with the old password that read
// the account before the reset and verifies the old hash while the reset
// runs (sign-ins queue for the hash slots, which strangers can keep busy)
// gets no session that outlives the reset.
func TestResetVoidsSignInInFlight(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("member@example.com", "the old password", false)
		hasher := e.srv.signIn.accounts.hasher
		newPHC, err := hasher.hash(t.Context(), "the new password")
		if err != nil {
			t.Fatal(err)
		}
		hasher.dummy() // computed now, not while the slots are held
		link := e.invite("member@example.com", false)
		token := link[strings.LastIndexByte(link, '/')+1:]
		for range cap(hasher.slots) {
			hasher.slots <- struct{}{} // every slot busy: the sign-in reads the account, then waits
		}
		done := make(chan *http.Response, 1)
		go func() {
			resp, _ := e.signInPassword("member@example.com", "the old password", nil, nil)
			done <- resp
		}()
		time.Sleep(300 * time.Millisecond)
		if err := e.srv.useInvitation(t.Context(), hashSecret(token), newPHC, nil); err != nil {
			t.Fatal(err)
		}
		for range cap(hasher.slots) {
			<-hasher.slots
		}
		resp := <-done
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a sign-in with the old password in flight during the reset: %d; want 401", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if status, _ := e.me(cookieHeader(c)); status == http.StatusOK {
				t.Errorf("its cookie %s answers /me 200 after the reset", c.Name)
			}
		}
	})
}

// TestUsedInvitationEndsTheOthers: once an invitation sets the account's
// password, the email's other invitations (a re-invite after the first
// link was thought lost, two administrators inviting) no longer reset it.
func TestUsedInvitationEndsTheOthers(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		first := e.invite("alice@example.com", false)
		second := e.invite("alice@example.com", false)
		bob := e.invite("bob@example.com", false)
		resp, body := e.setPassword(first, "alice's own password")
		wantStatus(t, resp, body, http.StatusSeeOther)
		resp, body = e.setPassword(second, "the holder's password")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("alice's second invitation, used after she set her password: %d; want 404", resp.StatusCode)
		}
		if tok := e.passwordToken("alice@example.com", "alice's own password"); tok.AccessToken == "" {
			t.Error("alice's own password no longer signs in")
		}
		resp, body = e.setPassword(bob, "bob's own password")
		wantStatus(t, resp, body, http.StatusSeeOther)
	})
}

// TestSignInOffAllowListRefused: an account taken off the allow-lists
// (ALLOWED_EMAIL_DOMAINS changed) is refused at its password sign-in as a
// provider user is (403, or access_denied for the desktop app), rather
// than get a session every request refuses; and a code it was issued
// before is not redeemed.
func TestSignInOffAllowListRefused(t *testing.T) {
	t.Parallel()
	eachAccountStore(t, nil, func(t *testing.T, e *signInEnv) {
		e.newAccount("alice@old.example", "alice's long password", false)
		before := newTestApp()
		code := e.desktopCode("alice@old.example", "alice's long password", before)
		e.srv.cfg.AllowedDomains = []string{"new.example"} // as after a restart with the new list
		resp, body := e.signInPassword("alice@old.example", "alice's long password", nil, nil)
		wantPage(t, resp, body, http.StatusForbidden)
		a := newTestApp()
		resp, _ = e.signInPassword("alice@old.example", "alice's long password", &a, nil)
		loc, err := resp.Location()
		if err != nil || loc.Query().Get("error") != "access_denied" || loc.Query().Has("code") {
			t.Errorf("desktop sign-in off the allow-lists: %d to %v; want error=access_denied", resp.StatusCode, loc)
		}
		resp, body = e.redeem(before, code)
		if resp.StatusCode != http.StatusBadRequest || decode[oauthError](t, body).Error != "invalid_grant" {
			t.Errorf("a code redeemed after its account left the allow-lists: %d %s; want 400 invalid_grant", resp.StatusCode, body)
		}
	})
}

// TestStoresKeepResetsAndInvitations: every store keeps an account's
// credentials reset mark (the local one also in its log, read back on
// reopening), deletes one email's invitations and no other's, and
// deletes a single passkey.
func TestStoresKeepResetsAndInvitations(t *testing.T) {
	t.Parallel()
	type stored struct {
		user    User
		passkey string
	}
	at := time.Date(2026, 12, 7, 23, 30, 0, 123_000_000, time.UTC)
	insert := func(t *testing.T, s Store) stored {
		ctx := t.Context()
		u, err := s.UpsertUser(ctx, User{Issuer: accountsIssuer, Subject: "a@example.com", Email: "a@example.com"})
		if err == nil {
			err = s.MarkCredentialsReset(ctx, u.ID, at)
		}
		pks := []Passkey{{ID: "a2VlcA", UserID: u.ID, Name: "kept", CreatedAt: at}, {ID: "Z29uZQ", UserID: u.ID, Name: "gone", CreatedAt: at}}
		for _, pk := range pks {
			if err == nil {
				err = s.InsertPasskey(ctx, pk)
			}
		}
		if err == nil {
			err = s.DeletePasskey(ctx, pks[1].ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		u.CredentialsResetAt = at
		return stored{u, pks[0].ID}
	}
	check := func(t *testing.T, s Store, want stored) {
		ctx := t.Context()
		u, err := s.GetUser(ctx, want.user.ID)
		if err != nil || !u.CredentialsResetAt.Equal(at) {
			t.Errorf("the user's credentials reset at %v (%v), want %v", u.CredentialsResetAt, err, at)
		}
		if pks, err := s.UserPasskeys(ctx, want.user.ID); err != nil || len(pks) != 1 || pks[0].ID != want.passkey {
			t.Errorf("passkeys after deleting one: %+v %v, want %s alone", pks, err, want.passkey)
		}
	}
	onEachStoreReplayed(t, insert, check)
	onEachStore(t, func(t *testing.T, s Store) {
		ctx, now := t.Context(), time.Now()
		var hashes []string
		for _, email := range []string{"a@example.com", "a@example.com", "b@example.com"} {
			inv := Invitation{Hash: hashSecret(newSecret(32)), Email: email, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.InsertInvitation(ctx, inv); err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, inv.Hash)
		}
		if n, err := s.DeleteInvitations(ctx, "a@example.com"); err != nil || n != 2 {
			t.Errorf("DeleteInvitations(a) = %d, %v; want 2", n, err)
		}
		for i, hash := range hashes {
			_, err := s.GetInvitation(ctx, hash, now)
			if gone := errors.Is(err, ErrNotFound); gone != (i < 2) {
				t.Errorf("invitation %d: %v after deleting a's", i, err)
			}
		}
	})
}
