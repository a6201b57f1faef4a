package main

// File requests: a user asks strangers for files through a link
// (/r/{token}). Whoever holds the link sees the request's title, message
// and room left, and can send files, with a name and a note, through the
// same upload paths as the owner (a POST form, a PUT URL, or parts, each
// straight to the object store). The files land in the owner's account,
// marked with the request and the sender's name, charged to the owner's
// quota at create as any upload is; the request's caps (most files, most
// bytes) hold across instances (InsertRequestFile). A stranger can never
// list, download or delete a file: no route lets them. They can only take
// back a file of their own still being sent (handleRequestTakeBack). The token follows the
// share links' rules (shares.go): 256 bits, shown once, only its SHA-256
// stored, never logged (the log names the route pattern, not the path),
// no Referer; and a
// closed, expired or unknown request answers exactly the dead share
// link's 404.

import (
	"cmp"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of what an owner and a sender may write.
const (
	maxRequestTitle   = 200   // bytes
	maxRequestMessage = 2000  // bytes
	maxSenderName     = 100   // bytes
	maxSenderNote     = 1000  // bytes
	maxRequestFiles   = 10000 // the most max_files a request may ask for
	maxRequestTypes   = 20    // content types a request may list
)

//go:embed request.html
var requestHTML string

// newRequestLinks parses the page once; objectsOrigin is where the
// browser sends bytes when that is not this server ("" when it is).
func newRequestLinks(cfg *config, objectsOrigin string) *requestLinks {
	page := parsePage("request.html", requestHTML)
	return &requestLinks{page: page, csp: requestCSP(page, objectsOrigin), perRequest: newRateLimiter(cfg.AuthRateLimit)}
}

// requestCSP is the sign-in pages' CSP (loginCSP) allowing the page's one
// inline script by its hash, as the template writes it (as shareCSP), and
// its uploads to this server and to the object store.
func requestCSP(page *template.Template, objectsOrigin string) string {
	connect := "connect-src 'self'"
	if objectsOrigin != "" {
		connect += " " + objectsOrigin
	}
	return scriptCSP(requestHTML, page, requestPage{Request: &requestView{}}) + "; " + connect
}

// ---- The owner's API ----

// requestJSON is a FileRequest as the API shows it; URL only in the
// answer that creates it, since the token is not stored.
type requestJSON struct {
	ID            string    `json:"id"`
	URL           string    `json:"url,omitempty"`
	Title         string    `json:"title"`
	Message       string    `json:"message"`
	MaxFiles      int64     `json:"max_files"`
	MaxBytes      int64     `json:"max_bytes"`
	ContentTypes  []string  `json:"content_types"`
	Closed        bool      `json:"closed"`
	FilesReceived int64     `json:"files_received"`
	BytesReceived int64     `json:"bytes_received"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	linkProtectionJSON
}

// toRequestJSON shows a request as the API does.
func toRequestJSON(fr *ReceivedRequest) requestJSON {
	return requestJSON{
		ID: fr.ID, Title: fr.Title, Message: fr.Message, MaxFiles: fr.MaxFiles, MaxBytes: fr.MaxBytes,
		ContentTypes: fr.typesJSON(), Closed: fr.Closed, FilesReceived: fr.Received.Files, BytesReceived: fr.Received.Bytes,
		CreatedAt: fr.CreatedAt, ExpiresAt: fr.ExpiresAt, linkProtectionJSON: fr.Protection.toJSON(),
	}
}

// typesJSON is the request's content types as JSON shows them: [] for any.
func (fr *FileRequest) typesJSON() []string {
	if fr.ContentTypes == nil {
		return []string{}
	}
	return fr.ContentTypes
}

// createRequestBody is the body of POST /requests.
type createRequestBody struct {
	Title        *string  `json:"title"`
	Message      *string  `json:"message"`
	ExpiresIn    *int64   `json:"expires_in"` // seconds; SHARE_TTL_SECONDS when absent
	MaxFiles     *int64   `json:"max_files"`
	MaxBytes     *int64   `json:"max_bytes"`
	ContentTypes []string `json:"content_types"`
	linkProtectionRequest
}

// handleCreateRequest handles "POST /requests": a new file request, with
// its link, shown this once.
func (s *server) handleCreateRequest(w http.ResponseWriter, r *http.Request, owner string) {
	var body createRequestBody
	if !readJSON(w, r, &body, bodyRequired) {
		return
	}
	ttl, msg := s.validateRequest(&body)
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	protection, ok := s.linkProtection(w, r, body.linkProtectionRequest) // linkprotect.go
	if !ok {
		return
	}
	token := newSecret(shareTokenBytes)
	now := s.now().Truncate(time.Millisecond)
	fr := FileRequest{
		ID: newID(), TokenHash: hashSecret(token), Owner: owner, Title: *body.Title, MaxFiles: *body.MaxFiles,
		MaxBytes: *body.MaxBytes, ContentTypes: body.ContentTypes, CreatedAt: now, ExpiresAt: now.Add(ttl), Protection: protection,
	}
	if body.Message != nil {
		fr.Message = *body.Message
	}
	if err := s.store.InsertRequest(r.Context(), fr); err != nil {
		s.fail(w, r, err)
		return
	}
	out := toRequestJSON(&ReceivedRequest{FileRequest: fr})
	out.URL = s.baseURL(r) + "/r/" + token
	writeJSON(w, http.StatusCreated, map[string]requestJSON{"request": out})
}

// validateRequest checks a new request and returns its lifetime, or a
// message saying what is wrong. Content types are normalized in place.
func (s *server) validateRequest(b *createRequestBody) (time.Duration, string) {
	maxTTL := int64(s.cfg.ShareMaxTTL / time.Second)
	ttl := s.cfg.ShareTTL
	if b.Title == nil {
		return 0, `"title" is required`
	}
	if msg := cmp.Or(plainText("title", b.Title, 1, maxRequestTitle, false), plainText("message", b.Message, 0, maxRequestMessage, true)); msg != "" {
		return 0, msg
	}
	switch {
	case b.ExpiresIn != nil && (*b.ExpiresIn < 1 || *b.ExpiresIn > maxTTL):
		return 0, fmt.Sprintf(`"expires_in" must be 1 to %d seconds`, maxTTL)
	case b.MaxFiles == nil || *b.MaxFiles < 1 || *b.MaxFiles > maxRequestFiles:
		return 0, fmt.Sprintf(`"max_files" is required, 1 to %d`, maxRequestFiles)
	case b.MaxBytes == nil || *b.MaxBytes < 1 || *b.MaxBytes > 1<<62:
		return 0, fmt.Sprintf(`"max_bytes" is required, 1 to %d`, int64(1)<<62)
	case len(b.ContentTypes) > maxRequestTypes:
		return 0, fmt.Sprintf(`"content_types" may list at most %d types`, maxRequestTypes)
	}
	if b.ExpiresIn != nil {
		ttl = time.Duration(*b.ExpiresIn) * time.Second
	}
	for i, ct := range b.ContentTypes {
		norm, ok := requestType(ct)
		if !ok {
			return 0, fmt.Sprintf(`"content_types": %q is not a media type such as "image/png" or a family such as "image/*", without parameters (to take any type, leave "content_types" out)`, ct)
		}
		b.ContentTypes[i] = norm
	}
	if len(b.ContentTypes) == 0 {
		b.ContentTypes = nil
	}
	return ttl, ""
}

// requestType is ct normalised as a request's content type, and whether it
// is one that typeAllowed can ever match: a media type or a family
// ("image/*"), without parameters (a sender's type is compared without
// its own), and not "*/*" or "*/png", which name no family.
func requestType(ct string) (string, bool) {
	norm, ok := normalizeContentType(ct)
	major, sub, _ := strings.Cut(norm, "/")
	if !ok || strings.Contains(norm, ";") || strings.Contains(major, "*") || sub != "*" && strings.Contains(sub, "*") {
		return "", false
	}
	return norm, true
}

// plainText says what is wrong with the optional text field name (nil:
// absent, which is fine), or "": it must be min to max bytes of valid
// UTF-8 without controls or format characters (line breaks allowed if
// multiline), so that it shows as the plain text it is.
func plainText(name string, text *string, minLen, maxLen int, multiline bool) string {
	switch {
	case text == nil:
		return ""
	case len(*text) < minLen || len(*text) > maxLen:
		return fmt.Sprintf("%q must be %d to %d bytes", name, minLen, maxLen)
	case !utf8.ValidString(*text) || strings.ContainsRune(*text, utf8.RuneError):
		return fmt.Sprintf("%q must be valid UTF-8", name)
	}
	for _, r := range *text {
		if invisibleRune(r) && !(multiline && r == '\n') {
			return fmt.Sprintf("%q contains %s, which is not allowed", name, describeRune(r))
		}
	}
	return ""
}

// handleListRequests handles "GET /requests": a page of the owner's
// unexpired requests, oldest first, without their URLs, paged as GET
// /list/ is (?limit=, ?cursor= from next_cursor).
func (s *server) handleListRequests(w http.ResponseWriter, r *http.Request, owner string) {
	limit, after, msg := parsePaging(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	reqs, err := s.store.ListRequests(r.Context(), RequestQuery{Owner: owner, Now: s.now(), After: after, Limit: limit + 1})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out struct {
		Requests   []requestJSON `json:"requests"`
		NextCursor *string       `json:"next_cursor"`
	}
	out.Requests, out.NextCursor = pageOf(reqs, limit, toRequestJSON,
		func(fr *ReceivedRequest) Cursor { return Cursor{CreatedAt: fr.CreatedAt, ID: fr.ID} })
	writeJSON(w, http.StatusOK, out)
}

// handleCloseRequest handles "POST /requests/{id}/close": strangers can
// no longer open or send to it, until it is reopened.
func (s *server) handleCloseRequest(w http.ResponseWriter, r *http.Request, owner string) {
	s.setRequestClosed(w, r, owner, true)
}

// handleReopenRequest handles "POST /requests/{id}/reopen".
func (s *server) handleReopenRequest(w http.ResponseWriter, r *http.Request, owner string) {
	s.setRequestClosed(w, r, owner, false)
}

// setRequestClosed closes or reopens the owner's request and answers it.
func (s *server) setRequestClosed(w http.ResponseWriter, r *http.Request, owner string, closed bool) {
	id, ok := pathIDOf(w, r, "request")
	if !ok {
		return
	}
	fr, err := s.store.SetRequestClosed(r.Context(), owner, id, closed, s.now())
	if err != nil {
		s.failRequest(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]requestJSON{"request": toRequestJSON(&fr)})
}

// handleDeleteRequest handles "DELETE /requests/{id}": the request ends at
// once; the files it received stay.
func (s *server) handleDeleteRequest(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathIDOf(w, r, "request")
	if !ok {
		return
	}
	if err := s.store.DeleteRequest(r.Context(), owner, id); err != nil {
		s.failRequest(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// failRequest answers an owner's call on a request: a missing one is 404
// "no such request".
func (s *server) failRequest(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such request")
		return
	}
	s.fail(w, r, err)
}

// ---- The stranger's side ----

// requestPage is what request.html shows; html/template escapes every field.
type requestPage struct {
	Title   string
	Request *requestView
}

// requestView is the request a live link shows: nothing of its owner.
type requestView struct {
	Title, Message, Expires, Room string
}

// openRequestJSON is GET /r/{token} as JSON.
type openRequestJSON struct {
	Title        string    `json:"title"`
	Message      string    `json:"message"`
	ExpiresAt    time.Time `json:"expires_at"`
	FilesLeft    int64     `json:"files_left"`
	BytesLeft    int64     `json:"bytes_left"`
	ContentTypes []string  `json:"content_types"`
}

// handleRequestPage handles "GET /r/{token}": the request's page, or its
// JSON with Accept: application/json.
func (s *server) handleRequestPage(w http.ResponseWriter, r *http.Request) {
	fr, ok := s.openRequest(w, r, false)
	if !ok {
		return
	}
	filesLeft, bytesLeft := max(0, fr.MaxFiles-fr.Received.Files), max(0, fr.MaxBytes-fr.Received.Bytes)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, openRequestJSON{
			Title: fr.Title, Message: fr.Message, ExpiresAt: fr.ExpiresAt, FilesLeft: filesLeft, BytesLeft: bytesLeft,
			ContentTypes: fr.typesJSON(),
		})
		return
	}
	room := fmt.Sprintf("Room for %s, %s in all", plural(filesLeft, "more file"), humanSize(bytesLeft))
	if filesLeft == 1 {
		room = "Room for 1 more file, " + humanSize(bytesLeft)
	}
	w.Header().Set("Content-Security-Policy", s.requests.csp)
	s.renderHTML(w, http.StatusOK, s.requests.page, requestPage{Title: fr.Title, Request: &requestView{
		Title: fr.Title, Message: fr.Message, Expires: humanTime(fr.ExpiresAt), Room: room,
	}})
}

// requestUploadBody is the body of POST /r/{token}/upload: an upload as
// POST /upload/ takes it, with the sender's name and note. Its size is
// required, so that the request's room is charged what the file takes.
type requestUploadBody struct {
	createUploadRequest
	SenderName *string `json:"sender_name"`
	SenderNote *string `json:"sender_note"`
}

// handleRequestUpload handles "POST /r/{token}/upload": a stranger's new
// upload into the request's owner's account.
func (s *server) handleRequestUpload(w http.ResponseWriter, r *http.Request) {
	fr, ok := s.openRequest(w, r, true)
	if !ok {
		return
	}
	var body requestUploadBody
	if !readJSON(w, r, &body, bodyRequired) {
		return
	}
	f := &File{Owner: fr.Owner, RequestID: fr.ID}
	if msg := validateSender(&body, f); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	if body.Size == nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, `"size" is required to send through a file request`)
		return
	}
	if msg := typeAllowed(&fr.FileRequest, body.ContentType); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	s.createUpload(w, r, &body.createUploadRequest, f)
}

// validateSender checks the sender's name and note and sets them on f.
func validateSender(b *requestUploadBody, f *File) string {
	msg := cmp.Or(plainText("sender_name", b.SenderName, 0, maxSenderName, false), plainText("sender_note", b.SenderNote, 0, maxSenderNote, true))
	if msg == "" {
		f.SenderName, f.SenderNote = deref(b.SenderName), deref(b.SenderNote)
	}
	return msg
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// typeAllowed says why a declared content type is refused by the request,
// or "": a request that lists types takes only those ("image/*" takes any
// image type).
func typeAllowed(fr *FileRequest, declared *string) string {
	if len(fr.ContentTypes) == 0 {
		return ""
	}
	if ct, ok := normalizeContentType(deref(declared)); ok {
		mt, _, _ := strings.Cut(ct, ";")
		major, _, _ := strings.Cut(mt, "/")
		if slices.Contains(fr.ContentTypes, mt) || slices.Contains(fr.ContentTypes, major+"/*") {
			return ""
		}
	}
	return `"content_type" must be one this request takes: ` + strings.Join(fr.ContentTypes, ", ")
}

// failRequestInsert answers a stranger's upload the store refused. The
// owner's quota is their business: the sender learns only that it is full.
func (s *server) failRequestInsert(w http.ResponseWriter, r *http.Request, f *File, err error) {
	switch {
	case errors.Is(err, ErrRequestFull):
		writeError(w, http.StatusConflict, codeConflict, "this request has no room left for a file of that size")
	case errors.Is(err, ErrQuotaExceeded):
		writeError(w, http.StatusForbidden, codeQuotaExceeded, "the owner of this request has no room left for a file of that size")
	default:
		s.requestJSONFail(w, r, err) // a request closed meanwhile is the dead link's 404
	}
}

// requestJSONFail answers an error on the stranger's JSON routes: a dead
// link is the dead share link's JSON 404, whatever the Accept header.
func (s *server) requestJSONFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, deadShareMessage)
		return
	}
	s.fail(w, r, err)
}

// requestTooMany is the 429 of the stranger's JSON routes.
func requestTooMany(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many requests on this link; retry after the Retry-After delay")
}

// handleRequestComplete handles "POST /r/{token}/upload/{id}/complete",
// as POST /upload/{id}/complete does for the request's files.
func (s *server) handleRequestComplete(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.requestFile(w, r); ok {
		s.handleCompleteUpload(w, r, f.Owner)
	}
}

// handleRequestPartURLs handles "POST /r/{token}/upload/{id}/parts".
func (s *server) handleRequestPartURLs(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.requestFile(w, r); ok {
		s.handlePartURLs(w, r, f.Owner)
	}
}

// handleRequestListParts handles "GET /r/{token}/upload/{id}/parts", so a
// sender resumes an upload.
func (s *server) handleRequestListParts(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.requestFile(w, r); ok {
		s.handleListParts(w, r, f.Owner)
	}
}

// handleRequestTakeBack handles "DELETE /r/{token}/upload/{id}": a sender
// takes back a file they are still sending (they cancelled it, or it
// failed), which would otherwise hold its room in the request until the
// sweeper abandons it, hours or days later. Only a pending file goes, and
// the store checks that as it deletes it, as it does the sweeper's claim:
// a file the owner has received is theirs, and answers 409. As for the
// other upload routes, the file's id, which only its sender was given,
// is what makes them its sender.
func (s *server) handleRequestTakeBack(w http.ResponseWriter, r *http.Request) {
	f, ok := s.requestFile(w, r)
	if !ok {
		return
	}
	if f.Status != statusPending {
		takenBackTooLate(w)
		return
	}
	taken, err := s.takeBackPending(r.Context(), f)
	if errors.Is(err, ErrNotFound) { // received, or gone, since it was read
		s.answerTakeBackMissed(w, r, f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.deleteObjects(r.Context(), taken); err != nil && !errors.Is(err, errInvalidObjectKey) {
		// Its record is gone: `dropp reconcile` finds what stays.
		s.log.Warn("take back: deleting the objects of a pending file", "file", f.ID, "err", err,
			"request_id", requestInfoFrom(r.Context()).id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// answerTakeBackMissed answers a take-back that found the file no longer
// pending: 409 if the owner has it, else 204, for nothing of it is left
// in the request (a complete that lost to the take-back's claim deleted
// it itself, review 18; or an earlier take-back did, or its owner).
func (s *server) answerTakeBackMissed(w http.ResponseWriter, r *http.Request, f *File) {
	_, err := s.store.GetFile(r.Context(), f.Owner, f.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		w.WriteHeader(http.StatusNoContent)
	case err != nil:
		s.fail(w, r, err)
	default:
		takenBackTooLate(w)
	}
}

// takenBackTooLate is the 409 of a take-back of a file no longer pending.
func takenBackTooLate(w http.ResponseWriter) {
	writeError(w, http.StatusConflict, codeConflict, "this file was received: only a file still being sent can be taken back")
}

// takeBackPending deletes the record of a pending file, only if it is
// still pending (checked by the store, as the sweeper's claim is:
// ErrNotFound otherwise), and returns it, for its objects to go. A file
// whose form may still write its staging key (S3) is held deleted instead,
// as removeFile does, so that what the form stores stays charged until
// sweepStaged deletes it; it no longer counts in the request. That hold
// too is only of a file still pending at the hold (HoldPendingFile): a
// complete of the same file, sent by the sender at the same moment, either
// came first and keeps the file, or is not acknowledged.
func (s *server) takeBackPending(ctx context.Context, f *File) (*File, error) {
	if f.StagingKey != "" {
		return s.store.HoldPendingFile(ctx, f.Owner, f.ID)
	}
	// Created before just after its own creation: this file, whatever its age.
	return s.store.DeleteAbandonedFile(ctx, f.Owner, f.ID, f.CreatedAt.Add(time.Millisecond))
}

// requestFile checks that the request of the token is open and that the
// file {id} was sent through it, and returns it: its owner is whom the
// upload handlers then act for. Any other file is "no such file".
func (s *server) requestFile(w http.ResponseWriter, r *http.Request) (*File, bool) {
	fr, ok := s.openRequest(w, r, true)
	if !ok {
		return nil, false
	}
	id, ok := filePathID(w, r)
	if !ok {
		return nil, false
	}
	f, err := s.store.GetFile(r.Context(), fr.Owner, id)
	if err == nil && f.RequestID != fr.ID {
		err = ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return f, true
}

// openRequest finds the open request of the token in the path, lets the
// call through the link's protection (linkGate) and counts it against the
// request's rate limit. A dead link (unknown, closed, expired, deleted, or
// of a disabled owner) is answered as a dead share link is, the same
// bytes: as a page or JSON as asked, or always JSON if jsonOnly (the
// upload routes). On false it has answered.
func (s *server) openRequest(w http.ResponseWriter, r *http.Request, jsonOnly bool) (ReceivedRequest, bool) {
	fail, tooMany, gate := s.shareFail, s.shareTooMany, s.linkGate
	if jsonOnly {
		fail, tooMany, gate = s.requestJSONFail, requestTooMany, s.linkGateJSON
	}
	fr, err := s.liveRequest(r)
	if err != nil {
		fail(w, r, err)
		return ReceivedRequest{}, false
	}
	// Checked before the request's rate limit, so that calls without the
	// password or a member's sign-in spend none of the senders' room.
	if !gate(w, r, requestGate(r, &fr.FileRequest)) {
		return ReceivedRequest{}, false
	}
	if ok, wait := s.requests.perRequest.allow(requestBucket(fr.ID), s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
		tooMany(w, r)
		return ReceivedRequest{}, false
	}
	return fr, true
}

// liveRequest is the open request of the token in the path, of an enabled
// owner; any other is ErrNotFound, after one store round trip for a
// well-formed token whether or not it is known.
func (s *server) liveRequest(r *http.Request) (ReceivedRequest, error) {
	token := r.PathValue("token")
	if !isLinkToken(token) {
		return ReceivedRequest{}, ErrNotFound
	}
	fr, err := s.store.RequestLink(r.Context(), hashSecret(token), s.now())
	if err == nil {
		err = s.ownerEnabled(r, fr.Owner)
	}
	return fr, err
}

// requestGate is the protectedLink of the request's file request link.
func requestGate(r *http.Request, fr *FileRequest) protectedLink {
	return protectedLink{ID: fr.ID, Path: "/r/" + r.PathValue("token"), LinkProtection: fr.Protection}
}

// handleRequestPassword handles "POST /r/{token}": the password of a
// protected file request, as the password form or JSON {"password"},
// checked as a share link's (linkprotect.go).
func (s *server) handleRequestPassword(w http.ResponseWriter, r *http.Request) {
	s.tryLinkPassword(w, r, "/r/"+r.PathValue("token"), func() (protectedLink, error) {
		fr, err := s.liveRequest(r)
		return requestGate(r, &fr.FileRequest), err
	})
}

// requestBucket names a request to the rate limiter, which keys its
// buckets by network: an IPv6 address made from the request ID's hash,
// never one a client has, so its bucket is the request's alone.
func requestBucket(id string) netip.Addr {
	sum := sha256.Sum256([]byte("request " + id))
	sum[0] = 0xfd // a unique-local address
	return netip.AddrFrom16([16]byte(sum[:16]))
}
