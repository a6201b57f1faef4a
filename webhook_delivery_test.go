package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers names from a table, and "rebind.example" with a
// public address the first time and 127.0.0.1 after: DNS rebinding.
type fakeResolver struct {
	names   map[string][]netip.Addr
	rebinds atomic.Int64
}

func (f *fakeResolver) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	if host == "rebind.example" {
		if f.rebinds.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	if ips, ok := f.names[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestWebhookSSRFRegistration: without WEBHOOK_ALLOW_PRIVATE, an endpoint
// whose URL is plain http, or whose host is or resolves to a loopback,
// private, link-local, unspecified, multicast or cloud metadata address
// (IPv4-mapped forms included), is refused with a 400 naming why.
func TestWebhookSSRFRegistration(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	res := &fakeResolver{names: map[string][]netip.Addr{
		"public.example":  {netip.MustParseAddr("93.184.215.14")},
		"private.example": {netip.MustParseAddr("10.1.2.3")},
		"mixed.example":   {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("192.168.1.1")},
		"localhost":       {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	}}
	e.srv.webhooks.lookup = res.lookup
	token := e.newUser("alice")
	for _, url := range []string{
		"http://public.example/hook",
		"https://127.0.0.1/", "https://127.1.2.3:8443/", "https://[::1]/", "https://localhost/",
		"https://10.0.0.1/", "https://172.16.5.4/", "https://192.168.0.10/", "https://100.64.0.1/", "https://[fc00::1]/",
		"https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/", "https://169.254.1.1/", "https://[fe80::1]/",
		"https://0.0.0.0/", "https://0.1.2.3/", "https://[::]/",
		"https://224.0.0.1/", "https://[ff02::1]/",
		"https://[::ffff:127.0.0.1]/", "https://[::ffff:169.254.169.254]/", "https://[::ffff:10.0.0.1]/",
		"https://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "https://[2002:a00:1::]/", "https://198.18.0.1/",
		"https://private.example/", "https://mixed.example/", "https://unknown.example/",
	} {
		resp, body := e.do(request{method: "POST", path: "/webhooks", token: token, body: map[string]any{"url": url, "events": []string{eventFileCompleted}}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		msg := decode[apiErrorJSON](t, body).Message
		if !strings.Contains(msg, "public addresses only") && !strings.Contains(msg, "https") && !strings.Contains(msg, "does not resolve") {
			t.Errorf("%s: %q, want the reason", url, msg)
		}
	}
	addWebhook(t, e, token, "", "https://public.example/hook", eventFileCompleted)
}

// TestWebhookRegistrationNamesNoAddress: a host refused at registration
// is refused by the class of its address, never the address, which would
// tell any user what the server's resolver says for internal names; the
// server's log keeps the address.
func TestWebhookRegistrationNamesNoAddress(t *testing.T) {
	t.Parallel()
	e := newShareEnv(t, newLocalTestEnv, nil)
	e.srv.webhooks.lookup = (&fakeResolver{names: map[string][]netip.Addr{"db.corp.example": {netip.MustParseAddr("10.20.30.40")}}}).lookup
	mallory := e.newUser("mallory")
	resp, body := e.do(request{method: "POST", path: "/webhooks", token: mallory,
		body: map[string]any{"url": "https://db.corp.example/x", "events": []string{eventFileCompleted}}})
	wantStatus(t, resp, body, http.StatusBadRequest)
	if msg := decode[apiErrorJSON](t, body).Message; strings.Contains(msg, "10.20.30.40") || !strings.Contains(msg, "(private)") {
		t.Errorf("refusal %q: want the class of address (private), not the address", msg)
	}
	if !strings.Contains(e.logs.String(), "address=10.20.30.40") {
		t.Errorf("the server's log lacks the refused address:\n%s", e.logs.String())
	}
}

// TestWebhookSSRFAtConnect: the address is checked when connecting, not
// only at registration: a host that resolved to a public address when
// registered and to 127.0.0.1 when delivered to (DNS rebinding) is never
// connected to, and the delivery says why.
func TestWebhookSSRFAtConnect(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	e.srv.webhooks.lookup = (&fakeResolver{}).lookup
	e.srv.webhooks.poll = 20 * time.Millisecond
	t.Cleanup(e.srv.startWebhooks(context.Background()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	token := e.newUser("alice")
	hook := addWebhook(t, e, token, "", "https://rebind.example:"+port+"/hook", eventFileCompleted)
	resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
	wantStatus(t, resp, body, http.StatusAccepted)
	var d deliveryOut
	for deadline := time.Now().Add(10 * time.Second); d.Attempts == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no attempt in 10 s")
		}
		d = deliveriesOf(t, e, token, "", hook.ID)[0]
	}
	if d.Status != deliveryPending || d.NextAttemptAt == nil || !strings.Contains(d.LastError, "refused: the host resolves to an address Dropp does not send to (loopback)") {
		t.Errorf("delivery %+v: want pending, retried later, refused as loopback", d)
	}
	if strings.Contains(d.LastError, "127.0.0.1") {
		t.Errorf("the delivery's last_error %q names the address the host resolved to, want its class only", d.LastError)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the rebound address was connected to %d times", n)
	}
}

// TestWebhookBlockedAddresses: the connect-time check refuses what
// blockedAddr names, and lets public addresses through.
func TestWebhookBlockedAddresses(t *testing.T) {
	t.Parallel()
	ws := newWebhookSender(&config{}, nil)
	for addr, blocked := range map[string]bool{
		"127.0.0.1:443": true, "[::1]:443": true, "10.9.8.7:443": true, "172.31.0.1:443": true, "192.168.1.1:443": true,
		"169.254.169.254:80": true, "[fd00:ec2::254]:80": true, "[fe80::1]:443": true, "0.0.0.0:443": true, "[::]:443": true,
		"224.0.0.251:5353": true, "[ff02::fb]:5353": true, "[::ffff:127.0.0.1]:443": true, "100.100.100.200:80": true,
		"93.184.215.14:443": false, "[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443": false, "8.8.8.8:443": false,
		// IPv6 that carries IPv4 (review 9): NAT64, 6to4, IPv4-compatible,
		// local-use NAT64, Teredo; NAT64 to a public address goes through.
		"[64:ff9b::a9fe:a9fe]:80": true, "[64:ff9b::a00:1]:443": true, "[64:ff9b::7f00:1]:443": true,
		"[64:ff9b:1::a00:1]:443": true, "[2002:a9fe:a9fe::]:443": true, "[2002:a00:1::]:443": true,
		"[::a9fe:a9fe]:443": true, "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:443": true, "[64:ff9b::808:808]:443": false,
		// Special-purpose and reserved ranges.
		"192.0.0.192:443": true, "198.18.0.1:443": true, "240.0.0.1:443": true, "255.255.255.255:443": true,
		"192.0.2.1:443": true, "203.0.113.9:443": true, "[fec0::1]:443": true, "[100::1]:443": true,
		"[2001:db8::1]:443": true, "[3fff::1]:443": true,
	} {
		err := ws.control("tcp", addr, nil)
		if (err != nil) != blocked {
			t.Errorf("control(%s) = %v, want blocked %v", addr, err, blocked)
		}
	}
	ws = newWebhookSender(&config{WebhookAllowPrivate: true}, nil)
	if err := ws.control("tcp", "127.0.0.1:443", nil); err != nil {
		t.Errorf("with WEBHOOK_ALLOW_PRIVATE: %v", err)
	}
}

// TestWebhookReceiverAnswers: a redirect is not followed (and counts as a
// failed attempt); an endless answer is read up to 64 KiB only, so the
// attempt ends at once, delivered; a receiver that does not answer in
// time fails the attempt.
func TestWebhookReceiverAnswers(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	e.srv.webhooks.poll = 20 * time.Millisecond
	e.srv.webhooks.client.Timeout = time.Second
	t.Cleanup(e.srv.startWebhooks(context.Background()))
	token := e.newUser("alice")

	target := newHookReceiver(t)
	redirect := newHookReceiver(t)
	redirect.setAnswer(func(_ int, w http.ResponseWriter) bool {
		w.Header().Set("Location", target.URL)
		w.WriteHeader(http.StatusFound)
		return true
	})
	endless := newHookReceiver(t)
	var written atomic.Int64
	endless.setAnswer(func(_ int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 32<<10)
		for start := time.Now(); time.Since(start) < 10*time.Second; {
			if _, err := w.Write(chunk); err != nil {
				break
			}
			written.Add(int64(len(chunk)))
			w.(http.Flusher).Flush()
		}
		return true
	})
	slow := newHookReceiver(t)
	slow.setAnswer(func(_ int, w http.ResponseWriter) bool {
		time.Sleep(2 * time.Second)
		return false
	})
	send := func(url string) (webhookOut, time.Time) {
		hook := addWebhook(t, e, token, "", url, eventFileCompleted)
		resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
		wantStatus(t, resp, body, http.StatusAccepted)
		return hook, time.Now()
	}
	firstAttempt := func(hook webhookOut) deliveryOut {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if d := deliveriesOf(t, e, token, "", hook.ID)[0]; d.Attempts > 0 {
				return d
			}
		}
		t.Fatalf("no attempt to %s in 10 s", hook.URL)
		return deliveryOut{}
	}

	hook, _ := send(redirect.URL)
	if d := firstAttempt(hook); d.Status != deliveryPending || d.LastStatus == nil || *d.LastStatus != http.StatusFound {
		t.Errorf("redirected delivery %+v: want pending, last status 302", d)
	}
	if n := len(target.received()); n != 0 {
		t.Errorf("the redirect's target got %d requests", n)
	}

	hook, sent := send(endless.URL)
	if d := firstAttempt(hook); d.Status != deliveryDelivered {
		t.Errorf("endless answer: delivery %+v, want delivered", d)
	}
	if took := time.Since(sent); took > 900*time.Millisecond {
		t.Errorf("endless answer: the attempt took %v, want it cut at 64 KiB well before the 1 s timeout", took)
	}
	t.Logf("the endless receiver wrote %d KiB before the sender hung up (socket buffers included)", written.Load()>>10)

	hook, _ = send(slow.URL)
	if d := firstAttempt(hook); d.Status != deliveryPending || !strings.Contains(d.LastError, "no answer within") {
		t.Errorf("slow receiver: delivery %+v, want pending after a timeout", d)
	}
}

// TestWebhookTwoInstancesDeliverOnce: two instances on one MongoDB, both
// delivering, with events emitted on both at once: every event reaches
// the endpoint exactly once.
func TestWebhookTwoInstancesDeliverOnce(t *testing.T) {
	t.Parallel()
	vars := mongoS3Env(t)
	vars["WEBHOOK_ALLOW_PRIVATE"] = "true"
	a, b := startTestEnv(t, vars), startTestEnv(t, vars)
	for _, e := range []*testEnv{a, b} {
		e.srv.webhooks.poll = 10 * time.Millisecond
		t.Cleanup(e.srv.startWebhooks(context.Background()))
	}
	rc := newHookReceiver(t)
	token := a.newUser("alice")
	hook := addWebhook(t, a, token, "", rc.URL, eventFileCompleted)
	const events = 60
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4) // a few at once on each instance: contention, not a load test of FerretDB
	for i := range events {
		e := []*testEnv{a, b}[i%2]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			status, body, err := apiTester{e}.try(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
			if err != nil || status != http.StatusAccepted {
				t.Errorf("test event: %d %s %v", status, body, err)
			}
		})
	}
	wg.Wait()
	rc.await(t, events)
	time.Sleep(500 * time.Millisecond) // time for a duplicate to arrive
	got := rc.received()
	ids := map[string]int{}
	for _, h := range got {
		ids[h.id]++
	}
	if len(got) != events || len(ids) != events {
		t.Errorf("the receiver got %d requests for %d events, want each once", len(got), len(ids))
	}
}

// TestWebhookSlowEndpointsHoldFewSlots: one user's endpoints that never
// answer, with a backlog of events, hold at most webhookPerEndpoint
// attempts each and webhookPerOwner in all; another user's event reaches
// their answering endpoint at once, not behind the backlog's 5 s timeouts.
func TestWebhookSlowEndpointsHoldFewSlots(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	var mu sync.Mutex
	inFlight, most := map[string]int{}, map[string]int{}
	total, mostTotal := 0, 0
	hang := make(chan struct{})
	tarpit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight[r.URL.Path]++
		total++
		most[r.URL.Path], mostTotal = max(most[r.URL.Path], inFlight[r.URL.Path]), max(mostTotal, total)
		mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-hang:
		}
		mu.Lock()
		inFlight[r.URL.Path]--
		total--
		mu.Unlock()
	}))
	t.Cleanup(tarpit.Close)
	t.Cleanup(func() { close(hang) })
	rc := newHookReceiver(t)
	t.Cleanup(e.srv.startWebhooks(context.Background()))

	mallory, alice := e.newUser("mallory"), e.newUser("alice")
	for i := range 5 { // 5 endpoints of 2 attempts each would fill all 8 slots
		slow := addWebhook(t, e, mallory, "", fmt.Sprintf("%s/%d", tarpit.URL, i), eventFileCompleted)
		for range 6 {
			resp, body := e.do(request{method: "POST", path: "/webhooks/" + slow.ID + "/test", token: mallory})
			wantStatus(t, resp, body, http.StatusAccepted)
		}
	}
	time.Sleep(200 * time.Millisecond) // the worker has taken up mallory's
	fast := addWebhook(t, e, alice, "", rc.URL, eventFileCompleted)
	start := time.Now()
	resp, body := e.do(request{method: "POST", path: "/webhooks/" + fast.ID + "/test", token: alice})
	wantStatus(t, resp, body, http.StatusAccepted)
	rc.await(t, 1)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("alice's event reached her endpoint after %v, behind mallory's 30 to endpoints that never answer", took.Round(100*time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	for path, n := range most {
		if n > webhookPerEndpoint {
			t.Errorf("endpoint %s had %d attempts at once, want at most %d", path, n, webhookPerEndpoint)
		}
	}
	if mostTotal > webhookPerOwner {
		t.Errorf("mallory's endpoints had %d attempts at once, want at most %d", mostTotal, webhookPerOwner)
	}
}

// ctDueDeliveriesLeavesBusyOut: DueDeliveries leaves out the deliveries of
// the busy endpoints and of the busy owners' endpoints, and lists the
// rest earliest first.
func ctDueDeliveriesLeavesBusyOut(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	hookA, hookB, hookC, owner1, owner2 := ctNewID(), ctNewID(), ctNewID(), ctNewID(), ctNewID()
	var ds []WebhookDelivery
	for i, hook := range []struct{ id, owner string }{{hookA, owner1}, {hookB, owner1}, {hookC, owner2}} {
		at := now.Add(time.Duration(i-10) * time.Second)
		ds = append(ds, WebhookDelivery{ID: ctNewID(), WebhookID: hook.id, Owner: hook.owner, Event: eventTest, Payload: "{}",
			CreatedAt: at, Status: deliveryPending, NextAt: at, ExpiresAt: now.Add(time.Hour)})
	}
	ctMust(t, "InsertDeliveries", s.InsertDeliveries(ctx, ds))
	for _, c := range []struct {
		busy BusyEndpoints
		want []string
	}{
		{BusyEndpoints{}, []string{hookA, hookB, hookC}},
		{BusyEndpoints{Webhooks: []string{hookA}}, []string{hookB, hookC}},
		{BusyEndpoints{Owners: []string{owner1}}, []string{hookC}},
		{BusyEndpoints{Webhooks: []string{hookC}, Owners: []string{owner1}}, nil},
	} {
		due, err := s.DueDeliveries(ctx, now, 10, c.busy)
		ctMust(t, "DueDeliveries", err)
		var got []string
		for _, d := range due {
			if slices.Contains([]string{hookA, hookB, hookC}, d.WebhookID) { // a shared store may hold others
				got = append(got, d.WebhookID)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("DueDeliveries with %+v busy: the deliveries of %v, want %v", c.busy, got, c.want)
		}
	}
}

// TestWebhookLatency measures, on each backend, how long an event takes
// from the request that emits it to the endpoint, in steady state (one
// event at a time, the worker idle between them), and logs p50 and p99:
// the figures of docs/webhooks.md.
func TestWebhookLatency(t *testing.T) {
	t.Parallel()
	onEachWebhookBackend(t, nil, func(t *testing.T, e *testEnv) {
		t.Cleanup(e.srv.startWebhooks(context.Background()))
		rc := newHookReceiver(t)
		token := e.newUser("alice")
		hook := addWebhook(t, e, token, "", rc.URL, eventFileCompleted)
		const n = 200
		took, answered := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
		for i := range n {
			start := time.Now()
			resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
			wantStatus(t, resp, body, http.StatusAccepted)
			answered = append(answered, time.Since(start))
			h := rc.await(t, i+1)[i]
			took = append(took, h.at.Sub(start))
		}
		slices.Sort(took)
		slices.Sort(answered)
		t.Logf("webhook latency over %d events, one at a time, from the emitting request to the endpoint: p50 %v, p99 %v (the request alone: p50 %v, p99 %v)",
			n, took[n/2], took[n*99/100], answered[n/2], answered[n*99/100])
	})
}

// ctClaimDelivery: while a claim of an attempt lasts, a second claim of it
// is refused (false, not an error: the delivery worker takes an error for a
// store outage); another attempt is free; an expired claim is taken over,
// and a released one is free again.
func ctClaimDelivery(t *testing.T, s Store) {
	ctx := t.Context()
	now, id := ctNow(), ctNewID()
	claim := func(attempt int, at time.Time) bool {
		t.Helper()
		taken, err := s.ClaimDelivery(ctx, id, attempt, at, at.Add(time.Minute))
		ctMust(t, fmt.Sprintf("ClaimDelivery(attempt %d)", attempt), err)
		return taken
	}
	if !claim(1, now) {
		t.Fatal("the first claim of attempt 1 was refused")
	}
	if claim(1, now.Add(time.Second)) {
		t.Fatal("attempt 1 was claimed again while its first claim lasts")
	}
	if !claim(2, now) {
		t.Fatal("attempt 2 was refused while only attempt 1 is claimed")
	}
	if !claim(1, now.Add(2*time.Minute)) {
		t.Fatal("attempt 1 was not taken over once its claim expired")
	}
	ctMust(t, "ReleaseClaim", s.ReleaseClaim(ctx, id, 2))
	if !claim(2, now.Add(time.Second)) {
		t.Fatal("attempt 2 was refused after its claim was released")
	}
}
