package client

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"dropp/client/internal/testserver"
)

// TestDrops: one link to several files, listed with every link, edited,
// revoked; previews of a PDF, and the typed refusal of a type that is not
// shown inline.
func TestDrops(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testDrops(t, b.URL) })
	}
}

func testDrops(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	dir := t.TempDir()
	var ids []string
	for _, name := range []string{"a.pdf", "b.txt", "c.txt"} {
		src := filepath.Join(dir, name)
		os.WriteFile(src, []byte("%PDF "+name), 0o600)
		ctype := ""
		if filepath.Ext(name) == ".pdf" {
			ctype = "application/pdf"
		}
		f, err := c.Upload(ctx, src, ctype, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	d, err := c.CreateDrop(ctx, ids[:2], ShareOptions{MaxDownloads: 2, AllowPreview: true})
	if err != nil || d.URL == "" || len(d.Files) != 2 || d.Files[1].ID != ids[1] || !d.AllowPreview || *d.MaxDownloads != 2 {
		t.Fatalf("CreateDrop: %+v, %v", d, err)
	}
	if code := testserver.ShareLinkStatus(t, d.URL); code != http.StatusOK {
		t.Fatalf("the drop's link answers %d", code)
	}
	if d, err = c.AddDropFiles(ctx, d.ID, ids[2:]); err != nil || len(d.Files) != 3 || d.Files[2].ID != ids[2] {
		t.Fatalf("AddDropFiles: %+v, %v", d, err)
	}
	if err := c.RemoveDropFile(ctx, d.ID, ids[0]); err != nil {
		t.Fatalf("RemoveDropFile: %v", err)
	}
	if err := c.RemoveDropFile(ctx, d.ID, ids[0]); !IsCode(err, "not_found") {
		t.Fatalf("RemoveDropFile again: %v, want not_found", err)
	}
	all, err := c.ListAllShares(ctx)
	if err != nil || len(all) != 1 || len(all[0].Files) != 2 || all[0].Files[0].ID != ids[1] {
		t.Fatalf("ListAllShares: %+v, %v", all, err)
	}
	if _, err := c.CreateDrop(ctx, nil, ShareOptions{}); !IsCode(err, "invalid_request") {
		t.Fatalf("CreateDrop of no file: %v, want invalid_request", err)
	}
	if u, err := c.PreviewURL(ctx, ids[0]); err != nil || u == "" {
		t.Fatalf("PreviewURL of a PDF: %q, %v", u, err)
	}
	if _, err := c.PreviewURL(ctx, ids[1]); !IsCode(err, "forbidden") {
		t.Fatalf("PreviewURL of a text file: %v, want forbidden", err)
	}
	if err := c.RevokeShare(ctx, d.ID); err != nil {
		t.Fatalf("RevokeShare: %v", err)
	}
}
