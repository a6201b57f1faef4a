package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

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

// commandLog records the commands a client sends to one database.
type commandLog struct {
	db   string
	mu   sync.Mutex
	cmds []bson.Raw
}

func (l *commandLog) started(_ context.Context, e *event.CommandStartedEvent) {
	if e.DatabaseName != l.db {
		return
	}
	l.mu.Lock()
	l.cmds = append(l.cmds, append(bson.Raw(nil), e.Command...))
	l.mu.Unlock()
}

// take returns the commands recorded since the last take.
func (l *commandLog) take() []bson.Raw {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds := l.cmds
	l.cmds = nil
	return cmds
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
	// counts; its owner; each file): the only $group of a share's requests.
	openLink := "find shares, find share_files, find files, aggregate share_downloads, find users, find files"
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
