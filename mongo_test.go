package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

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
	cmds []string // "find credentials", "insert files"...
}

func (l *commandLog) started(_ context.Context, e *event.CommandStartedEvent) {
	if e.DatabaseName != l.db {
		return
	}
	coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
	l.mu.Lock()
	l.cmds = append(l.cmds, e.CommandName+" "+coll)
	l.mu.Unlock()
}

// take returns the commands recorded since the last take.
func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds := l.cmds
	l.cmds = nil
	return cmds
}

// TestRequestRoundTrips: the database round trips of the hot requests on
// MongoDB (docs/performance.md lists them and says why). A bearer token's
// request makes one credential lookup, which also says whether its user
// is disabled (Credential.UserDisabled), not a second read of the user; a
// trusted proxy's user is read at every request (checkEnabled). Then the
// request's own command: one each for a download, an upload and a list.
func TestRequestRoundTrips(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, proxyAuthEnv())
	a := apiTester{e}
	token := e.newUser("trips")
	userID := a.userID(token)
	f, _ := a.stored(token, map[string]any{"filename": "trips.txt", "size": 5}, []byte("trips"))

	s := e.srv.store.(*mongoStore)
	log := &commandLog{db: s.files.Database().Name()}
	monitored, err := mongo.Connect(options.Client().ApplyURI(requireRig(t).mongoURI).SetMonitor(&event.CommandMonitor{Started: log.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { monitored.Disconnect(context.Background()) })
	d := monitored.Database(log.db)
	s.files, s.creds, s.users = d.Collection(s.files.Name()), d.Collection(s.creds.Name()), d.Collection(s.users.Name())

	upload := map[string]any{"filename": "new.txt", "size": 3}
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
	}
	for _, c := range cases {
		log.take()
		resp, body := e.do(c.req)
		if resp.StatusCode != c.status {
			t.Fatalf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		if got := strings.Join(log.take(), ", "); got != c.want {
			t.Errorf("%s: sent %q, want %q", c.name, got, c.want)
		}
	}
}
