//go:build unix

package main

import (
	"maps"
	"net"
	"strings"
	"testing"
)

// TestPasskeyInChromium: an invitee opens the invitation link in Chromium,
// which has a DevTools virtual authenticator (CTAP2, resident keys, user
// verification), and chooses "Use a passkey"; then, in a fresh page of a
// fresh browser context (no cookies) holding the same credential, "Sign in
// with a passkey" reaches the web page. Real clicks, under the pages' own
// CSP, on the local store and on MongoDB with S3.
func TestPasskeyInChromium(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	for _, metadata := range accountStores {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			e := newPasskeyBrowserEnv(t, metadata)
			path := e.invite("member@example.com", false)
			c := startChromium(t)
			page := openPage(t, c)
			auth := addVirtualAuthenticator(t, c, page)
			navigate(t, c, page, e.URL+path)
			waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Use a passkey") })
			registerPasskey(t, c, page)

			fresh := openFreshPage(t, c)
			copyPasskeys(t, c, page, auth, fresh, addVirtualAuthenticator(t, c, fresh))
			navigate(t, c, fresh, e.URL+"/login/")
			signInWithPasskey(t, c, fresh)
			var email string
			if err := c.evaluate(fresh, `fetch("/me").then(r => r.json()).then(b => b.user.email)`, &email); err != nil || email != "member@example.com" {
				t.Fatalf("/me after the passkey sign-in: %q, %v", email, err)
			}
		})
	}
}

// TestAddPasskeyInChromium: an account signed in with its password clicks
// "Add a passkey" on /login/, then signs out and back in with the passkey.
func TestAddPasskeyInChromium(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	e := newPasskeyBrowserEnv(t, "local")
	e.newAccount("pat@example.com", "pat's long password", false)
	c := startChromium(t)
	page := openPage(t, c)
	addVirtualAuthenticator(t, c, page)
	navigate(t, c, page, e.URL+"/login/")
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Sign in with a passkey") })
	typeInto(t, c, page, "email-input", "pat@example.com")
	typeInto(t, c, page, "password-input", "pat's long password")
	clickInView(t, c, page, "#password-sign-in")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/" })
	navigate(t, c, page, e.URL+"/login/")
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Add a passkey") })
	clickInView(t, c, page, "#add-passkey")
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Your passkey is added") })
	clickInView(t, c, page, `form[action="/auth/logout"] button`) // back to /login/, signed out
	signInWithPasskey(t, c, page)
}

// newPasskeyBrowserEnv starts an accounts server on metadata ("local" or
// "mongodb" with S3) whose PUBLIC_URL is http://localhost:<its port>:
// WebAuthn needs a secure context (loopback counts) and a host name as the
// RP ID (an IP address is not one). Pages must be opened at its URL.
func newPasskeyBrowserEnv(t *testing.T, metadata string) *signInEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	vars := mongoS3Env(t)
	maps.Copy(vars, map[string]string{"SIGNIN": "accounts", "PUBLIC_URL": base})
	if metadata == "local" {
		vars["MONGODB_URI"], vars["AWS_S3_BUCKET"], vars["DATA_DIR"] = "", "", t.TempDir()
	}
	e := serveSignInEnv(t, ln, vars, cheapHashes)
	e.URL = base
	return e
}

// addVirtualAuthenticator gives the page a DevTools virtual authenticator
// that makes discoverable ES256 credentials, verifies its user and
// answers at once; it returns the authenticator's ID.
func addVirtualAuthenticator(t *testing.T, c *cdpClient, page string) string {
	t.Helper()
	if err := c.call(page, "WebAuthn.enable", map[string]any{"enableUI": false}, nil); err != nil {
		t.Fatal(err)
	}
	var res struct {
		AuthenticatorID string `json:"authenticatorId"`
	}
	opts := map[string]any{"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
		"hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true}
	if err := c.call(page, "WebAuthn.addVirtualAuthenticator", map[string]any{"options": opts}, &res); err != nil {
		t.Fatal(err)
	}
	return res.AuthenticatorID
}

// registerPasskey clicks "Use a passkey" on an open invitation page and
// waits for the sign-in page that says the passkey is set.
func registerPasskey(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	clickInView(t, c, page, "#create-passkey")
	waitForPage(t, c, page, func(s pageState) bool {
		return s.Path == "/login/" && strings.Contains(s.Text, "Your passkey is set")
	})
}

// signInWithPasskey clicks "Sign in with a passkey" on an open /login/
// and waits for the web page.
func signInWithPasskey(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	clickPasskeySignIn(t, c, page)
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/" })
}

// clickPasskeySignIn clicks "Sign in with a passkey" once the page offers
// it; where the sign-in leads (the web page, or the desktop app's
// redirect URI) is the caller's to wait for.
func clickPasskeySignIn(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Sign in with a passkey") })
	clickInView(t, c, page, "#passkey-sign-in")
}

// copyPasskeys puts the credentials of one virtual authenticator into
// another (of another page): the same passkey, used elsewhere.
func copyPasskeys(t *testing.T, c *cdpClient, fromPage, fromAuth, toPage, toAuth string) {
	t.Helper()
	var res struct {
		Credentials []map[string]any `json:"credentials"`
	}
	if err := c.call(fromPage, "WebAuthn.getCredentials", map[string]any{"authenticatorId": fromAuth}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Credentials) == 0 {
		t.Fatal("the virtual authenticator holds no credential")
	}
	for _, cred := range res.Credentials {
		if err := c.call(toPage, "WebAuthn.addCredential", map[string]any{"authenticatorId": toAuth, "credential": cred}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// clickInView scrolls the element into the viewport, then clicks it:
// a click outside the viewport reaches nothing.
func clickInView(t *testing.T, c *cdpClient, page, selector string) {
	t.Helper()
	if err := c.evaluate(page, `document.querySelector(`+jsString(selector)+`).scrollIntoView({block: "center"}) ?? true`, new(any)); err != nil {
		t.Fatal(err)
	}
	clickSelector(t, c, page, selector)
}
