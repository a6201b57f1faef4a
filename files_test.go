package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
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
