package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"dropp/client/internal/testserver"
)

// dropJSON is a drop as the CLI prints it.
type dropJSON struct {
	shareJSON
	Files []struct {
		ID string `json:"id"`
	} `json:"files"`
	AllowPreview bool `json:"allow_preview"`
}

// TestDropCommands: drop create, add, remove and list, with the link's
// page answering.
func TestDropCommands(t *testing.T) {
	env, c := signedIn(t)
	a := upload(t, c, "a.txt", []byte("a"))
	b := upload(t, c, "b.txt", []byte("b"))
	d := upload(t, c, "d.txt", []byte("d"))

	r := runCLI(t, "", env, "drop", "create", a.ID, b.ID, "-max-downloads", "2", "-allow-preview")
	var drop dropJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &drop) != nil {
		t.Fatalf("drop create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if drop.URL == "" || len(drop.Files) != 2 || drop.Files[1].ID != b.ID || !drop.AllowPreview || *drop.MaxDownloads != 2 {
		t.Fatalf("drop create: %+v", drop)
	}
	if code := testserver.ShareLinkStatus(t, drop.URL); code != http.StatusOK {
		t.Fatalf("the new link answers %d", code)
	}
	r = runCLI(t, "", env, "drop", "add", drop.ID, d.ID)
	var added dropJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &added) != nil || len(added.Files) != 3 {
		t.Fatalf("drop add: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", env, "drop", "remove", drop.ID, a.ID); r.code != 0 || r.stdout != "" {
		t.Fatalf("drop remove: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", env, "drop", "list")
	var list []dropJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 || len(list[0].Files) != 2 || list[0].Files[0].ID != b.ID {
		t.Fatalf("drop list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "", env, "drop", "remove", drop.ID, a.ID); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Fatalf("drop remove again: exit %d, stderr %q; want 1, not_found", r.code, r.stderr)
	}
	for _, args := range [][]string{{"drop"}, {"drop", "frobnicate"}, {"drop", "create"}, {"drop", "add", drop.ID}, {"drop", "remove", drop.ID}} {
		if r := runCLI(t, "", env, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
}
