package main

// The web files embedded in the binary, how every HTML page is parsed from
// them with the head it shares (head.html), and the pages' CSPs, which allow
// a page's own style and script by their hashes.

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"strings"
)

//go:embed app.html app.js app.css head.html uploader.js
var appFiles embed.FS

// parsePage parses an HTML page (login, share, admin; app.html is parsed
// from appFiles the same way) with the {{define "head"}} they all share
// (head.html): charset, viewport and referrer policy. Each page keeps its
// own title and styles, which its CSP allows by hash (loginCSP) or by
// origin (appCSP).
// {{uploaderJS}} writes uploader.js (request.html inlines it).
func parsePage(name, page string) *template.Template {
	js := uploaderJS()
	t := template.New(name).Funcs(template.FuncMap{"uploaderJS": func() template.JS { return js }})
	return template.Must(template.Must(t.Parse(page)).ParseFS(appFiles, "head.html"))
}

// uploaderJS is uploader.js, for a page to inline.
func uploaderJS() template.JS {
	b, err := appFiles.ReadFile("uploader.js")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return template.JS(b)
}

// pageStyle is the text of a page's <style> block as html/template writes
// it: with the card rules it takes from head.html ({{template "card.css"}}).
func pageStyle(page string) string {
	_, rest, _ := strings.Cut(page, "<style>")
	style, _, _ := strings.Cut(rest, "</style>")
	var b strings.Builder
	if err := parsePage("style", "<style>"+style+"</style>").Execute(&b, nil); err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), "<style>"), "</style>")
}

// loginCSP allows nothing but this origin, no scripts at all, and exactly
// the page's own <style> block (by hash), so no third party is ever loaded.
func loginCSP(page string) string {
	sum := sha256.Sum256([]byte(pageStyle(page)))
	return "default-src 'self'; script-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// scriptCSP is loginCSP allowing also page's one inline script, by the
// hash of that script as t writes it for data: html/template drops the
// comments inside a script, so the hash of the source would not match.
func scriptCSP(page string, t *template.Template, data any) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	_, rest, _ := strings.Cut(b.String(), "<script>")
	script, _, _ := strings.Cut(rest, "</script>")
	sum := sha256.Sum256([]byte(script))
	return strings.Replace(loginCSP(page), "script-src 'none'", "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", 1)
}

// allowFormAction adds source to a CSP's form-action 'self'.
func allowFormAction(csp, source string) string {
	return strings.Replace(csp, "form-action 'self'", "form-action 'self' "+source, 1)
}
