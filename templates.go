package main

// The web files embedded in the binary, and how every HTML page is parsed
// from them with the head it shares (head.html).

import (
	"embed"
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
