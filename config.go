package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// setting documents one environment variable; settings is the single list
// that loadConfig takes defaults from and that both `-h` and the README's
// configuration table follow.
type setting struct {
	name string
	// def is the default value, as the variable would be set, which
	// loadConfig uses when the variable is unset; "" when there is none
	// (or it depends on other settings, as note then says).
	def string
	// note tells the default in words: after def in parentheses ("5 GiB"),
	// or, without def, what unset means ("anyone").
	note string
	help string
}

// Default listen addresses: loopback only with local sign-in, since it
// lets anyone who reaches the port act as the local user.
const (
	localSignInAddr = "127.0.0.1:8080"
	providerAddr    = ":8080"
)

var settings = []setting{
	{"ADDR", "", localSignInAddr + " with local sign-in, " + providerAddr + " with OIDC_CLIENT_ID or SIGNIN=accounts; port " + httpsPort + " with TLS", "listen address (HTTPS with TLS=auto or TLS_CERT_FILE)"},
	{"PUBLIC_URL", "", "the origin of OIDC_REDIRECT_URI; with local sign-in, the request's loopback Host", "origin of Dropp as clients reach it, e.g. https://dropp.example.com (no path: Dropp is served at the root of its host)"},
	{"SECRET_KEY", "", "required with MongoDB; generated into DATA_DIR in local mode", "key for signing cookies (at least 32 bytes)"},
	{"SECRET_KEY_PREVIOUS", "", "", "previous SECRET_KEY, still accepted for cookies during a rotation"},
	{"MONGODB_URI", "", "unset: local metadata store in DATA_DIR", "MongoDB connection string"},
	{"MONGO_DB", "dropp", "", "MongoDB database name"},
	{"MONGODB_MAX_CALLS", "8", "", "MongoDB calls each instance makes at once; more wait in a queue (docs/scale.md)"},
	{"MONGODB_QUEUE", "64", "", "MongoDB calls each instance queues; beyond them a request is answered 503 with Retry-After at once"},
	{"AWS_S3_BUCKET", "", "unset: local object store in DATA_DIR", "S3 bucket for file contents"},
	{"AWS_REGION", "us-east-1", "", "S3 region"},
	{"AWS_ENDPOINT_URL_S3", "", "AWS", "S3 endpoint, for S3-compatible servers"},
	{"AWS_ENDPOINT_URL", "", "AWS", "endpoint for all AWS services; AWS_ENDPOINT_URL_S3 wins"},
	{"AWS_ACCESS_KEY_ID", "", "the SDK's standard chain", "S3 access key (with AWS_SECRET_ACCESS_KEY and optional AWS_SESSION_TOKEN)"},
	{"AWS_SECRET_ACCESS_KEY", "", "the SDK's standard chain", "S3 secret key"},
	{"AWS_SESSION_TOKEN", "", "", "S3 session token, for temporary credentials"},
	{"S3_FORCE_PATH_STYLE", "false", "", "use path-style S3 URLs (most S3-compatible servers need it)"},
	{"PRESIGN_TTL_SECONDS", "900", "", "lifetime of download URLs"},
	{"UPLOAD_POST_TTL_SECONDS", "3600", "", "lifetime of upload forms, PUT URLs and part URLs"},
	{"MAX_UPLOAD_BYTES", "53687091200", "50 GiB", "largest accepted file; a single-form upload takes at most 5 GiB, larger files go in parts"},
	{"S3_UPLOAD_METHOD", uploadMethodPost, "", "post: single uploads are pre-signed POST forms; put: pre-signed PUT URLs (Cloudflare R2, Backblaze B2)"},
	{"PART_SIZE_BYTES", "16777216", "16 MiB", "smallest part of a multipart upload (at least 5 MiB; raised so a file takes at most 10,000 parts)"},
	{"MULTIPART_TTL_SECONDS", "604800", "7 days", "lifetime of a multipart upload, for resuming"},
	{"TRUST_X_USER_ID", "false", "", "trust an X-User-Id header set by an authenticating proxy in front of Dropp"},
	{"SIGNIN", "", "oidc with OIDC_CLIENT_ID, else local", "how people sign in: local (the loopback-only local user), oidc (the OpenID provider), accounts (invited accounts with passwords or passkeys, see docs/accounts.md) or oidc,accounts"},
	{"INVITATION_TTL_SECONDS", "604800", "7 days", "lifetime of an invitation link (dropp invite, POST /admin/invitations)"},
	{"OIDC_CLIENT_ID", "", "unset: local sign-in (loopback only)", "OpenID Connect client id"},
	{"OIDC_CLIENT_SECRET", "", "", "OpenID Connect client secret"},
	{"OIDC_REDIRECT_URI", "", "PUBLIC_URL + /auth/google/callback", "callback URL registered with the provider (the path is /auth/google/callback for every provider)"},
	{"OIDC_ISSUER", googleIssuer, "Google", "OpenID Connect issuer URL, e.g. https://auth.example.com/application/o/dropp/"},
	{"OIDC_NAME", "", "Google with Google's issuer, else the issuer's host", "provider name on the sign-in button (\"Sign in with NAME\"), at most 40 characters"},
	{"OIDC_GROUPS_CLAIM", "groups", "", "ID token claim that lists the user's groups (an array of strings, or one string)"},
	{"OIDC_TRUST_EMAIL", "false", "", "true: an ID token without email_verified counts as verified (for providers that verify every email but omit the claim)"},
	{"ALLOWED_GROUPS", "", "anyone", "comma list of groups (OIDC_GROUPS_CLAIM) whose members may sign in; checked with the email lists, at every request"},
	{"APP_REDIRECT_URI", "dropp://auth/callback", "", "desktop app's default redirect URI"},
	{"ALLOWED_EMAIL_DOMAINS", "", "anyone", "comma list of email domains allowed to sign in"},
	{"ALLOWED_EMAILS", "", "anyone", "comma list of emails allowed to sign in"},
	{"TOKEN_TTL_SECONDS", "2592000", "30 days", "lifetime of desktop access tokens"},
	{"SESSION_TTL_SECONDS", "604800", "7 days", "lifetime of browser sessions"},
	{"PAT_MAX_TTL_SECONDS", "31536000", "1 year", "longest lifetime a personal access token may ask for (docs/tokens.md)"},
	{"PAT_ALLOW_NO_EXPIRY", "false", "", "true: a personal access token may ask never to expire (\"expires_in\": \"never\")"},
	{"SHARE_TTL_SECONDS", "604800", "7 days", "lifetime of a share link that asks for none"},
	{"SHARE_MAX_TTL_SECONDS", "2592000", "30 days", "longest lifetime a share link may ask for"},
	{"MAX_SHARES_PER_FILE", "100", "", "most live (unexpired, unrevoked) share links a file may have, 1 to 10000"},
	{"AUTH_RATE_LIMIT", "60", "", "sign-in, token, share-link and file-request calls per minute per client address, and per file request (burst as many)"},
	{"TRUSTED_PROXIES", "", "", "comma list of proxy addresses/CIDRs whose X-Forwarded-For is believed"},
	{"DATA_DIR", "./dropp-data", "", "where local mode keeps metadata, objects and its generated key"},
	{"LOCAL_USER_EMAIL", "you@localhost", "", "the user local sign-in signs in as"},
	{"QUOTA_BYTES_PER_USER", "0", "unlimited", "bytes each user may store, pending uploads included (0: unlimited)"},
	{"QUOTA_FILES_PER_USER", "0", "unlimited", "files each user may have, pending uploads included (0: unlimited)"},
	{"SWEEP_INTERVAL_SECONDS", "600", "", "how often each instance deletes abandoned uploads and expired credentials"},
	{"SWEEP_GRACE_SECONDS", "3600", "1 hour", "how long after an upload form or part URL expires the sweeper waits before it deletes what was sent with it"},
	{"ADMIN_EMAILS", "", "", "comma list of emails of the administrators (GET /admin/)"},
	{"ADMIN_GROUPS", "", "", "comma list of groups (OIDC_GROUPS_CLAIM) whose members are administrators"},
	{"CONTAINER_PORT_ON_HOST_LOOPBACK", "false", "", "with local sign-in in a container: true says its port is published on the host's loopback only (-p 127.0.0.1:8080:8080), so ADDR may be :8080; refused outside a container"},
	{"TLS", "", "unset: plain HTTP, unless TLS_CERT_FILE is set", "auto: serve HTTPS on ADDR with a certificate for PUBLIC_URL's host from an ACME CA (Let's Encrypt), renewed by itself; see docs/https.md"},
	{"TLS_CERT_FILE", "", "", "PEM certificate (chain) to serve HTTPS on ADDR with, re-read when it changes (with TLS_KEY_FILE)"},
	{"TLS_KEY_FILE", "", "", "PEM private key of TLS_CERT_FILE"},
	{"HTTP_ADDR", "", acmeHTTPAddr + " with TLS=auto; else none", "plain-HTTP listen address beside HTTPS: answers ACME HTTP-01 challenges and redirects the rest to PUBLIC_URL"},
	{"ACME_DIRECTORY_URL", letsEncryptDirectory, "Let's Encrypt", "ACME directory of the CA for TLS=auto, e.g. Let's Encrypt's staging one"},
	{"ACME_EMAIL", "", "", "contact email given to the ACME CA (expiry and policy notices)"},
	{"ACME_CA_ROOT_FILE", "", "the system's roots", "PEM root(s) trusted for the ACME directory's own HTTPS, for a test or private CA"},
	{"WEBHOOK_ALLOW_PRIVATE", "false", "", "true: webhooks may be sent to loopback, private, link-local and metadata addresses, and over plain http (see docs/webhooks.md)"},
	{"METRICS_ADDR", "", "unset: no metrics", "listen address of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9090 (keep it off the public network)"},
	{"LOG_FORMAT", "text", "", "log format on stderr: text or json"},
}

// settingAliases are the older names of settings, still read so that no
// deployment breaks when a setting is renamed: Dropp once spoke only to
// Google. An alias stands for its setting; both set to different values
// is an error, since either could be the one meant.
var settingAliases = []struct{ alias, name string }{
	{"GOOGLE_CLIENT_ID", "OIDC_CLIENT_ID"},
	{"GOOGLE_CLIENT_SECRET", "OIDC_CLIENT_SECRET"},
	{"GOOGLE_REDIRECT_URI", "OIDC_REDIRECT_URI"},
	{"OAUTH_ISSUER", "OIDC_ISSUER"},
}

// aliasOf is the older name of the setting name, or "".
func aliasOf(name string) string {
	for _, a := range settingAliases {
		if a.name == name {
			return a.alias
		}
	}
	return ""
}

// shownDefault is the default as `-h` and the README tell it.
func (s setting) shownDefault() string {
	switch {
	case s.def != "" && s.note != "":
		return s.def + " (" + s.note + ")"
	case s.def != "":
		return s.def
	case s.note != "":
		return s.note
	}
	return "unset"
}

// settingDefault is the settings table's default for the variable name.
// Every variable loadConfig reads is in the table, so a name that is not
// is a mistake in the code, found by any test that loads a configuration.
func settingDefault(name string) string {
	i := slices.IndexFunc(settings, func(s setting) bool { return s.name == name })
	if i < 0 {
		panic("config: " + name + " is read but not in the settings table")
	}
	return settings[i].def
}

// printUsage writes the `-h` text: every variable with its default.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: dropp              start Dropp\n       dropp version      print the version (also: dropp -version)\n       dropp healthcheck  exit 0 if Dropp at ADDR answers GET /healthz\n       dropp backup DIR   copy local mode's data, while Dropp runs, into the new directory DIR\n       dropp reconcile [-delete]\n                          report (or delete) stored objects that no file record names\n       dropp migrate      copy local mode's data (DATA_DIR) into MONGODB_URI and AWS_S3_BUCKET; stop Dropp first\n       dropp invite EMAIL [-admin]\n                          print a one-time invitation link (SIGNIN=accounts); works while Dropp runs\n\nDropp is configured by environment variables (or a .env file in the working directory):\n\n")
	for _, s := range settings {
		fmt.Fprintf(w, "  %-24s %s (default: %s)\n", s.name, s.help, s.shownDefault())
		if alias := aliasOf(s.name); alias != "" {
			fmt.Fprintf(w, "  %-24s older name of %s, still read\n", alias, s.name)
		}
	}
}

// config is the validated configuration.
type config struct {
	Addr      string
	PublicURL *url.URL // nil: see publicBaseURL

	SecretKey         []byte // nil until local mode generates one
	SecretKeyPrevious []byte

	MongoURI string
	MongoDB  string

	Bucket          string
	Region          string
	S3Endpoint      string
	S3PathStyle     bool
	AWSAccessKey    string
	AWSSecretKey    string
	AWSSessionToken string
	PresignTTL      time.Duration
	UploadTTL       time.Duration
	MaxUploadBytes  int64
	UploadMethod    string // uploadMethodPost or uploadMethodPut
	PartSize        int64
	MultipartTTL    time.Duration

	TrustXUserID bool

	// SignIn is how people sign in: signInLocal alone, or signInOIDC
	// and/or signInAccounts (accounts.go).
	SignIn        []string
	InvitationTTL time.Duration

	OIDCClientID     string
	OIDCClientSecret string
	OIDCRedirectURI  string
	OIDCIssuer       string
	OIDCName         string // the provider's name on the sign-in button
	OIDCGroupsClaim  string
	OIDCTrustEmail   bool // an ID token without email_verified counts as verified
	AllowedGroups    []string
	AppRedirectURI   string
	AllowedDomains   []string
	AllowedEmails    []string
	TokenTTL         time.Duration
	PATMaxTTL        time.Duration // tokens.go
	PATAllowNoExpiry bool
	SessionTTL       time.Duration
	ShareTTL         time.Duration
	ShareMaxTTL      time.Duration
	MaxSharesPerFile int
	AuthRateLimit    int
	TrustedProxies   []netip.Prefix

	DataDir        string
	LocalUserEmail string

	// MongoMaxCalls and MongoQueue size the gate in front of MongoDB
	// (dbgate.go).
	MongoMaxCalls int
	MongoQueue    int

	QuotaBytes    int64 // 0: unlimited
	QuotaFiles    int64 // 0: unlimited
	SweepInterval time.Duration
	// SweepGrace is how long after a form or part URL expired the sweeper
	// leaves what it was for: a client whose post finished just in time
	// can still complete.
	SweepGrace  time.Duration
	AdminEmails []string
	AdminGroups []string

	// PublishedOnHostLoopback is the operator's word that this container's
	// port is published on the host's loopback only (see runningInContainer).
	PublishedOnHostLoopback bool
	MetricsAddr             string // "" = no metrics listener
	// WebhookAllowPrivate lets webhooks reach private addresses, over
	// http too (webhook_delivery.go).
	WebhookAllowPrivate bool

	TLS tlsSettings // tls.go
}

// localMetadata, localObjectStore and localSignIn tell which backends fall back
// to local mode.
func (c *config) localMetadata() bool    { return c.MongoURI == "" }
func (c *config) localObjectStore() bool { return c.Bucket == "" }
func (c *config) localSignIn() bool      { return slices.Contains(c.SignIn, signInLocal) }

// oidcSignIn and accountsSignIn tell which of the two sign-ins that work
// on any address are on (SIGNIN).
func (c *config) oidcSignIn() bool     { return slices.Contains(c.SignIn, signInOIDC) }
func (c *config) accountsSignIn() bool { return slices.Contains(c.SignIn, signInAccounts) }

// S3_UPLOAD_METHOD values: how a single upload is signed.
const (
	uploadMethodPost = "post" // a POST form with a policy (AWS, MinIO, Ceph, ...)
	uploadMethodPut  = "put"  // a PUT URL (Cloudflare R2 and Backblaze B2 have no POST policies)
)

// minSecretKeyLen is the shortest SECRET_KEY accepted: 256 bits.
const minSecretKeyLen = 32

// loadConfig reads and validates every variable. Every problem found is
// reported, each on a line of its own that names its variable, so that one
// start shows them all.
func loadConfig(getenv func(string) string) (*config, error) {
	p := &envParser{getenv: getenv}
	c := &config{
		MongoURI:         p.mongoURI("MONGODB_URI"),
		MongoDB:          p.str("MONGO_DB"),
		Bucket:           p.str("AWS_S3_BUCKET"),
		Region:           p.str("AWS_REGION"),
		S3Endpoint:       cmp.Or(p.str("AWS_ENDPOINT_URL_S3"), p.str("AWS_ENDPOINT_URL")),
		S3PathStyle:      p.boolean("S3_FORCE_PATH_STYLE"),
		AWSAccessKey:     p.str("AWS_ACCESS_KEY_ID"),
		AWSSecretKey:     p.str("AWS_SECRET_ACCESS_KEY"),
		AWSSessionToken:  p.str("AWS_SESSION_TOKEN"),
		PresignTTL:       p.seconds("PRESIGN_TTL_SECONDS", 7*24*3600),
		UploadTTL:        p.seconds("UPLOAD_POST_TTL_SECONDS", 7*24*3600),
		MaxUploadBytes:   p.integer("MAX_UPLOAD_BYTES", 1, maxObjectBytes),
		UploadMethod:     p.oneOf("S3_UPLOAD_METHOD", uploadMethodPost, uploadMethodPut),
		PartSize:         p.integer("PART_SIZE_BYTES", minPartBytes, maxPartBytes),
		MultipartTTL:     p.seconds("MULTIPART_TTL_SECONDS", 30*24*3600),
		TrustXUserID:     p.boolean("TRUST_X_USER_ID"),
		OIDCClientID:     p.str("OIDC_CLIENT_ID"),
		OIDCClientSecret: p.str("OIDC_CLIENT_SECRET"),
		OIDCRedirectURI:  p.webURL("OIDC_REDIRECT_URI"),
		OIDCIssuer:       p.issuerURL("OIDC_ISSUER"),
		OIDCGroupsClaim:  p.claimName("OIDC_GROUPS_CLAIM"),
		OIDCTrustEmail:   p.boolean("OIDC_TRUST_EMAIL"),
		AllowedGroups:    p.names("ALLOWED_GROUPS"),
		AppRedirectURI:   p.redirectURI("APP_REDIRECT_URI"),
		AllowedDomains:   p.list("ALLOWED_EMAIL_DOMAINS"),
		AllowedEmails:    p.list("ALLOWED_EMAILS"),
		TokenTTL:         p.seconds("TOKEN_TTL_SECONDS", 365*24*3600),
		PATMaxTTL:        p.seconds("PAT_MAX_TTL_SECONDS", 10*365*24*3600),
		PATAllowNoExpiry: p.boolean("PAT_ALLOW_NO_EXPIRY"),
		SessionTTL:       p.seconds("SESSION_TTL_SECONDS", 365*24*3600),
		ShareTTL:         p.seconds("SHARE_TTL_SECONDS", 365*24*3600),
		ShareMaxTTL:      p.seconds("SHARE_MAX_TTL_SECONDS", 365*24*3600),
		MaxSharesPerFile: int(p.integer("MAX_SHARES_PER_FILE", 1, 10_000)),
		AuthRateLimit:    int(p.integer("AUTH_RATE_LIMIT", 1, 1_000_000)),
		TrustedProxies:   p.prefixes("TRUSTED_PROXIES"),
		DataDir:          p.str("DATA_DIR"),
		LocalUserEmail:   p.str("LOCAL_USER_EMAIL"),
		QuotaBytes:       p.integer("QUOTA_BYTES_PER_USER", 0, 1<<62),
		QuotaFiles:       p.integer("QUOTA_FILES_PER_USER", 0, 1<<62),
		SweepInterval:    p.seconds("SWEEP_INTERVAL_SECONDS", 7*24*3600),
		SweepGrace:       p.seconds("SWEEP_GRACE_SECONDS", 7*24*3600),
		AdminEmails:      p.list("ADMIN_EMAILS"),
		AdminGroups:      p.names("ADMIN_GROUPS"),
	}
	c.MongoMaxCalls = int(p.integer("MONGODB_MAX_CALLS", 1, 10_000))
	c.MongoQueue = int(p.integer("MONGODB_QUEUE", 0, 100_000))
	c.PublishedOnHostLoopback = p.boolean("CONTAINER_PORT_ON_HOST_LOOPBACK")
	c.WebhookAllowPrivate = p.boolean("WEBHOOK_ALLOW_PRIVATE")
	c.SignIn = p.signInMethods("SIGNIN", c.OIDCClientID != "")
	c.InvitationTTL = p.seconds("INVITATION_TTL_SECONDS", 365*24*3600)
	if v := p.str("METRICS_ADDR"); v != "" {
		c.MetricsAddr = p.listenAddr("METRICS_ADDR", v)
	}
	if _, err := newLogHandler(p.str("LOG_FORMAT"), io.Discard); err != nil {
		p.fail("LOG_FORMAT", "%v", err)
	}
	c.OIDCName = p.label("OIDC_NAME", defaultProviderName(c.OIDCIssuer))
	c.PublicURL = p.baseURL("PUBLIC_URL")
	c.TLS = p.tlsSettings()
	c.SecretKey = p.secret("SECRET_KEY")
	c.SecretKeyPrevious = p.secret("SECRET_KEY_PREVIOUS")
	c.Addr = p.listenAddr("ADDR", c.defaultAddr())
	if err := errors.Join(append(p.errs, c.check(p.failed, p.spelled)...)...); err != nil {
		return nil, err
	}
	return c, nil
}

// defaultAddr listens on loopback only when local sign-in is in use, since
// local sign-in lets anyone who reaches the port act as the local user; on
// port 443 with TLS.
func (c *config) defaultAddr() string {
	addr := providerAddr
	if c.localSignIn() && !c.PublishedOnHostLoopback {
		addr = localSignInAddr
	}
	if c.TLS.on() {
		return withHTTPSPort(addr)
	}
	return addr
}

// check validates the rules that span several variables and returns every
// one broken. A rule is skipped when a variable it reads was already
// reported malformed (failed), so that one mistake gives one line. name
// is what to call a setting by (the operator's spelling: see spelled).
func (c *config) check(failed map[string]bool, name func(string) string) []error {
	var errs []error
	rule := func(broken bool, msg string, reads ...string) {
		if broken && !slices.ContainsFunc(reads, func(read string) bool { return failed[read] }) {
			errs = append(errs, errors.New(msg))
		}
	}
	rule(!c.localMetadata() && c.SecretKey == nil,
		"SECRET_KEY is required when MONGODB_URI is set (every instance must share it); generate one with: openssl rand -hex 32",
		"SECRET_KEY")
	rule(c.localSignIn() && !isLoopbackAddr(c.Addr) && !c.PublishedOnHostLoopback,
		fmt.Sprintf("ADDR %q is not a loopback address: local sign-in (no SIGNIN, OIDC_CLIENT_ID or GOOGLE_CLIENT_ID) would let anyone on the network sign in; listen on loopback (ADDR=%s), or set SIGNIN=accounts (docs/accounts.md) or OIDC_CLIENT_ID", c.Addr, loopbackAddr(c.Addr)),
		"ADDR")
	rule(c.PublishedOnHostLoopback && !runningInContainer("/"),
		"CONTAINER_PORT_ON_HOST_LOOPBACK=true but this process is not in a container (no /.dockerenv or /run/.containerenv): on a host, leave it unset and listen on 127.0.0.1",
		"CONTAINER_PORT_ON_HOST_LOOPBACK")
	rule(c.localSignIn() && c.PublicURL != nil && !isLocalHost(c.PublicURL.Host),
		fmt.Sprintf("PUBLIC_URL %q is not a loopback URL: local sign-in (no SIGNIN, OIDC_CLIENT_ID or GOOGLE_CLIENT_ID) would let anyone who reaches it sign in; set SIGNIN=accounts (docs/accounts.md) or OIDC_CLIENT_ID", c.PublicURL),
		"PUBLIC_URL")
	rule(c.localSignIn() && len(c.TrustedProxies) > 0,
		"TRUSTED_PROXIES is set but OIDC_CLIENT_ID (or GOOGLE_CLIENT_ID) is not: local sign-in behind a proxy would let anyone who reaches the proxy sign in",
		"TRUSTED_PROXIES")
	rule(c.TrustXUserID && len(c.TrustedProxies) == 0,
		"TRUST_X_USER_ID=true needs TRUSTED_PROXIES (the address of the authenticating proxy, which in turn needs OIDC_CLIENT_ID): otherwise any client can name any user in X-User-Id",
		"TRUSTED_PROXIES")
	rule(c.ShareTTL > c.ShareMaxTTL,
		fmt.Sprintf("SHARE_TTL_SECONDS (%d) is over SHARE_MAX_TTL_SECONDS (%d): a share link's default lifetime must be one it may ask for",
			int64(c.ShareTTL.Seconds()), int64(c.ShareMaxTTL.Seconds())),
		"SHARE_TTL_SECONDS", "SHARE_MAX_TTL_SECONDS")
	rule(c.oidcSignIn() && c.OIDCClientID == "",
		"SIGNIN includes oidc but "+name("OIDC_CLIENT_ID")+" is not set", "SIGNIN")
	// The two below hold once there is a client: without one, the rule
	// above says what to do, and they would only contradict it.
	rule(c.oidcSignIn() && c.OIDCClientID != "" && c.OIDCClientSecret == "",
		name("OIDC_CLIENT_SECRET")+" is required when "+name("OIDC_CLIENT_ID")+" is set",
		"OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "SIGNIN")
	rule(c.oidcSignIn() && c.OIDCClientID != "" && c.OIDCRedirectURI == "" && c.PublicURL == nil,
		name("OIDC_REDIRECT_URI")+" (or PUBLIC_URL) is required when "+name("OIDC_CLIENT_ID")+" is set",
		"OIDC_CLIENT_ID", "PUBLIC_URL", "SIGNIN")
	rule(c.accountsSignIn() && c.PublicURL == nil,
		"PUBLIC_URL is required with SIGNIN=accounts: invitation links are built from it", "PUBLIC_URL", "SIGNIN")
	return append(errs, c.checkTLS(failed)...)
}

// envParser reads variables and collects every error, so loadConfig reads
// as a plain list of settings and reports all problems at once.
type envParser struct {
	getenv func(string) string
	errs   []error
	failed map[string]bool // variables with an error in errs
	// readAs is the name each setting with an alias was set under; an
	// older name used for any of them makes usedAlias true.
	readAs    map[string]string
	usedAlias bool
}

// fail reports a problem with the setting name, under the name the
// operator set it by.
func (p *envParser) fail(name, format string, args ...any) {
	if p.failed[name] {
		return // one line per variable
	}
	if p.failed == nil {
		p.failed = map[string]bool{}
	}
	p.failed[name] = true
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.spelled(name), fmt.Sprintf(format, args...)))
}

// spelled is the name to call a setting by in a message: the one it was
// set under; for an unset one, its older name if the operator writes the
// older names (GOOGLE_CLIENT_SECRET missing beside GOOGLE_CLIENT_ID).
func (p *envParser) spelled(name string) string {
	if as, ok := p.readAs[name]; ok {
		return as
	}
	if alias := aliasOf(name); alias != "" && p.usedAlias {
		return alias
	}
	return name
}

// str reads a variable, trimmed, or else its default from the settings
// table. A setting with an older name is read under either name.
func (p *envParser) str(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if alias := aliasOf(name); alias != "" {
		v = p.reconcileAlias(name, v, alias)
	}
	if v != "" {
		return v
	}
	return settingDefault(name)
}

// reconcileAlias returns the value of the setting name (v as read under
// it) or of its older name alias, and records which was used. Both set
// to different values is an error naming both, without the values (one
// may be a secret).
func (p *envParser) reconcileAlias(name, v, alias string) string {
	old := strings.TrimSpace(p.getenv(alias))
	if p.readAs == nil {
		p.readAs = map[string]string{}
	}
	switch {
	case old == "" && v != "":
		p.readAs[name] = name
	case old == "":
	case v == "":
		p.readAs[name], p.usedAlias = alias, true
		return old
	case old == v:
		p.readAs[name] = name
	default:
		p.readAs[name] = name
		p.fail(name, "%s and its older name %s are both set, to different values; set only one of them", name, alias)
	}
	return v
}

func (p *envParser) boolean(name string) bool {
	v := p.str(name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "want true or false, got %q", v)
	}
	return b
}

func (p *envParser) integer(name string, lo, hi int64) int64 {
	v := p.str(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		p.fail(name, "want an integer from %d to %d, got %q", lo, hi, v)
	}
	return n
}

// oneOf reads a value that must be one of choices.
func (p *envParser) oneOf(name string, choices ...string) string {
	v := strings.ToLower(p.str(name))
	if !slices.Contains(choices, v) {
		p.fail(name, "want one of %s, got %q", strings.Join(choices, ", "), v)
	}
	return v
}

func (p *envParser) seconds(name string, hi int64) time.Duration {
	return time.Duration(p.integer(name, 1, hi)) * time.Second
}

func (p *envParser) list(name string) []string {
	var out []string
	for _, item := range strings.Split(p.str(name), ",") {
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
	v := p.str(name)
	if v == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimSuffix(v, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.fail(name, "want an absolute http(s) URL without user info, query or fragment, got %q", v)
		return nil
	}
	// Every route and page is at the root of the host, so a path here
	// would make every link built from it a 404.
	if u.Path != "" {
		p.fail(name, "want an origin such as https://dropp.example.com, got %q: Dropp is served at the root of its host, so a path would break every link it makes", v)
		return nil
	}
	return u
}

// webURL reads an absolute http(s) URL without a fragment.
func (p *envParser) webURL(name string) string {
	v := p.str(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		p.fail(name, "want an absolute http(s) URL without user info or fragment, got %q", v)
	}
	return v
}

// claimName reads the name of an ID token claim: 1 to 100 printable ASCII
// characters without spaces, and none of the claims OpenID Connect defines:
// users can edit several of those (name, email, preferred_username) at
// many providers, and a group named by them would be theirs to choose.
func (p *envParser) claimName(name string) string {
	v := p.str(name)
	switch {
	case v == "" || len(v) > 100 || !allBytes(v, func(c byte) bool { return ' ' < c && c < 0x7f }):
		p.fail(name, "want a claim name (1 to 100 printable ASCII characters, no spaces), got %q", v)
	case slices.Contains(standardClaims, v):
		p.fail(name, "%q is a standard OpenID Connect claim, not a list of groups; name the claim your provider puts groups in", v)
	}
	return v
}

// standardClaims are the ID token and user claims of OpenID Connect Core
// (§2, §5.1) and Google's hd.
var standardClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "azp", "auth_time", "acr", "amr", "at_hash", "c_hash", "sid",
	"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture",
	"website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
	"phone_number_verified", "address", "updated_at", "hd",
}

// names reads a comma list of names compared exactly, case included (group
// names: "Admins" and "admins" may be different groups at the provider).
func (p *envParser) names(name string) []string {
	var out []string
	for _, item := range strings.Split(p.str(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// maxLabelRunes bounds OIDC_NAME, so that the sign-in button stays a button.
const maxLabelRunes = 40

// label reads a name shown on a page: printable (no control characters),
// at most maxLabelRunes characters, or def when unset. html/template
// escapes it where it is shown.
func (p *envParser) label(name, def string) string {
	v := p.str(name)
	if v == "" {
		return def
	}
	if utf8.RuneCountInString(v) > maxLabelRunes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		p.fail(name, "want at most %d printable characters, got %q", maxLabelRunes, v)
	}
	return v
}

// defaultProviderName is what the sign-in button calls the provider at
// issuer without OIDC_NAME: Google, or the issuer's host.
func defaultProviderName(issuer string) string {
	if issuer == googleIssuer {
		return "Google"
	}
	if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "OpenID"
}

// issuerURL reads an OpenID issuer: https, except on a loopback host where
// a development provider may speak plain http.
func (p *envParser) issuerURL(name string) string {
	v := p.webURL(name)
	if u, err := url.Parse(v); err == nil && u.Scheme == "http" && !isLocalHost(u.Host) {
		p.fail(name, "an issuer must use https (plain http only on a loopback host), got %q", v)
	}
	return v
}

// redirectURI reads the desktop app's redirect URI: absolute (any scheme,
// since apps register their own, such as dropp://), without a fragment
// (RFC 6749 §3.1.2).
func (p *envParser) redirectURI(name string) string {
	v := p.str(name)
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Fragment != "" || strings.HasSuffix(v, "#") || u.User != nil {
		p.fail(name, "want an absolute URI without user info or fragment, such as dropp://auth/callback, got %q", v)
	}
	return v
}

// secret reads a signing key. Surrounding white space is dropped: a key
// pasted with a newline must not differ between instances.
func (p *envParser) secret(name string) []byte {
	v := p.str(name)
	if v == "" {
		return nil
	}
	if len(v) < minSecretKeyLen {
		p.fail(name, "must be at least %d bytes (got %d); generate one with: openssl rand -hex 32", minSecretKeyLen, len(v))
		return nil
	}
	if !variedEnough(v) {
		p.fail(name, "looks like a placeholder, not a random key (fewer than %d different characters, or one character in over half of it); generate one with: openssl rand -hex 32", minSecretKeyDistinct)
		return nil
	}
	return []byte(v)
}

// minSecretKeyDistinct is the fewest different bytes a SECRET_KEY may have.
// The rule only catches placeholders such as 32 × "a" or "changeme…": the
// 64 hex digits of `openssl rand -hex 32` have fewer than 8 different
// digits with a chance under 1e-18, and one digit in over half of them
// under 1e-20; the 32 of `openssl rand -hex 16` fail with a chance under 1e-7.
const minSecretKeyDistinct = 8

// variedEnough reports whether key has at least minSecretKeyDistinct
// different bytes and no byte that makes up more than half of it.
func variedEnough(key string) bool {
	var counts [256]int
	distinct := 0
	for i := 0; i < len(key); i++ {
		if counts[key[i]] == 0 {
			distinct++
		}
		counts[key[i]]++
		if 2*counts[key[i]] > len(key) {
			return false
		}
	}
	return distinct >= minSecretKeyDistinct
}

// listenAddr reads a listen address: host:port or :port, port 0..65535,
// or def, which depends on other settings (so the table has none). A
// malformed one is reported as such, before any rule about which hosts may
// be used.
func (p *envParser) listenAddr(name, def string) string {
	v := cmp.Or(p.str(name), def)
	_, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		p.fail(name, "want host:port or :port (port 0 to 65535), such as 127.0.0.1:8080, got %q", v)
	}
	return v
}

// mongoURI reads a MongoDB connection string. Only its shape is checked
// here: the driver parses it fully at connect time (for mongodb+srv it
// even asks DNS). What is checked is what the driver would accept and then
// fail on obscurely, such as an unclosed "[". Messages show the URI with
// its user info redacted, since it holds the password.
func (p *envParser) mongoURI(name string) string {
	v := p.str(name)
	if v == "" {
		return ""
	}
	if problem := mongoURIProblem(v); problem != "" {
		p.fail(name, "not a valid connection string (want mongodb://host:port/ or mongodb+srv://host/): %s; got %q", problem, redactURIUserInfo(v))
	}
	return v
}

// mongoURIProblem says what is wrong with the shape of a MongoDB URI
// ("" if nothing): the scheme, the user info's escapes, and each host of
// the comma-separated list. It never quotes the URI's parts.
func mongoURIProblem(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return "it must start with mongodb:// or mongodb+srv://"
	}
	hosts := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts = rest[:i]
	}
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		if _, err := url.PathUnescape(hosts[:i]); err != nil {
			return "the user name or password has a bad %-escape (percent-encode @ : / ? # [ ] % in them)"
		}
		hosts = hosts[i+1:]
	}
	for _, host := range strings.Split(hosts, ",") {
		if problem := mongoHostProblem(host); problem != "" {
			return problem
		}
	}
	return ""
}

// mongoHostProblem checks one host of a MongoDB URI: host, host:port,
// [IPv6] or [IPv6]:port, or a %-escaped Unix socket path.
func mongoHostProblem(host string) string {
	switch {
	case host == "":
		return "a host is missing"
	case strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]"):
		return ""
	case strings.Contains(host, ":") || strings.HasPrefix(host, "["):
		_, port, err := net.SplitHostPort(host)
		if err != nil {
			return "each host must be host, host:port or [IPv6]:port"
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "a port must be a number from 1 to 65535"
		}
	case strings.ContainsAny(host, "[]"):
		return "each host must be host, host:port or [IPv6]:port"
	}
	return ""
}

// redactURIUserInfo hides everything before the last "@" after the scheme
// (user name and password), so that a URI can be shown in a message.
func redactURIUserInfo(v string) string {
	start := 0
	if i := strings.Index(v, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(v, "@")
	if at < start {
		return v
	}
	return v[:start] + "xxxxx" + v[at:]
}

// processEnv is the environment main hands runDropp: os.Getenv, falling back to
// the .env file at path, and the names set in either. A getenv cannot list
// names, and the near-miss warning needs them.
func processEnv(path string) (getenv func(string) string, names []string) {
	vars := readDotEnv(path)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	for name := range vars {
		names = append(names, name)
	}
	return overlayEnv(os.Getenv, vars), names
}

// withDotEnv returns a getenv that falls back to KEY=VALUE lines of the
// file at path, so real environment variables win over the file. A missing
// file is not an error.
func withDotEnv(getenv func(string) string, path string) func(string) string {
	return overlayEnv(getenv, readDotEnv(path))
}

// readDotEnv parses the .env file at path; a missing file gives no variables.
func readDotEnv(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseDotEnv(f)
}

// overlayEnv returns a getenv that falls back to vars for what getenv
// leaves unset or empty.
func overlayEnv(getenv func(string) string, vars map[string]string) func(string) string {
	if len(vars) == 0 {
		return getenv
	}
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

// librarySettings are variables that the libraries Dropp links read
// themselves (the AWS SDK's configuration and the MongoDB driver's
// logging), so a name close to one of Dropp's is still not a typo.
var librarySettings = []string{
	"AWS_ACCESS_KEY", "AWS_ACCOUNT_ID", "AWS_ACCOUNT_ID_ENDPOINT_MODE", "AWS_AUTH_SCHEME_PREFERENCE", "AWS_CA_BUNDLE",
	"AWS_CONFIG_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_DEFAULTS_MODE",
	"AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_DISABLE_CLOCK_SKEW_CORRECTION", "AWS_DISABLE_REQUEST_COMPRESSION",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	"AWS_EC2_METADATA_V1_DISABLED", "AWS_ENABLE_ENDPOINT_DISCOVERY", "AWS_EXECUTION_ENV",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_LOGIN_CACHE_DIRECTORY", "AWS_MAX_ATTEMPTS", "AWS_PROFILE",
	"AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES", "AWS_RESPONSE_CHECKSUM_VALIDATION",
	"AWS_RESTRICT_FILE_PERMISSIONS", "AWS_RETRY_MODE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_S3_DISABLE_EXPRESS_SESSION_AUTH", "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS", "AWS_S3_USE_ARN_REGION",
	"AWS_SDK_UA_APP_ID", "AWS_SECRET_KEY", "AWS_SHARED_CREDENTIALS_FILE", "AWS_USE_DUALSTACK_ENDPOINT",
	"AWS_USE_FIPS_ENDPOINT", "AWS_WEB_IDENTITY_TOKEN_FILE",
}

// libraryPrefixes start families of library variables: the SDK's
// per-service endpoints and the driver's logging switches.
var libraryPrefixes = []string{"AWS_ENDPOINT_URL_", "MONGODB_LOG_"}

// droppPrefixes start names that can only be meant for Dropp (Google
// Cloud's own GOOGLE_CLOUD_* and GOOGLE_APPLICATION_CREDENTIALS excepted).
var droppPrefixes = []string{"DROPP_", "GOOGLE_", "AWS_S3_", "OIDC_"}

// otherServersNames are names other servers use for one of Dropp's
// settings, each with how its value reads as that setting: PORT=8195 is
// ADDR=:8195, or ADDR=127.0.0.1:8195 with local sign-in, which refuses an
// address off loopback (review 16: the warning sent a newcomer to that
// refusal). Unlike settingAliases they are never read, only warned of.
var otherServersNames = map[string]func(value string) string{
	"PORT": func(v string) string { return "ADDR=:" + v + " (ADDR=127.0.0.1:" + v + " with local sign-in)" },
}

// aliasedSetting returns the setting (with its value) that name is meant
// to set, or "": an alias, or a setting under the DROPP_ prefix
// (DROPP_DATA_DIR for DATA_DIR).
func aliasedSetting(name, value string) string {
	if as, ok := otherServersNames[name]; ok {
		return as(value)
	}
	if bare, ok := strings.CutPrefix(name, "DROPP_"); ok && isSetting(bare) {
		return bare
	}
	return ""
}

// loopbackAddr is addr's port on 127.0.0.1, for a message suggesting it.
func loopbackAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = "8080"
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// unknownSettingWarnings returns a warning for each name that looks meant
// for Dropp but is not one of its settings: another server's name for a
// setting (PORT, DROPP_DATA_DIR), the same letters as a setting but for
// case and "_" (GOOGLE_CLIENTID), a small edit away from one
// (AWS_S3_BUCKETS), or under a prefix of Dropp's own (GOOGLE_OAUTH_ID).
// Variables the linked libraries read are never warned about. getenv
// gives the values an alias's suggestion shows.
func unknownSettingWarnings(names []string, getenv func(string) string) []string {
	var warnings []string
	for _, name := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if isSetting(name) || isLibrarySetting(name) {
			continue
		}
		if s := aliasedSetting(name, getenv(name)); s != "" {
			warnings = append(warnings, fmt.Sprintf("%s is not a Dropp setting and is ignored; did you mean %s?", name, s))
		} else if s := closestSetting(name); s != "" {
			warnings = append(warnings, fmt.Sprintf("%s is not a Dropp setting; did you mean %s?", name, s))
		} else if hasDroppPrefix(name) {
			warnings = append(warnings, fmt.Sprintf("%s is not a Dropp setting and is ignored (dropp -h lists them)", name))
		}
	}
	return warnings
}

func isSetting(name string) bool {
	return slices.ContainsFunc(settingNames(), func(s string) bool {
		// Windows environment names ignore case, so there it is the same variable.
		return s == name || (runtime.GOOS == "windows" && strings.EqualFold(s, name))
	})
}

// settingNames is every name Dropp reads: each setting's, and the older
// names still read.
func settingNames() []string {
	var names []string
	for _, s := range settings {
		names = append(names, s.name)
	}
	for _, a := range settingAliases {
		names = append(names, a.alias)
	}
	return names
}

func isLibrarySetting(name string) bool {
	return slices.Contains(librarySettings, name) ||
		slices.ContainsFunc(libraryPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

func hasDroppPrefix(name string) bool {
	name = strings.ToUpper(name)
	if strings.HasPrefix(name, "GOOGLE_CLOUD_") || name == "GOOGLE_APPLICATION_CREDENTIALS" {
		return false
	}
	return slices.ContainsFunc(droppPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// closestSetting returns the setting name resembles, or "": equal but for
// case and "_", or within an edit distance of 1 (2 for names of 8 letters
// or more, where two slips are still unlikely to make another word).
func closestSetting(name string) string {
	squash := func(s string) string { return strings.ReplaceAll(strings.ToUpper(s), "_", "") }
	upper := strings.ToUpper(name)
	best, bestDist := "", 3
	for _, s := range settingNames() {
		if squash(s) == squash(name) {
			return s
		}
		limit := 1
		if len(s) >= 8 {
			limit = 2
		}
		if d := editDistance(upper, s); d <= limit && d < bestDist {
			best, bestDist = s, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Ways to sign in (SIGNIN).
const (
	signInLocal    = "local"
	signInOIDC     = "oidc"
	signInAccounts = "accounts"
)

// signInMethods reads SIGNIN: "local", or "oidc" and/or "accounts". Unset,
// it is oidc when an OpenID client is configured, local otherwise.
func (p *envParser) signInMethods(name string, hasClient bool) []string {
	v := p.list(name)
	if len(v) == 0 {
		if hasClient {
			return []string{signInOIDC}
		}
		return []string{signInLocal}
	}
	slices.Sort(v)
	v = slices.Compact(v)
	switch {
	case slices.Equal(v, []string{signInLocal}), slices.Equal(v, []string{signInOIDC}),
		slices.Equal(v, []string{signInAccounts}), slices.Equal(v, []string{signInAccounts, signInOIDC}):
		return v
	}
	p.fail(name, "want local, oidc, accounts or oidc,accounts, got %q", p.str(name))
	return []string{signInLocal}
}

// ---- The container loopback rule ----
//
// Local sign-in lets whoever reaches the port act as the local user, so
// config.check refuses a non-loopback ADDR with it. In a container,
// loopback is the container's own, which no browser on the host reaches:
// the server must listen on :8080 and the host must publish the port on
// its own loopback only (docker run -p 127.0.0.1:8080:8080). Dropp cannot
// see how its port is published, so the operator says so with
// CONTAINER_PORT_ON_HOST_LOOPBACK=true; the setting is refused outside a
// container (where a non-loopback ADDR really is on the network), and it
// relaxes nothing else: the Host header must still be a loopback name,
// forwarded requests are still refused, PUBLIC_URL must still be loopback
// and TRUSTED_PROXIES stays refused.

// containerMarkers are the files container runtimes create in every
// container's root: Docker's and Podman's.
var containerMarkers = []string{".dockerenv", "run/.containerenv"}

// runningInContainer reports whether root holds a container runtime's marker.
func runningInContainer(root string) bool {
	for _, m := range containerMarkers {
		if _, err := os.Stat(filepath.Join(root, m)); err == nil {
			return true
		}
	}
	return false
}
