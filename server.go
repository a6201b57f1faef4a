package main

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// server holds everything a request needs; it is built once by newServer
// and shared by all requests.
type server struct {
	cfg     *config
	log     *slog.Logger
	store   Store
	objects ObjectStore
	signer  *cookieSigner
	csrf    *http.CrossOriginProtection
	now     func() time.Time
	signIn  *signIn     // sign-in flows, see oauth.go
	shares  *shareLinks // share links' page and rate limit, see shares.go
	links   *linkGuard  // protected links' passwords, see linkprotect.go
	metrics *metrics
	handler http.Handler
	// publicURL is the base URL clients reach us at, fixed at start (see
	// publicBaseURL); "" with local sign-in and no PUBLIC_URL.
	publicURL string
	adminView *adminPageView // admin.go
	seen      lastSeen       // when this instance last wrote each user's last_seen_at
	joining   keyedLocks     // multipart files this instance is completing (multipart.go)
	// page is the web page at "/" and its assets, see page.go.
	page     *appPage
	webhooks *webhookSender // webhook_delivery.go
	// requests is the file request page and its rate limit (requests.go).
	requests *requestLinks
}

// ServeHTTP sends every request through logging and panic recovery to
// the routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// renderHTML executes a page's template into a buffer first, so a
// template error becomes a clean 500 instead of half a page. Every HTML
// page is written by it.
func (s *server) renderHTML(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.Error("render page", "template", t.Name(), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// failure is how an error from a backend is answered: one status, and the
// words each kind of client gets for it.
type failure struct {
	status  int
	code    string // the JSON API's error code
	message string // the JSON API's message
	page    string // what an HTML error page tells a person
}

// setRetryAfter adds Retry-After to the answer to err when the server shed
// the request (dbgate.go): it will likely take it by then. Every writer of
// classify's answer calls it.
func setRetryAfter(w http.ResponseWriter, err error) {
	if errors.Is(err, errDBBusy) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(dbRetryAfter.Seconds()))))
	}
}

// classify maps an error from a backend to its answer, the one place that
// does so for the JSON API and the HTML pages alike. Known sentinels map to
// their status; anything else is logged with the request id and answered
// as a generic 500, so no driver text ever reaches a client.
func (s *server) classify(r *http.Request, err error) failure {
	reqID := requestInfoFrom(r.Context()).id
	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer, so it is not an error.
		return failure{http.StatusServiceUnavailable, codeUnavailable, "request cancelled", "The request was cancelled."}
	case errors.Is(err, ErrNotFound):
		return failure{http.StatusNotFound, codeNotFound, "no such file", "Not found."}
	case errors.Is(err, ErrConflict):
		return failure{http.StatusConflict, codeConflict, "conflicts with the current state", "This conflicts with the current state. Try again."}
	case errors.Is(err, errDBBusy):
		s.metrics.backendError("overloaded")
		return failure{http.StatusServiceUnavailable, codeUnavailable, reasonDBBusy + "; retry after the Retry-After delay",
			"Dropp is busy. Try again in a moment."}
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("backend unavailable", "err", err, "request_id", reqID)
		s.metrics.backendError("unavailable")
		return failure{http.StatusServiceUnavailable, codeUnavailable, unavailableReason(err, "a storage backend is not answering") + "; try again shortly",
			"Dropp's storage is not answering. Try again in a moment."}
	}
	s.log.Error("internal error", "err", err, "request_id", reqID)
	s.metrics.backendError("internal")
	return failure{http.StatusInternalServerError, codeInternal, "internal error", "Something went wrong on the server."}
}

// fail answers a JSON API request for an error from a backend, as
// classify says.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := s.classify(r, err)
	setRetryAfter(w, err)
	writeError(w, f.status, f.code, f.message)
}

// statusResponse is the body of GET /healthz and of a ready GET /readyz.
type statusResponse struct {
	Status string `json:"status"`
}

// handleHealth handles "GET /healthz": the process is up; no dependency is
// touched, so a load balancer never restarts Dropp for MongoDB's sake.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, statusResponse{"ok"})
}

// handleReady handles "GET /readyz": 200 when the metadata store and the
// object store can both be used, else 503 naming each one that cannot and
// why, e.g. `not ready: object store: no such bucket "x"`.
func (s *server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	storeErr := make(chan error, 1)
	go func() { storeErr <- s.store.Ping(ctx) }()
	objectsErr := s.objects.Ready(ctx)
	var failed []string
	if err := <-storeErr; err != nil {
		s.log.Warn("readiness: metadata store", "err", err)
		s.metrics.dependencyNotReady("metadata")
		failed = append(failed, unavailableReason(err, "metadata store: not answering"))
	}
	if objectsErr != nil {
		s.log.Warn("readiness: object store", "err", objectsErr)
		s.metrics.dependencyNotReady("objects")
		failed = append(failed, unavailableReason(objectsErr, "object store: not answering"))
	}
	if len(failed) > 0 {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "not ready: "+strings.Join(failed, "; "))
		return
	}
	writeJSON(w, http.StatusOK, statusResponse{"ready"})
}

// unavailableReason is what a client may be told about err: the reason an
// unavailableError carries, or else fallback, since other errors may hold
// driver text.
func unavailableReason(err error, fallback string) string {
	var u *unavailableError
	if errors.As(err, &u) {
		return u.reason
	}
	return fallback
}

// signIn holds what the sign-in flows share across requests: the page
// template, the rate limiters and, unless sign-in is local, the provider.
type signIn struct {
	page        *template.Template
	csp         string
	startLimit  *rateLimiter // GET /auth/google
	tokenLimit  *rateLimiter // POST /auth/token
	provider    *oidcProvider
	oauth       oauth2.Config   // Endpoint is filled in from discovery
	redirectURL string          // our callback, as registered with the provider
	members     memberCache     // for the allow-list check at each request
	accounts    *passwordSignIn // password sign-in's hasher and limits (accounts.go); nil with local sign-in
}

// shareLinks holds what the public share-link routes share across
// requests: the page template and its CSP, parsed once, and the rate
// limiter of /s/.
type shareLinks struct {
	page  *template.Template
	csp   string // the page's CSP, whose form-action allows only this origin
	limit *rateLimiter
	// cspWithOrigin is csp allowing the object store's origin as well,
	// once known (see formCSP); nil until then.
	cspWithOrigin atomic.Pointer[string]
}

// appPage is the page and its assets, ready to serve.
type appPage struct {
	html   *template.Template
	csp    string
	assets map[string]staticAsset // by URL path
}

// staticAsset is an embedded file served as is, revalidated by its ETag.
type staticAsset struct {
	body        []byte
	contentType string
	etag        string
}

// lastSeen remembers when this instance last wrote each user's
// last_seen_at, so a request costs a write only once per touchInterval.
type lastSeen struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// adminPageView renders the admin page; it is parsed once, with its CSP.
type adminPageView struct {
	tmpl *template.Template
	csp  string
}

// requestLinks is the request page and the per-request rate limit.
type requestLinks struct {
	page *template.Template
	csp  string
	// perRequest limits the calls on one request, whatever their address
	// (keyed by requestBucket); the per-address limit is the share links'.
	perRequest *rateLimiter
}

// linkGuard checks link passwords: the hasher, and the failures per link
// and per client address.
type linkGuard struct {
	hasher    *passwordHasher
	links     *failureDelay // keyed by the link's path, whether or not it exists
	addresses *failureDelay
}

// webhookSender sends deliveries (webhook_delivery.go). Its fields are set once by
// newWebhookSender; tests replace lookup (a resolver of their own),
// backoff and poll before starting the worker.
type webhookSender struct {
	allowPrivate bool
	client       *http.Client
	lookup       func(ctx context.Context, host string) ([]netip.Addr, error)
	backoff      func(attempt int) time.Duration
	poll         time.Duration
	lease        time.Duration
	wake         chan struct{} // an event was emitted here: look now
	metrics      *metrics
}

// keyedLocks is a mutex per key, each kept only while it is held or
// awaited. The zero value is ready.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

// lock takes key's mutex and returns its unlock.
func (k *keyedLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

type keyedLock struct {
	sync.Mutex
	refs int // holders and waiters
}
