package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocalMultipartSurvivesRestartAndExpires: an upload's parts outlive the
// process (a restarted server resumes it), and once the upload expires its
// parts are gone, at the next start or the next sweep. Not parallel: its
// upload expires 1.5 s after it is created, and the checks before then must
// not wait on busy neighbours (under CPU load it failed).
func TestLocalMultipartSurvivesRestartAndExpires(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "objects")
	store, base := newTestLocalObjectsAt(t, dir)
	s := contractStore{ObjectStore: store, baseURL: base}
	key := objectKey("restart", newID(), time.Now())
	short, err := store.CreateMultipart(t.Context(), key, "", time.Now().Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	long := startContractMultipart(t, s)
	shortUpload := multipartUpload{key: key, id: short, expires: time.Now().Add(time.Minute)}
	shortUpload.putPart(t, s, 1, []byte("soon gone"))
	long.putPart(t, s, 1, []byte("kept"))
	store.Close()

	store, base = newTestLocalObjectsAt(t, dir) // a restart
	s = contractStore{ObjectStore: store, baseURL: base}
	if parts := long.listParts(t, s); len(parts) != 1 || parts[0].Size != 4 {
		t.Fatalf("parts after a restart: %+v, want part 1 of 4 bytes", parts)
	}
	if parts := shortUpload.listParts(t, s); len(parts) != 1 {
		t.Fatalf("parts of the short upload before it expires: %+v", parts)
	}
	time.Sleep(1600 * time.Millisecond)
	if _, err := store.ListParts(t.Context(), key, short); !errors.Is(err, ErrUploadNotFound) {
		t.Errorf("list parts of an expired upload: %v, want ErrUploadNotFound", err)
	}
	if status, body := putBody(t, shortUpload.partURL(t, s, 2, 3, time.Now().Add(time.Minute)), []byte("abc")); status != http.StatusNotFound {
		t.Errorf("a part for an expired upload: %d %s, want 404 NoSuchUpload", status, body)
	}
	store.SweepExpiredUploads(time.Now())
	wantNoUploadDir(t, s, short)
	if parts := long.listParts(t, s); len(parts) != 1 {
		t.Errorf("the live upload after a sweep: %+v", parts)
	}
}

// TestLocalMultipartCreateTouchesNoOtherUpload: creating a multipart
// upload reads and removes no other upload, not even an expired one (it
// used to read every upload.json of every user, 16 ms growing to 179 ms
// with 5,026 uploads); the server's sweeper still removes the expired
// upload and its parts, and what is no upload, and keeps the live one.
func TestLocalMultipartCreateTouchesNoOtherUpload(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	o := e.srv.objects.(*localObjects)
	ctx := t.Context()
	create := func(expires time.Time) string {
		t.Helper()
		id, err := o.CreateMultipart(ctx, objectKey("sweep", newID(), time.Now()), "", expires)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	expired := create(time.Now().Add(-time.Minute)) // abandoned: no record points at it
	if err := o.root.WriteFile(localUploadPath(expired, localPartName(1)), []byte("abandoned part"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := o.root.Mkdir(localUploadPath("not-an-upload", ""), 0o700); err != nil {
		t.Fatal(err)
	}
	live := create(time.Now().Add(time.Hour))
	for _, id := range []string{expired, "not-an-upload"} {
		if _, err := o.root.Stat(localUploadPath(id, "")); err != nil {
			t.Errorf("creating an upload touched another one (%s): %v", id, err)
		}
	}

	e.srv.sweep(ctx)
	s := contractStore{ObjectStore: o}
	wantNoUploadDir(t, s, expired)
	wantNoUploadDir(t, s, "not-an-upload")
	if _, err := o.root.Stat(localUploadPath(live, localUploadMeta)); err != nil {
		t.Errorf("the live upload after a sweep: %v", err)
	}
}

// BenchmarkLocalMultipartCreate measures CreateMultipart on two local
// stores within one run, one holding 10 other uploads and one 5,000, and
// reports both and their ratio, which is about 1 when create is
// independent of the other uploads:
//
//	go test -run '^$' -bench BenchmarkLocalMultipartCreate -benchtime 200x .
func BenchmarkLocalMultipartCreate(b *testing.B) {
	few, many := benchLocalUploads(b, 10), benchLocalUploads(b, 5000)
	var spent [2]time.Duration
	for b.Loop() {
		for i, o := range []*localObjects{few, many} {
			key := objectKey("bench", newID(), time.Now())
			start := time.Now()
			id, err := o.CreateMultipart(b.Context(), key, "", time.Now().Add(time.Hour))
			spent[i] += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.AbortMultipart(b.Context(), key, id); err != nil { // the count of others stays put
				b.Fatal(err)
			}
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(spent[0]), "µs/create-10-others")
	b.ReportMetric(per(spent[1]), "µs/create-5000-others")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
	b.ReportMetric(0, "ns/op") // both creates, and the aborts: not a figure to read
}

// benchLocalUploads is a local object store holding n live uploads of
// other users, written straight to disk (unsynced: quicker to set up).
func benchLocalUploads(b *testing.B, n int) *localObjects {
	b.Helper()
	o, _ := newTestLocalObjects(b)
	raw, err := json.Marshal(localUploadInfo{Key: "users/other/file", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	if err := o.root.MkdirAll(localUploadsDir, 0o700); err != nil {
		b.Fatal(err)
	}
	for range n {
		id := rand.Text()
		if err := o.root.Mkdir(localUploadPath(id, ""), 0o700); err != nil {
			b.Fatal(err)
		}
		if err := o.root.WriteFile(localUploadPath(id, localUploadMeta), raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return o
}

// newTestLocalObjectsIn is newTestLocalObjects in a given directory, whose
// store and server the caller closes.
func newTestLocalObjectsIn(t *testing.T, dir string) (*localObjects, *httptest.Server) {
	t.Helper()
	store, err := newLocalObjects(dir, []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return store, httptest.NewServer(serveLocalObjects(t, store))
}

// newTestLocalObjectsAt serves a local store in dir, closed at the end of
// the test (Close twice is harmless).
func newTestLocalObjectsAt(t *testing.T, dir string) (*localObjects, string) {
	t.Helper()
	store, srv := newTestLocalObjectsIn(t, dir)
	t.Cleanup(func() { srv.Close(); store.Close() })
	return store, srv.URL
}

// TestLocalPutChecksBeforeReading: a PUT that its URL does not allow is
// refused at once, without reading the body, and the connection is closed;
// a PUT while every upload slot is taken gets 503 SlowDown.
func TestLocalPutChecksBeforeReading(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	s := contractStore{ObjectStore: store, baseURL: srv.URL}
	u := startContractMultipart(t, s)
	put := u.partURL(t, s, 1, 1<<30, u.expires) // a 1 GiB part: never sent
	cases := []struct {
		name   string
		url    string
		status int
		code   string
	}{
		{"tampered signature", withQuery(t, put.URL, "sig", strings.Repeat("0", 64)), 403, "SignatureDoesNotMatch"},
		{"another size", withQuery(t, put.URL, "size", "10"), 403, "SignatureDoesNotMatch"},
		{"wrong Content-Length", put.URL, 403, "SignatureDoesNotMatch"},
	}
	for _, c := range cases {
		// The body says it is 10 bytes (or 1 GiB) but only a few are ever
		// sent: a server that read before checking would wait for the rest.
		start := time.Now()
		status, body := putBodyTo(t, c.url, nil, []byte("0123456789"))
		if status != c.status || contractErrorCode(body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v", c.name, d)
		}
	}
	// A client that announces the part's full 1 GiB, with a bad signature,
	// and sends 4 bytes: the answer comes at once, and closes the connection.
	tampered := withQuery(t, put.URL, "sig", strings.Repeat("0", 64))
	if head := rawPutHead(t, tampered, 1<<30, "0123"); !strings.HasPrefix(head, "HTTP/1.1 403") ||
		!strings.Contains(head, "Connection: close") {
		t.Errorf("a trickling PUT with a bad signature: %q, want 403 at once and the connection closed", head)
	}
	for range cap(store.uploadSlots) {
		store.uploadSlots <- struct{}{}
	}
	small := u.partURL(t, s, 2, 3, u.expires)
	status, body := putBody(t, small, []byte("abc"))
	for range cap(store.uploadSlots) {
		<-store.uploadSlots
	}
	if status != http.StatusServiceUnavailable || contractErrorCode(body) != "SlowDown" {
		t.Errorf("a PUT with every slot taken: %d %s, want 503 SlowDown", status, body)
	}
	if parts := u.listParts(t, s); len(parts) != 0 {
		t.Errorf("parts: %+v, want none", parts)
	}
}

// rawPutHead sends a PUT's head announcing length bytes, then only body,
// and returns the head of the answer, which must come within 5 s while the
// client still owes most of the body.
func rawPutHead(t *testing.T, rawURL string, length int64, body string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", u.RequestURI(), u.Host, length, body)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is owed: %v", err)
	}
	resp.Body.Close()
	head := resp.Proto + " " + resp.Status
	if resp.Close {
		head += "\r\nConnection: close"
	}
	return head
}
