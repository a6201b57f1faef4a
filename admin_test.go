package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// adminUserOut is a user as GET /admin/users shows it, as a client reads it.
type adminUserOut struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	CreatedAt  *time.Time `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	Usage      usageOut   `json:"usage"`
	Disabled   bool       `json:"disabled"`
}

// adminTeam is a server with an administrator and a member, each with a
// bearer token.
type adminTeam struct {
	apiTester
	bossToken, memberToken string
	bossID, memberID       string
}

// newAdminTeam starts a MongoDB server whose ADMIN_EMAILS names boss@example.com.
func newAdminTeam(t *testing.T, env map[string]string) adminTeam {
	t.Helper()
	vars := map[string]string{"ADMIN_EMAILS": "Boss@example.com, other@example.com", "QUOTA_BYTES_PER_USER": "1000"}
	for k, v := range env {
		vars[k] = v
	}
	a := newAPITester(t, vars)
	team := adminTeam{apiTester: a, bossToken: a.newUser("boss"), memberToken: a.newUser("member")}
	team.bossID, team.memberID = a.userID(team.bossToken), a.userID(team.memberToken)
	return team
}

// TestAdminAuthorization: the admin API answers 401 signed out and 403 to
// a non-administrator, on every route; an administrator gets the users.
func TestAdminAuthorization(t *testing.T) {
	t.Parallel()
	team := newAdminTeam(t, nil)
	routes := []request{
		{method: "GET", path: "/admin/users"},
		{method: "POST", path: "/admin/users/" + team.memberID + "/disable"},
		{method: "POST", path: "/admin/users/" + team.memberID + "/enable"},
	}
	for _, r := range routes {
		resp, body := team.do(r)
		wantStatus(t, resp, body, http.StatusUnauthorized)
		r.token = team.memberToken
		resp, body = team.do(r)
		wantStatus(t, resp, body, http.StatusForbidden)
		apiWantHeaders(t, resp)
	}
	team.create(team.memberToken, map[string]any{"filename": "a.bin", "size": 300})
	resp, body := team.do(request{method: "GET", path: "/admin/users", token: team.bossToken})
	wantStatus(t, resp, body, http.StatusOK)
	users := decode[struct{ Users []adminUserOut }](t, body).Users
	if len(users) != 2 {
		t.Fatalf("GET /admin/users: %d users, want 2: %s", len(users), body)
	}
	for _, u := range users {
		if u.LastSeenAt == nil || u.Disabled || u.Usage.QuotaBytes == nil || *u.Usage.QuotaBytes != 1000 {
			t.Errorf("user %+v: want last_seen_at, enabled, quota 1000", u)
		}
		if u.Email == "member@example.com" && (u.Usage.Bytes != 300 || u.Usage.Files != 1 || u.ID != team.memberID) {
			t.Errorf("member %+v: want 300 bytes in 1 file", u)
		}
	}
	for _, path := range []string{"/admin/users/not-a-uuid/disable", "/admin/users/" + newID() + "/disable"} {
		resp, body := team.do(request{method: "POST", path: path, token: team.bossToken})
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body = team.do(request{method: "POST", path: "/admin/users/" + team.bossID + "/disable", token: team.bossToken})
	wantStatus(t, resp, body, http.StatusConflict)
}

// TestAdminDisableAuditAndEnable: disabling revokes the member's token at
// the next request and writes an audit line; enabling lets them sign in
// again (their old credentials stay revoked).
func TestAdminDisableAuditAndEnable(t *testing.T) {
	t.Parallel()
	team := newAdminTeam(t, nil)
	var logs syncBuffer
	team.srv.log = slog.New(slog.NewJSONHandler(&logs, nil))

	resp, body := team.do(request{method: "GET", path: "/me", token: team.memberToken})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = team.do(request{method: "POST", path: "/admin/users/" + team.memberID + "/disable", token: team.bossToken})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = team.do(request{method: "GET", path: "/me", token: team.memberToken})
	wantStatus(t, resp, body, http.StatusUnauthorized)

	want := []string{`"msg":"audit"`, `"actor":"` + team.bossID + `"`, `"actor_email":"boss@example.com"`,
		`"action":"disable"`, `"target":"` + team.memberID + `"`, `"target_email":"member@example.com"`, `"revoked_credentials":1`}
	line := auditLine(t, &logs, "disable")
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("audit line %s lacks %s", line, w)
		}
	}
	u, err := team.srv.store.GetUser(t.Context(), team.memberID)
	if err != nil || !u.Disabled {
		t.Fatalf("member after disable: %+v, %v", u, err)
	}
	resp, body = team.do(request{method: "POST", path: "/admin/users/" + team.memberID + "/enable", token: team.bossToken})
	wantStatus(t, resp, body, http.StatusOK)
	auditLine(t, &logs, "enable")
	if u, _ := team.srv.store.GetUser(t.Context(), team.memberID); u.Disabled {
		t.Error("member still disabled after enable")
	}
	resp, body = team.do(request{method: "GET", path: "/me", token: team.memberToken})
	wantStatus(t, resp, body, http.StatusUnauthorized)
}

// auditLine returns the audit line of action from the log, failing without one.
func auditLine(t *testing.T, logs *syncBuffer, action string) string {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"audit"`) && strings.Contains(line, `"action":"`+action+`"`) {
			return line
		}
	}
	t.Fatalf("no audit line for %s in:\n%s", action, logs.String())
	return ""
}

// TestAdminDisableOnEveryInstance: with two instances on one database, a
// member's token and session that the second instance has just accepted
// (its membership cache warm) are refused there at the next request after
// an administrator disables the member on the first; the member's sign-in
// is refused, on the browser and desktop paths, until enabled again.
func TestAdminDisableOnEveryInstance(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	vars := providerVars(t, p.URL, map[string]string{"ALLOWED_EMAIL_DOMAINS": "example.com", "ADMIN_EMAILS": "boss@example.com"})
	one := serveWithCallback(t, vars)
	two := serveWithCallback(t, vars)
	type member struct {
		token   string
		session *http.Cookie
		id      string
	}
	signIn := func(email string) member {
		p.set(func(p *fakeProvider) { p.user = fakeUser{Sub: "sub-" + email, Email: email, Verified: true} })
		tok := one.appToken(newTestBrowser(t, one.URL, p.URL))
		b := newTestBrowser(t, one.URL, p.URL)
		b.follow(one.URL + "/auth/google")
		return member{tok.AccessToken, &http.Cookie{Name: sessionCookie, Value: b.cookie(one.URL, sessionCookie)}, tok.User.ID}
	}
	boss, alice := signIn("boss@example.com"), signIn("alice@example.com")
	resp, body := one.do(request{method: "GET", path: "/admin/users", header: bearer(boss.token)})
	wantStatus(t, resp, body, http.StatusOK)
	for _, u := range decode[struct{ Users []adminUserOut }](t, body).Users {
		if u.CreatedAt == nil || time.Since(*u.CreatedAt) > time.Minute {
			t.Errorf("user %s: created_at %v, want the sign-in's time", u.Email, u.CreatedAt)
		}
	}
	creds := map[string]map[string]string{"token": bearer(alice.token), "session": cookieHeader(alice.session)}
	for what, h := range creds {
		if status, _ := two.me(h); status != http.StatusOK {
			t.Fatalf("alice's %s on instance two: %d", what, status)
		}
	}
	resp, body = one.do(request{method: "POST", path: "/admin/users/" + alice.id + "/disable", header: bearer(boss.token)})
	wantStatus(t, resp, body, http.StatusOK)
	for what, h := range creds {
		resp, body := two.do(request{method: "GET", path: "/me", header: h})
		wantStatus(t, resp, body, http.StatusUnauthorized)
		resp, body = two.do(request{method: "GET", path: "/list/", header: h})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("alice's %s on instance two after disable: GET /list/ %d %s", what, resp.StatusCode, body)
		}
	}

	// Signing in again is refused while disabled, in a browser and for the app.
	b := newTestBrowser(t, two.URL, p.URL)
	resp, body = b.follow(two.URL + "/auth/google")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "disabled by an administrator") {
		t.Errorf("sign-in while disabled: %d %s", resp.StatusCode, body)
	}
	if b.cookie(two.URL, sessionCookie) != "" {
		t.Error("a disabled user's sign-in set a session cookie")
	}
	a := newTestApp()
	resp, _ = b.follow(two.URL + "/auth/google" + a.query())
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("desktop sign-in while disabled: %d, want 403", resp.StatusCode)
	}

	resp, body = two.do(request{method: "POST", path: "/admin/users/" + alice.id + "/enable", header: bearer(boss.token)})
	wantStatus(t, resp, body, http.StatusOK)
	again := signIn("alice@example.com")
	if status, _ := two.me(bearer(again.token)); status != http.StatusOK {
		t.Errorf("alice signed in again after enable: %d", status)
	}
}

// TestAdminPage: /admin/ sends a signed-out browser to sign in, shows the
// users with usage bars under its own CSP to an administrator, and its
// forms' posts are refused from another origin.
func TestAdminPage(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, map[string]string{"ADMIN_EMAILS": "you@localhost", "QUOTA_BYTES_PER_USER": "1000"})
	resp, _ := e.do(request{method: "GET", path: "/admin/"})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login/" {
		t.Errorf("signed out: %d to %q, want 303 to /login/", resp.StatusCode, loc)
	}
	admin := e.sessionCookie(t)
	member := (&testEnv{t: t, srv: e.srv}).newUser("member")
	memberID := apiTester{e.testEnv}.userID(member)

	resp, body := e.do(request{method: "GET", path: "/admin/", header: cookieHeader(admin)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin page: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'sha256-") || !strings.Contains(csp, "script-src 'none'") || csp == e.srv.signIn.csp {
		t.Errorf("admin page CSP %q: want its own style hash and no script", csp)
	}
	for _, want := range []string{"member@example.com", "you@localhost", "<progress", `action="/admin/users/` + memberID + `/disable"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("admin page lacks %q", want)
		}
	}

	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	cross := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	for k, v := range cookieHeader(admin) {
		form[k], cross[k] = v, v
	}
	for k, v := range form {
		cross[k] = v
	}
	resp, body = e.do(request{method: "POST", path: "/admin/users/" + memberID + "/disable", body: "", header: cross})
	wantStatus(t, resp, body, http.StatusForbidden)
	if u, _ := e.srv.store.GetUser(t.Context(), memberID); u.Disabled {
		t.Fatal("a cross-origin post disabled the member")
	}
	form["Origin"], form["Sec-Fetch-Site"] = e.URL, "same-origin"
	resp, _ = e.do(request{method: "POST", path: "/admin/users/" + memberID + "/disable", body: "", header: form})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("form post: %d to %q, want 303 to /admin/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if u, _ := e.srv.store.GetUser(t.Context(), memberID); !u.Disabled {
		t.Error("the same-origin form post did not disable the member")
	}
	_, body = e.do(request{method: "GET", path: "/admin/", header: cookieHeader(admin)})
	if !bytes.Contains(body, []byte(`action="/admin/users/`+memberID+`/enable"`)) {
		t.Error("admin page shows no Enable button for the disabled member")
	}
}

// TestAdminUsageTextCountsFiles: the admin page writes "1 file", not
// "1 files", with and without a file quota.
func TestAdminUsageTextCountsFiles(t *testing.T) {
	t.Parallel()
	one, hundred := int64(1), int64(100)
	for _, c := range []struct {
		u    usageJSON
		want string
	}{
		{usageJSON{Bytes: 23, Files: 1}, "23 bytes, 1 file"},
		{usageJSON{Bytes: 0, Files: 0}, "0 bytes, 0 files"},
		{usageJSON{Bytes: 46, Files: 2}, "46 bytes, 2 files"},
		{usageJSON{Bytes: 23, Files: 1, QuotaFiles: &hundred}, "23 bytes, 1 of 100 files"},
		{usageJSON{Bytes: 23, Files: 1, QuotaFiles: &one}, "23 bytes, 1 of 1 file"},
	} {
		if got := (&server{}).usageText(c.u); got != c.want {
			t.Errorf("usageText(%+v) = %q, want %q", c.u, got, c.want)
		}
	}
}

// TestAdminPageRefusesNonAdmins: a signed-in user not on ADMIN_EMAILS gets
// a 403 page.
func TestAdminPageRefusesNonAdmins(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, map[string]string{"ADMIN_EMAILS": "someone@else.example"})
	resp, body := e.do(request{method: "GET", path: "/admin/", header: cookieHeader(e.sessionCookie(t))})
	if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("Only administrators")) {
		t.Errorf("non-admin: %d %s", resp.StatusCode, body)
	}
}

// disablingStore is a Store on which an administrator disables a user in
// the instant between sign-in's check and its credential's creation.
type disablingStore struct {
	Store
	victim string
}

// InsertCredential lets the disable land first, as admin.setDisabled does
// it: the flag, then the credentials.
func (d *disablingStore) InsertCredential(ctx context.Context, c Credential) error {
	if c.UserID == d.victim {
		if err := d.Store.SetUserDisabled(ctx, c.UserID, true); err != nil {
			return err
		}
		if _, err := d.Store.DeleteUserCredentials(ctx, c.UserID); err != nil {
			return err
		}
	}
	return d.Store.InsertCredential(ctx, c)
}

// TestAdminDisableRacingSignIn: a disable that lands while a sign-in or a
// code redemption is past its check still leaves the user no credential.
func TestAdminDisableRacingSignIn(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	e.sessionCookie(t) // creates the local user
	users, err := e.srv.store.ListUsers(t.Context())
	if err != nil || len(users) != 1 {
		t.Fatalf("users %v, %v", users, err)
	}
	victim := users[0].ID
	e.srv.store = &disablingStore{Store: e.srv.store, victim: victim}

	resp, body := newTestBrowser(t).get(e.URL + "/auth/google")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "disabled by an administrator") {
		t.Errorf("browser sign-in racing a disable: %d %s", resp.StatusCode, body)
	}
	if n, _ := e.srv.store.DeleteUserCredentials(t.Context(), victim); n != 0 {
		t.Errorf("%d credentials survived a disable racing the sign-in", n)
	}

	ctMust(t, "enable", e.srv.store.SetUserDisabled(t.Context(), victim, false))
	code := newSecret(32)
	a := newTestApp()
	ctMust(t, "code", e.srv.store.InsertAuthCode(t.Context(), AuthCode{Hash: hashSecret(code), UserID: victim,
		CodeChallenge: a.challenge, RedirectURI: a.redirectURI, ExpiresAt: time.Now().Add(time.Minute)}))
	resp, body = e.redeem(a, code)
	wantOAuthError(t, resp, body, "invalid_grant")
	if !strings.Contains(string(body), "disabled by an administrator") {
		t.Errorf("code redemption racing a disable: %s does not say the account is disabled", body)
	}
	if n, _ := e.srv.store.DeleteUserCredentials(t.Context(), victim); n != 0 {
		t.Errorf("%d credentials survived a disable racing the redemption", n)
	}
}

// TestAdminNeedsVerifiedEmail: an account whose provider did not verify its
// email is no administrator, whatever address it claims (with no
// allow-list set, sign-in takes such accounts); verified, the same address
// is.
func TestAdminNeedsVerifiedEmail(t *testing.T) {
	t.Parallel()
	team := newAdminTeam(t, nil)
	ctx := context.Background()
	for _, verified := range []bool{false, true} {
		u, err := team.srv.store.UpsertUser(ctx, User{Issuer: "test", Subject: "claims-boss", Email: "boss@example.com", EmailVerified: verified})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := team.srv.issueToken(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := team.do(request{method: "GET", path: "/admin/users", token: tok})
		want := map[bool]int{false: http.StatusForbidden, true: http.StatusOK}[verified]
		wantStatus(t, resp, body, want)
	}
}

// TestAdminUsersUsageInOneQuery, on each store, with and without a quota
// (MongoDB then keeps a ledger, or sums the files): GET /admin/users makes
// no per-user usage call, and shows each user the usage GetUsage gives,
// for users with pending, complete and pre-quota files, and without any.
func TestAdminUsersUsageInOneQuery(t *testing.T) {
	t.Parallel()
	quotas := map[string]map[string]string{"quota": {"QUOTA_BYTES_PER_USER": "1000000"}, "no quota": {}}
	for name, start := range envStarters {
		for quota, env := range quotas {
			t.Run(name+"/"+quota, func(t *testing.T) {
				t.Parallel()
				a := apiTester{start(t, map[string]string{"ADMIN_EMAILS": "boss@example.com", "QUOTA_BYTES_PER_USER": env["QUOTA_BYTES_PER_USER"]})}
				boss := a.newUser("boss")
				for i := range 3 {
					tok := a.newUser(fmt.Sprintf("user%d", i))
					for j := range i + 1 {
						a.create(tok, map[string]any{"filename": "pending.bin", "size": 100*i + j + 1})
					}
					a.stored(tok, map[string]any{"filename": "done.bin", "size": 10 + i}, bytes.Repeat([]byte("x"), 10+i))
				}
				legacy := a.userID(a.newUser("legacy"))
				old := ctFile(legacy, ctNow()) // stored before quotas: no charge
				old.Charged = 0
				ctInsert(t, a.srv.store, old)
				a.newUser("idle")

				counting := &countingStore{Store: a.srv.store}
				a.srv.store = counting
				resp, body := a.do(request{method: "GET", path: "/admin/users", token: boss})
				wantStatus(t, resp, body, http.StatusOK)
				if n := counting.getUsage.Load(); n != 0 {
					t.Errorf("GET /admin/users made %d GetUsage calls, want none", n)
				}
				users := decode[struct{ Users []adminUserOut }](t, body).Users
				if len(users) != 6 {
					t.Fatalf("%d users, want 6: %s", len(users), body)
				}
				withFiles := 0
				for _, u := range users {
					want, err := counting.Store.GetUsage(t.Context(), u.ID)
					ctMust(t, "GetUsage", err)
					if u.Usage.Bytes != want.Bytes || u.Usage.Files != want.Files {
						t.Errorf("%s: usage %d bytes in %d files, GetUsage says %+v", u.Email, u.Usage.Bytes, u.Usage.Files, want)
					}
					if want.Files > 0 {
						withFiles++
					}
				}
				if withFiles != 4 {
					t.Errorf("%d users with files, want 4", withFiles)
				}
			})
		}
	}
}

// TestAdminDisableHoldsOnEveryPathIn, on each metadata store: a disabled
// user gets 401 through every way in (a trusted proxy's X-User-Id, a
// bearer token, a session cookie, and the admin API and page), even with
// a credential the disable did not delete (one a sign-in racing it
// stored); enabled again, the proxy's user is let in again.
func TestAdminDisableHoldsOnEveryPathIn(t *testing.T) {
	t.Parallel()
	for name, start := range envStarters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := proxyAuthEnv()
			env["ADMIN_EMAILS"] = "boss@example.com"
			e := start(t, env)
			a := apiTester{e}
			bossToken, memberToken := e.newUser("boss"), e.newUser("member")
			bossID, memberID := a.userID(bossToken), a.userID(memberToken)
			session := func(userID string) map[string]string {
				w := httptest.NewRecorder()
				if _, err := e.srv.startSession(w, httptest.NewRequest("GET", e.URL+"/", nil), userID); err != nil {
					t.Fatal(err)
				}
				return cookieHeader(w.Result().Cookies()[0])
			}
			pat := func(userID string) map[string]string { // a personal access token, stored as POST /tokens stores one
				secret := patPrefix + newSecret(32)
				c := Credential{Hash: hashSecret(secret), Kind: kindPAT, UserID: userID, TokenID: newID(), Name: "pat",
					Scope: scopeFilesRead, CreatedAt: e.srv.now(), ExpiresAt: e.srv.now().Add(time.Hour)}
				if err := e.srv.store.InsertCredential(t.Context(), c); err != nil {
					t.Fatal(err)
				}
				return bearer(secret)
			}
			ways := map[string]map[string]string{
				"X-User-Id": {"X-User-Id": memberID},
				"bearer":    bearer(memberToken),
				"session":   session(memberID),
				"pat":       pat(memberID),
			}
			wantMe := func(status int) {
				t.Helper()
				for way, h := range ways {
					for _, path := range []string{"/me", "/list/"} {
						resp, body := e.do(request{method: "GET", path: path, header: h})
						if resp.StatusCode != status {
							t.Errorf("%s GET %s: %d %s, want %d", way, path, resp.StatusCode, body, status)
						}
					}
				}
			}
			wantMe(http.StatusOK)

			// The issue's case: disabled through the admin API, the proxy's
			// header still got in.
			resp, body := e.do(request{method: "POST", path: "/admin/users/" + memberID + "/disable", token: bossToken})
			wantStatus(t, resp, body, http.StatusOK)
			resp, body = e.do(request{method: "GET", path: "/me", header: ways["X-User-Id"]})
			wantStatus(t, resp, body, http.StatusUnauthorized)

			// Credentials the disable did not delete (stored after it).
			ways["bearer"], ways["session"], ways["pat"] = bearer(e.newUserToken(memberID)), session(memberID), pat(memberID)
			wantMe(http.StatusUnauthorized)
			if err := e.srv.store.SetUserDisabled(t.Context(), memberID, false); err != nil {
				t.Fatal(err)
			}
			wantMe(http.StatusOK)

			// An administrator disabled (by another one) loses the admin API and page.
			adminSession := session(bossID)
			if err := e.srv.store.SetUserDisabled(t.Context(), bossID, true); err != nil {
				t.Fatal(err)
			}
			resp, body = e.do(request{method: "GET", path: "/admin/users", token: bossToken})
			wantStatus(t, resp, body, http.StatusUnauthorized)
			resp, body = e.do(request{method: "GET", path: "/admin/", header: adminSession})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/" {
				t.Errorf("GET /admin/ with a disabled administrator's session: %d %s, want 303 to /login/", resp.StatusCode, body)
			}
		})
	}
}

// newUserToken issues another bearer token for an existing user.
func (e *testEnv) newUserToken(userID string) string {
	e.t.Helper()
	tok, _, err := e.srv.issueToken(context.Background(), userID)
	if err != nil {
		e.t.Fatalf("issue token: %v", err)
	}
	return tok
}

// TestAdminsDisablingEachOtherLeaveOne: two administrators (the only two)
// press Disable on each other at the same moment; at most one of the two
// disables stands, so an administrator is left to enable the other.
func TestAdminsDisablingEachOtherLeaveOne(t *testing.T) {
	t.Parallel()
	e := newAccountsEnv(t, "local", map[string]string{"AUTH_RATE_LIMIT": "100000"})
	for round := range 20 {
		aEmail, bEmail := fmt.Sprintf("a%d@example.com", round), fmt.Sprintf("b%d@example.com", round)
		aID := e.newAccount(aEmail, "admin a's long password", true)
		bID := e.newAccount(bEmail, "admin b's long password", true)
		a, b := e.passwordToken(aEmail, "admin a's long password"), e.passwordToken(bEmail, "admin b's long password")
		start := make(chan struct{})
		statuses := make(chan int, 2)
		for _, c := range []struct{ tok, target string }{{a.AccessToken, bID}, {b.AccessToken, aID}} {
			go func() {
				<-start
				req, _ := http.NewRequest("POST", e.URL+"/admin/users/"+c.target+"/disable", nil)
				req.Header.Set("Authorization", "Bearer "+c.tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		close(start)
		s1, s2 := <-statuses, <-statuses
		ua, errA := e.srv.store.GetUser(t.Context(), aID)
		ub, errB := e.srv.store.GetUser(t.Context(), bID)
		if errA != nil || errB != nil || ua.Disabled && ub.Disabled {
			t.Fatalf("round %d: two administrators disabled each other (%d, %d): both disabled %v %v (%v, %v); want one left", round, s1, s2, ua.Disabled, ub.Disabled, errA, errB)
		}
		if s1 == http.StatusOK && s2 == http.StatusOK {
			t.Fatalf("round %d: both disables answered 200", round)
		}
	}
}
