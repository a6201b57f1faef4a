package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// postUploadForm sends the multipart form a client posts to the object
// store: every returned field, then the file last.
func postUploadForm(t *testing.T, url string, fields map[string]string, content []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(uploadFormRequest(t, url, fields, content))
	if err != nil {
		t.Fatalf("POST form: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// uploadFormRequest is the multipart POST of an upload form.
func uploadFormRequest(t testing.TB, target string, fields map[string]string, content []byte) *http.Request {
	t.Helper()
	body, contentType := uploadFormBody(fields, content)
	hr, err := http.NewRequest("POST", target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", contentType)
	return hr
}

// uploadFormBody is an upload form's body, its fields (sorted) then the
// file last, and its content type.
func uploadFormBody(fields map[string]string, content []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		mw.WriteField(k, fields[k])
	}
	part, _ := mw.CreateFormFile("file", "upload.bin")
	part.Write(content)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// TestUploadRoundTrip walks the whole client routine (create upload, POST
// the form, complete, list, download, delete) on every combination of
// metadata store (MongoDB or local) and object store (S3 or local): one
// client code path, whatever the server runs on.
func TestUploadRoundTrip(t *testing.T) {
	t.Parallel()
	for _, metadata := range []string{"mongodb", "local"} {
		for _, objects := range []string{"s3", "local"} {
			t.Run(metadata+"+"+objects, func(t *testing.T) {
				t.Parallel()
				walkClientRoutine(t, startTestEnv(t, backendEnv(t, metadata, objects, nil)))
			})
		}
	}
}

// walkClientRoutine is what a desktop client does with one file.
func walkClientRoutine(t *testing.T, e *testEnv) {
	t.Helper()
	tok := e.newUser("alice")
	content := []byte("hello, dropp\n")

	resp, body := e.do(request{method: "POST", path: "/upload/", token: tok,
		body: map[string]any{"filename": "héllo \"world\".txt", "size": len(content), "content_type": "text/plain"}})
	wantStatus(t, resp, body, http.StatusCreated)
	up := decode[uploadOut](t, body)
	if up.File.Status != "pending" || up.File.CompletedAt != nil {
		t.Fatalf("new file: %+v", up.File)
	}

	resp, body = postUploadForm(t, up.Upload.URL, up.Upload.Fields, content)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("upload POST: %d %s", resp.StatusCode, body)
	}

	resp, body = e.do(request{method: "POST", path: "/upload/" + up.File.ID + "/complete", token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	done := decode[fileResponseOut](t, body).File
	if done.Status != "complete" || done.Size == nil || *done.Size != int64(len(content)) || done.CompletedAt == nil {
		t.Fatalf("completed file: %+v", done)
	}

	resp, body = e.do(request{method: "GET", path: "/list/", token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	list := decode[listOut](t, body)
	if len(list.Files) != 1 || list.Files[0].ID != up.File.ID || list.NextCursor != nil {
		t.Fatalf("list: %s", body)
	}

	resp, body = e.do(request{method: "GET", path: "/download/" + up.File.ID, token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	dl := decode[downloadOut](t, body)
	got, err := http.Get(dl.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || !bytes.Equal(data, content) {
		t.Fatalf("download: %d %q", got.StatusCode, data)
	}
	wantCD := `attachment; filename="h_llo _world_.txt"; filename*=UTF-8''h%C3%A9llo%20%22world%22.txt`
	if cd := got.Header.Get("Content-Disposition"); cd != wantCD {
		t.Fatalf("Content-Disposition %q, want %q", cd, wantCD)
	}

	resp, body = e.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.do(request{method: "GET", path: "/download/" + up.File.ID, token: tok})
	wantStatus(t, resp, body, http.StatusNotFound)
	gone, err := http.Get(dl.URL)
	if err != nil {
		t.Fatal(err)
	}
	gone.Body.Close()
	if gone.StatusCode/100 == 2 {
		t.Fatalf("the deleted object still downloads: %d", gone.StatusCode)
	}
}

// formReplayEnv starts a server for the form-replay tests on one metadata
// store and one object store, with the sizes of issue 18 (quota 50 MiB,
// MAX_UPLOAD_BYTES 20 MiB), forms that live 10 minutes, a one-minute
// sweep grace, and a clock the test moves.
func formReplayEnv(t *testing.T, metadata, objects string) (apiTester, *testClock) {
	t.Helper()
	env := backendEnv(t, metadata, objects, map[string]string{
		"QUOTA_BYTES_PER_USER":    strconv.Itoa(50 << 20),
		"MAX_UPLOAD_BYTES":        strconv.Itoa(20 << 20),
		"UPLOAD_POST_TTL_SECONDS": "600",
		"SWEEP_GRACE_SECONDS":     "60",
	})
	a := apiTester{startTestEnv(t, env)}
	clock := &testClock{}
	a.srv.now = clock.now
	return a, clock
}

// onEachBackendPair runs test on every metadata store with every object
// store, in parallel.
func onEachBackendPair(t *testing.T, test func(t *testing.T, a apiTester, clock *testClock)) {
	for _, metadata := range []string{"mongodb", "local"} {
		for _, objects := range []string{"s3", "local"} {
			t.Run(metadata+"+"+objects, func(t *testing.T) {
				t.Parallel()
				a, clock := formReplayEnv(t, metadata, objects)
				test(t, a, clock)
			})
		}
	}
}

// replayForm posts a form again, after its file was completed or deleted.
// S3 cannot refuse it (it stores the bytes under the form's key); the
// local object store refuses it (403 AccessDenied, S3's error shape).
func replayForm(t *testing.T, a apiTester, up uploadOut, content []byte) {
	t.Helper()
	resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, content)
	switch {
	case a.srv.cfg.localObjectStore() && resp.StatusCode != http.StatusForbidden:
		t.Fatalf("replayed form on the local object store: %d %s, want 403", resp.StatusCode, body)
	case !a.srv.cfg.localObjectStore() && resp.StatusCode/100 != 2:
		t.Fatalf("replayed form on S3: %d %s", resp.StatusCode, body)
	}
}

// downloaded is what the file's download URL serves.
func downloaded(t *testing.T, a apiTester, tok, id string) []byte {
	t.Helper()
	resp, body := a.do(request{method: "GET", path: "/download/" + id, token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	got, data := a.fetch(decode[downloadOut](t, body).URL)
	if got.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %s", got.StatusCode, data)
	}
	return data
}

// storedBytes is every byte the object store holds: each object in the
// bucket, listed with the SDK, or each object file of the local store
// (not its own dot-files: partial uploads, ETags, tombstones). Each test
// has a bucket and a DATA_DIR of its own.
func storedBytes(t *testing.T, a apiTester) int64 {
	t.Helper()
	var n int64
	if !a.srv.cfg.localObjectStore() {
		pages := s3.NewListObjectsV2Paginator(requireRig(t).s3, &s3.ListObjectsV2Input{Bucket: aws.String(a.srv.cfg.Bucket)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(t.Context())
			if err != nil {
				t.Fatalf("list bucket: %v", err)
			}
			for _, o := range page.Contents {
				n += aws.ToInt64(o.Size)
			}
		}
		return n
	}
	err := filepath.WalkDir(filepath.Join(a.srv.cfg.DataDir, "objects"), func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case strings.HasPrefix(d.Name(), ".") && d.IsDir():
			return filepath.SkipDir
		case strings.HasPrefix(d.Name(), ".") || d.IsDir():
			return nil
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sweepAfterForms moves the clock past every form's expiry and the sweep
// grace, and sweeps once.
func sweepAfterForms(t *testing.T, a apiTester, clock *testClock) {
	t.Helper()
	clock.advance(a.srv.cfg.UploadTTL + a.srv.cfg.SweepGrace + time.Minute)
	if res := a.srv.sweep(t.Context()); res.failures != 0 {
		t.Fatalf("sweep: %+v", res)
	}
}

// wantUsageIsStored: after the sweep, the user's usage is exactly what the
// object store holds.
func wantUsageIsStored(t *testing.T, a apiTester, tok string, bytes int64) {
	t.Helper()
	if got := a.me(tok).Usage.Bytes; got != bytes {
		t.Errorf("usage %d bytes, want %d", got, bytes)
	}
	if got := storedBytes(t, a); got != bytes {
		t.Errorf("the object store holds %d bytes, want %d (what the usage says)", got, bytes)
	}
}

// TestFormReplayAfterSizelessComplete (issue 18, section 2): a size-less
// form that stored 1 byte and was completed is posted again with 20 MiB.
// The file still downloads its 1 byte and lists size 1; one sweep after
// the form expired, the usage is what the bucket holds.
func TestFormReplayAfterSizelessComplete(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, clock *testClock) {
		tok := a.newUser("replay")
		up := a.create(tok, map[string]any{"filename": "one.bin"})
		a.upload(up, []byte("1"))
		resp, body := a.complete(tok, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)

		replayForm(t, a, up, bytes.Repeat([]byte("x"), 20<<20))
		if got := downloaded(t, a, tok, up.File.ID); string(got) != "1" {
			t.Errorf("download serves %d bytes, want the 1 byte completed", len(got))
		}
		// While the form may still be posted, the usage keeps what it
		// reserved, so it never shows less than the bucket may hold
		// beyond the file itself.
		if usage, stored := a.me(tok).Usage.Bytes, storedBytes(t, a); stored > usage+1 {
			t.Errorf("before the form expired: the object store holds %d bytes, the usage says %d", stored, usage)
		}
		if files := a.list(tok, "").Files; len(files) != 1 || files[0].Size == nil || *files[0].Size != 1 {
			t.Errorf("list: %+v, want the one file of size 1", files)
		}
		sweepAfterForms(t, a, clock)
		wantUsageIsStored(t, a, tok, 1)
		if got := downloaded(t, a, tok, up.File.ID); string(got) != "1" {
			t.Errorf("after the sweep, download serves %d bytes, want the 1 byte completed", len(got))
		}
	})
}

// TestFormReplayAfterDeclaredComplete (issue 18, section 2): a form with a
// declared size, posted again after complete with other bytes of that
// size, does not change what the file serves (to share recipients too).
func TestFormReplayAfterDeclaredComplete(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, clock *testClock) {
		tok := a.newUser("replay")
		up := a.create(tok, map[string]any{"filename": "six.txt", "size": 6})
		a.upload(up, []byte("AAAAAA"))
		resp, body := a.complete(tok, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)

		replayForm(t, a, up, []byte("BBBBBB"))
		if got := downloaded(t, a, tok, up.File.ID); string(got) != "AAAAAA" {
			t.Errorf("download serves %q, want the completed %q", got, "AAAAAA")
		}
		// While the form may still be posted, the bucket holds at most
		// the file itself beyond what the usage says (docs/api.md).
		if usage, stored := a.me(tok).Usage.Bytes, storedBytes(t, a); stored > usage+6 {
			t.Errorf("before the form expired: the object store holds %d bytes, the usage says %d", stored, usage)
		}
		sweepAfterForms(t, a, clock)
		wantUsageIsStored(t, a, tok, 6)
		if got := downloaded(t, a, tok, up.File.ID); string(got) != "AAAAAA" {
			t.Errorf("after the sweep, download serves %q, want %q", got, "AAAAAA")
		}
	})
}

// TestFormReplayAfterDelete (issue 18, section 2): a form posted after its
// file was deleted never stores more than the usage shows while the form
// is valid (the file keeps its charge, hidden, until the staged sweep),
// and one sweep after the form expired nothing is left and the usage is 0.
func TestFormReplayAfterDelete(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, clock *testClock) {
		tok := a.newUser("replay")
		content := bytes.Repeat([]byte("d"), 1<<20)
		// Deleted before any post (declared size, and size-less: it
		// reserves the single-upload limit), and after it was completed.
		for i, create := range []map[string]any{
			{"filename": "gone.bin", "size": len(content)},
			{"filename": "gone.bin"},
			{"filename": "gone.bin", "size": len(content)},
		} {
			up := a.create(tok, create)
			if i == 2 {
				a.upload(up, content)
				resp, body := a.complete(tok, up.File.ID, nil)
				wantStatus(t, resp, body, http.StatusOK)
			}
			resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
			wantStatus(t, resp, body, http.StatusNoContent)
			replayForm(t, a, up, content)
			if usage, stored := a.me(tok).Usage.Bytes, storedBytes(t, a); usage < stored {
				t.Errorf("form %d replayed after its delete: usage %d bytes, the object store holds %d", i, usage, stored)
			}
			resp, body = a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		sweepAfterForms(t, a, clock)
		wantUsageIsStored(t, a, tok, 0)
	})
}

// TestDeletedFileHeldIsMissing: a file deleted while its form is valid is
// held (statusDeleted, still charged) but missing everywhere its owner or
// a share link looks: list (any status), download, complete, its shares
// and a share link made before the delete.
func TestDeletedFileHeldIsMissing(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, clock *testClock) {
		tok := a.newUser("held")
		se := shareEnv{apiTester: a, clock: clock}
		done := a.create(tok, map[string]any{"filename": "done.bin", "size": 4})
		a.upload(done, []byte("done"))
		resp, body := a.complete(tok, done.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)
		link := se.share(tok, done.File.ID, nil)
		pending := a.create(tok, map[string]any{"filename": "pending.bin"})
		a.upload(pending, []byte("later"))
		for _, id := range []string{done.File.ID, pending.File.ID} {
			resp, body := a.do(request{method: "DELETE", path: "/files/" + id, token: tok})
			wantStatus(t, resp, body, http.StatusNoContent)
		}
		for _, query := range []string{"", "status=pending", "status=complete"} {
			if ids := a.listIDs(tok, query); len(ids) != 0 {
				t.Errorf("list %q after the deletes: %v, want none", query, ids)
			}
		}
		for _, req := range []request{
			{method: "GET", path: "/download/" + done.File.ID, token: tok},
			{method: "POST", path: "/upload/" + pending.File.ID + "/complete", token: tok},
			{method: "POST", path: "/files/" + done.File.ID + "/shares", token: tok},
			{method: "GET", path: "/files/" + done.File.ID + "/shares", token: tok},
			{method: "DELETE", path: "/files/" + done.File.ID, token: tok},
		} {
			resp, body := a.do(req)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		got, _ := a.fetch(link.URL)
		if got.StatusCode != http.StatusNotFound {
			t.Errorf("share link of the deleted file: %d, want 404", got.StatusCode)
		}
	})
}

// TestFilesFromBeforeStaging: on S3, files whose form wrote their own key
// (made before single uploads were staged, StagingKey empty) still work:
// one pending completes from what its form stored, one complete still
// downloads, and both delete with their objects.
func TestFilesFromBeforeStaging(t *testing.T) {
	t.Parallel()
	a := newAPITester(t, nil)
	tok := a.newUser("old")
	staging := a.srv.objects
	a.srv.objects = unstagedObjects{staging} // the server as it was
	done, doneKey := a.stored(tok, map[string]any{"filename": "done.txt", "size": 4}, []byte("done"))
	pending := a.create(tok, map[string]any{"filename": "pending.txt"})
	a.upload(pending, []byte("later"))
	a.srv.objects = staging

	resp, body := a.complete(tok, pending.File.ID, nil)
	wantStatus(t, resp, body, http.StatusOK)
	for id, want := range map[string]string{done.ID: "done", pending.File.ID: "later"} {
		if got := downloaded(t, a, tok, id); string(got) != want {
			t.Errorf("file %s downloads %q, want %q", id, got, want)
		}
	}
	pendingKey := a.storedKey(a.userID(tok), pending.File.ID)
	if pendingKey != pending.Upload.Fields["key"] {
		t.Errorf("the old pending file's object moved from %s to %s", pending.Upload.Fields["key"], pendingKey)
	}
	for _, id := range []string{done.ID, pending.File.ID} {
		resp, body := a.do(request{method: "DELETE", path: "/files/" + id, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
	}
	for _, key := range []string{doneKey, pendingKey} {
		if a.headObject(key) {
			t.Errorf("object %s is still there after its file was deleted", key)
		}
	}
}

// TestFilenameRefusesSpoofingCharacters: names that read as something
// else (a bidi override turns "invoice\u202Etxt.exe" into "invoiceexe.txt"),
// hide characters, break lines, or name a directory are refused with a
// message that names the character; ordinary names in any script pass.
func TestFilenameRefusesSpoofingCharacters(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	tok := e.newUser("namer")
	refused := []struct{ name, filename, message string }{
		{"right-to-left override", "invoice\u202Etxt.exe", "U+202E RIGHT-TO-LEFT OVERRIDE, a format character (Unicode Cf)"},
		{"left-to-right override", "a\u202Db.txt", "U+202D LEFT-TO-RIGHT OVERRIDE"},
		{"right-to-left isolate", "a\u2067b.txt", "U+2067 RIGHT-TO-LEFT ISOLATE"},
		{"right-to-left mark", "a\u200Fb.txt", "U+200F RIGHT-TO-LEFT MARK"},
		{"zero width space", "pay\u200Bpal.pdf", "U+200B ZERO WIDTH SPACE"},
		{"zero width joiner", "a\u200Db.txt", "U+200D ZERO WIDTH JOINER"},
		{"byte order mark", "\uFEFFa.txt", "U+FEFF ZERO WIDTH NO-BREAK SPACE"},
		{"soft hyphen", "a\u00ADb.txt", "U+00AD SOFT HYPHEN"},
		{"other format character", "a\U000E0001b.txt", "U+E0001, a format character (Unicode Cf)"},
		{"line separator", "a\u2028b.txt", "U+2028 LINE SEPARATOR, a line separator (Unicode Zl)"},
		{"paragraph separator", "a\u2029b.txt", "U+2029 PARAGRAPH SEPARATOR, a paragraph separator (Unicode Zp)"},
		{"NUL", "a\x00b.txt", "U+0000, a control character (Unicode Cc)"},
		{"C1 control", "a\u0085b.txt", "U+0085, a control character (Unicode Cc)"},
		{"dot", ".", `must not be "." or ".."`},
		{"dot dot", "..", `must not be "." or ".."`},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": tc.filename}})
			wantStatus(t, resp, body, http.StatusBadRequest)
			if msg := decode[apiErrorJSON](t, body).Message; !strings.Contains(msg, tc.message) {
				t.Errorf("message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
	for _, name := range []string{"...", ".hidden", "a..b", "..x", "résumé.pdf", "שלום.txt", "مرحبا.txt", "日本語.txt", "emoji 👍🏽.png", "a b.txt"} {
		resp, body := e.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": name}})
		wantStatus(t, resp, body, http.StatusCreated)
	}
}

// TestDeleteRecordWithRefusedObjectKey: a record whose object key the
// object store refuses (left by another backend or version) can still be
// deleted; the refusal is logged, not answered as a 500 forever.
func TestDeleteRecordWithRefusedObjectKey(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	logs := &syncBuffer{}
	e.srv.log = slog.New(slog.NewTextHandler(logs, nil))
	tok := e.newUser("deleter")
	owner := apiTester{e}.userID(tok)
	for _, key := range []string{"../outside", "users/x/.hidden", ""} {
		f := &File{ID: newID(), Owner: owner, Filename: "old.txt", Status: statusPending, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), ObjectKey: key}
		if err := e.srv.store.InsertFile(t.Context(), f); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(request{method: "DELETE", path: "/files/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		resp, body = e.do(request{method: "DELETE", path: "/files/" + f.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNotFound)
		if !strings.Contains(logs.String(), "file="+f.ID) || !strings.Contains(logs.String(), "invalid object key") {
			t.Errorf("key %q: the store's refusal is not logged: %s", key, logs)
		}
	}
}

// hookedObjects is the S3 object store with hooks that let a test run a
// racing request at the exact step a race needs.
type hookedObjects struct {
	ObjectStore
	beforeDelete  func(key string) // before each Delete
	afterPromote  func()           // after each Promote
	afterListPart func(parts []PartInfo) []PartInfo
}

func (h *hookedObjects) Delete(ctx context.Context, key string) error {
	if h.beforeDelete != nil {
		h.beforeDelete(key)
	}
	return h.ObjectStore.Delete(ctx, key)
}

func (h *hookedObjects) Promote(ctx context.Context, from, to, etag string) (ObjectInfo, error) {
	info, err := h.ObjectStore.(stagingObjects).Promote(ctx, from, to, etag)
	if h.afterPromote != nil {
		h.afterPromote()
	}
	return info, err
}

func (h *hookedObjects) SweepStaged(ctx context.Context, before time.Time) (int, error) {
	return h.ObjectStore.(stagingObjects).SweepStaged(ctx, before)
}

func (h *hookedObjects) ListParts(ctx context.Context, key, uploadID string) ([]PartInfo, error) {
	parts, err := h.ObjectStore.ListParts(ctx, key, uploadID)
	if err == nil && h.afterListPart != nil {
		parts = h.afterListPart(parts)
	}
	return parts, err
}

// once runs f the first time only; calls made meanwhile (f's own, through
// a hook) return at once.
func once(f func()) func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			f()
		}
	}
}

// raceLeavesNothing runs race on each metadata store with S3, in
// parallel, on a file of tok's that is uploaded but not completed; then
// the bucket must hold nothing and, after the forms' sweep, tok's stored
// usage be 0.
func raceLeavesNothing(t *testing.T, race func(t *testing.T, a apiTester, tok string, up uploadOut)) {
	for _, metadata := range []string{"mongodb", "local"} {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			a, clock := formReplayEnv(t, metadata, "s3")
			tok := a.newUser("racer")
			up := a.create(tok, map[string]any{"filename": "race.bin", "size": 4})
			a.upload(up, []byte("race"))
			race(t, a, tok, up)
			if got := storedBytes(t, a); got != 0 {
				t.Errorf("the object store holds %d bytes after the delete, want 0", got)
			}
			sweepAfterForms(t, a, clock) // the deleted file's charge stays until then
			wantUsageIsStored(t, a, tok, 0)
		})
	}
}

// TestDeleteRacingComplete (issue 18, section 2, on S3 with each metadata
// store): a complete that promotes the staged upload and records it after
// a DELETE read the file, but before the DELETE removed the record, leaves
// nothing in the bucket: the DELETE removes the object of the record it
// deleted, not only the keys it read.
func TestDeleteRacingComplete(t *testing.T) {
	t.Parallel()
	raceLeavesNothing(t, func(t *testing.T, a apiTester, tok string, up uploadOut) {
		complete := once(func() {
			resp, body := a.complete(tok, up.File.ID, nil)
			wantStatus(t, resp, body, http.StatusOK)
		})
		a.srv.objects = &hookedObjects{ObjectStore: a.srv.objects, beforeDelete: func(string) { complete() }}
		resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
	})
}

// TestDeleteRacingDeleteKeepsTheHold: two deletes of a file whose form may
// still be posted both read it before either holds it. The second must
// leave the first's hold, not delete the held record: that would release
// its bytes while the form can still store them, and take it off the file
// count a second time (review 11).
func TestDeleteRacingDeleteKeepsTheHold(t *testing.T) {
	t.Parallel()
	onEachBackendPair(t, func(t *testing.T, a apiTester, clock *testClock) {
		if !a.srv.cfg.localObjectStore() {
			tok := a.newUser("twice")
			up := a.create(tok, map[string]any{"filename": "six.txt", "size": 6})
			a.upload(up, []byte("AAAAAA"))
			resp, body := a.complete(tok, up.File.ID, nil)
			wantStatus(t, resp, body, http.StatusOK)
			owner := a.userID(tok)
			f, err := a.srv.store.GetFile(t.Context(), owner, up.File.ID) // both deletes' read
			ctMust(t, "GetFile", err)
			ctMust(t, "deleteObjects", a.srv.deleteObjects(t.Context(), f)) // as handleDelete does first
			_, err = a.srv.removeFile(t.Context(), owner, f, nil)
			ctMust(t, "the first delete", err)
			if _, err := a.srv.removeFile(t.Context(), owner, f, nil); !errors.Is(err, ErrNotFound) {
				t.Errorf("the second delete: %v, want ErrNotFound (held by the first)", err)
			}
			if u := a.me(tok).Usage; u.Bytes != 6 || u.Files != 0 {
				t.Errorf("with the file held the usage is %+v, want its 6 bytes and no file", u)
			}
			sweepAfterForms(t, a, clock)
			wantUsageIsStored(t, a, tok, 0)
		}
	})
}
