package main

// GET /list/ decodes files from raw BSON (decodeFile) and writes its JSON by
// hand (appendFileJSON, appendListJSON), without reflection. These tests
// hold both to what the reflection-based code they replaced produces: the
// driver's decoder with File's bson tags, and encoding/json with the API's
// field names, declared here again so that an API change breaks them.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// apiFile is the API's File as encoding/json wrote it before
// appendFileJSON: the wire contract. encoding/json writes the embedded
// fileOut's fields first, in their order, then a request's.
type apiFile struct {
	fileOut
	RequestID  string `json:"request_id,omitempty"`
	SenderName string `json:"sender_name,omitempty"`
	SenderNote string `json:"sender_note,omitempty"`
}

// apiList is the body of GET /list/ as encoding/json wrote it.
type apiList struct {
	Files      []apiFile `json:"files"`
	NextCursor *string   `json:"next_cursor"`
}

// toAPIFile is the old toFileJSON: until completion, the declared size.
func toAPIFile(f *File) apiFile {
	size := f.Size
	if size == nil {
		size = f.DeclaredSize
	}
	return apiFile{fileOut: fileOut{ID: f.ID, Filename: f.Filename, Size: size, ContentType: f.ContentType,
		Status: f.Status, CreatedAt: f.CreatedAt, CompletedAt: f.CompletedAt},
		RequestID: f.RequestID, SenderName: f.SenderName, SenderNote: f.SenderNote}
}

// encodingJSON is what writeJSON writes for v: encoding/json's Encoder,
// HTML escaping on, and a final newline.
func encodingJSON(t testing.TB, v any) string {
	t.Helper()
	var b strings.Builder
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// awkwardStrings are names that need every kind of escaping encoding/json
// does, plus text that needs none.
func awkwardStrings() []string {
	var ascii strings.Builder
	for c := range 128 {
		ascii.WriteByte(byte(c))
	}
	return []string{
		"", "report.pdf", "file 001.pdf", ascii.String(), `a"b\c`, "<img src=x onerror=alert(1)>&amp;",
		"line\u2028para\u2029end", "invoice\u202Etxt.exe", "é日本語🙂", "bad\xffutf8\xc3", "\xed\xa0\x80 surrogate",
		"tab\tnl\ncr\rbs\bff\f\x00\x1f\x7f", "trailing\xe2\x82", "50%20off", `..\..\x`,
	}
}

// sampleFiles are files with every optional field both empty and set.
func sampleFiles() []File {
	created := time.Date(2026, 11, 29, 20, 1, 2, 345_000_000, time.UTC)
	completed := created.Add(1500 * time.Millisecond)
	declared, size, zero := int64(42), int64(43), int64(0)
	var files []File
	for i, name := range awkwardStrings() {
		f := File{ID: newID(), Owner: "owner", Filename: name, ContentType: name, Status: statusPending,
			ObjectKey: "k", CreatedAt: created.Add(time.Duration(i) * time.Millisecond)}
		switch i % 4 {
		case 1:
			f.DeclaredSize = &declared
		case 2:
			f.DeclaredSize, f.Size, f.Status, f.CompletedAt = &declared, &size, statusComplete, &completed
		case 3:
			f.Size, f.Status, f.CompletedAt, f.CreatedAt = &zero, statusComplete, &completed, created.Truncate(time.Second)
		}
		files = append(files, f)
	}
	return files
}

// TestFileJSONMatchesEncodingJSON: appendFileJSON writes a file byte for
// byte as encoding/json wrote the API's File, also inside the responses
// that still go through encoding/json (upload, complete, download).
func TestFileJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, f := range sampleFiles() {
		want := encodingJSON(t, toAPIFile(&f))
		if got := string(appendFileJSON(nil, &f)) + "\n"; got != want {
			t.Errorf("appendFileJSON(%q)\n got %s\nwant %s", f.Filename, got, want)
		}
		wrapped := encodingJSON(t, map[string]any{"file": toFileJSON(&f)})
		if want := encodingJSON(t, map[string]any{"file": toAPIFile(&f)}); wrapped != want {
			t.Errorf("encoding/json of toFileJSON(%q)\n got %s\nwant %s", f.Filename, wrapped, want)
		}
	}
}

// TestListJSONMatchesEncodingJSON: the body of GET /list/ is the one
// encoding/json wrote: an empty page is [], the cursor null on the last page
// and the position of the last file shown otherwise.
func TestListJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	files := sampleFiles()
	for _, tc := range []struct {
		name  string
		files []File
		limit int
	}{
		{"empty", []File{}, 100},
		{"last page", files, len(files)},
		{"more pages", files, 3},
		{"one of many", files, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := apiList{Files: []apiFile{}}
			for i := range tc.files[:min(len(tc.files), tc.limit)] {
				want.Files = append(want.Files, toAPIFile(&tc.files[i]))
			}
			if len(tc.files) > tc.limit {
				last := tc.files[tc.limit-1]
				c := encodeCursor(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
				want.NextCursor = &c
			}
			if got, want := string(appendListJSON(nil, tc.files, tc.limit)), encodingJSON(t, want); got != want {
				t.Errorf("appendListJSON\n got %s\nwant %s", got, want)
			}
		})
	}
}

// driverDecode is how the driver's reflection decoder reads a File.
func driverDecode(t *testing.T, doc bson.Raw) File {
	t.Helper()
	var f File
	if err := bson.Unmarshal(doc, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDecodeFileMatchesDriver: decodeFile reads the documents MongoDB holds
// (the golden ones of testdata/records, and every sample file as the driver
// writes it today) into the same File as the driver's decoder, so that a
// renamed bson tag breaks this test rather than listing.
func TestDecodeFileMatchesDriver(t *testing.T) {
	t.Parallel()
	var docs []bson.Raw
	for _, f := range append(goldenRecordValues().files, append(sampleFiles(), everyFieldFile(t))...) {
		doc, err := bson.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	docs = append(docs, goldenMongoFiles(t)...)
	int32Size, err := bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "size", Value: int32(7)},
		{Key: "declared_size", Value: nil}, {Key: "created_at", Value: time.UnixMilli(5)}, {Key: "extra", Value: 1.5}})
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, int32Size)
	// Whole numbers stored as doubles, as mongosh writes numbers.
	doubles, err := bson.Marshal(bson.D{{Key: "_id", Value: "y"}, {Key: "size", Value: 5.0}, {Key: "declared_size", Value: -3.0},
		{Key: "charged", Value: 1e15}, {Key: "part_count", Value: 2.0}, {Key: "created_at", Value: time.UnixMilli(5)}})
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, doubles)
	for _, doc := range docs {
		var got File
		var opt fileOptionals
		if err := decodeFile(doc, &got, &opt, "owner-1"); err != nil {
			t.Fatalf("decodeFile(%v): %v", doc, err)
		}
		if want := driverDecode(t, doc); !reflect.DeepEqual(got, want) {
			t.Errorf("decodeFile(%v)\n got %+v\nwant %+v", doc, got, want)
		}
	}
}

// TestCreatedUploadJSONMatchesEncodingJSON: the answer of POST /upload/ is
// the one encoding/json writes, whichever way it was built: a form upload
// (appended) with fields and URLs that need escaping, and the PUT and
// multipart answers (through writeJSON).
func TestCreatedUploadJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	expires := time.Date(2026, 11, 29, 23, 0, 1, 0, time.UTC)
	var uploads []any
	for _, s := range awkwardStrings() {
		uploads = append(uploads, UploadForm{Method: "POST", URL: "http://127.0.0.1:9000/b?" + s,
			Fields: map[string]string{"key": s, "policy": "eyJ", "x-amz-signature": "ab", s: "v", "Content-Type": s}, ExpiresAt: expires})
	}
	uploads = append(uploads,
		UploadForm{Method: "POST", URL: "u", ExpiresAt: expires.Add(123 * time.Millisecond)},
		UploadForm{Method: "POST", URL: "u", Fields: map[string]string{}, ExpiresAt: expires},
		PresignedPut{Method: "PUT", URL: "u<&>", Headers: map[string]string{"Content-Type": "a/b"}, ExpiresAt: expires},
		multipartAnswer{Method: "multipart", PartSize: 5 << 20, PartCount: 3, ExpiresAt: expires})
	files := sampleFiles()
	for i, upload := range uploads {
		f := &files[i%len(files)]
		rec := httptest.NewRecorder()
		writeCreatedUpload(rec, f, upload)
		want := encodingJSON(t, struct {
			File   apiFile `json:"file"`
			Upload any     `json:"upload"`
		}{toAPIFile(f), upload})
		if got := rec.Body.String(); got != want {
			t.Errorf("upload %d (%T)\n got %s\nwant %s", i, upload, got, want)
		}
		if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("upload %d: status %d, Content-Type %q", i, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

// TestDownloadJSONMatchesEncodingJSON: the answer of GET /download/{id} is
// the one encoding/json writes for its shape, with URLs and file names
// that need escaping.
func TestDownloadJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	expires := time.Date(2026, 11, 29, 23, 0, 1, 0, time.UTC)
	files := sampleFiles()
	for i, s := range awkwardStrings() {
		f := &files[i%len(files)]
		url := "http://127.0.0.1:9000/b/k?response-content-disposition=" + s
		want := encodingJSON(t, struct {
			URL       string    `json:"url"`
			ExpiresAt time.Time `json:"expires_at"`
			File      apiFile   `json:"file"`
		}{url, expires, toAPIFile(f)})
		if got := string(appendDownloadJSON(nil, url, expires, f)); got != want {
			t.Errorf("download %d\n got %s\nwant %s", i, got, want)
		}
	}
}

// everyFieldFile is a File with every field set, so that a field added to
// File fails TestDecodeFileMatchesDriver until decodeFile reads it.
func everyFieldFile(t *testing.T) File {
	t.Helper()
	declared, size := int64(5), int64(6)
	completed := time.UnixMilli(1_800_000_000_123).UTC()
	f := File{ID: newID(), Owner: "owner-1", Filename: "all.txt", DeclaredSize: &declared, Size: &size,
		ContentType: "text/plain", Status: statusComplete, ObjectKey: "users/x/all", ETag: `"e"`,
		CreatedAt: completed.Add(-time.Second), CompletedAt: &completed, Charged: 6,
		UploadID: "upload-1", PartSize: 5 << 20, PartCount: 3, UploadExpiresAt: &completed,
		StagingKey: "staging/1767225600/users/ab/one",
		RequestID:  newID(), SenderName: "Ann <a&b>", SenderNote: "for \"you\"\nthanks"}
	v := reflect.ValueOf(f)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("everyFieldFile leaves File.%s unset: set it here and read it in decodeFile", v.Type().Field(i).Name)
		}
	}
	return f
}

// TestDecodeFileRefusesWrongTypes: a field of another type than File's is
// an error, as it is for the driver's decoder, and so is a file without
// its creation time (it could not be listed in order): never a silent zero.
func TestDecodeFileRefusesWrongTypes(t *testing.T) {
	t.Parallel()
	created := bson.E{Key: "created_at", Value: time.UnixMilli(5)}
	// A string whose length prefix says 0: not even its NUL.
	emptyString := bson.Raw{14, 0, 0, 0, byte(bson.TypeString), '_', 'i', 'd', 0, 0, 0, 0, 0, 0}
	var f File
	var opt fileOptionals
	if err := decodeFile(emptyString, &f, &opt, "o"); err == nil {
		t.Errorf("decodeFile accepted a string without its NUL as %+v", f)
	}
	for name, doc := range map[string]bson.D{
		"filename int":    {{Key: "_id", Value: "x"}, {Key: "filename", Value: 3}, created},
		"size string":     {{Key: "_id", Value: "x"}, {Key: "size", Value: "3"}, created},
		"size fraction":   {{Key: "_id", Value: "x"}, {Key: "size", Value: 3.5}, created},
		"created string":  {{Key: "_id", Value: "x"}, {Key: "created_at", Value: "2026-01-01"}},
		"created missing": {{Key: "_id", Value: "x"}},
		"completed int":   {{Key: "_id", Value: "x"}, created, {Key: "completed_at", Value: int64(5)}},
	} {
		raw, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var f File
		var opt fileOptionals
		if err := decodeFile(raw, &f, &opt, "o"); err == nil {
			t.Errorf("%s: decodeFile accepted %v as %+v", name, raw, f)
		}
	}
}

// goldenMongoFiles are the files documents of testdata/records/mongo.hex.
func goldenMongoFiles(t *testing.T) []bson.Raw {
	t.Helper()
	file, err := os.Open(goldenMongoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var docs []bson.Raw
	lines := bufio.NewScanner(file)
	for lines.Scan() {
		name, hexDoc, _ := strings.Cut(lines.Text(), " ")
		if !strings.HasPrefix(name, "file") {
			continue
		}
		doc, err := hex.DecodeString(hexDoc)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		t.Fatalf("no files in %s", goldenMongoPath)
	}
	return docs
}

// TestListJSONSizeIsEnough: a page of plain files with the longest sizes
// and times, and a next cursor, fits in listJSONSize bytes.
func TestListJSONSizeIsEnough(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 29, 20, 1, 2, 345_678_901, time.UTC)
	size := int64(math.MaxInt64)
	page := make([]File, 100)
	for i := range page {
		page[i] = File{ID: newID(), Filename: "report.pdf", ContentType: "application/pdf", Status: statusComplete,
			DeclaredSize: &size, Size: &size, CreatedAt: created, CompletedAt: &created}
	}
	body := appendListJSON(nil, page, 99)
	if size := listJSONSize(page[:99]); len(body) > size {
		t.Errorf("list body of %d bytes, but listJSONSize says %d", len(body), size)
	}
}
