package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// contractStore is an ObjectStore under the contract test, with what the
// test needs to know about it.
type contractStore struct {
	ObjectStore
	baseURL string // the server's public URL (the local store's forms point there)
	bucket  string // the bucket S3 policies must pin; "" for the local store
}

// TestS3ObjectStoreContract runs the contract against S3 (versitygw).
func TestS3ObjectStoreContract(t *testing.T) {
	t.Parallel()
	testObjectStoreContract(t, s3ContractStore(t))
}

// TestLocalObjectStoreContract runs the same contract against the local
// store, served by a real HTTP server with the store's routes.
func TestLocalObjectStoreContract(t *testing.T) {
	t.Parallel()
	testObjectStoreContract(t, localContractStore(t))
}

// s3ContractStore is a contract's S3 store, on a fresh versitygw bucket.
func s3ContractStore(t *testing.T) contractStore {
	store, bucket := newTestS3Objects(t)
	return contractStore{ObjectStore: store, baseURL: "http://dropp.invalid", bucket: bucket}
}

// localContractStore is a contract's local store, in a new directory,
// served by a real HTTP server with the store's routes.
func localContractStore(t *testing.T) contractStore {
	store, srv := newTestLocalObjects(t)
	return contractStore{ObjectStore: store, baseURL: srv.URL}
}

// newTestLocalObjects opens a local store in a new directory and serves its
// routes through the server's route table.
func newTestLocalObjects(t testing.TB) (*localObjects, *httptest.Server) {
	t.Helper()
	store, err := newLocalObjects(filepath.Join(t.TempDir(), "objects"), []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(serveLocalObjects(t, store))
	t.Cleanup(srv.Close)
	return store, srv
}

// serveLocalObjects serves store's endpoints as run does: through the
// server's route table and middleware.
func serveLocalObjects(t testing.TB, store *localObjects) http.Handler {
	t.Helper()
	cfg, err := loadConfig(testGetenv(map[string]string{"SECRET_KEY": testSecretKey}))
	if err != nil {
		t.Fatal(err)
	}
	return newServer(cfg, localTestLogger(t), newMemStore(), store)
}

// testObjectStoreContract proves, through a real HTTP client posting real
// multipart forms, what the server relies on from any object store: the
// round trip, download headers, and that S3's upload checks refuse what
// they should, with S3's statuses and codes.
func testObjectStoreContract(t *testing.T, s contractStore) {
	t.Run("policy pins key, size, type and expiry", func(t *testing.T) {
		t.Parallel()
		testContractPolicy(t, s)
	})
	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		testContractRoundTrip(t, s)
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		p := contractPolicy(s, 0)
		contractUpload(t, s, p, nil)
	})
	for _, rc := range contractRefusals() {
		t.Run("refuses "+rc.name, func(t *testing.T) {
			t.Parallel()
			testContractRefusal(t, s, rc)
		})
	}
}

// contractPolicy is an upload policy for a fresh key, an exact size and a
// Content-Type, valid for ten minutes.
func contractPolicy(s contractStore, size int64) UploadPolicy {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return UploadPolicy{
		Key:         objectKey("contract-"+newID(), newID(), now),
		MinSize:     size,
		MaxSize:     size,
		ContentType: "text/plain",
		Expires:     now.Add(10 * time.Minute).Truncate(time.Second),
		BaseURL:     s.baseURL,
	}
}

// testContractPolicy decodes the policy a form carries (security checklist
// item 25), so a policy that lets any key or size through fails here.
func testContractPolicy(t *testing.T, s contractStore) {
	p := contractPolicy(s, 42)
	p.MinSize = 7
	form, err := s.PresignUpload(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if s.bucket == "" && form.URL != s.baseURL+"/objects/upload" {
		t.Errorf("form URL %q, want this server's upload endpoint", form.URL)
	}
	if form.Fields["key"] != p.Key || form.Fields["Content-Type"] != p.ContentType {
		t.Errorf("form fields %v: want key %q and Content-Type %q", form.Fields, p.Key, p.ContentType)
	}
	doc := decodeContractPolicy(t, form.Fields["policy"])
	if strings.Contains(string(doc.raw), "starts-with") {
		t.Errorf("policy has a starts-with condition: %s", doc.raw)
	}
	exp, err := time.Parse(time.RFC3339, doc.Expiration)
	if err != nil || exp.Sub(p.Expires).Abs() > 2*time.Second {
		t.Errorf("policy expiration %q, want about %v", doc.Expiration, p.Expires)
	}
	want := map[string]string{"key": p.Key, "content-type": p.ContentType}
	if s.bucket != "" {
		want["bucket"] = s.bucket
	}
	for name, value := range want {
		if got, ok := doc.exact[name]; !ok || got != value {
			t.Errorf("policy pins %s to %q (present %v), want exactly %q: %s", name, got, ok, value, doc.raw)
		}
	}
	if !slices.Equal(doc.lengthRange, []int64{7, 42}) {
		t.Errorf("policy content-length-range %v, want [7 42]: %s", doc.lengthRange, doc.raw)
	}
}

// contractPolicyDoc is an upload policy as a test reads it: the exact-match
// conditions (lower-case names, both of S3's spellings) and the size range.
type contractPolicyDoc struct {
	raw         []byte
	Expiration  string            `json:"expiration"`
	Conditions  []json.RawMessage `json:"conditions"`
	exact       map[string]string
	lengthRange []int64
}

func decodeContractPolicy(t *testing.T, policy string) contractPolicyDoc {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(policy)
	if err != nil {
		t.Fatalf("policy is not base64: %v", err)
	}
	doc := contractPolicyDoc{raw: raw, exact: map[string]string{}}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("policy is not JSON: %v: %s", err, raw)
	}
	for _, c := range doc.Conditions {
		var m map[string]string
		var tuple []any
		switch {
		case json.Unmarshal(c, &m) == nil:
			for k, v := range m {
				doc.exact[strings.ToLower(k)] = v
			}
		case json.Unmarshal(c, &tuple) == nil && len(tuple) == 3 && tuple[0] == "eq":
			doc.exact[strings.ToLower(strings.TrimPrefix(fmt.Sprint(tuple[1]), "$"))] = fmt.Sprint(tuple[2])
		case json.Unmarshal(c, &tuple) == nil && len(tuple) == 3 && tuple[0] == "content-length-range":
			lo, _ := tuple[1].(float64)
			hi, _ := tuple[2].(float64)
			doc.lengthRange = []int64{int64(lo), int64(hi)}
		}
	}
	return doc
}

// contractFilenames are names that could break out of a Content-Disposition
// header (security checklist item 28): quotes, percent signs, backslashes, a
// bidi override, markup and non-ASCII (a name with CR or LF cannot be
// stored: validateFilename refuses it).
var contractFilenames = []string{
	`a"b.txt`, `50%20off.pdf`, `..\..\x`, "\u202Egnp.exe", `<img onerror=alert(1)>.png`, "héllo.txt", "plain.txt",
}

// testContractRoundTrip uploads, heads, downloads under each tricky name, deletes.
func testContractRoundTrip(t *testing.T, s contractStore) {
	content := []byte("hello, dropp: the same bytes back\n")
	p := contractPolicy(s, int64(len(content)))
	contractUpload(t, s, p, content)
	for _, name := range contractFilenames {
		resp, body := contractGet(t, s, DownloadRequest{Key: p.Key, Filename: name, ContentType: "text/plain"}, nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
			t.Fatalf("download %q: %d %q", name, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("Content-Disposition"), contentDisposition(name); got != want {
			t.Errorf("download %q: Content-Disposition %q, want %q", name, got, want)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain" {
			t.Errorf("download %q: Content-Type %q, want text/plain", name, got)
		}
	}
	resp, body := contractGet(t, s, DownloadRequest{Key: p.Key, Filename: "x.txt", ContentType: "text/plain"},
		map[string]string{"Range": "bytes=7-11"})
	if resp.StatusCode != http.StatusPartialContent || string(body) != "dropp" {
		t.Errorf("range download: %d %q, want 206 \"dropp\"", resp.StatusCode, body)
	}
	if err := s.Delete(t.Context(), p.Key); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Head(t.Context(), p.Key); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("head after delete: %v, want ErrObjectNotFound", err)
	}
	if err := s.Delete(t.Context(), p.Key); err != nil {
		t.Fatalf("delete of a missing object: %v, want nil", err)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("ready: %v", err)
	}
}

// contractUpload uploads content under p and checks that Head sees it.
func contractUpload(t *testing.T, s contractStore, p UploadPolicy, content []byte) {
	t.Helper()
	form, err := s.PresignUpload(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	status, body := postContractForm(t, form.URL, contractParts(form.Fields, content))
	if status/100 != 2 {
		t.Fatalf("POST form: %d %s", status, body)
	}
	info, err := s.Head(t.Context(), p.Key)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if info.Size != int64(len(content)) || info.ETag == "" {
		t.Fatalf("head: %+v, want size %d and an ETag", info, len(content))
	}
}

// contractGet presigns a download and GETs it.
func contractGet(t *testing.T, s contractStore, d DownloadRequest, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	d.BaseURL = s.baseURL
	if d.Expires.IsZero() {
		d.Expires = time.Now().Add(10 * time.Minute)
	}
	url, err := s.PresignDownload(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	return contractHTTPGet(t, url, header)
}

func contractHTTPGet(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := contractClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// contractClient shows a redirect as it is, so a test sees exactly what
// the server answered.
var contractClient = noRedirectClient()

// contractPart is one part of a multipart form, in order: a field, or the file
// when file is set.
type contractPart struct {
	name, value string
	file        bool
}

// contractParts is what a client sends: every field (sorted, for repeatable
// tests), then the file last.
func contractParts(fields map[string]string, content []byte) []contractPart {
	var parts []contractPart
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, contractPart{name: k, value: fields[k]})
	}
	return append(parts, contractPart{name: "file", value: string(content), file: true})
}

// postContractForm POSTs the parts as multipart/form-data and returns the status
// and body.
func postContractForm(t *testing.T, url string, parts []contractPart) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		if !p.file {
			mw.WriteField(p.name, p.value)
			continue
		}
		fw, err := mw.CreateFormFile(p.name, "upload.bin")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, p.value)
	}
	mw.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := contractClient.Do(req)
	if err != nil {
		t.Fatalf("POST form: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// contractErrorCode is the <Code> of an S3 XML error body, or "".
func contractErrorCode(body []byte) string {
	var e struct {
		Code string `xml:"Code"`
	}
	xml.Unmarshal(body, &e)
	return e.Code
}

// contractRefusal is one upload S3 must refuse: a change to the policy that
// is presigned, or to the form the client then posts.
type contractRefusal struct {
	name    string
	policy  func(p *UploadPolicy)
	form    func(t *testing.T, parts []contractPart) []contractPart
	content string // the file posted; the policy wants exactly 10 bytes
	status  int    // 0: any 4xx, where S3 and versitygw do not agree
	code    string // S3's error code, checked on both backends; "": not checked
	absent  string // another key that must not exist afterwards
}

// contractRefusals is the refusals table (security checklist item 26): an
// upload too large, to another key, of another Content-Type, with an extra
// unsigned field, or expired must be refused.
func contractRefusals() []contractRefusal {
	const ok = "0123456789"
	other := objectKey("other", newID(), time.Now())
	return []contractRefusal{
		{name: "a file over the declared size", content: ok + "!", status: 400, code: "EntityTooLarge"},
		{name: "a file under the declared size", content: ok[:9], status: 400, code: "EntityTooSmall"},
		{name: "an empty file when bytes are declared", content: "", status: 400, code: "EntityTooSmall"},
		{name: "another Content-Type", content: ok, form: withField("Content-Type", "text/html"), status: 403, code: "AccessDenied"},
		{name: "a missing Content-Type", content: ok, form: withoutField("Content-Type"), status: 403, code: "AccessDenied"},
		{name: "an expired policy", content: ok, policy: func(p *UploadPolicy) { p.Expires = time.Now().Add(-time.Second) },
			status: 403, code: "AccessDenied"},
		{name: "another key", content: ok, form: withField("key", other), status: 403, code: "AccessDenied", absent: other},
		{name: "a key outside the store", content: ok, form: withField("key", "../x")}, // versitygw: 400 with code "400"
		{name: "an extra unsigned field", content: ok, form: withExtraField("x-amz-meta-evil", "1"), status: 403, code: "AccessDenied"},
		{name: "a tampered policy", content: ok, form: withTamperedPolicy, status: 403, code: "SignatureDoesNotMatch"},
		{name: "a tampered signature", content: ok, form: withTamperedSignature, status: 403, code: "SignatureDoesNotMatch"},
		{name: "a form without a policy", content: ok, form: withoutField("policy"), status: 400, code: "InvalidArgument"},
		{name: "a form without a file", content: ok, form: withoutField("file"), status: 400, code: "InvalidArgument"},
		// AWS ignores fields after the file, versitygw checks them against the
		// policy like the others, the local store refuses them: all refuse
		// these two.
		{name: "an unsigned field after the file", content: ok, form: withFieldAfterFile("x-amz-meta-evil", "1")},
		{name: "another key after the file", content: ok, form: withFieldAfterFile("key", other), absent: other},
	}
}

// testContractRefusal posts one refused upload and checks that nothing was
// stored.
func testContractRefusal(t *testing.T, s contractStore, rc contractRefusal) {
	p := contractPolicy(s, 10)
	if rc.policy != nil {
		rc.policy(&p)
	}
	form, err := s.PresignUpload(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	parts := contractParts(form.Fields, []byte(rc.content))
	if rc.form != nil {
		parts = rc.form(t, parts)
	}
	status, body := postContractForm(t, form.URL, parts)
	switch {
	case rc.status == 0 && status/100 != 4, rc.status != 0 && status != rc.status:
		t.Errorf("POST: %d %s; want %d (0: any 4xx)", status, body, rc.status)
	case rc.code != "" && contractErrorCode(body) != rc.code:
		t.Errorf("POST: %d %s; want code %s", status, body, rc.code)
	}
	for _, key := range []string{p.Key, rc.absent} {
		if _, err := s.Head(t.Context(), key); key != "" && !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("head %s after a refused upload: %v, want ErrObjectNotFound", key, err)
		}
	}
}

// withField, withExtraField and withoutField change the fields of a form.
func withField(name, value string) func(*testing.T, []contractPart) []contractPart {
	return func(t *testing.T, parts []contractPart) []contractPart {
		i := slices.IndexFunc(parts, func(p contractPart) bool { return p.name == name })
		if i < 0 {
			t.Fatalf("the form has no field %s", name)
		}
		parts[i].value = value
		return parts
	}
}

func withExtraField(name, value string) func(*testing.T, []contractPart) []contractPart {
	return func(t *testing.T, parts []contractPart) []contractPart {
		return slices.Insert(parts, len(parts)-1, contractPart{name: name, value: value})
	}
}

func withoutField(name string) func(*testing.T, []contractPart) []contractPart {
	return func(t *testing.T, parts []contractPart) []contractPart {
		return slices.DeleteFunc(parts, func(p contractPart) bool { return p.name == name })
	}
}

// withTamperedPolicy widens the size range in the policy but keeps the signature.
func withTamperedPolicy(t *testing.T, parts []contractPart) []contractPart {
	i := slices.IndexFunc(parts, func(p contractPart) bool { return p.name == "policy" })
	raw, err := base64.StdEncoding.DecodeString(parts[i].value)
	if err != nil {
		t.Fatal(err)
	}
	wider := strings.Replace(string(raw), `"content-length-range",10,10`, `"content-length-range",0,1099511627776`, 1)
	if wider == string(raw) {
		t.Fatalf("no content-length-range to widen in %s", raw)
	}
	parts[i].value = base64.StdEncoding.EncodeToString([]byte(wider))
	return parts
}

// withTamperedSignature changes the last character of the signature field,
// whatever the backend calls it.
func withTamperedSignature(t *testing.T, parts []contractPart) []contractPart {
	i := slices.IndexFunc(parts, func(p contractPart) bool { return strings.Contains(strings.ToLower(p.name), "signature") })
	if i < 0 {
		t.Fatal("the form has no signature field")
	}
	sig := []byte(parts[i].value)
	if last := &sig[len(sig)-1]; *last == '0' {
		*last = '1'
	} else {
		*last = '0'
	}
	parts[i].value = string(sig)
	return parts
}

// withFieldAfterFile adds a field after the file.
func withFieldAfterFile(name, value string) func(*testing.T, []contractPart) []contractPart {
	return func(t *testing.T, parts []contractPart) []contractPart {
		return append(parts, contractPart{name: name, value: value})
	}
}
