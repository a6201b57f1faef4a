package client

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"dropp/client/internal/testserver"
)

// TestDownloadIntoADirectory: a directory as dest gets the file under its
// own name, with os.Create's mode; an existing file is kept unless
// Overwrite says otherwise, and no temporary file is left behind.
func TestDownloadIntoADirectory(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testDownloadIntoADirectory(t, b.URL) })
	}
}

func testDownloadIntoADirectory(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(src, []byte("some notes"), 0o600)
	f, err := c.Upload(ctx, src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	want := filepath.Join(dir, "notes.txt")

	_, path, err := c.Download(ctx, f.ID, dir, DownloadOptions{})
	if err != nil || path != want {
		t.Fatalf("Download into a directory: %q, %v; want %q", path, err, want)
	}
	if data, _ := os.ReadFile(want); string(data) != "some notes" {
		t.Fatalf("saved %q", data)
	}
	if info, _ := os.Stat(want); info.Mode().Perm() != testserver.CreatedMode(t) {
		t.Errorf("mode %v, want os.Create's %v", info.Mode().Perm(), testserver.CreatedMode(t))
	}

	os.WriteFile(want, []byte("mine"), 0o600)
	if _, _, err := c.Download(ctx, f.ID, dir, DownloadOptions{}); !errors.Is(err, os.ErrExist) {
		t.Fatalf("Download over a file: %v, want os.ErrExist", err)
	}
	if data, _ := os.ReadFile(want); string(data) != "mine" {
		t.Fatalf("the existing file became %q", data)
	}
	if _, _, err := c.Download(ctx, f.ID, want, DownloadOptions{Overwrite: true}); err != nil {
		t.Fatalf("Download with Overwrite: %v", err)
	}
	if data, _ := os.ReadFile(want); string(data) != "some notes" {
		t.Fatalf("after Overwrite: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only notes.txt", len(entries))
	}
}

// TestLocalNameStaysInTheDirectory: a name from the server can only name
// a file in the directory it is saved in.
func TestLocalNameStaysInTheDirectory(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`, `..\x`, "/etc/passwd", "a\x00b"} {
		if got, err := localName(name); err == nil {
			t.Errorf("localName(%q) = %q, want a refusal", name, got)
		}
	}
	for _, name := range []string{"notes.txt", ".hidden", "a..b", "résumé 2026.pdf"} {
		if got, err := localName(name); err != nil || got != name {
			t.Errorf("localName(%q) = %q, %v; want it unchanged", name, got, err)
		}
	}
}
