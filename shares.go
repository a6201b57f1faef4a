package main

// Share links: a user shares complete files (one, or several: a drop,
// drops.go) through a link anyone can open, which expires, may allow a
// limited number of downloads of each file and can be revoked. The link's
// token is shown once, in the answer that creates it; the store keeps only
// its SHA-256. Every dead link (unknown, expired,
// revoked, used up, or whose file is gone) gets the same 404, so nothing
// tells them apart, and opening the page never counts a download, so a
// chat app's link preview uses none up.

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"
)

const (
	// shareTokenBytes is the randomness of a link's token: 256 bits,
	// 43 base64url characters.
	shareTokenBytes = 32
	// shareDownloadTTL is how long the URL a download redirects to lives:
	// a revoked link's URL already handed out dies this soon.
	shareDownloadTTL = 60 * time.Second
	// maxShareDownloads is the largest max_downloads a share may ask for.
	maxShareDownloads = 100_000
)

// isLinkToken tells whether token has the shape of the tokens Dropp makes
// for share links and file requests (shareTokenBytes, base64url), so a
// lookup of any other skips the store.
func isLinkToken(token string) bool {
	return len(token) == 43 && allBytes(token, alnumOr("-_"))
}

// The answers to a dead link, the same whatever killed it.
const (
	deadShareMessage = "no such link"
	deadSharePage    = "This link does not exist, has expired, was revoked or has been used up."
)

//go:embed share.html
var shareHTML string

// newShareLinks parses the page once.
func newShareLinks(cfg *config) *shareLinks {
	page := parsePage("share.html", shareHTML)
	return &shareLinks{
		page:  page,
		csp:   shareCSP(page),
		limit: newRateLimiter(cfg.AuthRateLimit).sharedAs("share"),
	}
}

// shareCSP is the sign-in pages' CSP (loginCSP) allowing also the share
// page's one inline script, the one that updates "downloads left" after a
// download, by its hash. The hash is of the script as the template writes
// it (html/template drops comments inside a script).
func shareCSP(page *template.Template) string {
	return scriptCSP(shareHTML, page, sharePage{Drop: &dropView{Files: []sharedFileView{{}}}}) + "; " + previewSources // preview_policy.go
}

// shareJSON is a Share as the API shows it; URL only in the answer that
// creates it, since the token is not stored.
type shareJSON struct {
	ID           string          `json:"id"`
	FileID       string          `json:"file_id"` // the file the link was made with
	Files        []shareFileJSON `json:"files"`   // every file, in order, with its downloads
	URL          string          `json:"url,omitempty"`
	ExpiresAt    time.Time       `json:"expires_at"`
	MaxDownloads *int64          `json:"max_downloads"`
	Downloads    int64           `json:"downloads"` // of all its files
	AllowPreview bool            `json:"allow_preview"`
	CreatedAt    time.Time       `json:"created_at"`
	linkProtectionJSON
}

// shareFileJSON is one file of a share, as its owner sees it.
type shareFileJSON struct {
	ID        string `json:"id"`
	Downloads int64  `json:"downloads"`
}

// toShareJSON shows a share as the API does.
func toShareJSON(sh *Share) shareJSON {
	out := shareJSON{
		ID: sh.ID, FileID: sh.FileID, Files: make([]shareFileJSON, len(sh.Files)), ExpiresAt: sh.ExpiresAt,
		MaxDownloads: sh.MaxDownloads, Downloads: sh.totalDownloads(), AllowPreview: sh.AllowPreview, CreatedAt: sh.CreatedAt,
		linkProtectionJSON: sh.Protection.toJSON(),
	}
	for i, f := range sh.Files {
		out.Files[i] = shareFileJSON{ID: f.FileID, Downloads: f.Downloads}
	}
	return out
}

// createShareRequest is the optional body of POST /files/{id}/shares,
// and the body of POST /shares with FileIDs.
type createShareRequest struct {
	FileIDs      []string `json:"file_ids,omitempty"` // POST /shares only
	ExpiresIn    *int64   `json:"expires_in"`         // seconds; SHARE_TTL_SECONDS when absent
	MaxDownloads *int64   `json:"max_downloads"`      // absent: unlimited; a limit applies to each file
	AllowPreview bool     `json:"allow_preview"`      // previews on a link with a limit (previews.go)
	linkProtectionRequest
}

// handleCreateShare handles "POST /files/{id}/shares": a new link to the
// owner's complete file, the one-file shorthand of POST /shares.
func (s *server) handleCreateShare(w http.ResponseWriter, r *http.Request, owner string) {
	var req createShareRequest
	id, ok := pathIDAndJSON(w, r, "file", &req, bodyOptional)
	if !ok {
		return
	}
	if req.FileIDs != nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, `"file_ids" belongs to POST /shares: this route shares the file of its path`)
		return
	}
	req.FileIDs = []string{id}
	s.createShare(w, r, owner, &req)
}

// createShare makes a link to the owner's complete files req.FileIDs
// (checked to be IDs already) and answers 201 with it.
func (s *server) createShare(w http.ResponseWriter, r *http.Request, owner string, req *createShareRequest) {
	ttl, msg := s.validateShare(req)
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	files := make([]ShareFile, len(req.FileIDs))
	var first *File // the event's file (webhook_events.go)
	for i, id := range req.FileIDs {
		f, ok := s.completeFileOf(w, r, owner, id, "only a complete file can be shared: complete the upload first")
		if !ok {
			return
		}
		first = cmp.Or(first, f)
		files[i] = ShareFile{FileID: id}
	}
	protection, ok := s.linkProtection(w, r, req.linkProtectionRequest) // linkprotect.go
	if !ok {
		return
	}
	token := newSecret(shareTokenBytes)
	now := s.now().Truncate(time.Millisecond)
	sh := Share{
		ID: newID(), TokenHash: hashSecret(token), Owner: owner, FileID: files[0].FileID, Files: files,
		MaxDownloads: req.MaxDownloads, AllowPreview: req.AllowPreview, CreatedAt: now, ExpiresAt: now.Add(ttl), Protection: protection,
	}
	err := s.store.InsertShare(r.Context(), sh, s.cfg.MaxSharesPerFile)
	if errors.Is(err, ErrTooManyShares) {
		s.tooManyShares(w)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The link is made: it is handed out even if its event cannot be
	// written (logged), as a counted download is, rather than answered as
	// an error the client would retry into a second link (docs/webhooks.md).
	if err := s.emitShareEvent(r.Context(), eventShareCreated, &sh, first); err != nil {
		s.log.Warn("share create: writing its webhook event", "share", sh.ID, "err", err)
	}
	out := toShareJSON(&sh)
	out.URL = s.baseURL(r) + "/s/" + token
	writeJSON(w, http.StatusCreated, map[string]shareJSON{"share": out})
}

// tooManyShares answers ErrTooManyShares.
func (s *server) tooManyShares(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, codeConflict, fmt.Sprintf(
		"this file already has %d live share links, the most this server allows (MAX_SHARES_PER_FILE): revoke one (DELETE /shares/{id}) first",
		s.cfg.MaxSharesPerFile))
}

// validateShare checks a share request and returns its lifetime, or a
// message saying what is wrong.
func (s *server) validateShare(req *createShareRequest) (time.Duration, string) {
	maxTTL := int64(s.cfg.ShareMaxTTL / time.Second)
	ttl := s.cfg.ShareTTL
	if req.ExpiresIn != nil {
		if *req.ExpiresIn < 1 || *req.ExpiresIn > maxTTL {
			return 0, fmt.Sprintf(`"expires_in" must be 1 to %d seconds`, maxTTL)
		}
		ttl = time.Duration(*req.ExpiresIn) * time.Second
	}
	if m := req.MaxDownloads; m != nil && (*m < 1 || *m > maxShareDownloads) {
		return 0, fmt.Sprintf(`"max_downloads" must be 1 to %d, or absent for no limit`, maxShareDownloads)
	}
	return ttl, validDropFiles(req.FileIDs) // drops.go
}

// handleListShares handles "GET /files/{id}/shares": a page of the
// owner's live shares of the file, oldest first, without their URLs,
// paged as GET /list/ is (?limit=, ?cursor= from next_cursor).
func (s *server) handleListShares(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := filePathID(w, r)
	if !ok {
		return
	}
	q := ShareQuery{Owner: owner, FileID: id, Now: s.now()}
	limit, after, msg := parsePaging(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	if _, err := s.store.GetFile(r.Context(), owner, id); err != nil {
		s.fail(w, r, err)
		return
	}
	q.After, q.Limit = after, limit+1 // one more tells whether there is a next page
	shares, err := s.store.ListShares(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, shareListJSON(shares, limit))
}

// shareListJSON is the body of GET /files/{id}/shares for a page of at
// most limit shares; a share beyond them means there is a next page, which
// starts after the last one shown.
func shareListJSON(shares []Share, limit int) any {
	var out struct {
		Shares     []shareJSON `json:"shares"`
		NextCursor *string     `json:"next_cursor"`
	}
	out.Shares, out.NextCursor = pageOf(shares, limit, toShareJSON,
		func(sh *Share) Cursor { return Cursor{CreatedAt: sh.CreatedAt, ID: sh.ID} })
	return out
}

// handleRevokeShare handles "DELETE /shares/{id}": the link dies at once.
func (s *server) handleRevokeShare(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathIDOf(w, r, "share")
	if !ok {
		return
	}
	err := s.store.DeleteShare(r.Context(), owner, id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such share")
	case err != nil:
		s.fail(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// shareHeaders sets the headers of every answer under /s/: no caching, no
// indexing, no framing, no Referer carrying the token to the next site,
// and the page's CSP.
func (s *server) shareHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.formCSP(r))
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex, nofollow")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// formCSP is the page's CSP. Its Download form posts here, and the answer
// redirects to the object store, which browsers check against
// form-action too: so form-action must name the object store's origin
// when it is not this server's, and so must the sources of previews,
// which redirect there too (previewsFrom). That origin is fixed by the configuration;
// it is learnt once from a pre-signed URL (presigning is local).
func (s *server) formCSP(r *http.Request) string {
	if _, sameServer := s.objects.(*localObjects); sameServer {
		return s.shares.csp
	}
	if csp := s.shares.cspWithOrigin.Load(); csp != nil {
		return *csp
	}
	probe, err := s.objects.PresignDownload(r.Context(), DownloadRequest{
		Key: "users/origin-probe", Filename: "probe", Expires: s.now().Add(time.Minute), BaseURL: s.baseURL(r),
	})
	u, perr := url.Parse(probe)
	if err != nil || perr != nil || u.Host == "" {
		return s.shares.csp // not now: the download fails the same way, and the next page tries again
	}
	origin := u.Scheme + "://" + u.Host
	csp := previewsFrom(allowFormAction(s.shares.csp, origin), origin)
	s.shares.cspWithOrigin.Store(&csp)
	return csp
}

// sharePage is what share.html shows; html/template escapes every field.
type sharePage struct {
	Title  string
	Error  string
	Drop   *dropView
	Locked *lockedLinkView // a protected link's password form (linkprotect.go)
}

// dropView is what a live link shows: its files, nothing of its owner.
type dropView struct {
	Files   []sharedFileView
	Expires string
	Many    bool // more than one file: "Download all" is shown
}

// sharedFileView is one file of a live link.
type sharedFileView struct {
	ID            string
	Filename      string
	Size          string
	DownloadsLeft string // "" for unlimited
	UsedUp        bool
	Action        string // the Download form's target
	Preview       string // the element that previews it (previews.go): "", "img", "video", "audio" or "pdf"
	PreviewURL    string
}

// sharedFileJSON is GET /s/{token} as JSON: the first file's fields (all
// a link made before drops had), and every file under "files".
type sharedFileJSON struct {
	sharedOneFileJSON
	ExpiresAt time.Time           `json:"expires_at"`
	Files     []sharedOneFileJSON `json:"files"`
}

// sharedOneFileJSON is one file of a live link, as JSON.
type sharedOneFileJSON struct {
	ID            string `json:"id"`
	Filename      string `json:"filename"`
	Size          *int64 `json:"size"`
	ContentType   string `json:"content_type"`
	DownloadsLeft *int64 `json:"downloads_left"` // null: unlimited
	Preview       bool   `json:"preview"`        // GET /s/{token}/files/{id}/preview shows it inline
}

// handleSharePage handles "GET /s/{token}": the link's page, or its JSON
// with Accept: application/json. It never counts a download.
func (s *server) handleSharePage(w http.ResponseWriter, r *http.Request) {
	sh, files, ok := s.openLink(w, r)
	if !ok {
		return
	}
	token := r.PathValue("token")
	out := sharedFileJSON{ExpiresAt: sh.ExpiresAt, Files: make([]sharedOneFileJSON, len(files))}
	view := &dropView{Files: make([]sharedFileView, len(files)), Expires: humanTime(sh.ExpiresAt), Many: len(files) > 1}
	for i, f := range files {
		left := downloadsLeft(&sh, f.ID)
		out.Files[i] = sharedOneFileJSON{
			ID: f.ID, Filename: f.Filename, Size: f.Size, ContentType: downloadContentType(f), DownloadsLeft: left,
			Preview: previewKind(&sh, f) != "",
		}
		view.Files[i] = fileView(&sh, f, token, left)
	}
	if wantsJSON(r) {
		out.sharedOneFileJSON = out.Files[0]
		writeJSON(w, http.StatusOK, out)
		return
	}
	title := files[0].Filename
	if len(files) > 1 {
		title = plural(int64(len(files)), "file")
	}
	s.renderSharePage(w, http.StatusOK, sharePage{Title: title, Drop: view})
}

// downloadsLeft is how many downloads of the file the share has left;
// nil for unlimited.
func downloadsLeft(sh *Share, fileID string) *int64 {
	if sh.MaxDownloads == nil {
		return nil
	}
	n := *sh.MaxDownloads
	if f := sh.file(fileID); f != nil {
		n -= f.Downloads
	}
	return &n
}

// fileView is the page's view of one file of a live link.
func fileView(sh *Share, f *File, token string, left *int64) sharedFileView {
	v := sharedFileView{
		ID: f.ID, Filename: f.Filename,
		Action:  "/s/" + token + "/files/" + f.ID + "/download",
		Preview: previewKind(sh, f),
	}
	if v.Preview != "" {
		v.PreviewURL = "/s/" + token + "/files/" + f.ID + "/preview"
	}
	if f.Size != nil {
		v.Size = humanSize(*f.Size)
	}
	if left != nil {
		v.DownloadsLeft = plural(*left, "download") + " left"
		v.UsedUp = *left <= 0
	}
	return v
}

// shareURLExpiry is when a URL a link hands out (a download, a preview)
// dies: shareDownloadTTL from now (PRESIGN_TTL_SECONDS if shorter), so
// that it dies soon after the link is revoked, and never after the link
// itself expires (whole seconds, which a pre-signed URL counts in: the
// link's end rounded down). One rule for both: the preview's URL lived
// 15 minutes, past both (review 15).
func (s *server) shareURLExpiry(sh *Share) time.Time {
	at := ceilSecond(s.now().Add(min(shareDownloadTTL, s.cfg.PresignTTL)))
	if end := sh.ExpiresAt.Truncate(time.Second); end.Before(at) {
		return end
	}
	return at
}

// handleShareDownload handles "POST /s/{token}/download" (the page's
// button, or a client) and its GET, and the same under
// /s/{token}/files/{file_id}/ for one file of a drop (the bare route takes
// the first file with downloads left): it counts one download of the file
// and redirects to a fresh URL of it, valid until shareURLExpiry, served as an
// attachment; a client that asks for JSON gets {"url", "expires_at"}
// instead (the page's "Download all"). Only a request made on purpose
// counts: a GET counts only when the browser says a person started it
// (Sec-Fetch-User: ?1, a click on the link); any other GET, such as a chat
// app's preview bot following a pasted link, gets the link's page (or its
// JSON), whose button posts. A HEAD, which a link checker may send, counts
// nothing either.
func (s *server) handleShareDownload(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "a HEAD would not download: use GET or POST")
		return
	}
	if r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-User") != "?1" {
		s.handleSharePage(w, r)
		return
	}
	sh, files, ok := s.openLink(w, r)
	if !ok {
		return
	}
	f := downloadTarget(&sh, files, r.PathValue("file_id"))
	if f == nil {
		s.shareFail(w, r, ErrNotFound)
		return
	}
	expires := s.shareURLExpiry(&sh)
	location, err := s.objects.PresignDownload(r.Context(), DownloadRequest{
		Key: f.ObjectKey, Filename: f.Filename, ContentType: downloadContentType(f),
		Expires: expires, BaseURL: s.baseURL(r),
	})
	if err != nil {
		s.shareFail(w, r, err)
		return
	}
	// Counted last, once nothing else can fail: an outage never uses up a
	// download that was not handed out. The count starts from the link as
	// openLink read it, and is the atomic check, so a link used up or
	// revoked meanwhile still ends here.
	counted, err := s.store.CountShareDownload(r.Context(), sh, f.ID, s.now())
	if err != nil {
		s.shareFail(w, r, err)
		return
	}
	// The download is counted: it is handed out even if its event cannot
	// be written, rather than used up for nothing (docs/webhooks.md).
	if err := s.emitShareEvent(r.Context(), eventShareDownloaded, &counted, f); err != nil {
		s.log.Warn("share download: writing its webhook event", "share", counted.ID, "err", err)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"url": location, "expires_at": expires})
		return
	}
	http.Redirect(w, r, location, http.StatusSeeOther)
}

// downloadTarget is the file of the link a download asks for: the one
// with that ID, or with none, the first with downloads left; nil if the
// link has no such file, or it is used up.
func downloadTarget(sh *Share, files []*File, fileID string) *File {
	for _, f := range files {
		if (fileID == "" || f.ID == fileID) && !sh.fileUsedUp(sh.file(f.ID)) {
			return f
		}
	}
	return nil
}

// openLink finds the live share of the request's token and its files
// (sharedFiles) and lets the request through the link's protection
// (linkGate, linkprotect.go); on false it has answered.
func (s *server) openLink(w http.ResponseWriter, r *http.Request) (Share, []*File, bool) {
	sh, files, err := s.sharedFiles(r)
	if err != nil {
		s.shareFail(w, r, err)
		return Share{}, nil, false
	}
	return sh, files, s.linkGate(w, r, shareGate(r, sh))
}

// sharedFiles finds the live share of the request's token and its
// complete files, in order. Any dead link is ErrNotFound, and so is the
// link of a user an administrator disabled (checked here, at use, so that
// enabling them again brings their links back).
func (s *server) sharedFiles(r *http.Request) (Share, []*File, error) {
	sh, err := s.liveShare(r.Context(), r.PathValue("token"))
	if err == nil {
		err = s.ownerEnabled(r, sh.Owner)
	}
	if err != nil {
		return Share{}, nil, err
	}
	var files []*File
	for _, sf := range sh.Files {
		f, err := s.store.GetFile(r.Context(), sh.Owner, sf.FileID)
		if errors.Is(err, ErrNotFound) || err == nil && f.Status != statusComplete {
			continue // deleted since the share was read
		}
		if err != nil {
			return Share{}, nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return Share{}, nil, ErrNotFound
	}
	return sh, files, nil
}

// shareFail answers an error on a link's routes: a dead link is the one
// 404, the rest as classify says; as a page, or JSON if asked for.
func (s *server) shareFail(w http.ResponseWriter, r *http.Request, err error) {
	f := failure{http.StatusNotFound, codeNotFound, deadShareMessage, deadSharePage}
	if !errors.Is(err, ErrNotFound) {
		f = s.classify(r, err)
	}
	setRetryAfter(w, err)
	if wantsJSON(r) {
		writeError(w, f.status, f.code, f.message)
		return
	}
	s.renderSharePage(w, f.status, sharePage{Title: http.StatusText(f.status), Error: f.page})
}

// renderSharePage shows a share link's page (share.html) with p.
func (s *server) renderSharePage(w http.ResponseWriter, status int, p sharePage) {
	s.renderHTML(w, status, s.shares.page, p)
}

// ownerEnabled is ErrNotFound for the link (share or file request) of a
// user an administrator disabled (checked at use, so enabling them again
// brings their links back). It asks what checkEnabled asks of the owner's
// own requests (refuseDisabled): a user with no record, one a trusted
// proxy names who never signed in here, is enabled, so their links work.
func (s *server) ownerEnabled(r *http.Request, owner string) error {
	disabled, err := s.refuseDisabled(r.Context(), owner)
	if err == nil && disabled {
		err = ErrNotFound
	}
	return err
}

// validDropFiles checks the file IDs of a drop request; "" if they are
// fine, or a message saying what is wrong.
func validDropFiles(ids []string) string {
	if len(ids) < 1 || len(ids) > maxDropFiles {
		return fmt.Sprintf(`"file_ids" must list 1 to %d file ids`, maxDropFiles)
	}
	for i, id := range ids {
		if !validID(id) {
			return fmt.Sprintf(`"file_ids"[%d] is not a file id`, i)
		}
		if slices.Contains(ids[:i], id) {
			return fmt.Sprintf(`"file_ids"[%d] names a file already listed`, i)
		}
	}
	return ""
}

// ---- Webhook events (webhook_events.go) ----

// shareEventData is the data of the share events: the share without its
// URL (its token is not stored), and its file.
type shareEventData struct {
	UserID string    `json:"user_id"`
	Share  shareJSON `json:"share"`
	File   fileJSON  `json:"file"`
}

// emitShareEvent emits share.created (key: the share's ID) or
// share.downloaded. Each counted download is its own event, emitted once,
// so its key is new each time: neither the share's ID nor the file's
// count would do, as one link counts many downloads and a file put back
// in a drop counts again from one.
func (s *server) emitShareEvent(ctx context.Context, event string, sh *Share, f *File) error {
	key := sh.ID
	if event == eventShareDownloaded {
		key += "/" + newID()
	}
	return s.emit(ctx, sh.Owner, event, key, shareEventData{UserID: sh.Owner, Share: toShareJSON(sh), File: toFileJSON(f)})
}
