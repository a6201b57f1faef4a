//go:build unix

package main

import (
	"strings"
	"testing"
)

// TestRealBrowserAdminDisables: headless Chromium signs in as an
// administrator, opens /admin/, and clicks Disable on a member's row; the
// page comes back showing the member disabled, and the store agrees. The
// page is saved to artifacts/admin-page.png.
func TestRealBrowserAdminDisables(t *testing.T) {
	t.Parallel()
	e, chrome, page, _ := signInInChromium(t, fakeUser{Sub: "admin-1", Email: "dana@example.com", Name: "Dana", Verified: true},
		map[string]string{"ADMIN_EMAILS": "dana@example.com", "QUOTA_BYTES_PER_USER": "1048576"})
	member, err := e.srv.store.UpsertUser(t.Context(), User{Issuer: e.p.URL, Subject: "member-1", Email: "erin@example.com", Name: "Erin"})
	if err != nil {
		t.Fatal(err)
	}
	used := &File{ID: newID(), Owner: member.ID, Filename: "big.bin", Status: statusPending, ObjectKey: "users/x/" + newID(), CreatedAt: e.srv.now(), Charged: 700 << 10}
	if err := e.srv.store.InsertFileWithinQuota(t.Context(), used, e.srv.quota()); err != nil {
		t.Fatal(err)
	}
	navigate(t, chrome, page, e.URL+"/admin/")
	before := waitForPage(t, chrome, page, func(s pageState) bool { return s.Path == "/admin/" && strings.Contains(s.Text, "erin@example.com") })
	if !strings.Contains(before.Text, "700.0 KiB of 1.0 MiB, 1 file") || strings.Contains(before.Text, "1 files") {
		t.Errorf("admin page does not show erin's usage in human units:\n%s", before.Text)
	}
	wantOwnStyle(t, before, "admin page")
	clickSelector(t, chrome, page, `tr[data-id="`+member.ID+`"] button`)
	waitForPage(t, chrome, page, func(s pageState) bool {
		return s.Path == "/admin/" && strings.Contains(s.Text, "disabled") && strings.Contains(s.Text, "Enable")
	})
	saveScreenshotAs(t, chrome, page, "admin-page.png")
	if u, err := e.srv.store.GetUser(t.Context(), member.ID); err != nil || !u.Disabled {
		t.Errorf("member after the click: %+v, %v; want disabled", u, err)
	}
}
