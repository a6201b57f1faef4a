package main

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddr: rate limits key on the connection's peer, and on
// X-Forwarded-For only through trusted proxies, reading every header line so
// a client cannot put its own forged line before the proxy's.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	s := &server{cfg: &config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		name  string
		peer  string
		lines []string
		want  string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "10.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged first hop ignored", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"forged line before the proxy's", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.1:4000", []string{"198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"entry with a port", "10.0.0.1:4000", []string{"198.51.100.1:5678"}, "198.51.100.1"},
		{"IPv6 entry with a port", "10.0.0.1:4000", []string{"[2001:db8::1]:5678"}, "2001:db8::1"},
		{"garbage stops the walk", "10.0.0.1:4000", []string{"198.51.100.1, garbage"}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, l := range tt.lines {
				r.Header.Add("X-Forwarded-For", l)
			}
			if got := s.clientAddr(r); got.String() != tt.want {
				t.Errorf("clientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestProxyUserCrossSite: a user named by a trusted proxy's X-User-Id is an
// ambient credential like a cookie (the proxy signs browsers in with its
// own), so cross-site state changes are refused; the same request from the
// desktop app (no browser headers) goes through.
func TestProxyUserCrossSite(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, proxyAuthEnv())
	body := map[string]any{"filename": "x.txt"}
	for _, h := range []map[string]string{
		{"X-User-Id": "mallory-victim", "Sec-Fetch-Site": "cross-site"},
		{"X-User-Id": "mallory-victim", "Origin": "https://evil.example"},
	} {
		resp, data := e.do(request{method: "POST", path: "/upload/", body: body, header: h})
		wantStatus(t, resp, data, http.StatusForbidden)
	}
	resp, data := e.do(request{method: "POST", path: "/upload/", body: body, header: map[string]string{"X-User-Id": "mallory-victim"}})
	wantStatus(t, resp, data, http.StatusCreated)
}

// TestJSONErrorsHideGoTypes: a wrongly typed body is described in API
// terms, never with the server's Go type names.
func TestJSONErrorsHideGoTypes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("typed")
	for _, body := range []string{`[]`, `"x"`, `{"filename":"a","size":1.5}`, `{"filename":{"a":1}}`} {
		resp, data := e.do(request{method: "POST", path: "/upload/", token: tok, body: body})
		wantStatus(t, resp, data, http.StatusBadRequest)
		if s := string(data); strings.Contains(s, "main.") || strings.Contains(s, "int64") || strings.Contains(s, "string") {
			t.Errorf("body %s: error names Go types: %s", body, s)
		}
	}
}

// TestMuxErrorsAreJSON: unknown routes answer 404 and known routes with
// another method 405 (with Allow), both in the API's error shape.
func TestMuxErrorsAreJSON(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("router")
	resp, body := e.do(request{method: "GET", path: "/no/such/route", token: tok})
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = e.do(request{method: "DELETE", path: "/download/" + newID(), token: tok})
	wantStatus(t, resp, body, http.StatusMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 without Allow: GET (got %q)", allow)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("405 Cache-Control %q", cc)
	}
}

// TestNoCORS: nothing that accepts cookies answers with a CORS grant, so no
// other site can read an answer (SECURITY.md 21).
func TestNoCORS(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	tok := e.newUser("cors")
	origin := map[string]string{"Origin": "https://evil.example"}
	for _, req := range []request{
		{method: "GET", path: "/list/", token: tok, header: origin},
		{method: "OPTIONS", path: "/upload/", header: origin},
		{method: "GET", path: "/me", token: tok, header: origin},
		{method: "GET", path: "/login/", header: origin},
	} {
		resp, _ := e.do(req)
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("%s %s: Access-Control-Allow-Origin %q", req.method, req.path, v)
		}
	}
}
