package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Test copies of the multipart API's shapes.
type (
	multipartCreateOut struct {
		File   fileOut `json:"file"`
		Upload struct {
			Method    string    `json:"method"`
			PartSize  int64     `json:"part_size"`
			PartCount int       `json:"part_count"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"upload"`
	}
	putOut struct {
		PartNumber int               `json:"part_number"`
		Method     string            `json:"method"`
		URL        string            `json:"url"`
		Headers    map[string]string `json:"headers"`
		ExpiresAt  time.Time         `json:"expires_at"`
	}
	partURLsOut struct {
		Parts []putOut `json:"parts"`
	}
	storedPartOut struct {
		PartNumber int    `json:"part_number"`
		Size       int64  `json:"size"`
		ETag       string `json:"etag"`
	}
	storedPartsOut struct {
		Parts []storedPartOut `json:"parts"`
	}
)

// partsClient is a desktop client uploading in parts. It keeps nothing
// between calls but the file's id and its part size and count, which the
// server gives again (a fresh partsClient can resume any upload).
type partsClient struct {
	t     *testing.T
	e     *testEnv
	token string
}

// create announces a multipart file of size bytes.
func (c partsClient) create(name string, size int64) multipartCreateOut {
	c.t.Helper()
	resp, body := c.e.do(request{method: "POST", path: "/upload/", token: c.token,
		body: map[string]any{"filename": name, "size": size, "content_type": "application/octet-stream", "multipart": true}})
	wantStatus(c.t, resp, body, http.StatusCreated)
	up := decode[multipartCreateOut](c.t, body)
	if up.Upload.Method != "multipart" || up.File.Status != "pending" {
		c.t.Fatalf("create multipart: %s", body)
	}
	return up
}

// partURLs asks for the URLs of nums, at most 100 at a time.
func (c partsClient) partURLs(id string, nums []int) []putOut {
	c.t.Helper()
	var all []putOut
	for batch := range slices.Chunk(nums, maxPartsPerCall) {
		resp, body := c.e.do(request{method: "POST", path: "/upload/" + id + "/parts", token: c.token,
			body: map[string]any{"part_numbers": batch}})
		wantStatus(c.t, resp, body, http.StatusOK)
		all = append(all, decode[partURLsOut](c.t, body).Parts...)
	}
	return all
}

// stored asks which parts the object store holds.
func (c partsClient) stored(id string) []storedPartOut {
	c.t.Helper()
	resp, body := c.e.do(request{method: "GET", path: "/upload/" + id + "/parts", token: c.token})
	wantStatus(c.t, resp, body, http.StatusOK)
	return decode[storedPartsOut](c.t, body).Parts
}

// send uploads the given parts of a file of size bytes cut in partSize
// pieces, each streamed from testContent.
func (c partsClient) send(id string, size, partSize int64, nums []int) {
	c.t.Helper()
	for _, p := range c.partURLs(id, nums) {
		off := int64(p.PartNumber-1) * partSize
		n := min(partSize, size-off)
		if p.Method != "PUT" || p.Headers["Content-Length"] != fmt.Sprint(n) {
			c.t.Fatalf("part %d: %+v, want a PUT of %d bytes", p.PartNumber, p, n)
		}
		if status, body := streamPut(c.t, p, testContent(off, n), n); status/100 != 2 {
			c.t.Fatalf("PUT part %d: %d %s", p.PartNumber, status, body)
		}
	}
}

// record reads the stored record of the client's file id from the store.
func (c partsClient) record(id string) *File {
	c.t.Helper()
	cred, err := c.e.srv.store.FindCredential(c.t.Context(), kindBearer, hashSecret(c.token), time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	f, err := c.e.srv.store.GetFile(c.t.Context(), cred.UserID, id)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// complete calls complete and returns the answer.
func (c partsClient) complete(id string) (*http.Response, []byte) {
	c.t.Helper()
	return c.e.do(request{method: "POST", path: "/upload/" + id + "/complete", token: c.token})
}

// streamPut sends n bytes from content to a pre-signed PUT without holding
// them.
func streamPut(t testing.TB, p putOut, content io.Reader, n int64) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), p.Method, p.URL, content)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	for k, v := range p.Headers {
		if k != "Content-Length" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// testContent is the n bytes at offset off of a test file: every byte
// depends on its offset, so parts sent in the wrong order or to the wrong
// place change the SHA-256.
func testContent(off, n int64) io.Reader {
	return io.LimitReader(&offsetPattern{off: off}, n)
}

// offsetPattern yields byte i = low byte of (i ^ i>>8 ^ i>>16 ^ i>>24).
type offsetPattern struct{ off int64 }

func (p *offsetPattern) Read(b []byte) (int, error) {
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16 ^ x>>24)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// testContentSHA256 is the SHA-256 of a test file of size bytes.
func testContentSHA256(size int64) string {
	h := sha256.New()
	io.Copy(h, testContent(0, size))
	return hex.EncodeToString(h.Sum(nil))
}

// downloadSHA256 downloads the file and returns its size and SHA-256.
func (c partsClient) downloadSHA256(id string) (int64, string) {
	c.t.Helper()
	resp, body := c.e.do(request{method: "GET", path: "/download/" + id, token: c.token})
	wantStatus(c.t, resp, body, http.StatusOK)
	got, err := http.Get(decode[downloadOut](c.t, body).URL)
	if err != nil {
		c.t.Fatal(err)
	}
	defer got.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, got.Body)
	if err != nil || got.StatusCode != http.StatusOK {
		c.t.Fatalf("download: %d %v", got.StatusCode, err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// partNumbers is from..to.
func partNumbers(from, to int) []int {
	var nums []int
	for n := from; n <= to; n++ {
		nums = append(nums, n)
	}
	return nums
}

// onEachObjectStoreWithSmallParts runs test, in parallel subtests, on a
// server that cuts uploads in parts of the smallest size, on each object
// store: S3 (with MongoDB) and local objects (with the local store).
func onEachObjectStoreWithSmallParts(t *testing.T, test func(t *testing.T, e *testEnv)) {
	for _, objects := range []string{"s3", "local"} {
		t.Run(objects, func(t *testing.T) {
			t.Parallel()
			metadata := map[string]string{"s3": "mongodb", "local": "local"}[objects]
			test(t, startTestEnv(t, backendEnv(t, metadata, objects, map[string]string{"PART_SIZE_BYTES": fmt.Sprint(minPartBytes)})))
		})
	}
}

// TestMultipartResume uploads 105 MiB in 5 MiB parts, stops after half,
// and resumes with a fresh client that knows only the file id: it lists
// the parts stored, sends the rest and completes. The download must have
// the SHA-256 of the file. Before the rest is sent, complete answers 409
// naming the missing parts, and the file stays pending. On S3 (versitygw)
// and on the local object store.
func TestMultipartResume(t *testing.T) {
	t.Parallel()
	onEachObjectStoreWithSmallParts(t, func(t *testing.T, e *testEnv) {
		token := e.newUser("resumer")
		const size = 105<<20 + 12345
		first := partsClient{t: t, e: e, token: token}
		up := first.create("backup.img", size)
		if up.Upload.PartSize != minPartBytes || up.Upload.PartCount != 22 {
			t.Fatalf("upload %+v, want 22 parts of %d bytes", up.Upload, minPartBytes)
		}
		first.send(up.File.ID, size, up.Upload.PartSize, partNumbers(1, 11))

		// A new client, with nothing but the file id.
		again := partsClient{t: t, e: e, token: token}
		resp, body := again.complete(up.File.ID)
		wantStatus(t, resp, body, http.StatusConflict)
		if !strings.Contains(string(body), "missing parts: 12, 13, 14") {
			t.Errorf("early complete: %s, want the missing parts named", body)
		}
		stored := again.stored(up.File.ID)
		var have []int
		for _, p := range stored {
			if p.Size != minPartBytes || p.ETag == "" {
				t.Errorf("stored part %+v, want %d bytes and an ETag", p, minPartBytes)
			}
			have = append(have, p.PartNumber)
		}
		if !slices.Equal(have, partNumbers(1, 11)) {
			t.Fatalf("stored parts %v, want 1..11", have)
		}
		var rest []int
		for n := 1; n <= up.Upload.PartCount; n++ {
			if !slices.Contains(have, n) {
				rest = append(rest, n)
			}
		}
		again.send(up.File.ID, size, up.Upload.PartSize, rest)
		resp, body = again.complete(up.File.ID)
		wantStatus(t, resp, body, http.StatusOK)
		if f := decode[fileResponseOut](t, body).File; f.Status != "complete" || f.Size == nil || *f.Size != size {
			t.Fatalf("completed file: %s", body)
		}
		n, sum := again.downloadSHA256(up.File.ID)
		if want := testContentSHA256(size); n != size || sum != want {
			t.Fatalf("download: %d bytes, SHA-256 %s; want %d bytes, %s", n, sum, int64(size), want)
		}
		resp, body = again.complete(up.File.ID) // twice is harmless
		wantStatus(t, resp, body, http.StatusOK)
	})
}

// TestMultipartUploadRoundTrip walks the client routine with a multipart
// file on every combination of metadata and object store: create, part
// URLs, PUTs, complete, list, download, delete.
func TestMultipartUploadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, metadata := range []string{"mongodb", "local"} {
		for _, objects := range []string{"s3", "local"} {
			t.Run(metadata+"+"+objects, func(t *testing.T) {
				t.Parallel()
				e := startTestEnv(t, backendEnv(t, metadata, objects, map[string]string{"PART_SIZE_BYTES": fmt.Sprint(minPartBytes)}))
				walkMultipartRoutine(t, e)
			})
		}
	}
}

// walkMultipartRoutine is what a desktop client does with one large file.
func walkMultipartRoutine(t *testing.T, e *testEnv) {
	t.Helper()
	c := partsClient{t: t, e: e, token: e.newUser("alice")}
	resp, body := e.do(request{method: "POST", path: "/upload/", token: c.token, body: map[string]any{"filename": "small.txt", "size": 1}})
	wantStatus(t, resp, body, http.StatusCreated)
	if !strings.Contains(string(body), `"method":"POST"`) {
		t.Errorf("single upload answer %s: want method POST", body)
	}
	const size = minPartBytes + 1000
	up := c.create("video.mp4", size)
	if up.Upload.PartCount != 2 || up.Upload.PartSize != minPartBytes {
		t.Fatalf("upload %+v, want 2 parts", up.Upload)
	}
	c.send(up.File.ID, size, up.Upload.PartSize, []int{2, 1})
	resp, body = c.complete(up.File.ID)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = e.do(request{method: "GET", path: "/list/", token: c.token})
	wantStatus(t, resp, body, http.StatusOK)
	list := decode[listOut](t, body)
	i := slices.IndexFunc(list.Files, func(f fileOut) bool { return f.ID == up.File.ID })
	if len(list.Files) != 2 || i < 0 || list.Files[i].Status != "complete" {
		t.Fatalf("list: %s", body)
	}
	if n, sum := c.downloadSHA256(up.File.ID); n != size || sum != testContentSHA256(size) {
		t.Fatalf("download: %d bytes %s", n, sum)
	}
	resp, body = e.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: c.token})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.do(request{method: "GET", path: "/download/" + up.File.ID, token: c.token})
	wantStatus(t, resp, body, http.StatusNotFound)

	// Deleting a file half uploaded aborts the upload: no part stays.
	half := c.create("half.mp4", size)
	c.send(half.File.ID, size, half.Upload.PartSize, []int{1})
	f := c.record(half.File.ID)
	resp, body = e.do(request{method: "DELETE", path: "/files/" + half.File.ID, token: c.token})
	wantStatus(t, resp, body, http.StatusNoContent)
	if _, err := e.srv.objects.ListParts(t.Context(), f.ObjectKey, f.UploadID); !errors.Is(err, ErrUploadNotFound) {
		t.Errorf("list parts after deleting a half-uploaded file: %v, want ErrUploadNotFound", err)
	}
}

// TestMultipartAPI checks the contract of the multipart routes on MongoDB
// and S3: validation, ownership, the part URL answer, abort on delete.
func TestMultipartAPI(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, map[string]string{"PART_SIZE_BYTES": fmt.Sprint(minPartBytes), "MAX_UPLOAD_BYTES": fmt.Sprint(int64(6 << 30))})
	t.Run("create validation", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("v")
		cases := []struct {
			name string
			body map[string]any
			want string
		}{
			{"multipart without size", map[string]any{"filename": "a", "multipart": true}, `"size" is required`},
			{"multipart of nothing", map[string]any{"filename": "a", "size": 0, "multipart": true}, "empty file"},
			{"multipart over MAX_UPLOAD_BYTES", map[string]any{"filename": "a", "size": 6<<30 + 1, "multipart": true}, `"size" must be from 0 to`},
			{"single over 5 GiB", map[string]any{"filename": "a", "size": 5<<30 + 1}, `"multipart": true`},
			{"multipart not a flag", map[string]any{"filename": "a", "size": 1, "multipart": "yes"}, ""},
		}
		for _, c := range cases {
			resp, body := a.do(request{method: "POST", path: "/upload/", token: tok, body: c.body})
			wantStatus(t, resp, body, http.StatusBadRequest)
			if msg := decode[apiErrorJSON](t, body).Message; !strings.Contains(msg, c.want) {
				t.Errorf("%s: %q, want it to say %s", c.name, msg, c.want)
			}
		}
	})
	t.Run("single answer says POST", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		resp, body := a.do(request{method: "POST", path: "/upload/", token: a.newUser("s"), body: map[string]any{"filename": "a", "size": 5 << 30}})
		wantStatus(t, resp, body, http.StatusCreated)
		if !strings.Contains(string(body), `"method":"POST"`) {
			t.Errorf("single upload answer %s: want method POST", body)
		}
	})
	t.Run("part size", func(t *testing.T) {
		t.Parallel()
		c := partsClient{t: t, e: a.on(t).testEnv, token: a.newUser("p")}
		up := c.create("big.iso", 6<<30)
		if up.Upload.PartSize != minPartBytes || up.Upload.PartCount != 1229 || up.Upload.ExpiresAt.Before(time.Now().Add(6*24*time.Hour)) {
			t.Errorf("upload %+v: want 1229 parts of 5 MiB, for 7 days", up.Upload)
		}
		if up.File.Size == nil || *up.File.Size != 6<<30 {
			t.Errorf("file %+v: want the declared size", up.File)
		}
	})
	t.Run("part URL validation", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		c := partsClient{t: t, e: a.testEnv, token: a.newUser("u")}
		up := c.create("x.bin", 3*minPartBytes)
		path := "/upload/" + up.File.ID + "/parts"
		for _, body := range []any{
			map[string]any{"part_numbers": []int{}},
			map[string]any{"part_numbers": []int{0}},
			map[string]any{"part_numbers": []int{4}},
			map[string]any{"part_numbers": []int{1, 1}},
			map[string]any{"part_numbers": partNumbers(1, 101)},
			map[string]any{"part_numbers": "1"},
			map[string]any{},
		} {
			resp, out := a.do(request{method: "POST", path: path, token: c.token, body: body})
			wantStatus(t, resp, out, http.StatusBadRequest)
		}
		urls := c.partURLs(up.File.ID, []int{3, 1})
		if len(urls) != 2 || urls[0].PartNumber != 3 || urls[1].PartNumber != 1 || urls[0].Method != "PUT" ||
			urls[0].Headers["Content-Length"] != fmt.Sprint(minPartBytes) || urls[0].ExpiresAt.After(time.Now().Add(time.Hour+time.Second)) {
			t.Errorf("part URLs %+v", urls)
		}
	})
	t.Run("single upload has no parts", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		tok := a.newUser("n")
		up := a.create(tok, map[string]any{"filename": "a", "size": 3})
		for _, req := range []request{
			{method: "POST", path: "/upload/" + up.File.ID + "/parts", body: map[string]any{"part_numbers": []int{1}}},
			{method: "GET", path: "/upload/" + up.File.ID + "/parts"},
		} {
			req.token = tok
			resp, body := a.do(req)
			wantStatus(t, resp, body, http.StatusConflict)
		}
	})
	t.Run("another user's upload is not found", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		c := partsClient{t: t, e: a.testEnv, token: a.newUser("owner")}
		up := c.create("mine.bin", minPartBytes+1)
		thief := a.newUser("thief")
		for _, req := range []request{
			{method: "POST", path: "/upload/" + up.File.ID + "/parts", body: map[string]any{"part_numbers": []int{1}}},
			{method: "GET", path: "/upload/" + up.File.ID + "/parts"},
			{method: "POST", path: "/upload/" + up.File.ID + "/complete"},
			{method: "DELETE", path: "/files/" + up.File.ID},
			{method: "GET", path: "/upload/not-an-id/parts"},
		} {
			req.token = thief
			resp, body := a.do(req)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		if got := c.stored(up.File.ID); len(got) != 0 {
			t.Errorf("parts %+v", got)
		}
	})
	t.Run("delete aborts", func(t *testing.T) {
		t.Parallel()
		a := a.on(t)
		c := partsClient{t: t, e: a.testEnv, token: a.newUser("d")}
		const size = minPartBytes + 10
		up := c.create("gone.bin", size)
		c.send(up.File.ID, size, up.Upload.PartSize, []int{1})
		f, err := a.srv.store.GetFile(t.Context(), a.userID(c.token), up.File.ID)
		if err != nil || f.UploadID == "" {
			t.Fatalf("record %+v %v: want an upload id", f, err)
		}
		resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: c.token})
		wantStatus(t, resp, body, http.StatusNoContent)
		if _, err := a.srv.objects.ListParts(t.Context(), f.ObjectKey, f.UploadID); !errors.Is(err, ErrUploadNotFound) {
			t.Errorf("list parts after delete: %v, want ErrUploadNotFound", err)
		}
	})
}

// TestCheckParts names missing and wrong-sized parts (a wrong size cannot
// come through a signed URL, so it is tested here).
func TestCheckParts(t *testing.T) {
	t.Parallel()
	size := int64(2*minPartBytes + 7)
	f := &File{DeclaredSize: &size, PartSize: minPartBytes, PartCount: 3}
	part := func(n int, s int64) PartInfo { return PartInfo{PartNumber: n, Size: s, ETag: "e"} }
	cases := []struct {
		parts []PartInfo
		want  string
	}{
		{[]PartInfo{part(1, minPartBytes), part(2, minPartBytes), part(3, 7)}, ""},
		{nil, "missing parts: 1, 2, 3"},
		{[]PartInfo{part(2, minPartBytes)}, "missing parts: 1, 3"},
		{[]PartInfo{part(1, minPartBytes), part(2, 5), part(3, 7)}, "parts of the wrong size: 2 (5 bytes, want 5242880)"},
		{[]PartInfo{part(1, minPartBytes), part(2, minPartBytes), part(3, 8)}, "parts of the wrong size: 3 (8 bytes, want 7)"},
		{[]PartInfo{part(1, minPartBytes), part(2, minPartBytes), part(3, 7), part(4, 1)}, "parts of the wrong size: 4"},
	}
	for _, c := range cases {
		got := checkParts(f, c.parts)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("checkParts(%v) = %q, want %q", c.parts, got, c.want)
		}
	}
}

// TestChoosePartSize keeps to S3's limits: parts of at least 5 MiB and
// PART_SIZE_BYTES, and at most 10,000 of them.
func TestChoosePartSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		size, preferred, wantSize int64
		wantCount                 int
	}{
		{1, 16 << 20, 16 << 20, 1},
		{16 << 20, 16 << 20, 16 << 20, 1},
		{16<<20 + 1, 16 << 20, 16 << 20, 2},
		{50 << 30, 16 << 20, 16 << 20, 3200},
		{1 << 40, 16 << 20, 105 << 20, 9987},
		{maxObjectBytes, minPartBytes, 525 << 20, 9987},
		{100 << 20, 1, minPartBytes, 20},
	}
	for _, c := range cases {
		size, count := choosePartSize(c.size, c.preferred)
		if size != c.wantSize || count != c.wantCount || count > maxPartCount || size < minPartBytes ||
			int64(count-1)*size >= c.size || int64(count)*size < c.size {
			t.Errorf("choosePartSize(%d, %d) = %d, %d; want %d, %d", c.size, c.preferred, size, count, c.wantSize, c.wantCount)
		}
	}
}

// TestCompleteTime: completing a 50 GiB file may take far longer than the
// server's WriteTimeout lets an ordinary call.
func TestCompleteTime(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		size int64
		want time.Duration
	}{{1, time.Minute}, {2 << 30, time.Minute + 102*time.Second}, {50 << 30, time.Minute + 2560*time.Second}} {
		if got := completeTime(c.size); got != c.want {
			t.Errorf("completeTime(%d) = %v, want %v", c.size, got, c.want)
		}
	}
}

// TestPutUploadMethod: with S3_UPLOAD_METHOD=put a single upload is a
// pre-signed PUT of the declared size and type, on S3 and locally.
func TestPutUploadMethod(t *testing.T) {
	t.Parallel()
	for _, objects := range []string{"s3", "local"} {
		t.Run(objects, func(t *testing.T) {
			t.Parallel()
			e := startTestEnv(t, backendEnv(t, "local", objects, map[string]string{"S3_UPLOAD_METHOD": "put"}))
			tok := e.newUser("r2")
			resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "a.txt"}})
			wantStatus(t, resp, body, http.StatusBadRequest)
			content := "put, not post\n"
			resp, body = e.do(request{method: "POST", path: "/upload/", token: tok,
				body: map[string]any{"filename": "a.txt", "size": len(content), "content_type": "text/plain"}})
			wantStatus(t, resp, body, http.StatusCreated)
			up := decode[struct {
				File   fileOut `json:"file"`
				Upload putOut  `json:"upload"`
			}](t, body)
			if up.Upload.Method != "PUT" || up.Upload.Headers["Content-Type"] != "text/plain" ||
				up.Upload.Headers["Content-Length"] != fmt.Sprint(len(content)) {
				t.Fatalf("upload %s: want a PUT with Content-Type and Content-Length", body)
			}
			if status, out := streamPut(t, up.Upload, strings.NewReader(content+"!"), int64(len(content)+1)); status/100 != 4 {
				t.Errorf("PUT of one byte too many: %d %s", status, out)
			}
			if status, out := streamPut(t, up.Upload, strings.NewReader(content), int64(len(content))); status/100 != 2 {
				t.Fatalf("PUT: %d %s", status, out)
			}
			resp, body = e.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: tok})
			wantStatus(t, resp, body, http.StatusOK)
		})
	}
}

// TestLocalPutRefusesStoredOrDeletedKey: a local PUT URL stores its object
// once, and dies with its file, like a form: a completed object is never
// replaced.
func TestLocalPutRefusesStoredOrDeletedKey(t *testing.T) {
	t.Parallel()
	store, srv := newTestLocalObjects(t)
	s := contractStore{ObjectStore: store, baseURL: srv.URL}
	for _, deleted := range []bool{false, true} {
		p := contractPolicy(s, 0)
		put := contractPut(t, s, p.Key, 3, p.Expires)
		if status, body := putBody(t, put, []byte("abc")); status/100 != 2 {
			t.Fatalf("PUT: %d %s", status, body)
		}
		if deleted {
			if err := store.Delete(t.Context(), p.Key); err != nil {
				t.Fatal(err)
			}
		}
		if status, body := putBody(t, put, []byte("xyz")); status != http.StatusForbidden {
			t.Errorf("PUT again (deleted %v): %d %s, want 403", deleted, status, body)
		}
		if !deleted {
			wantObject(t, s, p.Key, []byte("abc"))
		} else {
			wantNoObject(t, s, p.Key)
		}
	}
}

// TestLocalMultipartMemoryFlat uploads a multipart file in local mode
// through the whole API and checks that the heap does not grow with it:
// parts stream to disk and completion copies them through a fixed buffer.
// 256 MiB always runs; DROPP_BIG_UPLOAD=1 adds 2 GiB. Not parallel: it
// measures the whole process, so it runs while no parallel test does.
func TestLocalMultipartMemoryFlat(t *testing.T) {
	sizes := []int64{256 << 20}
	if os.Getenv("DROPP_BIG_UPLOAD") == "1" {
		sizes = append(sizes, 2<<30)
	}
	e := startTestEnv(t, backendEnv(t, "local", "local", nil))
	c := partsClient{t: t, e: e, token: e.newUser("big")}
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			c.t = t
			var up multipartCreateOut
			m := localMeasureMemory(func() {
				up = c.create("disk.img", size)
				c.send(up.File.ID, size, up.Upload.PartSize, partNumbers(1, up.Upload.PartCount))
				resp, body := c.complete(up.File.ID)
				wantStatus(t, resp, body, http.StatusOK)
			})
			t.Logf("%d MiB in %d parts in %v (%.0f MB/s): heap in use grew %.1f MiB at most, %.1f MiB allocated in all",
				size>>20, up.Upload.PartCount, m.elapsed.Round(time.Millisecond), float64(size)/m.elapsed.Seconds()/1e6,
				float64(m.peakHeapGrowth)/(1<<20), float64(m.allocated)/(1<<20))
			if m.peakHeapGrowth > 16<<20 {
				t.Errorf("a %d MiB multipart upload grew the heap by %d bytes: want under 16 MiB", size>>20, m.peakHeapGrowth)
			}
			if n, _ := c.downloadSHA256(up.File.ID); n != size {
				t.Errorf("download: %d bytes, want %d", n, size)
			}
			resp, body := e.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: c.token})
			wantStatus(t, resp, body, http.StatusNoContent)
		})
	}
}

// BenchmarkLocalUploadThroughput compares, on the local object store over
// loopback, a 256 MiB file sent as one form with the same file sent in
// 16 MiB parts through PUT URLs and joined by complete. MB/s includes the
// client's side, MD5, fsync of every part and of the joined file; the
// multipart figure also includes listing and joining (a second copy).
func BenchmarkLocalUploadThroughput(b *testing.B) {
	const size = 256 << 20
	store, srv := newTestLocalObjects(b)
	s := contractStore{ObjectStore: store, baseURL: srv.URL}
	b.Run("single-form", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			form, err := store.PresignUpload(b.Context(), localTestPolicy(srv.URL, size))
			if err != nil {
				b.Fatal(err)
			}
			status, _, err := localStreamUpload(srv.Client(), form, testContent(0, size))
			if err != nil || status != http.StatusNoContent {
				b.Fatalf("upload: %d %v", status, err)
			}
			store.Delete(b.Context(), form.Fields["key"])
		}
	})
	b.Run("multipart", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			key := benchMultipartUpload(b, s, size, 16<<20)
			store.Delete(b.Context(), key)
		}
	})
}

// benchMultipartUpload uploads size bytes in parts of partSize, one after
// the other, and completes; it returns the key.
func benchMultipartUpload(b *testing.B, s contractStore, size, partSize int64) string {
	key := objectKey("bench", newID(), time.Now())
	expires := time.Now().Add(time.Hour)
	id, err := s.CreateMultipart(b.Context(), key, "", expires)
	if err != nil {
		b.Fatal(err)
	}
	for n := 1; int64(n-1)*partSize < size; n++ {
		off := int64(n-1) * partSize
		length := min(partSize, size-off)
		put, err := s.PresignPut(b.Context(), PutRequest{Key: key, UploadID: id, PartNumber: n, Size: length,
			Expires: expires, BaseURL: s.baseURL})
		if err != nil {
			b.Fatal(err)
		}
		p := putOut{PartNumber: n, Method: put.Method, URL: put.URL, Headers: put.Headers}
		if status, body := streamPut(b, p, testContent(off, length), length); status != http.StatusOK {
			b.Fatalf("PUT part %d: %d %s", n, status, body)
		}
	}
	parts, err := s.ListParts(b.Context(), key, id)
	if err == nil {
		err = s.CompleteMultipart(b.Context(), key, id, parts)
	}
	if err != nil {
		b.Fatal(err)
	}
	return key
}

// TestLocalCompleteOutlastsWriteTimeout completes a 256 MiB multipart file
// in local mode through a server whose WriteTimeout (100 ms) is far shorter
// than joining the parts takes: the answer must still arrive, as it must
// for a 50 GiB file under the real 60 s. The parts go up through a server
// without the short timeout, which serves the same handler.
func TestLocalCompleteOutlastsWriteTimeout(t *testing.T) {
	t.Parallel()
	e := startTestEnv(t, backendEnv(t, "local", "local", nil))
	c := partsClient{t: t, e: e, token: e.newUser("slow")}
	const size = 256 << 20
	up := c.create("big.img", size)
	c.send(up.File.ID, size, up.Upload.PartSize, partNumbers(1, up.Upload.PartCount))

	short := httptest.NewUnstartedServer(e.srv)
	short.Config.WriteTimeout = 100 * time.Millisecond
	short.Start()
	t.Cleanup(short.Close)
	c.e = &testEnv{t: t, srv: e.srv, URL: short.URL, client: e.client}
	start := time.Now()
	resp, body := c.complete(up.File.ID)
	wantStatus(t, resp, body, http.StatusOK)
	t.Logf("complete of %d MiB answered after %v", size>>20, time.Since(start).Round(time.Millisecond))
}

// TestMultipartQuota: a multipart file counts its declared size toward the
// quota from its creation; one that would go over is refused (403
// quota_exceeded) and leaves no upload in the object store; a completed
// one counts its real size.
func TestMultipartQuota(t *testing.T) {
	t.Parallel()
	e := startTestEnv(t, backendEnv(t, "local", "local", map[string]string{
		"QUOTA_BYTES_PER_USER": fmt.Sprint(3 * minPartBytes), "PART_SIZE_BYTES": fmt.Sprint(minPartBytes)}))
	c := partsClient{t: t, e: e, token: e.newUser("q")}
	const size = 2 * minPartBytes
	up := c.create("a.bin", size)
	resp, body := e.do(request{method: "POST", path: "/upload/", token: c.token,
		body: map[string]any{"filename": "b.bin", "size": size, "multipart": true}})
	if e := decode[apiErrorJSON](t, body); resp.StatusCode != http.StatusForbidden || e.Error != "quota_exceeded" {
		t.Errorf("over quota: %s, want quota_exceeded", body)
	}
	lo := e.srv.objects.(*localObjects)
	if d, err := lo.root.Open(localUploadsDir); err == nil {
		names, _ := d.Readdirnames(-1)
		d.Close()
		if len(names) != 1 {
			t.Errorf("uploads in the store: %v, want only the first file's", names)
		}
	}
	c.send(up.File.ID, size, up.Upload.PartSize, []int{1, 2})
	resp, body = c.complete(up.File.ID)
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = e.do(request{method: "GET", path: "/me", token: c.token})
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), fmt.Sprintf(`"bytes":%d`, size)) {
		t.Errorf("/me after completing: %s, want %d bytes used", body, size)
	}
}

// TestSweeperKeepsResumableMultipart: the sweeper, which deletes pending
// uploads once their form has expired, keeps a multipart upload for its
// whole MULTIPART_TTL_SECONDS (it can still be resumed), then deletes it
// and aborts its upload, parts and all. On both object stores.
func TestSweeperKeepsResumableMultipart(t *testing.T) {
	t.Parallel()
	onEachObjectStoreWithSmallParts(t, func(t *testing.T, e *testEnv) {
		clock := &testClock{}
		e.srv.now = clock.now
		c := partsClient{t: t, e: e, token: e.newUser("sweep")}
		const size = minPartBytes + 1
		up := c.create("slow.bin", size)
		c.send(up.File.ID, size, up.Upload.PartSize, []int{1})
		f := c.record(up.File.ID)

		clock.advance(e.srv.cfg.UploadTTL + e.srv.cfg.SweepGrace + time.Minute) // the single form's lifetime is long past
		if r := e.srv.sweep(t.Context()); r.pendingFiles != 0 || r.failures != 0 {
			t.Errorf("sweep while resumable: %+v, want nothing removed", r)
		}
		if got := c.stored(up.File.ID); len(got) != 1 {
			t.Fatalf("parts after a sweep while resumable: %+v", got)
		}

		clock.advance(e.srv.cfg.MultipartTTL)
		if r := e.srv.sweep(t.Context()); r.pendingFiles != 1 || r.failures != 0 {
			t.Errorf("sweep after the upload's lifetime: %+v, want it removed", r)
		}
		if _, err := e.srv.store.GetFile(t.Context(), f.Owner, up.File.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("record after the sweep: %v, want ErrNotFound", err)
		}
		if _, err := e.srv.objects.ListParts(t.Context(), f.ObjectKey, f.UploadID); !errors.Is(err, ErrUploadNotFound) {
			t.Errorf("parts after the sweep: %v, want ErrUploadNotFound", err)
		}
	})
}

// TestMultipartParallelCompletes (issue 18, section 4): ten completes of
// one multipart upload at once all answer 200 with the complete file (the
// ones that lost the join included), the file downloads whole, and
// dropp_uploads_completed_total counts it once. On S3 (versitygw) and on
// the local object store; a complete repeated later answers 200 too.
func TestMultipartParallelCompletes(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{{"mongodb", "s3"}, {"local", "s3"}, {"local", "local"}} {
		t.Run(pair[0]+"+"+pair[1], func(t *testing.T) {
			t.Parallel()
			e := startTestEnv(t, backendEnv(t, pair[0], pair[1], map[string]string{"PART_SIZE_BYTES": strconv.Itoa(5 << 20)}))
			c := partsClient{t: t, e: e, token: e.newUser("racer")}
			const size = 30 << 20 // 6 parts, which take a moment to join
			up := c.create("parallel.bin", size)
			c.send(up.File.ID, size, up.Upload.PartSize, partNumbers(1, up.Upload.PartCount))
			before := e.srv.metrics.uploadsCompleted.Load()

			type answer struct {
				status int
				body   string
			}
			answers := make([]answer, 10)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					status, body, err := apiTester{e}.try(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: c.token})
					answers[i] = answer{status, string(body)}
					if err != nil {
						answers[i].body = err.Error()
					}
				})
			}
			wg.Wait()
			for i, a := range answers {
				if a.status != http.StatusOK || !strings.Contains(a.body, `"status":"complete"`) {
					t.Errorf("complete %d: %d %s, want 200 with the complete file", i, a.status, a.body)
				}
			}
			resp, body := c.complete(up.File.ID)
			wantStatus(t, resp, body, http.StatusOK)
			if n := e.srv.metrics.uploadsCompleted.Load() - before; n != 1 {
				t.Errorf("dropp_uploads_completed_total went up by %d, want 1", n)
			}
			if n, sum := c.downloadSHA256(up.File.ID); n != size || sum != testContentSHA256(size) {
				t.Errorf("download: %d bytes, sha256 %s; want the file", n, sum)
			}
		})
	}
}

// unstagedObjects hides that an object store stages single uploads: the
// server then completes them as it did before stagingObjects.
type unstagedObjects struct{ ObjectStore }

// BenchmarkCompleteSingle measures POST /upload/{id}/complete of a single
// upload on S3 (versitygw), with the in-memory metadata store: "staged" is
// what the server does (HEAD the staged object, copy it within S3, delete
// it), "direct" what it did before staging (HEAD the object the form
// wrote). Only the complete is timed, not the create or the upload.
func BenchmarkCompleteSingle(b *testing.B) {
	const bucket = "dropp-bench-complete"
	if _, err := requireRig(b).s3.CreateBucket(b.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil &&
		!strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 16 << 20} {
		for _, mode := range []string{"direct", "staged"} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				s, tok := benchServer(b, newMemStore())
				s.cfg.Bucket = bucket
				objects, err := newS3Objects(b.Context(), s.cfg, s.log)
				if err != nil {
					b.Fatal(err)
				}
				s.objects = objects
				if mode == "direct" {
					s.objects = unstagedObjects{objects}
				}
				srv := httptest.NewServer(s)
				defer srv.Close()
				content := bytes.Repeat([]byte("x"), size)
				for b.Loop() {
					b.StopTimer()
					up := benchCall[uploadOut](b, srv.URL, "/upload/", tok, map[string]any{"filename": "f.bin", "size": size}, http.StatusCreated)
					if status := benchPostForm(b, up.Upload.URL, up.Upload.Fields, content); status/100 != 2 {
						b.Fatalf("form: %d", status)
					}
					b.StartTimer()
					benchCall[fileResponseOut](b, srv.URL, "/upload/"+up.File.ID+"/complete", tok, nil, http.StatusOK)
				}
			})
		}
	}
}

// benchCall POSTs body as JSON with the bearer token, wants status, and
// decodes the answer.
func benchCall[T any](b *testing.B, base, path, tok string, body any, status int) T {
	b.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out T
	if resp.StatusCode != status || json.Unmarshal(raw, &out) != nil {
		b.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return out
}

// benchPostForm posts an upload form with content last and returns the status.
func benchPostForm(b *testing.B, url string, fields map[string]string, content []byte) int {
	resp, err := http.DefaultClient.Do(uploadFormRequest(b, url, fields, content))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCompleteOfFileDeletedWhilePromoting (issue 18, section 2, on S3 with
// each metadata store): a file deleted after its complete copied the staged
// upload, but before the complete recorded it, leaves no copy behind; the
// complete answers 404.
func TestCompleteOfFileDeletedWhilePromoting(t *testing.T) {
	t.Parallel()
	raceLeavesNothing(t, func(t *testing.T, a apiTester, tok string, up uploadOut) {
		del := once(func() {
			resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
			wantStatus(t, resp, body, http.StatusNoContent)
		})
		a.srv.objects = &hookedObjects{ObjectStore: a.srv.objects, afterPromote: del}
		resp, body := a.complete(tok, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusNotFound)
	})
}

// TestRepeatedCompleteOnTwoInstances (issue 18, section 4, "Parallel
// completes"): the complete lock is per instance, so a complete on one
// instance may list the parts while another instance joins them, and S3
// then lists none. That complete answers 200 with the file the other
// made, not 409 "missing parts".
func TestRepeatedCompleteOnTwoInstances(t *testing.T) {
	t.Parallel()
	for _, metadata := range []string{"mongodb", "local"} {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			e := startTestEnv(t, backendEnv(t, metadata, "s3", map[string]string{"PART_SIZE_BYTES": strconv.Itoa(5 << 20)}))
			c := partsClient{t: t, e: e, token: e.newUser("racer")}
			const size = 10 << 20
			up := c.create("twice.bin", size)
			c.send(up.File.ID, size, up.Upload.PartSize, partNumbers(1, up.Upload.PartCount))

			other := newServer(e.srv.cfg, e.srv.log, e.srv.store, e.srv.objects) // a second instance
			ts := httptest.NewServer(other)
			t.Cleanup(ts.Close)
			otherClient := partsClient{t: t, e: &testEnv{t: t, srv: other, URL: ts.URL, client: e.client}, token: c.token}
			joinThere := once(func() {
				resp, body := otherClient.complete(up.File.ID)
				wantStatus(t, resp, body, http.StatusOK)
			})
			e.srv.objects = &hookedObjects{ObjectStore: e.srv.objects, afterListPart: func([]PartInfo) []PartInfo {
				joinThere()
				return nil // what S3 may list once another complete has joined the parts
			}}
			resp, body := c.complete(up.File.ID)
			wantStatus(t, resp, body, http.StatusOK)
			if !strings.Contains(string(body), `"status":"complete"`) {
				t.Errorf("complete on the second instance: %s, want the complete file", body)
			}
			if n, sum := c.downloadSHA256(up.File.ID); n != size || sum != testContentSHA256(size) {
				t.Errorf("download: %d bytes, sha256 %s; want the file", n, sum)
			}
		})
	}
}

// TestRetriedCompleteSettlesTheCharge: a complete whose change landed but
// whose settle of a size-less upload's charge did not (the first try
// failed after its change: a 503) is retried; the retry, finding the file
// complete, settles it, so the file counts its size and not the
// single-upload limit for good (review 12).
func TestRetriedCompleteSettlesTheCharge(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, _ *testClock) {
		if !a.srv.cfg.localObjectStore() {
			return // on S3 a staged upload's charge waits for its form to expire
		}
		tok := a.newUser("unsettled")
		up := a.create(tok, map[string]any{"filename": "one.bin"})
		a.upload(up, []byte("1"))
		_, _, err := a.srv.store.CompleteFile(t.Context(), a.userID(tok), up.File.ID, "", 1, "etag", time.Now()) // the change, without the settle
		ctMust(t, "CompleteFile", err)
		resp, body := a.complete(tok, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)
		if got := a.me(tok).Usage.Bytes; got != 1 {
			t.Errorf("after the retried complete the 1-byte file counts %d bytes", got)
		}
	})
}

// sendTenBytesInOnePart announces a ten-byte multipart file for a new
// user and sends its one part without completing it: the upload that the
// tests of a complete's refusals then complete. It returns the user's
// client and the upload.
func sendTenBytesInOnePart(t *testing.T, e *testEnv, user string) (partsClient, multipartCreateOut) {
	t.Helper()
	c := partsClient{t: t, e: e, token: e.newUser(user)}
	up := c.create("ten.bin", 10)
	c.send(up.File.ID, 10, up.Upload.PartSize, []int{1})
	return c, up
}

// TestCompleteWithWrongSizeLeavesThePartsUnjoined: a complete whose
// "size" differs from the file's is refused 409 before the parts are
// joined, so the upload still lists its parts and a complete without the
// wrong size succeeds (review 13: the parts were joined first, and GET
// …/parts then told the client that the upload had expired and to delete
// the file). On S3 (versitygw) and on the local object store.
func TestCompleteWithWrongSizeLeavesThePartsUnjoined(t *testing.T) {
	t.Parallel()
	onEachObjectStoreWithSmallParts(t, func(t *testing.T, e *testEnv) {
		c, up := sendTenBytesInOnePart(t, e, "claimer")
		resp, body := e.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: c.token, body: map[string]any{"size": 11}})
		wantStatus(t, resp, body, http.StatusConflict)
		if !strings.Contains(string(body), "not the 11 given at completion") {
			t.Errorf("complete with size 11: %s, want it to name the size given", body)
		}
		if parts := c.stored(up.File.ID); len(parts) != 1 || parts[0].Size != 10 {
			t.Errorf("after the refused complete the upload lists %+v, want part 1 of 10 bytes", parts)
		}
		resp, body = c.complete(up.File.ID)
		wantStatus(t, resp, body, http.StatusOK)
	})
}

// TestListPartsOfJoinedUploadSaysCompleteAgain: once the parts of a
// pending file are joined but the file not recorded complete (a complete
// whose store write failed), listing its parts answers 409 telling the
// client to complete again, which then succeeds; not that the upload
// expired and the file must be deleted (review 13).
func TestListPartsOfJoinedUploadSaysCompleteAgain(t *testing.T) {
	t.Parallel()
	onEachObjectStoreWithSmallParts(t, func(t *testing.T, e *testEnv) {
		c, up := sendTenBytesInOnePart(t, e, "joiner")
		f := c.record(up.File.ID)
		parts, err := e.srv.objects.ListParts(t.Context(), f.ObjectKey, f.UploadID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.srv.objects.CompleteMultipart(t.Context(), f.ObjectKey, f.UploadID, parts); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(request{method: "GET", path: "/upload/" + up.File.ID + "/parts", token: c.token})
		wantStatus(t, resp, body, http.StatusConflict)
		if !strings.Contains(string(body), "complete the upload again") {
			t.Errorf("GET parts of a joined upload: %s, want it to say to complete again", body)
		}
		resp, body = c.complete(up.File.ID)
		wantStatus(t, resp, body, http.StatusOK)
	})
}
