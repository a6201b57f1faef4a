package main

// HTTPS by itself: Dropp terminates TLS on ADDR with a certificate it gets
// over ACME (TLS=auto) or one the operator brings (TLS_CERT_FILE and
// TLS_KEY_FILE), and answers plain HTTP on HTTP_ADDR only to pass ACME's
// HTTP-01 challenges and to redirect to PUBLIC_URL. See docs/https.md.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// tlsAuto is the TLS setting's one value: get the certificate over ACME.
const tlsAuto = "auto"

// Default ports with TLS: HTTPS on ADDR, and with TLS=auto the plain-HTTP
// listener, where ACME's HTTP-01 challenges arrive.
const (
	httpsPort       = "443"
	acmeHTTPAddr    = ":80"
	acmeCacheSubdir = "acme"
)

// letsEncryptDirectory is ACME_DIRECTORY_URL's default.
const letsEncryptDirectory = acme.LetsEncryptURL

// tlsSettings are the settings of HTTPS by itself.
type tlsSettings struct {
	Auto     bool   // TLS=auto: a certificate for PUBLIC_URL's host over ACME
	CertFile string // a certificate the operator brings (with KeyFile)
	KeyFile  string
	// HTTPAddr is the plain-HTTP listener's address; "" for none.
	HTTPAddr string
	// httpAddrSet tells that HTTP_ADDR was set rather than defaulted, for
	// the rule that it means nothing without TLS.
	httpAddrSet   bool
	ACMEDirectory string
	ACMEEmail     string
	ACMECARoot    string // PEM file of roots for the ACME directory's own HTTPS
}

// on tells whether Dropp terminates TLS itself.
func (t tlsSettings) on() bool { return t.Auto || t.CertFile != "" }

// tlsSettings reads the TLS rows of the settings table.
func (p *envParser) tlsSettings() tlsSettings {
	t := tlsSettings{
		CertFile:      p.str("TLS_CERT_FILE"),
		KeyFile:       p.str("TLS_KEY_FILE"),
		ACMEDirectory: p.webURL("ACME_DIRECTORY_URL"),
		ACMEEmail:     p.str("ACME_EMAIL"),
		ACMECARoot:    p.str("ACME_CA_ROOT_FILE"),
	}
	switch v := strings.ToLower(p.str("TLS")); v {
	case "":
	case tlsAuto:
		t.Auto = true
	default:
		p.fail("TLS", "want auto (a certificate over ACME) or unset, got %q", v)
	}
	def := ""
	if t.Auto {
		def = acmeHTTPAddr
	}
	t.httpAddrSet = p.str("HTTP_ADDR") != ""
	if t.httpAddrSet || def != "" {
		t.HTTPAddr = p.listenAddr("HTTP_ADDR", def)
	}
	return t
}

// withHTTPSPort is addr's host with the HTTPS port: ADDR's default with TLS.
func withHTTPSPort(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return net.JoinHostPort(host, httpsPort)
}

// checkTLS gives the TLS rules that span several settings, skipping those
// that read a setting already reported malformed (failed).
func (c *config) checkTLS(failed map[string]bool) []error {
	t := c.TLS
	if failed["TLS"] || failed["PUBLIC_URL"] {
		return nil
	}
	var errs []error
	rule := func(broken bool, msg string) {
		if broken {
			errs = append(errs, errors.New(msg))
		}
	}
	rule(t.Auto && t.CertFile != "",
		"TLS=auto and TLS_CERT_FILE are exclusive: either Dropp gets its certificate over ACME, or it serves the one you bring")
	rule((t.CertFile == "") != (t.KeyFile == ""),
		"TLS_CERT_FILE and TLS_KEY_FILE go together: set both, or neither")
	rule(t.Auto && (c.PublicURL == nil || c.PublicURL.Scheme != "https"),
		"TLS=auto needs an https:// PUBLIC_URL: the certificate is for its host name")
	if t.Auto && c.PublicURL != nil {
		_, err := netip.ParseAddr(c.PublicURL.Hostname())
		rule(err == nil, fmt.Sprintf("TLS=auto needs a host name in PUBLIC_URL, not an IP address (%q): ACME certificates are for names", c.PublicURL.Hostname()))
	}
	rule(t.CertFile != "" && c.PublicURL != nil && c.PublicURL.Scheme != "https",
		fmt.Sprintf("PUBLIC_URL %q is http:// but Dropp serves HTTPS (TLS_CERT_FILE): make it https://", c.PublicURL))
	rule(t.httpAddrSet && !t.on(),
		"HTTP_ADDR is set but Dropp does not serve HTTPS: it is the plain-HTTP listener beside TLS=auto or TLS_CERT_FILE")
	rule(t.HTTPAddr != "" && t.CertFile != "" && publicBaseURL(c) == "",
		"HTTP_ADDR redirects to PUBLIC_URL: set PUBLIC_URL")
	return errs
}

// front is how clients reach the server: plain HTTP on ADDR, or TLS on
// ADDR beside an optional plain-HTTP listener on HTTP_ADDR.
type front struct {
	tls      *tls.Config  // nil: plain HTTP
	plain    http.Handler // HTTP_ADDR's handler; nil: no such listener
	httpAddr string
	httpLn   net.Listener
	acme     *autocert.Manager // nil unless TLS=auto
	acmeHost string
	hsts     bool     // send HSTS: not for a loopback PUBLIC_URL (hstsFor)
	lines    []string // start-up lines
}

// newFront prepares TLS as the settings ask: it reads the certificate
// files, or sets up the ACME client, so a mistake stops the start.
func newFront(cfg *config, logger *slog.Logger) (*front, error) {
	t := cfg.TLS
	f := &front{httpAddr: t.HTTPAddr, hsts: hstsFor(cfg.PublicURL)}
	switch {
	case t.Auto:
		if err := f.setUpACME(cfg); err != nil {
			return nil, err
		}
	case t.CertFile != "":
		certs, err := loadCertFiles(t.CertFile, t.KeyFile, logger)
		if err != nil {
			return nil, err
		}
		f.tls = &tls.Config{GetCertificate: certs.getCertificate, NextProtos: []string{"h2", "http/1.1"}}
		f.lines = append(f.lines, "tls: certificate from "+t.CertFile+" (loaded again when it changes)")
		if f.httpAddr != "" {
			f.plain = redirectToHTTPS(publicBaseURL(cfg))
		}
	}
	return f, nil
}

// setUpACME builds the autocert manager for PUBLIC_URL's host, caching its
// account key and certificates in DATA_DIR/acme.
func (f *front) setUpACME(cfg *config) error {
	t := cfg.TLS
	client, err := acmeHTTPClient(t.ACMECARoot)
	if err != nil {
		return err
	}
	f.acmeHost = strings.ToLower(cfg.PublicURL.Hostname())
	f.acme = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(cfg.DataDir, acmeCacheSubdir)),
		HostPolicy: onlyHost(f.acmeHost),
		Email:      t.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: t.ACMEDirectory, HTTPClient: client},
	}
	f.tls = f.acme.TLSConfig()
	f.plain = f.acme.HTTPHandler(redirectToHTTPS(cfg.PublicURL.String()))
	f.lines = append(f.lines, fmt.Sprintf("tls: acme %s for %s, cached in %s", t.ACMEDirectory, f.acmeHost, filepath.Join(cfg.DataDir, acmeCacheSubdir)))
	return nil
}

// onlyHost lets autocert act for host alone. A port is dropped first:
// autocert's HTTP-01 handler checks the request's Host, which names one
// when HTTP_ADDR is not on port 80 (behind a port mapping, in tests).
func onlyHost(host string) autocert.HostPolicy {
	allowed := autocert.HostWhitelist(host)
	return func(ctx context.Context, name string) error {
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
		return allowed(ctx, name)
	}
}

// acmeHTTPClient is the client that talks to the ACME directory: the
// system's roots, plus those in ACME_CA_ROOT_FILE for a test or private CA.
func acmeHTTPClient(rootFile string) (*http.Client, error) {
	if rootFile == "" {
		return http.DefaultClient, nil
	}
	pem, err := os.ReadFile(rootFile)
	if err != nil {
		return nil, fmt.Errorf("ACME_CA_ROOT_FILE: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ACME_CA_ROOT_FILE: no PEM certificate in %s", rootFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots}
	return &http.Client{Transport: transport, Timeout: time.Minute}, nil
}

// listen binds ADDR and, with TLS, HTTP_ADDR, so that a port in use stops
// the start before anything is announced.
func (f *front) listen(addr string) (net.Listener, error) {
	ln, err := listen("ADDR", addr)
	if err != nil {
		return nil, err
	}
	if f.plain == nil {
		return ln, nil
	}
	f.httpLn, err = listen("HTTP_ADDR", f.httpAddr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	f.lines = append(f.lines, "http: "+f.httpLn.Addr().String()+" redirects to https")
	return ln, nil
}

// close releases HTTP_ADDR's listener when serve never ran.
func (f *front) close() {
	if f.httpLn != nil {
		f.httpLn.Close()
	}
}

// serve runs srv on ln (over TLS when configured) and the plain-HTTP
// listener beside it, until ctx ends or either fails. With TLS=auto it
// asks for the certificate at once, so that the first visitor does not
// wait for the CA.
func (f *front) serve(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	if f.tls == nil {
		return serve(ctx, srv, ln, logger)
	}
	if f.hsts {
		srv.Handler = withHSTS(srv.Handler)
	}
	ln = tls.NewListener(ln, f.tls)
	if f.plain == nil {
		return serve(ctx, srv, ln, logger)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- serve(ctx, newHTTPServer(f.plain), f.httpLn, logger); cancel() }()
	go func() { errc <- serve(ctx, srv, ln, logger); cancel() }()
	if f.acme != nil {
		go f.obtainCertificate(logger)
	}
	return errors.Join(<-errc, <-errc)
}

// obtainCertificate gets (or loads from the cache) the certificate for the
// ACME host, as a first handshake would, and logs the outcome. The hello
// offers ECDSA, which every current client does, so the certificate got is
// the one they will be served.
func (f *front) obtainCertificate(logger *slog.Logger) {
	hello := &tls.ClientHelloInfo{
		ServerName:        f.acmeHost,
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
	cert, err := f.acme.GetCertificate(hello)
	if err != nil {
		logger.Warn("acme: no certificate yet; the next handshake tries again", "host", f.acmeHost, "err", err)
		return
	}
	logger.Info("acme: certificate ready", "host", f.acmeHost, "not_after", cert.Leaf.NotAfter)
}

// hstsFor tells whether to send HSTS for this PUBLIC_URL. Not on a
// loopback one: a browser keeps HSTS for the host name on every port, so a
// year of it for localhost would upgrade the developer's next plain
// `go run .` on http://localhost:8080 to https, a connection error until
// they clear it by hand (review 16).
func hstsFor(public *url.URL) bool {
	return public == nil || !isLocalHost(public.Host)
}

// hstsValue tells browsers to use only HTTPS for a year. Not for
// subdomains: they may be served by other programs, which Dropp cannot
// speak for.
const hstsValue = "max-age=31536000"

// withHSTS adds Strict-Transport-Security to every answer over TLS.
func withHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsValue)
		next.ServeHTTP(w, r)
	})
}

// redirectToHTTPS answers plain HTTP with a permanent redirect to the same
// path under base (PUBLIC_URL), never to the request's Host, which any
// client may set. 308 keeps the method.
func redirectToHTTPS(base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// healthcheckTLSClient is how `dropp healthcheck` reaches ADDR when it
// speaks TLS. It names PUBLIC_URL's host, the only one autocert answers,
// and does not verify the certificate: the probe talks to its own host's
// loopback, sends nothing secret and reads only the status, and the
// certificate may come from a CA this host does not trust (a private CA, a
// test CA) while the server is healthy.
func healthcheckTLSClient(cfg *config) *http.Client {
	serverName := ""
	if cfg.PublicURL != nil {
		serverName = cfg.PublicURL.Hostname()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{ServerName: serverName, InsecureSkipVerify: true}
	return &http.Client{Transport: transport}
}

// certRecheck is how often, at most, the certificate files are read
// again: renewals are rare, handshakes are not.
const certRecheck = 2 * time.Second

// certFiles serves the certificate in TLS_CERT_FILE and TLS_KEY_FILE, and
// loads them again when either changes. A change is told by the files'
// contents, not their times: two writes within one tick of the file
// system's clock have the same time. A new pair that does not load (a key
// not yet written beside its certificate, a typo) is warned about once and
// the old one kept.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu              sync.Mutex
	cert            *tls.Certificate
	certPEM, keyPEM []byte    // the files' contents when last read
	checked         time.Time // when they were last read
}

// loadCertFiles reads the pair once; an invalid pair stops the start.
func loadCertFiles(certFile, keyFile string, logger *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: logger, checked: time.Now()}
	var err error
	if c.certPEM, c.keyPEM, err = c.read(); err == nil {
		c.cert, err = parseKeyPair(c.certPEM, c.keyPEM)
	}
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT_FILE, TLS_KEY_FILE: %w", err)
	}
	return c, nil
}

// getCertificate is the tls.Config hook: the current pair, loaded again
// first if the files changed since the last look (at most every
// certRecheck).
func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < certRecheck {
		return c.cert, nil
	}
	c.checked = time.Now()
	certPEM, keyPEM, err := c.read()
	if err != nil || bytes.Equal(certPEM, c.certPEM) && bytes.Equal(keyPEM, c.keyPEM) {
		return c.cert, nil // a file missing for a moment is being replaced
	}
	c.certPEM, c.keyPEM = certPEM, keyPEM
	cert, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		c.log.Warn("TLS_CERT_FILE, TLS_KEY_FILE changed but do not load; still serving the previous certificate", "err", err)
		return c.cert, nil
	}
	c.cert = cert
	c.log.Info("TLS_CERT_FILE, TLS_KEY_FILE loaded again", "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return c.cert, nil
}

// read reads both files.
func (c *certFiles) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(c.certFile); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(c.keyFile); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// parseKeyPair checks that the key matches the certificate
// (tls.X509KeyPair fills Leaf).
func parseKeyPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}
