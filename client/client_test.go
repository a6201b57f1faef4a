package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dropp/client/internal/testserver"
)

// The tests run the real server (see internal/testserver).
func TestMain(m *testing.M) {
	code := m.Run()
	testserver.Stop()
	os.Exit(code)
}

// backends are the servers to run a test on: local mode, and MongoDB and
// S3 when the rig is there.
func backends(t *testing.T) []testserver.Backend { return testserver.Backends(t) }

// testServer is the local-mode server.
func testServer(t *testing.T) string { return testserver.Local(t) }

func signIn(t *testing.T, base string) *Client {
	t.Helper()
	c, tok, err := SignIn(t.Context(), base, testserver.FollowBrowser, 30*time.Second)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || c.Token != tok.AccessToken {
		t.Fatalf("token %+v", tok)
	}
	return c
}

// TestRoundTrip: sign in, upload with progress, list page by page,
// download with progress, delete, and the typed errors on the way.
func TestRoundTrip(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testRoundTrip(t, b.URL) })
	}
}

func testRoundTrip(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	dir := t.TempDir()
	content := bytes.Repeat([]byte("dropp "), 200_000) // 1.2 MB: several progress calls
	src := filepath.Join(dir, "big.txt")
	os.WriteFile(src, content, 0o600)

	var calls int
	var last int64
	f, err := c.Upload(ctx, src, "text/plain", func(done, total int64) {
		calls++
		if done < last || total != int64(len(content)) {
			t.Errorf("progress %d of %d after %d", done, total, last)
		}
		last = done
	})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if f.Status != "complete" || *f.Size != int64(len(content)) || f.ContentType != "text/plain" || f.Filename != "big.txt" {
		t.Fatalf("uploaded %+v", f)
	}
	if calls < 2 || last != int64(len(content)) {
		t.Errorf("upload progress: %d calls, last %d", calls, last)
	}

	for _, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(name), 0o600)
		if _, err := c.Upload(ctx, p, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.List(ctx, ListOptions{Limit: 2})
	if err != nil || len(page.Files) != 2 || page.NextCursor == nil {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	all, err := c.ListAll(ctx, ListOptions{Limit: 1})
	if err != nil || len(all) != 4 || all[0].Filename != "c" || all[3].ID != f.ID {
		t.Fatalf("ListAll: %d files, %v", len(all), err)
	}

	dest := filepath.Join(dir, "back.txt")
	var got int64
	if _, _, err := c.Download(ctx, f.ID, dest, DownloadOptions{Progress: func(done, total int64) { got = done }}); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if data, _ := os.ReadFile(dest); !bytes.Equal(data, content) || got != int64(len(content)) {
		t.Fatalf("downloaded %d bytes (progress %d), want the %d uploaded", len(data), got, len(content))
	}

	if err := c.Delete(ctx, f.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	err = c.Delete(ctx, f.ID)
	if e, ok := err.(*Error); !ok || e.Status != 404 || e.Code != "not_found" || e.Message == "" {
		t.Fatalf("second Delete: %v, want a typed 404 not_found", err)
	}
	if _, _, err := c.Download(ctx, f.ID, dest, DownloadOptions{Overwrite: true}); !IsCode(err, "not_found") {
		t.Fatalf("Download of a deleted file: %v", err)
	}
}

// TestUploadRefusalIsTyped: the upload URL's S3-style XML refusal comes
// back as an *Error with S3's code.
func TestUploadRefusalIsTyped(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testUploadRefusalIsTyped(t, b.URL) })
	}
}

func testUploadRefusalIsTyped(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	var created struct {
		Upload uploadAnswer `json:"upload"`
	}
	if err := c.do(ctx, "POST", "/upload/", map[string]any{"filename": "x", "size": 10}, &created); err != nil {
		t.Fatal(err)
	}
	err := c.postForm(ctx, created.Upload, strings.NewReader("short"), 5, nil)
	if !IsCode(err, "EntityTooSmall") || err.(*Error).Status != 400 {
		t.Fatalf("a short upload: %v, want EntityTooSmall", err)
	}
}

// TestMeAndLogout: /me names the user; after Logout the token answers a
// typed 401.
func TestMeAndLogout(t *testing.T) {
	c := signIn(t, testServer(t))
	me, err := c.Me(t.Context())
	if err != nil || me.User.ID == "" {
		t.Fatalf("Me: %+v, %v", me, err)
	}
	if err := c.Logout(t.Context()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	_, err = c.Me(t.Context())
	if e, ok := err.(*Error); !ok || e.Status != 401 || e.Code != "unauthorized" {
		t.Fatalf("Me after Logout: %v, want a typed 401", err)
	}
}

// TestSignInTimesOut: a browser that never comes back (a malformed request
// ends on the server's error page) ends the wait at the timeout.
func TestSignInTimesOut(t *testing.T) {
	start := time.Now()
	_, _, err := SignIn(context.Background(), testServer(t), func(string) error { return nil }, 200*time.Millisecond)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("SignIn without an answer: %v after %v", err, time.Since(start))
	}
}

// TestSignInChecksState: a request to the listener with another state
// is refused and does not end the sign-in.
func TestSignInChecksState(t *testing.T) {
	var served sync.WaitGroup
	open := func(u string) error {
		served.Add(1)
		go func() {
			defer served.Done()
			resp, err := http.Get(u) // the real flow, redirected to our listener...
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
	forged := func(u string) error {
		// ... but first a forged callback with another state, sent straight
		// to the listener named in the sign-in URL.
		req, _ := http.NewRequest("GET", u, nil)
		redirect := req.URL.Query().Get("redirect_uri")
		resp, err := http.Get(redirect + "?code=forged&state=other")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged callback: %d, want 400", resp.StatusCode)
		}
		return open(u)
	}
	c, _, err := SignIn(t.Context(), testServer(t), forged, 30*time.Second)
	served.Wait()
	if err != nil {
		t.Fatalf("SignIn after a forged callback: %v", err)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestMultipartUploadResumes: a large file goes up in parts; cut short
// after the first part, ResumeUpload sends only the rest.
func TestMultipartUploadResumes(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testMultipartUploadResumes(t, b.URL) })
	}
}

func testMultipartUploadResumes(t *testing.T, base string) {
	c := signIn(t, base)
	defer func(old int64) { MultipartThreshold = old }(MultipartThreshold)
	MultipartThreshold = 1
	content := bytes.Repeat([]byte("0123456789abcdef"), 40<<20/16) // 40 MiB: parts of 16, 16 and 8 MiB
	src := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(src, content, 0o600)

	ctx, cancel := context.WithCancel(t.Context())
	_, err := c.Upload(ctx, src, "", func(done, total int64) {
		if done >= 17<<20 {
			cancel() // the second part is cut short, 15 MiB before its end; the first is stored
		}
	})
	var partial *PartialUpload
	if !errors.As(err, &partial) || partial.PartSize != 16<<20 {
		t.Fatalf("cut-short Upload: %v, want a *PartialUpload", err)
	}
	var first int64 = -1
	f, err := c.ResumeUpload(t.Context(), partial.ID, src, partial.PartSize, func(done, total int64) {
		if first < 0 {
			first = done
		}
	})
	if err != nil {
		t.Fatalf("ResumeUpload: %v", err)
	}
	if first <= 16<<20 || f.Status != "complete" || *f.Size != int64(len(content)) {
		t.Fatalf("resumed: first progress %d (want past the stored part), file %+v", first, f)
	}
	dest := filepath.Join(t.TempDir(), "back.img")
	if _, _, err := c.Download(t.Context(), f.ID, dest, DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dest); !bytes.Equal(data, content) {
		i := 0
		for i < len(data) && i < len(content) && data[i] == content[i] {
			i++
		}
		t.Fatalf("the downloaded file differs from the uploaded one: %d bytes, want %d, first difference at %d", len(data), len(content), i)
	}
}
