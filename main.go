// Command dropp is the server behind the Dropp desktop file-drop app: it signs
// users in, hands out pre-signed upload and download URLs, and keeps file
// metadata. Run it with `go run .`; `-h` lists every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dropp:", err)
		}
		stop()
		os.Exit(1)
	}
}

// shutdownGrace bounds how long in-flight requests may run after a signal.
const shutdownGrace = 20 * time.Second

// run is the whole program: it reads the configuration, connects the
// backends, serves until ctx ends, then shuts down gracefully. Tests call it
// directly with their own args, environment and outputs.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { printUsage(stderr) }
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	getenv = withDotEnv(getenv, ".env")
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	app, err := openBackends(ctx, cfg, getenv, logger)
	if err != nil {
		return err
	}
	defer app.close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on ADDR %q: %w", cfg.Addr, err)
	}
	app.announce(stdout, ln.Addr())
	srv := newHTTPServer(newServer(cfg, logger, app.store, app.objects))
	return serve(ctx, srv, ln, logger)
}

// newHTTPServer sets the timeouts that keep slow or stalled clients from
// holding connections. Uploads go straight to S3, so API requests are small;
// local mode's own upload and download endpoints extend their deadlines
// while bytes keep moving.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// serve runs srv on ln until ctx is cancelled, then lets in-flight requests
// finish (bounded by shutdownGrace).
func serve(ctx context.Context, srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// backends are the metadata and object stores the server runs on.
type backends struct {
	store   Store
	objects ObjectStore
	lines   []string // one start-up line per component
}

// openBackends connects MongoDB and S3 when configured. Each missing one
// falls back to local mode on its own.
func openBackends(ctx context.Context, cfg *config, getenv func(string) string, logger *slog.Logger) (*backends, error) {
	b := &backends{}
	if cfg.localMetadata() || cfg.localObjects() {
		return nil, errors.New("MONGODB_URI and AWS_S3_BUCKET are required (local mode is not available yet)")
	}
	store, err := openMongoStore(ctx, cfg.MongoURI, cfg.MongoDB, logger)
	if err != nil {
		return nil, err
	}
	b.store = store
	b.lines = append(b.lines, "metadata: mongodb "+cfg.MongoDB)
	objects, err := newS3Objects(ctx, cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	b.objects = objects
	b.lines = append(b.lines, "objects: s3 "+cfg.Bucket)
	if cfg.TrustXUserID {
		logger.Warn("TRUST_X_USER_ID=true: any request's X-User-Id header is believed; only run this behind a proxy that sets it")
	}
	return b, nil
}

// close releases the backends.
func (b *backends) close() {
	if b.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.store.Close(ctx)
	}
}

// announce prints which backend each component uses and where to go.
func (b *backends) announce(w io.Writer, addr net.Addr) {
	for _, l := range b.lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "listening: http://%s/login/\n", addr)
}
