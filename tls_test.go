package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTLSSettings: the TLS rules, each with a message that names what to
// change, and the listen addresses TLS implies.
func TestTLSSettings(t *testing.T) {
	t.Parallel()
	google := []string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s"}
	bad := []struct {
		name string
		env  []string
		want string
	}{
		{"unknown mode", []string{"TLS", "on"}, "TLS: want auto"},
		{"auto without PUBLIC_URL", append([]string{"TLS", "auto", "GOOGLE_REDIRECT_URI", "https://d.example.com/auth/google/callback"}, google...), "TLS=auto needs an https:// PUBLIC_URL"},
		{"auto with http PUBLIC_URL", append([]string{"TLS", "auto", "PUBLIC_URL", "http://d.example.com"}, google...), "TLS=auto needs an https:// PUBLIC_URL"},
		{"auto with an IP", append([]string{"TLS", "auto", "PUBLIC_URL", "https://192.0.2.7"}, google...), "not an IP address"},
		{"auto with an IPv6", append([]string{"TLS", "auto", "PUBLIC_URL", "https://[2001:db8::1]:8443"}, google...), "not an IP address"},
		{"auto and files", append([]string{"TLS", "auto", "PUBLIC_URL", "https://d.example.com", "TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem"}, google...), "exclusive"},
		{"cert without key", []string{"TLS_CERT_FILE", "c.pem", "PUBLIC_URL", "https://localhost:8443"}, "TLS_CERT_FILE and TLS_KEY_FILE go together"},
		{"key without cert", []string{"TLS_KEY_FILE", "k.pem"}, "TLS_CERT_FILE and TLS_KEY_FILE go together"},
		{"files with http PUBLIC_URL", []string{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "PUBLIC_URL", "http://localhost:8443"}, "make it https://"},
		{"HTTP_ADDR without TLS", []string{"HTTP_ADDR", "127.0.0.1:8081"}, "HTTP_ADDR is set but Dropp does not serve HTTPS"},
		{"HTTP_ADDR malformed", []string{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "PUBLIC_URL", "https://localhost", "HTTP_ADDR", "80"}, "HTTP_ADDR: want host:port"},
		{"redirect with nowhere to go", []string{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "HTTP_ADDR", "127.0.0.1:8081"}, "HTTP_ADDR redirects to PUBLIC_URL"},
		{"directory not a URL", append([]string{"TLS", "auto", "PUBLIC_URL", "https://d.example.com", "ACME_DIRECTORY_URL", "acme.example"}, google...), "ACME_DIRECTORY_URL: want an absolute"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(configGetenv(tc.env...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if lines := strings.Count(err.Error(), "\n") + 1; lines != 1 {
				t.Errorf("%d lines for one mistake:\n%v", lines, err)
			}
		})
	}
	good := []struct {
		name               string
		env                []string
		wantAddr, wantHTTP string
	}{
		{"auto", append([]string{"TLS", "AUTO", "PUBLIC_URL", "https://d.example.com"}, google...), ":443", ":80"},
		{"auto on chosen ports", append([]string{"TLS", "auto", "PUBLIC_URL", "https://d.example.com:8443", "ADDR", ":8443", "HTTP_ADDR", ":8080"}, google...), ":8443", ":8080"},
		{"files, local sign-in", []string{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "PUBLIC_URL", "https://localhost"}, "127.0.0.1:443", ""},
		{"files with a redirect", append([]string{"TLS_CERT_FILE", "c.pem", "TLS_KEY_FILE", "k.pem", "PUBLIC_URL", "https://d.example.com", "HTTP_ADDR", ":80"}, google...), ":443", ":80"},
		{"no TLS", nil, localSignInAddr, ""},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(configGetenv(tc.env...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != tc.wantAddr || cfg.TLS.HTTPAddr != tc.wantHTTP {
				t.Errorf("ADDR %q, HTTP_ADDR %q; want %q, %q", cfg.Addr, cfg.TLS.HTTPAddr, tc.wantAddr, tc.wantHTTP)
			}
		})
	}
}

// TestTLSStartErrors: a certificate pair or CA root that does not load
// stops the start with a message naming the settings.
func TestTLSStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	_, keyFile := ca.issueFiles(t, dir, "localhost")
	otherCert, _ := ca.issueFiles(t, t.TempDir(), "localhost")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing file", map[string]string{"TLS_CERT_FILE": filepath.Join(dir, "none.pem"), "TLS_KEY_FILE": keyFile}, "TLS_CERT_FILE, TLS_KEY_FILE:"},
		{"key of another certificate", map[string]string{"TLS_CERT_FILE": otherCert, "TLS_KEY_FILE": keyFile}, "private key does not match"},
		{"CA root not PEM", map[string]string{"TLS": "auto", "PUBLIC_URL": "https://d.example.com", "GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "s",
			"ACME_CA_ROOT_FILE": garbage}, "ACME_CA_ROOT_FILE: no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0", "PUBLIC_URL": "https://localhost"}
			for k, v := range tc.env {
				env[k] = v
			}
			if env["TLS"] == "" {
				delete(env, "HTTP_ADDR")
			}
			err := runDropp(context.Background(), []string{"dropp"}, testGetenv(env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTLSCertFilesReload serves a certificate from TLS_CERT_FILE (local
// sign-in on https://localhost), with Secure cookies but no HSTS (a year
// of it would break the developer's next plain http://localhost), which `dropp
// healthcheck` reaches over TLS; after the files are replaced, a new
// handshake sees the new certificate.
func TestTLSCertFilesReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issueFiles(t, dir, "localhost")
	port := freePort(t)
	env := map[string]string{
		"DATA_DIR": t.TempDir(), "ADDR": "127.0.0.1:" + port, "PUBLIC_URL": "https://localhost:" + port,
		"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile,
	}
	base, _, _ := startRun(t, env)
	c := ca.client(nil)
	first := servedSerial(t, c, base)
	if first == nil || first.Cmp(ca.lastSerial) != 0 {
		t.Fatalf("served serial %v, want %v", first, ca.lastSerial)
	}
	checkSecureAnswers(t, c, base, "")
	checkLocalSignInCookies(t, c, base)
	var out bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "healthcheck"}, testGetenv(env), &out, &out); err != nil || !strings.Contains(out.String(), "healthy: https://") {
		t.Errorf("dropp healthcheck over TLS: %v, %q", err, out.String())
	}

	// A renewal: the new pair replaces the old one's files.
	newCert, newKey := ca.issueFiles(t, t.TempDir(), "localhost")
	replaceFile(t, newKey, keyFile)
	replaceFile(t, newCert, certFile)
	deadline := time.Now().Add(3*certRecheck + 5*time.Second)
	for {
		got := servedSerial(t, c, base)
		if got.Cmp(ca.lastSerial) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving serial %v after the files changed, want %v", got, ca.lastSerial)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCertFilesKeepOldPairWhenNewIsBad: a certificate replaced without its
// key (or with garbage) is warned about, and the previous pair is served.
func TestCertFilesKeepOldPairWhenNewIsBad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issueFiles(t, dir, "localhost")
	var logs syncBuffer
	files, err := loadCertFiles(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := files.cert
	newCert, _ := ca.issueFiles(t, t.TempDir(), "localhost")
	replaceFile(t, newCert, certFile) // its key not (yet) beside it
	files.checked = time.Time{}       // as if certRecheck had passed
	got, err := files.getCertificate(nil)
	if err != nil || got != want {
		t.Fatalf("getCertificate = %v, %v; want the previous pair", got, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "previous certificate") {
		t.Errorf("no warning logged: %q", logs.String())
	}
	// Within certRecheck the files are not looked at again.
	os.WriteFile(certFile, []byte("garbage"), 0o600)
	if got, _ := files.getCertificate(nil); got != want {
		t.Error("the files were re-read before certRecheck passed")
	}
}

// TestACMEWithPebble: Dropp with TLS=auto gets its certificate from Pebble
// and serves the API and the web page over it to a client that trusts
// Pebble's root; HTTP_ADDR redirects to https; answers carry HSTS, cookies
// are Secure. Once with Pebble's validation switched off, and once with
// real validation of each challenge Dropp answers: TLS-ALPN-01 on ADDR,
// and HTTP-01 on HTTP_ADDR (Pebble's TLS-ALPN-01 port then points where
// nothing listens, so autocert falls back to HTTP-01). Not parallel: with 4
// tests at once every validation of a run failed at once (docs/testing.md).
func TestACMEWithPebble(t *testing.T) {
	bins := requirePebble(t)
	t.Run("always valid, then from the cache", func(t *testing.T) {
		dataDir := t.TempDir()
		dropp := acmeTest(t, bins, pebbleOptions{alwaysValid: true}, dataDir)
		info, err := os.Stat(filepath.Join(dataDir, acmeCacheSubdir))
		if err != nil || info.Mode().Perm() != 0o700 {
			t.Fatalf("certificate cache: %v, %v; want a directory with mode 0700", info, err)
		}
		// The cache holds private keys: each file readable by Dropp alone.
		cached, err := os.ReadDir(filepath.Join(dataDir, acmeCacheSubdir))
		if err != nil || len(cached) == 0 {
			t.Fatalf("certificate cache: %d files, %v", len(cached), err)
		}
		for _, e := range cached {
			if info, err := e.Info(); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("certificate cache file %s: %v, %v; want mode 0600", e.Name(), info, err)
			}
		}
		// A restart serves the cached certificate without asking the CA.
		dropp.stop()
		env := dropp.env
		env["ACME_DIRECTORY_URL"] = "https://127.0.0.1:" + freePort(t) + "/dir"
		base, _, _ := startRun(t, env)
		if got := servedSerial(t, dropp.client, base); got.Cmp(dropp.serial) != 0 {
			t.Errorf("after a restart: serial %v, want the cached %v", got, dropp.serial)
		}
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		dropp := acmeTest(t, bins, pebbleOptions{}, t.TempDir())
		if strings.Contains(dropp.pebbleLog.String(), "validate w/ HTTP") {
			t.Error("Pebble validated over HTTP-01; want TLS-ALPN-01")
		}
	})
	t.Run("http-01", func(t *testing.T) {
		dropp := acmeTest(t, bins, pebbleOptions{tlsALPNClosed: true}, t.TempDir())
		if !strings.Contains(dropp.pebbleLog.String(), "validate w/ HTTP") {
			t.Errorf("Pebble did not validate over HTTP-01:\n%s", dropp.pebbleLog.String())
		}
	})
}

// acmeDropp is a Dropp started by acmeTest, with its certificate.
type acmeDropp struct {
	env       map[string]string
	client    *http.Client // trusts Pebble's root, resolves acmeTestHost
	serial    *big.Int
	pebbleLog *syncBuffer
	stop      func()
}

// acmeTestHost is the name Dropp gets its certificate for; Pebble resolves
// it to 127.0.0.1 through pebble-challtestsrv, the test client by its dialer.
const acmeTestHost = "dropp.test"

// acmeTest starts Pebble and Dropp with TLS=auto, waits for the
// certificate and checks what Dropp serves over it.
func acmeTest(t *testing.T, bins pebbleBins, opts pebbleOptions, dataDir string) *acmeDropp {
	t.Helper()
	httpsPort, httpPort := freePort(t), freePort(t)
	opts.httpPort, opts.tlsPort = httpPort, httpsPort
	if opts.tlsALPNClosed {
		opts.tlsPort = freePort(t)
	}
	peb := startPebble(t, bins, opts)
	prov := newFakeProvider(t)
	env := map[string]string{
		"DATA_DIR": dataDir, "TLS": "auto", "PUBLIC_URL": "https://" + acmeTestHost + ":" + httpsPort,
		"ADDR": "127.0.0.1:" + httpsPort, "HTTP_ADDR": "127.0.0.1:" + httpPort,
		"ACME_DIRECTORY_URL": peb.directory, "ACME_CA_ROOT_FILE": peb.caFile, "ACME_EMAIL": "ops@" + acmeTestHost,
		"GOOGLE_CLIENT_ID": testClientID, "GOOGLE_CLIENT_SECRET": testClientSecret, "OAUTH_ISSUER": prov.URL,
	}
	began := time.Now()
	base, _, logs, stop := startLoggedRun(t, env)
	client := peb.client()
	var serial *big.Int
	for deadline := time.Now().Add(90 * time.Second); serial == nil; time.Sleep(100 * time.Millisecond) {
		serial = tryServedSerial(client, base)
		if serial == nil && time.Now().After(deadline) {
			t.Fatalf("no certificate after 90 s; Dropp's log:\n%s\nPebble's log:\n%s", logs.String(), peb.log.String())
		}
	}
	t.Logf("certificate from Pebble %.2f s after start", time.Since(began).Seconds())
	checkSecureAnswers(t, client, base, "max-age=31536000")
	checkRedirectToHTTPS(t, "http://127.0.0.1:"+httpPort, base)
	checkProviderSignInCookies(t, client, base)
	var out bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "healthcheck"}, testGetenv(env), &out, &out); err != nil {
		t.Errorf("dropp healthcheck with TLS=auto: %v, %q", err, out.String())
	}
	return &acmeDropp{env: env, client: client, serial: serial, pebbleLog: peb.log, stop: stop}
}

// checkSecureAnswers: the API and the web page answer over TLS, each with
// the HSTS header wanted ("": none).
func checkSecureAnswers(t *testing.T, c *http.Client, base, wantHSTS string) {
	t.Helper()
	for _, path := range []string{"/healthz", "/openapi.json", "/", "/no-such-route"} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != wantHSTS {
			t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, hsts, wantHSTS)
		}
		want := map[string]int{"/no-such-route": http.StatusNotFound}[path]
		if want == 0 {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d: %.200s", path, resp.StatusCode, want, body)
		}
		switch path {
		case "/openapi.json":
			if !json.Valid(body) {
				t.Errorf("GET /openapi.json: not JSON")
			}
		case "/":
			if !bytes.Contains(body, []byte("<html")) {
				t.Errorf("GET /: not the web page: %.200s", body)
			}
		}
	}
}

// checkLocalSignInCookies: local sign-in over HTTPS sets a Secure session
// cookie.
func checkLocalSignInCookies(t *testing.T, c *http.Client, base string) {
	t.Helper()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(base + "/auth/google")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) == 0 {
		t.Fatalf("local sign-in: %d and no cookie", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure || !strings.HasPrefix(ck.Name, "__Host-") {
			t.Errorf("local sign-in set cookie %s without Secure or the __Host- prefix", ck.Name)
		}
	}
}

// checkRedirectToHTTPS: plain HTTP answers every path with a redirect to
// the same path under PUBLIC_URL, whatever Host the request names.
func checkRedirectToHTTPS(t *testing.T, plain, base string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", plain+"/s/abc?x=1", nil)
	req.Host = "evil.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != base+"/s/abc?x=1" {
		t.Errorf("plain HTTP: %d Location %q, want 308 to %s/s/abc?x=1", resp.StatusCode, resp.Header.Get("Location"), base)
	}
}

// checkProviderSignInCookies signs in through the provider over HTTPS as a
// browser does and checks that every cookie Dropp sets is Secure.
func checkProviderSignInCookies(t *testing.T, c *http.Client, base string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := *c
	browser.Jar = jar
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next, cookies := base+"/auth/google", 0
	for hops := 0; hops < 5 && next != ""; hops++ {
		resp, err := browser.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, ck := range resp.Cookies() {
			cookies++
			if strings.HasPrefix(next, base) && (!ck.Secure || !ck.HttpOnly) {
				t.Errorf("%s set cookie %s without Secure or HttpOnly", next, ck.Name)
			}
		}
		loc, _ := resp.Location()
		next = ""
		if loc != nil {
			next = loc.String()
		}
	}
	if cookies < 2 {
		t.Fatalf("sign-in set %d cookies, want the state and the session cookie", cookies)
	}
	resp, err := browser.Get(base + "/me")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("alice@example.com")) {
		t.Errorf("GET /me after sign-in: %d %s", resp.StatusCode, body)
	}
}

// servedSerial is the serial number of the certificate base serves.
func servedSerial(t *testing.T, c *http.Client, base string) *big.Int {
	t.Helper()
	serial := tryServedSerial(c, base)
	if serial == nil {
		t.Fatalf("no TLS answer from %s", base)
	}
	return serial
}

// tryServedSerial is servedSerial, nil when the handshake fails. Each call
// makes a new connection, so each sees the certificate served now.
func tryServedSerial(c *http.Client, base string) *big.Int {
	tr := c.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(base + "/healthz")
	if err != nil {
		return nil
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber
}

// freePort is a TCP port free on loopback a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// replaceFile moves src over dst in one rename, as a certificate renewal
// tool does.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// testCA issues certificates for the tests: for Dropp's TLS_CERT_FILE and
// for Pebble's own HTTPS listener.
type testCA struct {
	cert       *x509.Certificate
	key        *ecdsa.PrivateKey
	pem        []byte
	lastSerial *big.Int
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Dropp test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issueFiles writes a new certificate for names (DNS names or IPs) and
// its key into dir, and returns their paths.
func (ca *testCA) issueFiles(t *testing.T, dir string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, name := range names {
		if ip, err := netip.ParseAddr(name); err == nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, name)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	ca.lastSerial = serial
	return certFile, keyFile
}

// client is an HTTPS client that trusts only the given roots' PEM (the
// CA's own when nil) and reaches acmeTestHost on loopback.
func (ca *testCA) client(rootsPEM []byte) *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cmpOr(rootsPEM, ca.pem))
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, _ := net.SplitHostPort(addr); host == acmeTestHost {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// cmpOr is cmp.Or for byte slices.
func cmpOr(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

// pebbleBins are the two programs scripts/test builds from testrig/pebble.
type pebbleBins struct{ pebble, challtestsrv string }

// requirePebble finds Pebble and pebble-challtestsrv; a missing one fails
// the test (scripts/test builds both into .cache/bin).
func requirePebble(t *testing.T) pebbleBins {
	t.Helper()
	pebble, err := findBinary("DROPP_PEBBLE_BIN", "pebble")
	if err != nil {
		t.Fatal(err)
	}
	challtestsrv, err := findBinary("DROPP_CHALLTESTSRV_BIN", "pebble-challtestsrv")
	if err != nil {
		t.Fatal(err)
	}
	return pebbleBins{pebble, challtestsrv}
}

// pebbleOptions choose how Pebble validates.
type pebbleOptions struct {
	alwaysValid   bool // PEBBLE_VA_ALWAYS_VALID: no challenge is checked
	tlsALPNClosed bool // TLS-ALPN-01 is checked on a port nothing listens on
	// httpPort and tlsPort are where Pebble checks HTTP-01 and TLS-ALPN-01.
	httpPort, tlsPort string
}

// pebble is a running Pebble with its DNS server.
type pebble struct {
	directory string      // the ACME directory URL
	caFile    string      // the root of Pebble's own HTTPS listener
	issuing   []byte      // the root Pebble issues certificates under
	log       *syncBuffer // Pebble's output
	ca        *testCA
}

// startPebble starts pebble-challtestsrv as a DNS server that answers
// 127.0.0.1 for every name, and Pebble using it, on free loopback ports,
// with a certificate for its own listener made here.
func startPebble(t *testing.T, bins pebbleBins, opts pebbleOptions) *pebble {
	t.Helper()
	dir := t.TempDir()
	log := &syncBuffer{}
	dnsPort := startChallTestSrv(t, bins.challtestsrv, log)

	ca := newTestCA(t)
	certFile, keyFile := ca.issueFiles(t, dir, "127.0.0.1", "localhost")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o600)
	apiPort, mgmtPort := freePort(t), freePort(t)
	config := map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + apiPort, "managementListenAddress": "127.0.0.1:" + mgmtPort,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": atoi(t, opts.httpPort), "tlsPort": atoi(t, opts.tlsPort),
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	configFile := filepath.Join(dir, "pebble.json")
	data, _ := json.Marshal(config)
	os.WriteFile(configFile, data, 0o600)
	cmd := exec.Command(bins.pebble, "-config", configFile, "-dnsserver", "127.0.0.1:"+dnsPort)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0")
	if opts.alwaysValid {
		cmd.Env = append(cmd.Env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	startProc(t, cmd, log)

	p := &pebble{directory: "https://127.0.0.1:" + apiPort + "/dir", caFile: caFile, log: log, ca: ca}
	mgmt := ca.client(nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := mgmt.Get("https://127.0.0.1:" + mgmtPort + "/roots/0")
		if err == nil {
			p.issuing, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pebble did not answer on its management port: %v\n%s", err, log.String())
		}
	}
	return p
}

// startChallTestSrv starts pebble-challtestsrv, its output into log, and
// returns its DNS port once it answers there: Pebble validates at once, and
// a lookup that meets no server fails the challenge. Its ports were free a
// moment before it binds them; when another test took one in between and
// it exits, it is started again on others.
func startChallTestSrv(t *testing.T, bin string, log *syncBuffer) (dnsPort string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		dnsPort = freeUDPPort(t)
		cmd := exec.Command(bin, "-dnsserver", "127.0.0.1:"+dnsPort, "-defaultIPv6", "",
			"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", "127.0.0.1:"+freePort(t))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", "127.0.0.1:"+dnsPort)
		}}
		for deadline := time.Now().Add(30 * time.Second); !isClosed(exited); time.Sleep(50 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			addrs, err := resolver.LookupHost(ctx, acmeTestHost)
			cancel()
			if err == nil && slices.Contains(addrs, "127.0.0.1") {
				return dnsPort
			}
			if time.Now().After(deadline) {
				t.Fatalf("pebble-challtestsrv does not answer %s on %s: %v, %v\n%s", acmeTestHost, dnsPort, addrs, err, log.String())
			}
		}
		if attempt == 3 {
			t.Fatalf("pebble-challtestsrv exited, 3 times:\n%s", log.String())
		}
	}
}

// client trusts the root Pebble issues under, and nothing else.
func (p *pebble) client() *http.Client { return p.ca.client(p.issuing) }

// startProc starts cmd, its output into out (when not nil), and kills it
// when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd, out io.Writer) {
	t.Helper()
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// freeUDPPort is a UDP port free on loopback a moment ago.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(fmt.Errorf("port %q: %w", s, err))
	}
	return n
}
