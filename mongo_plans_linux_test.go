package main

// The hot queries of the MongoDB store, held to index plans on FerretDB 2
// (DocumentDB plans with indexes, as MongoDB does; FerretDB 1.24 scans
// every collection whatever the query). The test runs the store's own
// calls with a command monitor, so a query added or changed later is
// checked without being listed here, and asks the engine to explain each.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// planQuery is one query the store sent: its collection, filter, sort and
// hint, as a find would run them; an aggregate's pipeline too.
type planQuery struct {
	op, coll           string
	filter, sort, hint bson.Raw
	pipeline           bson.RawArray
}

// queryRecorder keeps the queries of the commands a client sends to one
// database.
type queryRecorder struct {
	db      string
	mu      sync.Mutex
	queries []planQuery
}

func (r *queryRecorder) started(_ context.Context, e *event.CommandStartedEvent) {
	if e.DatabaseName != r.db {
		return
	}
	cmd := e.Command
	coll, _ := cmd.Lookup(e.CommandName).StringValueOK()
	q := planQuery{op: e.CommandName, coll: coll}
	doc := func(key string) bson.Raw { d, _ := cmd.Lookup(key).DocumentOK(); return d }
	switch e.CommandName {
	case "find":
		q.filter, q.sort, q.hint = doc("filter"), doc("sort"), doc("hint")
	case "count":
		q.filter, q.hint = doc("query"), doc("hint")
	case "findAndModify":
		q.filter, q.sort = doc("query"), doc("sort")
	case "delete", "update":
		// One statement each is all the store sends.
		arr, _ := cmd.Lookup(map[string]string{"delete": "deletes", "update": "updates"}[e.CommandName]).ArrayOK()
		first, _ := arr.Index(0).DocumentOK()
		q.filter, _ = first.Lookup("q").DocumentOK()
	case "aggregate":
		q.pipeline, _ = cmd.Lookup("pipeline").ArrayOK()
		first, _ := q.pipeline.Index(0).DocumentOK()
		q.filter, _ = first.Lookup("$match").DocumentOK()
	default:
		return
	}
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.mu.Unlock()
}

// TestHotQueriesUseIndexes: every query of the hot paths (list, first and
// deep pages, with and without ?status=; get-one for download, complete,
// delete and share; the credential, share and usage lookups) runs on
// FerretDB 2 from an index whose first field the query fixes by equality:
// no sequential scan, and no index walked over every user's files (the
// sweeper's status index once served a list's status != deleted).
func TestHotQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	requireDocumentDBOrSkip(t)
	rig := requireDocumentDB(t)
	db := docDBDatabaseName(t)
	ctx := t.Context()
	s, err := openMongoStore(ctx, rig.uri, db, testLogger(t), withQuota(Quota{Bytes: 1 << 40, Files: 1 << 20}))
	ctMust(t, "open store", err)
	t.Cleanup(func() { s.Close(context.Background()) })
	seedPlanData(t, s)

	rec := &queryRecorder{db: db}
	monitored, err := mongo.Connect(options.Client().ApplyURI(rig.uri).SetMonitor(&event.CommandMonitor{Started: rec.started}))
	ctMust(t, "connect", err)
	t.Cleanup(func() { monitored.Disconnect(context.Background()) })
	useClient(s, monitored.Database(db))

	runHotPaths(t, s)
	if len(rec.queries) < 15 {
		t.Fatalf("recorded only %d queries of the hot paths", len(rec.queries))
	}
	for _, q := range rec.queries {
		plan := explainFind(t, s.files.Database(), q)
		t.Logf("%s %s %s sort %s: %s", q.op, q.coll, q.filter, q.sort, planSummary(plan))
		if problem := planProblem(q, plan); problem != "" {
			t.Errorf("%s on %s %s sort %s hint %s: %s\nplan: %s", q.op, q.coll, q.filter, q.sort, q.hint, problem, plan)
		}
	}
}

// planOwner is the user whose requests the hot paths make, among others.
const planOwner = "plan-owner"

// seedPlanData stores enough files, credentials and shares of many users
// that a plan reading every user's documents differs from one reading the
// owner's: 2,000 files of 20 users.
func seedPlanData(t *testing.T, s *mongoStore) {
	base := ctNow().Add(-time.Hour)
	var files []any
	for i := range 2000 {
		f := ctFile(fmt.Sprintf("user-%d", i%20), base.Add(time.Duration(i)*time.Millisecond))
		if i%20 == 0 {
			f.Owner = planOwner
		}
		if i%3 == 0 {
			f.Status = statusComplete
		}
		f.Charged = 1000 // as stored since quotas: no ledger start updates it
		files = append(files, f)
	}
	_, err := s.files.InsertMany(t.Context(), files)
	ctMust(t, "seed files", err)
	var creds []any
	for i := range 200 {
		creds = append(creds, Credential{Hash: hashSecret(fmt.Sprint("token", i)), Kind: kindBearer, UserID: fmt.Sprint("user-", i%20),
			CreatedAt: base, ExpiresAt: base.Add(48 * time.Hour)})
	}
	_, err = s.creds.InsertMany(t.Context(), creds)
	ctMust(t, "seed credentials", err)
}

// runHotPaths makes the store calls behind the hot requests.
func runHotPaths(t *testing.T, s *mongoStore) {
	ctx := t.Context()
	now := ctNow()
	page := ctList(t, s, ListQuery{Owner: planOwner, Limit: 20})
	last := page[len(page)-1]
	ctList(t, s, ListQuery{Owner: planOwner, Limit: 20, After: &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})
	ctList(t, s, ListQuery{Owner: planOwner, Status: statusComplete, Limit: 20})
	ctList(t, s, ListQuery{Owner: planOwner, Status: statusPending, Limit: 20, After: &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})

	_, err := s.FindCredential(ctx, kindBearer, hashSecret("token7"), now)
	ctMust(t, "find credential", err)

	fresh := quotaFile(planOwner, 100)
	ctMust(t, "insert within quota", s.InsertFileWithinQuota(ctx, fresh, Quota{Bytes: 1 << 40, Files: 1 << 20}))
	_, err = s.GetFile(ctx, planOwner, fresh.ID)
	ctMust(t, "get file", err)
	_, _, err = s.CompleteFile(ctx, planOwner, fresh.ID, "", 100, "etag", now)
	ctMust(t, "complete", err)
	_, err = s.GetUsage(ctx, planOwner)
	ctMust(t, "usage", err)
	_, err = s.usageFromFiles(ctx, planOwner, false) // GET /me with no quota set
	ctMust(t, "usage without a ledger", err)

	sh := Share{ID: newID(), TokenHash: hashSecret("share"), Owner: planOwner, FileID: fresh.ID, Files: []ShareFile{{FileID: fresh.ID}}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ctMust(t, "insert share", s.InsertShare(ctx, sh, 10))
	_, err = s.ShareLink(ctx, sh.TokenHash, now)
	ctMust(t, "share link", err)
	_, err = s.CountShareDownload(ctx, sh, fresh.ID, now)
	ctMust(t, "count share download", err)
	_, err = s.ListShares(ctx, ShareQuery{Owner: planOwner, FileID: fresh.ID, Now: now, Limit: 10})
	ctMust(t, "list shares", err)
	_, err = s.DeleteFile(ctx, planOwner, fresh.ID)
	ctMust(t, "delete file", err)
}

// explainFind asks the engine for the plan of q run as a find, which is
// how FerretDB 2 runs every filter (counts, deletes and updates too); an
// aggregate is explained as it was sent (its $group reads the rows the
// find would).
func explainFind(t *testing.T, d *mongo.Database, q planQuery) string {
	find := bson.D{{Key: "find", Value: q.coll}, {Key: "filter", Value: q.filter}}
	if len(q.sort) > 0 {
		find = append(find, bson.E{Key: "sort", Value: q.sort})
	}
	if len(q.hint) > 0 {
		find = append(find, bson.E{Key: "hint", Value: q.hint})
	}
	if q.pipeline != nil {
		find = bson.D{{Key: "aggregate", Value: q.coll}, {Key: "pipeline", Value: bson.RawValue{Type: bson.TypeArray, Value: q.pipeline}}, {Key: "cursor", Value: bson.D{}}}
	}
	var out bson.Raw
	cmd := bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}}
	if err := d.RunCommand(t.Context(), cmd).Decode(&out); err != nil {
		t.Fatalf("explain %v: %v", find, err)
	}
	plan, err := bson.MarshalExtJSON(out.Lookup("queryPlanner"), false, false)
	ctMust(t, "plan as JSON", err)
	return string(plan)
}

// leadingField reads an index's first field from its default name
// ("owner_1_created_at_-1__id_-1" is owner's; "_id_" is _id's).
var leadingField = regexp.MustCompile(`^(.+?)_-?1(?:_|$)`)

// planProblem says what is wrong with a plan: a sequential scan (or a
// COLLSCAN, should the engine be MongoDB), or an index whose first field
// the filter does not fix by equality, which reads other users' entries.
func planProblem(q planQuery, plan string) string {
	var tree any
	if err := json.Unmarshal([]byte(plan), &tree); err != nil {
		return "unreadable plan: " + err.Error()
	}
	var problem string
	walkPlan(tree, func(node map[string]any) {
		kind, _ := node["Node Type"].(string)
		stage, _ := node["stage"].(string)
		if kind == "Seq Scan" || stage == "COLLSCAN" {
			problem = "sequential scan"
			return
		}
		name, _ := node["Index Name"].(string)
		if name == "" {
			name, _ = node["indexName"].(string)
		}
		if name == "" {
			return
		}
		field := "_id"
		if m := leadingField.FindStringSubmatch(name); m != nil && name != "_id_" {
			field = m[1]
		}
		if !fixedByEquality(q.filter, field) && problem == "" {
			problem = fmt.Sprintf("index %s starts at %s, which the filter does not fix", name, field)
		}
	})
	return problem
}

// planSummary lists a plan's nodes, outermost first, with their indexes:
// "Limit > Sort > Index Scan(owner_1_created_at_-1__id_-1)".
func planSummary(plan string) string {
	var tree map[string]any
	if json.Unmarshal([]byte(plan), &tree) != nil {
		return plan
	}
	var nodes []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if kind, ok := n["Node Type"].(string); ok {
			if ix, ok := n["Index Name"].(string); ok {
				kind += "(" + ix + ")"
			}
			nodes = append(nodes, kind)
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if c, ok := c.(map[string]any); ok {
				walk(c)
			}
		}
	}
	if p, ok := tree["Plan"].(map[string]any); ok {
		walk(p)
	}
	return strings.Join(nodes, " > ")
}

// walkPlan calls visit on every object of a plan tree.
func walkPlan(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walkPlan(c, visit)
		}
	case []any:
		for _, c := range v {
			walkPlan(c, visit)
		}
	}
}

// fixedByEquality tells whether the filter gives the field a value, or a
// list of values ($in), rather than a range or an exclusion.
func fixedByEquality(filter bson.Raw, field string) bool {
	v, err := filter.LookupErr(field)
	if err != nil {
		return false
	}
	doc, isDoc := v.DocumentOK()
	if !isDoc {
		return true
	}
	elems, _ := doc.Elements()
	for _, e := range elems {
		if strings.HasPrefix(e.Key(), "$") && e.Key() != "$in" && e.Key() != "$eq" {
			return false
		}
	}
	return true
}

// TestListShapeCost measures what FerretDB 2 and its PostgreSQL spend on
// one list page sent in each shape a driver can send it (docs/scale.md, "A
// list page's fixed cost on FerretDB 2"): the same find of the newest 101
// of a user's files with a limit and a batch size (Dropp's before onePage),
// with a limit, a batch size and singleBatch (onePage), with a batch size
// and singleBatch only, and with a batch size only, the cursor closed after
// the page. A measurement, not a check: it runs only with
// DROPP_LISTSHAPE=ROUNDS (e.g. 40), on 20,000 other users' files.
func TestListShapeCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_LISTSHAPE")
	seed := newDocDBSeeder(t)
	s := seed.s
	base := time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Millisecond)
	addFiles := func(owner func(i int) string, n int) {
		files := make([]*File, n)
		for i := range files {
			files[i] = scaleFile(owner(i), base.Add(time.Duration(i)*time.Millisecond), i)
		}
		seed.add(t, files)
	}
	addFiles(func(i int) string { return fmt.Sprint("other-", i%1000) }, 20_000)
	sizes := []int{100, 10_000}
	for _, n := range sizes {
		addFiles(func(int) string { return fmt.Sprint("user-", n) }, n)
	}
	const limit = 101
	sort := bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}
	find := func(owner string, opts *options.FindOptionsBuilder) (*mongo.Cursor, error) {
		return s.files.Find(t.Context(), listFilter(ListQuery{Owner: owner}), opts.SetSort(sort).SetHint(listIndex))
	}
	shapes := []struct {
		name string
		open func(owner string) (*mongo.Cursor, error)
	}{
		{"limit, batchSize", func(o string) (*mongo.Cursor, error) {
			return find(o, options.Find().SetLimit(limit).SetBatchSize(limit))
		}},
		{"limit, batchSize, singleBatch (onePage)", func(o string) (*mongo.Cursor, error) {
			return find(o, options.Find().SetLimit(-limit).SetBatchSize(limit))
		}},
		{"batchSize, singleBatch", func(o string) (*mongo.Cursor, error) {
			cmd := bson.D{{Key: "find", Value: s.files.Name()}, {Key: "filter", Value: listFilter(ListQuery{Owner: o})}, {Key: "sort", Value: sort},
				{Key: "hint", Value: listIndex}, {Key: "batchSize", Value: int32(limit)}, {Key: "singleBatch", Value: true}}
			return s.files.Database().RunCommandCursor(t.Context(), cmd)
		}},
		{"batchSize, then closed", func(o string) (*mongo.Cursor, error) {
			return find(o, options.Find().SetBatchSize(limit))
		}},
	}
	page := func(open func(string) (*mongo.Cursor, error), owner string) int64 {
		cur, err := open(owner)
		ctMust(t, "find", err)
		var n int64
		for n < limit && cur.Next(t.Context()) {
			n++
		}
		ctMust(t, "close", cur.Close(t.Context()))
		return n
	}
	for _, size := range sizes {
		owner := fmt.Sprint("user-", size)
		measured := make([]countingShape, len(shapes))
		for i, sh := range shapes {
			measured[i] = countingShape{fmt.Sprintf("%d | %s", size, sh.name), func() int64 { return page(sh.open, owner) }}
		}
		printCounting(t, seed, 1, rounds, measured)
	}
}

// TestAggShapeCost measures what FerretDB 2 and its PostgreSQL spend on
// each count and sum the request paths send, in the shapes they are sent
// and in the shapes that could replace them (docs/scale.md, "Counts and
// sums on FerretDB 2"), and how many PostgreSQL connections each opened:
// a shape that FerretDB 2 serves from a persistent cursor costs its
// connection (onePage says why). A measurement, not a check: it runs only
// with DROPP_AGGSHAPE=ROUNDS (e.g. 40), on 20,000 other users' files.
func TestAggShapeCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_AGGSHAPE")
	seed := newDocDBSeeder(t)
	s, ctx := seed.s, t.Context()
	files, base := seedAmongOthers(t, seed, "user-100", 100)
	// 5,000 shares of 1,000 files, each file in one, downloaded 4 times
	// each; "file-0" of "user-100" in 3 live shares.
	later := time.Now().Add(time.Hour)
	var shareDocs, memberDocs, downloadDocs []any
	for i := range 5000 {
		owner, fileID := fmt.Sprint("other-", i%1000), fmt.Sprint("ofile-", i%1000)
		if i < 3 {
			owner, fileID = "user-100", "file-0"
		}
		shareID := fmt.Sprint("share-", i)
		shareDocs = append(shareDocs, bson.D{{Key: "_id", Value: shareID}, {Key: "owner", Value: owner}, {Key: "drop", Value: true},
			{Key: "token_hash", Value: shareID}, {Key: "created_at", Value: base}, {Key: "expires_at", Value: later}})
		memberDocs = append(memberDocs, shareFile{ID: shareFileID(shareID, fileID), ShareID: shareID, FileID: fileID, Owner: owner,
			AddedAt: base, CreatedAt: base, ExpiresAt: later})
		for n := range 4 {
			downloadDocs = append(downloadDocs, shareDownload{ID: downloadNumberID(shareID, ShareFile{FileID: fileID}, int64(n+1)), ShareID: shareID, FileID: fileID, ExpiresAt: later})
		}
	}
	for _, big := range []int{1000, 10_000} { // shares downloaded often
		shareID := fmt.Sprint("popular-", big)
		for n := range big {
			downloadDocs = append(downloadDocs, shareDownload{ID: fmt.Sprintf("%s/f/%d", shareID, n+1), ShareID: shareID, FileID: "f", ExpiresAt: later})
		}
	}
	for _, batch := range []struct {
		c    *mongo.Collection
		docs []any
	}{{s.shares, shareDocs}, {s.shareFiles, memberDocs}, {s.shareDownloads, downloadDocs}} {
		for chunk := range slices.Chunk(batch.docs, 1000) {
			_, err := batch.c.InsertMany(ctx, chunk)
			ctMust(t, "insert", err)
		}
	}

	live := liveSharesFilter("user-100", "file-0", time.Now())
	count := func(c *mongo.Collection, query bson.D) int64 {
		var res struct {
			N int64 `bson:"n"`
		}
		ctMust(t, "count", c.Database().RunCommand(ctx, bson.D{{Key: "count", Value: c.Name()}, {Key: "query", Value: query}}).Decode(&res))
		return res.N
	}
	downloads := bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: bson.A{"share-0", "share-1", "share-2"}}}}}
	byShareFile := bson.D{{Key: "$group", Value: bson.D{
		{Key: "_id", Value: bson.D{{Key: "s", Value: "$share_id"}, {Key: "f", Value: "$file_id"}}},
		{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
	}}}
	groupRows := func(cmd bson.D) int64 {
		cur, err := s.shareDownloads.Database().RunCommandCursor(ctx, cmd)
		ctMust(t, "aggregate", err)
		var rows []bson.Raw
		ctMust(t, "read", cur.All(ctx, &rows))
		return int64(len(rows))
	}
	aggregateOf := func(match bson.D, cursor bson.D) func() int64 {
		return func() int64 {
			return groupRows(bson.D{{Key: "aggregate", Value: s.shareDownloads.Name()},
				{Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: match}}, byShareFile}}, {Key: "cursor", Value: cursor}})
		}
	}
	aggregate := func(cursor bson.D) func() int64 { return aggregateOf(downloads, cursor) }
	findOf := func(match bson.D) func() int64 {
		return func() int64 {
			var rows []bson.Raw
			opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "share_id", Value: 1}, {Key: "file_id", Value: 1}})
			ctMust(t, "find", s.findAll(ctx, s.shareDownloads, match, opts, &rows))
			return int64(len(rows))
		}
	}
	oneShare := func(id string) bson.D {
		return bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: bson.A{id}}}}}
	}
	shapes := []countingShape{
		{"a file's live shares: CountDocuments ($match, $group; main)", func() int64 {
			n, err := s.shareFiles.CountDocuments(ctx, live)
			ctMust(t, "count documents", err)
			return n
		}},
		{"a file's live shares: count command", func() int64 { return count(s.shareFiles, live) }},
		{"a file's live shares: the store's countLiveShares (two counts)", func() int64 {
			n, err := s.countLiveShares(ctx, "user-100", "file-0", time.Now())
			ctMust(t, "count live shares", err)
			return n
		}},
		{"an object key's file: the store's HasObjectKey", func() int64 {
			known, err := s.HasObjectKey(ctx, files[20_000].ObjectKey)
			ctMust(t, "has object key", err)
			return map[bool]int64{true: 1}[known]
		}},
		{"share downloads: $group (main)", aggregate(bson.D{})},
		{"share downloads: $group, cursor.batchSize 1000", aggregate(bson.D{{Key: "batchSize", Value: 1000}})},
		{"share downloads: $group, cursor.singleBatch (DocumentDB only)", aggregate(bson.D{{Key: "singleBatch", Value: true}})},
		{"share downloads: find, no sort, counted here", findOf(downloads)},
		{"1,000 downloads: $group (main)", aggregateOf(oneShare("popular-1000"), bson.D{})},
		{"1,000 downloads: find, counted here", findOf(oneShare("popular-1000"))},
		{"10,000 downloads: $group (main)", aggregateOf(oneShare("popular-10000"), bson.D{})},
		{"10,000 downloads: find, counted here", findOf(oneShare("popular-10000"))},
		{"usage, 100 files: readFilesUpTo (find, no sort)", func() int64 {
			f, err := s.readFilesUpTo(ctx, "user-100", usageReadLimit)
			ctMust(t, "read files", err)
			return int64(len(f))
		}},
		{"usage, 100 files: sumCharged ($group)", func() int64 {
			n, err := s.sumCharged(ctx, "user-100")
			ctMust(t, "sum charged", err)
			return n
		}},
		{"usage, 100 files: countLiveFiles (count command)", func() int64 {
			n, err := s.countLiveFiles(ctx, "user-100")
			ctMust(t, "count live files", err)
			return n
		}},
	}
	printCounting(t, seed, 1, rounds, shapes)
}

// backendsOpened turns on PostgreSQL's log_connections in the rig's
// cluster (off again after t) and answers a counter of the connections
// FerretDB has opened since.
func backendsOpened(t *testing.T, rig *docDBRig) func() int {
	for _, sql := range []string{"ALTER SYSTEM SET log_connections = on", "SELECT pg_reload_conf()"} {
		_, err := rig.psql(sql)
		ctMust(t, "log connections", err)
	}
	t.Cleanup(func() {
		rig.psql("ALTER SYSTEM RESET log_connections")
		rig.psql("SELECT pg_reload_conf()")
	})
	dir, err := rig.psql("SHOW data_directory")
	ctMust(t, "data directory", err)
	lines := strings.Fields(dir)
	logPath := filepath.Join(filepath.Dir(lines[len(lines)-1]), "postgres.log")
	time.Sleep(time.Second) // the reload reaches the postmaster
	return func() int {
		data, err := os.ReadFile(logPath)
		ctMust(t, "read PostgreSQL's log", err)
		n := 0
		for line := range strings.Lines(string(data)) {
			if strings.Contains(line, "connection authorized") && !strings.Contains(line, "application_name=psql") {
				n++
			}
		}
		return n
	}
}

// TestShareDownloadCost measures what the database spends on the store
// calls of a counted share download (docs/scale.md, "A counted share
// download"), in main's shape before this change (the link read by
// openLink, read again by CountShareDownload, the number taken, then the
// share read again with its files and counts by stillShared) and in
// today's (the link read once, the number taken, stillShared's three
// one-document reads), and the share page's for reference; the owner's
// and the file's reads, the same in both, are left out. Blocks of each
// alternate, so that the machine's load falls on both alike. A
// measurement, not a check: it runs only with DROPP_SHARECOST=ROUNDS
// (e.g. 40), on FerretDB 2 (DROPP_SHARECOST_ENGINE=documentdb, the
// default) or FerretDB 1.24 on PostgreSQL (ferretdb, with the scale
// bench's DROPP_SCALEBENCH_MONGO_URI and DROPP_SCALEBENCH_DB_PIDS), among
// 20,000 other users' files and 1,000 other shares downloaded 4 times each.
func TestShareDownloadCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_SHARECOST")
	seed, _ := measuredEngine(t, "DROPP_SHARECOST_ENGINE")
	s, ctx := seed.s, t.Context()
	files, _ := seedAmongOthers(t, seed, "sharer", 1)
	f := files[20_000]
	now := seedOtherShares(t, s, files[:1000])
	link := Share{ID: newID(), TokenHash: hashSecret("measured"), Owner: f.Owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ctMust(t, "insert share", s.InsertShare(ctx, link, 0))
	read := func() Share {
		sh, err := s.ShareLink(ctx, link.TokenHash, time.Now())
		ctMust(t, "share link", err)
		return sh
	}
	shapes := []costShape{
		{"share page: ShareLink", func() { read() }},
		{"counted download, main: ShareLink, ShareLink, number, findShare", func() {
			read()
			again := read() // main's CountShareDownload read the link again
			for n := again.file(f.ID).Downloads + 1; ; n++ {
				taken, err := s.takeDownloadNumber(ctx, &again, *again.file(f.ID), n)
				ctMust(t, "take number", err)
				if taken {
					break
				}
			}
			_, err := s.findShare(ctx, bson.D{{Key: "_id", Value: again.ID}}, time.Time{}) // main's stillShared
			ctMust(t, "find share", err)
		}},
		{"counted download, now: ShareLink, number, stillShared", func() {
			_, err := s.CountShareDownload(ctx, read(), f.ID, time.Now())
			ctMust(t, "count", err)
		}},
	}
	costs := measureShapes(t, seed, 4, rounds, shapes)
	for i, sh := range shapes {
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f |\n", sh.name, ms(costs[i].cpu), ms(costs[i].wall),
			costs[i].conns, float64(costs[i].cpu)/float64(costs[1].cpu))
	}
}

// TestLinkCountCost measures what the database spends on a link's read
// (the share page) and on a counted download's store calls (the read, the
// number, stillShared) with the link's downloads counted each way
// (docs/scale.md, "A link's downloads, counted"): one $group for the
// share (downloadCounts, main's) and a count command per file
// (countEachFile), for links of 1 to 16 files (FerretDB 1.24: 1 and
// countEachFileUpTo), to set countEachFileUpTo.
// Both go through the same read (readLink: the share, its drop's files,
// their presence, then the counts), and blocks of each alternate, so that
// the machine's load falls on both alike. A measurement, not a check: it
// runs only with DROPP_LINKCOUNT=ROUNDS (e.g. 40), on FerretDB 2
// (DROPP_LINKCOUNT_ENGINE=documentdb, the default) or FerretDB 1.24 on
// PostgreSQL (ferretdb, with the scale bench's DROPP_SCALEBENCH_MONGO_URI
// and DROPP_SCALEBENCH_DB_PIDS), among 20,000 other users' files and
// 1,000 other shares downloaded 4 times each.
func TestLinkCountCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_LINKCOUNT")
	seed, engine := measuredEngine(t, "DROPP_LINKCOUNT_ENGINE")
	sizes := []int{1, 2, 4, 8, 16} // files of a measured link
	if engine == "ferretdb" {
		sizes = []int{1, countEachFileUpTo} // a link's read takes about 0.4 s there
	}
	s, ctx := seed.s, t.Context()
	files, _ := seedAmongOthers(t, seed, "sharer", 16)
	now := seedOtherShares(t, s, files[:1000])
	links := map[int]Share{} // by its number of files, each file downloaded 4 times
	for _, n := range sizes {
		link := Share{ID: newID(), TokenHash: hashSecret(fmt.Sprint("measured-", n)), Owner: "sharer", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		for _, f := range files[20_000 : 20_000+n] {
			link.Files = append(link.Files, ShareFile{FileID: f.ID})
		}
		ctMust(t, "insert share", s.InsertShare(ctx, link, 0))
		for _, f := range link.Files {
			for range 4 {
				_, err := s.CountShareDownload(ctx, link, f.FileID, now)
				ctMust(t, "count", err)
			}
		}
		links[n] = link
	}
	grouped := func(sh Share) (map[string]int64, error) {
		counts, err := s.downloadCounts(ctx, []string{sh.ID})
		return counts[sh.ID], err
	}
	counted := func(sh Share) (map[string]int64, error) { return s.countEachFile(ctx, sh) }
	readLink := func(link Share, count func(Share) (map[string]int64, error)) Share {
		docs, err := s.findShares(ctx, bson.D{{Key: "token_hash", Value: link.TokenHash}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: time.Now()}}}}, 1)
		ctMust(t, "find share", err)
		sh := docs[0].Share
		members, err := s.shareFilesOf(ctx, []string{sh.ID})
		ctMust(t, "share files", err)
		var ids []string
		for _, m := range members[sh.ID] {
			ids = append(ids, m.FileID)
		}
		present, err := s.presentFiles(ctx, sh.Owner, ids)
		ctMust(t, "present files", err)
		sh.Files = nil
		for _, id := range ids {
			if present[id] {
				sh.Files = append(sh.Files, ShareFile{FileID: id})
			}
		}
		counts, err := count(sh)
		ctMust(t, "count downloads", err)
		for i := range sh.Files {
			sh.Files[i].Downloads = counts[sh.Files[i].FileID]
		}
		if len(sh.Files) != len(link.Files) || sh.Files[0].Downloads < 4 {
			t.Fatalf("read %+v of a link of %d files", sh.Files, len(link.Files))
		}
		return sh
	}
	var shapes []costShape
	for _, n := range sizes {
		for _, way := range []struct {
			name  string
			count func(Share) (map[string]int64, error)
		}{{"$group", grouped}, {"count each file", counted}} {
			link := links[n]
			shapes = append(shapes,
				costShape{fmt.Sprintf("%d | share page | %s", n, way.name), func() { readLink(link, way.count) }},
				costShape{fmt.Sprintf("%d | counted download | %s", n, way.name), func() {
					sh := readLink(link, way.count)
					_, err := s.CountShareDownload(ctx, sh, sh.Files[0].FileID, time.Now())
					ctMust(t, "count", err)
				}})
		}
	}
	costs := measureShapes(t, seed, 4, rounds, shapes)
	for i, sh := range shapes {
		// The ratio of each count-each-file shape to its $group twin, two
		// shapes before it.
		ratio := 1.0
		if i%4 >= 2 {
			ratio = float64(costs[i].cpu) / float64(costs[i-2].cpu)
		}
		fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f |\n", sh.name, ms(costs[i].cpu), ms(costs[i].wall), costs[i].conns, ratio)
	}
}

// TestShareFilesHintCost measures what FerretDB 2 spends on shareFilesOf's
// find (a drop's file documents by share_id $in) as the store sends it,
// which DocumentDB plans on the index that starts at file_id, and with a
// hint naming share_id's index, among a small and a large collection of
// other drops' file documents (docs/scale.md, "A counted share
// download"). A measurement, not a check: it runs only with
// DROPP_SHAREFILESHINT=ROUNDS (e.g. 40).
func TestShareFilesHintCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_SHAREFILESHINT")
	seed := newDocDBSeeder(t)
	s, ctx := seed.s, t.Context()
	now := time.Now().Truncate(time.Millisecond)
	added := 0
	addMembers := func(n int) {
		var docs []any
		for i := added; i < added+n; i++ {
			shareID := fmt.Sprint("share-", i/2) // drops of two files
			fileID := fmt.Sprint("file-", i)
			docs = append(docs, shareFile{ID: shareFileID(shareID, fileID), ShareID: shareID, FileID: fileID, Owner: fmt.Sprint("other-", i%1000),
				AddedAt: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		}
		for chunk := range slices.Chunk(docs, 1000) {
			_, err := s.shareFiles.InsertMany(ctx, chunk)
			ctMust(t, "insert", err)
		}
		added += n
	}
	filter := bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: bson.A{"share-7"}}}}}
	shapes := []struct {
		name string
		hint bson.D
	}{{"no hint (main)", nil}, {"hint share_id_1", bson.D{{Key: "share_id", Value: 1}}}}
	run := func(hint bson.D) int64 {
		opts := options.Find()
		if hint != nil {
			opts.SetHint(hint)
		}
		var rows []shareFile
		ctMust(t, "find", s.findAll(ctx, s.shareFiles, filter, opts, &rows))
		return int64(len(rows))
	}
	for _, size := range []int{1000, 100_000} {
		addMembers(size - added)
		for _, sh := range shapes {
			q := planQuery{op: "find", coll: s.shareFiles.Name(), filter: mustRaw(t, filter)}
			if sh.hint != nil {
				q.hint = mustRaw(t, sh.hint)
			}
			t.Logf("%d: %s: %s", size, sh.name, planSummary(explainFind(t, s.shareFiles.Database(), q)))
		}
		measured := make([]countingShape, len(shapes))
		for i, sh := range shapes {
			measured[i] = countingShape{fmt.Sprintf("%d | %s", size, sh.name), func() int64 { return run(sh.hint) }}
		}
		printCounting(t, seed, 4, rounds, measured)
	}
}

// mustRaw marshals d.
func mustRaw(t *testing.T, d bson.D) bson.Raw {
	raw, err := bson.Marshal(d)
	ctMust(t, "marshal", err)
	return raw
}

// TestCursorShapeCost measures, on FerretDB 2, the reads
// TestRequestsLeaveNoCursor found leaving a cursor: each in main's shape
// (a sorted find under no singleBatch, or sumFiles' $group) and as the
// store sends it now, per call: database CPU ms, wall ms and PostgreSQL
// connections FerretDB opened. A measurement, not a check: it runs only
// with DROPP_CURSORSHAPE=ROUNDS (e.g. 40), on 20,000 other users' files.
func TestCursorShapeCost(t *testing.T) {
	rounds := measurementRounds(t, "DROPP_CURSORSHAPE")
	seed := newDocDBSeeder(t)
	s, ctx := seed.s, t.Context()
	_, base := seedAmongOthers(t, seed, "user-100", 100)
	// 200 users with a ledger of 5 entries each; "user-100" has 5 tokens,
	// 3 passkeys and a webhook with 100 deliveries.
	later := time.Now().Add(time.Hour)
	for i := range 200 {
		u, err := s.UpsertUser(ctx, User{Issuer: "test", Subject: fmt.Sprint("subject-", i), Email: fmt.Sprintf("u%03d@example.com", 199-i)})
		ctMust(t, "upsert user", err)
		for seq := range int64(5) {
			ctMust(t, "usage", s.insertUsageEntry(ctx, usageEntry{ID: usageEntryID(u.ID, seq), Owner: u.ID, Seq: seq,
				Bytes: seq * 100, Files: seq, Op: fmt.Sprint("op-", u.ID, seq), At: base}))
		}
	}
	for i := range 5 {
		ctMust(t, "token", s.InsertCredential(ctx, Credential{Hash: hashSecret(fmt.Sprint("pat-", i)), Kind: kindPAT, UserID: "user-100",
			CreatedAt: base.Add(time.Duration(i) * time.Second), ExpiresAt: later, TokenID: fmt.Sprint("token-", i), Name: "ci", Scope: "files:read"}))
	}
	for i := range 3 {
		ctMust(t, "passkey", s.InsertPasskey(ctx, Passkey{ID: fmt.Sprint("cred-", i), UserID: "user-100", PublicKey: []byte{0xa0},
			Alg: coseES256, CreatedAt: base.Add(time.Duration(i) * time.Second)}))
	}
	var deliveries []WebhookDelivery
	for i := range 100 {
		at := base.Add(time.Duration(i) * time.Second)
		deliveries = append(deliveries, WebhookDelivery{ID: fmt.Sprint("delivery-", i), WebhookID: "hook-1", Owner: "user-100",
			Event: eventFileCompleted, Payload: "{}", CreatedAt: at, Status: deliveryDelivered, NextAt: at, ExpiresAt: later})
	}
	ctMust(t, "deliveries", s.InsertDeliveries(ctx, deliveries))

	sortedFind := func(c *mongo.Collection, filter, sort bson.D, limit int64) func() int64 {
		return func() int64 {
			var rows []bson.Raw
			ctMust(t, "find", s.findAll(ctx, c, filter, options.Find().SetSort(sort).SetLimit(limit), &rows))
			return int64(len(rows))
		}
	}
	count := func(n int, err error) int64 {
		ctMust(t, "call", err)
		return int64(n)
	}
	tokens := bson.D{{Key: "user_id", Value: "user-100"}, {Key: "kind", Value: kindPAT}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: time.Now()}}}}
	byCreation := bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}
	shapes := []countingShape{
		{"a webhook's deliveries: sorted, limit 50 (main)", sortedFind(s.deliveriesColl(), bson.D{{Key: "webhook_id", Value: "hook-1"}},
			bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}, deliveriesListed)},
		{"a webhook's deliveries: ListDeliveries (onePage)", func() int64 { return count(len2(s.ListDeliveries(ctx, "hook-1", deliveriesListed))) }},
		{"a user's tokens: sorted (main)", sortedFind(s.creds, tokens, bson.D{{Key: "created_at", Value: 1}, {Key: "token_id", Value: 1}}, 0)},
		{"a user's tokens: ListTokens (sorted here)", func() int64 { return count(len2(s.ListTokens(ctx, "user-100", time.Now()))) }},
		{"a user's passkeys: sorted (main)", sortedFind(s.passkeysColl(), bson.D{{Key: "user_id", Value: "user-100"}}, byCreation, 0)},
		{"a user's passkeys: UserPasskeys (sorted here)", func() int64 { return count(len2(s.UserPasskeys(ctx, "user-100"))) }},
		{"200 users: sorted by email (main)", sortedFind(s.users, bson.D{}, bson.D{{Key: "email", Value: 1}, {Key: "_id", Value: 1}}, 0)},
		{"200 users: ListUsers (sorted here)", func() int64 { return count(len2(s.ListUsers(ctx))) }},
		{"1,000 ledger entries: sorted by owner, seq (main)", sortedFind(s.usageColl(), bson.D{},
			bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: -1}}, 0)},
		{"1,000 ledger entries: ledgerHeads (highest seq here)", func() int64 {
			heads := map[string]Usage{}
			ctMust(t, "ledger heads", s.ledgerHeads(ctx, heads))
			return int64(len(heads))
		}},
		{"a ledger's start, 100 files: sumFiles ($group; main)", func() int64 {
			u, err := s.sumFiles(ctx, "user-100", true)
			return count(int(u.Files), err)
		}},
		{"a ledger's start, 100 files: usageFromFiles (one find)", func() int64 {
			u, err := s.usageFromFiles(ctx, "user-100", true)
			return count(int(u.Files), err)
		}},
	}
	fmt.Println("| call | documents | database CPU ms | wall ms | connections |")
	printCounting(t, seed, 1, rounds, shapes)
}

// seedAmongOthers stores 20,000 files of 1,000 other users, then n of
// owner, each a millisecond after the one before from a year ago, and
// answers them all (the owner's last) and the first one's time.
func seedAmongOthers(t *testing.T, seed *docDBSeeder, owner string, n int) ([]*File, time.Time) {
	base := time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Millisecond)
	files := make([]*File, 20_000+n)
	for i := range files {
		files[i] = scaleFile(fmt.Sprint("other-", i%1000), base.Add(time.Duration(i)*time.Millisecond), i)
		if i >= 20_000 {
			files[i].Owner = owner
		}
	}
	seed.add(t, files)
	return files, base
}

// seedOtherShares shares each of files (other users') on a link of its
// own, downloaded 4 times, and answers the time the links were made.
func seedOtherShares(t *testing.T, s *mongoStore, files []*File) time.Time {
	now := time.Now().Truncate(time.Millisecond)
	for i, other := range files {
		sh := Share{ID: newID(), TokenHash: hashSecret(fmt.Sprint("other-share-", i)), Owner: other.Owner, FileID: other.ID,
			Files: []ShareFile{{FileID: other.ID}}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "insert share", s.InsertShare(t.Context(), sh, 0))
		for range 4 {
			_, err := s.CountShareDownload(t.Context(), sh, other.ID, now)
			ctMust(t, "count", err)
		}
	}
	return now
}

// measuredEngine opens the engine a measurement runs on, which the
// environment variable name chooses: FerretDB 2 ("documentdb", the
// default) or FerretDB 1.24 on PostgreSQL ("ferretdb", with the scale
// bench's DROPP_SCALEBENCH_MONGO_URI and DROPP_SCALEBENCH_DB_PIDS).
func measuredEngine(t *testing.T, name string) (*docDBSeeder, string) {
	switch engine := cmp.Or(os.Getenv(name), "documentdb"); engine {
	case "documentdb":
		return newDocDBSeeder(t), engine
	case "ferretdb":
		return newFerretPGSeeder(t), engine
	default:
		t.Fatalf("%s=%s: documentdb or ferretdb", name, engine)
		return nil, ""
	}
}

// costShape is one way of doing a measured thing: its name in the table,
// and one run of it.
type costShape struct {
	name string
	run  func()
}

// shapeCost is what one run of a shape cost, on average: the database's
// CPU, the wall time, and the PostgreSQL connections FerretDB opened
// (none counted where the rig has no PostgreSQL to ask: FerretDB 1.24).
type shapeCost struct {
	cpu, wall time.Duration
	conns     float64
}

// measureShapes runs each shape once untimed, so that the database has
// planned it, then rounds times in each of blocks blocks, the shapes
// taking turns within a block so that a change in the machine's load
// falls on each alike, and answers what a run of each cost.
func measureShapes(t *testing.T, seed *docDBSeeder, blocks, rounds int, shapes []costShape) []shapeCost {
	connections := func() int { return 0 }
	if seed.rig.psql != nil {
		connections = backendsOpened(t, seed.rig)
	}
	for _, sh := range shapes {
		sh.run()
	}
	totals := make([]struct {
		cpu, wall time.Duration
		conns     int
	}, len(shapes))
	for range blocks {
		for i, sh := range shapes {
			conns, cpu, wall := connections(), seed.dbCPU(), time.Now()
			for range rounds {
				sh.run()
			}
			totals[i].cpu += seed.dbCPU() - cpu
			totals[i].wall += time.Since(wall)
			time.Sleep(200 * time.Millisecond) // the pool's replacements logged
			totals[i].conns += connections() - conns
		}
	}
	runs := blocks * rounds
	costs := make([]shapeCost, len(shapes))
	for i, total := range totals {
		costs[i] = shapeCost{total.cpu / time.Duration(runs), total.wall / time.Duration(runs), float64(total.conns) / float64(runs)}
	}
	return costs
}

// countingShape is a measured shape whose run answers how many documents
// it read, or what it counted.
type countingShape struct {
	name string
	run  func() int64
}

// printCounting measures the shapes (measureShapes) and prints a row for
// each: its name, what its last run counted, and the database's CPU, the
// wall time and the connections opened per run.
func printCounting(t *testing.T, seed *docDBSeeder, blocks, rounds int, shapes []countingShape) {
	counted := make([]int64, len(shapes))
	runs := make([]costShape, len(shapes))
	for i, sh := range shapes {
		runs[i] = costShape{sh.name, func() { counted[i] = sh.run() }}
	}
	for i, c := range measureShapes(t, seed, blocks, rounds, runs) {
		fmt.Printf("| %s | %d | %.1f | %.1f | %.2f |\n", shapes[i].name, counted[i], ms(c.cpu), ms(c.wall), c.conns)
	}
}

// len2 is the length of a list a store call answered, and its error.
func len2[T any](list []T, err error) (int, error) { return len(list), err }
