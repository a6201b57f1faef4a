package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopbackProxies is TRUSTED_PROXIES for test servers, whose clients (the
// tests, standing in for the proxy) connect over loopback.
const loopbackProxies = "127.0.0.1/32,::1"

// proxyAuthEnv is the environment of a server behind an authenticating
// proxy: TRUST_X_USER_ID needs TRUSTED_PROXIES, which needs Google sign-in.
func proxyAuthEnv() map[string]string {
	return map[string]string{
		"TRUST_X_USER_ID":      "true",
		"TRUSTED_PROXIES":      loopbackProxies,
		"GOOGLE_CLIENT_ID":     "proxy-test.apps.example",
		"GOOGLE_CLIENT_SECRET": "proxy-test-secret",
		"GOOGLE_REDIRECT_URI":  "https://dropp.example.com/auth/google/callback",
	}
}

// configGetenv is a getenv over alternating names and values.
func configGetenv(kv ...string) func(string) string {
	vars := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return testGetenv(vars)
}

// TestConfigHelpListsEverySetting wants `dropp -h` to stop with flag.ErrHelp
// and print every variable of the settings table with its default.
func TestConfigHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := runDropp(t.Context(), []string{"dropp", arg}, configGetenv(), &stdout, &stderr)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run %s = %v, want flag.ErrHelp", arg, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing (usage goes to stderr)", stdout.String())
			}
			lines := map[string]string{} // variable name → its usage line
			for _, line := range strings.Split(stderr.String(), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					lines[f[0]] = line
				}
			}
			for _, s := range settings {
				def := s.shownDefault()
				line, ok := lines[s.name]
				switch {
				case !ok:
					t.Errorf("-h does not list %s:\n%s", s.name, stderr.String())
				case !strings.Contains(line, "(default: "+def+")"):
					t.Errorf("-h line for %s is %q, want its default %q", s.name, line, def)
				}
			}
		})
	}
}

// TestConfigHelpNamesEveryVariableRead wants every variable loadConfig reads
// to be named somewhere in the -h text, so an operator can learn all of them
// from the program itself.
func TestConfigHelpNamesEveryVariableRead(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	read := map[string]bool{}
	loadConfig(func(name string) string {
		mu.Lock()
		defer mu.Unlock()
		read[name] = true
		return ""
	})
	var help bytes.Buffer
	printUsage(&help)
	for name := range read {
		if !strings.Contains(help.String(), name) {
			t.Errorf("loadConfig reads %s but -h never mentions it", name)
		}
	}
}

// TestConfigUnknownFlag wants a flag that does not exist refused by name,
// and not mistaken for a request for help.
func TestConfigUnknownFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := runDropp(t.Context(), []string{"dropp", "-port=80"}, configGetenv(), &stdout, &stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), "port") {
		t.Fatalf("run -port=80 = %v, want an error naming the flag", err)
	}
}

// TestConfigParseDotEnv covers the .env syntax parseDotEnv documents.
func TestConfigParseDotEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     map[string]string
	}{
		{"plain", "A=1", map[string]string{"A": "1"}},
		{"comment line", "# A=1", map[string]string{}},
		{"indented comment", "   # A=1", map[string]string{}},
		{"blank lines", "\n\n  \nA=1\n\n", map[string]string{"A": "1"}},
		{"export prefix", "export X=1", map[string]string{"X": "1"}},
		{"single quotes", "A='hello world'", map[string]string{"A": "hello world"}},
		{"double quotes", `A="hello world"`, map[string]string{"A": "hello world"}},
		{"quotes keep #", `A="x # y"`, map[string]string{"A": "x # y"}},
		{"quotes then comment", `A='v' # note`, map[string]string{"A": "v"}},
		{"no escapes in quotes", `A="a\nb"`, map[string]string{"A": `a\nb`}},
		{"spaces around =", "KEY = value", map[string]string{"KEY": "value"}},
		{"inline comment", "A=value # comment", map[string]string{"A": "value"}},
		{"# without space is data", "A=abc#def", map[string]string{"A": "abc#def"}},
		{"= in value", "URI=mongodb://h/?a=b&c=d", map[string]string{"URI": "mongodb://h/?a=b&c=d"}},
		{"empty value", "A=", map[string]string{"A": ""}},
		{"missing = ignored", "JUSTANAME\nA=1", map[string]string{"A": "1"}},
		{"CRLF line ends", "A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"later line wins", "A=1\nA=2", map[string]string{"A": "2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := parseDotEnv(strings.NewReader(c.in))
			if len(got) != len(c.want) {
				t.Fatalf("parseDotEnv(%q) = %q, want %q", c.in, got, c.want)
			}
			for k, v := range c.want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("parseDotEnv(%q) = %q, want %q", c.in, got, c.want)
				}
			}
		})
	}
}

// TestConfigWithDotEnv wants the real environment to win over the file, the
// file to fill in the rest, and a missing file to change nothing.
func TestConfigWithDotEnv(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("A=from-file\nB=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromEnv := configGetenv("A", "from-env", "C", "from-env")

	getenv := withDotEnv(fromEnv, path)
	for name, want := range map[string]string{"A": "from-env", "B": "from-file", "C": "from-env", "D": ""} {
		if got := getenv(name); got != want {
			t.Errorf("with .env: %s = %q, want %q", name, got, want)
		}
	}

	getenv = withDotEnv(fromEnv, filepath.Join(t.TempDir(), "missing.env"))
	for name, want := range map[string]string{"A": "from-env", "B": "", "C": "from-env"} {
		if got := getenv(name); got != want {
			t.Errorf("missing .env: %s = %q, want %q", name, got, want)
		}
	}
}

// TestConfigRunReadsOnlyTheInjectedEnvironment: runDropp takes getenv so that
// tests choose the whole configuration; a .env in the working directory (the
// documented way to configure a developer's copy) must not reach into it.
// Not parallel: it changes the working directory.
func TestConfigRunReadsOnlyTheInjectedEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("PRESIGN_TTL_SECONDS=abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	// A valid local-mode environment: runDropp starts, and stops when ctx ends.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runDropp(ctx, []string{"dropp"}, configGetenv("ADDR", "127.0.0.1:0"), &stdout, &stderr)
	if err != nil {
		t.Fatalf("run with a valid injected environment failed (a value from ./.env leaked in?): %v", err)
	}
	if !strings.Contains(stdout.String(), "listening: ") {
		t.Fatalf("run did not start: stdout %q", stdout.String())
	}
}

// TestConfigDefaults checks what an empty environment gives, and that the
// settings table (what -h prints) tells the same defaults.
func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(configGetenv())
	if err != nil {
		t.Fatalf("loadConfig(empty) = %v, want local mode to start", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ADDR", c.Addr, "127.0.0.1:8080"},
		{"MONGO_DB", c.MongoDB, "dropp"},
		{"AWS_REGION", c.Region, "us-east-1"},
		{"PRESIGN_TTL_SECONDS", c.PresignTTL, 900 * time.Second},
		{"UPLOAD_POST_TTL_SECONDS", c.UploadTTL, 3600 * time.Second},
		{"MAX_UPLOAD_BYTES", c.MaxUploadBytes, int64(50 << 30)},
		{"S3_UPLOAD_METHOD", c.UploadMethod, "post"},
		{"PART_SIZE_BYTES", c.PartSize, int64(16 << 20)},
		{"MULTIPART_TTL_SECONDS", c.MultipartTTL, 7 * 24 * time.Hour},
		{"SWEEP_GRACE_SECONDS", c.SweepGrace, time.Hour},
		{"TOKEN_TTL_SECONDS", c.TokenTTL, 30 * 24 * time.Hour},
		{"SESSION_TTL_SECONDS", c.SessionTTL, 7 * 24 * time.Hour},
		{"AUTH_RATE_LIMIT", c.AuthRateLimit, 60},
		{"S3_FORCE_PATH_STYLE", c.S3PathStyle, false},
		{"TRUST_X_USER_ID", c.TrustXUserID, false},
		{"OIDC_ISSUER", c.OIDCIssuer, "https://accounts.google.com"},
		{"APP_REDIRECT_URI", c.AppRedirectURI, "dropp://auth/callback"},
		{"DATA_DIR", c.DataDir, "./dropp-data"},
		{"LOCAL_USER_EMAIL", c.LocalUserEmail, "you@localhost"},
		{"PUBLIC_URL", c.PublicURL == nil, true},
		{"SECRET_KEY", c.SecretKey == nil, true},
	}
	documented := map[string]string{}
	for _, s := range settings {
		documented[s.name] = s.shownDefault()
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s default = %v, want %v", ch.name, ch.got, ch.want)
		}
		if _, ok := documented[ch.name]; !ok {
			t.Errorf("%s is read but missing from the settings table (-h)", ch.name)
		}
	}
	// The table's defaults, where they are plain values, must be the real ones.
	plain := map[string]string{
		"MONGO_DB": c.MongoDB, "AWS_REGION": c.Region, "OIDC_ISSUER": c.OIDCIssuer,
		"APP_REDIRECT_URI": c.AppRedirectURI, "DATA_DIR": c.DataDir, "LOCAL_USER_EMAIL": c.LocalUserEmail,
		"PRESIGN_TTL_SECONDS": "900", "UPLOAD_POST_TTL_SECONDS": "3600", "MAX_UPLOAD_BYTES": "53687091200",
		"S3_UPLOAD_METHOD": "post", "PART_SIZE_BYTES": "16777216", "MULTIPART_TTL_SECONDS": "604800",
		"TOKEN_TTL_SECONDS": "2592000", "SESSION_TTL_SECONDS": "604800", "AUTH_RATE_LIMIT": "60",
		"S3_FORCE_PATH_STYLE": "false", "TRUST_X_USER_ID": "false",
	}
	for name, want := range plain {
		if first, _, _ := strings.Cut(documented[name], " "); first != want {
			t.Errorf("-h says %s defaults to %q, but it is %q", name, documented[name], want)
		}
	}

	google, err := loadConfig(configGetenv("GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s", "PUBLIC_URL", "https://dropp.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if google.Addr != ":8080" {
		t.Errorf("ADDR default with Google sign-in = %q, want :8080", google.Addr)
	}
}

// TestConfigDefaultsComeFromTheSettingsTable: the settings table is where
// loadConfig's defaults are written, once: setting every variable to the
// table's default gives the same configuration as setting none.
func TestConfigDefaultsComeFromTheSettingsTable(t *testing.T) {
	t.Parallel()
	unset, err := loadConfig(configGetenv())
	if err != nil {
		t.Fatal(err)
	}
	var kv []string
	for _, s := range settings {
		if s.def != "" {
			kv = append(kv, s.name, s.def)
		}
	}
	if len(kv) == 0 {
		t.Fatal("the settings table has no defaults")
	}
	explicit, err := loadConfig(configGetenv(kv...))
	if err != nil {
		t.Fatalf("the settings table's defaults do not load: %v", err)
	}
	if !reflect.DeepEqual(unset, explicit) {
		t.Errorf("defaults differ from the settings table's:\nunset:    %+v\nexplicit: %+v", unset, explicit)
	}
}

// TestConfigBadValues wants each malformed variable refused with a one-line
// error that names it.
func TestConfigBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, value string }{
		{"PRESIGN_TTL_SECONDS", "abc"},
		{"PRESIGN_TTL_SECONDS", "0"},
		{"PRESIGN_TTL_SECONDS", "-5"},
		{"PRESIGN_TTL_SECONDS", "604801"}, // a SigV4 URL lives at most 7 days
		{"PRESIGN_TTL_SECONDS", "1.5"},
		{"UPLOAD_POST_TTL_SECONDS", "soon"},
		{"MAX_UPLOAD_BYTES", "0"},
		{"MAX_UPLOAD_BYTES", "5GB"},
		{"MAX_UPLOAD_BYTES", "5497558138881"}, // one byte over S3's 5 TiB
		{"S3_UPLOAD_METHOD", "patch"},
		{"PART_SIZE_BYTES", "5242879"}, // one byte under S3's 5 MiB
		{"PART_SIZE_BYTES", "5368709121"},
		{"MULTIPART_TTL_SECONDS", "0"},
		{"MAX_UPLOAD_BYTES", "99999999999999999999"},
		{"TOKEN_TTL_SECONDS", "x"},
		{"SESSION_TTL_SECONDS", "-1"},
		{"AUTH_RATE_LIMIT", "0"},
		{"S3_FORCE_PATH_STYLE", "maybe"},
		{"TRUST_X_USER_ID", "yes please"},
		{"TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"},
		{"PUBLIC_URL", "dropp.example.com"},
		{"PUBLIC_URL", "ftp://dropp.example.com"},
		{"PUBLIC_URL", "https://dropp.example.com/?x=1"},
		{"PUBLIC_URL", "https://dropp.example.com/dropp"}, // every route is at the root: its links would 404
		{"PUBLIC_URL", "https://dropp.example.com/dropp/"},
		{"PUBLIC_URL", "https://user@dropp.example.com"},
		{"SECRET_KEY", "0123456789"},
		{"SECRET_KEY_PREVIOUS", "short"},
		{"OAUTH_ISSUER", "http://accounts.example.com"}, // plain http only on loopback
		{"OAUTH_ISSUER", "accounts.google.com"},
		{"GOOGLE_REDIRECT_URI", "/auth/google/callback"},
		{"GOOGLE_REDIRECT_URI", "https://d.example.com/cb#frag"},
		{"APP_REDIRECT_URI", "auth/callback"},
		{"APP_REDIRECT_URI", "dropp://auth/callback#x"},
		{"APP_REDIRECT_URI", "dropp://user@auth/callback"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(configGetenv(c.name, c.value))
			configWantError(t, err, c.name)
		})
	}
	for name, value := range map[string]string{
		"OAUTH_ISSUER":        "http://127.0.0.1:5556", // a development provider
		"GOOGLE_REDIRECT_URI": "https://d.example.com/auth/google/callback",
		"APP_REDIRECT_URI":    "com.example.dropp:/oauth2redirect",
	} {
		if _, err := loadConfig(configGetenv(name, value)); err != nil {
			t.Errorf("%s=%s refused: %v", name, value, err)
		}
	}
}

// configWantError wants a one-line error that names the variable.
func configWantError(t *testing.T, err error, name string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("no error, want one naming %s", name)
	case !strings.Contains(err.Error(), name):
		t.Errorf("error %q does not name %s", err, name)
	case strings.Contains(err.Error(), "\n"):
		t.Errorf("error %q is more than one line", err)
	}
}

// TestConfigRulesAcrossVariables covers the checks that involve more than
// one variable.
func TestConfigRulesAcrossVariables(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  []string
		want string // the variable the error must name; "" for no error
	}{
		{"MongoDB without SECRET_KEY", []string{"MONGODB_URI", "mongodb://127.0.0.1:1/"}, "SECRET_KEY"},
		{"MongoDB with SECRET_KEY", []string{"MONGODB_URI", "mongodb://127.0.0.1:1/", "SECRET_KEY", testSecretKey}, ""},
		{"Google without secret", []string{"GOOGLE_CLIENT_ID", "id", "PUBLIC_URL", "https://d.example.com"}, "GOOGLE_CLIENT_SECRET"},
		{"Google without redirect", []string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s"}, "GOOGLE_REDIRECT_URI"},
		{"Google with redirect URI", []string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s",
			"GOOGLE_REDIRECT_URI", "https://d.example.com/auth/google/callback"}, ""},
		{"Google may listen everywhere", []string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s",
			"PUBLIC_URL", "https://d.example.com", "ADDR", "0.0.0.0:8080"}, ""},
		{"local sign-in behind a public URL", []string{"PUBLIC_URL", "https://d.example.com"}, "PUBLIC_URL"},
		{"local sign-in on a loopback public URL", []string{"PUBLIC_URL", "http://127.0.0.1:8080"}, ""},
		{"local sign-in behind trusted proxies", []string{"TRUSTED_PROXIES", "127.0.0.1"}, "TRUSTED_PROXIES"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(configGetenv(c.env...))
			if c.want == "" {
				if err != nil {
					t.Fatalf("loadConfig = %v, want no error", err)
				}
				return
			}
			configWantError(t, err, c.want)
		})
	}
}

// TestConfigLocalSignInStaysOnLoopback: local sign-in lets whoever reaches
// the port act as the local user, so it must refuse a non-loopback ADDR and
// say why.
func TestConfigLocalSignInStaysOnLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "192.168.1.10:8080", "dropp.example.com:8080"} {
		t.Run("refuses "+addr, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(configGetenv("ADDR", addr))
			configWantError(t, err, "ADDR")
			if err == nil {
				return
			}
			for _, why := range []string{"loopback", "anyone", "GOOGLE_CLIENT_ID"} {
				if !strings.Contains(err.Error(), why) {
					t.Errorf("error %q does not explain itself (no %q)", err, why)
				}
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:9000", "localhost:8080", "[::1]:8080", "127.0.0.1:0"} {
		t.Run("accepts "+addr, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(configGetenv("ADDR", addr))
			if err != nil || c.Addr != addr {
				t.Fatalf("loadConfig(ADDR=%s) = %v, %v", addr, c, err)
			}
		})
	}
}

// TestConfigIsLoopbackAddr covers the listen addresses people write.
func TestConfigIsLoopbackAddr(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"127.0.0.1:8080":        true,
		"127.0.0.1:0":           true,
		"127.1.2.3:80":          true, // all of 127/8 is loopback
		"localhost:8080":        true,
		"[::1]:8080":            true,
		"[::ffff:127.0.0.1]:80": true,
		"0.0.0.0:8080":          false,
		":8080":                 false,
		"[::]:8080":             false,
		"192.168.1.10:8080":     false,
		"10.0.0.1:80":           false,
		"example.com:80":        false,
		"localhost.evil.com:80": false,
		"127.0.0.1":             false, // no port: not a listen address
		"localhost":             false,
		"":                      false,
	}
	for addr, want := range cases {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestConfigReportsEveryProblemAtOnce: one start shows every problem, each
// on a line of its own naming its variable, cross-variable rules included.
func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(configGetenv(
		"PRESIGN_TTL_SECONDS", "abc",
		"MAX_UPLOAD_BYTES", "0",
		"S3_FORCE_PATH_STYLE", "maybe",
		"GOOGLE_CLIENT_ID", "id", // without its secret and redirect URI
	))
	if err == nil {
		t.Fatal("loadConfig = nil, want every problem")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"PRESIGN_TTL_SECONDS", "MAX_UPLOAD_BYTES", "S3_FORCE_PATH_STYLE", "GOOGLE_CLIENT_SECRET", "GOOGLE_REDIRECT_URI"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d (one per problem):\n%s", len(lines), len(want), err)
	}
	for _, name := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, name) }) {
			t.Errorf("no line starts with %s:\n%s", name, err)
		}
	}
}

// TestConfigOneLinePerMistake: a malformed value is not reported a second
// time by a rule that reads it.
func TestConfigOneLinePerMistake(t *testing.T) {
	t.Parallel()
	cases := [][]string{
		{"MONGODB_URI", "mongodb://127.0.0.1:1/", "SECRET_KEY", "short"},
		{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s", "PUBLIC_URL", "dropp.example.com"},
		{"TRUST_X_USER_ID", "true", "TRUSTED_PROXIES", "not-an-ip", "GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s",
			"PUBLIC_URL", "https://d.example.com"},
		{"ADDR", "18712"},
	}
	for _, env := range cases {
		_, err := loadConfig(configGetenv(env...))
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q, want exactly one line", env, err)
		}
	}
}

// TestConfigMalformedADDR: an ADDR that is no listen address at all is
// reported as malformed, not as "not a loopback address".
func TestConfigMalformedADDR(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"18712", "127.0.0.1", "localhost", "127.0.0.1:99999", "127.0.0.1:http", "127.0.0.1:-1", "[::1:8080"} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(configGetenv("ADDR", addr))
			configWantError(t, err, "ADDR")
			if err != nil && (strings.Contains(err.Error(), "loopback") || !strings.Contains(err.Error(), "host:port")) {
				t.Errorf("error %q, want it to say ADDR is malformed (want host:port)", err)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:65535", "localhost:8080"} {
		if _, err := loadConfig(configGetenv("ADDR", addr)); err != nil {
			t.Errorf("ADDR=%s refused: %v", addr, err)
		}
	}
}

// TestConfigTrustXUserIDNeedsTrustedProxies: without TRUSTED_PROXIES any
// client could name any user in X-User-Id, so the server refuses to start.
func TestConfigTrustXUserIDNeedsTrustedProxies(t *testing.T) {
	t.Parallel()
	google := []string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s", "PUBLIC_URL", "https://d.example.com"}
	_, err := loadConfig(configGetenv(append(google, "TRUST_X_USER_ID", "true")...))
	configWantError(t, err, "TRUSTED_PROXIES")
	_, err = loadConfig(configGetenv("TRUST_X_USER_ID", "true"))
	configWantError(t, err, "TRUSTED_PROXIES")

	c, err := loadConfig(testGetenv(proxyAuthEnv()))
	if err != nil || !c.TrustXUserID || len(c.TrustedProxies) != 2 {
		t.Fatalf("TRUST_X_USER_ID with TRUSTED_PROXIES: %+v, %v", c, err)
	}
}

// TestConfigSecretKey: keys are trimmed; placeholders (few different
// bytes, or one byte in over half the key) are refused with a message that
// shows how to make a good key and never shows the key; random hex and
// base64 keys always pass.
func TestConfigSecretKey(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"SECRET_KEY", "SECRET_KEY_PREVIOUS"} {
		c, err := loadConfig(configGetenv(name, "  "+testSecretKey+"\n"))
		if err != nil {
			t.Fatalf("%s with spaces around it: %v", name, err)
		}
		got := c.SecretKey
		if name == "SECRET_KEY_PREVIOUS" {
			got = c.SecretKeyPrevious
		}
		if string(got) != testSecretKey {
			t.Errorf("%s = %q, want it trimmed to %q", name, got, testSecretKey)
		}
		for _, weak := range []string{
			strings.Repeat("a", 32),
			strings.Repeat("ab", 32),
			strings.Repeat("changeme", 4),            // 6 different bytes
			strings.Repeat("x", 20) + "0123456789ab", // 'x' in over half
			"   " + strings.Repeat("a", 32) + "   ",
		} {
			_, err := loadConfig(configGetenv(name, weak))
			configWantError(t, err, name)
			if err != nil && (!strings.Contains(err.Error(), "openssl rand -hex 32") || strings.Contains(err.Error(), strings.TrimSpace(weak))) {
				t.Errorf("%s=%q: error %q, want the openssl advice and not the key", name, weak, err)
			}
		}
	}
	for i := range 2000 {
		raw := make([]byte, 32)
		rand.Read(raw)
		for _, key := range []string{hex.EncodeToString(raw), hex.EncodeToString(raw[:16]), base64.StdEncoding.EncodeToString(raw)} {
			if _, err := loadConfig(configGetenv("SECRET_KEY", key)); err != nil {
				t.Fatalf("random key %d (%s) refused: %v", i, key, err)
			}
		}
	}
}

// TestConfigMongoURI: a connection string the driver would choke on, or
// accept and then fail to reach, is refused at once with what is wanted,
// and the password never shows.
func TestConfigMongoURI(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{
		"mongodb://[bad",
		"localhost:27017",
		"http://db.example.com/",
		"mongodb://user:s3cret@[bad",
		"mongodb://user:s3cret@db.example.com:0/",
		"mongodb://user:s3cret@db.example.com:99999/",
		"mongodb://user:s3c%zzret@db.example.com/",
		"mongodb://user:s3cret@h1:1:2/",
		"mongodb://db1.example.com,,db2.example.com/",
		"mongodb://db.example.com]/",
		"user:s3cret@db.example.com:27017",
	} {
		t.Run(uri, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(configGetenv("MONGODB_URI", uri, "SECRET_KEY", testSecretKey))
			configWantError(t, err, "MONGODB_URI")
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), "not a valid connection string (want mongodb://host:port/") {
				t.Errorf("error %q does not say what is wanted", err)
			}
			if strings.Contains(err.Error(), "s3c") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	for _, uri := range []string{
		"mongodb://127.0.0.1:27017/",
		"mongodb://db.example.com",
		"mongodb://h1:27017,h2:27017/dropp?replicaSet=rs0",
		"mongodb://[::1]:27017,[::2]:27017/?replicaSet=x",
		"mongodb://[::1]/",
		"mongodb+srv://user:p%40ss@cluster0.example.net/?retryWrites=true",
		"mongodb://%2Ftmp%2Fmongodb-27017.sock",
		"mongodb://user:pass@db.example.com:27017/admin?authSource=admin",
	} {
		if _, err := loadConfig(configGetenv("MONGODB_URI", uri, "SECRET_KEY", testSecretKey)); err != nil {
			t.Errorf("MONGODB_URI=%s refused: %v", uri, err)
		}
	}
}

// TestConfigRedactURIUserInfo: everything before the host's "@" is hidden.
func TestConfigRedactURIUserInfo(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"mongodb://user:pw@h:27017/db":    "mongodb://xxxxx@h:27017/db",
		"mongodb://us@er:p@w@h/":          "mongodb://xxxxx@h/",
		"mongodb://h/":                    "mongodb://h/",
		"user:pw@h:27017":                 "xxxxx@h:27017",
		"mongodb+srv://u:p/w@cluster.net": "mongodb+srv://xxxxx@cluster.net",
	}
	for in, want := range cases {
		if got := redactURIUserInfo(in); got != want {
			t.Errorf("redactURIUserInfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConfigUnknownSettingWarnings: names that look meant for Dropp get a
// warning (with the setting they resemble when there is one); Dropp's own
// settings, the libraries' variables and unrelated names do not.
func TestConfigUnknownSettingWarnings(t *testing.T) {
	t.Parallel()
	warned := map[string]string{ // name → the setting it should suggest ("" for none)
		"GOOGLE_CLIENTID":     "GOOGLE_CLIENT_ID",
		"GOOGLECLIENT_SECRET": "GOOGLE_CLIENT_SECRET",
		"AWS_S3_BUCKETS":      "AWS_S3_BUCKET",
		"MONGODB_URL":         "MONGODB_URI",
		"MONGO_URI":           "MONGODB_URI",
		"SECRET_KEYS":         "SECRET_KEY",
		"DATADIR":             "DATA_DIR",
		"PRESIGN_TTL_SECOND":  "PRESIGN_TTL_SECONDS",
		"DROPP_PORT":          "",
		"GOOGLE_OAUTH_ID":     "",
		"AWS_S3_BUCKET_NAME":  "",
		"OIDC_CLIENTID":       "OIDC_CLIENT_ID",
		"OIDC_GROUP_CLAIM":    "OIDC_GROUPS_CLAIM",
		"OIDC_SCOPES":         "",
	}
	quiet := []string{
		"AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_STS", "AWS_S3_USE_ARN_REGION", "AWS_ROLE_ARN", "AWS_MAX_ATTEMPTS",
		"MONGODB_LOG_ALL", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "MONGO_INITDB_ROOT_USERNAME",
		"PATH", "HOME", "USER", "SHELL", "TERM", "LANG", "PWD", "HOSTNAME", "XDG_DATA_DIRS", "GOPATH", "GOFLAGS", "TMPDIR",
	}
	quiet = append(quiet, settingNames()...) // older names included
	names := slices.Concat(quiet, slices.Collect(maps.Keys(warned)))
	got := map[string]string{}
	for _, w := range unknownSettingWarnings(names, func(string) string { return "" }) {
		name, _, _ := strings.Cut(w, " ")
		_, suggestion, _ := strings.Cut(w, "did you mean ")
		got[name] = strings.TrimSuffix(suggestion, "?")
	}
	for name, want := range warned {
		if s, ok := got[name]; !ok {
			t.Errorf("no warning for %s", name)
		} else if s != want {
			t.Errorf("warning for %s suggests %q, want %q", name, s, want)
		}
	}
	for _, name := range quiet {
		if _, ok := got[name]; ok {
			t.Errorf("warning for %s, which is no near-miss of a Dropp setting", name)
		}
	}
}

// TestConfigOIDCAliases: each sign-in setting is read under its OIDC_ name
// or its older one alike; both set to the same value is fine, to
// different values an error on one line that names both and shows neither
// value (one is a secret); an error is reported under the name set.
func TestConfigOIDCAliases(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"OIDC_CLIENT_ID": "id-1", "OIDC_CLIENT_SECRET": "secret-1",
		"OIDC_REDIRECT_URI": "https://d.example.com/auth/google/callback", "OIDC_ISSUER": "https://sso.example.com/realms/team",
	}
	read := func(c *config) map[string]string {
		return map[string]string{
			"OIDC_CLIENT_ID": c.OIDCClientID, "OIDC_CLIENT_SECRET": c.OIDCClientSecret,
			"OIDC_REDIRECT_URI": c.OIDCRedirectURI, "OIDC_ISSUER": c.OIDCIssuer,
		}
	}
	for _, spelling := range []string{"new", "old", "both"} {
		vars := map[string]string{}
		for name, v := range values {
			if spelling != "old" {
				vars[name] = v
			}
			if spelling != "new" {
				vars[aliasOf(name)] = v
			}
		}
		c, err := loadConfig(testGetenv(vars))
		if err != nil {
			t.Fatalf("%s names: %v", spelling, err)
		}
		if got := read(c); !reflect.DeepEqual(got, values) {
			t.Errorf("%s names: read %v, want %v", spelling, got, values)
		}
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := maps.Clone(values)
			vars[aliasOf(name)] = v + "-other"
			_, err := loadConfig(testGetenv(vars))
			configWantError(t, err, name)
			if err != nil && (!strings.Contains(err.Error(), aliasOf(name)) || strings.Contains(err.Error(), v)) {
				t.Errorf("error %q: want both names and neither value", err)
			}
		})
	}
	_, err := loadConfig(configGetenv("OAUTH_ISSUER", "http://sso.example.com"))
	if err == nil || !strings.HasPrefix(err.Error(), "OAUTH_ISSUER: ") {
		t.Errorf("a bad OAUTH_ISSUER reported as %v, want under the name set", err)
	}
	_, err = loadConfig(configGetenv("OIDC_CLIENT_ID", "id"))
	for _, want := range []string{"OIDC_CLIENT_SECRET is required when OIDC_CLIENT_ID", "OIDC_REDIRECT_URI (or PUBLIC_URL) is required when OIDC_CLIENT_ID"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OIDC_CLIENT_ID alone: %v, want %q", err, want)
		}
	}
	// SIGNIN=oidc with no client: one line, saying what to set, and none
	// that speaks of a client id as if it were set (review 16).
	_, err = loadConfig(configGetenv("SIGNIN", "oidc"))
	if err == nil || !strings.Contains(err.Error(), "OIDC_CLIENT_ID is not set") || strings.Contains(err.Error(), "when OIDC_CLIENT_ID is set") {
		t.Errorf("SIGNIN=oidc alone: %v, want only that OIDC_CLIENT_ID is not set", err)
	}
	// Local sign-in on every interface: the refusal names the loopback
	// address to use and the team server's way off loopback.
	_, err = loadConfig(configGetenv("ADDR", ":8195"))
	for _, want := range []string{"ADDR=127.0.0.1:8195", "SIGNIN=accounts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ADDR=:8195 with local sign-in: %v, want it to say %q", err, want)
		}
	}
}

// TestConfigOIDCNameAndGroups: OIDC_NAME defaults to the issuer's host
// (Google for Google's), and is refused over 40 characters or with control
// characters; OIDC_GROUPS_CLAIM defaults to groups and refuses the claims
// OpenID Connect defines (users edit some of them); ALLOWED_GROUPS and
// ADMIN_GROUPS keep their names' case.
func TestConfigOIDCNameAndGroups(t *testing.T) {
	t.Parallel()
	provider := []string{"OIDC_CLIENT_ID", "id", "OIDC_CLIENT_SECRET", "s", "PUBLIC_URL", "https://d.example.com"}
	load := func(kv ...string) (*config, error) { return loadConfig(configGetenv(slices.Concat(provider, kv)...)) }
	for _, c := range []struct{ issuer, name, want string }{
		{"", "", "Google"},
		{"https://sso.example.com:8443/realms/team", "", "sso.example.com"},
		{"https://auth.example.com/application/o/dropp/", "Authentik", "Authentik"},
		{"", strings.Repeat("é", 40), strings.Repeat("é", 40)},
	} {
		cfg, err := load("OIDC_ISSUER", c.issuer, "OIDC_NAME", c.name)
		if err != nil || cfg.OIDCName != c.want {
			t.Errorf("issuer %q, OIDC_NAME %q: name %q (%v), want %q", c.issuer, c.name, cfg.OIDCName, err, c.want)
		}
	}
	for _, bad := range []string{strings.Repeat("x", 41), "Corp\x1b[31m", "Co\u0085rp"} {
		_, err := load("OIDC_NAME", bad)
		configWantError(t, err, "OIDC_NAME")
	}
	cfg, err := load("ALLOWED_GROUPS", " Team-A ,/dropp/admins,, ", "ADMIN_GROUPS", "Admins")
	if err != nil || cfg.OIDCGroupsClaim != "groups" || !slices.Equal(cfg.AllowedGroups, []string{"Team-A", "/dropp/admins"}) ||
		!slices.Equal(cfg.AdminGroups, []string{"Admins"}) {
		t.Errorf("groups settings: %+v, %v", cfg, err)
	}
	for _, claim := range []string{"email", "preferred_username", "name", "sub", "has space", strings.Repeat("c", 101)} {
		_, err := load("OIDC_GROUPS_CLAIM", claim)
		configWantError(t, err, "OIDC_GROUPS_CLAIM")
	}
	if cfg, err := load("OIDC_GROUPS_CLAIM", "roles"); err != nil || cfg.OIDCGroupsClaim != "roles" {
		t.Errorf("OIDC_GROUPS_CLAIM=roles: %v", err)
	}
}
