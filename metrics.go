package main

// Prometheus metrics, written by hand in the text exposition format (no
// client library in the binary), served on a listener of their own,
// METRICS_ADDR, so that they are never public by accident.
//
// Every label value comes from a bounded set: route patterns of the route
// table (or "unmatched"), HTTP statuses, and the fixed kinds below.

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// durationBuckets are the upper bounds, in seconds, of the request
// duration histogram: API calls take milliseconds, local-mode transfers
// can take minutes.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// metrics holds every counter. Its methods are safe for concurrent use; a
// nil *metrics counts nothing, so handlers called directly in tests need none.
type metrics struct {
	localSignIn bool   // "GET /auth/google" signs in locally rather than redirecting
	buildInfo   string // labels of dropp_build_info, fixed at start

	mu        sync.Mutex
	requests  map[requestKey]uint64
	durations map[string]*histogram // by route
	signIns   map[string]uint64     // by result
	errors    map[string]uint64     // backend errors by kind
	notReady  map[string]uint64     // failed readiness checks by dependency
	webhooks  map[string]uint64     // webhook delivery attempts by outcome

	uploadsCreated   atomic.Uint64
	uploadsCompleted atomic.Uint64
	bytesCompleted   atomic.Uint64
}

// requestKey labels dropp_http_requests_total.
type requestKey struct {
	route  string
	status int
}

// histogram counts observations per bucket (not cumulative; write sums them).
type histogram struct {
	counts []uint64 // len(durationBuckets)+1, the last one is +Inf
	sum    float64
	count  uint64
}

// newMetrics starts every counter at zero.
func newMetrics(cfg *config) *metrics {
	return &metrics{
		localSignIn: cfg.localSignIn(),
		buildInfo:   buildInfoLabels(debug.ReadBuildInfo()),
		requests:    map[requestKey]uint64{},
		durations:   map[string]*histogram{},
		signIns:     map[string]uint64{},
		errors:      map[string]uint64{},
		notReady:    map[string]uint64{},
		webhooks:    map[string]uint64{},
	}
}

// observeRequest is logRequests' one call: it counts the finished request
// by route and status, its duration, and, for the routes that end a
// sign-in, the sign-in's result.
func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing answered 200
	}
	result := m.signInResult(route, status)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[requestKey{route, status}]++
	h := m.durations[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(durationBuckets)+1)}
		m.durations[route] = h
	}
	secs := d.Seconds()
	i, _ := slices.BinarySearch(durationBuckets, secs)
	h.counts[i]++
	h.sum += secs
	h.count++
	if result != "" {
		m.signIns[result]++
	}
}

// signInResult is the result of a sign-in that the request ended, or ""
// if it ended none. Sign-in ends at the provider's callback, at the
// password form's target, or at /auth/google itself with local sign-in;
// each redirects on success.
// Reading the result off the answer keeps the sign-in code free of metrics.
func (m *metrics) signInResult(route string, status int) string {
	if route != "GET /auth/google/callback" && route != "POST /auth/password" && !(m.localSignIn && route == "GET /auth/google") {
		return ""
	}
	switch {
	case status/100 == 3:
		return "success"
	case status == http.StatusForbidden:
		return "denied"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status >= 500:
		return "error"
	}
	return "rejected"
}

// uploadCreated counts a new pending upload.
func (m *metrics) uploadCreated() {
	if m != nil {
		m.uploadsCreated.Add(1)
	}
}

// uploadCompleted counts an upload that became complete, and its bytes.
func (m *metrics) uploadCompleted(size int64) {
	if m != nil {
		m.uploadsCompleted.Add(1)
		m.bytesCompleted.Add(uint64(max(size, 0)))
	}
}

// backendError counts an error from the metadata or object store by the
// kind classify gave it ("unavailable", "internal").
func (m *metrics) backendError(kind string) {
	m.inc(func() map[string]uint64 { return m.errors }, kind)
}

// dependencyNotReady counts a failed readiness check of a dependency
// ("metadata", "objects").
func (m *metrics) dependencyNotReady(dep string) {
	m.inc(func() map[string]uint64 { return m.notReady }, dep)
}

// webhookAttempt counts a webhook delivery attempt by what it came to
// (delivered, retrying, failed).
func (m *metrics) webhookAttempt(outcome string) {
	m.inc(func() map[string]uint64 { return m.webhooks }, outcome)
}

func (m *metrics) inc(counts func() map[string]uint64, label string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	counts()[label]++
	m.mu.Unlock()
}

// write writes every metric in the Prometheus text format, families and
// label sets in a stable order.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	family(w, "dropp_build_info", "gauge", "Build of the running server; always 1.")
	fmt.Fprintf(w, "dropp_build_info{%s} 1\n", m.buildInfo)

	family(w, "dropp_http_requests_total", "counter", "HTTP requests answered, by route pattern and status.")
	keys := slices.SortedFunc(maps.Keys(m.requests), func(a, b requestKey) int {
		return cmp.Or(strings.Compare(a.route, b.route), a.status-b.status)
	})
	for _, k := range keys {
		fmt.Fprintf(w, "dropp_http_requests_total{route=%s,status=\"%d\"} %d\n", labelValue(k.route), k.status, m.requests[k])
	}

	family(w, "dropp_http_request_duration_seconds", "histogram", "Time to answer HTTP requests, by route pattern.")
	for _, route := range slices.Sorted(maps.Keys(m.durations)) {
		m.durations[route].write(w, "dropp_http_request_duration_seconds", "route="+labelValue(route))
	}

	counter(w, "dropp_uploads_created_total", "Uploads started (pending files created).", m.uploadsCreated.Load())
	counter(w, "dropp_uploads_completed_total", "Uploads completed.", m.uploadsCompleted.Load())
	counter(w, "dropp_upload_bytes_completed_total", "Bytes of completed uploads.", m.bytesCompleted.Load())
	labelled(w, "dropp_sign_ins_total", "Sign-ins ended, by result (success, denied, rejected, rate_limited, error).", "result", m.signIns)
	labelled(w, "dropp_backend_errors_total", "Errors from the metadata or object store answered to clients, by kind (unavailable, overloaded: shed by the database gate, internal).", "kind", m.errors)
	labelled(w, "dropp_webhook_attempts_total", "Webhook delivery attempts, by outcome (delivered, retrying, failed).", "outcome", m.webhooks)
	labelled(w, "dropp_readiness_failures_total", "Failed /readyz checks, by dependency (metadata, objects).", "dependency", m.notReady)
}

// write writes one histogram's buckets (cumulative), sum and count.
func (h *histogram) write(w io.Writer, name, labels string) {
	var cum uint64
	for i, le := range durationBuckets {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.count)
	fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(h.sum, 'g', -1, 64))
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, h.count)
}

func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func counter(w io.Writer, name, help string, v uint64) {
	family(w, name, "counter", help)
	fmt.Fprintf(w, "%s %d\n", name, v)
}

func labelled(w io.Writer, name, help, label string, counts map[string]uint64) {
	family(w, name, "counter", help)
	for _, v := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "%s{%s=%s} %d\n", name, label, labelValue(v), counts[v])
	}
}

// labelValue quotes a label value as the text format wants: backslash,
// double quote and newline escaped.
func labelValue(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

// buildInfoLabels are dropp_build_info's labels: the same facts as
// `dropp version`.
func buildInfoLabels(info *debug.BuildInfo, ok bool) string {
	b := readBuild(info, ok)
	return fmt.Sprintf("version=%s,revision=%s,goversion=%s", labelValue(b.version), labelValue(b.revision), labelValue(b.goVersion))
}

// handler serves GET /metrics.
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w)
	})
	return mux
}

// serveMetrics starts the metrics listener when METRICS_ADDR is set and
// returns the function that stops it. The bind happens here, so a taken
// port is reported before the server starts.
func serveMetrics(cfg *config, m *metrics, stdout io.Writer, logger *slog.Logger) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := listen("METRICS_ADDR", cfg.MetricsAddr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Error("metrics listener", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// buildFacts is what the binary says of its own build: `dropp version` and the
// dropp_build_info metric both show it.
type buildFacts struct {
	version, revision, goVersion string
	modified                     bool
}

// readBuild reads buildFacts from the embedded build info, with "(devel)" and
// "unknown" for what it lacks.
func readBuild(info *debug.BuildInfo, ok bool) buildFacts {
	b := buildFacts{version: "(devel)", revision: "unknown", goVersion: "unknown"}
	if !ok {
		return b
	}
	b.goVersion = info.GoVersion
	if info.Main.Version != "" {
		b.version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && s.Value != "":
			b.revision = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			b.modified = true
		}
	}
	return b
}
