package main

// The preview policy: which content types a page shows inline and the CSP
// sources such a page needs. It names no route, so the pages (page.go,
// shares.go) and the preview routes (previews.go) all stand above it.

import (
	"mime"
	"strings"
)

// previewElement is the element that shows a file of that content type
// inline ("img", "audio", "video" or "pdf"), and the type it is served
// with; "" for a type never shown inline.
func previewElement(contentType string) (element, pinned string) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", ""
	}
	switch mt {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return "img", mt
	case "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/flac", "audio/aac", "audio/mp4":
		return "audio", mt
	case "video/mp4", "video/webm", "video/ogg":
		return "video", mt
	case "application/pdf":
		return "pdf", mt
	}
	return "", ""
}

// previewKind is the element a link shows a file of it with; "" when the
// type is not shown inline, or the link has a download limit and its owner
// did not allow previews.
func previewKind(sh *Share, f *File) string {
	if sh.MaxDownloads != nil && !sh.AllowPreview {
		return ""
	}
	element, _ := previewElement(f.ContentType)
	return element
}

// previewSources are the CSP sources of a page that shows previews: the
// page's own routes (a preview redirects to the object store, which the
// CSP must allow too: previewsFrom adds it).
const previewSources = "img-src 'self' data:; media-src 'self'; frame-src 'self'"

// previewsFrom adds the object store's origin to the sources of csp that
// previews load through.
func previewsFrom(csp, origin string) string {
	for _, directive := range []string{"img-src 'self' data:", "media-src 'self'", "frame-src 'self'"} {
		csp = strings.Replace(csp, directive, directive+" "+origin, 1)
	}
	return csp
}
