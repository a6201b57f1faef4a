package main

// `dropp healthcheck`: what running Dropp in a container needs from the
// binary itself, a health check that needs no curl in the image. (The
// container loopback rule is config.go's: runningInContainer.)

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// healthcheckTimeout bounds `dropp healthcheck`, well inside the image's
// HEALTHCHECK timeout.
const healthcheckTimeout = 5 * time.Second

// runHealthcheck is `dropp healthcheck`: GET /healthz of the server that
// ADDR describes, on loopback, and an error unless it answers 200. The
// image's HEALTHCHECK runs it, so the image needs no curl.
func runHealthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	scheme, client := "http", http.DefaultClient
	if cfg.TLS.on() {
		scheme, client = "https", healthcheckTLSClient(cfg) // tls.go
	}
	u := scheme + "://" + healthcheckHost(cfg.Addr) + "/healthz"
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", u, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy:", u)
	return nil
}

// healthcheckHost is where a process beside the server reaches ADDR: an
// unspecified or empty host (":8080", "0.0.0.0:8080") is reached on loopback.
func healthcheckHost(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
