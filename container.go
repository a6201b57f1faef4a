package main

// What running Dropp in a container needs from the binary itself: a health
// check that needs no curl in the image, and the one relaxation of local
// sign-in's loopback rule that a container's port publishing makes safe.
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

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

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
