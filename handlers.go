package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
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
	metrics *metrics
	handler http.Handler
	// publicURL is the base URL clients reach us at, fixed at start (see
	// publicBaseURL); "" with local sign-in and no PUBLIC_URL.
	publicURL string
	adminView *adminPageView // admin.go
	seen      lastSeen       // when this instance last wrote each user's last_seen_at
	joining   keyedLocks     // multipart files this instance is completing (multipart.go)
	// page is the web page at "/" and its assets, see page.go.
	page *appPage
}

// newServer wires the routes and middleware around the given backends.
func newServer(cfg *config, logger *slog.Logger, store Store, objects ObjectStore) *server {
	s := &server{
		cfg:     cfg,
		log:     logger,
		store:   store,
		objects: objects,
		signer:  newCookieSigner(cfg.SecretKey, cfg.SecretKeyPrevious),
		csrf:    http.NewCrossOriginProtection(),
		now:     func() time.Time { return time.Now().UTC() },

		publicURL: publicBaseURL(cfg),
		metrics:   newMetrics(cfg),
	}
	s.signIn = newSignIn(cfg, logger)
	s.shares = newShareLinks(cfg)
	s.adminView = newAdminPageView()
	s.page = newAppPage(objectsOrigin(objects))
	s.handler = s.logRequests(s.recoverPanics(s.loopbackHostOnly(s.routes())))
	return s
}

// ServeHTTP sends every request through logging and panic recovery to
// the routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// routes is the one table of every route, its pattern and its middleware.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /openapi.json", handleOpenAPI)

	// The web page (page.go), built on the API below.
	mux.HandleFunc("GET /{$}", s.handleApp)
	mux.HandleFunc("GET /app.js", s.handleAppAsset)
	mux.HandleFunc("GET /app.css", s.handleAppAsset)

	api := func(h userHandler) http.Handler { return apiHeaders(s.requireUser(h)) }
	mux.Handle("POST /upload", api(s.handleCreateUpload))
	mux.Handle("POST /upload/{$}", api(s.handleCreateUpload))
	mux.Handle("POST /upload/{id}/complete", api(s.handleCompleteUpload))
	mux.Handle("POST /upload/{id}/parts", api(s.handlePartURLs)) // see multipart.go
	mux.Handle("GET /upload/{id}/parts", api(s.handleListParts))
	mux.Handle("GET /list", api(s.handleList))
	mux.Handle("GET /list/{$}", api(s.handleList))
	mux.Handle("GET /download/{id}", api(s.handleDownload))
	mux.Handle("DELETE /files/{id}", api(s.handleDelete))
	mux.Handle("GET /me", api(s.handleMe))

	// Administration (admin.go): 401 signed out, 403 for non-admins.
	admin := func(h adminHandler) http.Handler { return api(s.requireAdmin(h)) }
	mux.Handle("GET /admin/users", admin(s.handleAdminUsers))
	mux.Handle("POST /admin/users/{id}/disable", admin(s.handleAdminDisable))
	mux.Handle("POST /admin/users/{id}/enable", admin(s.handleAdminEnable))
	mux.Handle("GET /admin/{$}", s.signInHeaders(http.HandlerFunc(s.handleAdminPage)))

	// Sign-in (oauth.go, token.go): pages and the token endpoint, never
	// cached, with the sign-in CSP; the two that cost a provider round trip
	// or a code guess are rate limited per client address.
	si := s.signIn
	mux.Handle("GET /login/{$}", s.signInHeaders(http.HandlerFunc(s.handleLogin)))
	mux.Handle("GET /auth/google", s.signInHeaders(s.rateLimited(si.startLimit, s.pageTooMany, http.HandlerFunc(s.handleSignInStart))))
	mux.Handle("GET /auth/google/callback", s.signInHeaders(http.HandlerFunc(s.handleSignInCallback)))
	mux.Handle("POST /auth/token", s.signInHeaders(s.rateLimited(si.tokenLimit, jsonTooMany, http.HandlerFunc(s.handleToken))))
	mux.Handle("POST /auth/logout", s.signInHeaders(s.requireUser(s.handleLogout)))

	// Share links (shares.go): the owner's API, then the public link page
	// and download, which take no credential, are rate limited per client
	// address and never cached.
	mux.Handle("POST /files/{id}/shares", api(s.handleCreateShare))
	mux.Handle("GET /files/{id}/shares", api(s.handleListShares))
	mux.Handle("DELETE /shares/{id}", api(s.handleRevokeShare))
	link := func(h http.HandlerFunc) http.Handler {
		return s.shareHeaders(s.rateLimited(s.shares.limit, s.shareTooMany, h))
	}
	mux.Handle("GET /s/{token}", link(s.handleSharePage))
	mux.Handle("GET /s/{token}/download", link(s.handleShareDownload))
	mux.Handle("POST /s/{token}/download", link(s.handleShareDownload))

	// The local object store's upload forms, PUT URLs and download URLs
	// point back at this server (localupload.go, localparts.go, localobjects.go), checked by their
	// signatures, not by a user; with S3 they point at S3.
	if local, ok := s.objects.(*localObjects); ok {
		mux.HandleFunc("POST /objects/upload", local.handleUpload)
		mux.HandleFunc("GET /objects/{key...}", local.handleDownload)
		mux.HandleFunc("PUT /objects/{key...}", local.handlePut) // localparts.go
	}
	return jsonMuxErrors(mux)
}

// Error codes of the JSON error shape {"error": code, "message": text}.
const (
	codeInvalidRequest   = "invalid_request"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codePayloadTooLarge  = "payload_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeRateLimited      = "rate_limited"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
)

// apiError is the body of every error answer of the JSON API.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeJSONBody writes an already encoded JSON body with writeJSON's
// headers, for responses built without reflection (GET /list/).
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	w.Write(body)
}

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

// writeError writes the documented error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// failure is how an error from a backend is answered: one status, and the
// words each kind of client gets for it.
type failure struct {
	status  int
	code    string // the JSON API's error code
	message string // the JSON API's message
	page    string // what an HTML error page tells a person
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
	writeError(w, f.status, f.code, f.message)
}

// maxJSONBody is the largest JSON request body accepted.
const maxJSONBody = 64 << 10

// readJSON decodes a JSON request body into v, strictly: the content type
// must be JSON (else 415), the body at most maxJSONBody (else 413), and
// unknown fields, trailing data and the field names decodeStrictJSON
// refuses are refused (400). An empty body is accepted when optional is
// true. On false the error has been answered.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if optional && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the body as Content-Type: application/json")
		return false
	}
	err = decodeStrictJSON(http.MaxBytesReader(w, r.Body, maxJSONBody), v)
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	if err != nil {
		writeJSONDecodeError(w, err)
		return false
	}
	return true
}

// decodeStrictJSON decodes the one JSON value of body into v, refusing
// unknown fields and anything after the value. encoding/json also lets a
// field be given twice (the last wins) and matches names regardless of
// case, so two parsers could read one body differently; those are refused
// too, in the top-level object, by checkFieldNames. An empty body is io.EOF.
func decodeStrictJSON(body io.Reader, v any) error {
	var raw bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(body, &raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := expectEnd(dec); err != nil {
		return err
	}
	return checkFieldNames(raw.Bytes(), jsonFieldNames(v))
}

// fieldNameError is a field name of a JSON body that decodeStrictJSON
// refuses: "duplicate" or "unknown".
type fieldNameError struct{ problem, name string }

func (e *fieldNameError) Error() string { return e.problem + " field " + strconv.Quote(e.name) }

// checkFieldNames walks the top-level object of data, one valid JSON value
// (it has just been decoded), and refuses a name given twice or one that
// is not exactly one of fields (nil: any name the decoder took). A string
// one level deep followed by a colon is a name; nothing else is.
func checkFieldNames(data []byte, fields []string) error {
	seen := make(map[string]bool, len(fields))
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end := jsonStringEnd(data, i)
			if next := skipJSONSpace(data, end+1); depth == 1 && next < len(data) && data[next] == ':' {
				name := jsonName(data[i : end+1])
				key, known := fieldKey(name, fields)
				switch {
				case seen[string(name)]:
					return &fieldNameError{"duplicate", string(name)}
				case !known:
					return &fieldNameError{"unknown", string(name)}
				}
				seen[key] = true
			}
			i = end
		}
	}
	return nil
}

// fieldKey is the string that stands for name in checkFieldNames' seen
// set: its entry in fields, so that recording it allocates nothing, or a
// copy when fields is nil (any name). known is false for a name not in
// fields.
func fieldKey(name []byte, fields []string) (key string, known bool) {
	if fields == nil {
		return string(name), true
	}
	for _, f := range fields {
		if f == string(name) {
			return f, true
		}
	}
	return "", false
}

// jsonStringEnd is the index of the quote that closes the JSON string
// opening at data[start].
func jsonStringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data) - 1
}

// skipJSONSpace is the index of the first non-whitespace byte from i on.
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// jsonName is the text of a quoted JSON name, escapes resolved as the
// decoder resolves them, so "\u0043ODE" is seen as the "CODE" it means.
// Without escapes it is a slice of quoted, not a copy.
func jsonName(quoted []byte) []byte {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1]
	}
	var name string
	json.Unmarshal(quoted, &name)
	return []byte(name)
}

// jsonFieldNamesByType caches jsonFieldNames' answer for each type it is
// asked about: derived from the type alone and never changed once stored,
// so the reflection runs once per type, not once per request.
var jsonFieldNamesByType sync.Map // reflect.Type → []string

// jsonFieldNames is the exact JSON names of the fields of the struct v
// points to, or nil when v is not a pointer to a struct.
func jsonFieldNames(v any) []string {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names, ok := jsonFieldNamesByType.Load(t)
	if !ok {
		names, _ = jsonFieldNamesByType.LoadOrStore(t, appendJSONFieldNames(nil, t.Elem()))
	}
	return names.([]string)
}

// appendJSONFieldNames appends the JSON names of struct type t's fields,
// those of untagged embedded structs included, as encoding/json sees them.
func appendJSONFieldNames(names []string, t reflect.Type) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		embedded := f.Type
		if embedded.Kind() == reflect.Pointer {
			embedded = embedded.Elem()
		}
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "" && embedded.Kind() == reflect.Struct:
			names = appendJSONFieldNames(names, embedded)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// expectEnd checks that only whitespace follows the decoded value, up to
// the end of the body. dec.More() is not enough: it reports false before a
// stray '}' or ']', and it swallows read errors such as the body limit.
func expectEnd(dec *json.Decoder) error {
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("unexpected %v after the JSON value", tok)
}

// writeJSONDecodeError turns a decoder error into a 400 or 413 that says
// what was wrong without echoing internals.
func writeJSONDecodeError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("the body is over %d bytes", maxJSONBody))
		return
	}
	writeError(w, http.StatusBadRequest, codeInvalidRequest, jsonProblem(err))
}

// jsonProblem says what is wrong with a body decodeStrictJSON refused for
// other reasons than its size.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var nameErr *fieldNameError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "the body must be a JSON object"
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
	case errors.As(err, &syntaxErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON"
	case errors.As(err, &nameErr):
		return nameErr.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "the body is not a valid JSON object for this route"
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

// allBytes reports whether ok holds for every byte of s: the validators of
// client-supplied tokens and names say with it which bytes they allow.
func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// alnumOr is a byte class for allBytes: ASCII letters and digits, and the
// bytes in extra.
func alnumOr(extra string) func(byte) bool {
	return func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0
	}
}
