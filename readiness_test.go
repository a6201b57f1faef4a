package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Readiness tests: a backend that is away or misconfigured when Dropp starts
// does not stop it. Dropp says why on its start-up line and on /readyz,
// answers the API with 503 "unavailable" naming the cause, and recovers
// without a restart once the backend can be used. They run the whole
// program (runDropp) on the test rig.

// readyRecoverBound is how long the server may take to notice that a
// backend came back: the background retries wait at most retryMaxWait
// between attempts. It is a bound check, not a performance figure.
const readyRecoverBound = 30 * time.Second

// readyClient is a testEnv for a server that run started at addr.
func readyClient(t *testing.T, addr string) *testEnv {
	return &testEnv{t: t, URL: "http://" + addr, client: &http.Client{Timeout: 30 * time.Second}}
}

// readyUpload is a valid POST /upload/ for tok.
func readyUpload(tok string) request {
	return request{method: "POST", path: "/upload/", token: tok,
		body: map[string]any{"filename": "ready.txt", "size": 1, "content_type": "text/plain"}}
}

// readyWantMessage wants a 503 "unavailable" whose message is want.
func readyWantMessage(t *testing.T, e *testEnv, req request, want string) {
	t.Helper()
	resp, body := e.do(req)
	wantStatus(t, resp, body, http.StatusServiceUnavailable)
	if got := decode[apiErrorJSON](t, body).Message; got != want {
		t.Errorf("%s %s: message %q, want %q", req.method, req.path, got, want)
	}
}

// readyPoll sends req until it answers status, failing after
// readyRecoverBound; meanwhile only 503 is an acceptable answer.
func readyPoll(t *testing.T, e *testEnv, req request, status int) []byte {
	t.Helper()
	deadline := time.Now().Add(readyRecoverBound)
	for {
		resp, body := e.do(req)
		switch resp.StatusCode {
		case status:
			return body
		case http.StatusServiceUnavailable:
		default:
			t.Fatalf("%s %s answered %d %s while the backend came back, want 503 or %d", req.method, req.path, resp.StatusCode, body, status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s still answers %d %s %v after the backend came back", req.method, req.path, resp.StatusCode, body, readyRecoverBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readyNoPanic fails if the program's log mentions a panic.
func readyNoPanic(t *testing.T, p *opsProgram) {
	t.Helper()
	if log := p.stderr.String(); strings.Contains(strings.ToLower(log), "panic") {
		t.Errorf("stderr mentions a panic:\n%s", log)
	}
}

// TestReadinessMongoDownAtStart starts Dropp with MONGODB_URI pointing at a
// FerretDB that is stopped (a correctly written URI whose server is down),
// then starts FerretDB. Before: the server listens, warns on its start-up
// line, /readyz and the API answer 503 naming the metadata store. After:
// within a bound /readyz is 200, uploads work, the indexes exist, and their
// creation was logged once. No panic at any point.
func TestReadinessMongoDownAtStart(t *testing.T) {
	t.Parallel()
	ferret := startFerretDB(t)
	ferret.Stop(t)
	env := mongoS3Env(t)
	env["MONGODB_URI"] = ferret.URI()
	p := opsStartProgram(t, env)
	e := readyClient(t, p.listenAddr(t))

	wantLine := "metadata: mongodb " + env["MONGO_DB"] + " (WARNING: not answering: requests get 503 until it does)"
	if !slices.Contains(strings.Split(p.stdout.String(), "\n"), wantLine) {
		t.Errorf("start-up lines:\n%s\nwant the line %q", p.stdout.String(), wantLine)
	}
	readyz := request{method: "GET", path: "/readyz"}
	opsWantUnavailable(t, e, readyz, ferret.addr)
	readyWantMessage(t, e, readyz, "not ready: "+reasonMongoDown)
	stranger := newSecret(32) // no token can be checked while the database is away
	opsWantUnavailable(t, e, readyUpload(stranger), ferret.addr)
	readyWantMessage(t, e, readyUpload(stranger), reasonMongoNotReady+"; try again shortly")
	if t.Failed() {
		return
	}

	ferret.Start(t)
	began := time.Now()
	readyPoll(t, e, readyz, http.StatusOK)
	t.Logf("/readyz answered 200 %v after MongoDB started", time.Since(began).Round(time.Millisecond))
	tok := opsMintToken(t, env)
	resp, body := e.do(readyUpload(tok))
	wantStatus(t, resp, body, http.StatusCreated)
	id := decode[uploadOut](t, body).File.ID
	resp, body = e.do(request{method: "GET", path: "/list/", token: tok})
	wantStatus(t, resp, body, http.StatusOK)
	if files := decode[listOut](t, body).Files; len(files) != 1 || files[0].ID != id {
		t.Errorf("list after recovery: %+v, want the one file %s", files, id)
	}
	readyWantIndexes(t, ferret.URI(), env["MONGO_DB"])
	if n := strings.Count(p.stderr.String(), "the metadata store is ready"); n != 1 {
		t.Errorf("the index creation was logged %d times, want once:\n%s", n, p.stderr.String())
	}
	readyNoPanic(t, p)
}

// readyWantIndexes lists the indexes of database db and wants the unique
// ones the queries rely on, and the list order.
func readyWantIndexes(t *testing.T, uri, db string) {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	want := []struct {
		coll, keys string
		unique     bool
	}{
		{"files", `{"owner": 1,"created_at": -1,"_id": -1}`, false},
		{"files", `{"object_key": 1}`, true},
		{"credentials", `{"kind": 1,"hash": 1}`, true},
		{"users", `{"issuer": 1,"subject": 1}`, true},
	}
	for _, w := range want {
		if !readyHasIndex(t, client.Database(db).Collection(w.coll), w.keys, w.unique) {
			t.Errorf("collection %s has no index %s (unique %v)", w.coll, w.keys, w.unique)
		}
	}
}

// readyHasIndex reports whether c has an index on keys (as bson prints
// them) with the given uniqueness.
func readyHasIndex(t *testing.T, c *mongo.Collection, keys string, unique bool) bool {
	t.Helper()
	cur, err := c.Indexes().List(t.Context())
	if err != nil {
		t.Fatalf("list indexes of %s: %v", c.Name(), err)
	}
	var specs []struct {
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
	}
	if err := cur.All(t.Context(), &specs); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if got := readyKeys(s.Key); got == keys && s.Unique == unique {
			return true
		}
	}
	return false
}

// readyKeys prints index keys as {"a": 1,"b": -1}, whatever number type
// the server returned them in.
func readyKeys(d bson.D) string {
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = fmt.Sprintf("%q: %v", e.Key, e.Value)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestReadinessMongoGate opens the store on a port where nothing listens:
// opening returns within a bound, every call answers ErrUnavailable at once
// (no call runs without the indexes it relies on, and none waits on the
// database), Ping names the cause, and Close ends the background index loop.
func TestReadinessMongoGate(t *testing.T) {
	t.Parallel()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	store, err := openMongoStore(t.Context(), "mongodb://"+addr+"/", "dropp", testLogger(t))
	if err != nil {
		t.Fatalf("open on a database that is away: %v, want a store that answers 503", err)
	}
	if took := time.Since(began); took > mongoOpTimeout+2*time.Second {
		t.Errorf("open took %v, want about mongoOpTimeout (%v)", took, mongoOpTimeout)
	}
	ctx, now := t.Context(), time.Now()
	calls := map[string]func() error{
		"InsertFile":       func() error { return store.InsertFile(ctx, &File{ID: newID()}) },
		"GetFile":          func() error { _, err := store.GetFile(ctx, "o", "id"); return err },
		"ListFiles":        func() error { _, err := store.ListFiles(ctx, ListQuery{Owner: "o", Limit: 1}); return err },
		"CompleteFile":     func() error { _, _, err := store.CompleteFile(ctx, "o", "id", "", 1, "e", now); return err },
		"DeleteFile":       func() error { return errOf(store.DeleteFile(ctx, "o", "id")) },
		"InsertCredential": func() error { return store.InsertCredential(ctx, Credential{Hash: "h", Kind: kindBearer}) },
		"FindCredential":   func() error { _, err := store.FindCredential(ctx, kindBearer, "h", now); return err },
		"DeleteCredential": func() error { return store.DeleteCredential(ctx, kindBearer, "h") },
		"UpsertUser":       func() error { _, err := store.UpsertUser(ctx, User{Issuer: "i", Subject: "s"}); return err },
		"GetUser":          func() error { _, err := store.GetUser(ctx, "id"); return err },
		"InsertAuthState":  func() error { return store.InsertAuthState(ctx, AuthState{Hash: "h"}) },
		"TakeAuthState":    func() error { _, err := store.TakeAuthState(ctx, "h", now); return err },
		"InsertAuthCode":   func() error { return store.InsertAuthCode(ctx, AuthCode{Hash: "h"}) },
		"TakeAuthCode":     func() error { _, err := store.TakeAuthCode(ctx, "h", now); return err },
	}
	for name, call := range calls {
		began := time.Now()
		err := call()
		if took := time.Since(began); took > time.Second {
			t.Errorf("%s took %v: it waited on the database instead of answering at once", name, took)
		}
		if !errors.Is(err, ErrUnavailable) || unavailableReason(err, "") != reasonMongoNotReady {
			t.Errorf("%s before the indexes exist = %v, want ErrUnavailable with reason %q", name, err, reasonMongoNotReady)
		}
	}
	if err := store.Ping(ctx); unavailableReason(err, "") != reasonMongoDown {
		t.Errorf("Ping = %v, want reason %q", err, reasonMongoDown)
	}

	began = time.Now()
	store.Close(context.Background())
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Close took %v", took)
	}
	if store.retry.isRunning() {
		t.Error("the background index loop still runs after Close")
	}
}

// TestBackgroundRetry covers the loop both backends retry with: it retries
// with backoff until done holds, runs once at a time, and stop ends it and
// waits for it.
func TestBackgroundRetry(t *testing.T) {
	t.Parallel()
	t.Run("retries with backoff until done", func(t *testing.T) {
		t.Parallel()
		r := newBackgroundRetry()
		defer r.stop()
		var attempts atomic.Int32
		done := func() bool { return attempts.Load() >= 3 }
		began := time.Now()
		r.start(done, func(context.Context) { attempts.Add(1) })
		r.start(func() bool { return false }, func(context.Context) { t.Error("a second loop started while one runs") })
		for r.isRunning() {
			if time.Since(began) > 10*time.Second {
				t.Fatalf("still running after %d attempts and 10s", attempts.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		backoff := retryFirstWait + 2*retryFirstWait + 4*retryFirstWait
		if took := time.Since(began); took < backoff || attempts.Load() != 3 {
			t.Errorf("%d attempts in %v, want 3 after at least the backoff %v", attempts.Load(), took, backoff)
		}
	})
	t.Run("stop waits for the loop", func(t *testing.T) {
		t.Parallel()
		r := newBackgroundRetry()
		var exited atomic.Bool
		started := make(chan struct{})
		r.start(func() bool { return false }, func(ctx context.Context) {
			close(started)
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // an attempt that takes a moment to give up
			exited.Store(true)
		})
		<-started
		r.stop()
		if !exited.Load() || r.isRunning() {
			t.Error("stop returned while the loop still ran")
		}
		r.start(func() bool { return false }, func(context.Context) { t.Error("a loop started after stop") })
		if r.isRunning() {
			t.Error("a loop started after stop")
		}
	})
}

// isRunning reports whether a loop runs, for tests.
func (r *backgroundRetry) isRunning() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// readyS3Case is a server whose S3 cannot be used, and the cause Dropp
// must name for it.
type readyS3Case struct {
	env   map[string]string // runDropp's environment
	cause string            // what the start-up line, /readyz and the API name
	hint  string            // a word the start-up line's hint must hold
}

// readyStartS3Problem runs the program on c and checks the start-up line,
// /readyz and POST /upload/; it returns the running program, a client and
// a valid token.
func readyStartS3Problem(t *testing.T, c readyS3Case) (*opsProgram, *testEnv, string) {
	t.Helper()
	tok := opsMintToken(t, c.env)
	p := opsStartProgram(t, c.env)
	e := readyClient(t, p.listenAddr(t))
	line := regexp.MustCompile(`(?m)^objects: s3 ` + regexp.QuoteMeta(c.env["AWS_S3_BUCKET"]) +
		` \(WARNING: ` + regexp.QuoteMeta(c.cause) + `: (.+)\)$`).FindStringSubmatch(p.stdout.String())
	if line == nil || !strings.Contains(line[1], c.hint) {
		t.Errorf("start-up lines:\n%s\nwant objects: s3 %s (WARNING: %s: <a hint naming %s>)", p.stdout.String(), c.env["AWS_S3_BUCKET"], c.cause, c.hint)
	}
	readyWantMessage(t, e, request{method: "GET", path: "/readyz"}, "not ready: object store: "+c.cause)
	readyWantMessage(t, e, readyUpload(tok), "object store: "+c.cause+"; try again shortly")
	readyNoPanic(t, p)
	return p, e, tok
}

// TestReadinessS3Problems starts Dropp on an S3 it cannot use, for each
// cause the start-up check tells apart, and wants that cause on the start-up
// line, on /readyz and in every upload answer (503, never 500). A bucket
// created afterwards is picked up without a restart.
func TestReadinessS3Problems(t *testing.T) {
	t.Parallel()
	closed, err := freeLoopbackAddr() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		env         map[string]string
		cause, hint string
	}{
		"wrong secret key":     {map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "access denied", "AWS_SECRET_ACCESS_KEY"},
		"unreachable endpoint": {map[string]string{"AWS_ENDPOINT_URL_S3": "http://" + closed}, "endpoint unreachable", "AWS_ENDPOINT_URL_S3"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := mongoS3Env(t)
			for k, v := range c.env {
				env[k] = v
			}
			readyStartS3Problem(t, readyS3Case{env: env, cause: c.cause, hint: c.hint})
		})
	}
	t.Run("missing bucket, created later", func(t *testing.T) {
		t.Parallel()
		env := mongoS3Env(t)
		bucket := strings.ToLower(testName(t, "-"))
		env["AWS_S3_BUCKET"] = bucket
		_, e, tok := readyStartS3Problem(t, readyS3Case{env: env, cause: fmt.Sprintf("no such bucket %q", bucket), hint: "AWS_S3_BUCKET"})
		if t.Failed() {
			return
		}
		if _, err := requireRig(t).s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		readyPoll(t, e, readyUpload(tok), http.StatusCreated)
		resp, body := e.do(request{method: "GET", path: "/readyz"})
		wantStatus(t, resp, body, http.StatusOK)
	})
}

// TestReadinessS3NoCredentials starts Dropp with no S3 credentials anywhere
// the SDK looks. Not parallel: the SDK's credential chain reads the process
// environment and ~/.aws, not runDropp's getenv, so the test empties both with
// t.Setenv, and turns off the EC2 instance metadata lookup.
func TestReadinessS3NoCredentials(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_ACCESS_KEY": "", "AWS_SECRET_KEY": "",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	env := mongoS3Env(t)
	delete(env, "AWS_ACCESS_KEY_ID")
	delete(env, "AWS_SECRET_ACCESS_KEY")
	readyStartS3Problem(t, readyS3Case{env: env, cause: "no credentials", hint: "AWS_ACCESS_KEY_ID"})

	// Presigning is where the SDK meets missing credentials on the request
	// path: even before any check has recorded the cause, it is a 503.
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatal(err)
	}
	o, err := newS3Objects(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	exp := time.Now().Add(time.Hour)
	_, upErr := o.PresignUpload(t.Context(), UploadPolicy{Key: "k", MaxSize: 1, Expires: exp})
	_, downErr := o.PresignDownload(t.Context(), DownloadRequest{Key: "k", Filename: "f", Expires: exp})
	for op, err := range map[string]error{"PresignUpload": upErr, "PresignDownload": downErr} {
		if !errors.Is(err, ErrUnavailable) || unavailableReason(err, "") != "object store: no credentials" {
			t.Errorf("%s without credentials = %v, want ErrUnavailable naming no credentials", op, err)
		}
	}
}

// TestReadinessMongoRefusesIndexes: a database that answers but cannot get
// the unique indexes (here: two users with one issuer and subject) is a
// configuration error that stops start-up, rather than a store that would
// serve without the uniqueness its queries rely on.
func TestReadinessMongoRefusesIndexes(t *testing.T) {
	t.Parallel()
	db := testDatabaseName(t)
	twin := bson.D{{Key: "issuer", Value: "i"}, {Key: "subject", Value: "s"}}
	if _, err := requireRig(t).mongo.Database(db).Collection("users").InsertMany(t.Context(), []any{twin, twin}); err != nil {
		t.Fatal(err)
	}
	store, err := openMongoStore(t.Context(), requireRig(t).mongoURI, db, testLogger(t))
	if err == nil {
		store.Close(context.Background())
		t.Fatal("open succeeded on a database whose users cannot get their unique index")
	}
	if !strings.HasPrefix(err.Error(), "MONGODB_URI: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want one line naming MONGODB_URI", err)
	}
}

// TestReadinessS3ChecksAtMostOncePerSecond: /readyz is public, so a flood
// of probes reaches S3 as at most one HEAD of the bucket per second; the
// probes in between answer from the last check.
func TestReadinessS3ChecksAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	target, err := url.Parse(requireRig(t).s3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var heads atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer counting.Close()
	bucket := testBucket(t)
	env := s3TestEnv(t, bucket)
	env["AWS_ENDPOINT_URL_S3"] = counting.URL
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatal(err)
	}
	store, err := newS3Objects(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := heads.Load() // the start-up check
	for range 50 {
		if err := store.Ready(t.Context()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
	}
	if n := heads.Load() - start; n != 1 {
		t.Fatalf("50 readiness probes in a row sent %d HEADs to S3, want 1", n)
	}
	time.Sleep(readyReuse)
	if err := store.Ready(t.Context()); err != nil || heads.Load()-start != 2 {
		t.Fatalf("after %v: Ready %v with %d HEADs, want a fresh check", readyReuse, err, heads.Load()-start)
	}
}
