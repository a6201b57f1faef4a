//go:build unix

package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestWebPageTokensInChromium: the page's Tokens section makes a token
// with the scopes ticked, shows its secret once and lists it (without the
// secret); the secret works as a bearer token; Revoke ends it.
func TestWebPageTokensInChromium(t *testing.T) {
	t.Parallel()
	e, chrome, page := openLocalApp(t)
	if err := chrome.evaluate(page, `document.getElementById("tokens").open = true`, new(bool)); err != nil {
		t.Fatal(err) // the section starts folded: tokens are a rare need
	}
	waitForApp(t, chrome, page, func(s appState) bool { return strings.Contains(s.Text, "No tokens.") })
	const fillJS = `(() => { document.getElementById("token-name").value = "nightly backup";
		document.querySelector('input[name="token-scope"][value="files:write"]').checked = true;
		document.getElementById("token-create").click(); return true; })()`
	if err := chrome.evaluate(page, fillJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	var secret, listed string
	waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, `document.getElementById("token-secret").textContent`, &secret)
		chrome.evaluate(page, `document.getElementById("token-list").innerText`, &listed)
		return secret != "" && strings.Contains(listed, "nightly backup")
	})
	savePagePNG(t, chrome, page, "page-tokens.png")
	if !strings.HasPrefix(secret, patPrefix) || !strings.Contains(listed, "files:read, files:write") || !strings.Contains(listed, "never used") || strings.Contains(listed, secret) {
		t.Fatalf("secret %q, list %q: want a dropp_pat_ secret and the token listed with both scopes, without it", secret, listed)
	}
	resp, body := e.do(request{method: "GET", path: "/me", token: secret})
	wantStatus(t, resp, body, http.StatusOK)

	if err := chrome.evaluate(page, `(() => { Array.from(document.querySelectorAll("#token-list button")).find(b => b.textContent === "Revoke").click(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, `document.getElementById("token-list").innerText`, &listed)
		return strings.Contains(listed, "No tokens.")
	})
	resp, body = e.do(request{method: "GET", path: "/me", token: secret})
	wantStatus(t, resp, body, http.StatusUnauthorized)
}
