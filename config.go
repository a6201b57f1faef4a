package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// setting documents one environment variable; settings is the single list
// that both `-h` and the README's configuration table follow.
type setting struct {
	name, def, help string
}

var settings = []setting{
	{"ADDR", "127.0.0.1:8080 with local sign-in, :8080 with GOOGLE_CLIENT_ID", "listen address"},
	{"PUBLIC_URL", "derived from each request", "base URL of this server as clients reach it, e.g. https://dropp.example.com"},
	{"SECRET_KEY", "required with MongoDB; generated into DATA_DIR in local mode", "key for signing cookies (at least 32 bytes)"},
	{"SECRET_KEY_PREVIOUS", "", "previous SECRET_KEY, still accepted for cookies during a rotation"},
	{"MONGODB_URI", "unset: local metadata store in DATA_DIR", "MongoDB connection string"},
	{"MONGO_DB", "dropp", "MongoDB database name"},
	{"AWS_S3_BUCKET", "unset: local object store in DATA_DIR", "S3 bucket for file contents"},
	{"AWS_REGION", "us-east-1", "S3 region"},
	{"AWS_ENDPOINT_URL_S3", "AWS", "S3 endpoint, for S3-compatible servers"},
	{"AWS_ENDPOINT_URL", "AWS", "endpoint for all AWS services; AWS_ENDPOINT_URL_S3 wins"},
	{"AWS_ACCESS_KEY_ID", "the SDK's standard chain", "S3 access key (with AWS_SECRET_ACCESS_KEY and optional AWS_SESSION_TOKEN)"},
	{"AWS_SECRET_ACCESS_KEY", "the SDK's standard chain", "S3 secret key"},
	{"AWS_SESSION_TOKEN", "unset", "S3 session token, for temporary credentials"},
	{"S3_FORCE_PATH_STYLE", "false", "use path-style S3 URLs (most S3-compatible servers need it)"},
	{"PRESIGN_TTL_SECONDS", "900", "lifetime of download URLs"},
	{"UPLOAD_POST_TTL_SECONDS", "3600", "lifetime of upload forms"},
	{"MAX_UPLOAD_BYTES", "5368709120 (5 GiB)", "largest accepted file"},
	{"TRUST_X_USER_ID", "false", "trust an X-User-Id header set by an authenticating proxy in front of Dropp"},
	{"GOOGLE_CLIENT_ID", "unset: local sign-in (loopback only)", "OAuth client id"},
	{"GOOGLE_CLIENT_SECRET", "", "OAuth client secret"},
	{"GOOGLE_REDIRECT_URI", "PUBLIC_URL + /auth/google/callback", "callback URL registered with the provider"},
	{"OAUTH_ISSUER", "https://accounts.google.com", "OpenID Connect issuer"},
	{"APP_REDIRECT_URI", "dropp://auth/callback", "desktop app's default redirect URI"},
	{"ALLOWED_EMAIL_DOMAINS", "anyone", "comma list of email domains allowed to sign in"},
	{"ALLOWED_EMAILS", "anyone", "comma list of emails allowed to sign in"},
	{"TOKEN_TTL_SECONDS", "2592000 (30 days)", "lifetime of desktop access tokens"},
	{"SESSION_TTL_SECONDS", "604800 (7 days)", "lifetime of browser sessions"},
	{"AUTH_RATE_LIMIT", "60", "sign-in and token requests per minute per client address (burst as many)"},
	{"TRUSTED_PROXIES", "", "comma list of proxy addresses/CIDRs whose X-Forwarded-For is believed"},
	{"DATA_DIR", "./dropp-data", "where local mode keeps metadata, objects and its generated key"},
	{"LOCAL_USER_EMAIL", "you@localhost", "the user local sign-in signs in as"},
}

// printUsage writes the `-h` text: every variable with its default.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: dropp\n\nDropp is configured by environment variables (or a .env file in the working directory):\n\n")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  %-24s %s (default: %s)\n", s.name, s.help, def)
	}
}

// config is the validated configuration.
type config struct {
	Addr      string
	PublicURL *url.URL // nil: derived from each request

	SecretKey         []byte // nil until local mode generates one
	SecretKeyPrevious []byte

	MongoURI string
	MongoDB  string

	Bucket         string
	Region         string
	S3Endpoint     string
	S3PathStyle    bool
	AWSAccessKey   string
	AWSSecretKey   string
	AWSSessionTok  string
	PresignTTL     time.Duration
	UploadTTL      time.Duration
	MaxUploadBytes int64

	TrustXUserID bool

	GoogleClientID     string
	GoogleClientSecret string
	GoogleRedirectURI  string
	OAuthIssuer        string
	AppRedirectURI     string
	AllowedDomains     []string
	AllowedEmails      []string
	TokenTTL           time.Duration
	SessionTTL         time.Duration
	AuthRateLimit      int
	TrustedProxies     []netip.Prefix

	DataDir        string
	LocalUserEmail string
}

// localMetadata, localObjects and localSignIn tell which backends fall back
// to local mode.
func (c *config) localMetadata() bool { return c.MongoURI == "" }
func (c *config) localObjects() bool  { return c.Bucket == "" }
func (c *config) localSignIn() bool   { return c.GoogleClientID == "" }

// minSecretKeyLen is the shortest SECRET_KEY accepted: 256 bits.
const minSecretKeyLen = 32

// loadConfig reads and validates every variable; the first problem found
// is returned as one line naming the variable.
func loadConfig(getenv func(string) string) (*config, error) {
	p := &envParser{getenv: getenv}
	c := &config{
		MongoURI:           p.str("MONGODB_URI", ""),
		MongoDB:            p.str("MONGO_DB", "dropp"),
		Bucket:             p.str("AWS_S3_BUCKET", ""),
		Region:             p.str("AWS_REGION", "us-east-1"),
		S3Endpoint:         p.str("AWS_ENDPOINT_URL_S3", p.str("AWS_ENDPOINT_URL", "")),
		S3PathStyle:        p.boolean("S3_FORCE_PATH_STYLE"),
		AWSAccessKey:       p.str("AWS_ACCESS_KEY_ID", ""),
		AWSSecretKey:       p.str("AWS_SECRET_ACCESS_KEY", ""),
		AWSSessionTok:      p.str("AWS_SESSION_TOKEN", ""),
		PresignTTL:         p.seconds("PRESIGN_TTL_SECONDS", 900, 7*24*3600),
		UploadTTL:          p.seconds("UPLOAD_POST_TTL_SECONDS", 3600, 7*24*3600),
		MaxUploadBytes:     p.integer("MAX_UPLOAD_BYTES", 5<<30, 1, 5<<40),
		TrustXUserID:       p.boolean("TRUST_X_USER_ID"),
		GoogleClientID:     p.str("GOOGLE_CLIENT_ID", ""),
		GoogleClientSecret: p.str("GOOGLE_CLIENT_SECRET", ""),
		GoogleRedirectURI:  p.webURL("GOOGLE_REDIRECT_URI", ""),
		OAuthIssuer:        p.issuerURL("OAUTH_ISSUER", "https://accounts.google.com"),
		AppRedirectURI:     p.redirectURI("APP_REDIRECT_URI", "dropp://auth/callback"),
		AllowedDomains:     p.list("ALLOWED_EMAIL_DOMAINS"),
		AllowedEmails:      p.list("ALLOWED_EMAILS"),
		TokenTTL:           p.seconds("TOKEN_TTL_SECONDS", 30*24*3600, 365*24*3600),
		SessionTTL:         p.seconds("SESSION_TTL_SECONDS", 7*24*3600, 365*24*3600),
		AuthRateLimit:      int(p.integer("AUTH_RATE_LIMIT", 60, 1, 1_000_000)),
		TrustedProxies:     p.prefixes("TRUSTED_PROXIES"),
		DataDir:            p.str("DATA_DIR", "./dropp-data"),
		LocalUserEmail:     p.str("LOCAL_USER_EMAIL", "you@localhost"),
	}
	c.PublicURL = p.baseURL("PUBLIC_URL")
	c.SecretKey = p.secret("SECRET_KEY")
	c.SecretKeyPrevious = p.secret("SECRET_KEY_PREVIOUS")
	c.Addr = p.str("ADDR", c.defaultAddr())
	if p.err != nil {
		return nil, p.err
	}
	return c, c.check()
}

// defaultAddr listens on loopback only when local sign-in is in use, since
// local sign-in lets anyone who reaches the port act as the local user.
func (c *config) defaultAddr() string {
	if c.localSignIn() {
		return "127.0.0.1:8080"
	}
	return ":8080"
}

// check validates rules that span several variables.
func (c *config) check() error {
	switch {
	case !c.localMetadata() && c.SecretKey == nil:
		return errors.New("SECRET_KEY is required when MONGODB_URI is set (every instance must share it); generate one with: openssl rand -hex 32")
	case c.localSignIn() && !isLoopbackAddr(c.Addr):
		return fmt.Errorf("ADDR %q is not a loopback address: local sign-in (GOOGLE_CLIENT_ID unset) would let anyone on the network sign in; set GOOGLE_CLIENT_ID or listen on 127.0.0.1", c.Addr)
	case c.localSignIn() && c.PublicURL != nil && !isLocalHost(c.PublicURL.Host):
		return fmt.Errorf("PUBLIC_URL %q is not a loopback URL: local sign-in (GOOGLE_CLIENT_ID unset) would let anyone who reaches it sign in; set GOOGLE_CLIENT_ID", c.PublicURL)
	case c.localSignIn() && len(c.TrustedProxies) > 0:
		return errors.New("TRUSTED_PROXIES is set but GOOGLE_CLIENT_ID is not: local sign-in behind a proxy would let anyone who reaches the proxy sign in")
	case !c.localSignIn() && c.GoogleClientSecret == "":
		return errors.New("GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set")
	case !c.localSignIn() && c.GoogleRedirectURI == "" && c.PublicURL == nil:
		return errors.New("GOOGLE_REDIRECT_URI (or PUBLIC_URL) is required when GOOGLE_CLIENT_ID is set")
	}
	return nil
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

// envParser reads variables and keeps the first error, so loadConfig reads
// as a plain list of settings.
type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (p *envParser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *envParser) boolean(name string) bool {
	v := p.str(name, "false")
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "want true or false, got %q", v)
	}
	return b
}

func (p *envParser) integer(name string, def, lo, hi int64) int64 {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		p.fail(name, "want an integer from %d to %d, got %q", lo, hi, v)
	}
	return n
}

func (p *envParser) seconds(name string, def, hi int64) time.Duration {
	return time.Duration(p.integer(name, def, 1, hi)) * time.Second
}

func (p *envParser) list(name string) []string {
	var out []string
	for _, item := range strings.Split(p.str(name, ""), ",") {
		if item = strings.ToLower(strings.TrimSpace(item)); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *envParser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range p.list(name) {
		prefix, err := netip.ParsePrefix(item)
		if err != nil {
			addr, aerr := netip.ParseAddr(item)
			if aerr != nil {
				p.fail(name, "want IP addresses or CIDRs, got %q", item)
				continue
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		out = append(out, prefix.Masked())
	}
	return out
}

func (p *envParser) baseURL(name string) *url.URL {
	v := p.str(name, "")
	if v == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimSuffix(v, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "want an absolute http(s) URL without query, got %q", v)
		return nil
	}
	return u
}

// webURL reads an absolute http(s) URL without a fragment.
func (p *envParser) webURL(name, def string) string {
	v := p.str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		p.fail(name, "want an absolute http(s) URL without user info or fragment, got %q", v)
	}
	return v
}

// issuerURL reads an OpenID issuer: https, except on a loopback host where
// a development provider may speak plain http.
func (p *envParser) issuerURL(name, def string) string {
	v := p.webURL(name, def)
	if u, err := url.Parse(v); err == nil && u.Scheme == "http" && !isLocalHost(u.Host) {
		p.fail(name, "an issuer must use https (plain http only on a loopback host), got %q", v)
	}
	return v
}

// redirectURI reads the desktop app's redirect URI: absolute (any scheme,
// since apps register their own, such as dropp://), without a fragment
// (RFC 6749 §3.1.2).
func (p *envParser) redirectURI(name, def string) string {
	v := p.str(name, def)
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.HasSuffix(v, "#") || u.User != nil {
		p.fail(name, "want an absolute URI without user info or fragment, such as dropp://auth/callback, got %q", v)
	}
	return v
}

func (p *envParser) secret(name string) []byte {
	v := p.getenv(name)
	if v == "" {
		return nil
	}
	if len(v) < minSecretKeyLen {
		p.fail(name, "must be at least %d bytes (got %d); generate one with: openssl rand -hex 32", minSecretKeyLen, len(v))
		return nil
	}
	return []byte(v)
}

// withDotEnv returns a getenv that falls back to KEY=VALUE lines of the
// file at path, so real environment variables win over the file. A missing
// file is not an error.
func withDotEnv(getenv func(string) string, path string) func(string) string {
	f, err := os.Open(path)
	if err != nil {
		return getenv
	}
	defer f.Close()
	vars := parseDotEnv(f)
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return vars[key]
	}
}

// parseDotEnv reads KEY=VALUE lines; blank lines and # comments are skipped,
// an optional "export " prefix is allowed, and values may be single- or
// double-quoted (quotes removed, no escapes) or bare (a " #" starts a comment).
func parseDotEnv(r io.Reader) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	// Past bufio.Scanner's default 64 KiB line limit (a pasted certificate,
	// say) the scan would stop silently, ignoring every later line.
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[strings.TrimSpace(key)] = unquoteEnvValue(strings.TrimSpace(val))
	}
	return vars
}

func unquoteEnvValue(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
			return v[1 : end+1]
		}
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}
