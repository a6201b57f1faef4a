package main

// Benchmarks of the upload, list and download handlers through the real
// router and middleware (logging, panic recovery, authentication), with the
// real S3 presigner, next to the presign calls they make and the bare SDK
// presign calls those replaced. docs/performance.md quotes their figures from
// scripts/bench.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// benchListSize is how many files the list benchmarks' user has: one full
// default page.
const benchListSize = 100

// BenchmarkUploadHandler measures POST /upload/: JSON decoding and
// validation, a presigned POST policy and the JSON answer.
func BenchmarkUploadHandler(b *testing.B) { benchUpload(b, newMemStore()) }

// BenchmarkUploadHandlerMongo is BenchmarkUploadHandler on the test rig's
// FerretDB with a bearer token: the credential lookup and the insert are
// real round trips. Reference only, as BenchmarkListHandlerMongo; its
// allocations per request are what the driver adds to the handler's.
func BenchmarkUploadHandlerMongo(b *testing.B) { benchUpload(b, benchMongoStore(b, "bench_upload")) }

// benchUpload measures POST /upload/ of one file with a bearer token on
// store.
func benchUpload(b *testing.B, store Store) {
	s, tok := benchServer(b, store)
	body := []byte(`{"filename":"report.pdf","size":1048576,"content_type":"application/pdf"}`)
	req := benchRequest(b, "POST", "/upload/", tok, nil)
	req.Header.Set("Content-Type", "application/json")
	benchServe(b, s, req, http.StatusCreated, func() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	})
}

// BenchmarkListHandler measures GET /list/ of benchListSize files from an
// in-memory store, so the figure is the handler's own cost.
func BenchmarkListHandler(b *testing.B) {
	store := newMemStore()
	s, tok := benchServer(b, store)
	benchFiles(b, store, benchOwner(b, s, tok), benchListSize)
	benchServe(b, s, benchRequest(b, "GET", "/list/", tok, nil), http.StatusOK, nil)
}

// BenchmarkListHandlerMongo is BenchmarkListHandler on the test rig's
// FerretDB. It is for reference only: FerretDB's SQLite handler scans whole
// collections and says nothing about MongoDB's speed.
func BenchmarkListHandlerMongo(b *testing.B) {
	store := benchMongoStore(b, "bench_list")
	s, tok := benchServer(b, store)
	benchFiles(b, store, benchOwner(b, s, tok), benchListSize)
	benchServe(b, s, benchRequest(b, "GET", "/list/", tok, nil), http.StatusOK, nil)
}

// benchMongoStore opens a store on a new database of the test rig's
// FerretDB, dropped when the benchmark ends, with no quota configured (as
// by default, so with no usage ledger).
func benchMongoStore(b *testing.B, prefix string) *mongoStore {
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	store, err := openMongoStore(b.Context(), requireRig(b).mongoURI, name, slog.New(slog.DiscardHandler), withQuota(Quota{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		requireRig(b).mongo.Database(name).Drop(ctx)
		store.Close(ctx)
	})
	return store
}

// BenchmarkListHandlerBody measures what GET /list/ does with a page
// MongoDB returns, without the network: benchListSize raw BSON documents
// decoded (decodeFile) and written as the JSON body (appendListJSON).
func BenchmarkListHandlerBody(b *testing.B) {
	docs, owner := benchListDocs(b)
	b.ReportAllocs()
	for b.Loop() {
		files := make([]File, len(docs))
		optional := make([]fileOptionals, len(docs))
		for i, doc := range docs {
			if err := decodeFile(doc, &files[i], &optional[i], owner); err != nil {
				b.Fatal(err)
			}
		}
		appendListJSON(nil, files, len(files)-1)
	}
}

// BenchmarkListHandlerBodyReflect is the baseline of
// BenchmarkListHandlerBody: the same page through the driver's reflection
// decoder and encoding/json, as GET /list/ did before.
func BenchmarkListHandlerBodyReflect(b *testing.B) {
	docs, _ := benchListDocs(b)
	b.ReportAllocs()
	for b.Loop() {
		files := make([]File, len(docs))
		for i, doc := range docs {
			if err := bson.Unmarshal(doc, &files[i]); err != nil {
				b.Fatal(err)
			}
		}
		resp := apiList{Files: make([]apiFile, 0, len(files)-1)}
		for i := range files[:len(files)-1] {
			resp.Files = append(resp.Files, toAPIFile(&files[i]))
		}
		c := encodeCursor(Cursor{CreatedAt: files[len(files)-2].CreatedAt, ID: files[len(files)-2].ID})
		resp.NextCursor = &c
		if err := json.NewEncoder(io.Discard).Encode(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchListDocs is a page as MongoDB sends it for GET /list/: one file more
// than benchListSize, as the driver encodes File, and their owner.
func benchListDocs(b *testing.B) ([]bson.Raw, string) {
	b.Helper()
	store, owner := newMemStore(), newID()
	var docs []bson.Raw
	for _, f := range benchFiles(b, store, owner, benchListSize+1) {
		doc, err := bson.Marshal(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, doc)
	}
	return docs, owner
}

// BenchmarkDownloadHandler measures GET /download/{id}: a store lookup and
// a presigned GET with a Content-Disposition.
func BenchmarkDownloadHandler(b *testing.B) {
	store := newMemStore()
	s, tok := benchServer(b, store)
	files := benchFiles(b, store, benchOwner(b, s, tok), 1)
	benchServe(b, s, benchRequest(b, "GET", "/download/"+files[0].ID, tok, nil), http.StatusOK, nil)
}

// BenchmarkMeHandler measures GET /me: the middleware path (request log,
// panic recovery, bearer authentication, API headers) around one store
// lookup and a small JSON answer, with no presigning to hide its cost.
func BenchmarkMeHandler(b *testing.B) {
	s, tok := benchServer(b, newMemStore())
	benchServe(b, s, benchRequest(b, "GET", "/me", tok, nil), http.StatusOK, nil)
}

// BenchmarkSDKPresignPost is the baseline of BenchmarkPresignUpload: the
// SDK's PresignPostObject alone, with the conditions Dropp adds.
func BenchmarkSDKPresignPost(b *testing.B) {
	o := benchObjects(b)
	key := objectKey("user", newID(), time.Now())
	b.ReportAllocs()
	for b.Loop() {
		conditions := []any{[]any{"content-length-range", int64(1 << 20), int64(1 << 20)}, map[string]string{"Content-Type": "application/pdf"}}
		_, err := o.presign.PresignPostObject(b.Context(), &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)},
			func(opts *s3.PresignPostOptions) {
				opts.Expires = time.Hour
				opts.Conditions = conditions
			})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSDKPresignGet is the baseline of BenchmarkPresignDownload: the
// SDK's PresignGetObject alone, with the same response overrides.
func BenchmarkSDKPresignGet(b *testing.B) {
	o := benchObjects(b)
	key := objectKey("user", newID(), time.Now())
	b.ReportAllocs()
	for b.Loop() {
		_, err := o.presign.PresignGetObject(b.Context(), &s3.GetObjectInput{
			Bucket:                     aws.String(o.bucket),
			Key:                        aws.String(key),
			ResponseContentDisposition: aws.String(contentDisposition("report.pdf")),
			ResponseContentType:        aws.String("application/pdf"),
		}, s3.WithPresignExpires(15*time.Minute))
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresignUpload is what BenchmarkUploadHandler presigns with:
// s3Objects.PresignUpload, the fast signer, on the same policy as
// BenchmarkSDKPresignPost.
func BenchmarkPresignUpload(b *testing.B) {
	o := benchObjects(b)
	p := UploadPolicy{Key: objectKey("user", newID(), time.Now()), MinSize: 1 << 20, MaxSize: 1 << 20, ContentType: "application/pdf",
		Expires: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.PresignUpload(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresignDownload is what BenchmarkDownloadHandler presigns with:
// s3Objects.PresignDownload, the fast signer, on the same object as
// BenchmarkSDKPresignGet.
func BenchmarkPresignDownload(b *testing.B) {
	o := benchObjects(b)
	d := DownloadRequest{Key: objectKey("user", newID(), time.Now()), Filename: "report.pdf", ContentType: "application/pdf",
		Expires: time.Now().Add(15 * time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.PresignDownload(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConfig is a configuration pointing at the rig's versitygw. Presigning
// is local computation: the benchmarks never reach the network for S3.
func benchConfig(b testing.TB) *config {
	b.Helper()
	env := s3TestEnv(b, "dropp-bench")
	env["SECRET_KEY"] = testSecretKey
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchObjects is the real S3 object store, built as the server builds it.
func benchObjects(b testing.TB) *s3Objects {
	b.Helper()
	o, err := newS3Objects(b.Context(), benchConfig(b), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// benchServer is the real server on store and the real S3 presigner,
// logging (fully formatted) to io.Discard, with a bearer token for a user.
func benchServer(b *testing.B, store Store) (*server, string) {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newServer(benchConfig(b), logger, store, benchObjects(b))
	u, err := store.UpsertUser(b.Context(), User{Issuer: "bench", Subject: newID(), Email: "bench@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.issueToken(b.Context(), u.ID)
	if err != nil {
		b.Fatal(err)
	}
	return s, tok
}

// benchOwner is the user id tok authenticates as.
func benchOwner(b *testing.B, s *server, tok string) string {
	b.Helper()
	c, err := s.store.FindCredential(b.Context(), kindBearer, hashSecret(tok), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return c.UserID
}

// benchFiles stores n complete files of owner, newest first.
func benchFiles(b *testing.B, store Store, owner string, n int) []File {
	b.Helper()
	files := make([]File, n)
	start := time.Now().UTC().Truncate(time.Millisecond)
	for i := range files {
		size := int64(1000 + i)
		created := start.Add(-time.Duration(i) * time.Second)
		done := created.Add(time.Second)
		f := File{ID: newID(), Owner: owner, Filename: fmt.Sprintf("file %03d.pdf", i), DeclaredSize: &size, Size: &size,
			ContentType: "application/pdf", Status: statusComplete, ETag: "0123456789abcdef0123456789abcdef",
			CreatedAt: created, CompletedAt: &done}
		f.ObjectKey = objectKey(owner, f.ID, created)
		if err := store.InsertFile(b.Context(), &f); err != nil {
			b.Fatal(err)
		}
		files[i] = f
	}
	return files
}

// benchRequest builds the request a benchmark sends again and again.
func benchRequest(b *testing.B, method, path, tok string, body io.Reader) *http.Request {
	b.Helper()
	req := httptest.NewRequest(method, path, body)
	req.Host = "localhost" // local sign-in answers loopback Hosts only
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

// benchServe sends req to s once per iteration, after reset (if any) has
// rewound its body, and fails on any other status than want. The request is
// reused, as net/http's own parsing is not Dropp's cost; the response
// recorder is not, as every real response has its own.
func benchServe(b *testing.B, s *server, req *http.Request, want int, reset func()) {
	b.Helper()
	serve := func() {
		if reset != nil {
			reset()
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%s %s: %d %s, want %d", req.Method, req.URL.Path, rec.Code, rec.Body, want)
		}
	}
	serve() // fail before timing if the route is broken
	b.ReportAllocs()
	for b.Loop() {
		serve()
	}
}

// TestBenchMemStorePagesLikeTheAPI checks the fixture itself through the
// real list handler, so the benchmarks measure a server that behaves: pages
// walk every file once, newest first, and other users' files never show.
func TestBenchMemStorePagesLikeTheAPI(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	s := newServer(benchConfig(t), slog.New(slog.DiscardHandler), store, benchObjects(t))
	owner, other := newID(), newID()
	tok, _, err := s.issueToken(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{other, owner} {
		for i := range 7 {
			created := time.UnixMilli(1_700_000_000_000 + int64(i/2)*1000).UTC() // pairs share a time
			f := &File{ID: newID(), Owner: u, Filename: "f", Status: statusPending, CreatedAt: created}
			f.ObjectKey = objectKey(u, f.ID, created)
			if err := store.InsertFile(t.Context(), f); err != nil {
				t.Fatal(err)
			}
		}
	}
	var seen []fileOut
	path := "/list/?limit=3"
	for range 10 {
		req := httptest.NewRequest("GET", path, nil)
		req.Host = "localhost" // local sign-in answers loopback Hosts only
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		page := decode[listOut](t, rec.Body.Bytes())
		seen = append(seen, page.Files...)
		if page.NextCursor == nil {
			break
		}
		path = "/list/?limit=3&cursor=" + *page.NextCursor
	}
	if len(seen) != 7 {
		t.Fatalf("pages hold %d files, want the owner's 7", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID <= b.ID {
			t.Errorf("files %d and %d out of order: %+v then %+v", i-1, i, a, b)
		}
	}
}
