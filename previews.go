package main

// Previews: a share link's page (and the owner's page) shows images,
// audio, video and PDF inline, through a pre-signed GET of the object
// whose Content-Type is pinned to the safe type and whose
// Content-Disposition is inline, so no byte passes through the server in
// S3 mode. Only the types below are ever shown inline, decided from an
// allow-list and never from the bytes: HTML, SVG, XML and anything else a
// browser would run stay attachments. The local object store serves every
// object with Content-Security-Policy: sandbox and nosniff besides
// (localobjects.go). A preview counts no download; a link with a download
// limit shows previews only if its owner allowed them when creating it.

import (
	"mime"
	"net/http"
	"strings"
	"time"
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

// presignPreview is a pre-signed URL that shows f inline with its pinned
// type, for PRESIGN_TTL_SECONDS (a video keeps asking for ranges of it);
// ok false if f's type is not shown inline.
func (s *server) presignPreview(r *http.Request, f *File) (url string, expires time.Time, ok bool, err error) {
	_, pinned := previewElement(f.ContentType)
	if pinned == "" {
		return "", time.Time{}, false, nil
	}
	at := ceilSecond(s.now().Add(s.cfg.PresignTTL))
	url, err = s.objects.PresignDownload(r.Context(), DownloadRequest{
		Key: f.ObjectKey, Filename: f.Filename, ContentType: pinned, Inline: true,
		Expires: at, BaseURL: s.baseURL(r),
	})
	return url, at, true, err
}

// notPreviewable answers a preview of a file that is not shown inline.
func notPreviewable(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, codeForbidden,
		"this file is not shown inline: only PNG, JPEG, GIF and WebP images, audio, video and PDF are, never HTML, SVG or other active content")
}

// handleSharePreview handles "GET /s/{token}/files/{file_id}/preview": a
// redirect to a URL that shows the file inline, counting nothing. 403 if
// the file's type is not shown inline or the link's owner did not allow
// previews of a limited link; the dead link's 404 if the file is used up.
func (s *server) handleSharePreview(w http.ResponseWriter, r *http.Request) {
	sh, files, err := s.sharedFiles(r)
	if err != nil {
		s.shareFail(w, r, err)
		return
	}
	if !s.linkGate(w, r, shareGate(r, sh)) { // linkprotect.go
		return
	}
	f := downloadTarget(&sh, files, r.PathValue("file_id"))
	if f == nil || r.PathValue("file_id") == "" {
		s.shareFail(w, r, ErrNotFound)
		return
	}
	if sh.MaxDownloads != nil && !sh.AllowPreview {
		writeError(w, http.StatusForbidden, codeForbidden, "this link has a download limit and its owner did not allow previews")
		return
	}
	url, _, ok, err := s.presignPreview(r, f)
	switch {
	case err != nil:
		s.shareFail(w, r, err)
	case !ok:
		notPreviewable(w)
	default:
		http.Redirect(w, r, url, http.StatusSeeOther)
	}
}

// handleFilePreview handles "GET /files/{id}/preview": the owner's
// preview of a complete file, {"url", "expires_at"} of a URL that shows it
// inline; 403 if its type is not shown inline.
func (s *server) handleFilePreview(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	f, ok := s.completeFileOf(w, r, owner, id, "the file is still pending: complete the upload first")
	if !ok {
		return
	}
	url, expires, ok, err := s.presignPreview(r, f)
	switch {
	case err != nil:
		s.fail(w, r, err)
	case !ok:
		notPreviewable(w)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"url": url, "expires_at": expires})
	}
}
