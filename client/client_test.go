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
// temporary directory; sign-in signs in at once, on loopback), and, when
// scripts/test's rig binaries are named (DROPP_TESTRIG_BIN,
// DROPP_VERSITYGW_BIN), once more on FerretDB and versitygw.
var (
	serverOnce sync.Once
	servers    []backend
	serverErr  error
	serverDir  string
	procs      []*exec.Cmd
)

// backend is one running server.
type backend struct{ name, url string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dropp-client-test-")
	if err != nil {
		panic(err)
	}
	serverDir = dir
	code := m.Run()
	for _, p := range procs {
		p.Process.Kill()
		p.Wait()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// backends starts the servers once, for all the package's tests.
func backends(t *testing.T) []backend {
	t.Helper()
	serverOnce.Do(func() { servers, serverErr = startServers() })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return servers
}

// testServer is the local-mode server.
func testServer(t *testing.T) string { return backends(t)[0].url }

func startServers() ([]backend, error) {
	bin := filepath.Join(serverDir, "dropp")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		return nil, &buildError{out}
	}
	local, err := startProc("local", bin, "ADDR=", "DATA_DIR="+filepath.Join(serverDir, "data"))
	if err != nil {
		return nil, err
	}
	all := []backend{{"local", local}}
	ferret, gw := os.Getenv("DROPP_TESTRIG_BIN"), os.Getenv("DROPP_VERSITYGW_BIN")
	if ferret == "" || gw == "" {
		return all, nil
	}
	rig, err := startRig(bin, ferret, gw)
	if err != nil {
		return nil, err
	}
	return append(all, backend{"mongodb+s3", rig}), nil
}

// startRig starts FerretDB (testrig) and versitygw, then a server on them.
func startRig(bin, ferretBin, gwBin string) (string, error) {
	dir := filepath.Join(serverDir, "rig")
	mongoAddr, s3Addr := freeAddr(), freeAddr()
	ferret := exec.Command(ferretBin, "-listen", mongoAddr, "-dir", filepath.Join(dir, "ferretdb"))
	if err := startLogged(ferret, "ferretdb", "ready "); err != nil {
		return "", err
	}
	// versitygw's posix backend serves each directory of its root as a
	// bucket: making the directory makes the bucket.
	if err := os.MkdirAll(filepath.Join(dir, "s3", "dropp"), 0o700); err != nil {
		return "", err
	}
	gw := exec.Command(gwBin, "--port", s3Addr, "--region", "us-east-1", "posix", filepath.Join(dir, "s3"))
	gw.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=droppClientKey", "ROOT_SECRET_ACCESS_KEY=droppClientSecret")
	if err := startLogged(gw, "versitygw", ""); err != nil {
		return "", err
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", s3Addr); err == nil {
			c.Close()
			break
		} else if i == 100 {
			return "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return startProc("mongodb+s3", bin, "ADDR=", "MONGODB_URI=mongodb://"+mongoAddr+"/", "MONGO_DB=dropp_client",
		"AWS_S3_BUCKET=dropp", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3=http://"+s3Addr, "S3_FORCE_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID=droppClientKey", "AWS_SECRET_ACCESS_KEY=droppClientSecret",
		"SECRET_KEY=client-test-secret-key-0123456789abcdef-0123")
}

// startLogged starts cmd with its output in a log file and, if ready is
// not "", waits for a line starting with it.
func startLogged(cmd *exec.Cmd, name, ready string) error {
	logFile, err := os.Create(filepath.Join(serverDir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	procs = append(procs, cmd)
	lines := bufio.NewScanner(out)
	found := ready == ""
	for !found && lines.Scan() {
		found = strings.HasPrefix(lines.Text(), ready)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	if !found {
		data, _ := os.ReadFile(logFile.Name())
		return &buildError{append([]byte(name+" exited before it was ready: "), data...)}
	}
	return nil
}

// startProc starts the dropp binary with env (ADDR= is given a free
// port) and returns its URL once it listens.
func startProc(name, bin string, env ...string) (string, error) {
	addr := freeAddr()
	cmd := exec.Command(bin)
	cmd.Dir = serverDir // no .env of the developer's
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + serverDir}
	for _, kv := range env {
		if kv == "ADDR=" {
			kv += addr
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if err := startLogged(cmd, "dropp-"+name, "listening: "); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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

func signIn(t *testing.T, base string) *Client {
	t.Helper()
	c, tok, err := SignIn(t.Context(), base, followBrowser, 30*time.Second)
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
		t.Run(b.name, func(t *testing.T) { testRoundTrip(t, b.url) })
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
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testUploadRefusalIsTyped(t, b.url) })
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
		t.Run(b.name, func(t *testing.T) { testMultipartUploadResumes(t, b.url) })
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
	if _, err := c.Download(t.Context(), f.ID, dest, nil); err != nil {
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
