package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestShutdownLogsGraceReadably: the shutdown line gives the grace as
// "20s" in JSON logs as in text ones (review 16: JSON said 20000000000).
func TestShutdownLogsGraceReadably(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := serve(ctx, &http.Server{Handler: http.NotFoundHandler()}, ln, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if want := `"grace":"` + shutdownGrace.String() + `"`; !strings.Contains(logs.String(), want) {
		t.Errorf("shutdown log %s, want %s", logs.String(), want)
	}
}
