//go:build unix

package main

import (
	"strings"
	"testing"
	"time"
)

// TestRealBrowserSignIn signs in with headless Chromium: it opens /login/,
// clicks the sign-in link, passes through the fake provider (which
// approves at once) and must land on the web page at "/" showing the user.
// It saves a screenshot to artifacts/browser-login.png.
func TestRealBrowserSignIn(t *testing.T) {
	t.Parallel()
	e, chrome, page, final := signInInChromium(t, fakeUser{Sub: "browser-1", Email: "carol@example.com", Name: "Carol", Verified: true}, nil)
	saveScreenshotAs(t, chrome, page, "browser-login.png")
	if !strings.Contains(final.Text, "carol@example.com") || !strings.Contains(final.Text, "Sign out") {
		t.Errorf("signed-in page shows:\n%s", final.Text)
	}
	wantOwnStyle(t, final, "page")
	if n := e.p.tokenCalls.Load(); n != 1 {
		t.Errorf("provider token endpoint called %d times, want 1", n)
	}
}

// pageState is what the test reads from the page while polling.
type pageState struct {
	Path     string `json:"path"`
	Text     string `json:"text"`
	MaxWidth string `json:"maxWidth"` // of <main>: "none" unless the page's style applied
	Loading  bool   `json:"loading"`  // the document is still being parsed
}

// pageStateJS reads pageState.
const pageStateJS = `(() => {
	const main = document.querySelector("main");
	return {path: location.pathname, text: document.body ? document.body.innerText : "",
		maxWidth: main ? getComputedStyle(main).maxWidth : "", loading: document.readyState === "loading"};
})()`

// signInInChromium is the browser sign-in tests' one set-up: a server
// (newSignInEnv, with env) whose fake provider signs in u, and headless
// Chromium, which opens /login/, signs in with its button and waits for
// the signed-in app with no files. It returns the server, the browser, its
// page and the page's state.
func signInInChromium(t *testing.T, u fakeUser, env map[string]string) (*signInEnv, *cdpClient, string, pageState) {
	t.Helper()
	requireChromium(t)
	e := newSignInEnv(t, newFakeProviderAs(t, u), env)
	chrome := startChromium(t)
	page := openPage(t, chrome)
	navigate(t, chrome, page, e.URL+"/login/")
	// The button names the provider (OIDC_NAME, by default the fake one's
	// host); TestOIDCNameOnButton checks the name itself.
	waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Sign in with ") })
	clickSignIn(t, chrome, page)
	final := waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == "/" && strings.Contains(s.Text, "No files yet") })
	return e, chrome, page, final
}

// styled: the page's own style applied (the CSP let it through).
func (s pageState) styled() bool { return s.MaxWidth != "none" && s.MaxWidth != "" }

// wantOwnStyle fails the test unless what (a page) shows in its own style.
func wantOwnStyle(t *testing.T, s pageState, what string) {
	t.Helper()
	if !s.styled() {
		t.Errorf("<main> max-width %q: the CSP blocked the %s's own style", s.MaxWidth, what)
	}
}

// waitForPage polls the page until done reports true, for at most 20s.
func waitForPage(t *testing.T, c *cdpClient, page string, done func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var s pageState
	for time.Now().Before(deadline) {
		// Chromium shows a page as it parses it; on a busy machine a test
		// that read it then saw its first rows without the rest.
		if err := c.evaluate(page, pageStateJS, &s); err == nil && !s.Loading && done(s) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	saveScreenshotAs(t, c, page, "browser-login.png")
	t.Fatalf("page did not reach the expected state; last: %+v", s)
	return s
}

// clickSignIn clicks the middle of the sign-in link, a real mouse click.
func clickSignIn(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	var box struct{ X, Y float64 }
	const js = `(() => { const r = document.getElementById("sign-in").getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`
	if err := c.evaluate(page, js, &box); err != nil {
		t.Fatal(err)
	}
	if err := c.click(page, box.X, box.Y); err != nil {
		t.Fatal(err)
	}
}
