package main

// The scale bench (scripts/scalebench, docs/scale.md): one user's files
// grow from 100 to 100,000 among a large number of other users' files, and
// the requests a user makes are timed at each size, with the CPU Dropp and
// the database spend on each. It runs only when scripts/scalebench asks
// (DROPP_SCALEBENCH=documentdb or local): it is a measurement, minutes
// long, not a check of scripts/test.
//
// Files are inserted directly, in Dropp's own document shape (the File
// record through the driver, or local mode's log lines through
// encodeLocalRecord), then read back through the API before measuring.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scaleBenchConfig is what scripts/scalebench passes.
type scaleBenchConfig struct {
	engine   string        // documentdb, ferretdb or local
	sizes    []int         // the user's files, ascending
	others   int           // other users' files
	requests int           // timed requests per endpoint and size, at most
	budget   time.Duration // and no more than this per endpoint and size (at least 5 requests)
}

func scaleBenchFromEnv(t *testing.T) scaleBenchConfig {
	engine := os.Getenv("DROPP_SCALEBENCH")
	if engine == "" {
		t.Skip("scripts/scalebench runs it (DROPP_SCALEBENCH=documentdb|ferretdb|local)")
	}
	c := scaleBenchConfig{engine: engine, others: envInt(t, "DROPP_SCALEBENCH_OTHERS", 1_000_000), requests: envInt(t, "DROPP_SCALEBENCH_REQUESTS", 200),
		budget: time.Duration(envInt(t, "DROPP_SCALEBENCH_SECONDS", 15)) * time.Second}
	for _, s := range strings.Split(cmp.Or(os.Getenv("DROPP_SCALEBENCH_SIZES"), "100,1000,10000,100000"), ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("DROPP_SCALEBENCH_SIZES: %q", s)
		}
		c.sizes = append(c.sizes, n)
	}
	slices.Sort(c.sizes)
	return c
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s: %q", name, v)
	}
	return n
}

// measurementRounds is the rounds a measurement (a test that prints
// figures and checks nothing) is asked to run, from the environment
// variable name (ROUNDS); without it the measurement is skipped, so that
// the suite never pays for one.
func measurementRounds(t *testing.T, name string) int {
	t.Helper()
	rounds := envInt(t, name, 0)
	if rounds == 0 {
		t.Skipf("a measurement: %s=ROUNDS runs it", name)
	}
	return rounds
}

// scaleSeeder adds files to the store the servers of the bench open.
type scaleSeeder interface {
	// add stores files; for local mode only while no server is open.
	add(t *testing.T, files []*File)
	// env is the environment of a server on that store.
	env() map[string]string
	// dbCPU is the database's CPU time so far (zero in local mode).
	dbCPU() time.Duration
}

// TestScaleBench seeds, then per size starts a server on the store, checks
// the seeded files through the API and times each endpoint.
func TestScaleBench(t *testing.T) {
	cfg := scaleBenchFromEnv(t)
	var seed scaleSeeder
	switch cfg.engine {
	case "documentdb":
		seed = newDocDBSeeder(t)
	case "local":
		seed = &localSeeder{dir: t.TempDir()}
	case "ferretdb":
		seed = newFerretPGSeeder(t)
	default:
		t.Fatalf("DROPP_SCALEBENCH=%s: documentdb, ferretdb or local", cfg.engine)
	}
	began := time.Now()
	base := time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Millisecond)
	for start := 0; start < cfg.others; start += 10_000 {
		batch := make([]*File, 0, 10_000)
		for i := start; i < min(cfg.others, start+10_000); i++ {
			batch = append(batch, scaleFile(fmt.Sprintf("other-%d", i%1000), base.Add(time.Duration(i)*time.Millisecond), i))
		}
		seed.add(t, batch)
	}
	fmt.Printf("scalebench %s: seeded %d other users' files in %v\n", cfg.engine, cfg.others, time.Since(began).Round(time.Second))

	// The user, their credential, one real uploaded file and a share of it.
	owner, token, real, shareToken := scaleUser(t, seed)
	var mine []*File
	fmt.Printf("| files | first page | deep page | download | upload | share page | share download | /me | (p50/p99 ms; Dropp CPU + database CPU µs per request)\n")
	for _, n := range cfg.sizes {
		var batch []*File
		for i := len(mine); i < n; i++ {
			batch = append(batch, scaleFile(owner, base.Add(time.Duration(i)*time.Millisecond+500*time.Microsecond), i))
		}
		t0 := time.Now()
		seed.add(t, batch)
		mine = append(mine, batch...)
		seeded := time.Since(t0)
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t0 := time.Now()
			a := apiTester{startTestEnv(t, seed.env())}
			opened := time.Since(t0)
			deep := checkSeeded(t, a, token, mine)
			endpoints := []struct {
				name string
				req  request
				want int
			}{
				{"first page", request{method: "GET", path: "/list/", token: token}, http.StatusOK},
				{"deep page", request{method: "GET", path: "/list/?cursor=" + deep, token: token}, http.StatusOK},
				{"download", request{method: "GET", path: "/download/" + real, token: token}, http.StatusOK},
				{"upload", request{method: "POST", path: "/upload/", token: token, body: map[string]any{"filename": "bench.bin", "size": 1000}}, http.StatusCreated},
				{"share page", request{method: "GET", path: "/s/" + shareToken + "/download"}, 0}, // a GET no person started: the page
				{"share download", request{method: "POST", path: "/s/" + shareToken + "/download", header: map[string]string{"Accept": "application/json"}}, http.StatusOK},
				{"/me", request{method: "GET", path: "/me", token: token}, http.StatusOK},
			}
			row := fmt.Sprintf("| %d |", n)
			for _, e := range endpoints {
				row += " " + timeEndpoint(t, a, seed, e.req, e.want, cfg).String() + " |"
			}
			fmt.Println(row)
			fmt.Printf("  (seeded %d in %v; server opened in %v%s)\n", len(batch), seeded.Round(time.Millisecond), opened.Round(time.Millisecond), memoryNote(cfg.engine))
			if cfg.engine != "local" {
				fmt.Printf("  abandoned first page: %v\n", abandon(t, a, seed, endpoints[0].req))
			}
		})
	}
}

// scaleFile is a completed file as the API stores one.
func scaleFile(owner string, created time.Time, i int) *File {
	id := newID()
	size := int64(1000 + i%5000)
	done := created.Add(time.Second)
	return &File{ID: id, Owner: owner, Filename: fmt.Sprintf("report %d.pdf", i), DeclaredSize: &size, Size: &size,
		ContentType: "application/pdf", Status: statusComplete, ObjectKey: "objects/" + id, ETag: `"` + id + `"`,
		CreatedAt: created, CompletedAt: &done, Charged: size}
}

// scaleUser signs a user in on a first server, uploads one real file and
// shares it; the store keeps them for the servers that follow.
func scaleUser(t *testing.T, seed scaleSeeder) (owner, token, realFile, shareToken string) {
	t.Run("user", func(t *testing.T) {
		a := apiTester{startTestEnv(t, seed.env())}
		token = a.newUser("scale")
		owner = a.userID(token)
		up := a.create(token, map[string]any{"filename": "real.bin", "size": 1000})
		a.upload(up, make([]byte, 1000))
		resp, body := a.complete(token, up.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)
		realFile = up.File.ID
		resp, body = a.do(request{method: "POST", path: "/files/" + realFile + "/shares", token: token})
		wantStatus(t, resp, body, http.StatusCreated)
		var out struct {
			Share struct {
				URL string `json:"url"`
			} `json:"share"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		shareToken = out.Share.URL[strings.LastIndex(out.Share.URL, "/")+1:]
	})
	if shareToken == "" {
		t.FailNow()
	}
	return owner, token, realFile, shareToken
}

// checkSeeded reads the newest page and a page from the middle through the
// API and compares them with the seeded files, and returns the middle
// page's cursor.
func checkSeeded(t *testing.T, a apiTester, token string, mine []*File) string {
	t.Helper()
	mid := len(mine) / 2
	cursor := encodeCursor(Cursor{CreatedAt: mine[mid].CreatedAt, ID: mine[mid].ID})
	resp, body := a.do(request{method: "GET", path: "/list/?status=complete&limit=20", token: token})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the seeded files cannot be read back: %d %s", resp.StatusCode, body)
		return cursor // and the timings say how often that happens
	}
	first := decode[listOut](t, body)
	// The real file is newer than any seeded one (the bench's uploads stay pending).
	var ids []string
	for _, f := range first.Files {
		if strings.HasPrefix(f.Filename, "report ") {
			ids = append(ids, f.ID)
		}
	}
	var want []string
	for i := len(mine) - 1; i >= 0 && len(want) < len(ids); i-- {
		want = append(want, mine[i].ID)
	}
	if len(ids) == 0 || !slices.Equal(ids, want) {
		t.Fatalf("first page lists %v, want the newest seeded %v", ids, want)
	}
	resp, body = a.do(request{method: "GET", path: "/list/?limit=5&cursor=" + cursor, token: token})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the seeded files cannot be read back: %d %s", resp.StatusCode, body)
		return cursor
	}
	deep := decode[listOut](t, body)
	for i, f := range deep.Files {
		if w := mine[mid-1-i]; f.ID != w.ID || f.Filename != w.Filename || f.Size == nil || *f.Size != *w.Size || f.Status != statusComplete {
			t.Fatalf("deep page file %d is %+v, want %+v", i, f, w)
		}
	}
	return cursor
}

// timing is one endpoint's figures at one size.
type timing struct {
	p50, p99        time.Duration
	droppCPU, dbCPU time.Duration // per request
	n               int           // requests timed
	failed          map[int]int   // answers of another status, by status (counted in the figures)
}

func (tm timing) String() string {
	s := fmt.Sprintf("%.1f/%.1f ms; %d+%d µs (n=%d", ms(tm.p50), ms(tm.p99), tm.droppCPU.Microseconds(), tm.dbCPU.Microseconds(), tm.n)
	for status, k := range tm.failed {
		s += fmt.Sprintf(", %d answered %d", k, status)
	}
	return s + ")"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timeEndpoint sends cfg.requests requests one after another, or as many
// as fit in cfg.budget (after a few not counted), checking each answer's
// status (want 0: any 2xx or 3xx).
func timeEndpoint(t *testing.T, a apiTester, seed scaleSeeder, req request, want int, cfg scaleBenchConfig) timing {
	t.Helper()
	failed := map[int]int{}
	send := func() time.Duration {
		t0 := time.Now()
		resp, _ := a.do(req)
		took := time.Since(t0)
		if want != 0 && resp.StatusCode != want || want == 0 && resp.StatusCode/100 > 3 {
			failed[resp.StatusCode]++ // shown beside the figures, which count it
		}
		return took
	}
	for range 3 {
		send()
	}
	clear(failed)
	runtime.GC()
	cpu0, db0 := processCPU(), seed.dbCPU()
	var took []time.Duration
	for start := time.Now(); len(took) < cfg.requests && (len(took) < 5 || time.Since(start) < cfg.budget); {
		took = append(took, send())
	}
	cpu, db := processCPU()-cpu0, seed.dbCPU()-db0
	n := len(took)
	slices.Sort(took)
	return timing{p50: took[n/2], p99: took[n*99/100], droppCPU: cpu / time.Duration(n), dbCPU: db / time.Duration(n), n: n, failed: failed}
}

// processCPU is this process's user and system CPU time: Dropp's server,
// with the bench's own HTTP client, which costs the same at every size.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memoryNote gives local mode's memory once its store is open.
func memoryNote(engine string) string {
	if engine != "local" {
		return ""
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return fmt.Sprintf("; Go heap in use %d MiB, RSS %s", m.HeapInuse>>20, procStatus("VmRSS"))
}

// procStatus reads one field of /proc/self/status.
func procStatus(field string) string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// localSeeder appends put_file records to local mode's log.
type localSeeder struct{ dir string }

func (s *localSeeder) add(t *testing.T, files []*File) {
	meta := filepath.Join(s.dir, "metadata") // as openStore (main.go) opens it
	ctMust(t, "make store directory", os.MkdirAll(meta, 0o700))
	f, err := os.OpenFile(filepath.Join(meta, localLogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	ctMust(t, "open local log", err)
	var buf []byte
	for _, file := range files {
		line, err := encodeLocalRecord(&localRecord{Op: opPutFile, File: file})
		ctMust(t, "encode", err)
		buf = append(buf, line...)
	}
	_, err = f.Write(buf)
	ctMust(t, "append to local log", err)
	ctMust(t, "close local log", f.Close())
}

func (s *localSeeder) env() map[string]string {
	return map[string]string{"DATA_DIR": s.dir, "ADDR": "127.0.0.1:0", "AUTH_RATE_LIMIT": "1000000"}
}

func (s *localSeeder) dbCPU() time.Duration { return 0 }

// docDBSeeder inserts into a database of the shared FerretDB 2.
type docDBSeeder struct {
	rig  *docDBRig
	vars map[string]string
	s    *mongoStore
	// afterAdd, if set, runs after each add (the GIN indexes of
	// scripts/scalebench -gin).
	afterAdd func(t *testing.T)
}

func newDocDBSeeder(t *testing.T) *docDBSeeder {
	rig := requireDocumentDB(t)
	vars := s3TestEnv(t, testBucket(t))
	vars["MONGODB_URI"], vars["MONGO_DB"] = rig.uri, docDBDatabaseName(t)
	vars["SECRET_KEY"], vars["ADDR"], vars["AUTH_RATE_LIMIT"] = testSecretKey, "127.0.0.1:0", "1000000"
	s, err := openMongoStore(t.Context(), rig.uri, vars["MONGO_DB"], testLogger(t)) // its indexes, before the files
	ctMust(t, "open store", err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return &docDBSeeder{rig: rig, vars: vars, s: s}
}

func (s *docDBSeeder) add(t *testing.T, files []*File) {
	for chunk := range slices.Chunk(files, 1000) {
		docs := make([]any, len(chunk))
		for i, f := range chunk {
			docs[i] = f
		}
		_, err := s.s.files.InsertMany(t.Context(), docs)
		ctMust(t, "insert files", err)
	}
	if s.afterAdd != nil {
		s.afterAdd(t)
	}
}

func (s *docDBSeeder) env() map[string]string { return s.vars }

// dbCPU sums utime and stime, and those of reaped children (PostgreSQL's
// exited backends and parallel workers), over FerretDB and every process
// under PostgreSQL's postmaster.
func (s *docDBSeeder) dbCPU() time.Duration {
	var ticks int64
	for _, pid := range processTree(s.rig.pids) {
		ticks += cpuTicks(pid)
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// processTree is roots and every process under them.
func processTree(roots []int) []int {
	parent := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			parent[ppid] = append(parent[ppid], pid)
		}
	}
	tree := slices.Clone(roots)
	for i := 0; i < len(tree); i++ {
		tree = append(tree, parent[tree[i]]...)
	}
	return tree
}

// statFields are the fields of /proc/PID/stat after the command name:
// state, ppid, ... (utime is index 11).
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// cpuTicks is utime+stime+cutime+cstime of a process, in clock ticks.
func cpuTicks(pid int) int64 {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	var sum int64
	for _, i := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		sum += n
	}
	return sum
}

// newFerretPGSeeder inserts into FerretDB 1.24 on PostgreSQL, which
// scripts/scalebench starts (the Go rig's FerretDB runs on SQLite) and
// names in DROPP_SCALEBENCH_MONGO_URI, with the process ids of FerretDB
// and of PostgreSQL's postmaster in DROPP_SCALEBENCH_DB_PIDS.
func newFerretPGSeeder(t *testing.T) *docDBSeeder {
	rig := &docDBRig{uri: os.Getenv("DROPP_SCALEBENCH_MONGO_URI")}
	for _, f := range strings.Fields(os.Getenv("DROPP_SCALEBENCH_DB_PIDS")) {
		pid, err := strconv.Atoi(f)
		ctMust(t, "DROPP_SCALEBENCH_DB_PIDS", err)
		rig.pids = append(rig.pids, pid)
	}
	if rig.uri == "" || len(rig.pids) == 0 {
		t.Fatal("DROPP_SCALEBENCH=ferretdb needs DROPP_SCALEBENCH_MONGO_URI and DROPP_SCALEBENCH_DB_PIDS (scripts/scalebench sets them)")
	}
	vars := s3TestEnv(t, testBucket(t))
	vars["MONGODB_URI"], vars["MONGO_DB"] = rig.uri, "scalebench"
	vars["SECRET_KEY"], vars["ADDR"], vars["AUTH_RATE_LIMIT"] = testSecretKey, "127.0.0.1:0", "1000000"
	s, err := openMongoStore(t.Context(), rig.uri, vars["MONGO_DB"], testLogger(t))
	ctMust(t, "open store", err)
	t.Cleanup(func() { s.Close(context.Background()) })
	seed := &docDBSeeder{rig: rig, vars: vars, s: s}
	if pg := os.Getenv("DROPP_SCALEBENCH_GIN"); pg != "" {
		seed.afterAdd = func(t *testing.T) { addGINIndexes(t, pg, vars["MONGO_DB"]) }
	}
	return seed
}

// ginIndexes are the GIN indexes an operator can add in PostgreSQL under
// FerretDB 1.x (docs/scale.md), by collection: FerretDB pushes an
// equality down as jsonb containment, _jsonb->'field' @> value, which
// FerretDB's own btree indexes cannot serve and a GIN index on the same
// expression can.
var ginIndexes = map[string][]string{
	"files":           {"_id", "owner"},
	"credentials":     {"hash"},
	"users":           {"_id"},
	"shares":          {"_id", "token_hash"},
	"share_downloads": {"share_id"},
}

// addGINIndexes creates ginIndexes (if missing) in the PostgreSQL at
// pgURL, in the schema of the database db, and analyzes the tables.
// FerretDB 1.x names a collection's table after it, with a hash suffix.
func addGINIndexes(t *testing.T, pgURL, db string) {
	for coll, fields := range ginIndexes {
		table, err := psql("/usr/lib/postgresql/15/bin", pgURL, fmt.Sprintf(
			`SELECT table_name FROM information_schema.tables WHERE table_schema = '%s' AND table_name ~ '^%s_[0-9a-f]{8}$'`, db, coll))
		ctMust(t, "find the table of "+coll, err)
		if table = strings.TrimSpace(table); table == "" {
			continue
		}
		for _, field := range fields {
			_, err := psql("/usr/lib/postgresql/15/bin", pgURL, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s_gin%s" ON "%s"."%s" USING gin ((_jsonb->'%s'))`,
				table, strings.ReplaceAll(field, "_", ""), db, table, field))
			ctMust(t, "create a GIN index", err)
		}
		_, err = psql("/usr/lib/postgresql/15/bin", pgURL, fmt.Sprintf(`ANALYZE "%s"."%s"`, db, table))
		ctMust(t, "analyze", err)
	}
}

// abandonment is what one request costs the database once nobody waits
// for it any more.
type abandonment struct {
	answered time.Duration // Dropp's answer (or the client giving up)
	status   int           // 0: the client gave up first
	busy     time.Duration // the database worked on after that
	cpu      time.Duration // its CPU meanwhile
}

func (ab abandonment) String() string {
	how := fmt.Sprintf("Dropp answered %d after %v", ab.status, ab.answered.Round(time.Millisecond))
	if ab.status == 0 {
		how = fmt.Sprintf("the client gave up after %v", ab.answered.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s; the database worked on for %v more, %v of CPU", how, ab.busy.Round(100*time.Millisecond), ab.cpu.Round(time.Millisecond))
}

// abandon sends req with a client that gives up after 1 s and says how
// long the database worked on after that: its CPU is sampled every 100 ms
// until it stays idle (under 5 ms of CPU) for 500 ms.
func abandon(t *testing.T, a apiTester, seed scaleSeeder, req request) abandonment {
	t.Helper()
	hr, err := http.NewRequest(req.method, a.URL+req.path, nil)
	ctMust(t, "request", err)
	hr.Header.Set("Authorization", "Bearer "+req.token)
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	var ab abandonment
	if resp, err := client.Do(hr); err == nil {
		resp.Body.Close()
		ab.status = resp.StatusCode
	}
	ab.answered = time.Since(t0)
	gaveUp, cpu0 := time.Now(), seed.dbCPU()
	last, lastChange := cpu0, time.Now()
	for time.Since(lastChange) < 500*time.Millisecond && time.Since(gaveUp) < time.Minute {
		time.Sleep(100 * time.Millisecond)
		if now := seed.dbCPU(); now-last >= 5*time.Millisecond {
			last, lastChange = now, time.Now()
		}
	}
	ab.busy, ab.cpu = lastChange.Sub(gaveUp), last-cpu0
	return ab
}
