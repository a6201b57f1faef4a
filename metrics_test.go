package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMetricsThroughRun starts runDropp with METRICS_ADDR and LOG_FORMAT=json in
// local mode, signs in, uploads, and then reads /metrics from the separate
// listener: promtool accepts it, and the counters moved by what was done.
// Every log line on stderr is a JSON object.
func TestMetricsThroughRun(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool", "prometheus")
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr syncBuffer
	env := map[string]string{"ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json", "DATA_DIR": t.TempDir()}
	done := make(chan error, 1)
	go func() { done <- runDropp(ctx, []string{"dropp"}, testGetenv(env), outW, &stderr); outW.Close() }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	base, metricsURL := "", ""
	sc := bufio.NewScanner(outR)
	for base == "" && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "metrics: "); ok {
			metricsURL = rest
		}
		if rest, ok := strings.CutPrefix(sc.Text(), "listening: "); ok {
			base = strings.TrimSuffix(rest, "/login/")
		}
	}
	go io.Copy(io.Discard, outR)
	if base == "" || metricsURL == "" {
		t.Fatalf("start-up lines lack listening or metrics; stderr:\n%s", stderr.String())
	}
	c := noRedirectClient()
	if resp, err := c.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the public listener: %v %v, want 404", resp, err)
	}
	token := desktopSignIn(t, c, base)
	content := []byte("counted\n")
	uploadFile(t, c, base, token, "a.txt", content)
	apiGet[listOut](t, c, base+"/list/", token)

	text := fetch(t, c, metricsURL)
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n%s", err, out, text)
	}
	for _, want := range []string{
		`dropp_http_requests_total{route="POST /upload/{$}",status="201"} 1`,
		`dropp_http_requests_total{route="GET /list/{$}",status="200"} 1`,
		`dropp_http_requests_total{route="unmatched",status="404"} 1`,
		`dropp_http_request_duration_seconds_count{route="POST /auth/token"} 1`,
		`dropp_uploads_created_total 1`,
		`dropp_uploads_completed_total 1`,
		`dropp_upload_bytes_completed_total 8`,
		`dropp_sign_ins_total{result="success"} 1`,
	} {
		if !bytes.Contains(text, []byte("\n"+want+"\n")) {
			t.Errorf("/metrics lacks %s\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`(?m)^dropp_build_info\{version="[^"]+",revision="[^"]+",goversion="go[^"]+"\} 1$`).Match(text) {
		t.Errorf("/metrics lacks dropp_build_info\n%s", text)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("LOG_FORMAT=json wrote a line that is not JSON: %s", line)
		}
	}
}

// TestMetricsCountBackendErrors: an error classify answers is counted by
// kind, a failed readiness check by dependency, and a sign-in by the
// answer that ended it.
func TestMetricsCountBackendErrors(t *testing.T) {
	t.Parallel()
	m := newMetrics(mustConfig(t, map[string]string{"DATA_DIR": t.TempDir()}))
	m.backendError("unavailable")
	m.backendError("unavailable")
	m.dependencyNotReady("objects")
	m.observeRequest("GET /auth/google", http.StatusForbidden, time.Millisecond)
	m.observeRequest("GET /auth/google/callback", http.StatusBadGateway, time.Millisecond)
	m.observeRequest("GET /healthz", 0, 3*time.Second)
	var buf bytes.Buffer
	m.write(&buf)
	for _, want := range []string{
		`dropp_backend_errors_total{kind="unavailable"} 2`,
		`dropp_readiness_failures_total{dependency="objects"} 1`,
		`dropp_sign_ins_total{result="denied"} 1`,
		`dropp_sign_ins_total{result="error"} 1`,
		`dropp_http_requests_total{route="GET /healthz",status="200"} 1`,
		`dropp_http_request_duration_seconds_bucket{route="GET /healthz",le="2.5"} 0`,
		`dropp_http_request_duration_seconds_bucket{route="GET /healthz",le="5"} 1`,
	} {
		if !strings.Contains(buf.String(), "\n"+want+"\n") {
			t.Errorf("metrics lack %s\n%s", want, buf.String())
		}
	}
	if got := labelValue("a\"b\\c\nd"); got != `"a\"b\\c\nd"` {
		t.Errorf("labelValue = %s", got)
	}
}

// completeBarrierStore is a real Store whose GetFile of one file returns
// only once two callers have read it, so two completes both find it pending.
type completeBarrierStore struct {
	Store
	id      string
	arrived atomic.Int32
	both    chan struct{}
}

func (b *completeBarrierStore) GetFile(ctx context.Context, owner, id string) (*File, error) {
	f, err := b.Store.GetFile(ctx, owner, id)
	if id == b.id {
		if b.arrived.Add(1) == 2 {
			close(b.both)
		}
		select {
		case <-b.both:
		case <-time.After(10 * time.Second):
		}
	}
	return f, err
}

// TestUploadCompletedCountedOnce, on each store: two completes of one file
// that both found it pending both answer 200, and the completed-uploads
// counter and its bytes count it once.
func TestUploadCompletedCountedOnce(t *testing.T) {
	t.Parallel()
	onEachEnv(t, nil, func(t *testing.T, a apiTester) {
		tok := a.newUser("racer")
		up := a.create(tok, map[string]any{"filename": "race.bin"})
		content := []byte("completed twice at once")
		a.upload(up, content)
		a.srv.store = &completeBarrierStore{Store: a.srv.store, id: up.File.ID, both: make(chan struct{})}
		m := a.srv.metrics
		files, bytes := m.uploadsCompleted.Load(), m.bytesCompleted.Load()

		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() { statuses[i] = requestStatus(a.testEnv, "POST", "/upload/"+up.File.ID+"/complete", tok) })
		}
		wg.Wait()
		if statuses[0] != http.StatusOK || statuses[1] != http.StatusOK {
			t.Fatalf("two completes at once: %v, want both 200", statuses)
		}
		if n := m.uploadsCompleted.Load() - files; n != 1 {
			t.Errorf("dropp_uploads_completed_total went up by %d, want 1", n)
		}
		if n := m.bytesCompleted.Load() - bytes; n != uint64(len(content)) {
			t.Errorf("dropp_upload_bytes_completed_total went up by %d, want %d", n, len(content))
		}
	})
}

// requestStatus sends a request without a body and returns the status (0
// if none came); it is safe off the test's goroutine (testEnv.do is not)
// and gives up after 10 s.
func requestStatus(e *testEnv, method, path, token string) int {
	req, _ := http.NewRequest(method, e.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	client := *e.client
	client.Timeout = 10 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
