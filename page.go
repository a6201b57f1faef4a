package main

// The web page at "/": a signed-in user's files, with upload, download,
// share and delete, built only on the public JSON API (app.js). Its files
// are embedded (templates.go) and prepared once at start.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
)

// newAppPage parses the page and hashes its assets once. objectsOrigin is
// the object store's origin the browser uploads to ("" when it is this
// server), which the CSP must allow to be fetched.
func newAppPage(objectsOrigin string) *appPage {
	p := &appPage{
		html:   template.Must(template.ParseFS(appFiles, "app.html", "head.html")),
		csp:    appCSP(objectsOrigin),
		assets: map[string]staticAsset{},
	}
	js, css := "text/javascript; charset=utf-8", "text/css; charset=utf-8"
	for path, ct := range map[string]string{"/app.js": js, "/uploader.js": js, "/app.css": css} {
		body, err := appFiles.ReadFile(path[1:])
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		sum := sha256.Sum256(body)
		p.assets[path] = staticAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	}
	return p
}

// appCSP allows only this origin's own script and style (no inline code)
// and, for uploads, downloads and previews sent straight to S3, the
// bucket's origin.
func appCSP(objectsOrigin string) string {
	connect := "'self'"
	if objectsOrigin != "" {
		connect += " " + objectsOrigin
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; connect-src " + connect + "; " + previewSources +
		"; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	if objectsOrigin != "" {
		csp = previewsFrom(csp, objectsOrigin) // previews (previews.go) load from the bucket
	}
	return csp
}

// appPageData is what app.html shows before its script runs.
type appPageData struct {
	User userJSON
}

// handleApp handles "GET /": the page for a signed-in user; anyone else is
// sent to /login/ to sign in (which then brings the browser back here).
func (s *server) handleApp(w http.ResponseWriter, r *http.Request) {
	s.pageHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	who, err := s.authenticate(r)
	if errors.Is(err, errUnauthenticated) {
		http.Redirect(w, r, "/login/", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	u, err := s.store.GetUser(r.Context(), who.userID)
	if errors.Is(err, ErrNotFound) {
		u, err = User{ID: who.userID}, nil // a trusted proxy's user has no record
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.renderHTML(w, http.StatusOK, s.page.html, appPageData{User: toUserJSON(u)})
}

// handleAppAsset handles "GET /app.js", "GET /uploader.js" and
// "GET /app.css": the same for everyone, so cacheable, but revalidated
// (no-cache) so that a new version of Dropp is picked up at the next load.
func (s *server) handleAppAsset(w http.ResponseWriter, r *http.Request) {
	a := s.page.assets[r.URL.Path]
	s.pageHeaders(w)
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.contentType)
	w.Write(a.body)
}

// pageHeaders are the security headers of the page and its assets.
// (nosniff is on every response already: see logRequests.)
func (s *server) pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.page.csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
