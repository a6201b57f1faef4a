package main

// Drops: a share link with several files. POST /shares makes one from the
// owner's complete files (POST /files/{id}/shares stays the one-file
// shorthand, and a link made before drops reads as a drop of one); files
// are added and removed afterwards, and a file deleted from the account
// leaves every drop. Expiry and revocation apply to the link. One download
// is one file handed out: a link with max_downloads N allows N downloads
// of each of its files, counted per file atomically in the store, so no
// order of requests, on any instance, gets more. The link's page offers
// each file and "Download all", which fetches each through its own
// pre-signed URL, one after another: nothing is zipped, and no byte
// passes through the server in S3 mode.

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// maxDropFiles is the most files one request names, and one drop holds.
const maxDropFiles = 100

// handleCreateDrop handles "POST /shares": a new link to several of the
// owner's complete files (or one), answered as POST /files/{id}/shares is.
func (s *server) handleCreateDrop(w http.ResponseWriter, r *http.Request, owner string) {
	var req createShareRequest
	if !readJSON(w, r, &req, bodyRequired) {
		return
	}
	if req.FileIDs == nil {
		req.FileIDs = []string{} // validateShare then says what is missing
	}
	s.createShare(w, r, owner, &req)
}

// handleListAllShares handles "GET /shares": a page of the owner's live
// links, oldest first, paged as GET /files/{id}/shares is.
func (s *server) handleListAllShares(w http.ResponseWriter, r *http.Request, owner string) {
	limit, after, msg := parsePaging(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	shares, err := s.store.ListShares(r.Context(), ShareQuery{Owner: owner, Now: s.now(), After: after, Limit: limit + 1})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, shareListJSON(shares, limit))
}

// dropFilesRequest is the body of POST /shares/{id}/files.
type dropFilesRequest struct {
	FileIDs []string `json:"file_ids"`
}

// handleAddDropFiles handles "POST /shares/{id}/files": the owner's
// complete files join the link, after those it has (a file already in it
// stays where it is); 200 with the link as it now is.
func (s *server) handleAddDropFiles(w http.ResponseWriter, r *http.Request, owner string) {
	var req dropFilesRequest
	id, ok := pathIDAndJSON(w, r, "share", &req, bodyRequired)
	if !ok {
		return
	}
	if msg := validDropFiles(req.FileIDs); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	sh, err := s.store.GetShare(r.Context(), owner, id, s.now())
	if err != nil {
		s.shareEditFail(w, r, err)
		return
	}
	added := filesNotIn(&sh, req.FileIDs)
	if len(sh.Files)+len(added) > maxDropFiles {
		writeDropFull(w)
		return
	}
	// Every new file is checked before any is added, so that a refusal
	// adds nothing (review 17: the files before a pending one stayed
	// added); the store adds them all or none. A file the link has
	// already stays where it is, checked when it joined.
	for _, fileID := range added {
		if _, ok := s.completeFileOf(w, r, owner, fileID, "only a complete file can be shared: complete the upload first"); !ok {
			return
		}
	}
	if err := s.store.AddShareFiles(r.Context(), owner, id, added, s.cfg.MaxSharesPerFile, s.now()); err != nil {
		s.shareEditFail(w, r, err)
		return
	}
	if sh, err = s.store.GetShare(r.Context(), owner, id, s.now()); err != nil {
		s.shareEditFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]shareJSON{"share": toShareJSON(&sh)})
}

// filesNotIn lists the ids, once each, of the files not already in sh:
// those an add would put in (a file already in stays where it is).
func filesNotIn(sh *Share, ids []string) []string {
	var out []string
	for _, id := range ids {
		if sh.file(id) == nil && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// writeDropFull answers that a link holds no more files.
func writeDropFull(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, codeConflict, fmt.Sprintf("a link holds at most %d files", maxDropFiles))
}

// handleRemoveDropFile handles "DELETE /shares/{id}/files/{file_id}": the
// file leaves the link (its downloads counted so far are forgotten); 204.
// A link left with no file shows the dead link's page until a file is
// added or it expires.
func (s *server) handleRemoveDropFile(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathIDOf(w, r, "share")
	if !ok {
		return
	}
	fileID := r.PathValue("file_id")
	err := ErrNotFound
	if validID(fileID) {
		err = s.store.RemoveShareFile(r.Context(), owner, id, fileID, s.now())
	}
	if err != nil {
		s.shareEditFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// shareEditFail answers an error of an edit of a share.
func (s *server) shareEditFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such share, or the file is not in it")
	case errors.Is(err, ErrTooManyShares):
		s.tooManyShares(w)
	case errors.Is(err, ErrDropFull):
		writeDropFull(w)
	default:
		s.fail(w, r, err)
	}
}
