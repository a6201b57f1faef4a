package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheckSubcommand runs `dropp healthcheck` through run against a
// server at ADDR: 0 when /healthz answers 200, an error otherwise.
func TestHealthcheckSubcommand(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(newServer(mustConfig(t, map[string]string{"DATA_DIR": t.TempDir()}), testLogger(t), nil, nil))
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	var stdout bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "healthcheck"}, testGetenv(map[string]string{"ADDR": addr}), &stdout, &stdout); err != nil {
		t.Fatalf("healthcheck of a live server: %v", err)
	}
	ts.Close()
	err := runDropp(context.Background(), []string{"dropp", "healthcheck"}, testGetenv(map[string]string{"ADDR": addr}), &stdout, &stdout)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("healthcheck of a stopped server: %v, want exit status 1", err)
	}
	for addr, want := range map[string]string{":8080": "127.0.0.1:8080", "0.0.0.0:80": "127.0.0.1:80", "[::]:80": "127.0.0.1:80", "[::1]:9": "[::1]:9", "10.0.0.2:8080": "10.0.0.2:8080"} {
		if got := healthcheckHost(addr); got != want {
			t.Errorf("healthcheckHost(%q) = %q, want %q", addr, got, want)
		}
	}
}
