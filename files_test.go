package main

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postUploadForm sends the multipart form a client posts to the object
// store: every returned field, then the file last.
func postUploadForm(t *testing.T, url string, fields map[string]string, content []byte) (*http.Response, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", "upload.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatalf("POST form: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
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
				env := mongoS3Env(t)
				env["DATA_DIR"] = t.TempDir()
				if metadata == "local" {
					delete(env, "MONGODB_URI")
				}
				if objects == "local" {
					delete(env, "AWS_S3_BUCKET")
				}
				walkClientRoutine(t, startTestEnv(t, env))
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
