//go:build unix

package main

import (
	"bytes"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestProtectedLinkInChromium (issue 21 §5): a stranger, in a fresh
// browser context, opens a password link: the page asks for the password
// and shows nothing of the file; a wrong password is refused on the page,
// the right one opens it, and Download saves the file. With the local
// object store and with S3, under the page's own CSP (its style applies,
// its form posts). It saves artifacts/protected-link.png (a wrong password
// refused).
func TestProtectedLinkInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	chrome := startChromium(t)
	t.Run("local", func(t *testing.T) { browseProtectedLink(t, chrome, nil, "protected-link.png") })
	t.Run("s3", func(t *testing.T) { browseProtectedLink(t, chrome, s3TestEnv(t, testBucket(t)), "") })
}

// browseProtectedLink is TestProtectedLinkInChromium on a local-mode
// server with env added, in a fresh context of chrome.
func browseProtectedLink(t *testing.T, chrome *cdpClient, env map[string]string, screenshot string) {
	e := newLocalTestEnv(t, env)
	e.srv.links.hasher = newPasswordHasher(testHashParams)
	a := shareEnv{apiTester: apiTester{e}}
	alice := e.newUser("alice")
	sh, _ := a.protectedShare(alice, map[string]any{"password": linkPassword})

	page, downloads := openStrangerPage(t, chrome)
	navigate(t, chrome, page, sh.URL)
	locked := waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "protected by a password") })
	if strings.Contains(locked.Text, "secret plans") || !locked.styled() {
		t.Errorf("the locked page (max-width %q) shows:\n%s", locked.MaxWidth, locked.Text)
	}
	typeInto(t, chrome, page, "link-password", "not the password at all")
	clickSelector(t, chrome, page, "#unlock")
	waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, msgWrongLinkPassword) })
	if screenshot != "" {
		saveScreenshotAs(t, chrome, page, screenshot)
	}

	typeInto(t, chrome, page, "link-password", linkPassword)
	clickSelector(t, chrome, page, "#unlock")
	open := waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "secret plans.txt") })
	if strings.Contains(open.Text, "protected by a password") {
		t.Errorf("the opened page still asks for the password:\n%s", open.Text)
	}
	clickSelector(t, chrome, page, "#download")
	if saved := waitForDownload(t, chrome, filepath.Join(downloads, "secret plans.txt")); !bytes.Equal(saved, []byte("the plans\n")) {
		t.Errorf("the browser saved %q", saved)
	}
}

// TestMembersOnlyLinkInChromium (issue 21 §5): a members-only link opened
// signed out, in a fresh browser context, leads to the sign-in page, which
// says why; signing in there (local sign-in) comes back to the link, which
// now opens and downloads. A ?next= to another site ends the sign-in on
// the web page instead.
func TestMembersOnlyLinkInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	a := shareEnv{apiTester: apiTester{e}}
	alice := e.newUser("alice")
	sh, path := a.protectedShare(alice, map[string]any{"members_only": true})

	chrome := startChromium(t)
	page, downloads := openStrangerPage(t, chrome)
	navigate(t, chrome, page, sh.URL)
	waitForPage(t, chrome, page, func(s pageState) bool {
		return s.Path == "/login/" && strings.Contains(s.Text, "only for members") && s.MaxWidth != "none"
	})
	clickSignIn(t, chrome, page)
	waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == path && strings.Contains(s.Text, "secret plans.txt") })
	clickSelector(t, chrome, page, "#download")
	if saved := waitForDownload(t, chrome, filepath.Join(downloads, "secret plans.txt")); !bytes.Equal(saved, []byte("the plans\n")) {
		t.Errorf("the browser saved %q", saved)
	}

	evil := openFreshPage(t, chrome)
	navigate(t, chrome, evil, e.URL+"/login/?next="+url.QueryEscape("//evil.example/s/x"))
	waitForPage(t, chrome, evil, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Sign in as") })
	clickSignIn(t, chrome, evil)
	var where string
	waitForPage(t, chrome, evil, func(s pageState) bool {
		_ = chrome.evaluate(evil, "location.href", &where)
		return s.Path == "/"
	})
	if !strings.HasPrefix(where, e.URL+"/") {
		t.Errorf("next=//evil.example: the sign-in ended at %s", where)
	}
}

// openStrangerPage opens a tab in a new browser context (no cookies: a
// stranger) whose downloads are saved, without asking, in the directory
// it returns.
func openStrangerPage(t *testing.T, c *cdpClient) (page, downloads string) {
	t.Helper()
	ctxID, err := c.newBrowserContext()
	if err != nil {
		t.Fatal(err)
	}
	downloads = t.TempDir()
	err = c.call("", "Browser.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads, "browserContextId": ctxID, "eventsEnabled": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if page, err = c.openPageIn(ctxID); err != nil {
		t.Fatal(err)
	}
	return page, downloads
}

// TestWebPageProtectedShareInChromium (issue 21 §5, the owner's side):
// the Share dialog makes a link with a password, for members only; the
// list says so; a stranger, in a fresh browser context, is sent to sign
// in, and the answers never show the password. It saves
// artifacts/page-protected-share.png.
func TestWebPageProtectedShareInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	e.srv.links.hasher = newPasswordHasher(testHashParams)
	chrome, page := openSignedInApp(t, e.URL)
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "guarded.txt", []byte("guarded\n")))
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "guarded.txt 8 bytes · complete") })

	clickFileButton(t, chrome, page, "guarded.txt", "Share")
	typeInto(t, chrome, page, "share-password", linkPassword)
	const fillJS = `(() => { document.getElementById("share-members").checked = true;
		document.getElementById("share-create").click(); return true; })()`
	if err := chrome.evaluate(page, fillJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	var link string
	st := waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, `document.getElementById("share-result").dataset.url || ""`, &link)
		return link != "" && strings.Contains(s.Text, "· password · members only")
	})
	savePagePNG(t, chrome, page, "page-protected-share.png")
	if strings.Contains(st.Text, linkPassword) {
		t.Errorf("the page shows the password:\n%s", st.Text)
	}
	var cleared string
	if err := chrome.evaluate(page, `document.getElementById("share-password").value`, &cleared); err != nil || cleared != "" {
		t.Errorf("the password field keeps %q after the link is made (%v)", cleared, err)
	}

	stranger := openFreshPage(t, chrome)
	navigate(t, chrome, stranger, link)
	waitForPage(t, chrome, stranger, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "only for members") })
}
