package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dropp/client"
)

// TestRequestCommands: request create, list, close, reopen and delete, and
// request send as a stranger (no token), whose file the owner then has.
func TestRequestCommands(t *testing.T) {
	env, c := signedIn(t)
	r := runCLI(t, "", env, "request", "create", "Receipts", "-max-files", "3", "-max-bytes", "1000000", "-expires", "2h",
		"-message", "2026 please", "-types", "text/*,application/pdf")
	var fr client.FileRequest
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &fr) != nil {
		t.Fatalf("request create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if until := time.Until(fr.ExpiresAt); fr.URL == "" || fr.Title != "Receipts" || fr.MaxFiles != 3 || len(fr.ContentTypes) != 2 ||
		until < 2*time.Hour-time.Minute || until > 2*time.Hour {
		t.Fatalf("request create: %+v", fr)
	}

	src := filepath.Join(t.TempDir(), "march.txt")
	os.WriteFile(src, []byte("march\n"), 0o600)
	stranger := []string{env[0], "DROPP_TOKEN="} // the server, and no token
	r = runCLI(t, "", stranger, "request", "send", fr.URL, src, "text/plain", "-name", "Ann", "-note", "one month")
	var sent client.File
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sent) != nil || sent.RequestID != fr.ID || sent.SenderName != "Ann" {
		t.Fatalf("request send: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	files, err := c.ListAll(t.Context(), client.ListOptions{})
	if err != nil || !slices.ContainsFunc(files, func(f client.File) bool { return f.ID == sent.ID && f.RequestID == fr.ID }) {
		t.Fatalf("the owner's files: %+v, %v; want the sent file among them", files, err)
	}

	r = runCLI(t, "", env, "request", "list")
	var list []client.FileRequest
	json.Unmarshal([]byte(r.stdout), &list)
	i := slices.IndexFunc(list, func(l client.FileRequest) bool { return l.ID == fr.ID })
	if r.code != 0 || i < 0 || list[i].FilesReceived != 1 || list[i].URL != "" {
		t.Fatalf("request list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, step := range []struct {
		cmd    string
		closed bool
	}{{"close", true}, {"reopen", false}} {
		r = runCLI(t, "", env, "request", step.cmd, fr.ID)
		var got client.FileRequest
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || got.Closed != step.closed {
			t.Fatalf("request %s: exit %d, stdout %q, stderr %q", step.cmd, r.code, r.stdout, r.stderr)
		}
	}
	if r := runCLI(t, "", env, "request", "delete", fr.ID); r.code != 0 || r.stdout != "" {
		t.Fatalf("request delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", stranger, "request", "send", fr.URL, src); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("request send to a deleted request: exit %d, stderr %q; want 1, not_found", r.code, r.stderr)
	}
	for _, args := range [][]string{{"request"}, {"request", "frobnicate"}, {"request", "create"}, {"request", "close"},
		{"request", "send", "link"}, {"request", "create", "t", "-max-files", "x"}} {
		if r := runCLI(t, "", noServer, args...); r.code != 2 || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("dropp-cli %q: exit %d, stderr %q; want 2 and the usage", args, r.code, r.stderr)
		}
	}
}

// TestRequestCreateProtected: request create -password (from stdin with
// "-") and -members-only make a protected request, listed as such; a
// stranger's request send to it is refused (401), and a password the
// rules refuse is the server's 400.
func TestRequestCreateProtected(t *testing.T) {
	env, _ := signedIn(t)
	cmd := cliCmd(t, "", env, "request", "create", "Taxes", "-max-files", "1", "-max-bytes", "1000", "-password", "-", "-members-only")
	cmd.Stdin = strings.NewReader("correct horse battery staple\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	r := cliRun{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
	var fr client.FileRequest
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &fr) != nil || !fr.Protected || !fr.MembersOnly {
		t.Fatalf("request create -password - -members-only: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "scrypt") || strings.Contains(r.stdout, "horse") {
		t.Errorf("the answer shows the password or its hash: %s", r.stdout)
	}
	src := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(src, []byte("t\n"), 0o600)
	r = runCLI(t, "", []string{env[0], "DROPP_TOKEN="}, "request", "send", fr.URL, src)
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("a stranger's send to a protected request: exit %d, stderr %q; want 1, unauthorized", r.code, r.stderr)
	}
	r = runCLI(t, "", []string{env[0], "DROPP_TOKEN="}, "request", "send", fr.URL, src, "-password", "correct horse battery staple")
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("a stranger's send with the password to a members-only request: exit %d, stderr %q; want 1, unauthorized", r.code, r.stderr)
	}
	// Signed in (as the server's user) and with the password, read from stdin.
	send := cliCmd(t, "", env, "request", "send", fr.URL, src, "text/plain", "-password", "-")
	send.Stdin = strings.NewReader("correct horse battery staple\n")
	stdout.Reset()
	stderr.Reset()
	send.Stdout, send.Stderr = &stdout, &stderr
	send.Run()
	var sent client.File
	if code := send.ProcessState.ExitCode(); code != 0 || json.Unmarshal(stdout.Bytes(), &sent) != nil || sent.RequestID != fr.ID {
		t.Errorf("a signed-in send with the password: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	r = runCLI(t, "", env, "request", "create", "X", "-max-files", "1", "-max-bytes", "1", "-password", "short")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid_request") {
		t.Errorf("request create -password short: exit %d, stderr %q; want 1, invalid_request", r.code, r.stderr)
	}
}
