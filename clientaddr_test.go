package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProductionURLsIgnoreHost: with a provider and no PUBLIC_URL, upload
// and download URLs are built from GOOGLE_REDIRECT_URI's origin, whatever
// Host the request names.
func TestProductionURLsIgnoreHost(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{
		"GOOGLE_CLIENT_ID": testClientID, "GOOGLE_CLIENT_SECRET": testClientSecret,
		"GOOGLE_REDIRECT_URI": "https://dropp.example.com/auth/google/callback",
	})
	tok := e.newUser("prod")
	const host = "attacker.example"
	resp, body := e.doWithHost(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "a.txt"}}, host)
	wantStatus(t, resp, body, http.StatusCreated)
	up := decode[uploadOut](t, body)
	if want := "https://dropp.example.com/objects/upload"; up.Upload.URL != want {
		t.Errorf("upload URL %q, want %q", up.Upload.URL, want)
	}
	f := &File{ID: newID(), Owner: apiTester{e}.userID(tok), Filename: "b.txt", Status: statusComplete,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	f.ObjectKey = objectKey(f.Owner, f.ID, f.CreatedAt)
	if err := e.srv.store.InsertFile(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	resp, body = e.doWithHost(request{method: "GET", path: "/download/" + f.ID, token: tok}, host)
	wantStatus(t, resp, body, http.StatusOK)
	if u := decode[downloadOut](t, body).URL; !strings.HasPrefix(u, "https://dropp.example.com/objects/") {
		t.Errorf("download URL %q, want it on https://dropp.example.com", u)
	}
}
