package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// rigStartTimeout bounds how long a rig server may take to answer; both
// start in well under a second here, so hitting it means something is broken.
const rigStartTimeout = 60 * time.Second

// testRig holds the servers shared by every test of the package. requireRig
// fills it once, on the first request, and nothing writes it afterwards.
type testRig struct {
	ferretBin   string // testrig binary, reused by startFerretDB
	mongoURI    string
	mongo       *mongo.Client
	s3Endpoint  string
	s3AccessKey string
	s3SecretKey string
	s3Region    string
	s3          *s3.Client
}

// sharedRig is reached only through requireRig, so no test can use a server
// that was never started; TestMain stops it after the last test.
var sharedRig struct {
	once sync.Once
	rig  testRig
	err  error
	stop func()
}

// requireRig returns the shared FerretDB and versitygw, starting them on the
// first call. Tests that need no server never call it, so they run where the
// servers were never built. A rig that cannot start fails the test: a suite
// that silently skipped its storage tests would pass while testing nothing.
func requireRig(t testing.TB) *testRig {
	t.Helper()
	sharedRig.once.Do(func() {
		began := time.Now()
		sharedRig.stop, sharedRig.err = startRig(&sharedRig.rig)
		if sharedRig.err == nil && testing.Verbose() {
			fmt.Printf("test rig: up in %v\n", time.Since(began).Round(time.Millisecond))
		}
	})
	if sharedRig.err != nil {
		t.Fatalf("test rig: %v", sharedRig.err)
	}
	return &sharedRig.rig
}

// TestMain stops the rig, if a test started one, after the last test. The
// fuzz targets ask for no rig, so `go test -fuzz` workers start none.
func TestMain(m *testing.M) {
	code := m.Run()
	stopRig()
	removeBuiltDropp()
	os.Exit(code)
}

func stopRig() {
	if sharedRig.stop != nil {
		sharedRig.stop()
	}
	for _, stop := range extraRigStops {
		stop()
	}
}

// extraRigStops stop the engines started beside the shared rig, such as
// FerretDB 2 (rig_documentdb_linux_test.go).
var extraRigStops []func()

// startRig fills rig in a directory of its own. The returned stop func stops
// whatever did start and removes the directory, so it is safe to call after
// a failure part-way through.
func startRig(rig *testRig) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "dropp-rig-")
	if err != nil {
		return nil, err
	}
	removeDir := func() { os.RemoveAll(dir) }
	ferretBin, err := findBinary("DROPP_TESTRIG_BIN", "testrig")
	if err != nil {
		return removeDir, err
	}
	gwBin, err := findBinary("DROPP_VERSITYGW_BIN", "versitygw")
	if err != nil {
		return removeDir, err
	}
	rig.ferretBin = ferretBin
	stopFerret, err := rig.startSharedFerretDB(ferretBin, filepath.Join(dir, "ferretdb"))
	if err != nil {
		return removeDir, err
	}
	gw, err := rig.startVersityGW(gwBin, filepath.Join(dir, "versitygw"))
	if err != nil {
		return func() { stopFerret(); removeDir() }, err
	}
	return func() { gw.stop(); stopFerret(); removeDir() }, nil
}

// startSharedFerretDB starts the FerretDB every test shares and connects the
// client that testDatabaseName drops databases with.
func (rig *testRig) startSharedFerretDB(bin, dir string) (stop func(), err error) {
	ferret, err := newFerretProc(bin, dir)
	if err != nil {
		return nil, err
	}
	if err := ferret.start(); err != nil {
		return nil, err
	}
	if err := rig.connectMongo(ferret.URI()); err != nil {
		ferret.stop()
		return nil, err
	}
	return func() {
		rig.mongo.Disconnect(context.Background())
		ferret.stop()
	}, nil
}

// findBinary looks where scripts/test puts the rig servers, after an explicit
// override and before $PATH, so a stale system copy never wins over ours.
func findBinary(envVar, name string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w (unset it to use the copy scripts/test builds in .cache/bin)", envVar, p, err)
		}
		return p, nil
	}
	if p, err := filepath.Abs(filepath.Join(".cache", "bin", name)); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (not in $%s, .cache/bin or $PATH); "+
		"run scripts/test, which builds it into .cache/bin", name, envVar)
}

func (rig *testRig) connectMongo(uri string) error {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return fmt.Errorf("mongo client for %s: %w", uri, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx, nil); err != nil {
		client.Disconnect(context.Background())
		return fmt.Errorf("ping FerretDB at %s: %w", uri, err)
	}
	rig.mongoURI, rig.mongo = uri, client
	return nil
}

// startVersityGW runs versitygw with fixed root credentials; the region must
// match the one clients sign with or every request is refused.
func (rig *testRig) startVersityGW(bin, dir string) (*serverProc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	rig.s3Endpoint = "http://" + addr
	rig.s3AccessKey, rig.s3SecretKey, rig.s3Region = "droppTestKey", "droppTestSecret", "us-east-1"
	// --disableotmp: with O_TMPFILE, an upload links its file into a
	// directory that a concurrent delete of the last object beside it may
	// have just removed, and versitygw then answers 409
	// ExistingObjectIsDirectory (versitygw issue #1988): parallel tests
	// upload and delete under one user's prefix all the time.
	cmd := exec.Command(bin, "--port", addr, "--region", rig.s3Region, "posix", "--disableotmp", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY_ID="+rig.s3AccessKey, "ROOT_SECRET_ACCESS_KEY="+rig.s3SecretKey)
	p, err := startServerProc("versitygw", cmd, filepath.Join(dir, "versitygw.log"), nil)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(func() bool { return httpStatus(rig.s3Endpoint+"/") == http.StatusForbidden }); err != nil {
		p.stop()
		return nil, err
	}
	rig.s3 = rig.newS3Client()
	return p, nil
}

func (rig *testRig) newS3Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       rig.s3Region,
		BaseEndpoint: aws.String(rig.s3Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(rig.s3AccessKey, rig.s3SecretKey, ""),
	})
}

// httpStatus returns the status of a GET, or 0 if the server did not answer.
func httpStatus(url string) int {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freeLoopbackAddr asks the kernel for a free port. Another process could
// take it before the server binds; on loopback in a test run that is rare
// enough, and the server then fails to start with a clear log.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// serverProc is one running rig server whose output goes to a log file, so
// that a failure can show what the server said.
type serverProc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has been reaped
}

// startServerProc starts cmd with stdout and stderr appended to logPath. If
// onLine is set it also sees each stdout line, for servers that announce
// readiness there.
func startServerProc(name string, cmd *exec.Cmd, logPath string, onLine func(string)) (*serverProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdoutW, logFile
	if cmd.SysProcAttr == nil { // else the caller's, e.g. with another user's credential
		cmd.SysProcAttr = dieWithParent()
	}
	err = cmd.Start()
	stdoutW.Close() // the child has its own copy; EOF then means it exited
	if err != nil {
		stdout.Close()
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go copyLines(stdout, logFile, onLine)
	p := &serverProc{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// copyLines drains a server's stdout into its log until the server exits, so
// the server never blocks on a full pipe. It closes both files.
func copyLines(r, log *os.File, onLine func(string)) {
	defer r.Close()
	defer log.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Fprintln(log, sc.Text())
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	io.Copy(log, r) // only left if a line overflowed the scanner
}

// waitReady polls ready until it reports true, the process dies, or
// rigStartTimeout passes. Errors carry the tail of the server's log.
func (p *serverProc) waitReady(ready func() bool) error {
	deadline := time.Now().Add(rigStartTimeout)
	for !ready() {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up (%v)%s", p.name, p.cmd.ProcessState, p.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v%s", p.name, rigStartTimeout, p.logTail())
		}
	}
	return nil
}

// stop asks the server to shut down cleanly and kills it if it does not,
// so a wedged server cannot hang the suite.
func (p *serverProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *serverProc) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("\n(no log: %v)", err)
	}
	if len(data) == 0 {
		return fmt.Sprintf(" (%s is empty)", filepath.Base(p.logPath))
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-20):]
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", p.logPath, strings.Join(lines, "\n"))
}

// ferretProc is a FerretDB that can be stopped and started again on the same
// port and data directory, for tests of how the server copes with MongoDB
// going away and coming back.
type ferretProc struct {
	bin, dir, addr string
	proc           *serverProc // nil while stopped
}

func newFerretProc(bin, dir string) (*ferretProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return &ferretProc{bin: bin, dir: dir, addr: addr}, nil
}

// startFerretDB starts a FerretDB private to t, stopped at t's cleanup.
func startFerretDB(t *testing.T) *ferretProc {
	t.Helper()
	f, err := newFerretProc(requireRig(t).ferretBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t)
	t.Cleanup(f.stop)
	return f
}

// URI is the MongoDB URI of f; it stays valid across Stop and Start.
func (f *ferretProc) URI() string { return "mongodb://" + f.addr + "/" }

// Start starts f again after Stop, on the same port and data.
func (f *ferretProc) Start(t *testing.T) {
	t.Helper()
	if err := f.start(); err != nil {
		t.Fatal(err)
	}
}

// Stop stops f with SIGTERM and waits until it has exited.
func (f *ferretProc) Stop(t *testing.T) {
	t.Helper()
	f.stop()
}

// start waits for testrig's "ready" line, which it prints only once it
// accepts connections.
func (f *ferretProc) start() error {
	if f.proc != nil {
		return errors.New("FerretDB is already running")
	}
	ready := make(chan struct{})
	var seen atomic.Bool
	onLine := func(line string) {
		if strings.HasPrefix(line, "ready ") && !seen.Swap(true) {
			close(ready)
		}
	}
	cmd := exec.Command(f.bin, "-listen", f.addr, "-dir", filepath.Join(f.dir, "data"))
	p, err := startServerProc("FerretDB (testrig)", cmd, filepath.Join(f.dir, "ferretdb.log"), onLine)
	if err != nil {
		return err
	}
	if err := p.waitReady(func() bool { return isClosed(ready) }); err != nil {
		p.stop()
		return err
	}
	f.proc = p
	return nil
}

func (f *ferretProc) stop() {
	if f.proc != nil {
		f.proc.stop()
		f.proc = nil
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var notNameChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// testName builds a name from a random prefix, which keeps it unique when a
// test runs more than once (-count) or two test names sanitize alike, and
// t.Name() squeezed to letters, digits and sep for readable leftovers. It is
// cut to 63 characters, the limit of both FerretDB and S3.
func testName(t *testing.T, sep string) string {
	name := fmt.Sprintf("t%08x%s%s", rand.Uint32(), sep, notNameChars.ReplaceAllString(t.Name(), sep))
	return strings.TrimRight(name[:min(len(name), 63)], sep)
}

// testDatabaseName returns a database name no other test uses, and drops
// the database after t: FerretDB's SQLite handler scans whole collections,
// so a small database per test keeps queries fast.
func testDatabaseName(t *testing.T) string {
	t.Helper()
	rig := requireRig(t)
	name := testName(t, "_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rig.mongo.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return name
}

// testBucket creates an empty bucket on the shared versitygw and returns its
// name. Buckets are not deleted: stopRig removes all of versitygw's data.
func testBucket(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(testName(t, "-"))
	if _, err := requireRig(t).s3.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// testGetenv returns a getenv that sees only vars, so tests can configure a
// server without t.Setenv and still run in parallel. It copies vars so that
// later edits by the test cannot race with the server reading them.
func testGetenv(vars map[string]string) func(string) string {
	vars = maps.Clone(vars)
	return func(key string) string { return vars[key] }
}

// s3TestEnv is the environment that points a server at bucket on the
// shared versitygw.
func s3TestEnv(t testing.TB, bucket string) map[string]string {
	rig := requireRig(t)
	return map[string]string{
		"AWS_S3_BUCKET":         bucket,
		"AWS_REGION":            rig.s3Region,
		"AWS_ENDPOINT_URL_S3":   rig.s3Endpoint,
		"S3_FORCE_PATH_STYLE":   "true",
		"AWS_ACCESS_KEY_ID":     rig.s3AccessKey,
		"AWS_SECRET_ACCESS_KEY": rig.s3SecretKey,
	}
}

// TestRigServersAnswer fails first and plainly when the rig itself is
// broken, before storage tests fail in confusing ways.
func TestRigServersAnswer(t *testing.T) {
	t.Parallel()
	rig := requireRig(t)
	if err := rig.mongo.Ping(t.Context(), nil); err != nil {
		t.Errorf("FerretDB at %s: %v", rig.mongoURI, err)
	}
	bucket := testBucket(t)
	out, err := rig.s3.ListBuckets(t.Context(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("versitygw at %s: list buckets: %v", rig.s3Endpoint, err)
	}
	if !slices.ContainsFunc(out.Buckets, func(b s3types.Bucket) bool { return aws.ToString(b.Name) == bucket }) {
		t.Errorf("versitygw lists %d buckets, none named %s", len(out.Buckets), bucket)
	}
}
