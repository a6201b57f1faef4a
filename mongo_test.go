package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// poolClearedError stands in for the driver's unexported error of an
// operation that found its connection pool cleared after the server died:
// it says only that it is retryable.
type poolClearedError struct{}

func (poolClearedError) Error() string   { return "connection pool for 127.0.0.1:1 was cleared" }
func (poolClearedError) Retryable() bool { return true }

// notRetryableError is a driver error that must stay an internal error.
type notRetryableError struct{}

func (notRetryableError) Error() string   { return "bad command" }
func (notRetryableError) Retryable() bool { return false }

// TestMongoErrRetryableIsUnavailable: a retryable driver error (seen after
// SIGKILL of the database under load) is a 503, not a 500.
func TestMongoErrRetryableIsUnavailable(t *testing.T) {
	t.Parallel()
	err := mongoErr("find credential", fmt.Errorf("wrapped: %w", poolClearedError{}))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("pool cleared: %v, want ErrUnavailable", err)
	}
	if err := mongoErr("find credential", notRetryableError{}); errors.Is(err, ErrUnavailable) {
		t.Fatalf("a non-retryable error became ErrUnavailable: %v", err)
	}
}

// commandLog records the commands a client sends to one database, each
// with the id of the HTTP request whose handler sent it (its context's
// requestInfo; "" for work outside a request: background workers, a
// test's own store calls).
type commandLog struct {
	db       string
	mu       sync.Mutex
	cmds     []bson.Raw
	requests []string // requests[i] sent cmds[i]
}

func (l *commandLog) started(ctx context.Context, e *event.CommandStartedEvent) {
	if e.DatabaseName != l.db {
		return
	}
	l.mu.Lock()
	l.cmds = append(l.cmds, append(bson.Raw(nil), e.Command...))
	l.requests = append(l.requests, requestInfoFrom(ctx).id)
	l.mu.Unlock()
}

// take returns the commands recorded since the last take.
func (l *commandLog) take() []bson.Raw {
	cmds, _ := l.takeWithRequests()
	return cmds
}

// takeWithRequests returns the commands recorded since the last take, and
// the id of the request that sent each.
func (l *commandLog) takeWithRequests() (cmds []bson.Raw, requests []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds, requests = l.cmds, l.requests
	l.cmds, l.requests = nil, nil
	return cmds, requests
}

// commandNames names each command with its collection: "find credentials",
// "insert files"...
func commandNames(cmds []bson.Raw) []string {
	names := make([]string, len(cmds))
	for i, cmd := range cmds {
		first := cmd.Index(0)
		coll, _ := first.Value().StringValueOK()
		names[i] = first.Key() + " " + coll
	}
	return names
}

// watchStore points s's collections at a client of the same database
// whose commands go to log, for a test to see what s sends.
func watchStore(t *testing.T, s *mongoStore, uri string, log *commandLog) {
	t.Helper()
	log.db = s.files.Database().Name()
	monitored, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(&event.CommandMonitor{Started: log.started}))
	ctMust(t, "connect", err)
	t.Cleanup(func() { monitored.Disconnect(context.Background()) })
	d := monitored.Database(log.db)
	useClient(s, d)
	s.shareFiles = d.Collection(s.shareFiles.Name())
}

// useClient points the store's collections at d (another client's handle
// on the same database, e.g. one with a command monitor). The collections
// derived from files (completions, usage, invitations, requests, webhooks)
// follow it. A drop's files (shareFiles) do not: FerretDB 2 reads them by
// share_id from the index that starts at file_id, which
// TestHotQueriesUseIndexes would refuse; a hint on share_id's index costs
// more, and the plan's cost does not grow with the collection
// (TestShareFilesHintCost, docs/scale.md). watchStore adds them.
func useClient(s *mongoStore, d *mongo.Database) {
	s.files, s.creds, s.users = d.Collection(s.files.Name()), d.Collection(s.creds.Name()), d.Collection(s.users.Name())
	s.authStates, s.authCodes = d.Collection(s.authStates.Name()), d.Collection(s.authCodes.Name())
	s.shares, s.shareDownloads = d.Collection(s.shares.Name()), d.Collection(s.shareDownloads.Name())
}

// TestRequestRoundTrips: the database round trips of the hot requests on
// MongoDB (docs/performance.md lists them and says why). A bearer token's
// request makes one credential lookup, which also says whether its user
// is disabled (Credential.UserDisabled), not a second read of the user; a
// trusted proxy's user is read at every request (checkEnabled). Then the
// request's own command: one each for a download, an upload and a list.
// A share link's request spends its shared rate budget, then reads the
// link (openLink); a counted download then takes its number and checks
// the share, its file in it and the file (stillShared), and looks for the
// owner's webhooks: it reads the share by its token once, and sends one
// aggregate, not three (before, CountShareDownload read the link again and
// stillShared read it with its counts).
func TestRequestRoundTrips(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, proxyAuthEnv())
	a := apiTester{e}
	token := e.newUser("trips")
	userID := a.userID(token)
	f, _ := a.stored(token, map[string]any{"filename": "trips.txt", "size": 5}, []byte("trips"))
	shared := answerMember[shareOut](a, request{method: "POST", path: "/files/" + f.ID + "/shares", token: token}, http.StatusCreated, "share")
	link := shared.URL[strings.Index(shared.URL, "/s/"):]
	asJSON := map[string]string{"Accept": "application/json"}

	s := e.srv.store.(*mongoStore)
	log := new(commandLog)
	watchStore(t, s, requireRig(t).mongoURI, log)

	upload := map[string]any{"filename": "new.txt", "size": 3}
	// A link's read (ShareLink, with its files, their presence and their
	// file's count, a count command: fileDownloads; its owner; each file).
	openLink := "find shares, find share_files, find files, count share_downloads, find users, find files"
	cases := []struct {
		name   string
		req    request
		status int
		want   string // the commands, in order
	}{
		{"download, bearer", request{method: "GET", path: "/download/" + f.ID, token: token}, 200, "find credentials, find files"},
		{"upload, bearer", request{method: "POST", path: "/upload/", token: token, body: upload}, 201, "find credentials, insert files"},
		{"list, bearer", request{method: "GET", path: "/list/", token: token}, 200, "find credentials, find files"},
		{"download, proxy", request{method: "GET", path: "/download/" + f.ID, header: map[string]string{"X-User-Id": userID}}, 200, "find users, find files"},
		{"upload, proxy", request{method: "POST", path: "/upload/", header: map[string]string{"X-User-Id": userID}, body: upload}, 201, "find users, insert files"},
		{"share page", request{method: "GET", path: link, header: asJSON}, 200, "insert rate_spends, " + openLink},
		{"share download, counted", request{method: "POST", path: link + "/download", header: asJSON}, 200,
			"insert rate_spends, " + openLink + ", insert share_downloads, find shares, find share_files, find files, find webhooks"},
	}
	for _, c := range cases {
		log.take()
		resp, body := e.do(c.req)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		if got := strings.Join(commandNames(log.take()), ", "); got != c.want {
			t.Errorf("%s: sent %q, want %q", c.name, got, c.want)
		}
	}
}

// TestRequestsLeaveNoCursor: no request leaves FerretDB 2 a cursor to
// close (issue 23 §3, §5). FerretDB 2 serves a find with a sort, a skip or
// a limit that is not single-batch, and every aggregate, from a persistent
// cursor, then closes that PostgreSQL connection: about 20 ms of database
// CPU per command (onePage, countOf; docs/scale.md). A tour of the API
// through real requests, as users make them (the contract suite's, which
// calls every operation, on MongoDB with a quota set, with OpenID sign-in
// and with accounts; then deep pages, ?status=, a webhook that receives
// events, a counted download), on the MongoDB rig. Every command a
// request's handler sent (its context carries the request's id, matched to
// the route by the answer's X-Request-Id) is held to: a find with a sort,
// skip or limit is singleBatch; no getMore, no killCursors; an aggregate
// only where docs/scale.md keeps one (allowedAggregates). Commands sent
// outside any request's context (the sweeper, the webhook delivery worker,
// index creation, the test's own store calls) are not a request's, and are
// only counted.
func TestRequestsLeaveNoCursor(t *testing.T) {
	t.Parallel()
	quota := map[string]string{"ADMIN_EMAILS": "boss@example.com", "QUOTA_BYTES_PER_USER": "10000000", "QUOTA_FILES_PER_USER": "1000"}
	t.Run("oidc", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, quota)
		w := watchRequests(t, e)
		checkContract(t, e, false)
		cursorTour(t, e)
		w.check(t)
	})
	t.Run("accounts", func(t *testing.T) {
		t.Parallel()
		e := accountsContractEnv(t, "mongodb")
		w := watchRequests(t, e)
		checkContract(t, e, false)
		// A passkey's registration lists the user's passkeys (to exclude them).
		user := contractUser(e, "keys")
		resp, body := e.do(request{method: "POST", path: "/auth/passkey/register/options", token: user})
		wantStatus(t, resp, body, http.StatusOK)
		w.check(t)
	})
}

// allowedAggregates are the aggregates a request may send, by collection
// and the route that sends it ("" for any route): the ones docs/scale.md
// keeps because no MongoDB shape of them is single-batch.
var allowedAggregates = map[string]map[string]bool{
	// Shares' downloads counted by file in one $group (downloadCounts): the
	// lists of shares and drops, and a link of more than countEachFileUpTo
	// files (its page, a counted download); a smaller link sends a count
	// per file (TestCountsAreCountCommands).
	"share_downloads": {"": true},
	// /me's sum of the charged bytes above usageReadLimit files (sumCharged),
	// without a quota. (A ledger's start sums them too above that many files,
	// on whichever request is the owner's first with a quota; the tour's
	// owners have fewer, and it sends none.)
	"files": {"GET /me": true},
}

// requestWatch ties the commands a store sends to the requests whose
// handlers sent them.
type requestWatch struct {
	log    *commandLog
	mux    *http.ServeMux // the route table's patterns, to name a request's route
	base   http.RoundTripper
	mu     sync.Mutex
	routes map[string]string // X-Request-Id → route pattern
}

// watchRequests points e's store at a monitored client and e's client at a
// transport that notes each answer's request id and route.
func watchRequests(t *testing.T, e *testEnv) *requestWatch {
	t.Helper()
	w := &requestWatch{log: new(commandLog), mux: http.NewServeMux(), base: e.client.Transport, routes: map[string]string{}}
	if w.base == nil {
		w.base = http.DefaultTransport
	}
	for _, p := range routeTablePatterns(t) {
		w.mux.Handle(p, http.NotFoundHandler())
	}
	watchStore(t, e.srv.store.(*mongoStore), requireRig(t).mongoURI, w.log)
	e.client.Transport = w
	return w
}

func (w *requestWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		_, route := w.mux.Handler(r)
		w.mu.Lock()
		w.routes[id] = cmp.Or(route, r.Method+" unmatched")
		w.mu.Unlock()
	}
	return resp, err
}

// check holds every command a request sent to the rules above, and logs
// the aggregates by route.
func (w *requestWatch) check(t *testing.T) {
	t.Helper()
	cmds, requests := w.log.takeWithRequests()
	w.mu.Lock()
	defer w.mu.Unlock()
	aggregates := map[string]int{}
	checked, outside := 0, 0
	for i, cmd := range cmds {
		if requests[i] == "" {
			outside++
			continue
		}
		checked++
		route := cmp.Or(w.routes[requests[i]], "a request the tour did not send ("+requests[i]+")")
		name := commandNames(cmds[i : i+1])[0]
		_, coll, _ := strings.Cut(name, " ")
		switch {
		case strings.HasPrefix(name, "getMore") || strings.HasPrefix(name, "killCursors"):
			t.Errorf("%s sent %s: a cursor left open: %s", route, name, cmd)
		case strings.HasPrefix(name, "find ") && leavesCursor(cmd):
			t.Errorf("%s sent a find with a sort, skip or limit, not singleBatch: %s", route, cmd)
		case strings.HasPrefix(name, "aggregate "):
			aggregates[route+": "+name]++
			if allowed := allowedAggregates[coll]; !allowed[""] && !allowed[route] {
				t.Errorf("%s sent an aggregate no one allowed (allowedAggregates): %s", route, cmd)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d commands were sent by requests (%d outside any): the tour's requests were not seen", checked, outside)
	}
	t.Logf("%d commands sent by requests, %d outside any request; aggregates by route: %v", checked, outside, aggregates)
}

// leavesCursor says whether a find command has a sort, a skip or a limit
// and is not singleBatch: what FerretDB 2 serves from a persistent cursor.
func leavesCursor(find bson.Raw) bool {
	if single, ok := find.Lookup("singleBatch").BooleanOK(); ok && single {
		return false
	}
	for _, key := range []string{"sort", "skip", "limit"} {
		if _, err := find.LookupErr(key); err == nil {
			return true
		}
	}
	return false
}

// cursorTour is what the contract suite leaves out: pages past the first
// (files, ?status=, drops), a quota's reads, and events with a webhook to
// receive them (file completed, share downloaded), then its deliveries.
func cursorTour(t *testing.T, e *testEnv) {
	a := apiTester{e}
	user := e.newUser("tour")
	hook := answerMember[webhookOut](a, request{method: "POST", path: "/webhooks", token: user,
		body: map[string]any{"url": "https://hooks.example/tour", "events": webhookEvents}}, http.StatusCreated, "webhook")
	var files []fileOut
	for i := range 4 {
		f, _ := a.stored(user, map[string]any{"filename": fmt.Sprintf("tour%d.txt", i), "size": 4}, []byte("tour"))
		files = append(files, f)
	}
	a.create(user, map[string]any{"filename": "pending.txt", "size": 4})
	for _, query := range []string{"limit=2", "limit=2&status=complete", "limit=1&status=pending"} {
		first := a.list(user, query)
		if first.NextCursor != nil {
			a.list(user, query+"&cursor="+url.QueryEscape(*first.NextCursor))
		}
	}
	for _, f := range files[:2] {
		answerMember[shareOut](a, request{method: "POST", path: "/shares", token: user, body: map[string]any{"file_ids": []string{f.ID}}}, http.StatusCreated, "share")
	}
	resp, body := e.do(request{method: "GET", path: "/shares?limit=1", token: user})
	wantStatus(t, resp, body, http.StatusOK)
	page := decode[struct {
		Shares     []shareOut `json:"shares"`
		NextCursor *string    `json:"next_cursor"`
	}](t, body)
	if page.NextCursor == nil {
		t.Fatalf("GET /shares?limit=1 of 2 drops: no next page: %s", body)
	}
	answerMember[[]shareOut](a, request{method: "GET", path: "/shares?limit=1&cursor=" + url.QueryEscape(*page.NextCursor), token: user}, http.StatusOK, "shares")
	shared := answerMember[shareOut](a, request{method: "POST", path: "/files/" + files[0].ID + "/shares", token: user, body: map[string]any{"max_downloads": 3}}, http.StatusCreated, "share")
	link := strings.TrimPrefix(shared.URL, e.URL)
	resp, body = e.do(request{method: "POST", path: link + "/download", header: map[string]string{"Accept": "application/json"}})
	wantStatus(t, resp, body, http.StatusOK)
	answerMember[[]shareOut](a, request{method: "GET", path: "/files/" + files[0].ID + "/shares", token: user}, http.StatusOK, "shares")
	resp, body = e.do(request{method: "GET", path: "/me", token: user})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = e.do(request{method: "GET", path: "/webhooks/" + hook.ID + "/deliveries", token: user})
	wantStatus(t, resp, body, http.StatusOK)
	resp, body = e.do(request{method: "DELETE", path: "/shares/" + page.Shares[0].ID, token: user})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.do(request{method: "DELETE", path: "/files/" + files[3].ID, token: user})
	wantStatus(t, resp, body, http.StatusNoContent)
}

// TestSortedInDropp: the lists read unsorted and sorted in Dropp (so that
// FerretDB 2 keeps its connection, TestRequestsLeaveNoCursor) keep the
// order the database's sort gave: tokens, passkeys and webhooks oldest
// first, then by id (two made in the same millisecond), users by email,
// and each owner's ledger head at its highest sequence number, each stored
// in another order than the one answered.
func TestSortedInDropp(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	ctx, now := t.Context(), ctNow()
	stored := []struct {
		second int
		name   string
	}{{2, "2"}, {1, "1b"}, {0, "0"}, {1, "1a"}} // 1a and 1b: the same time, the higher id stored first
	for _, e := range stored {
		at := now.Add(time.Duration(e.second) * time.Second)
		ctMust(t, "token", s.InsertCredential(ctx, Credential{Hash: ctNewID(), Kind: kindPAT, UserID: "sorted", TokenID: "token-" + e.name,
			CreatedAt: at, ExpiresAt: now.Add(time.Hour)}))
		ctMust(t, "passkey", s.InsertPasskey(ctx, Passkey{ID: "cred-" + e.name, UserID: "sorted", CreatedAt: at}))
		ctMust(t, "webhook", s.InsertWebhook(ctx, Webhook{ID: "hook-" + e.name, Owner: "sorted", URL: "https://hooks.example/" + e.name,
			Events: []string{eventShareDownloaded}, Secret: "whsec_x", CreatedAt: at}))
		_, err := s.UpsertUser(ctx, User{Issuer: "test", Subject: "sorted-" + e.name, Email: "u" + e.name + "@example.com"})
		ctMust(t, "user", err)
	}
	for _, seq := range []int64{2, 0, 1} {
		ctMust(t, "usage", s.insertUsageEntry(ctx, usageEntry{ID: usageEntryID("sorted", seq), Owner: "sorted", Seq: seq,
			Bytes: seq, Files: seq, Op: fmt.Sprint("sorted-", seq), At: now}))
	}
	tokens, err := s.ListTokens(ctx, "sorted", now)
	ctMust(t, "list tokens", err)
	passkeys, err := s.UserPasskeys(ctx, "sorted")
	ctMust(t, "passkeys", err)
	hooks, err := s.ListWebhooks(ctx, "sorted")
	ctMust(t, "webhooks", err)
	hooksFor, err := s.WebhooksFor(ctx, "sorted", eventShareDownloaded)
	ctMust(t, "webhooks for an event", err)
	users, err := s.ListUsers(ctx)
	ctMust(t, "users", err)
	heads := map[string]Usage{}
	ctMust(t, "ledger heads", s.ledgerHeads(ctx, heads))
	hookIDs := func(h Webhook) string { return h.ID }
	got := []string{
		strings.Join(mapSlice(tokens, func(c Credential) string { return c.TokenID }), " "),
		strings.Join(mapSlice(passkeys, func(p Passkey) string { return p.ID }), " "),
		strings.Join(mapSlice(hooks, hookIDs), " "),
		strings.Join(mapSlice(hooksFor, hookIDs), " "),
		strings.Join(mapSlice(users, func(u User) string { return u.Email }), " "),
	}
	want := []string{"token-0 token-1a token-1b token-2", "cred-0 cred-1a cred-1b cred-2", "hook-0 hook-1a hook-1b hook-2",
		"hook-0 hook-1a hook-1b hook-2", "u0@example.com u1a@example.com u1b@example.com u2@example.com"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if heads["sorted"] != (Usage{Bytes: 2, Files: 2}) {
		t.Errorf("ledger head %+v, want the entry of seq 2", heads["sorted"])
	}
}

// mapSlice is f of each element of list.
func mapSlice[T any](list []T, f func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = f(v)
	}
	return out
}
