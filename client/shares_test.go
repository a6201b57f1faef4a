package client

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dropp/client/internal/testserver"
)

// TestShares: create a share with and without options, list them page by
// page, revoke them, and the typed refusals.
func TestShares(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testShares(t, b.URL) })
	}
}

func testShares(t *testing.T, base string) {
	defer func(old int) { sharePageLimit = old }(sharePageLimit)
	sharePageLimit = 1 // a page per share, where the server pages the list
	c := signIn(t, base)
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "report.pdf")
	os.WriteFile(src, []byte("%PDF"), 0o600)
	f, err := c.Upload(ctx, src, "", nil)
	if err != nil {
		t.Fatal(err)
	}

	limited, err := c.CreateShare(ctx, f.ID, ShareOptions{ExpiresIn: 90 * time.Minute, MaxDownloads: 2})
	if err != nil {
		t.Fatalf("CreateShare: %v", err)
	}
	if until := time.Until(limited.ExpiresAt); limited.URL == "" || limited.FileID != f.ID || limited.MaxDownloads == nil ||
		*limited.MaxDownloads != 2 || until < 89*time.Minute || until > 90*time.Minute {
		t.Fatalf("CreateShare(90 min, 2 downloads): %+v", limited)
	}
	if code := testserver.ShareLinkStatus(t, limited.URL); code != http.StatusOK {
		t.Fatalf("the link answers %d", code)
	}
	var all []*Share
	for range 2 {
		sh, err := c.CreateShare(ctx, f.ID, ShareOptions{})
		if err != nil || sh.MaxDownloads != nil || time.Until(sh.ExpiresAt) < 6*24*time.Hour {
			t.Fatalf("CreateShare with the defaults: %+v, %v", sh, err)
		}
		all = append(all, sh)
	}
	all = append([]*Share{limited}, all...)

	list, err := c.ListShares(ctx, f.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("ListShares: %d shares, %v; want 3", len(list), err)
	}
	byID := map[string]*Share{}
	for _, sh := range all {
		byID[sh.ID] = sh
	}
	for i, sh := range list {
		want := byID[sh.ID]
		if want == nil || sh.URL != "" || !sh.ExpiresAt.Equal(want.ExpiresAt) || (i > 0 && sh.CreatedAt.Before(list[i-1].CreatedAt)) {
			t.Errorf("ListShares[%d] = %+v, want one of the shares made, without its URL, oldest first", i, sh)
		}
		delete(byID, sh.ID)
	}

	if err := c.RevokeShare(ctx, limited.ID); err != nil {
		t.Fatalf("RevokeShare: %v", err)
	}
	if code := testserver.ShareLinkStatus(t, limited.URL); code != http.StatusNotFound {
		t.Fatalf("the revoked link answers %d", code)
	}
	if list, err := c.ListShares(ctx, f.ID); err != nil || len(list) != 2 || list[0].ID == limited.ID || list[1].ID == limited.ID {
		t.Fatalf("ListShares after a revoke: %+v, %v", list, err)
	}
	if err := c.RevokeShare(ctx, limited.ID); !IsCode(err, "not_found") {
		t.Fatalf("RevokeShare again: %v, want not_found", err)
	}
	if _, err := c.CreateShare(ctx, f.ID, ShareOptions{ExpiresIn: 366 * 24 * time.Hour}); !IsCode(err, "invalid_request") {
		t.Fatalf("CreateShare for a year: %v, want invalid_request", err)
	}
	if _, err := c.ListShares(ctx, "nosuchfile"); !IsCode(err, "not_found") {
		t.Fatalf("ListShares of no file: %v, want not_found", err)
	}
}

// TestProtectedShares: CreateShare with a password and members only; the
// answer and the list say so (never the password), the link refuses a
// stranger (401), and a password the server's rules refuse is a typed
// invalid_request.
func TestProtectedShares(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			c := signIn(t, b.URL)
			ctx := t.Context()
			src := filepath.Join(t.TempDir(), "plans.txt")
			os.WriteFile(src, []byte("plans"), 0o600)
			f, err := c.Upload(ctx, src, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			sh, err := c.CreateShare(ctx, f.ID, ShareOptions{Password: "correct horse battery staple", MembersOnly: true})
			if err != nil || !sh.Protected || !sh.MembersOnly {
				t.Fatalf("CreateShare(password, members only): %+v, %v", sh, err)
			}
			if code := testserver.ShareLinkStatus(t, sh.URL); code != http.StatusUnauthorized {
				t.Errorf("a stranger at the protected link gets %d, want 401", code)
			}
			list, err := c.ListShares(ctx, f.ID)
			if err != nil || len(list) != 1 || !list[0].Protected || !list[0].MembersOnly {
				t.Errorf("ListShares: %+v, %v", list, err)
			}
			if _, err := c.CreateShare(ctx, f.ID, ShareOptions{Password: "short"}); !IsCode(err, "invalid_request") {
				t.Errorf("CreateShare with a short password: %v, want invalid_request", err)
			}
		})
	}
}
