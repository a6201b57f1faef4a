package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go/logging"
)

// newLogHandler is the handler LOG_FORMAT names: "text" (slog's key=value
// lines) or "json" (one object per line, for log shippers).
func newLogHandler(format string, w io.Writer) (slog.Handler, error) {
	switch format {
	case "", "text":
		return slog.NewTextHandler(w, nil), nil
	case "json":
		return slog.NewJSONHandler(w, nil), nil
	}
	return nil, fmt.Errorf("want text or json, got %q", format)
}

// newLogger is runDropp's logger. It is made before the configuration is read
// (so that warnings about misspelt settings are logged), hence an unknown
// LOG_FORMAT falls back to text here and loadConfig reports it.
func newLogger(format string, w io.Writer) *slog.Logger {
	h, err := newLogHandler(format, w)
	if err != nil {
		h = slog.NewTextHandler(w, nil)
	}
	return slog.New(h)
}

// smithyLogger passes the AWS SDK's own messages (retries, clock skew,
// response checksum warnings) to Dropp's logger, so they arrive in
// LOG_FORMAT with the rest rather than as raw lines on stderr.
type smithyLogger struct{ log *slog.Logger }

// Logf implements logging.Logger: the SDK's WARN is a warning, DEBUG a debug line.
func (l smithyLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelWarn
	if c == logging.Debug {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}

// requestInfo is what the logging middleware learns about a request from
// the handlers below it (the user, once authenticated).
type requestInfo struct {
	id  string
	who principal
}

// requestInfoKey is the context key of a request's *requestInfo.
type requestInfoKey struct{}

// requestInfoFrom returns the request's info, or a blank one for a request
// that did not pass through logRequests (a handler called directly), so
// callers never check for nil.
func requestInfoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	return sr.ResponseWriter.Write(b)
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// loggedRequest is what logRequests keeps for one request, in a single
// allocation: the info handlers fill in, the status recorder, the request
// id header's value, and the context that carries the info to the handlers
// (it is that context itself, instead of a context.WithValue around it).
type loggedRequest struct {
	context.Context // the request's own
	info            requestInfo
	rec             statusRecorder
	idHeader        [1]string
	db              dbTicket // its standing at the database's gate (dbgate.go)
}

// Value answers requestInfoKey with the request's info, dbTicketKey with
// its ticket, and leaves every other key to the request's own context.
func (l *loggedRequest) Value(key any) any {
	switch key {
	case requestInfoKey{}:
		return &l.info
	case dbTicketKey{}:
		return &l.db
	}
	return l.Context.Value(key)
}

// dbTicket is a request's standing at the database's gate (dbgate.go), or
// an enclosing background call's: whether one of its calls got through,
// and how many of its calls are in flight now. It travels with the
// request's other records, so the log needs nothing of the gate.
type dbTicket struct {
	admitted atomic.Bool
	inFlight atomic.Int32
}

// dbTicketKey is the context key of a request's *dbTicket (loggedRequest
// answers it, above).
type dbTicketKey struct{}

// audit writes one log line per administrator action: who, what, on whom.
func audit(log *slog.Logger, r *http.Request, admin User, action string, target User, extra ...any) {
	args := append([]any{
		"actor", admin.ID, "actor_email", admin.Email, "action", action,
		"target", target.ID, "target_email", target.Email, "request_id", requestInfoFrom(r.Context()).id,
	}, extra...)
	log.Info("audit", args...)
}

// principal is who a request acts for, and by which credential.
type principal struct {
	userID string
	kind   string    // kindBearer, kindPAT, kindSession or kindProxy
	hash   string    // the stored hash of the bearer token or session; "" for kindProxy
	scope  string    // a personal access token's scopes, space-separated; "" for the other kinds
	issued time.Time // when the credential was issued; zero for kindProxy
}
