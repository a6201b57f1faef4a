package main

// Previews: a share link's page (and the owner's page) shows images, audio,
// video and PDF inline, through a pre-signed GET of the object whose
// Content-Type is pinned to the safe type and whose Content-Disposition is
// inline, so no byte passes through the server in S3 mode. Only the types of
// preview_policy.go are ever shown inline, decided from an allow-list and
// never from the bytes: HTML, SVG, XML and anything else a browser would run
// stay attachments. The local object store serves every object with
// Content-Security-Policy: sandbox and nosniff besides (localobjects.go). A
// preview counts no download; a link with a download limit shows previews
// only if its owner allowed them when creating it.

import (
	"net/http"
	"time"
)

// presignPreview is a pre-signed URL, valid until expires, that shows f
// inline with its pinned type; ok false if f's type is not shown inline.
func (s *server) presignPreview(r *http.Request, f *File, expires time.Time) (url string, ok bool, err error) {
	_, pinned := previewElement(f.ContentType)
	if pinned == "" {
		return "", false, nil
	}
	url, err = s.objects.PresignDownload(r.Context(), DownloadRequest{
		Key: f.ObjectKey, Filename: f.Filename, ContentType: pinned, Inline: true,
		Expires: expires, BaseURL: s.baseURL(r),
	})
	return url, true, err
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
	sh, files, ok := s.openLink(w, r)
	if !ok {
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
	url, ok, err := s.presignPreview(r, f, s.shareURLExpiry(&sh))
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
	id, ok := filePathID(w, r)
	if !ok {
		return
	}
	f, ok := s.completeFileOf(w, r, owner, id, "the file is still pending: complete the upload first")
	if !ok {
		return
	}
	expires := s.downloadExpiry() // a video keeps asking for ranges of it
	url, ok, err := s.presignPreview(r, f, expires)
	switch {
	case err != nil:
		s.fail(w, r, err)
	case !ok:
		notPreviewable(w)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"url": url, "expires_at": expires})
	}
}
