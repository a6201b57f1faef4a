package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLogoutRevokesEveryCredentialPresented: a sign-out that carries both a
// bearer token and a session cookie ends both, and clears the cookie.
func TestLogoutRevokesEveryCredentialPresented(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	c := e.sessionCookie(t)
	tok := e.newUser("both")
	header := cookieHeader(c)
	header["Authorization"] = "Bearer " + tok
	resp, body := e.do(request{method: "POST", path: "/auth/logout", header: header})
	wantStatus(t, resp, body, http.StatusNoContent)
	if status, _ := e.me(bearer(tok)); status != http.StatusUnauthorized {
		t.Errorf("bearer token after logout: %d, want 401", status)
	}
	if status, _ := e.me(cookieHeader(c)); status != http.StatusUnauthorized {
		t.Errorf("session cookie after logout: %d, want 401", status)
	}
	cleared := false
	for _, set := range resp.Cookies() {
		cleared = cleared || set.Name == c.Name && set.MaxAge < 0
	}
	if !cleared {
		t.Errorf("logout Set-Cookie %v, want the session cookie cleared", resp.Header["Set-Cookie"])
	}
}

// TestSignOutWithEndedSession: the page's Sign out, posted by a browser
// whose session has ended already (a second tab after the first signed
// out, or none at all), lands on /login/ with the cookie cleared, as a
// live one does, never on a JSON 401; an API caller without a live
// credential still gets the documented 401.
func TestSignOutWithEndedSession(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	c := e.sessionCookie(t)
	form := func(cookie *http.Cookie) map[string]string {
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html",
			"Origin": e.URL, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
		if cookie != nil {
			h["Cookie"] = cookie.Name + "=" + cookie.Value
		}
		return h
	}
	for _, tab := range []string{"first tab", "second tab"} {
		resp, body := e.do(request{method: "POST", path: "/auth/logout", body: "", header: form(c)})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/" {
			t.Errorf("%s's Sign out: %d to %q; %s; want 303 to /login/", tab, resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if cleared := resp.Cookies(); len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 {
			t.Errorf("%s's Sign out Set-Cookie %v, want the session cookie cleared", tab, resp.Header["Set-Cookie"])
		}
	}
	resp, body := e.do(request{method: "POST", path: "/auth/logout", body: "", header: form(nil)})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/" {
		t.Errorf("Sign out without a cookie: %d to %q; want 303 to /login/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = e.do(request{method: "POST", path: "/auth/logout", header: cookieHeader(c)})
	wantStatus(t, resp, body, http.StatusUnauthorized)
	resp, body = e.do(request{method: "POST", path: "/auth/logout", body: "", header: map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Cookie": c.Name + "=" + c.Value, "Sec-Fetch-Site": "cross-site",
	}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Errorf("a cross-site Sign out: %d; want it refused as before", resp.StatusCode)
	}
}

// TestTokenJSONIsStrict: a JSON token request is read as strictly as the
// API's bodies: unknown fields, trailing data, a field given twice and a
// field name in another case are invalid_request, and do not burn the code.
func TestTokenJSONIsStrict(t *testing.T) {
	t.Parallel()
	e := newSignInEnv(t, nil, nil)
	cases := []struct {
		name, want string
		body       func(a testApp, code string) string
	}{
		{"unknown field", `unknown field "scope"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q,"redirect_uri":%q,"scope":"all"}`, code, a.verifier, a.redirectURI)
		}},
		{"trailing data", "not a valid token request", func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"code_verifier":%q,"redirect_uri":%q} {}`, code, a.verifier, a.redirectURI)
		}},
		{"duplicate field", `duplicate field "code"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":"decoy","code":%q,"code_verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
		{"upper-case field", `unknown field "CODE"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","CODE":%q,"code_verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
		{"mixed-case field", `unknown field "Code_Verifier"`, func(a testApp, code string) string {
			return fmt.Sprintf(`{"grant_type":"authorization_code","code":%q,"Code_Verifier":%q,"redirect_uri":%q}`, code, a.verifier, a.redirectURI)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp()
			code := e.signInApp(newTestBrowser(t, e.URL), a)
			resp, body := e.postToken("application/json", tc.body(a, code))
			wantOAuthError(t, resp, body, "invalid_request")
			if d := decode[oauthErrorOut](t, body).Description; !strings.Contains(d, tc.want) {
				t.Errorf("error_description %q, want it to say %q", d, tc.want)
			}
			resp, body = e.redeem(a, code)
			wantStatus(t, resp, body, http.StatusOK)
		})
	}
}
