package main

// Delivering webhooks, at least once: a worker on every instance reads the
// outbox (deliveries due), claims one attempt of each in the store (so
// that across instances one sends it at a time), signs it as Standard
// Webhooks says, posts it, and records the outcome: delivered on a 2xx,
// else another attempt after an exponential back-off with jitter, until
// webhookRetryFor after the event, then failed. Every attempt carries the
// same webhook-id, so receivers can drop duplicates: an instance that dies
// mid-attempt leaves its claim to expire, and the attempt is sent again.
//
// Requests go only to public addresses unless WEBHOOK_ALLOW_PRIVATE=true:
// the check is made on the address actually connected to (net.Dialer's
// Control), after every DNS answer, so a name that resolves to a public
// address when it is registered and to 127.0.0.1 later still cannot reach
// the server's network (DNS rebinding).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	webhookTimeout      = 5 * time.Second // a whole attempt: connect, send, read the answer
	webhookMaxAnswer    = 64 << 10        // bytes of an answer read (and discarded)
	webhookRetryFor     = 24 * time.Hour  // after the event, a delivery is given up
	webhookLease        = time.Minute     // a claim outlives any attempt (webhookTimeout) and its recording
	webhookPollInterval = time.Second     // how often each instance looks for due deliveries
	webhookBatch        = 100             // deliveries read per look
	webhookParallel     = 8               // attempts in flight per instance
	webhookPerEndpoint  = 2               // of them, to one endpoint
	webhookPerOwner     = 4               // of them, to one owner's endpoints
	webhookBackoffBase  = 5 * time.Second // wait after the first failure, doubled after each
	webhookBackoffMax   = time.Hour       // longest wait between attempts
	deliveryRetention   = 7 * 24 * time.Hour
	webhookSecretBytes  = 32
	webhookSecretPrefix = "whsec_"
)

// blockedAddressError: the webhook's host is (or now resolves to) an
// address Dropp does not send to. Its text names the address, for the
// server's log; the endpoint's owner is told only the reason, the class of
// address (refusedAddressMessage), never what the server's resolver
// answered for a name, which would map the server's network for them.
type blockedAddressError struct{ address, reason string }

func (e *blockedAddressError) Error() string {
	return fmt.Sprintf("refused address: %s is %s", e.address, e.reason)
}

// refusedAddressMessage tells an endpoint's owner why its host is refused,
// by the class of address (blockedAddr's reason) alone.
func refusedAddressMessage(reason string) string {
	return "the host resolves to an address Dropp does not send to (" + reason +
		"): webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE)"
}

// newWebhookSender builds the HTTP client every delivery goes through: no
// proxy, no redirects followed, webhookTimeout for the whole attempt, and
// every connection checked by control.
func newWebhookSender(cfg *config, m *metrics) *webhookSender {
	ws := &webhookSender{
		allowPrivate: cfg.WebhookAllowPrivate,
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		backoff: webhookBackoff,
		poll:    webhookPollInterval,
		lease:   webhookLease,
		wake:    make(chan struct{}, 1),
		metrics: m,
	}
	dialer := &net.Dialer{Timeout: webhookTimeout, Control: ws.control}
	ws.client = &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{
			DialContext:         ws.dialer(dialer),
			TLSHandshakeTimeout: webhookTimeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return ws
}

// webhookBackoff is the wait before attempt+1: webhookBackoffBase doubled
// per failed attempt, at most webhookBackoffMax, less up to half of it at
// random so that receivers that come back are not hit all at once.
func webhookBackoff(attempt int) time.Duration {
	d := webhookBackoffMax
	if attempt < 20 {
		d = min(webhookBackoffBase<<(attempt-1), webhookBackoffMax)
	}
	return d/2 + mrand.N(d/2+1)
}

// dialer resolves the host with lookup and connects to its addresses in
// turn; d's Control refuses the blocked ones.
func (ws *webhookSender) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := ws.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// resolve returns the addresses of host: itself if it is one.
func (ws *webhookSender) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ips, err := ws.lookup(ctx, host)
	if err == nil && len(ips) == 0 {
		err = fmt.Errorf("%s has no address", host)
	}
	return ips, err
}

// control runs on every connection, after DNS, before connecting: the one
// place the address is checked for what it really is.
func (ws *webhookSender) control(network, address string, _ syscall.RawConn) error {
	if ws.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &blockedAddressError{address, "not an IP address"}
	}
	if reason := blockedAddr(ap.Addr()); reason != "" {
		return &blockedAddressError{ap.Addr().String(), reason}
	}
	return nil
}

// Cloud metadata services, reachable from inside a cloud host.
var (
	metadataIPv4 = netip.MustParseAddr("169.254.169.254")
	metadataIPv6 = netip.MustParseAddr("fd00:ec2::254")
	sharedIPv4   = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT, private in practice
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	// NAT64's well-known prefix (RFC 6052): behind a NAT64 gateway an
	// address in it reaches the IPv4 address in its last 32 bits.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// Global unicast: every other IPv6 address (IPv4-compatible ::/96,
	// discard 100::/64, local-use NAT64 64:ff9b:1::/48, site-local
	// fec0::/10...) is not one a public receiver has.
	globalUnicastIPv6 = netip.MustParsePrefix("2000::/3")
)

// specialPurpose are the ranges IANA's special-purpose registries mark
// not globally reachable that the checks above leave, and the IPv6
// tunnels whose addresses carry an IPv4 one: a receiver never has one.
var specialPurpose = []netip.Prefix{
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments, Teredo among them
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4
	netip.MustParsePrefix("3fff::/20"),       // documentation
}

// blockedAddr says why a webhook may not be sent to a, or "" if it may:
// only to a globally reachable unicast address. An IPv6 address that
// carries an IPv4 one, IPv4-mapped or NAT64's, is judged as that IPv4
// address, where the connection ends up.
func blockedAddr(a netip.Addr) string {
	a = a.Unmap()
	if nat64.Contains(a) {
		a = netip.AddrFrom4([4]byte(a.AsSlice()[12:]))
	}
	switch {
	case a == metadataIPv4 || a == metadataIPv6:
		return "a cloud metadata address"
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "unspecified"
	case a.IsPrivate() || sharedIPv4.Contains(a):
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.Is6() && !globalUnicastIPv6.Contains(a):
		return "not global unicast"
	}
	for _, p := range specialPurpose {
		if p.Contains(a) {
			return "special-purpose (" + p.String() + ")"
		}
	}
	return ""
}

// newWebhookSecret makes an endpoint's secret: whsec_ and the base64 of
// 32 random bytes, as Standard Webhooks shows them.
func newWebhookSecret() string {
	b := make([]byte, webhookSecretBytes)
	rand.Read(b)
	return webhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// signWebhook is one Standard Webhooks signature: "v1," and the base64 of
// HMAC-SHA256, keyed by the secret's bytes, of id.timestamp.body.
func signWebhook(secret, id, timestamp string, body []byte) string {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, webhookSecretPrefix))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signatures is the webhook-signature header: signed with the secret,
// and with the one a rotation replaced while it is still valid,
// space-separated as the specification allows.
func (h *Webhook) signatures(id, timestamp string, body []byte, now time.Time) string {
	sig := signWebhook(h.Secret, id, timestamp, body)
	if h.OldSecret != "" && now.Before(h.OldUntil) {
		sig += " " + signWebhook(h.OldSecret, id, timestamp, body)
	}
	return sig
}

// send makes one attempt: it posts the payload, signed, and reads at most
// webhookMaxAnswer bytes of the answer, which it discards. It returns the
// answer's status.
func (ws *webhookSender) send(ctx context.Context, h *Webhook, d *WebhookDelivery, now time.Time) (int, error) {
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, strings.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Dropp-Webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", h.signatures(d.ID, ts, body, now))
	resp, err := ws.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, webhookMaxAnswer))
	return resp.StatusCode, nil
}

// startWebhooks delivers what is due every poll interval, at once after
// an event is emitted here, and again whenever an attempt ends (others
// may be waiting for its slot), until ctx ends; the returned stop waits
// for the attempts in flight.
func (s *server) startWebhooks(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		inFlight := newAttemptsInFlight()
		defer inFlight.wg.Wait()
		t := time.NewTicker(s.webhooks.poll)
		defer t.Stop()
		for {
			s.deliverDue(ctx, inFlight)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.webhooks.wake:
			case <-inFlight.ended:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// kick wakes this instance's worker.
func (ws *webhookSender) kick() {
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

// attemptsInFlight are the worker's attempts under way: at most
// webhookParallel in all, webhookPerEndpoint to one endpoint and
// webhookPerOwner to one owner's endpoints, so that an endpoint that
// never answers holds only its own few slots and the rest go on.
type attemptsInFlight struct {
	mu         sync.Mutex
	deliveries map[string]bool // the IDs of the deliveries under way
	endpoints  map[string]int  // attempts under way per webhook ID
	owners     map[string]int  // attempts under way per owner
	wg         sync.WaitGroup
	ended      chan struct{} // an attempt was made and its slot is free: look again
}

func newAttemptsInFlight() *attemptsInFlight {
	return &attemptsInFlight{deliveries: map[string]bool{}, endpoints: map[string]int{}, owners: map[string]int{},
		ended: make(chan struct{}, 1)}
}

// busy names the endpoints and owners that may take no more attempts now.
func (a *attemptsInFlight) busy() BusyEndpoints {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b BusyEndpoints
	for id, n := range a.endpoints {
		if n >= webhookPerEndpoint {
			b.Webhooks = append(b.Webhooks, id)
		}
	}
	for owner, n := range a.owners {
		if n >= webhookPerOwner {
			b.Owners = append(b.Owners, owner)
		}
	}
	return b
}

// full tells whether every slot is taken.
func (a *attemptsInFlight) full() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.deliveries) >= webhookParallel
}

// take counts d in if there is room for it: a free slot, its endpoint
// and its owner under their bounds, and d not already under way.
func (a *attemptsInFlight) take(d *WebhookDelivery) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.deliveries) >= webhookParallel || a.deliveries[d.ID] ||
		a.endpoints[d.WebhookID] >= webhookPerEndpoint || a.owners[d.Owner] >= webhookPerOwner {
		return false
	}
	a.deliveries[d.ID] = true
	a.endpoints[d.WebhookID]++
	a.owners[d.Owner]++
	return true
}

// done counts d out, and wakes the worker if an attempt was made: what
// waited for the slot may go now. An attempt not made (its claim lost, the
// store away) waits for the next tick instead, rather than spin on it.
func (a *attemptsInFlight) done(d *WebhookDelivery, made bool) {
	a.mu.Lock()
	delete(a.deliveries, d.ID)
	decrement(a.endpoints, d.WebhookID)
	decrement(a.owners, d.Owner)
	a.mu.Unlock()
	if made {
		select {
		case a.ended <- struct{}{}:
		default:
		}
	}
}

// decrement counts one out of m[key], and drops the key at 0.
func decrement(m map[string]int, key string) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
	}
}

// deliverDue starts an attempt of each due delivery there is room for
// (attemptsInFlight.take), without waiting for them: a busy endpoint's or
// owner's deliveries, and those past the free slots, stay due for a later
// look, which comes when an attempt ends or at the next tick.
func (s *server) deliverDue(ctx context.Context, inFlight *attemptsInFlight) {
	if inFlight.full() {
		return
	}
	due, err := s.store.DueDeliveries(ctx, s.now(), webhookBatch, inFlight.busy())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("webhooks: reading the outbox", "err", err)
		}
		return
	}
	for _, d := range due {
		if !inFlight.take(&d) {
			if inFlight.full() {
				return
			}
			continue
		}
		inFlight.wg.Go(func() { inFlight.done(&d, s.attemptDelivery(ctx, d)) })
	}
}

// attemptDelivery claims the next attempt of d, checks that d is still
// as read (another instance may have made that attempt meanwhile), sends
// it and records the outcome. It tells whether it made an attempt.
func (s *server) attemptDelivery(ctx context.Context, d WebhookDelivery) bool {
	now := s.now()
	attempt := d.Attempts + 1
	claimed, err := s.store.ClaimDelivery(ctx, d.ID, attempt, now, now.Add(s.webhooks.lease))
	if err != nil || !claimed {
		return false
	}
	defer s.store.ReleaseClaim(context.WithoutCancel(ctx), d.ID, attempt)
	cur, err := s.store.GetDelivery(ctx, d.ID)
	if err != nil || cur.Status != deliveryPending || cur.Attempts != d.Attempts || cur.NextAt.After(now) {
		return false
	}
	h, err := s.store.GetWebhook(ctx, cur.Owner, cur.WebhookID)
	var outcome string
	switch {
	case errors.Is(err, ErrNotFound): // nowhere to send it any more
		cur.Attempts, cur.Status, cur.LastError = attempt, deliveryFailed, "the endpoint was deleted"
		outcome = deliveryFailed
	case err == nil:
		code, err := s.webhooks.send(ctx, &h, &cur, now)
		var blocked *blockedAddressError
		if errors.As(err, &blocked) { // the owner is told its class only (attemptError)
			s.log.Info("webhooks: an endpoint's address is refused", "webhook", h.ID, "delivery", cur.ID, "err", err)
		}
		outcome = s.webhooks.outcome(&cur, code, err, s.now())
	default:
		return false // the store is away: the attempt is made once it answers
	}
	if err := s.store.RecordAttempt(context.WithoutCancel(ctx), cur); err != nil {
		// Not recorded: the delivery stays due, and is sent again at the
		// next look rather than at once, in a loop, while the store fails.
		s.log.Warn("webhooks: recording an attempt", "delivery", cur.ID, "err", err)
		return false
	}
	s.webhooks.metrics.webhookAttempt(outcome)
	return true
}

// outcome records in d the attempt that got code or err, and returns what
// it came to: delivered, retrying or failed.
func (ws *webhookSender) outcome(d *WebhookDelivery, code int, err error, now time.Time) string {
	d.Attempts++
	d.LastCode, d.LastError = code, ""
	switch {
	case err == nil && code/100 == 2:
		d.Status = deliveryDelivered
		return deliveryDelivered
	case err != nil:
		d.LastError = attemptError(err)
	default:
		d.LastError = "answered " + strconv.Itoa(code) + ", not 2xx"
	}
	next := now.Add(ws.backoff(d.Attempts))
	if next.After(d.CreatedAt.Add(webhookRetryFor)) {
		d.Status = deliveryFailed
		return deliveryFailed
	}
	d.NextAt = next
	return "retrying"
}

// attemptError says why an attempt got no answer, for the endpoint's
// owner: nothing of the server's, and of a refused address only its class.
func attemptError(err error) string {
	var netErr net.Error
	var blocked *blockedAddressError
	switch {
	case errors.As(err, &blocked):
		return "refused: " + refusedAddressMessage(blocked.reason)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %v", webhookTimeout)
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
