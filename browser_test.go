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
	requireChromium(t)
	p := newFakeProviderAs(t, fakeUser{Sub: "browser-1", Email: "carol@example.com", Name: "Carol", Verified: true})
	e := newSignInEnv(t, p, nil)
	chrome, page, final := signInInChromium(t, e.URL)
	saveScreenshotAs(t, chrome, page, "browser-login.png")
	if !strings.Contains(final.Text, "carol@example.com") || !strings.Contains(final.Text, "Sign out") {
		t.Errorf("signed-in page shows:\n%s", final.Text)
	}
	if final.MaxWidth == "none" || final.MaxWidth == "" {
		t.Errorf("<main> max-width %q: the CSP blocked the page's own style", final.MaxWidth)
	}
	if n := p.tokenCalls.Load(); n != 1 {
		t.Errorf("provider token endpoint called %d times, want 1", n)
	}
}

// pageState is what the test reads from the page while polling.
type pageState struct {
	Path     string `json:"path"`
	Text     string `json:"text"`
	MaxWidth string `json:"maxWidth"` // of <main>: "none" unless the page's style applied
}

// pageStateJS reads pageState.
const pageStateJS = `(() => {
	const main = document.querySelector("main");
	return {path: location.pathname, text: document.body ? document.body.innerText : "",
		maxWidth: main ? getComputedStyle(main).maxWidth : ""};
})()`

// signInInChromium starts Chromium, opens base+"/login/", signs in with
// its button (through the test's fake provider) and waits for the signed-in
// app with no files; it returns the browser, its page and the page's state.
func signInInChromium(t *testing.T, base string) (*cdpClient, string, pageState) {
	t.Helper()
	chrome := startChromium(t)
	page, err := chrome.openPage()
	if err != nil {
		t.Fatal(err)
	}
	if err := chrome.call(page, "Page.navigate", map[string]any{"url": base + "/login/"}, nil); err != nil {
		t.Fatal(err)
	}
	// The button names the provider (OIDC_NAME, by default the fake one's
	// host); TestOIDCNameOnButton checks the name itself.
	waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Sign in with ") })
	clickSignIn(t, chrome, page)
	final := waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == "/" && strings.Contains(s.Text, "No files yet") })
	return chrome, page, final
}

// waitForPage polls the page until done reports true, for at most 20s.
func waitForPage(t *testing.T, c *cdpClient, page string, done func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var s pageState
	for time.Now().Before(deadline) {
		if err := c.evaluate(page, pageStateJS, &s); err == nil && done(s) {
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
