//go:build unix

package main

import (
	"strings"
	"testing"
)

// TestAccountsInChromium: an administrator invited by `dropp invite -admin`
// opens the link in Chromium, sets a password on the invitation page,
// signs in with it on /login/, reaches the web page, and invites a member
// from /admin/: real clicks, under the pages' own CSP.
func TestAccountsInChromium(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	e := newAccountsEnv(t, "local", nil)
	path := e.invite("admin@example.com", true)
	c := startChromium(t)
	page := openPage(t, c)
	navigate(t, c, page, e.URL+path)
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Choose a password for admin@example.com") })
	typeInto(t, c, page, "new-password", "a password for the team")
	typeInto(t, c, page, "confirm-password", "a password for the team")
	clickSelector(t, c, page, "#set-password")
	waitForPage(t, c, page, func(s pageState) bool {
		return s.Path == "/login/" && strings.Contains(s.Text, "Your password is set") && s.MaxWidth != "none"
	})
	typeInto(t, c, page, "email-input", "Admin@Example.com")
	typeInto(t, c, page, "password-input", "a password for the team")
	clickSelector(t, c, page, "#password-sign-in")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/" })

	navigate(t, c, page, e.URL+"/admin/")
	waitForPage(t, c, page, func(s pageState) bool {
		return strings.Contains(s.Text, "admin@example.com") && strings.Contains(s.Text, "Invite")
	})
	typeInto(t, c, page, "invite-email", "member@example.com")
	clickSelector(t, c, page, "#invite button")
	s := waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Send this link to member@example.com") })
	if !strings.Contains(s.Text, "http://dropp.test/invite/") {
		t.Fatalf("admin page after inviting: %q", s.Text)
	}
}

// typeInto focuses the input with that id and types text, as keystrokes.
func typeInto(t *testing.T, c *cdpClient, page, id, text string) {
	t.Helper()
	if err := c.evaluate(page, `document.getElementById(`+jsString(id)+`).focus() ?? true`, new(any)); err != nil {
		t.Fatal(err)
	}
	if err := c.call(page, "Input.insertText", map[string]any{"text": text}, nil); err != nil {
		t.Fatal(err)
	}
}
