package main

// Where a request comes from and how its client reaches us: the client's
// address (for rate limits), trusted proxies, the base URL and scheme
// clients see, and the loopback checks of local sign-in.

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// baseURL is this server's URL as the client sees it: the one fixed at
// start, or, with local sign-in and no PUBLIC_URL, the request's Host,
// which loopbackHostOnly has checked is a loopback name or address.
func (s *server) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if s.isHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// publicBaseURL is the base URL the configuration gives: PUBLIC_URL, or
// with a provider the origin of OIDC_REDIRECT_URI (config.check demands
// one of them), never the request's Host, which any client may set. ""
// with local sign-in and no PUBLIC_URL: the port may be chosen at start.
func publicBaseURL(cfg *config) string {
	switch {
	case cfg.PublicURL != nil:
		return cfg.PublicURL.String()
	case cfg.localSignIn() || cfg.OIDCRedirectURI == "":
		return ""
	}
	u, err := url.Parse(cfg.OIDCRedirectURI) // validated by loadConfig
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// isHTTPS tells whether the client reached us over HTTPS: directly, by
// the base URL fixed at start, or through a trusted proxy that says so.
func (s *server) isHTTPS(r *http.Request) bool {
	switch {
	case r.TLS != nil:
		return true
	case s.publicURL != "":
		return strings.HasPrefix(s.publicURL, "https://")
	}
	return s.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// clientAddr is the address rate limits apply to: the connection's peer,
// or, when that peer is a trusted proxy, the last address in
// X-Forwarded-For that is not itself a trusted proxy.
func (s *server) clientAddr(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !s.isTrustedProxy(peer) {
		return peer
	}
	// Every X-Forwarded-For line counts: a proxy may append its own line
	// after one the client forged, and only the last hops are trustworthy.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, ok := parseForwardedAddr(hops[i])
		if !ok {
			break
		}
		if !s.isTrustedProxy(addr) {
			return addr
		}
	}
	return peer
}

// parseForwardedAddr reads one X-Forwarded-For entry: an address, with a
// port or not.
func parseForwardedAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	addr, err := netip.ParseAddr(hop)
	return addr.Unmap(), err == nil
}

// fromTrustedProxy tells whether the connection's peer is a trusted proxy.
func (s *server) fromTrustedProxy(r *http.Request) bool { return s.isTrustedProxy(remoteAddr(r)) }

// isTrustedProxy tells whether addr is in TRUSTED_PROXIES.
func (s *server) isTrustedProxy(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// remoteAddr is the connection's peer address (IPv4-mapped addresses as
// IPv4, so they match IPv4 ranges).
func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr.Unmap()
}

// isLocalHost accepts a Host header naming loopback.
func isLocalHost(hostport string) bool {
	host := hostport
	// Split only a Host that has a port (a colon after any IPv6 bracket):
	// a failed split allocates its error, and this runs on every request.
	if strings.LastIndexByte(hostport, ':') > strings.LastIndexByte(hostport, ']') {
		if h, _, err := net.SplitHostPort(hostport); err == nil {
			host = h
		}
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.IsLoopback()
}

// isLoopbackAddr reports whether a listen address binds only loopback
// interfaces ("localhost:8080", "127.0.0.1:0", "[::1]:80").
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
