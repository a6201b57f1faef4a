package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
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

// TestPartsEachReadTheirOwnBody: a server that answers a part at once,
// before it has read the body (as S3 may on an error), leaves the
// transport still sending that body after put returns. The next part's
// request must not share its reader: with one reader for all the parts,
// the first request went on reading the second part's bytes (a race the
// race detector saw in CI, and "ContentLength=8388608 with Body length
// 2334720"). Each server request must get exactly its own part.
func TestPartsEachReadTheirOwnBody(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	var mu sync.Mutex
	got := map[string]int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("early") != "" {
			w.WriteHeader(http.StatusOK) // answered before the body is read
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[r.URL.Path] = n
		mu.Unlock()
	}))
	defer srv.Close()
	c := &Client{}
	counter := &countingReader{total: 3 * size}
	for _, u := range []string{"/early?early=1", "/second", "/third"} {
		body := bytes.NewReader(bytes.Repeat([]byte{'x'}, size))
		if err := c.put(t.Context(), srv.URL+u, nil, body, size, counter); err != nil {
			t.Fatalf("put %s: %v", u, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/second", "/third"} {
		if got[p] != size {
			t.Errorf("%s received %d bytes, want %d", p, got[p], size)
		}
	}
}
