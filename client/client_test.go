package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run the real server: the dropp binary built from the
// repository's root, in local mode (its own store and objects in a
// temporary directory; sign-in signs in at once, on loopback).
var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
)

// testServer starts one server for the package's tests.
func testServer(t *testing.T) string {
	t.Helper()
	serverOnce.Do(func() { serverURL, serverErr = startServer() })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return serverURL
}

var serverDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dropp-client-test-")
	if err != nil {
		panic(err)
	}
	serverDir = dir
	code := m.Run()
	if serverCmd != nil {
		serverCmd.Process.Kill()
		serverCmd.Wait()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var serverCmd *exec.Cmd

func startServer() (string, error) {
	bin := filepath.Join(serverDir, "dropp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return "", &buildError{out}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Dir = serverDir // no .env of the developer's
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + serverDir, "ADDR=" + addr, "DATA_DIR=" + filepath.Join(serverDir, "data")}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	logFile, err := os.Create(filepath.Join(serverDir, "server.log"))
	if err != nil {
		return "", err
	}
	cmd.Stderr = logFile // its request log; kept out of the test output
	if err := cmd.Start(); err != nil {
		return "", err
	}
	serverCmd = cmd
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "listening: ") {
			go func() {
				for lines.Scan() {
				}
			}()
			return "http://" + addr, nil
		}
	}
	return "", &buildError{[]byte("the server exited before listening")}
}

type buildError struct{ out []byte }

func (e *buildError) Error() string { return "dropp: " + string(e.out) }

// followBrowser plays the browser: it follows the sign-in redirects, which
// in local mode lead at once to the app's loopback listener.
func followBrowser(u string) error {
	go func() {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
		}
	}()
	return nil
}

func signIn(t *testing.T) *Client {
	t.Helper()
	c, tok, err := SignIn(t.Context(), testServer(t), followBrowser, 30*time.Second)
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
	c := signIn(t)
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
	if _, err := c.Download(ctx, f.ID, dest, func(done, total int64) { got = done }); err != nil {
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
	if _, err := c.Download(ctx, f.ID, dest, nil); !IsCode(err, "not_found") {
		t.Fatalf("Download of a deleted file: %v", err)
	}
}

// TestUploadRefusalIsTyped: the upload URL's S3-style XML refusal comes
// back as an *Error with S3's code.
func TestUploadRefusalIsTyped(t *testing.T) {
	c := signIn(t)
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
	c := signIn(t)
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
	c := signIn(t)
	defer func(old int64) { MultipartThreshold = old }(MultipartThreshold)
	MultipartThreshold = 1
	content := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // 20 MiB: two parts of 16 MiB
	src := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(src, content, 0o600)

	ctx, cancel := context.WithCancel(t.Context())
	_, err := c.Upload(ctx, src, "", func(done, total int64) {
		if done >= 17<<20 {
			cancel() // the second part is cut short, the first is stored
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
	if _, err := c.Download(t.Context(), f.ID, dest, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dest); !bytes.Equal(data, content) {
		t.Fatal("the downloaded file differs from the uploaded one")
	}
}
