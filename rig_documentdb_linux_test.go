package main

// The third engine of the store suites: FerretDB 2 on PostgreSQL 15 with
// Microsoft's DocumentDB extension, which plans with indexes and runs
// conditional updates atomically, as MongoDB does (FerretDB 1.24, the main
// engine, does neither). scripts/test builds it (ensure_documentdb in
// scripts/lib/rig.sh) and sets DROPP_DOCUMENTDB_BIN to its ferretdb; the
// suites then run on it too. Without the variable they run on the other
// engines only, except in CI, where TestDocumentDBRigAnswers fails.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// docDBRig is the one FerretDB 2 every test of the package shares.
type docDBRig struct {
	uri   string
	mongo *mongo.Client
	pgURL string // the PostgreSQL under it
	psql  func(sql string) (string, error)
	pids  []int // PostgreSQL's postmaster and FerretDB, for the scale bench's CPU count
}

var sharedDocDB struct {
	once sync.Once
	rig  docDBRig
	err  error
}

// documentDBWanted tells whether this run has the engine (scripts/test
// sets DROPP_DOCUMENTDB_BIN once it is built).
func documentDBWanted() bool { return os.Getenv("DROPP_DOCUMENTDB_BIN") != "" }

func init() {
	if documentDBWanted() {
		storeOpeners["documentdb"] = openDocDBStore
	}
}

// openDocDBStore opens a store on a fresh database of the shared FerretDB 2,
// closed and dropped with the test.
func openDocDBStore(t *testing.T) Store {
	s, err := openMongoStore(t.Context(), requireDocumentDB(t).uri, docDBDatabaseName(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// requireDocumentDB starts the engine on the first call and fails the test
// when it cannot start or was not built.
func requireDocumentDB(t testing.TB) *docDBRig {
	t.Helper()
	if !documentDBWanted() {
		t.Fatal("DROPP_DOCUMENTDB_BIN is not set: run scripts/test, which builds FerretDB 2 + DocumentDB (ensure_documentdb)")
	}
	sharedDocDB.once.Do(func() {
		var stop func()
		stop, sharedDocDB.err = startDocDB(&sharedDocDB.rig)
		if stop != nil {
			extraRigStops = append(extraRigStops, stop)
		}
	})
	if sharedDocDB.err != nil {
		t.Fatalf("FerretDB 2 + DocumentDB: %v", sharedDocDB.err)
	}
	return &sharedDocDB.rig
}

// docDBDatabaseName returns a database name no other test uses, dropped
// after t.
func docDBDatabaseName(t *testing.T) string {
	t.Helper()
	rig := requireDocumentDB(t)
	name := testName(t, "_")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rig.mongo.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return name
}

// startDocDB runs PostgreSQL 15 (as the postgres user when we are root: it
// refuses to run as root) in a fresh cluster with the extension created,
// then FerretDB 2 on it. The returned stop stops whatever started.
func startDocDB(rig *docDBRig) (stop func(), err error) {
	ferretBin, err := findBinary("DROPP_DOCUMENTDB_BIN", "ferretdb")
	if err != nil {
		return nil, err
	}
	pgBin := os.Getenv("DROPP_PG15_BIN")
	if pgBin == "" {
		pgBin = "/usr/lib/postgresql/15/bin"
	}
	dir, err := os.MkdirTemp("", "dropp-documentdb-")
	if err != nil {
		return nil, err
	}
	removeDir := func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user reaches its data inside
		return removeDir, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return removeDir, err
	}
	pg, pgAddr, err := startDocDBPostgres(pgBin, dir, cred)
	if err != nil {
		return removeDir, err
	}
	stopPG := func() { pg.stop(); removeDir() }
	rig.pgURL = "postgres://postgres@" + pgAddr + "/postgres"
	rig.psql = func(sql string) (string, error) { return psql(pgBin, rig.pgURL, sql) }
	ferret, err := startFerretDB2(ferretBin, dir, rig.pgURL)
	if err != nil {
		return stopPG, err
	}
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + ferret.addr + "/"))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = client.Ping(ctx, nil)
		cancel()
	}
	if err != nil {
		ferret.proc.stop()
		return stopPG, fmt.Errorf("ping FerretDB 2: %w%s", err, ferret.proc.logTail())
	}
	rig.uri, rig.mongo = "mongodb://"+ferret.addr+"/", client
	rig.pids = []int{pg.cmd.Process.Pid, ferret.proc.cmd.Process.Pid}
	return func() {
		client.Disconnect(context.Background())
		ferret.proc.stop()
		stopPG()
	}, nil
}

// postgresCredential is the postgres user's when we are root, else nil
// (PostgreSQL then runs as us).
func postgresCredential() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// asPostgres runs cmd as cred's user, dying with the test process.
func asPostgres(cmd *exec.Cmd, cred *syscall.Credential) *exec.Cmd {
	cmd.SysProcAttr = dieWithParent()
	cmd.SysProcAttr.Credential = cred
	return cmd
}

// docDBPostgresConf is what the test cluster adds to postgresql.conf: the
// extension's libraries and background jobs (as testrig/documentdb/run.sh
// sets them), and no durability, for tests only.
const docDBPostgresConf = `
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
shared_preload_libraries = 'pg_cron,pg_documentdb_core,pg_documentdb'
cron.database_name = 'postgres'
documentdb.enableBackgroundWorker = true
documentdb.enableBackgroundWorkerJobs = true
# Debian bookworm's pg_cron 1.4 has no 'N seconds' schedules (FerretDB builds indexes itself)
documentdb.indexBuildScheduleInSec = 60
fsync = off
synchronous_commit = off
full_page_writes = off
`

// startDocDBPostgres initialises a cluster in dir/pg, starts it and creates
// the documentdb extension.
func startDocDBPostgres(pgBin, dir string, cred *syscall.Credential) (*serverProc, string, error) {
	data := filepath.Join(dir, "pg")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, "", err
	}
	if cred != nil {
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, "", err
		}
	}
	initdb := asPostgres(exec.Command(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"), cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, "", err
	}
	_, err = fmt.Fprintf(conf, docDBPostgresConf, port, data)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", err
	}
	cmd := asPostgres(exec.Command(filepath.Join(pgBin, "postgres"), "-D", data), cred)
	p, err := startServerProc("PostgreSQL 15 (DocumentDB)", cmd, filepath.Join(dir, "postgres.log"), nil)
	if err != nil {
		return nil, "", err
	}
	if cred != nil {
		os.Chown(p.logPath, int(cred.Uid), int(cred.Gid))
	}
	url := "postgres://postgres@" + addr + "/postgres"
	var lastErr error
	ready := func() bool { _, lastErr = psql(pgBin, url, "SELECT 1"); return lastErr == nil }
	if err := p.waitReady(ready); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%w (last psql: %v)", err, lastErr)
	}
	if _, err := psql(pgBin, url, "CREATE EXTENSION IF NOT EXISTS documentdb CASCADE"); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("create extension documentdb: %w%s", err, p.logTail())
	}
	return p, addr, nil
}

// psql runs sql on the PostgreSQL at url and returns its unaligned output.
func psql(pgBin, url, sql string) (string, error) {
	out, err := exec.Command(filepath.Join(pgBin, "psql"), url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %v: %s", sql, err, out)
	}
	return string(out), nil
}

// ferretDB2 is the running FerretDB 2 and its address.
type ferretDB2 struct {
	proc *serverProc
	addr string
}

// startFerretDB2 runs FerretDB 2 on the PostgreSQL at pgURL and waits until
// it accepts connections.
func startFerretDB2(bin, dir, pgURL string) (*ferretDB2, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	debugAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "ferretdb-state")
	if err := os.Mkdir(state, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--postgresql-url="+pgURL, "--listen-addr="+addr, "--debug-addr="+debugAddr,
		"--no-auth", "--telemetry=disable", "--state-dir="+state, "--log-level=warn")
	cmd.Env = append(os.Environ(), "DO_NOT_TRACK=1")
	p, err := startServerProc("FerretDB 2", cmd, filepath.Join(dir, "ferretdb.log"), nil)
	if err != nil {
		return nil, err
	}
	accepts := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if err := p.waitReady(accepts); err != nil {
		p.stop()
		return nil, err
	}
	return &ferretDB2{proc: p, addr: addr}, nil
}

// TestDocumentDBRigAnswers fails first and plainly when the engine cannot
// start; in CI (CI=true), also when it was not built.
func TestDocumentDBRigAnswers(t *testing.T) {
	t.Parallel()
	if !documentDBWanted() && os.Getenv("CI") == "" {
		t.Skip("DROPP_DOCUMENTDB_BIN not set (scripts/test sets it; CI fails without it)")
	}
	rig := requireDocumentDB(t)
	var info struct {
		Version string `bson:"version"`
	}
	if err := rig.mongo.Database("admin").RunCommand(t.Context(), bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		t.Fatalf("buildInfo: %v", err)
	}
	if info.Version == "" {
		t.Error("buildInfo has no version")
	}
}

// TestDocumentDBStoreContract, TestDocumentDBStoreShares: the store
// contracts on FerretDB 2 (the tests that range over storeOpeners run on it
// too).
func TestDocumentDBStoreContract(t *testing.T) {
	t.Parallel()
	requireDocumentDBOrSkip(t)
	testStoreContract(t, openDocDBStore)
}

func TestDocumentDBStoreShares(t *testing.T) {
	t.Parallel()
	requireDocumentDBOrSkip(t)
	testShareContract(t, openDocDBStore)
}

// requireDocumentDBOrSkip skips where the engine was not built, outside CI
// only: TestDocumentDBRigAnswers fails there in CI.
func requireDocumentDBOrSkip(t *testing.T) {
	if !documentDBWanted() && os.Getenv("CI") == "" {
		t.Skip("DROPP_DOCUMENTDB_BIN not set")
	}
	requireDocumentDB(t)
}

// TestDocumentDBConditionalUpdatesAtomic: on FerretDB 2 a conditional
// update matches once however many race for it, as on MongoDB: of 20
// concurrent FindOneAndUpdate of one pending file to complete, one wins;
// 20 concurrent $inc of a counter below 5 stop at 5. FerretDB 1.24 fails
// both (it reads, then writes), which is why the store claims completions
// and numbers share downloads with unique inserts (docs/scale.md says what
// a MongoDB-only deployment could drop).
func TestDocumentDBConditionalUpdatesAtomic(t *testing.T) {
	t.Parallel()
	requireDocumentDBOrSkip(t)
	coll := requireDocumentDB(t).mongo.Database(docDBDatabaseName(t)).Collection("race")
	for round := range 5 {
		id := fmt.Sprint("file-", round)
		_, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: "status", Value: statusPending}, {Key: "n", Value: 0}})
		ctMust(t, "insert", err)
		var won, counted atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				filter := bson.D{{Key: "_id", Value: id}, {Key: "status", Value: statusPending}}
				set := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: statusComplete}}}}
				if coll.FindOneAndUpdate(t.Context(), filter, set).Err() == nil {
					won.Add(1)
				}
				res, err := coll.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: "n", Value: bson.D{{Key: "$lt", Value: 5}}}},
					bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				if err == nil && res.ModifiedCount == 1 {
					counted.Add(1)
				}
			})
		}
		wg.Wait()
		var doc struct {
			N int `bson:"n"`
		}
		ctMust(t, "read", coll.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&doc))
		if won.Load() != 1 || counted.Load() != 5 || doc.N != 5 {
			t.Fatalf("round %d: %d completes won (want 1), %d increments matched and n = %d (want 5)", round, won.Load(), counted.Load(), doc.N)
		}
	}
}
