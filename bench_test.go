package main

// Benchmarks of the upload, list and download handlers through the real
// router and middleware (logging, panic recovery, authentication), with the
// real S3 presigner, next to the presign calls they make and the bare SDK
// presign calls those replaced. The README quotes their figures from
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
	"slices"
	"strings"
	"sync"
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
	store, err := openMongoStore(b.Context(), rig.mongoURI, name, slog.New(slog.DiscardHandler), withQuota(Quota{}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rig.mongo.Database(name).Drop(ctx)
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
	env := s3TestEnv("dropp-bench")
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

// TestMemStoreContract runs the store contract suite on the benchmarks'
// in-memory store, so their figures come from a Store that behaves like the
// real ones.
func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	testStoreContract(t, func(t *testing.T) Store { return newMemStore() })
}

// memStore is a benchmark fixture, not a backend: an in-memory Store that
// takes the store's cost out of the handler benchmarks. It is minimal but
// keeps the Store contract (TestMemStoreContract), so handlers behave as
// they do on MongoDB.
type memStore struct {
	mu      sync.Mutex
	files   map[string]*File   // by ID
	byOwner map[string][]*File // each sorted by memOlderFirst
	keys    map[string]bool    // object keys in use
	creds   map[string]Credential
	users   map[string]User // by ID
	states  map[string]AuthState
	codes   map[string]AuthCode
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		files: map[string]*File{}, byOwner: map[string][]*File{}, keys: map[string]bool{},
		creds: map[string]Credential{}, users: map[string]User{},
		states: map[string]AuthState{}, codes: map[string]AuthCode{},
	}
}

// memOlderFirst orders a user's files as they are kept: the reverse of the
// API's order, so that a new file is appended rather than inserted.
func memOlderFirst(a, b *File) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// memCopy returns a deep copy of a file, so that neither the caller's nor
// the stored one changes the other.
func memCopy(f *File) *File {
	c := cloneLocalFile(f)
	return &c
}

func (m *memStore) Ping(context.Context) error  { return nil }
func (m *memStore) Close(context.Context) error { return nil }

func (m *memStore) InsertFile(_ context.Context, f *File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[f.ID] != nil || m.keys[f.ObjectKey] {
		return ErrConflict
	}
	n := normalizeLocalFile(f) // times as MongoDB keeps them
	stored := &n
	m.files[f.ID], m.keys[f.ObjectKey] = stored, true
	list := m.byOwner[f.Owner]
	i, _ := slices.BinarySearchFunc(list, stored, memOlderFirst)
	m.byOwner[f.Owner] = slices.Insert(list, i, stored)
	return nil
}

// find returns the stored file if owner owns it; the caller holds m.mu.
func (m *memStore) find(owner, id string) (*File, error) {
	f := m.files[id]
	if f == nil || f.Owner != owner {
		return nil, ErrNotFound
	}
	return f, nil
}

func (m *memStore) GetFile(_ context.Context, owner, id string) (*File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil {
		return nil, err
	}
	return memCopy(f), nil
}

func (m *memStore) ListFiles(_ context.Context, q ListQuery) ([]File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.byOwner[q.Owner]
	if q.After != nil { // keep only the files older than the cursor
		i, _ := slices.BinarySearchFunc(list, &File{CreatedAt: q.After.CreatedAt, ID: q.After.ID}, memOlderFirst)
		list = list[:i]
	}
	out := make([]File, 0, min(len(list), max(q.Limit, 0)))
	for i := len(list) - 1; i >= 0 && (q.Limit <= 0 || len(out) < q.Limit); i-- {
		if q.Status == "" || list[i].Status == q.Status {
			out = append(out, *list[i])
		}
	}
	memDetach(out)
	return out, nil
}

// memDetach gives a page's files pointer fields of their own, as the
// contract asks, taken from one block per field for the whole page: a copy
// per file would make the fixture's cost, not the handler's, dominate the
// list benchmark.
func memDetach(files []File) {
	sizes := make([]int64, 2*len(files))
	times := make([]time.Time, len(files))
	for i := range files {
		f := &files[i]
		if f.DeclaredSize != nil {
			sizes[2*i] = *f.DeclaredSize
			f.DeclaredSize = &sizes[2*i]
		}
		if f.Size != nil {
			sizes[2*i+1] = *f.Size
			f.Size = &sizes[2*i+1]
		}
		if f.CompletedAt != nil {
			times[i] = *f.CompletedAt
			f.CompletedAt = &times[i]
		}
	}
}

func (m *memStore) CompleteFile(_ context.Context, owner, id, key string, size int64, etag string, at time.Time) (*File, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil {
		return nil, false, err
	}
	completed := f.Status == statusPending
	if completed {
		at = localTime(at)
		f.Status, f.Size, f.ETag, f.CompletedAt = statusComplete, &size, etag, &at
		if key != "" {
			delete(m.keys, f.ObjectKey)
			f.ObjectKey, m.keys[key] = key, true
		}
	}
	return memCopy(f), completed, nil
}

func (m *memStore) DeleteFile(_ context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil {
		return err
	}
	delete(m.files, id)
	delete(m.keys, f.ObjectKey)
	m.byOwner[owner] = slices.DeleteFunc(m.byOwner[owner], func(g *File) bool { return g == f })
	return nil
}

func (m *memStore) DeleteAbandonedFile(_ context.Context, owner, id string, createdBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil || f.Status != statusPending || !f.CreatedAt.Before(createdBefore) {
		return ErrNotFound
	}
	delete(m.files, id)
	delete(m.keys, f.ObjectKey)
	m.byOwner[owner] = slices.DeleteFunc(m.byOwner[owner], func(g *File) bool { return g == f })
	return nil
}

func (m *memStore) InsertCredential(_ context.Context, c Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := c.Kind + "/" + c.Hash
	if _, ok := m.creds[k]; ok {
		return ErrConflict
	}
	m.creds[k] = c
	return nil
}

func (m *memStore) FindCredential(_ context.Context, kind, hash string, now time.Time) (Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[kind+"/"+hash]
	if !ok || !c.ExpiresAt.After(now) {
		return Credential{}, ErrNotFound
	}
	return c, nil
}

func (m *memStore) DeleteCredential(_ context.Context, kind, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.creds, kind+"/"+hash)
	return nil
}

func (m *memStore) UpsertUser(_ context.Context, u User) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.users {
		if old.Issuer == u.Issuer && old.Subject == u.Subject {
			u.ID = id
			m.users[id] = u
			return u, nil
		}
	}
	u.ID = newID()
	m.users[u.ID] = u
	return u, nil
}

func (m *memStore) GetUser(_ context.Context, id string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (m *memStore) InsertAuthState(_ context.Context, s AuthState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[s.Hash]; ok {
		return ErrConflict
	}
	m.states[s.Hash] = s
	return nil
}

func (m *memStore) TakeAuthState(_ context.Context, hash string, now time.Time) (AuthState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[hash]
	delete(m.states, hash)
	if !ok || !now.Before(s.ExpiresAt) {
		return AuthState{}, ErrNotFound
	}
	return s, nil
}

func (m *memStore) InsertAuthCode(_ context.Context, c AuthCode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.codes[c.Hash]; ok {
		return ErrConflict
	}
	m.codes[c.Hash] = c
	return nil
}

func (m *memStore) TakeAuthCode(_ context.Context, hash string, now time.Time) (AuthCode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.codes[hash]
	delete(m.codes, hash)
	if !ok || !now.Before(c.ExpiresAt) {
		return AuthCode{}, ErrNotFound
	}
	return c, nil
}
