package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The files in testdata/records were written by the encoders of the local
// log and of MongoDB as they were before the record types were merged (one
// struct per record and backend): the bytes stores already hold. They hold
// the values goldenRecordValues returns.
const (
	goldenLogPath   = "testdata/records/meta.log"  // a local store's log
	goldenMongoPath = "testdata/records/mongo.hex" // "<name> <hex of a BSON document>" per line
)

// goldenRecords are the records kept in testdata/records. Every optional
// field appears once empty and once set.
type goldenRecords struct {
	files  []File
	creds  []Credential
	users  []User
	states []AuthState
	codes  []AuthCode
}

// goldenRecordValues returns the values behind testdata/records.
func goldenRecordValues() goldenRecords {
	created := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	completed := created.Add(90 * time.Second)
	expires := time.Date(2099, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	declared, size := int64(1234), int64(1235)
	return goldenRecords{
		files: []File{
			{ID: "0f0e0d0c-0000-4000-8000-000000000001", Owner: "owner-1", Filename: "pending.bin",
				Status: statusPending, ObjectKey: "owner-1/0f0e0d0c-0000-4000-8000-000000000001", CreatedAt: created},
			{ID: "0f0e0d0c-0000-4000-8000-000000000002", Owner: "owner-1", Filename: "holiday \"photo\" é.jpg",
				DeclaredSize: &declared, Size: &size, ContentType: "image/jpeg", Status: statusComplete,
				ObjectKey: "owner-1/0f0e0d0c-0000-4000-8000-000000000002", ETag: `"0123456789abcdef"`,
				CreatedAt: created.Add(time.Millisecond), CompletedAt: &completed},
		},
		creds: []Credential{
			{Hash: "c1c1", Kind: kindBearer, UserID: "user-1", CreatedAt: created, ExpiresAt: expires},
			{Hash: "c2c2", Kind: kindSession, UserID: "user-2", CreatedAt: created, ExpiresAt: expires},
		},
		users: []User{
			{ID: "user-1", Issuer: "https://accounts.google.com", Subject: "sub-1"},
			{ID: "user-2", Issuer: "https://accounts.google.com", Subject: "sub-2", Email: "a@example.com",
				Name: "Ann Example", Picture: "https://example.com/a.png"},
		},
		states: []AuthState{
			{Hash: "s1s1", BrowserHash: "b1b1", Nonce: "n1", Verifier: "v1", ExpiresAt: expires},
			{Hash: "s2s2", BrowserHash: "b2b2", Nonce: "n2", Verifier: "v2", AppRedirect: "http://127.0.0.1:5000/cb",
				AppState: "app-state", CodeChallenge: "challenge-2", ExpiresAt: expires},
		},
		codes: []AuthCode{
			{Hash: "k1k1", UserID: "user-2", CodeChallenge: "challenge-3", RedirectURI: "http://[::1]:6000/cb", ExpiresAt: expires},
		},
	}
}

// byName returns the golden records under the names mongo.hex gives them:
// "file0", "cred1", and so on.
func (g goldenRecords) byName() map[string]any {
	named := map[string]any{}
	add := func(kind string, i int, v any) { named[fmt.Sprint(kind, i)] = v }
	for i, v := range g.files {
		add("file", i, v)
	}
	for i, v := range g.creds {
		add("cred", i, v)
	}
	for i, v := range g.users {
		add("user", i, v)
	}
	for i, v := range g.states {
		add("state", i, v)
	}
	for i, v := range g.codes {
		add("code", i, v)
	}
	return named
}

// TestRecordTags: every field of every record the stores keep names itself
// for MongoDB (bson) and for the local log (json), and no two fields of a
// record share a name. The record types are those the log can hold, so a
// new kind of record is checked as soon as the log knows it.
func TestRecordTags(t *testing.T) {
	t.Parallel()
	var kinds []reflect.Type
	for f := range reflect.TypeFor[localRecord]().Fields() {
		if f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			kinds = append(kinds, f.Type.Elem())
		}
	}
	if len(kinds) < 5 {
		t.Fatalf("localRecord holds %d record types, want at least File, Credential, User, AuthState, AuthCode", len(kinds))
	}
	for _, typ := range kinds {
		for _, tag := range []string{"bson", "json"} {
			seen := map[string]string{}
			for f := range typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
				if name == "" || name == "-" {
					t.Errorf("%s.%s has no %s name", typ.Name(), f.Name, tag)
					continue
				}
				if other, dup := seen[name]; dup {
					t.Errorf("%s.%s and .%s share the %s name %q", typ.Name(), other, f.Name, tag, name)
				}
				seen[name] = f.Name
			}
		}
	}
}

// TestRecordsLocalLogGolden: a log written before the record types were
// merged opens with the same values, and each of its records encodes back
// to the very same line: field names, omitted empty fields and times alike.
func TestRecordsLocalLogGolden(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile(goldenLogPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(golden, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	i := 0
	_, _, err = replayLocalLog(bytes.NewReader(golden), func(rec *localRecord) error {
		line, err := encodeLocalRecord(rec)
		if err != nil {
			return err
		}
		if !bytes.Equal(line, lines[i]) {
			t.Errorf("record %d encodes as\n%s\nwas\n%s", i, line, lines[i])
		}
		i++
		return nil
	})
	if err != nil || i != len(lines) {
		t.Fatalf("replayed %d of %d records: %v", i, len(lines), err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, localLogName), golden, 0o600); err != nil {
		t.Fatal(err)
	}
	st := openTestLocalStore(t, dir).state
	g := goldenRecordValues()
	files := map[string]*File{}
	for _, f := range g.files {
		files[f.ID] = &f
	}
	sameRecords(t, "files", st.files, files)
	sameRecords(t, "credentials", st.creds, keyed(g.creds, localCreds))
	sameRecords(t, "users", st.users, keyed(g.users, localUsers))
	sameRecords(t, "auth states", st.states, keyed(g.states, localStates))
	sameRecords(t, "auth codes", st.codes, keyed(g.codes, localCodes))
}

// TestRecordsMongoGolden: BSON documents written before the record types
// were merged decode to the same values, and the values encode back to the
// very same bytes: field names, nulls for nil pointers and times alike.
func TestRecordsMongoGolden(t *testing.T) {
	t.Parallel()
	named := goldenRecordValues().byName()
	docs := readGoldenMongo(t)
	if len(docs) != len(named) {
		t.Errorf("%s holds %d documents, want %d", goldenMongoPath, len(docs), len(named))
	}
	for name, doc := range docs {
		want := named[name]
		got := reflect.New(reflect.TypeOf(want))
		if err := bson.Unmarshal(doc, got.Interface()); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got.Elem().Interface(), want) {
			t.Errorf("%s decodes as\n%s\nwant\n%s", name, ctDescribe(got.Elem().Interface()), ctDescribe(want))
		}
		again, err := bson.Marshal(want)
		if err != nil || !bytes.Equal(again, doc) {
			t.Errorf("%s encodes as %s (%v)\nwas %s", name, bson.Raw(again), err, bson.Raw(doc))
		}
	}
}

// TestRecordsMongoReadsGolden: the golden documents, stored in MongoDB as
// they are, read back through the store with the same values, every time
// in UTC. The driver decodes dates as UTC by default; this keeps it so
// on each read path, since the store no longer converts times itself.
func TestRecordsMongoReadsGolden(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testDatabaseName(t)
	s := openMongoStoreAt(t, db)
	collections := map[string]string{"file": "files", "cred": "credentials", "user": "users", "state": "auth_states", "code": "auth_codes"}
	for name, doc := range readGoldenMongo(t) {
		coll := s.client.Database(db).Collection(collections[strings.TrimRight(name, "0123456789")])
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			t.Fatalf("storing %s: %v", name, err)
		}
	}
	now := time.Now()
	for name, want := range goldenRecordValues().byName() {
		var got any
		var err error
		switch want := want.(type) {
		case File:
			got, err = s.GetFile(ctx, want.Owner, want.ID)
			if err == nil {
				got = *got.(*File)
			}
		case Credential:
			got, err = s.FindCredential(ctx, want.Kind, want.Hash, now)
		case User:
			got, err = s.GetUser(ctx, want.ID)
		case AuthState:
			got, err = s.TakeAuthState(ctx, want.Hash, now)
		case AuthCode:
			got, err = s.TakeAuthCode(ctx, want.Hash, now)
		}
		if err != nil {
			t.Errorf("reading %s: %v", name, err)
		} else if !reflect.DeepEqual(got, want) { // times in another zone differ here
			t.Errorf("%s reads as\n%s (%s)\nwant\n%s", name, ctDescribe(got), timeZones(got), ctDescribe(want))
		}
	}
	page, err := s.ListFiles(ctx, ListQuery{Owner: "owner-1", Limit: 10})
	if err != nil || len(page) != 2 || !reflect.DeepEqual(page[0], goldenRecordValues().files[1]) {
		t.Errorf("ListFiles = %v, %v; want both files, the newest first", page, err)
	}
}

// keyed indexes records the way the local state keeps kind's.
func keyed[K comparable, R any](records []R, kind localKind[K, R]) map[K]R {
	m := map[K]R{}
	for _, r := range records {
		m[kind.key(&r)] = r
	}
	return m
}

// sameRecords compares the records of one kind, times' zones included.
func sameRecords[K comparable, R any](t *testing.T, what string, got, want map[K]R) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n%s\nwant\n%s", what, describeRecords(got), describeRecords(want))
	}
}

// describeRecords renders a map of records for a failure message.
func describeRecords[K comparable, R any](m map[K]R) string {
	var b strings.Builder
	for _, r := range m {
		v := any(r)
		if p := reflect.ValueOf(r); p.Kind() == reflect.Pointer {
			v = p.Elem().Interface()
		}
		fmt.Fprintf(&b, "  %s (%s)\n", ctDescribe(v), timeZones(v))
	}
	return b.String()
}

// timeZones lists the zones of a record's set times.
func timeZones(v any) string {
	var zones []string
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			f = f.Elem()
		}
		if tm, ok := f.Interface().(time.Time); ok {
			zones = append(zones, rv.Type().Field(i).Name+" in "+tm.Location().String())
		}
	}
	return strings.Join(zones, ", ")
}

// readGoldenMongo returns the BSON documents of goldenMongoPath by name.
func readGoldenMongo(t *testing.T) map[string]bson.Raw {
	t.Helper()
	f, err := os.Open(goldenMongoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]bson.Raw{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, hexDoc, _ := strings.Cut(sc.Text(), " ")
		doc, err := hex.DecodeString(hexDoc)
		if err != nil {
			t.Fatalf("%s: %s: %v", goldenMongoPath, name, err)
		}
		docs[name] = doc
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// fileFieldsNotInAPI are the File fields the API's file object (apiFile,
// appendFileJSON, openapi.json's File) does not show, each for a reason.
// A new File field must be either shown or listed here.
var fileFieldsNotInAPI = map[string]string{
	"Owner":           "the caller is the owner",
	"DeclaredSize":    "shown as size until the file completes",
	"ObjectKey":       "the object store's name, internal",
	"ETag":            "the object store's checksum, internal",
	"Charged":         "quota bookkeeping; the usage of GET /me shows the sums",
	"UploadID":        "the object store's upload, internal",
	"PartSize":        "in POST /upload/'s multipart answer, not the file object",
	"PartCount":       "in POST /upload/'s multipart answer, not the file object",
	"UploadExpiresAt": "in POST /upload/'s multipart answer (expires_at), not the file object",
	"StagingKey":      "the object store's name, internal (the form's key field names it)",
}

// TestFileFieldsReachEveryCopy: a File with every field set (everyFieldFile
// fails on a field left unset) comes back whole from every copy that writes
// or reads records: the driver's BSON, the raw-BSON decoder decodeFile, and
// each store (the local one also after reopening, which reads its log
// back); and each field is either shown by the API's file object (the
// object appendFileJSON writes changes when the field is zeroed;
// TestFileJSONMatchesEncodingJSON holds it to encoding/json of toAPIFile)
// or listed in fileFieldsNotInAPI. A field added to File fails here until
// each of those handles it.
func TestFileFieldsReachEveryCopy(t *testing.T) {
	t.Parallel()
	want := everyFieldFile(t)
	doc, err := bson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := driverDecode(t, doc); !reflect.DeepEqual(got, want) {
		t.Errorf("the driver's BSON\n got %+v\nwant %+v", got, want)
	}
	var got File
	var opt fileOptionals
	if err := decodeFile(doc, &got, &opt, want.Owner); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("decodeFile: %v\n got %+v\nwant %+v", err, got, want)
	}
	t.Run("API", func(t *testing.T) {
		all := string(appendFileJSON(nil, &want))
		for i, field := range reflect.VisibleFields(reflect.TypeFor[File]()) {
			without := want
			reflect.ValueOf(&without).Elem().Field(i).SetZero()
			shown := string(appendFileJSON(nil, &without)) != all
			if _, hidden := fileFieldsNotInAPI[field.Name]; shown == hidden {
				t.Errorf("File.%s: shown by the API's file object %v, in fileFieldsNotInAPI %v; want exactly one", field.Name, shown, hidden)
			}
		}
	})
	onEachStore(t, func(t *testing.T, s Store) {
		f := want
		if err := s.InsertFile(t.Context(), &f); err != nil {
			t.Fatal(err)
		}
		checkStoredFile(t, s, want)
		if local, ok := s.(*localStore); ok {
			checkStoredFile(t, reopenLocalStore(t, local), want)
		}
	})
}

// checkStoredFile fails unless s returns want whole, alone and in a list.
func checkStoredFile(t *testing.T, s Store, want File) {
	t.Helper()
	got, err := s.GetFile(t.Context(), want.Owner, want.ID)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("GetFile: %v\n got %+v\nwant %+v", err, got, want)
	}
	list, err := s.ListFiles(t.Context(), ListQuery{Owner: want.Owner, Limit: 10})
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("ListFiles: %v\n got %+v\nwant [%+v]", err, list, want)
	}
}
