package main

// The backends a command runs on: the metadata and object stores as the
// settings choose them (local mode when MONGODB_URI and S3_BUCKET are unset),
// the secret key file of local mode, and the usage error every command
// returns for bad arguments.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// usageError is a command line dropp does not take.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func (e usageError) Unwrap() error { return e.err }

// backends are the metadata and object stores the server runs on.
type backends struct {
	store   Store
	objects ObjectStore
	lines   []string // one start-up line per component
}

// openBackends opens each backend: MongoDB, S3 and Google when configured,
// and each missing one falls back to local mode in DATA_DIR on its own.
// On failure it closes what it opened; b is a local variable rather than the
// named result, which the failure returns set to nil before the deferred close.
func openBackends(ctx context.Context, cfg *config, logger *slog.Logger) (_ *backends, err error) {
	b := &backends{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if err := b.openStore(ctx, cfg, logger); err != nil {
		return nil, err
	}
	if err := b.openObjects(ctx, cfg, logger); err != nil {
		return nil, err
	}
	b.lines = append(b.lines, signInLine(cfg))
	if cfg.TrustXUserID {
		logger.Warn("TRUST_X_USER_ID=true: every request's X-User-Id header is believed; only run Dropp behind a proxy that sets it")
	}
	return b, nil
}

// openStore opens the metadata store: the local one under DATA_DIR, or
// MongoDB when MONGODB_URI is set.
func (b *backends) openStore(ctx context.Context, cfg *config, logger *slog.Logger) error {
	if cfg.localMetadata() {
		dir := filepath.Join(cfg.DataDir, "metadata")
		store, err := openLocalStore(dir)
		if err != nil {
			return fmt.Errorf("DATA_DIR: %w", err)
		}
		b.store, b.lines = store, append(b.lines, "metadata: local "+dir)
		return nil
	}
	store, err := openMongoStore(ctx, cfg.MongoURI, cfg.MongoDB, logger, withQuota(Quota{Bytes: cfg.QuotaBytes, Files: cfg.QuotaFiles}),
		withGate(cfg.MongoMaxCalls, cfg.MongoQueue))
	if err != nil {
		return err
	}
	line := "metadata: mongodb " + cfg.MongoDB
	if store.ready() != nil {
		line += " (WARNING: not answering: requests get 503 until it does)"
	}
	b.store, b.lines = store, append(b.lines, line)
	return nil
}

// openObjects opens the object store: the local one under DATA_DIR, or
// S3 when AWS_S3_BUCKET is set.
func (b *backends) openObjects(ctx context.Context, cfg *config, logger *slog.Logger) error {
	if cfg.localObjectStore() {
		dir := filepath.Join(cfg.DataDir, "objects")
		objects, err := newLocalObjects(dir, cfg.SecretKey, logger)
		if err != nil {
			return fmt.Errorf("DATA_DIR: %w", err)
		}
		b.objects, b.lines = objects, append(b.lines, "objects: local "+dir)
		return nil
	}
	objects, err := newS3Objects(ctx, cfg, logger)
	if err != nil {
		return err
	}
	line := "objects: s3 " + cfg.Bucket
	if p := objects.check(ctx); p != nil {
		line += fmt.Sprintf(" (WARNING: %s: %s)", p.cause, p.hint)
	} else if msg := objects.corsProblem(ctx, publicBaseURL(cfg)); msg != "" {
		line += " (WARNING: " + msg + ")"
	}
	b.objects, b.lines = objects, append(b.lines, line)
	return nil
}

// signInLine is the start-up line saying how people sign in.
func signInLine(cfg *config) string {
	if cfg.localSignIn() {
		return "sign-in: local " + cfg.LocalUserEmail
	}
	line := "sign-in: " + strings.Join(cfg.SignIn, ",")
	if cfg.oidcSignIn() {
		line += " (oidc " + cfg.OIDCIssuer + ")"
	}
	if inClear(cfg.PublicURL) {
		line += " (WARNING: PUBLIC_URL is plain http, so passwords and session cookies cross the network unencrypted; " +
			"serve HTTPS with TLS=auto or behind an HTTPS proxy, see docs/https.md)"
	}
	return line
}

// inClear reports whether people reach Dropp over plain HTTP from beyond
// this machine: a trial on localhost is the one place that is fine, and
// an HTTPS proxy in front shows as an https PUBLIC_URL.
func inClear(public *url.URL) bool {
	return public != nil && public.Scheme == "http" && !isLocalHost(public.Host)
}

// close releases the backends.
func (b *backends) close() {
	if c, ok := b.objects.(io.Closer); ok {
		c.Close()
	}
	if b.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.store.Close(ctx)
	}
}

// announce prints which backend each component uses and the URL to open.
func (b *backends) announce(w io.Writer, cfg *config, addr net.Addr) {
	for _, l := range b.lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "listening: %s/login/\n", listenURL(cfg, addr))
}

// listenURL is where a person should point a browser: PUBLIC_URL, or the
// bound address with an unspecified host ("[::]") shown as localhost.
func listenURL(cfg *config, addr net.Addr) string {
	if cfg.PublicURL != nil {
		return cfg.PublicURL.String()
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// secretKeyFile holds local mode's generated SECRET_KEY inside DATA_DIR.
const secretKeyFile = "secret.key"

// ensureSecretKey generates SECRET_KEY for local mode the first time and
// reads it back afterwards, so cookies and signed URLs survive restarts.
// Only local metadata gets here without a key: config.check demands one
// with MongoDB, where several instances must share it.
func ensureSecretKey(cfg *config) error {
	if cfg.SecretKey != nil {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("DATA_DIR: %w", err)
	}
	path := filepath.Join(cfg.DataDir, secretKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = writeNewSecretKey(path)
	}
	if err != nil {
		return fmt.Errorf("DATA_DIR: secret key: %w", err)
	}
	if len(key) < minSecretKeyLen {
		return fmt.Errorf("DATA_DIR: %s is shorter than %d bytes; delete it to generate a new one", path, minSecretKeyLen)
	}
	cfg.SecretKey = key
	return nil
}

// writeNewSecretKey writes 32 random bytes, hex-encoded, with mode 0600.
// O_EXCL makes two servers starting at once agree on one key.
func writeNewSecretKey(path string) ([]byte, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	key := []byte(hex.EncodeToString(raw))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
