package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestQuickStart is the README's quick start, for real: the binary started
// in an empty directory with an empty environment (only ADDR, so the test
// never collides with a server already on port 8080) gives a Dropp that a
// desktop client signs in to, uploads to and downloads from, and that keeps
// everything across a restart.
func TestQuickStart(t *testing.T) {
	t.Parallel()
	bin := buildDropp(t)
	dir := t.TempDir()

	base, stop := startDropp(t, bin, dir)
	c := noRedirectClient()
	token := desktopSignIn(t, c, base)
	content := []byte("quick start content\n")
	id := uploadFile(t, c, base, token, "notes.txt", content)
	stop()

	base, stop = startDropp(t, bin, dir)
	defer stop()
	list := apiGet[listOut](t, c, base+"/list/", token)
	if len(list.Files) != 1 || list.Files[0].ID != id || list.Files[0].Status != "complete" {
		t.Fatalf("after restart, list = %+v", list)
	}
	dl := apiGet[downloadOut](t, c, base+"/download/"+id, token)
	if got := fetch(t, c, dl.URL); !bytes.Equal(got, content) {
		t.Fatalf("after restart, download = %q", got)
	}
	if info, err := os.Stat(filepath.Join(dir, "dropp-data")); err != nil || !info.IsDir() {
		t.Fatalf("DATA_DIR default ./dropp-data not used: %v", err)
	}
}

// buildDropp returns the server binary, built on the first call and then
// shared by every test that runs it (each go build costs seconds of CPU);
// TestMain removes it.
func buildDropp(t *testing.T) string {
	t.Helper()
	builtDropp.once.Do(func() {
		builtDropp.dir, builtDropp.err = os.MkdirTemp("", "dropp-bin-")
		if builtDropp.err != nil {
			return
		}
		bin := filepath.Join(builtDropp.dir, "dropp")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			builtDropp.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		builtDropp.bin = bin
	})
	if builtDropp.err != nil {
		t.Fatal(builtDropp.err)
	}
	return builtDropp.bin
}

var builtDropp struct {
	once     sync.Once
	dir, bin string
	err      error
}

// removeBuiltDropp removes the binary buildDropp built, if a test asked.
func removeBuiltDropp() {
	if builtDropp.dir != "" {
		os.RemoveAll(builtDropp.dir)
	}
}

// startDropp starts the binary in dir and returns its base URL, read from
// the start-up line, and a stop func that sends SIGTERM and waits.
func startDropp(t *testing.T, bin, dir string) (string, func()) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"ADDR=127.0.0.1:0"}
	return startChild(t, cmd, func(err error, stderr string) {
		if err != nil {
			t.Errorf("dropp exited with %v\n%s", err, stderr)
		}
	})
}

// startChild starts cmd, a Dropp binary, and returns its base URL, read
// from its start-up line, and a stop func that sends SIGTERM and waits,
// once (it also runs when the test ends). exited, unless nil, hears how the
// child ended and what it wrote to stderr.
func startChild(t *testing.T, cmd *exec.Cmd, exited func(err error, stderr string)) (string, func()) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			err := cmd.Wait()
			if exited != nil {
				exited(err, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	base := readListenURL(t, stdout)
	if base == "" {
		stop()
		t.Fatalf("no listening line; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return base, stop
}

// readListenURL scans start-up output for "listening: http://host:port/login/".
func readListenURL(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		t.Log("dropp:", sc.Text())
		if rest, ok := strings.CutPrefix(sc.Text(), "listening: "); ok {
			return strings.TrimSuffix(rest, "/login/")
		}
	}
	return ""
}

// desktopSignIn walks the desktop flow as an app does: PKCE challenge,
// /auth/google, the redirect to its loopback URI with a one-time code, and
// the code's redemption at /auth/token.
func desktopSignIn(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	verifier := newSecret(32)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	redirect := "http://127.0.0.1:53682/callback"
	q := url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"app-state"}, "redirect_uri": {redirect}}
	resp, err := c.Get(base + "/auth/google?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode/100 != 3 || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") {
		t.Fatalf("/auth/google: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != "app-state" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect %s lacks code or state", loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	resp, err = c.PostForm(base+"/auth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tok := decode[struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}](t, body)
	if resp.StatusCode != 200 || tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("/auth/token: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// uploadFile runs create → POST form → complete and returns the file id.
func uploadFile(t *testing.T, c *http.Client, base, token, name string, content []byte) string {
	t.Helper()
	body := `{"filename":"` + name + `","size":` + strconv.Itoa(len(content)) + `,"content_type":"text/plain"}`
	up := apiPost[uploadOut](t, c, base+"/upload/", token, body, http.StatusCreated)
	resp, rbody := postUploadForm(t, up.Upload.URL, up.Upload.Fields, content)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("upload form: %d %s", resp.StatusCode, rbody)
	}
	done := apiPost[fileResponseOut](t, c, base+"/upload/"+up.File.ID+"/complete", token, "", http.StatusOK)
	if done.File.Status != "complete" {
		t.Fatalf("complete: %+v", done.File)
	}
	return up.File.ID
}

// apiGet and apiPost call the API with a bearer token and decode the answer.
func apiGet[T any](t *testing.T, c *http.Client, u, token string) T {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return apiCall[T](t, c, req, token, http.StatusOK)
}

func apiPost[T any](t *testing.T, c *http.Client, u, token, body string, status int) T {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return apiCall[T](t, c, req, token, status)
}

func apiCall[T any](t *testing.T, c *http.Client, req *http.Request, token string, status int) T {
	t.Helper()
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return decode[T](t, body)
}

// fetch GETs a pre-signed URL and returns the body.
func fetch(t *testing.T, c *http.Client, u string) []byte {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return body
}
