package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this file check webhooks end to end: endpoints registered
// through the API, events emitted by real uploads, shares and deletes, and
// deliveries received by a real HTTP server that checks their signatures,
// on the local store and on MongoDB (FerretDB) with S3 (versitygw).

// webhookBackends start a server of each backend that may send webhooks
// to loopback (where the receivers listen), with env added.
func onEachWebhookBackend(t *testing.T, env map[string]string, test func(t *testing.T, e *testEnv)) {
	starts := map[string]func(*testing.T, map[string]string) *testEnv{"local": newLocalTestEnv, "mongodb+s3": newTestEnv}
	for name, start := range starts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}
			for k, v := range env {
				vars[k] = v
			}
			test(t, start(t, vars))
		})
	}
}

// onEachWebhookWorker is onEachWebhookBackend with the delivery worker
// started (startWebhookWorker) and a new receiver for the test's endpoints.
func onEachWebhookWorker(t *testing.T, env map[string]string, test func(t *testing.T, e *testEnv, rc *hookReceiver)) {
	onEachWebhookBackend(t, env, func(t *testing.T, e *testEnv) {
		startWebhookWorker(t, e)
		test(t, e, newHookReceiver(t))
	})
}

// startWebhookWorker starts the server's delivery worker with no wait
// between attempts and a short poll, stopped with the test.
func startWebhookWorker(t *testing.T, e *testEnv) {
	e.srv.webhooks.backoff = func(int) time.Duration { return 0 }
	e.srv.webhooks.poll = 20 * time.Millisecond
	t.Cleanup(e.srv.startWebhooks(context.Background()))
}

// hookReceiver is an endpoint under test: it records every request and
// answers each with what answer says for its number (1-based).
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []receivedHook
	answer func(n int, w http.ResponseWriter) (answered bool)
	signal chan struct{} // a request arrived
}

// receivedHook is one request an endpoint received.
type receivedHook struct {
	id, timestamp, signature string
	body                     []byte
	at                       time.Time
}

// newHookReceiver starts a receiver that answers 204 unless told otherwise.
func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{signal: make(chan struct{}, 1000)}
	rc.answer = func(int, http.ResponseWriter) bool { return false }
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, receivedHook{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now()})
		n, answer := len(rc.got), rc.answer
		rc.mu.Unlock()
		rc.signal <- struct{}{}
		if !answer(n, w) {
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

// setAnswer changes how the receiver answers: answer writes the answer
// to request n and says so, or leaves it to the default 204.
func (rc *hookReceiver) setAnswer(answer func(n int, w http.ResponseWriter) bool) {
	rc.mu.Lock()
	rc.answer = answer
	rc.mu.Unlock()
}

// received is a copy of what the receiver got so far.
func (rc *hookReceiver) received() []receivedHook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// await waits until the receiver got n requests, and returns them.
func (rc *hookReceiver) await(t *testing.T, n int) []receivedHook {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if got := rc.received(); len(got) >= n {
			return got
		}
		select {
		case <-rc.signal:
		case <-deadline:
			t.Fatalf("the receiver got %d requests in 20 s, want %d", len(rc.received()), n)
		}
	}
}

// verifyWebhook checks a request's signature as a receiver would
// (docs/webhooks.md): any of the space-separated v1 signatures must be
// the HMAC-SHA256, keyed by the secret's base64-decoded bytes, of
// id.timestamp.body; and the timestamp must be recent.
func verifyWebhook(secret string, h receivedHook) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(h.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("webhook-timestamp %q is not a recent Unix time", h.timestamp)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", h.id, h.timestamp, h.body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.signature) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature of %q matches", h.signature)
}

// Test copies of the API's webhook shapes.
type (
	webhookOut struct {
		ID                string     `json:"id"`
		URL               string     `json:"url"`
		Events            []string   `json:"events"`
		CreatedAt         time.Time  `json:"created_at"`
		Secret            string     `json:"secret"`
		PreviousSecretExp *time.Time `json:"previous_secret_expires_at"`
	}
	deliveryOut struct {
		ID            string     `json:"id"`
		Event         string     `json:"event"`
		Status        string     `json:"status"`
		Attempts      int        `json:"attempts"`
		NextAttemptAt *time.Time `json:"next_attempt_at"`
		LastStatus    *int       `json:"last_status"`
		LastError     string     `json:"last_error"`
		CreatedAt     time.Time  `json:"created_at"`
	}
	hookPayloadOut struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			UserID string `json:"user_id"`
			File   struct {
				ID       string `json:"id"`
				Filename string `json:"filename"`
				Size     *int64 `json:"size"`
			} `json:"file"`
			Share *struct {
				ID        string `json:"id"`
				Downloads int64  `json:"downloads"`
			} `json:"share"`
		} `json:"data"`
	}
)

// addWebhook registers an endpoint (prefix "" or "/admin") and expects 201.
func addWebhook(t *testing.T, e *testEnv, token, prefix, url string, events ...string) webhookOut {
	t.Helper()
	resp, body := e.do(request{method: "POST", path: prefix + "/webhooks", token: token, body: map[string]any{"url": url, "events": events}})
	wantStatus(t, resp, body, http.StatusCreated)
	return decode[map[string]webhookOut](t, body)["webhook"]
}

// deliveriesOf lists an endpoint's deliveries.
func deliveriesOf(t *testing.T, e *testEnv, token, prefix, id string) []deliveryOut {
	t.Helper()
	resp, body := e.do(request{method: "GET", path: prefix + "/webhooks/" + id + "/deliveries", token: token})
	wantStatus(t, resp, body, http.StatusOK)
	return decode[map[string][]deliveryOut](t, body)["deliveries"]
}

// awaitDeliveries waits until every delivery of the endpoint has left
// pending, and returns them.
func awaitDeliveries(t *testing.T, e *testEnv, token, prefix, id string, n int) []deliveryOut {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds := deliveriesOf(t, e, token, prefix, id)
		settled := len(ds) == n && !slices.ContainsFunc(ds, func(d deliveryOut) bool { return d.Status == deliveryPending })
		if settled {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries after 20 s: %+v, want %d settled", ds, n)
		}
	}
}

// awaitMetrics waits until the metrics page holds every line. The worker
// counts an attempt after the store has it, so a delivery can read as
// delivered a moment before its metric moves.
func awaitMetrics(t *testing.T, e *testEnv, lines ...string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var metrics strings.Builder
		e.srv.metrics.write(&metrics)
		missing := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.Contains(metrics.String(), l) })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after 5 s lack %q", missing)
		}
	}
}

// TestWebhookEventsSignedAndDelivered: a completed upload, a share link
// created and used twice, and a delete each reach the endpoint once (each
// download its own event), signed with its secret, carrying ids, names and
// sizes and no token or URL; the deliveries list says so.
func TestWebhookEventsSignedAndDelivered(t *testing.T) {
	t.Parallel()
	onEachWebhookWorker(t, nil, func(t *testing.T, e *testEnv, rc *hookReceiver) {
		a := apiTester{e}
		token := e.newUser("alice")
		hook := addWebhook(t, e, token, "", rc.URL+"/hook", webhookEvents...)
		if !strings.HasPrefix(hook.Secret, "whsec_") {
			t.Fatalf("secret %q: want whsec_ and base64", hook.Secret)
		}
		other := newHookReceiver(t)
		addWebhook(t, e, e.newUser("bob"), "", other.URL, webhookEvents...) // sees none of alice's events

		f, _ := a.stored(token, map[string]any{"filename": "report.pdf", "size": 5}, []byte("hello"))
		resp, body := e.do(request{method: "POST", path: "/files/" + f.ID + "/shares", token: token})
		wantStatus(t, resp, body, http.StatusCreated)
		shareURL := decode[map[string]shareOut](t, body)["share"].URL
		link := shareURL[strings.LastIndex(shareURL, "/s/"):]
		for range 2 {
			resp, body = e.do(request{method: "POST", path: link + "/download"})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("share download: %d %s", resp.StatusCode, body)
			}
		}
		resp, body = e.do(request{method: "DELETE", path: "/files/" + f.ID, token: token})
		wantStatus(t, resp, body, http.StatusNoContent)

		got := rc.await(t, 5)
		var types []string
		var downloads []int64 // the share's count in each share.downloaded
		for _, h := range got {
			if err := verifyWebhook(hook.Secret, h); err != nil {
				t.Errorf("delivery %s: %v", h.id, err)
			}
			for _, secret := range []string{token, link[len("/s/"):], "/objects/", "X-Amz-", "Signature="} {
				if strings.Contains(string(h.body), secret) {
					t.Errorf("payload %s carries %q", h.body, secret)
				}
			}
			p := decode[hookPayloadOut](t, h.body)
			types = append(types, p.Type)
			if p.Data.File.ID != f.ID || p.Data.File.Filename != "report.pdf" || p.Data.UserID != a.userID(token) {
				t.Errorf("payload %s: want file %s named report.pdf of the user", h.body, f.ID)
			}
			if p.Type == eventShareDownloaded && p.Data.Share != nil {
				downloads = append(downloads, p.Data.Share.Downloads)
			}
		}
		slices.Sort(types)
		want := []string{eventFileCompleted, eventFileDeleted, eventShareCreated, eventShareDownloaded, eventShareDownloaded}
		if !slices.Equal(types, want) {
			t.Errorf("events received: %q, want %q", types, want)
		}
		if slices.Sort(downloads); !slices.Equal(downloads, []int64{1, 2}) {
			t.Errorf("share.downloaded payloads count %v downloads, want 1 and 2", downloads)
		}
		for _, d := range awaitDeliveries(t, e, token, "", hook.ID, 5) {
			if d.Status != deliveryDelivered || d.Attempts != 1 || d.LastStatus == nil || *d.LastStatus != 204 || d.NextAttemptAt != nil {
				t.Errorf("delivery %+v: want delivered in 1 attempt, last status 204, no next attempt", d)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if n := len(rc.received()); n != 5 {
			t.Errorf("the receiver got %d requests, want 5", n)
		}
		if n := len(other.received()); n != 0 {
			t.Errorf("another user's endpoint got %d of alice's events", n)
		}
	})
}

// TestWebhookRequestReceived: a stranger's upload through a file request
// emits request.received (and file.completed) to the owner's endpoint,
// naming the request and the file, on each store.
func TestWebhookRequestReceived(t *testing.T) {
	t.Parallel()
	onEachWebhookWorker(t, nil, func(t *testing.T, e *testEnv, rc *hookReceiver) {
		token := e.newUser("alice")
		hook := addWebhook(t, e, token, "", rc.URL, eventRequestReceived, eventFileCompleted)
		resp, body := e.do(request{method: "POST", path: "/requests", token: token,
			body: map[string]any{"title": "Scans", "max_files": 2, "max_bytes": 1000}})
		wantStatus(t, resp, body, http.StatusCreated)
		fr := decode[struct {
			Request requestOut `json:"request"`
		}](t, body).Request
		link := linkPath(t, fr.URL)
		resp, body = e.do(request{method: "POST", path: link + "/upload", body: map[string]any{"filename": "scan.png", "size": 5}})
		wantStatus(t, resp, body, http.StatusCreated)
		up := decode[uploadOut](t, body)
		apiTester{e}.upload(up, []byte("hello"))
		resp, body = e.do(request{method: "POST", path: link + "/upload/" + up.File.ID + "/complete"})
		wantStatus(t, resp, body, http.StatusOK)

		var types []string
		for _, h := range rc.await(t, 2) {
			if err := verifyWebhook(hook.Secret, h); err != nil {
				t.Errorf("delivery %s: %v", h.id, err)
			}
			p := decode[struct {
				Type string `json:"type"`
				Data struct {
					RequestID string `json:"request_id"`
					File      struct {
						ID string `json:"id"`
					} `json:"file"`
				} `json:"data"`
			}](t, h.body)
			types = append(types, p.Type)
			if p.Data.File.ID != up.File.ID {
				t.Errorf("%s payload %s: want file %s", p.Type, h.body, up.File.ID)
			}
			if p.Type == eventRequestReceived && p.Data.RequestID != fr.ID {
				t.Errorf("request.received payload %s: want request %s", h.body, fr.ID)
			}
		}
		slices.Sort(types)
		if want := []string{eventFileCompleted, eventRequestReceived}; !slices.Equal(types, want) {
			t.Errorf("events received: %q, want %q", types, want)
		}
	})
}

// TestWebhookRetriesKeepOneID: a receiver that fails three times and then
// succeeds gets one webhook-id four times; the delivery says delivered
// after 4 attempts, and the metrics count 3 retries and 1 delivery.
func TestWebhookRetriesKeepOneID(t *testing.T) {
	t.Parallel()
	onEachWebhookWorker(t, nil, func(t *testing.T, e *testEnv, rc *hookReceiver) {
		rc.setAnswer(func(n int, w http.ResponseWriter) bool {
			if n <= 3 {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return n <= 3
		})
		token := e.newUser("alice")
		hook := addWebhook(t, e, token, "", rc.URL, eventFileCompleted)
		resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
		wantStatus(t, resp, body, http.StatusAccepted)
		test := decode[map[string]deliveryOut](t, body)["delivery"]

		got := rc.await(t, 4)
		for _, h := range got {
			if h.id != test.ID {
				t.Errorf("webhook-id %q, want %q on every attempt", h.id, test.ID)
			}
			if err := verifyWebhook(hook.Secret, h); err != nil {
				t.Error(err)
			}
		}
		ds := awaitDeliveries(t, e, token, "", hook.ID, 1)
		if d := ds[0]; d.Status != deliveryDelivered || d.Attempts != 4 || d.Event != eventTest {
			t.Errorf("delivery %+v: want webhook.test delivered after 4 attempts", d)
		}
		awaitMetrics(t, e, `dropp_webhook_attempts_total{outcome="retrying"} 3`, `dropp_webhook_attempts_total{outcome="delivered"} 1`)
		time.Sleep(100 * time.Millisecond)
		if n := len(rc.received()); n != 4 {
			t.Errorf("the receiver got %d requests, want 4", n)
		}
	})
}

// TestWebhookSecretRotation: after a rotation, deliveries are signed with
// the new secret and with the old one (valid 24 h more), space-separated.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	onEachWebhookWorker(t, nil, func(t *testing.T, e *testEnv, rc *hookReceiver) {
		token := e.newUser("alice")
		hook := addWebhook(t, e, token, "", rc.URL, eventFileCompleted)
		resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/rotate", token: token})
		wantStatus(t, resp, body, http.StatusOK)
		rotated := decode[map[string]webhookOut](t, body)["webhook"]
		if rotated.Secret == hook.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousSecretExp == nil ||
			rotated.PreviousSecretExp.Sub(time.Now()) < 23*time.Hour {
			t.Fatalf("rotated %+v: want a new secret, the old one valid about 24 h", rotated)
		}
		resp, body = e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
		wantStatus(t, resp, body, http.StatusAccepted)
		h := rc.await(t, 1)[0]
		if n := len(strings.Fields(h.signature)); n != 2 {
			t.Errorf("webhook-signature %q: want 2 signatures", h.signature)
		}
		for _, secret := range []string{hook.Secret, rotated.Secret} {
			if err := verifyWebhook(secret, h); err != nil {
				t.Errorf("with secret %.12s…: %v", secret, err)
			}
		}
		resp, body = e.do(request{method: "GET", path: "/webhooks", token: token})
		wantStatus(t, resp, body, http.StatusOK)
		if strings.Contains(string(body), "whsec_") {
			t.Errorf("GET /webhooks shows a secret: %s", body)
		}
	})
}

// TestWebhookServerWide: an administrator's endpoint receives every
// user's events; a user may not register one; a user's endpoint is not
// reachable through the admin routes, nor an admin's through the user's.
func TestWebhookServerWide(t *testing.T) {
	t.Parallel()
	onEachWebhookWorker(t, map[string]string{"ADMIN_EMAILS": "admin@example.com"}, func(t *testing.T, e *testEnv, rc *hookReceiver) {
		admin, alice := e.newUser("admin"), e.newUser("alice")
		resp, body := e.do(request{method: "POST", path: "/admin/webhooks", token: alice, body: map[string]any{"url": rc.URL, "events": []string{eventFileCompleted}}})
		wantStatus(t, resp, body, http.StatusForbidden)
		hook := addWebhook(t, e, admin, "/admin", rc.URL, eventFileCompleted)
		mine := addWebhook(t, e, alice, "", rc.URL, eventFileDeleted)
		for _, req := range []request{
			{method: "DELETE", path: "/webhooks/" + hook.ID, token: admin},
			{method: "DELETE", path: "/admin/webhooks/" + mine.ID, token: admin},
			{method: "GET", path: "/webhooks/" + hook.ID + "/deliveries", token: alice},
		} {
			resp, body := e.do(req)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		f, _ := apiTester{e}.stored(alice, map[string]any{"filename": "a.txt", "size": 1}, []byte("a"))
		h := rc.await(t, 1)[0]
		if err := verifyWebhook(hook.Secret, h); err != nil || !strings.Contains(string(h.body), f.ID) {
			t.Errorf("server-wide delivery %s: %v; want alice's file %s", h.body, err, f.ID)
		}
		awaitDeliveries(t, e, admin, "/admin", hook.ID, 1)
	})
}

// TestServerWideWebhookChangesAreAudited: creating, rotating and deleting
// an endpoint that receives every user's events are administrators'
// actions, each written as an audit line naming the administrator and the
// endpoint (review 14: none was).
func TestServerWideWebhookChangesAreAudited(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{"ADMIN_EMAILS": "admin@example.com", "WEBHOOK_ALLOW_PRIVATE": "true"})
	var logs syncBuffer
	e.srv.log = slog.New(slog.NewJSONHandler(&logs, nil))
	admin := e.newUser("admin")
	hook := addWebhook(t, e, admin, "/admin", "http://127.0.0.1:9/hook", eventFileCompleted)
	for _, req := range []request{
		{method: "POST", path: "/admin/webhooks/" + hook.ID + "/rotate", token: admin},
		{method: "DELETE", path: "/admin/webhooks/" + hook.ID, token: admin},
	} {
		resp, body := e.do(req)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", req.method, req.path, resp.StatusCode, body)
		}
	}
	for _, action := range []string{"create_webhook", "rotate_webhook_secret", "delete_webhook"} {
		if line := auditLine(t, &logs, action); !strings.Contains(line, hook.ID) || !strings.Contains(line, `"actor_email":"admin@example.com"`) {
			t.Errorf("audit line of %s: %s, want the endpoint %s and the administrator", action, line, hook.ID)
		}
	}
}

// TestNoUserIsTheServerWideOwner: serverWideOwner's endpoints receive
// every user's events, so no principal may have its ID: neither a trusted
// proxy's X-User-Id "*" (which could rotate, read, delete the
// administrators' endpoints and register one of its own that hears
// everyone) nor a stored credential of such a user.
func TestNoUserIsTheServerWideOwner(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, proxyAuthEnv())
	ctx := context.Background()
	admins := Webhook{ID: newID(), Owner: serverWideOwner, URL: "https://hooks.example/admin", Events: []string{eventFileDeleted},
		Secret: newWebhookSecret(), CreatedAt: time.Now().Truncate(time.Millisecond)}
	if err := e.srv.store.InsertWebhook(ctx, admins); err != nil {
		t.Fatal(err)
	}
	proxyStar := map[string]string{"X-User-Id": serverWideOwner}
	starToken := e.newUserToken(serverWideOwner)
	for _, req := range []request{
		{method: "GET", path: "/webhooks", header: proxyStar},
		{method: "POST", path: "/webhooks/" + admins.ID + "/rotate", header: proxyStar},
		{method: "DELETE", path: "/webhooks/" + admins.ID, header: proxyStar},
		{method: "POST", path: "/webhooks", header: proxyStar, body: map[string]any{"url": "https://spy.example/hook", "events": []string{eventFileCompleted}}},
		{method: "GET", path: "/webhooks", token: starToken},
		{method: "POST", path: "/webhooks/" + admins.ID + "/rotate", token: starToken},
	} {
		resp, body := e.do(req)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s as user %q: %d %s, want 401", req.method, req.path, serverWideOwner, resp.StatusCode, body)
		}
	}
	if hooks, err := e.srv.store.ListWebhooks(ctx, serverWideOwner); err != nil || len(hooks) != 1 || hooks[0].Secret != admins.Secret {
		t.Errorf("the server-wide endpoints after the tries: %+v, %v; want the administrators' one, unchanged", hooks, err)
	}
}

// TestWebhookAPIValidation: bad input gets a 400 in the error shape,
// naming what is wrong; an unknown or another user's endpoint is 404.
func TestWebhookAPIValidation(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	token, other := e.newUser("alice"), e.newUser("bob")
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"events": []string{eventFileCompleted}}, `"url" is required`},
		{map[string]any{"url": "ftp://example.com/", "events": []string{eventFileCompleted}}, "https"},
		{map[string]any{"url": "/relative", "events": []string{eventFileCompleted}}, "absolute URL"},
		{map[string]any{"url": "https://u:p@example.com/", "events": []string{eventFileCompleted}}, "credentials"},
		{map[string]any{"url": "https://example.com/" + strings.Repeat("a", 2048), "events": []string{eventFileCompleted}}, "at most 2048"},
		{map[string]any{"url": "https://example.com/"}, `"events" must list one or more of file.completed, file.deleted`}, // a list to read, not Go's %q of a slice
		{map[string]any{"url": "https://example.com/", "events": []string{"file.eaten"}}, "unknown event"},
		{map[string]any{"url": "https://example.com/", "events": []string{eventFileDeleted, eventFileDeleted}}, "twice"},
		{map[string]any{"url": "https://example.com/", "events": []string{eventFileDeleted}, "secret": "x"}, "unknown field"},
		{`{"url": 1}`, ""},
	} {
		resp, body := e.do(request{method: "POST", path: "/webhooks", token: token, body: tc.body})
		wantStatus(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(decode[apiErrorJSON](t, body).Message, tc.want) {
			t.Errorf("POST /webhooks %v: %s, want a message with %q", tc.body, body, tc.want)
		}
	}
	hook := addWebhook(t, e, token, "", "https://example.com/hook", eventFileDeleted)
	for _, req := range []request{
		{method: "DELETE", path: "/webhooks/not-an-id", token: token},
		{method: "DELETE", path: "/webhooks/" + newID(), token: token},
		{method: "DELETE", path: "/webhooks/" + hook.ID, token: other},
		{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: other},
		{method: "POST", path: "/webhooks/" + hook.ID + "/rotate", token: other},
		{method: "GET", path: "/webhooks/" + hook.ID + "/deliveries", token: other},
	} {
		resp, body := e.do(req)
		wantStatus(t, resp, body, http.StatusNotFound)
	}
	resp, body := e.do(request{method: "GET", path: "/webhooks", token: ""})
	wantStatus(t, resp, body, http.StatusUnauthorized)
	resp, body = e.do(request{method: "DELETE", path: "/webhooks/" + hook.ID, token: token})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.do(request{method: "GET", path: "/webhooks", token: token})
	wantStatus(t, resp, body, http.StatusOK)
	if got := decode[map[string][]webhookOut](t, body)["webhooks"]; len(got) != 0 {
		t.Errorf("webhooks after the delete: %+v", got)
	}
}

// checkWebhookContract calls every webhook operation of the document, a
// user's and the server-wide ones, each with a success and an error, for
// checkContract. Hosts resolve through a test resolver (no DNS here).
func checkWebhookContract(c *contractChecker, user, boss string) {
	c.t.Helper()
	public := []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	c.e.srv.webhooks.lookup = (&fakeResolver{names: map[string][]netip.Addr{"hooks.example": public}}).lookup
	const missing = "01234567-89ab-4def-8123-456789abcdef"
	c.call("/admin/webhooks", c.req("GET", "/admin/webhooks", user, nil))
	for _, prefix := range []string{"", "/admin"} {
		token := map[string]string{"": user, "/admin": boss}[prefix]
		c.call(prefix+"/webhooks", c.req("POST", prefix+"/webhooks", token, map[string]any{"url": "https://127.0.0.1/", "events": []string{eventFileCompleted}}))
		_, body := c.call(prefix+"/webhooks", c.req("POST", prefix+"/webhooks", token, map[string]any{"url": "https://hooks.example/dropp", "events": webhookEvents}))
		id := decode[map[string]webhookOut](c.t, body)["webhook"].ID
		c.call(prefix+"/webhooks", c.req("GET", prefix+"/webhooks", token, nil))
		c.call(prefix+"/webhooks/{id}/test", c.req("POST", prefix+"/webhooks/"+id+"/test", token, nil))
		c.call(prefix+"/webhooks/{id}/test", c.req("POST", prefix+"/webhooks/"+missing+"/test", token, nil))
		c.call(prefix+"/webhooks/{id}/deliveries", c.req("GET", prefix+"/webhooks/"+id+"/deliveries", token, nil))
		c.call(prefix+"/webhooks/{id}/deliveries", c.req("GET", prefix+"/webhooks/"+missing+"/deliveries", token, nil))
		c.call(prefix+"/webhooks/{id}/rotate", c.req("POST", prefix+"/webhooks/"+id+"/rotate", token, nil))
		c.call(prefix+"/webhooks/{id}/rotate", c.req("POST", prefix+"/webhooks/"+missing+"/rotate", token, nil))
		c.call(prefix+"/webhooks/{id}", c.req("DELETE", prefix+"/webhooks/"+id, token, nil))
		c.call(prefix+"/webhooks/{id}", c.req("DELETE", prefix+"/webhooks/"+id, token, nil))
	}
}
