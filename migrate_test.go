package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestMigrateToMongoAndS3 is docs/operations.md's move from local mode to
// production, for real: local mode is filled through the API (files, one
// with a non-ASCII name, one uploaded in parts, an unfinished upload, a share link used once),
// `dropp migrate` refuses while that server runs, then copies everything
// into FerretDB and versitygw once it is stopped. (Three credentials: the
// app's bearer token, the session of its sign-in and a browser's.) An interrupted migration
// (one record and one object missing) resumes, a third run copies
// nothing, and the production server serves every file, byte for byte,
// and the share link, to the token issued in local mode; the browser
// stays signed in with its cookie, signed with local mode's key.
func TestMigrateToMongoAndS3(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	localEnv, base, stop, c, token := startSignedInRun(t, dataDir)
	session := browserSignIn(t, c, base)
	contents := map[string][]byte{}
	var ids []string
	for _, name := range []string{"a.txt", "résumé ✓.txt", "big.bin"} {
		body := bytes.Repeat([]byte(name+"\n"), 1+len(name)*1000)
		id := uploadFile(t, c, base, token, name, body)
		contents[id], ids = body, append(ids, id)
	}
	id := uploadInOnePart(t, c, base, token, "parts.bin", bytes.Repeat([]byte("part\n"), 20000))
	contents[id], ids = bytes.Repeat([]byte("part\n"), 20000), append(ids, id)
	apiPost[uploadOut](t, c, base+"/upload/", token, `{"filename":"pending.txt","size":3}`, http.StatusCreated)
	share := apiPost[struct {
		Share shareOut `json:"share"`
	}](t, c, base+"/files/"+ids[1]+"/shares", token, `{"max_downloads":3}`, http.StatusCreated).Share
	followShareLink(t, c, share.URL, contents[ids[1]])
	before := apiGet[listOut](t, c, base+"/list/", token).Files
	usageBefore := apiGet[meUsageOut](t, c, base+"/me", token).Usage

	db, bucket := testDatabaseName(t), testBucket(t)
	destEnv := maps.Clone(localEnv)
	maps.Copy(destEnv, s3TestEnv(t, bucket))
	destEnv["MONGODB_URI"], destEnv["MONGO_DB"] = requireRig(t).mongoURI, db
	if out, err := migrate(destEnv); err == nil || !strings.Contains(err.Error(), "stop the Dropp server") {
		t.Fatalf("migrate beside a running server: %v\n%s", err, out)
	}
	stop()

	out, err := migrate(destEnv)
	if err != nil {
		t.Fatalf("dropp migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "1 users (0 already there), 4 files (0 already there), 4 objects copied", "3 tokens and sessions (0 already there)", "1 share links (0 already there)", "1 unfinished uploads left behind")
	if !strings.Contains(out, "résumé ✓.txt") {
		t.Errorf("no progress line names the unicode file:\n%s", out)
	}

	var moved File
	if err := requireRig(t).mongo.Database(db).Collection("files").FindOne(t.Context(), bson.D{{Key: "_id", Value: ids[3]}}).Decode(&moved); err != nil || moved.UploadID != "" || moved.PartCount != 0 {
		t.Errorf("the file uploaded in parts in MongoDB: %+v %v, want no local upload id", moved, err)
	}

	// An interruption: one record and one object did not make it.
	if _, err := requireRig(t).mongo.Database(db).Collection("files").DeleteOne(t.Context(), bson.D{{Key: "_id", Value: ids[0]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := requireRig(t).s3.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKeyOf(t, dataDir, ids[2]))}); err != nil {
		t.Fatal(err)
	}
	out, err = migrate(destEnv)
	if err != nil {
		t.Fatalf("resumed dropp migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "1 files (3 already there), 1 objects copied", "3 already in bucket")
	out, err = migrate(destEnv)
	if err != nil {
		t.Fatalf("third dropp migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "0 users (1 already there), 0 files (4 already there), 0 objects copied", "4 already in bucket", "0 tokens and sessions (3 already there), 0 share links (1 already there)")

	key, err := os.ReadFile(filepath.Join(dataDir, secretKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	prodEnv := maps.Clone(destEnv)
	prodEnv["SECRET_KEY"], prodEnv["DATA_DIR"] = string(key), t.TempDir()
	base, _, stop = startRun(t, prodEnv)
	defer stop()
	after := apiGet[listOut](t, c, base+"/list/", token).Files
	if len(after) != len(before)-1 { // the unfinished upload stayed behind
		t.Fatalf("production lists %d files, want %d: %+v", len(after), len(before)-1, after)
	}
	for _, f := range after {
		dl := apiGet[downloadOut](t, c, base+"/download/"+f.ID, token)
		if got := fetch(t, c, dl.URL); !bytes.Equal(got, contents[f.ID]) || dl.File.Filename != f.Filename {
			t.Errorf("%s %q: downloaded %d bytes, want %d", f.ID, f.Filename, len(got), len(contents[f.ID]))
		}
	}
	if u := apiGet[meUsageOut](t, c, base+"/me", token).Usage; u.Files != usageBefore.Files-1 || u.Bytes >= usageBefore.Bytes || u.Bytes < int64(len(contents[ids[2]])) {
		t.Errorf("usage in production = %+v, local mode's was %+v with one 3-byte upload unfinished", u, usageBefore)
	}
	req, _ := http.NewRequest("GET", base+"/me", nil)
	req.AddCookie(session)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /me with local mode's session cookie: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	shareURL := base + share.URL[strings.Index(share.URL, "/s/"):]
	followShareLink(t, c, shareURL, contents[ids[1]])
	shares := apiGet[struct {
		Shares []shareOut `json:"shares"`
	}](t, c, base+"/files/"+ids[1]+"/shares", token).Shares
	if len(shares) != 1 || shares[0].Downloads != 2 {
		t.Errorf("shares after migration and one more download = %+v, want one with 2 downloads", shares)
	}
}

// TestMigrateRefuses: without a destination, without a local store, with
// a SECRET_KEY that would sign browsers out, and with an argument.
func TestMigrateRefuses(t *testing.T) {
	t.Parallel()
	withKey := t.TempDir()
	if err := os.WriteFile(filepath.Join(withKey, secretKeyFile), []byte(strings.Repeat("0123456789abcdef", 4)), 0o600); err != nil {
		t.Fatal(err)
	}
	dest := map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "AWS_S3_BUCKET": "b", "AWS_REGION": "us-east-1"}
	with := func(extra map[string]string) map[string]string {
		env := maps.Clone(dest)
		maps.Copy(env, extra)
		return env
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no destination", nil, map[string]string{"DATA_DIR": withKey}, "set MONGODB_URI and AWS_S3_BUCKET"},
		{"no bucket", nil, map[string]string{"DATA_DIR": withKey, "MONGODB_URI": "mongodb://127.0.0.1:1/"}, "set MONGODB_URI and AWS_S3_BUCKET"},
		{"no local store", nil, with(map[string]string{"DATA_DIR": withKey}), "no local store to migrate"},
		{"other secret key", nil, with(map[string]string{"DATA_DIR": withKey, "SECRET_KEY": testSecretKey}), "SECRET_KEY differs from local mode's key"},
		{"argument", []string{"now"}, with(map[string]string{"DATA_DIR": withKey}), "dropp migrate takes none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"dropp", "migrate"}, tc.args...)
			err := runDropp(context.Background(), args, testGetenv(tc.env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// migrate runs `dropp migrate` with env and returns what it printed.
func migrate(env map[string]string) (string, error) {
	var out bytes.Buffer
	err := runDropp(context.Background(), []string{"dropp", "migrate"}, testGetenv(env), &out, &out)
	return out.String(), err
}

// wantSummary checks that the output holds each part.
func wantSummary(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

// objectKeyOf reads a file's object key from a stopped local store.
func objectKeyOf(t *testing.T, dataDir, id string) string {
	t.Helper()
	st, err := readLocalSnapshot(filepath.Join(dataDir, "metadata"))
	if err != nil || st.files[id] == nil {
		t.Fatalf("file %s in %s: %v", id, dataDir, err)
	}
	return st.files[id].ObjectKey
}

// followShareLink follows a share link's download redirect and checks the bytes.
func followShareLink(t *testing.T, c *http.Client, link string, want []byte) {
	t.Helper()
	resp, err := c.Post(link+"/download", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		t.Fatalf("POST %s/download: %d", link, resp.StatusCode)
	}
	if got := fetch(t, c, resp.Header.Get("Location")); !bytes.Equal(got, want) {
		t.Fatalf("share download: %d bytes, want %d", len(got), len(want))
	}
}

// browserSignIn signs in as a browser does and returns the session cookie.
func browserSignIn(t *testing.T, c *http.Client, base string) *http.Cookie {
	t.Helper()
	resp, err := c.Get(base + "/auth/google")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, sessionCookie) && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("/auth/google: %d, no session cookie in %v", resp.StatusCode, resp.Cookies())
	return nil
}

// TestMigrateCopiesLargeObjectsInParts: an object over the single-request
// limit (lowered here from S3's 5 GiB) goes to the bucket as a multipart
// upload, whole and byte for byte, with no upload left open.
func TestMigrateCopiesLargeObjectsInParts(t *testing.T) {
	t.Parallel()
	bucket, objectsDir := testBucket(t), t.TempDir()
	key := "users/u1/big"
	content := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16) // 12 MiB: parts of 5, 5 and 2 MiB
	if err := os.MkdirAll(filepath.Join(objectsDir, "users", "u1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(objectsDir, localObjectPath(key)), content, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(testGetenv(s3TestEnv(t, bucket)))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := newS3Objects(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(objectsDir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	m := &migration{srcObjects: root, objects: objects, out: io.Discard, singleLimit: 5 << 20, partSize: 5 << 20}
	size := int64(len(content))
	info, err := m.copyObject(t.Context(), &File{ObjectKey: key, Size: &size})
	if err != nil {
		t.Fatalf("copyObject: %v", err)
	}
	if info.Size != size || !strings.HasSuffix(info.ETag, "-3") {
		t.Errorf("copied object: %+v, want %d bytes in 3 parts", info, size)
	}
	got, err := requireRig(t).s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if body, _ := io.ReadAll(got.Body); !bytes.Equal(body, content) {
		t.Errorf("the bucket holds %d different bytes", len(body))
	}
	uploads, err := requireRig(t).s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("open multipart uploads after the copy: %v %v", uploads, err)
	}
}

// uploadInOnePart uploads content as a multipart file of one part and
// returns the file id.
func uploadInOnePart(t *testing.T, c *http.Client, base, token, name string, content []byte) string {
	t.Helper()
	body := fmt.Sprintf(`{"filename":%q,"size":%d,"multipart":true}`, name, len(content))
	up := apiPost[multipartCreateOut](t, c, base+"/upload/", token, body, http.StatusCreated)
	if up.Upload.PartCount != 1 {
		t.Fatalf("create multipart: %+v, want one part", up.Upload)
	}
	parts := apiPost[partURLsOut](t, c, base+"/upload/"+up.File.ID+"/parts", token, `{"part_numbers":[1]}`, http.StatusOK).Parts
	if status, body := streamPut(t, parts[0], bytes.NewReader(content), int64(len(content))); status/100 != 2 {
		t.Fatalf("PUT part: %d %s", status, body)
	}
	apiPost[fileResponseOut](t, c, base+"/upload/"+up.File.ID+"/complete", token, "", http.StatusOK)
	return up.File.ID
}

// TestMigrateHasAStepForEveryKind: every kind of record the local store
// keeps (localTables, plus files and invitations, which live apart) has a
// step of dropp migrate, or is named here with the reason it stays behind.
// A kind added to the local store without either fails here: passkeys,
// webhooks, their deliveries and invitations were once left out silently.
func TestMigrateHasAStepForEveryKind(t *testing.T) {
	t.Parallel()
	stepOf := map[string]string{
		"User": "migrateUsers", "Passkey": "migratePasskeys", "File": "migrateFiles", "Credential": "migrateCredentials",
		"Share": "migrateShares", "FileRequest": "migrateRequests", "Webhook": "migrateWebhooks",
		"WebhookDelivery": "migrateDeliveries", "Invitation": "migrateInvitations",
		// Sign-ins in progress: minutes old, and the apps start them again.
		"AuthState": "", "AuthCode": "",
	}
	kinds := []string{"File", "Invitation"}
	for _, table := range localTables {
		rows, _ := reflect.TypeOf(table).FieldByName("rows") // func(*localState) map[K]R
		kinds = append(kinds, rows.Type.Out(0).Elem().Name())
	}
	steps := map[string]bool{}
	for _, step := range (&migration{}).steps() {
		name := runtime.FuncForPC(reflect.ValueOf(step).Pointer()).Name() // main.(*migration).migrateUsers-fm
		steps[strings.TrimSuffix(name[strings.LastIndex(name, ".")+1:], "-fm")] = true
	}
	for _, kind := range kinds {
		step, known := stepOf[kind]
		switch {
		case !known:
			t.Errorf("the local store keeps %s records, which dropp migrate does not know: add a step (migration.steps), or say here why they stay behind", kind)
		case step != "" && !steps[step]:
			t.Errorf("%s records: migration.steps lacks %s", kind, step)
		}
	}
}

// localRecords is one record of each kind dropp migrate carries, as
// fillLocalDataDir stores them.
type localRecords struct {
	user       User
	file       File
	content    []byte
	share      Share
	pat        Credential
	passkey    Passkey
	webhook    Webhook // with a rotated secret
	pending    WebhookDelivery
	delivered  WebhookDelivery
	invitation Invitation
}

// fillLocalDataDir fills a local-mode DATA_DIR through the local store with
// one record of each kind dropp migrate carries: a user with a password
// and a passkey, a complete file with its object, a share of it, a
// personal access token, a webhook endpoint with one pending and one
// delivered delivery, and an unused invitation.
func fillLocalDataDir(t *testing.T, dataDir string) localRecords {
	t.Helper()
	ctx := t.Context()
	local, err := openLocalStore(filepath.Join(dataDir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close(context.Background())
	now := time.Now().UTC().Truncate(time.Millisecond)
	var r localRecords
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r.user, err = local.UpsertUser(ctx, User{Issuer: accountsIssuer, Subject: "a@example.com", Email: "a@example.com", CreatedAt: now})
	must(err)
	must(local.SetAccountPassword(ctx, r.user.ID, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", false))
	must(local.MarkCredentialsReset(ctx, r.user.ID, now))
	r.user.CredentialsResetAt = now
	r.file, r.content = storeLocalFile(t, local, dataDir, r.user.ID, now)
	limit := int64(5)
	r.share = Share{ID: newID(), TokenHash: hashSecret(newSecret(shareTokenBytes)), Owner: r.user.ID, FileID: r.file.ID,
		Files: []ShareFile{{FileID: r.file.ID}}, MaxDownloads: &limit, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(local.InsertShare(ctx, r.share, 0))
	r.pat = Credential{Hash: hashSecret(newSecret(32)), Kind: kindPAT, UserID: r.user.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		TokenID: newID(), Name: "ci", Scope: "files:read"}
	must(local.InsertCredential(ctx, r.pat))
	r.passkey = Passkey{ID: "bWlncmF0ZWQtcGFzc2tleQ", UserID: r.user.ID, PublicKey: []byte{1, 2, 3}, Alg: -7, UserHandle: r.user.ID, Name: "laptop", CreatedAt: now}
	must(local.InsertPasskey(ctx, r.passkey))
	r.webhook = Webhook{ID: newID(), Owner: r.user.ID, URL: "https://hooks.example.com/x", Events: []string{"file.completed"},
		Secret: "whsec_AAAA", OldSecret: "whsec_BBBB", OldUntil: now.Add(time.Hour), CreatedAt: now}
	must(local.InsertWebhook(ctx, r.webhook))
	r.pending = WebhookDelivery{ID: "msg_" + newID(), WebhookID: r.webhook.ID, Owner: r.user.ID, Event: "file.completed", Payload: "{}",
		CreatedAt: now, Status: deliveryPending, NextAt: now.Add(time.Hour), ExpiresAt: now.Add(72 * time.Hour)}
	r.delivered = r.pending
	r.delivered.ID, r.delivered.Status, r.delivered.Attempts, r.delivered.LastCode = "msg_"+newID(), deliveryDelivered, 1, 200
	must(local.InsertDeliveries(ctx, []WebhookDelivery{r.pending, r.delivered}))
	r.invitation = Invitation{Hash: hashSecret(newSecret(32)), Email: "b@example.com", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(local.InsertInvitation(ctx, r.invitation))
	return r
}

// storeLocalFile stores a complete file of owner's in the local store, its
// object written where the local object store keeps it.
func storeLocalFile(t *testing.T, local *localStore, dataDir, owner string, now time.Time) (File, []byte) {
	t.Helper()
	content := []byte("hello, migration\n")
	size := int64(len(content))
	f := File{ID: newID(), Owner: owner, Filename: "m.txt", DeclaredSize: &size, Status: statusPending,
		ObjectKey: "users/0123456789abcdef0123456789abcdef/" + newID(), CreatedAt: now, Charged: size}
	if err := local.InsertFile(t.Context(), &f); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, "objects", localObjectPath(f.ObjectKey))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := local.CompleteFile(t.Context(), owner, f.ID, "", size, localMD5(string(content)), now); err != nil {
		t.Fatal(err)
	}
	return f, content
}

// migrationDestination is the environment of dropp migrate from dataDir
// into a database and bucket of the test's own, and that database, open.
func migrationDestination(t *testing.T, dataDir string) (map[string]string, *mongoStore) {
	t.Helper()
	env := s3TestEnv(t, testBucket(t))
	env["DATA_DIR"], env["MONGODB_URI"], env["MONGO_DB"] = dataDir, requireRig(t).mongoURI, testDatabaseName(t)
	env["SECRET_KEY"] = testSecretKey
	dest, err := openMongoStore(t.Context(), env["MONGODB_URI"], env["MONGO_DB"], testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Close(context.Background()) })
	return env, dest
}

// TestMigrateCarriesEveryKind: one record of each kind in a local DATA_DIR
// is in MongoDB after dropp migrate, read back through the store.
func TestMigrateCarriesEveryKind(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	r := fillLocalDataDir(t, dataDir)
	env, dest := migrationDestination(t, dataDir)
	out, err := migrate(env)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "1 passkeys (0 already there), 1 webhook endpoints (0 already there), 2 webhook deliveries in place, 1 invitations (0 already there)")
	ctx, now := t.Context(), time.Now()
	if u, err := dest.GetUser(ctx, r.user.ID); err != nil || u.PasswordHash == "" || !u.CredentialsResetAt.Equal(r.user.CredentialsResetAt) {
		t.Errorf("user: %+v %v, want one with a password, its credentials reset at %v", u, err, r.user.CredentialsResetAt)
	}
	if _, err := dest.GetFile(ctx, r.user.ID, r.file.ID); err != nil {
		t.Errorf("file: %v", err)
	}
	if sh, err := dest.ShareLink(ctx, r.share.TokenHash, now); err != nil || len(sh.Files) != 1 {
		t.Errorf("share link: %+v %v, want one with its file", sh, err)
	}
	if c, err := dest.FindCredential(ctx, kindPAT, r.pat.Hash, now); err != nil || c.TokenID != r.pat.TokenID || c.Scope != r.pat.Scope {
		t.Errorf("personal access token: %+v %v", c, err)
	}
	if p, err := dest.GetPasskey(ctx, r.passkey.ID); err != nil || p.UserID != r.user.ID || !bytes.Equal(p.PublicKey, r.passkey.PublicKey) {
		t.Errorf("passkey: %+v %v", p, err)
	}
	hooks, err := dest.ListWebhooks(ctx, r.user.ID)
	if err != nil || len(hooks) != 1 {
		t.Fatalf("webhook endpoints: %+v %v, want one", hooks, err)
	}
	if h := hooks[0]; h.ID != r.webhook.ID || h.Secret != r.webhook.Secret || h.OldSecret != r.webhook.OldSecret || !h.OldUntil.Equal(r.webhook.OldUntil) {
		t.Errorf("webhook endpoint: %+v, want %+v", h, r.webhook)
	}
	for _, want := range []WebhookDelivery{r.pending, r.delivered} {
		if d, err := dest.GetDelivery(ctx, want.ID); err != nil || d.Status != want.Status || d.WebhookID != want.WebhookID {
			t.Errorf("%s webhook delivery: %+v %v", want.Status, d, err)
		}
	}
	if inv, err := dest.GetInvitation(ctx, r.invitation.Hash, now); err != nil || inv.Email != r.invitation.Email {
		t.Errorf("invitation: %+v %v", inv, err)
	}
}

// TestMigrateCompletesAShareInsertedWithoutFiles: a run interrupted right
// after a share's document was inserted, before its files' documents,
// left a dead link that the next run counted "already there". The next run
// now adds the files, and the link works.
func TestMigrateCompletesAShareInsertedWithoutFiles(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	r := fillLocalDataDir(t, dataDir)
	env, dest := migrationDestination(t, dataDir)
	interrupted := r.share // what the first run left: the document alone, as the local store holds it
	interrupted.CreatedAt, interrupted.ExpiresAt = localTime(interrupted.CreatedAt), localTime(interrupted.ExpiresAt)
	if err := dest.insertShare(t.Context(), interrupted); err != nil {
		t.Fatal(err)
	}
	out, err := migrate(env)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "0 share links (1 already there)")
	if sh, err := dest.ShareLink(t.Context(), r.share.TokenHash, time.Now()); err != nil || len(sh.Files) != 1 || sh.Files[0].FileID != r.file.ID {
		t.Errorf("the share link after the resumed migration: %+v %v, want it with its file", sh, err)
	}
}
