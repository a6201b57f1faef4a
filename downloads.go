package main

// What every download shares, the owner's (files.go), a share link's
// (shares.go) and a preview's (previews.go): the complete file, and the type
// its bytes are served with.

import "net/http"

// completeFileOf gets the owner's file for what needs its bytes (a
// download, a share link): 404 when there is none, and 409 saying
// whilePending until its upload is complete. On false it has answered.
func (s *server) completeFileOf(w http.ResponseWriter, r *http.Request, owner, id, whilePending string) (*File, bool) {
	f, err := s.store.GetFile(r.Context(), owner, id)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if f.Status != statusComplete {
		writeError(w, http.StatusConflict, codeConflict, whilePending)
		return nil, false
	}
	return f, true
}

// downloadContentType is the type a download is served with: the declared
// one, or a neutral binary type so browsers never sniff.
func downloadContentType(f *File) string {
	if f.ContentType != "" {
		return f.ContentType
	}
	return "application/octet-stream"
}
