package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestS3ObjectStoreMultipartContract runs the PUT and multipart contract
// against S3 (versitygw).
func TestS3ObjectStoreMultipartContract(t *testing.T) {
	t.Parallel()
	testMultipartContract(t, s3ContractStore(t))
}

// TestLocalObjectStoreMultipartContract runs the same contract against the
// local store, and checks that abort leaves nothing in its directory.
func TestLocalObjectStoreMultipartContract(t *testing.T) {
	t.Parallel()
	testMultipartContract(t, localContractStore(t))
}

// newTestS3Objects is an S3 object store on a fresh versitygw bucket.
func newTestS3Objects(t *testing.T) (*s3Objects, string) {
	t.Helper()
	bucket := testBucket(t)
	env := s3TestEnv(t, bucket)
	env["ADDR"] = "127.0.0.1:0"
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	store, err := newS3Objects(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("S3 objects: %v", err)
	}
	return store, bucket
}

// testMultipartContract proves what the server relies on from a PUT URL
// and from a part URL: the exact size is enforced by the store, a URL is
// good for its own part of its own upload only and only until it expires,
// and an aborted upload leaves nothing.
func testMultipartContract(t *testing.T, s contractStore) {
	cases := map[string]func(*testing.T, contractStore){
		"put round trip":                       testPutRoundTrip,
		"put refuses another size":             testPutRefusesSize,
		"put refuses another Content-Type":     testPutRefusesType,
		"multipart round trip":                 testMultipartRoundTrip,
		"part refuses another size":            testPartRefusesSize,
		"part URL refused for another part":    testPartURLOtherPart,
		"part URL refused for another upload":  testPartURLOtherUpload,
		"expired part URL refused":             testPartURLExpired,
		"abort leaves nothing behind":          testMultipartAbort,
		"complete refuses a part not uploaded": testCompleteUnknownPart,
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, s)
		})
	}
}

// putBody sends body to a pre-signed PUT with its headers; the HTTP client
// sets Content-Length from the body, as every client does.
func putBody(t *testing.T, put PresignedPut, body []byte) (int, []byte) {
	t.Helper()
	return putBodyTo(t, put.URL, put.Headers, body)
}

func putBodyTo(t *testing.T, rawURL string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k != "Content-Length" {
			req.Header.Set(k, v)
		}
	}
	resp, err := contractClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// contractPut signs a whole-object PUT of size bytes of text/plain.
func contractPut(t *testing.T, s contractStore, key string, size int64, expires time.Time) PresignedPut {
	t.Helper()
	put, err := s.PresignPut(t.Context(), PutRequest{Key: key, Size: size, ContentType: "text/plain",
		Expires: expires, BaseURL: s.baseURL})
	if err != nil {
		t.Fatal(err)
	}
	if put.Method != http.MethodPut || put.Headers["Content-Length"] != strconv.FormatInt(size, 10) ||
		put.Headers["Content-Type"] != "text/plain" {
		t.Fatalf("presigned PUT %+v: want method PUT, Content-Length %d and Content-Type text/plain", put, size)
	}
	return put
}

func testPutRoundTrip(t *testing.T, s contractStore) {
	p := contractPolicy(s, 0)
	content := []byte("put straight to the store\n")
	put := contractPut(t, s, p.Key, int64(len(content)), p.Expires)
	if status, body := putBody(t, put, content); status/100 != 2 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	wantObject(t, s, p.Key, content)
}

func testPutRefusesSize(t *testing.T, s contractStore) {
	p := contractPolicy(s, 0)
	put := contractPut(t, s, p.Key, 10, p.Expires)
	for _, body := range []string{"0123456789!", "012345678"} {
		if status, out := putBody(t, put, []byte(body)); status/100 != 4 {
			t.Errorf("PUT of %d bytes to a URL for 10: %d %s, want 4xx", len(body), status, out)
		}
	}
	wantNoObject(t, s, p.Key)
}

func testPutRefusesType(t *testing.T, s contractStore) {
	p := contractPolicy(s, 0)
	put := contractPut(t, s, p.Key, 10, p.Expires)
	if status, out := putBodyTo(t, put.URL, map[string]string{"Content-Type": "text/html"}, []byte("0123456789")); status/100 != 4 {
		t.Errorf("PUT as text/html to a URL for text/plain: %d %s, want 4xx", status, out)
	}
	wantNoObject(t, s, p.Key)
}

// wantObject wants key to hold exactly content, by Head and by download.
func wantObject(t *testing.T, s contractStore, key string, content []byte) ObjectInfo {
	t.Helper()
	info, err := s.Head(t.Context(), key)
	if err != nil || info.Size != int64(len(content)) || info.ETag == "" {
		t.Fatalf("head: %+v %v, want size %d and an ETag", info, err, len(content))
	}
	resp, body := contractGet(t, s, DownloadRequest{Key: key, Filename: "x.bin"}, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("download: %d, %d bytes, want the %d bytes uploaded", resp.StatusCode, len(body), len(content))
	}
	return info
}

func wantNoObject(t *testing.T, s contractStore, key string) {
	t.Helper()
	if _, err := s.Head(t.Context(), key); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("head %s: %v, want ErrObjectNotFound", key, err)
	}
}

// multipartUpload is an upload started for a contract case.
type multipartUpload struct {
	key, id string
	expires time.Time
}

func startContractMultipart(t *testing.T, s contractStore) multipartUpload {
	t.Helper()
	p := contractPolicy(s, 0)
	id, err := s.CreateMultipart(t.Context(), p.Key, "application/octet-stream", time.Now().Add(time.Hour))
	if err != nil || id == "" {
		t.Fatalf("create multipart: %q %v", id, err)
	}
	return multipartUpload{key: p.Key, id: id, expires: p.Expires}
}

// partURL signs part n of u for size bytes.
func (u multipartUpload) partURL(t *testing.T, s contractStore, n int, size int64, expires time.Time) PresignedPut {
	t.Helper()
	put, err := s.PresignPut(t.Context(), PutRequest{Key: u.key, UploadID: u.id, PartNumber: n, Size: size,
		Expires: expires, BaseURL: s.baseURL})
	if err != nil {
		t.Fatal(err)
	}
	return put
}

// putPart uploads part n and wants it stored.
func (u multipartUpload) putPart(t *testing.T, s contractStore, n int, content []byte) {
	t.Helper()
	put := u.partURL(t, s, n, int64(len(content)), u.expires)
	if status, body := putBody(t, put, content); status/100 != 2 {
		t.Fatalf("PUT part %d: %d %s", n, status, body)
	}
}

// listParts lists u's parts and wants no error.
func (u multipartUpload) listParts(t *testing.T, s contractStore) []PartInfo {
	t.Helper()
	parts, err := s.ListParts(t.Context(), u.key, u.id)
	if err != nil {
		t.Fatalf("list parts: %v", err)
	}
	return parts
}

// contractBytes is n bytes of a repeating pattern that differs per seed.
func contractBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ seed
	}
	return b
}

func testMultipartRoundTrip(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	first, last := contractBytes(minPartBytes, 1), contractBytes(1000, 2)
	u.putPart(t, s, 2, last) // any order
	u.putPart(t, s, 1, first)
	parts := u.listParts(t, s)
	if len(parts) != 2 || parts[0].PartNumber != 1 || parts[0].Size != minPartBytes ||
		parts[1].PartNumber != 2 || parts[1].Size != 1000 || parts[0].ETag == "" {
		t.Fatalf("parts %+v, want 1 (%d bytes) and 2 (1000 bytes) with ETags", parts, minPartBytes)
	}
	if err := s.CompleteMultipart(t.Context(), u.key, u.id, parts); err != nil {
		t.Fatalf("complete: %v", err)
	}
	wantObject(t, s, u.key, append(first, last...))
	if _, err := s.ListParts(t.Context(), u.key, u.id); !errors.Is(err, ErrUploadNotFound) {
		t.Errorf("list parts after complete: %v, want ErrUploadNotFound", err)
	}
	wantNoUploadDir(t, s, u.id)
}

func testPartRefusesSize(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	put := u.partURL(t, s, 1, 100, u.expires)
	for _, n := range []int{99, 101, 0} {
		if status, out := putBody(t, put, contractBytes(n, 3)); status/100 != 4 {
			t.Errorf("PUT of %d bytes to a part URL for 100: %d %s, want 4xx", n, status, out)
		}
	}
	if parts := u.listParts(t, s); len(parts) != 0 {
		t.Errorf("parts after refused PUTs: %+v, want none", parts)
	}
}

// withQuery changes one query parameter of a URL (the signature stays).
func withQuery(t *testing.T, rawURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !q.Has(name) {
		t.Fatalf("URL %s has no %s", rawURL, name)
	}
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func testPartURLOtherPart(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	put := u.partURL(t, s, 1, 100, u.expires)
	other := withQuery(t, put.URL, "partNumber", "2")
	if status, out := putBodyTo(t, other, put.Headers, contractBytes(100, 4)); status/100 != 4 {
		t.Errorf("part 1's URL used for part 2: %d %s, want 4xx", status, out)
	}
	if parts := u.listParts(t, s); len(parts) != 0 {
		t.Errorf("parts: %+v, want none", parts)
	}
}

func testPartURLOtherUpload(t *testing.T, s contractStore) {
	u, v := startContractMultipart(t, s), startContractMultipart(t, s)
	put := u.partURL(t, s, 1, 100, u.expires)
	// The other upload's id, with this URL's key and signature; then the
	// other upload's key too, which a local URL carries in its path.
	other := withQuery(t, put.URL, "uploadId", v.id)
	if status, out := putBodyTo(t, other, put.Headers, contractBytes(100, 5)); status/100 != 4 {
		t.Errorf("a part URL used for another upload: %d %s, want 4xx", status, out)
	}
	if parts := v.listParts(t, s); len(parts) != 0 {
		t.Errorf("the other upload's parts: %+v, want none", parts)
	}
	if parts := u.listParts(t, s); len(parts) != 0 {
		t.Errorf("parts: %+v, want none", parts)
	}
}

func testPartURLExpired(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	put := u.partURL(t, s, 1, 100, time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second))
	time.Sleep(time.Until(put.ExpiresAt) + 1100*time.Millisecond)
	if status, out := putBody(t, put, contractBytes(100, 6)); status != http.StatusForbidden {
		t.Errorf("an expired part URL: %d %s, want 403", status, out)
	}
	if parts := u.listParts(t, s); len(parts) != 0 {
		t.Errorf("parts: %+v, want none", parts)
	}
}

func testMultipartAbort(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	u.putPart(t, s, 1, contractBytes(minPartBytes, 7))
	late := u.partURL(t, s, 2, 100, u.expires)
	if err := s.AbortMultipart(t.Context(), u.key, u.id); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if _, err := s.ListParts(t.Context(), u.key, u.id); !errors.Is(err, ErrUploadNotFound) {
		t.Errorf("list parts after abort: %v, want ErrUploadNotFound", err)
	}
	if status, out := putBody(t, late, contractBytes(100, 8)); status/100 != 4 {
		t.Errorf("a part PUT after abort: %d %s, want 4xx", status, out)
	}
	if err := s.AbortMultipart(t.Context(), u.key, u.id); err != nil {
		t.Errorf("abort again: %v, want nil", err)
	}
	gone := []PartInfo{{PartNumber: 1, Size: minPartBytes, ETag: "0123456789abcdef0123456789abcdef"}}
	if err := s.CompleteMultipart(t.Context(), u.key, u.id, gone); !errors.Is(err, ErrUploadNotFound) {
		t.Errorf("complete after abort: %v, want ErrUploadNotFound", err)
	}
	wantNoObject(t, s, u.key)
	wantNoUploadDir(t, s, u.id)
}

func testCompleteUnknownPart(t *testing.T, s contractStore) {
	u := startContractMultipart(t, s)
	u.putPart(t, s, 1, contractBytes(minPartBytes, 9))
	parts := u.listParts(t, s)
	parts = append(parts, PartInfo{PartNumber: 2, Size: 100, ETag: parts[0].ETag})
	if err := s.CompleteMultipart(t.Context(), u.key, u.id, parts); !errors.Is(err, ErrInvalidParts) {
		t.Fatalf("complete with a part never uploaded: %v, want ErrInvalidParts", err)
	}
	wantNoObject(t, s, u.key)
}

// wantNoUploadDir checks, on the local store, that nothing of the upload
// is left on disk.
func wantNoUploadDir(t *testing.T, s contractStore, uploadID string) {
	t.Helper()
	lo, ok := s.ObjectStore.(*localObjects)
	if !ok {
		return
	}
	if _, err := lo.root.Stat(localUploadPath(uploadID, "")); err == nil {
		t.Errorf("upload %s still has a directory", uploadID)
	}
}
