package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The local object store's own tests; what it shares with S3 is proved by
// objects_contract_test.go.

// localTestLogger sends the store's warnings and errors to the test log.
func localTestLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(localTestLogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type localTestLogWriter struct{ tb testing.TB }

func (w localTestLogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// localTestKey is a key of the shape the server makes.
func localTestKey() string { return objectKey("local-"+newID(), newID(), time.Now().UTC()) }

// localTestPolicy is a policy for content of exactly size bytes.
func localTestPolicy(baseURL string, size int64) UploadPolicy {
	return UploadPolicy{Key: localTestKey(), MinSize: size, MaxSize: size, ContentType: "application/octet-stream",
		Expires: time.Now().Add(10 * time.Minute), BaseURL: baseURL}
}

// localPut stores content under a new key through the upload endpoint.
func localPut(t *testing.T, store *localObjects, baseURL string, content []byte) string {
	t.Helper()
	p := localTestPolicy(baseURL, int64(len(content)))
	form, err := store.PresignUpload(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := postContractForm(t, form.URL, contractParts(form.Fields, content)); status != http.StatusNoContent {
		t.Fatalf("upload: %d %s", status, body)
	}
	return p.Key
}

func TestLocalObjectsValidKey(t *testing.T) {
	t.Parallel()
	valid := []string{
		localTestKey(), "a", "a/b", "A-Z_0.9/x.y.z", "a..b", strings.Repeat("k", maxLocalKeyLen),
	}
	invalid := []string{
		"", ".", "..", "../x", "users/../../etc/passwd", "a/../b", "a/./b", "/abs", "a//b", "a/", "./a",
		".tmp/x", "a/.b.etag", `a\b`, `..\x`, "%2e%2e/x", "a%2Fb", "a b", "a\x00b", "a\nb", "c:/x", "é",
		strings.Repeat("k", maxLocalKeyLen+1),
	}
	for _, k := range valid {
		if !validLocalKey(k) {
			t.Errorf("validLocalKey(%q) = false, want true", k)
		}
	}
	for _, k := range invalid {
		if validLocalKey(k) {
			t.Errorf("validLocalKey(%q) = true, want false", k)
		}
	}
}

// localBadKeys are keys that try to leave the store's directory or reach
// its own files.
var localBadKeys = []string{"../x", "users/../../etc/passwd", "/abs", "a//b", ".tmp/x", "../objects-evil/x", `..\..\x`}

// TestLocalObjectsRefuseBadKeys: no method takes a key outside the store.
func TestLocalObjectsRefuseBadKeys(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	for _, key := range localBadKeys {
		if _, err := store.PresignUpload(t.Context(), UploadPolicy{Key: key, MaxSize: 1, BaseURL: srv.URL}); err == nil {
			t.Errorf("PresignUpload(%q) made a form", key)
		}
		if u, err := store.PresignDownload(t.Context(), DownloadRequest{Key: key, BaseURL: srv.URL}); err == nil {
			t.Errorf("PresignDownload(%q) made a URL: %s", key, u)
		}
		if _, err := store.Head(t.Context(), key); !errors.Is(err, errInvalidObjectKey) {
			t.Errorf("Head(%q): %v, want errInvalidObjectKey", key, err)
		}
		if err := store.Delete(t.Context(), key); !errors.Is(err, errInvalidObjectKey) {
			t.Errorf("Delete(%q): %v, want errInvalidObjectKey", key, err)
		}
	}
}

// TestLocalObjectsUploadTraversal posts forms whose policy this store
// really signed for a key outside its directory (as if PresignUpload had
// a bug): the endpoint must still refuse them, and write nothing.
func TestLocalObjectsUploadTraversal(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	top := filepath.Dir(localStoreDir(store))
	before := localListFiles(t, top)
	for _, key := range localBadKeys {
		t.Run(key, func(t *testing.T) {
			fields := localForgeForm(t, store, key, 1)
			status, body := postContractForm(t, srv.URL+"/objects/upload", contractParts(fields, []byte("x")))
			if status != http.StatusBadRequest || contractErrorCode(body) != "InvalidArgument" {
				t.Errorf("POST with key %q: %d %s, want 400 InvalidArgument", key, status, body)
			}
		})
	}
	t.Cleanup(func() {
		if after := localListFiles(t, top); !slices.Equal(after, before) {
			t.Errorf("files changed by refused uploads:\nbefore %q\nafter  %q", before, after)
		}
	})
}

// localForgeForm builds an upload form the store's key signs for any key,
// bypassing PresignUpload's own check of the key.
func localForgeForm(t *testing.T, store *localObjects, key string, size int64) map[string]string {
	t.Helper()
	raw, err := json.Marshal(localPolicyDoc{
		Expiration: time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		Conditions: []any{map[string]string{"key": key}, []any{"content-length-range", size, size}},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(raw)
	return map[string]string{"key": key, "policy": policy, localFormSignature: hex.EncodeToString(store.policyMAC(policy))}
}

// localStoreDir is the directory of the store.
func localStoreDir(store *localObjects) string { return store.root.Name() }

// localListFiles lists every file and directory under dir, relative to it.
func localListFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLocalObjectsDownloadTraversal tries to read a file next to the
// store's directory, and the store's own files, through URLs the store's
// key signed for exactly the key each path asks for.
func TestLocalObjectsDownloadTraversal(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	secret := "TOP SECRET " + newID()
	top := filepath.Dir(localStoreDir(store))
	if err := os.WriteFile(filepath.Join(top, "secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	key := localPut(t, store, srv.URL, []byte("inside the store"))
	sidecar := filepath.ToSlash(localETagPath(key)) // a file of the store's own, holding this MD5:
	etag := localMD5("inside the store")
	paths := []string{
		"../secret", "%2e%2e/secret", "..%2fsecret", "%2e%2e%2fsecret", "users%2f..%2f..%2fsecret",
		"/secret", "%2fsecret", "a//../../secret", ".tmp", sidecar, url.PathEscape(sidecar),
		strings.ReplaceAll(key, "/", "%2f") + "/../../../../secret",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			u := srv.URL + "/objects/" + p + "?" + localSignFor(t, store, p)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := contractClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("GET /objects/%s: %d", p, resp.StatusCode)
			if resp.StatusCode == http.StatusOK || bytes.Contains(body, []byte(secret)) || bytes.Contains(body, []byte(etag)) {
				t.Errorf("GET /objects/%s: %d %q", p, resp.StatusCode, body)
			}
		})
	}
	// The handler itself, past any cleaning by the mux.
	for _, k := range append(slices.Clone(localBadKeys), "../secret", filepath.ToSlash(localETagPath(key))) {
		r := httptest.NewRequest(http.MethodGet, "/objects/x?"+localSignFor(t, store, k), nil)
		r.SetPathValue("key", k)
		w := httptest.NewRecorder()
		store.handleDownload(w, r)
		if w.Code != http.StatusBadRequest || contractErrorCode(w.Body.Bytes()) != "InvalidArgument" {
			t.Errorf("handleDownload(key %q): %d %s, want 400 InvalidArgument", k, w.Code, w.Body)
		}
	}
}

// localSignFor signs download parameters for the key a raw URL path would
// carry once unescaped.
func localSignFor(t *testing.T, store *localObjects, rawPath string) string {
	t.Helper()
	key, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	q := localDownloadParams{expires: fmt.Sprint(time.Now().Add(time.Hour).Unix()), rcd: "attachment"}
	return url.Values{"expires": {q.expires}, "rcd": {q.rcd}, "sig": {hex.EncodeToString(store.downloadMAC(key, q))}}.Encode()
}

func localMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestLocalObjectsDownloadURLIsSigned: a download URL works as issued, and
// not once any part of it is changed or it has expired.
func TestLocalObjectsDownloadURLIsSigned(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	content := []byte("signed content")
	key := localPut(t, store, srv.URL, content)
	otherKey := localPut(t, store, srv.URL, []byte("other content"))
	good, err := store.PresignDownload(t.Context(), DownloadRequest{
		Key: key, Filename: "a.txt", ContentType: "text/plain", Expires: time.Now().Add(time.Minute), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := contractHTTPGet(t, good, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET as issued: %d %q", resp.StatusCode, body)
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "Content-Type": "text/plain", "ETag": `"` + localMD5(string(content)) + `"`,
		"Content-Disposition": contentDisposition("a.txt"), "Accept-Ranges": "bytes",
		"Content-Security-Policy": "sandbox; default-src 'none'",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Errorf("Cache-Control: %q, want private with a max-age", cc)
	}

	edits := map[string]func(u *url.URL, q url.Values){
		"other rcd":     func(u *url.URL, q url.Values) { q.Set("rcd", "inline") },
		"no rcd":        func(u *url.URL, q url.Values) { q.Del("rcd") },
		"other rct":     func(u *url.URL, q url.Values) { q.Set("rct", "text/html") },
		"later expires": func(u *url.URL, q url.Values) { q.Set("expires", fmt.Sprint(time.Now().Add(time.Hour).Unix())) },
		"other key":     func(u *url.URL, q url.Values) { u.Path = "/objects/" + otherKey },
		"no sig":        func(u *url.URL, q url.Values) { q.Del("sig") },
		"short sig":     func(u *url.URL, q url.Values) { q.Set("sig", q.Get("sig")[:32]) },
		"non-hex sig":   func(u *url.URL, q url.Values) { q.Set("sig", strings.Repeat("z", 64)) },
	}
	for name, edit := range edits {
		u, _ := url.Parse(good)
		q := u.Query()
		edit(u, q)
		u.RawQuery = q.Encode()
		resp, body := contractHTTPGet(t, u.String(), nil)
		if resp.StatusCode != http.StatusForbidden || contractErrorCode(body) != "SignatureDoesNotMatch" {
			t.Errorf("%s: %d %s, want 403 SignatureDoesNotMatch", name, resp.StatusCode, body)
		}
	}

	expired, err := store.PresignDownload(t.Context(), DownloadRequest{
		Key: key, Filename: "a.txt", Expires: time.Now().Add(-time.Second), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := contractHTTPGet(t, expired, nil); resp.StatusCode != http.StatusForbidden || contractErrorCode(body) != "AccessDenied" {
		t.Errorf("expired URL: %d %s, want 403 AccessDenied", resp.StatusCode, body)
	}

	if err := store.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if resp, body := contractHTTPGet(t, good, nil); resp.StatusCode != http.StatusNotFound || contractErrorCode(body) != "NoSuchKey" {
		t.Errorf("after delete: %d %s, want 404 NoSuchKey", resp.StatusCode, body)
	}
}

// TestLocalObjectsDownloadDefaultsToBinary: with no content type, a
// download is served as bytes to save, never sniffed.
func TestLocalObjectsDownloadDefaultsToBinary(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	key := localPut(t, store, srv.URL, []byte("<html><script>alert(1)</script>"))
	resp, _ := contractHTTPGet(t, localDownloadURL(t, store, srv.URL, key), nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/octet-stream" {
		t.Errorf("download: %d Content-Type %q, want 200 application/octet-stream", resp.StatusCode, ct)
	}
}

func localDownloadURL(t *testing.T, store *localObjects, baseURL, key string) string {
	t.Helper()
	u, err := store.PresignDownload(t.Context(), DownloadRequest{Key: key, Filename: "f", Expires: time.Now().Add(time.Minute), BaseURL: baseURL})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestLocalObjectsUploadForm covers what the local endpoint refuses beyond
// the contract, with its own codes, and checks no temporary file is left.
func TestLocalObjectsUploadForm(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	fields := func(t *testing.T) (map[string]string, string) {
		form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, 3))
		if err != nil {
			t.Fatal(err)
		}
		return form.Fields, form.Fields["key"]
	}
	many := func(t *testing.T, f map[string]string) []contractPart {
		parts := contractParts(f, []byte("abc"))
		for i := range maxLocalFormFields {
			parts = slices.Insert(parts, 0, contractPart{name: fmt.Sprint("x-pad-", i), value: "1"})
		}
		return parts
	}
	cases := []struct {
		name   string
		parts  func(t *testing.T, f map[string]string) []contractPart
		status int
		code   string
	}{
		{"a field after the file", func(t *testing.T, f map[string]string) []contractPart {
			return append(contractParts(f, []byte("abc")), contractPart{name: "key", value: f["key"]})
		}, 400, "InvalidArgument"},
		{"a second file", func(t *testing.T, f map[string]string) []contractPart {
			return append(contractParts(f, []byte("abc")), contractPart{name: "file", value: "abc", file: true})
		}, 400, "InvalidArgument"},
		{"a repeated field", func(t *testing.T, f map[string]string) []contractPart {
			return append([]contractPart{{name: "KEY", value: f["key"]}}, contractParts(f, []byte("abc"))...)
		}, 400, "InvalidArgument"},
		{"too many fields", many, 400, "MaxPostPreDataLengthExceeded"},
		{"a field too long", func(t *testing.T, f map[string]string) []contractPart {
			return slices.Insert(contractParts(f, []byte("abc")), 0, contractPart{name: "x", value: strings.Repeat("a", maxLocalFieldBytes+1)})
		}, 400, "MaxPostPreDataLengthExceeded"},
		{"no signature", func(t *testing.T, f map[string]string) []contractPart {
			delete(f, localFormSignature)
			return contractParts(f, []byte("abc"))
		}, 400, "InvalidArgument"},
		{"field names in another case", func(t *testing.T, f map[string]string) []contractPart {
			upper := map[string]string{}
			for k, v := range f {
				upper[strings.ToUpper(k)] = v
			}
			return contractParts(upper, []byte("abc"))
		}, 204, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, key := fields(t)
			status, body := postContractForm(t, srv.URL+"/objects/upload", c.parts(t, f))
			if status != c.status || (c.code != "" && contractErrorCode(body) != c.code) {
				t.Errorf("POST: %d %s, want %d %s", status, body, c.status, c.code)
			}
			if _, err := store.Head(t.Context(), key); (status == 204) != (err == nil) {
				t.Errorf("POST answered %d but Head says %v", status, err)
			}
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/objects/upload", "application/x-www-form-urlencoded", strings.NewReader("key=a"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || contractErrorCode(body) != "MalformedPOSTRequest" {
			t.Errorf("POST: %d %s, want 400 MalformedPOSTRequest", resp.StatusCode, body)
		}
	})
	t.Run("a body cut short", func(t *testing.T) {
		f, key := fields(t)
		status, body := localPostTruncated(t, srv.URL+"/objects/upload", f)
		if status != 400 || contractErrorCode(body) != "IncompleteBody" {
			t.Errorf("POST: %d %s, want 400 IncompleteBody", status, body)
		}
		if _, err := store.Head(t.Context(), key); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("Head: %v, want ErrObjectNotFound", err)
		}
	})
	t.Cleanup(func() {
		if left := localListFiles(t, filepath.Join(localStoreDir(store), localTmpDir)); len(left) != 1 {
			t.Errorf("temporary files left behind: %q", left)
		}
	})
}

// localPostTruncated sends a form whose body ends in the middle of the file.
func localPostTruncated(t *testing.T, url string, fields map[string]string) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		mw.WriteField(k, fields[k])
	}
	fw, _ := mw.CreateFormFile("file", "f")
	fw.Write([]byte("ab"))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := contractClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestLocalObjectsOpen: stale temporary files are cleared at open, but not
// those another process may be writing now; the directory is private, and
// Ready notices the directory going away.
func TestLocalObjectsOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "objects")
	store, err := newLocalObjects(dir, []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stale, live := filepath.Join(dir, localTmpDir, "stale"), filepath.Join(dir, localTmpDir, "live")
	for _, name := range []string{stale, live} {
		if err := os.WriteFile(name, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-staleTmpAge - time.Minute)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	store.Close()
	store, err = newLocalObjects(dir, []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file after reopening: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a temporary file just written, after reopening: %v", err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("store directory: %v %v, want mode 0700", info.Mode(), err)
	}
	if err := store.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := store.Ready(t.Context()); err == nil {
		t.Error("Ready after the directory was removed: nil, want an error")
	}
	if _, err := newLocalObjects(dir, nil, localTestLogger(t)); err == nil {
		t.Error("newLocalObjects without a secret: nil error")
	}
}

// TestLocalObjectsHeadHashesObjectsWithoutETag: an object placed by hand
// gets its MD5 as ETag.
func TestLocalObjectsHeadHashesObjectsWithoutETag(t *testing.T) {
	t.Parallel()
	store, _ := newTestLocalObjects(t)
	key := "users/by-hand/file"
	if err := os.MkdirAll(filepath.Join(localStoreDir(store), "users", "by-hand"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(localStoreDir(store), "users", "by-hand", "file"), []byte("by hand"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := store.Head(t.Context(), key)
	if err != nil || info.Size != 7 || info.ETag != localMD5("by hand") {
		t.Errorf("Head: %+v %v, want size 7 and ETag %s", info, err, localMD5("by hand"))
	}
	if _, err := store.Head(t.Context(), "users/by-hand"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("Head of a directory: %v, want ErrObjectNotFound", err)
	}
	if _, err := store.Head(t.Context(), "users/by-hand/file/below"); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("Head below a file: %v, want ErrObjectNotFound", err)
	}
}

// TestLocalObjectsOutlastServerTimeouts: the server's ReadTimeout and
// WriteTimeout are sized for API calls; an upload or download that keeps
// moving must outlast them, and one that stalls must not.
func TestLocalObjectsOutlastServerTimeouts(t *testing.T) {
	t.Parallel()
	store, err := newLocalObjects(filepath.Join(t.TempDir(), "objects"), []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.idleTimeout = 2 * time.Second
	srv := httptest.NewUnstartedServer(serveLocalObjects(t, store))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	srv.Start()
	defer srv.Close()

	// The idle timeout leaves a loaded machine (or the race detector) two
	// seconds per chunk, so only a real stall trips it.
	const size = 12 << 20
	p := localTestPolicy(srv.URL, size)
	form, err := store.PresignUpload(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	// 12 chunks of 1 MiB, 150 ms apart: about two seconds, four ReadTimeouts.
	slow := &localSlowReader{r: io.LimitReader(newLocalPattern(), size), chunk: 1 << 20, pause: 150 * time.Millisecond}
	status, _, err := localStreamUpload(srv.Client(), form, slow)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("slow upload: %d %v, want 204", status, err)
	}

	u := localDownloadURL(t, store, srv.URL, p.Key)
	resp, err := srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, &localSlowReader{r: resp.Body, chunk: 1 << 20, pause: 150 * time.Millisecond})
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("slow download: %d bytes, %v; want %d", n, err, size)
	}

	form, err = store.PresignUpload(t.Context(), localTestPolicy(srv.URL, size))
	if err != nil {
		t.Fatal(err)
	}
	stalled := &localSlowReader{r: io.LimitReader(newLocalPattern(), size), chunk: 1 << 20, pause: 5 * time.Second}
	if status, _, err := localStreamUpload(srv.Client(), form, stalled); err == nil && status/100 == 2 {
		t.Fatalf("an upload stalled past the idle timeout was accepted: %d", status)
	}
}

// localSlowReader reads at most chunk bytes at a time, pausing before each
// new chunk.
type localSlowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
	left  int
}

func (s *localSlowReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		time.Sleep(s.pause)
		s.left = s.chunk
	}
	n, err := s.r.Read(p[:min(len(p), s.left)])
	s.left -= n
	return n, err
}

// localPattern is an endless cheap stream of bytes, so a test can upload
// gigabytes without holding them.
type localPattern struct {
	block []byte
	off   int
}

func newLocalPattern() *localPattern {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return &localPattern{block: b}
}

func (p *localPattern) Read(b []byte) (int, error) {
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	return n, nil
}

// localStreamUpload posts form with content as the file, streaming it
// through a pipe so the test never holds the file either. It returns the
// status and the MD5 of what was sent.
func localStreamUpload(client *http.Client, form UploadForm, content io.Reader) (int, string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := md5.New()
	written := make(chan struct{})
	go func() {
		defer close(written)
		for _, k := range slices.Sorted(maps.Keys(form.Fields)) {
			mw.WriteField(k, form.Fields[k])
		}
		fw, err := mw.CreateFormFile("file", "big.bin")
		if err == nil {
			_, err = io.Copy(fw, io.TeeReader(content, h))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	status, err := localPostBody(client, form.URL, mw.FormDataContentType(), pr)
	pr.CloseWithError(errors.New("request over")) // a server that stopped reading no longer blocks the writer
	<-written
	return status, hex.EncodeToString(h.Sum(nil)), err
}

func localPostBody(client *http.Client, url, contentType string, body io.Reader) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// TestLocalUploadMemoryFlat uploads a large file through the real handler
// over loopback and checks that the process's heap does not grow with it:
// the file is streamed to disk, never buffered. 128 MiB always runs;
// DROPP_BIG_UPLOAD=1 adds 1 GiB. Not parallel: it measures the whole
// process, so it runs while no parallel test does.
func TestLocalUploadMemoryFlat(t *testing.T) {
	sizes := []int64{128 << 20}
	if os.Getenv("DROPP_BIG_UPLOAD") == "1" {
		sizes = append(sizes, 1<<30)
	}
	store, srv := newTestLocalObjects(t)
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, size))
			if err != nil {
				t.Fatal(err)
			}
			var status int
			var sent string
			m := localMeasureMemory(func() {
				status, sent, err = localStreamUpload(srv.Client(), form, io.LimitReader(newLocalPattern(), size))
			})
			if err != nil || status != http.StatusNoContent {
				t.Fatalf("upload: %d %v", status, err)
			}
			info, err := store.Head(t.Context(), form.Fields["key"])
			if err != nil || info.Size != size || info.ETag != sent {
				t.Fatalf("Head: %+v %v, want size %d ETag %s", info, err, size, sent)
			}
			t.Logf("%d MiB in %v (%.0f MB/s): heap in use grew %.1f MiB at most, %.1f MiB allocated in all",
				size>>20, m.elapsed.Round(time.Millisecond), float64(size)/m.elapsed.Seconds()/1e6,
				float64(m.peakHeapGrowth)/(1<<20), float64(m.allocated)/(1<<20))
			const limit = 16 << 20
			if m.peakHeapGrowth > limit || m.allocated > limit {
				t.Errorf("uploading %d MiB grew the heap by %d bytes and allocated %d: want both under %d",
					size>>20, m.peakHeapGrowth, m.allocated, limit)
			}
		})
	}
}

// localMemory is what localMeasureMemory saw.
type localMemory struct {
	elapsed        time.Duration
	peakHeapGrowth uint64 // highest HeapInuse seen, minus HeapInuse before
	allocated      uint64 // TotalAlloc after minus before: every byte allocated meanwhile
}

// localMeasureMemory runs f while sampling the heap every 10 ms.
func localMeasureMemory(f func()) localMemory {
	runtime.GC()
	var before, ms runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	peak.Store(before.HeapInuse)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var s runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				peak.Store(max(peak.Load(), s.HeapInuse))
			}
		}
	}()
	start := time.Now()
	f()
	elapsed := time.Since(start)
	close(done)
	<-sampled
	runtime.ReadMemStats(&ms)
	var growth uint64
	if top := max(peak.Load(), ms.HeapInuse); top > before.HeapInuse {
		growth = top - before.HeapInuse
	}
	return localMemory{elapsed: elapsed, peakHeapGrowth: growth, allocated: ms.TotalAlloc - before.TotalAlloc}
}

// BenchmarkLocalUpload posts a 64 MiB file through the real handler over
// loopback: MB/s is the local store's upload throughput (multipart parsing,
// MD5, write and fsync included, and the client's side of the work too);
// with -benchmem, B/op shows what one upload allocates, client included.
func BenchmarkLocalUpload(b *testing.B) {
	const size = 64 << 20
	store, srv := newTestLocalObjects(b)
	b.SetBytes(size)
	for b.Loop() {
		form, err := store.PresignUpload(context.Background(), localTestPolicy(srv.URL, size))
		if err != nil {
			b.Fatal(err)
		}
		status, _, err := localStreamUpload(srv.Client(), form, io.LimitReader(newLocalPattern(), size))
		if err != nil || status != http.StatusNoContent {
			b.Fatalf("upload: %d %v", status, err)
		}
		store.Delete(context.Background(), form.Fields["key"])
	}
}

// localModeEnv is the environment of a server wholly in local mode, in a
// directory of its own.
func localModeEnv(t *testing.T) (env map[string]string, dataDir string) {
	dataDir = t.TempDir()
	return map[string]string{"DATA_DIR": dataDir, "SECRET_KEY": testSecretKey, "ADDR": "127.0.0.1:0"}, dataDir
}

// TestLocalFormsDieWithTheirFile (security checklist item 37): through the real
// API in local mode, a form cannot replace the object of a completed file,
// nor store anything once its file is deleted.
func TestLocalFormsDieWithTheirFile(t *testing.T) {
	t.Parallel()
	env, dataDir := localModeEnv(t)
	e := startTestEnv(t, env)
	tok := e.newUser("former")
	objectsDir := filepath.Join(dataDir, "objects")

	t.Run("re-posted after complete", func(t *testing.T) {
		original := []byte("hello")
		resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "a.txt"}})
		wantStatus(t, resp, body, http.StatusCreated)
		up := decode[uploadOut](t, body)
		if resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, original); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("first POST: %d %s", resp.StatusCode, body)
		}
		resp, body = e.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: tok})
		wantStatus(t, resp, body, http.StatusOK)

		resp, body = postUploadForm(t, up.Upload.URL, up.Upload.Fields, bytes.Repeat([]byte("x"), 2<<20))
		if resp.StatusCode != http.StatusForbidden || contractErrorCode(body) != "AccessDenied" {
			t.Errorf("second POST of the form: %d %s, want 403 AccessDenied", resp.StatusCode, body)
		}
		resp, body = e.do(request{method: "GET", path: "/download/" + up.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusOK)
		got, data := contractHTTPGet(t, decode[downloadOut](t, body).URL, nil)
		if got.StatusCode != http.StatusOK || !bytes.Equal(data, original) {
			t.Errorf("download after the second POST: %d, %d bytes; want the original %q", got.StatusCode, len(data), original)
		}
	})

	t.Run("posted after delete", func(t *testing.T) {
		resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "b.bin"}})
		wantStatus(t, resp, body, http.StatusCreated)
		up := decode[uploadOut](t, body)
		resp, body = e.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)

		before := localListFiles(t, objectsDir)
		resp, body = postUploadForm(t, up.Upload.URL, up.Upload.Fields, bytes.Repeat([]byte("x"), 3<<20))
		if resp.StatusCode != http.StatusForbidden || contractErrorCode(body) != "AccessDenied" {
			t.Errorf("POST of a deleted file's form: %d %s, want 403 AccessDenied", resp.StatusCode, body)
		}
		if _, err := os.Lstat(filepath.Join(objectsDir, filepath.FromSlash(up.Upload.Fields["key"]))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the deleted file's key on disk: %v", err)
		}
		if after := localListFiles(t, objectsDir); !slices.Equal(after, before) {
			t.Errorf("files changed by the refused POST:\nbefore %q\nafter  %q", before, after)
		}
	})
}

// TestLocalUploadSameFormAtOnce posts one form eight times at once, each
// with other bytes: exactly one is stored, whole, with its own ETag, and
// the others are refused.
func TestLocalUploadSameFormAtOnce(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	const size, posts = 256 << 10, 8
	form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, size))
	if err != nil {
		t.Fatal(err)
	}
	statuses := make([]int, posts)
	bodies := make([][]byte, posts)
	contents := make([][]byte, posts)
	done := make(chan struct{})
	for i := range posts {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
		go func() {
			defer func() { done <- struct{}{} }()
			statuses[i], bodies[i] = postContractForm(t, form.URL, contractParts(form.Fields, contents[i]))
		}()
	}
	for range posts {
		<-done
	}
	winner := -1
	for i, status := range statuses {
		switch {
		case status == http.StatusNoContent && winner < 0:
			winner = i
		case status == http.StatusForbidden && contractErrorCode(bodies[i]) == "AccessDenied":
		default:
			t.Errorf("post %d: %d %s; want one 204 and the rest 403 AccessDenied", i, status, bodies[i])
		}
	}
	if winner < 0 {
		t.Fatalf("no post stored: %v", statuses)
	}
	key := form.Fields["key"]
	_, data := contractHTTPGet(t, localDownloadURL(t, store, srv.URL, key), nil)
	info, err := store.Head(t.Context(), key)
	if !bytes.Equal(data, contents[winner]) || err != nil || info.ETag != localMD5(string(contents[winner])) {
		t.Errorf("stored %d bytes starting %q, Head %+v %v; want the winner's bytes and ETag", len(data), data[:min(len(data), 4)], info, err)
	}
}

// TestLocalUploadDeletedWhileStreaming deletes the key while its file is
// still streaming in: the check before the final link refuses it, and
// nothing is stored.
func TestLocalUploadDeletedWhileStreaming(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	const size = 64 << 20
	form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, size))
	if err != nil {
		t.Fatal(err)
	}
	key := form.Fields["key"]
	// Loopback socket buffers hold a few MiB at most: once 32 MiB are sent,
	// the server has verified the form and is writing the file.
	half := make(chan struct{})
	content := io.MultiReader(io.LimitReader(newLocalPattern(), size/2), localReaderFunc(func() {
		if err := store.Delete(t.Context(), key); err != nil {
			t.Error(err)
		}
		close(half)
	}), io.LimitReader(newLocalPattern(), size/2))
	status, _, err := localStreamUpload(srv.Client(), form, content)
	<-half
	if err != nil || status != http.StatusForbidden {
		t.Errorf("upload whose key was deleted half-way: %d %v, want 403", status, err)
	}
	if _, err := store.Head(t.Context(), key); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("Head after: %v, want ErrObjectNotFound", err)
	}
}

// localReaderFunc is an empty reader that calls f when first read.
type localReaderFunc func()

func (f localReaderFunc) Read(p []byte) (int, error) {
	f()
	return 0, io.EOF
}

// TestLocalObjectsTombstones: a tombstone outlives every form for its key,
// and goes once none can be posted any more.
func TestLocalObjectsTombstones(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	p := localTestPolicy(srv.URL, 1)
	p.Expires = time.Now().Add(localMaxFormLifetime + time.Minute)
	if _, err := store.PresignUpload(t.Context(), p); err == nil {
		t.Error("PresignUpload signed a form that outlives the tombstone of its key")
	}
	// The longest form the configuration allows must fit.
	longest := fmt.Sprint(int64(localMaxFormLifetime / time.Second))
	if _, err := loadConfig(testGetenv(map[string]string{"UPLOAD_POST_TTL_SECONDS": longest})); err == nil {
		t.Errorf("UPLOAD_POST_TTL_SECONDS=%s accepted: forms could outlive the local store's tombstones", longest)
	}

	old, fresh := localTestKey(), localTestKey()
	for _, k := range []string{old, fresh} {
		if err := store.Delete(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	oldPath := filepath.Join(localStoreDir(store), localTombstonePath(old))
	past := time.Now().Add(-localMaxFormLifetime - time.Minute)
	if err := os.Chtimes(oldPath, past, past); err != nil {
		t.Fatal(err)
	}
	store.sweepMu.Lock()
	store.nextSweep = time.Time{} // due now
	store.sweepMu.Unlock()
	if err := store.Delete(t.Context(), localTestKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tombstone past every form's lifetime: %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(localStoreDir(store), localTombstonePath(fresh))); err != nil {
		t.Errorf("fresh tombstone: %v, want it kept", err)
	}
}

// TestLocalUploadCapAndVerifyDeadline (security checklist item 36): uploads past
// the cap are answered 503 at once, and one that trickles its fields is
// cut when its absolute deadline passes, however often it sends a byte;
// its slot is then free for a real upload.
func TestLocalUploadCapAndVerifyDeadline(t *testing.T) {
	t.Parallel()
	store, err := newLocalObjects(filepath.Join(t.TempDir(), "objects"), []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.uploadSlots = make(chan struct{}, 2)
	store.verifyTimeout = time.Second
	srv := httptest.NewServer(serveLocalObjects(t, store))
	defer srv.Close()

	type trickled struct {
		open   time.Duration
		status string
		err    error
	}
	results := make(chan trickled, 2)
	prelude := localTricklePrelude(srv.Listener.Addr().String(), 0)
	for range 2 {
		go func() {
			open, status, err := localTrickle(srv.Listener.Addr().String(), prelude, 100*time.Millisecond, 5*time.Second)
			results <- trickled{open, status, err}
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); len(store.uploadSlots) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the trickling uploads hold %d slots after 5s, want 2", len(store.uploadSlots))
		}
	}

	form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, 3))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := postUploadForm(t, form.URL, form.Fields, []byte("abc"))
	if resp.StatusCode != http.StatusServiceUnavailable || contractErrorCode(body) != "SlowDown" ||
		resp.Header.Get("Retry-After") != "1" {
		t.Errorf("upload past the cap: %d Retry-After %q %s, want 503 SlowDown with Retry-After 1 (the verify timeout)",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	for range 2 {
		r := <-results
		t.Logf("trickling upload: open %v, answered %q, %v", r.open.Round(time.Millisecond), r.status, r.err)
		if r.err != nil || r.open > store.verifyTimeout+time.Second || !strings.Contains(r.status, " 400 ") {
			t.Errorf("trickling upload open %v, answered %q (%v); want a 400 and the connection closed within %v",
				r.open, r.status, r.err, store.verifyTimeout+time.Second)
		}
	}
	if resp, body := postUploadForm(t, form.URL, form.Fields, []byte("abc")); resp.StatusCode != http.StatusNoContent {
		t.Errorf("upload once the trickling ones were cut: %d %s, want 204", resp.StatusCode, body)
	}
}

// localTricklePrelude is the start of an upload that never finishes: the
// request head and the first part's header, then (padHeader > 0) that
// many bytes of a header line never ended, or else the start of the key
// field's value.
func localTricklePrelude(host string, padHeader int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /objects/upload HTTP/1.1\r\nHost: %s\r\n", host)
	b.WriteString("Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000000\r\n\r\n")
	b.WriteString("--B\r\nContent-Disposition: form-data; name=\"key\"\r\n")
	if padHeader > 0 {
		b.WriteString("X-Pad: ")
		b.Write(bytes.Repeat([]byte("a"), padHeader))
	} else {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// errLocalStillOpen: a trickling connection outlived the test's patience.
var errLocalStillOpen = errors.New("connection still open")

// localTrickle sends prelude on a new connection, then one byte every
// `every`, until the server closes the connection, or giveUp passes
// (errLocalStillOpen). It returns how long the connection stayed open and
// the status line of the answer, if one came before the close. It calls
// no t method, so many may run at once.
func localTrickle(addr string, prelude []byte, every, giveUp time.Duration) (time.Duration, string, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, giveUp)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetWriteDeadline(start.Add(giveUp))
	if _, err := c.Write(prelude); err != nil {
		return time.Since(start), "", localTrickleWriteError(err)
	}
	var answer []byte
	buf := make([]byte, 512)
	for time.Since(start) < giveUp {
		c.SetReadDeadline(time.Now().Add(every))
		n, err := c.Read(buf)
		if len(answer) < 64 {
			answer = append(answer, buf[:n]...)
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if _, err := c.Write([]byte("a")); err != nil {
				return time.Since(start), localStatusLine(answer), localTrickleWriteError(err)
			}
		default: // EOF or reset: the server closed it
			return time.Since(start), localStatusLine(answer), nil
		}
	}
	return time.Since(start), localStatusLine(answer), errLocalStillOpen
}

// localTrickleWriteError is nil for a write refused because the server
// closed the connection, and errLocalStillOpen for one that only met the
// test's own deadline.
func localTrickleWriteError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errLocalStillOpen
	}
	return nil
}

// localStatusLine is the first line of an HTTP answer.
func localStatusLine(answer []byte) string {
	line, _, _ := bytes.Cut(answer, []byte("\r\n"))
	return string(line)
}

// TestLocalUploadBoundsFieldsBeforeSignature: what precedes the file, part
// headers included, is read up to 64 KiB in all (S3 allows 20 KB), even in
// a form whose signature is good.
func TestLocalUploadBoundsFieldsBeforeSignature(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	form, err := store.PresignUpload(t.Context(), localTestPolicy(srv.URL, 3))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	const bound = 64 << 10 // what the README promises
	for _, k := range slices.Sorted(maps.Keys(form.Fields)) {
		h := textproto.MIMEHeader{"Content-Disposition": {fmt.Sprintf(`form-data; name=%q`, k)}}
		if k == localFormKey {
			h.Set("X-Pad", strings.Repeat("a", bound)) // a part header, not a field
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, form.Fields[k])
	}
	fw, _ := mw.CreateFormFile("file", "f")
	fw.Write([]byte("abc"))
	mw.Close()
	resp, err := http.Post(form.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || contractErrorCode(body) != "MaxPostPreDataLengthExceeded" {
		t.Errorf("form with a %d-byte part header: %d %s, want 400 MaxPostPreDataLengthExceeded", bound, resp.StatusCode, body)
	}
}

// TestLocalUploadMalformedMultipart: broken bodies get a 400 with S3's
// error shape, never a 5xx.
func TestLocalUploadMalformedMultipart(t *testing.T) {
	t.Parallel()
	_, srv := newTestLocalObjects(t)
	const mp = "multipart/form-data; boundary=B"
	cases := []struct{ name, contentType, body string }{
		{"no boundary", "multipart/form-data", "--B\r\n\r\nx\r\n--B--\r\n"},
		{"empty boundary", "multipart/form-data; boundary=", "--\r\n\r\nx\r\n----\r\n"},
		{"bad media type", "multipart/form-data; boundary", "x"},
		{"other boundary", mp, "--C\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nx\r\n--C--\r\n"},
		{"empty body", mp, ""},
		{"only the closing boundary", mp, "--B--\r\n"},
		{"garbage", mp, "\x00\xff\xfe garbage \r\n\r\n--"},
		{"no field name", mp, "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--\r\n"},
		{"unterminated name", mp, "--B\r\nContent-Disposition: form-data; name=\"key\r\n\r\nx\r\n--B--\r\n"},
		{"header without colon", mp, "--B\r\nnot a header\r\n\r\nx\r\n--B--\r\n"},
		{"header never ends", mp, "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n"},
		{"value never ends", mp, "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nabc"},
		{"bad quoted-printable", mp, "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ\r\n--B--\r\n"},
		{"file first", mp, "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--B--\r\n"},
		{"no file", mp, "--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--B--\r\n"},
		{"bad signature hex", mp, "--B\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\neA==\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"x-dropp-signature\"\r\n\r\nzz\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nx\r\n--B--\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(srv.URL+"/objects/upload", c.contentType, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 4 || contractErrorCode(body) == "" {
				t.Errorf("POST: %d %s, want a 4xx with an S3 error code", resp.StatusCode, body)
			}
		})
	}
}
