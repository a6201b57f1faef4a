package main

// Binding and serving HTTP: the listener (with a hint when the port is
// taken), the http.Server and its timeouts, and the graceful shutdown. main.go
// and tls.go both serve through it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// shutdownGrace bounds how long in-flight requests may run after a signal.
const shutdownGrace = 20 * time.Second

// listen binds the address of the setting. A port another program holds is
// the usual first-run stumble, so that error says how to pick another.
func listen(setting, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if addressInUse(err) {
		return nil, fmt.Errorf("%s %q: %w; another program uses this port: set %s, e.g. %s=%s",
			setting, addr, err, setting, setting, nextPort(addr))
	}
	return nil, fmt.Errorf("listen on %s %q: %w", setting, addr, err)
}

// addressInUse tells a bind refused because the port is taken: EADDRINUSE,
// or on Windows WSAEADDRINUSE (10048), which syscall does not name.
func addressInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || runtime.GOOS == "windows" && errors.Is(err, syscall.Errno(10048))
}

// nextPort is addr with the port after its own, as an example of a free one.
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 1 || n >= 65535 {
		return ":8081"
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
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
	logger.Info("shutting down", "grace", shutdownGrace.String()) // "20s" in JSON logs too, not nanoseconds
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
