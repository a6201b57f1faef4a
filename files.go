package main

// The files API: creating uploads, completing them, listing, downloading and
// deleting files, with the validation of what clients send.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// appendOptionalJSONString appends key and v unless v is "", as
// encoding/json's omitempty does.
func appendOptionalJSONString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendJSONString(append(b, key...), v)
}

// createUploadRequest is the body of POST /upload/.
type createUploadRequest struct {
	Filename    *string `json:"filename"`
	Size        *int64  `json:"size"`
	ContentType *string `json:"content_type"`
	Multipart   *bool   `json:"multipart"` // upload in parts (see multipart.go)
}

// createUploadResponse is the body of POST /upload/'s answer.
type createUploadResponse struct {
	File   fileJSON `json:"file"`
	Upload any      `json:"upload"` // UploadForm, PresignedPut or multipartAnswer (multipart.go)
}

// writeCreatedUpload answers POST /upload/ with the pending file and how to
// send its bytes. The answer of a form upload, the most common request, is
// appended rather than reflected; PUT and multipart answers go through
// writeJSON. TestCreatedUploadJSONMatchesEncodingJSON holds both to the
// same bytes.
func writeCreatedUpload(w http.ResponseWriter, f *File, upload any) {
	form, ok := upload.(UploadForm)
	if !ok {
		writeJSON(w, http.StatusCreated, createUploadResponse{File: toFileJSON(f), Upload: upload})
		return
	}
	size := 512 + len(f.Filename) + len(form.URL) // the file's fixed text, the form's, and some escaping
	for k, v := range form.Fields {
		size += len(k) + len(v) + 6
	}
	b := append(make([]byte, 0, size), `{"file":`...)
	b = appendFileJSON(b, f)
	b = append(b, `,"upload":`...)
	b = form.appendJSON(b)
	writeJSONBody(w, http.StatusCreated, append(b, "}\n"...))
}

// fileResponse is the body of POST /upload/{id}/complete's answer.
type fileResponse struct {
	File fileJSON `json:"file"`
}

// handleCreateUpload handles "POST /upload/": it records a pending file and
// returns a pre-signed form (or PUT URL) the client sends the bytes to, or,
// for a multipart upload, the part size the client asks part URLs for.
func (s *server) handleCreateUpload(w http.ResponseWriter, r *http.Request, owner string) {
	var req createUploadRequest
	if !readJSON(w, r, &req, bodyRequired) {
		return
	}
	s.createUpload(w, r, &req, &File{Owner: owner})
}

// createUpload validates req and records the pending file f, whose Owner
// is set (and, for a file sent through a file request, its RequestID and
// sender: requests.go), then answers how to send its bytes.
func (s *server) createUpload(w http.ResponseWriter, r *http.Request, req *createUploadRequest, f *File) {
	multipart := req.Multipart != nil && *req.Multipart
	if msg := s.validateUpload(req, multipart); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	now := s.now().Truncate(time.Millisecond)
	f.ID, f.Filename, f.DeclaredSize, f.Status, f.CreatedAt = newID(), *req.Filename, req.Size, statusPending, now
	owner := f.Owner
	if req.ContentType != nil {
		f.ContentType = *req.ContentType
	}
	f.ObjectKey = objectKey(owner, f.ID, now)
	if multipart {
		s.startMultipart(w, r, f, now)
		return
	}
	if _, ok := s.objects.(stagingObjects); ok {
		f.StagingKey = stagingKey(f.ObjectKey, s.formExpiry(now))
	}
	form, err := s.presignSingle(r, f, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Charged = s.chargeFor(f.DeclaredSize)
	if err := s.insertPending(r.Context(), f, now); err != nil {
		s.failInsert(w, r, f, err)
		return
	}
	s.metrics.uploadCreated()
	writeCreatedUpload(w, f, form)
}

// insertPending records a new pending file within its owner's quota, and
// within its file request's room if it comes through one.
func (s *server) insertPending(ctx context.Context, f *File, now time.Time) error {
	if f.RequestID != "" {
		return s.store.InsertRequestFile(ctx, f, s.quota(), now)
	}
	return s.store.InsertFileWithinQuota(ctx, f, s.quota())
}

// failInsert answers a failed insertPending.
func (s *server) failInsert(w http.ResponseWriter, r *http.Request, f *File, err error) {
	switch {
	case f.RequestID != "":
		s.failRequestInsert(w, r, f, err) // requests.go
	case errors.Is(err, ErrQuotaExceeded):
		s.writeQuotaExceeded(w, r, f)
	default:
		s.fail(w, r, err)
	}
}

// presignSingle signs a single upload: a POST form, or with
// S3_UPLOAD_METHOD=put a PUT URL for the declared size.
func (s *server) presignSingle(r *http.Request, f *File, now time.Time) (any, error) {
	if s.cfg.UploadMethod != uploadMethodPut {
		form, err := s.objects.PresignUpload(r.Context(), s.uploadPolicy(r, f, now))
		form.Method = http.MethodPost
		return form, err
	}
	return s.objects.PresignPut(r.Context(), PutRequest{
		Key: f.uploadKey(), Size: *f.DeclaredSize, ContentType: f.ContentType,
		Expires: s.formExpiry(now), BaseURL: s.baseURL(r),
	})
}

// uploadPolicy pins the upload to this file's key, its declared size (or
// the configured maximum) and its declared content type.
func (s *server) uploadPolicy(r *http.Request, f *File, now time.Time) UploadPolicy {
	p := UploadPolicy{
		Key:         f.uploadKey(),
		MaxSize:     s.singleUploadLimit(),
		ContentType: f.ContentType,
		Expires:     s.formExpiry(now),
		BaseURL:     s.baseURL(r),
	}
	if f.DeclaredSize != nil {
		p.MinSize, p.MaxSize = *f.DeclaredSize, *f.DeclaredSize
	}
	return p
}

// formExpiry is when a single upload's form or PUT URL made at now expires.
func (s *server) formExpiry(now time.Time) time.Time { return ceilSecond(now.Add(s.cfg.UploadTTL)) }

// downloadExpiry is when an owner's download or preview URL made now
// dies: PRESIGN_TTL_SECONDS, in whole seconds.
func (s *server) downloadExpiry() time.Time { return ceilSecond(s.now().Add(s.cfg.PresignTTL)) }

// validateUpload returns what is wrong with a create-upload body, or "".
func (s *server) validateUpload(req *createUploadRequest, multipart bool) string {
	if req.Filename == nil {
		return `"filename" is required`
	}
	if msg := validateFilename(*req.Filename); msg != "" {
		return msg
	}
	if msg := s.validateSize(req.Size); msg != "" {
		return msg
	}
	if req.ContentType != nil {
		ct, ok := normalizeContentType(*req.ContentType)
		if !ok {
			return `"content_type" must be a valid media type of at most 255 bytes, such as "image/png"`
		}
		*req.ContentType = ct
	}
	if multipart {
		return validateMultipart(req)
	}
	return s.validateSingle(req)
}

// validateSize returns what is wrong with an optional "size", or "".
func (s *server) validateSize(size *int64) string {
	if size != nil && (*size < 0 || *size > s.cfg.MaxUploadBytes) {
		return fmt.Sprintf(`"size" must be from 0 to %d`, s.cfg.MaxUploadBytes)
	}
	return ""
}

// validateFilename enforces 1..255 bytes of valid UTF-8, no path
// separators, not "." or "..", and none of the invisible characters that
// break or spoof how clients show a name (see invisibleRune).
func validateFilename(name string) string {
	switch {
	case len(name) == 0 || len(name) > 255:
		return `"filename" must be 1 to 255 bytes`
	case !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError):
		// encoding/json has already replaced invalid UTF-8 and lone
		// surrogates with U+FFFD, so that is what a bad name looks like here.
		return `"filename" must be valid UTF-8`
	case strings.ContainsAny(name, `/\`):
		return `"filename" must not contain / or \`
	case name == "." || name == "..":
		return `"filename" must not be "." or ".."`
	}
	if i := strings.IndexFunc(name, invisibleRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return fmt.Sprintf(`"filename" contains %s, which is not allowed`, describeRune(r))
	}
	return ""
}

// invisibleRune tells the characters a filename may not hold: controls
// (Cc), format characters (Cf: bidi overrides such as U+202E, which make
// "invoice\u202Etxt.exe" read as "invoiceexe.txt", and zero-width
// characters), and the line and paragraph separators (Zl, Zp), which break
// lines in logs, JSON-in-JavaScript and terminals.
func invisibleRune(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// describeRune names a refused character for the error message, for
// example "U+202E RIGHT-TO-LEFT OVERRIDE, a format character (Unicode Cf)".
func describeRune(r rune) string {
	cp := fmt.Sprintf("U+%04X", r)
	if name := spoofingRuneName(r); name != "" {
		cp += " " + name
	}
	switch {
	case unicode.Is(unicode.Cf, r):
		return cp + ", a format character (Unicode Cf)"
	case unicode.Is(unicode.Zl, r):
		return cp + ", a line separator (Unicode Zl)"
	case unicode.Is(unicode.Zp, r):
		return cp + ", a paragraph separator (Unicode Zp)"
	}
	return cp + ", a control character (Unicode Cc)"
}

// spoofingRuneName is the Unicode name of the refused characters most
// often used to disguise a name (the standard library has no name table).
func spoofingRuneName(r rune) string {
	switch r {
	case 0x00AD:
		return "SOFT HYPHEN"
	case 0x061C:
		return "ARABIC LETTER MARK"
	case 0x200B:
		return "ZERO WIDTH SPACE"
	case 0x200C:
		return "ZERO WIDTH NON-JOINER"
	case 0x200D:
		return "ZERO WIDTH JOINER"
	case 0x200E:
		return "LEFT-TO-RIGHT MARK"
	case 0x200F:
		return "RIGHT-TO-LEFT MARK"
	case 0x2028:
		return "LINE SEPARATOR"
	case 0x2029:
		return "PARAGRAPH SEPARATOR"
	case 0x202A:
		return "LEFT-TO-RIGHT EMBEDDING"
	case 0x202B:
		return "RIGHT-TO-LEFT EMBEDDING"
	case 0x202C:
		return "POP DIRECTIONAL FORMATTING"
	case 0x202D:
		return "LEFT-TO-RIGHT OVERRIDE"
	case 0x202E:
		return "RIGHT-TO-LEFT OVERRIDE"
	case 0x2060:
		return "WORD JOINER"
	case 0x2066:
		return "LEFT-TO-RIGHT ISOLATE"
	case 0x2067:
		return "RIGHT-TO-LEFT ISOLATE"
	case 0x2068:
		return "FIRST STRONG ISOLATE"
	case 0x2069:
		return "POP DIRECTIONAL ISOLATE"
	case 0xFEFF:
		return "ZERO WIDTH NO-BREAK SPACE"
	}
	return ""
}

// normalizeContentType parses a media type and formats it canonically, so
// the value pinned in the upload policy is well-formed.
func normalizeContentType(ct string) (string, bool) {
	if ct == "" || len(ct) > 255 || strings.IndexFunc(ct, unicode.IsControl) >= 0 {
		return "", false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return "", false
	}
	out := mime.FormatMediaType(mt, params)
	return out, out != "" && len(out) <= 255
}

// completeRequest is the optional body of POST /upload/{id}/complete.
type completeRequest struct {
	Size *int64 `json:"size"`
}

// handleCompleteUpload handles "POST /upload/{id}/complete": it asks the
// object store whether the object is there and how big it is, and records
// that, never the client's word.
func (s *server) handleCompleteUpload(w http.ResponseWriter, r *http.Request, owner string) {
	var req completeRequest
	id, ok := pathIDAndJSON(w, r, "file", &req, bodyOptional)
	if !ok {
		return
	}
	if msg := s.validateSize(req.Size); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	f, ok := s.fileToComplete(w, r, owner, id) // multipart.go
	if !ok {
		return
	}
	if f.UploadID != "" {
		s.completeMultipart(w, r, f, req.Size)
		return
	}
	s.recordCompletion(w, r, f, req.Size)
}

// sizeMismatch compares the stored object's size with the sizes declared at
// creation and at completion.
func sizeMismatch(declared, claimed *int64, actual int64) string {
	switch {
	case declared != nil && *declared != actual:
		return fmt.Sprintf("the uploaded object is %d bytes, not the declared %d", actual, *declared)
	case claimed != nil && *claimed != actual:
		return fmt.Sprintf("the uploaded object is %d bytes, not the %d given at completion", actual, *claimed)
	}
	return ""
}

// handleList handles "GET /list/": the caller's files, newest first, a page
// at a time, as {"files": [File], "next_cursor": string|null}.
func (s *server) handleList(w http.ResponseWriter, r *http.Request, owner string) {
	q, msg := parseListQuery(r, owner)
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	files, err := s.store.ListFiles(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSONBody(w, http.StatusOK, appendListJSON(nil, files, limit))
}

// appendListJSON appends the body of GET /list/ for a page of at most
// limit files; a file beyond them means there is a next page, which starts
// after the last one shown. The body ends with a newline, as writeJSON's.
func appendListJSON(b []byte, files []File, limit int) []byte {
	page := files[:min(len(files), limit)]
	b = slices.Grow(b, listJSONSize(page))
	b = append(b, `{"files":[`...)
	for i := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFileJSON(b, &page[i])
	}
	b = append(b, `],"next_cursor":`...)
	if len(files) > limit {
		last := &page[limit-1]
		b = appendJSONString(b, encodeCursor(Cursor{CreatedAt: last.CreatedAt, ID: last.ID}))
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}\n"...)
}

// listJSONSize is the length of a list body for page, unless its strings
// need escaping: enough to write it with one allocation.
func listJSONSize(page []File) int {
	const fixed = 192 // keys, punctuation and the longest size and times
	n := 64
	for i := range page {
		n += fixed + len(page[i].ID) + len(page[i].Filename) + len(page[i].ContentType)
	}
	return n
}

// parseListQuery validates ?limit=, ?cursor= and ?status=.
func parseListQuery(r *http.Request, owner string) (ListQuery, string) {
	v := r.URL.Query()
	q := ListQuery{Owner: owner, Status: v.Get("status")}
	var msg string
	if q.Limit, q.After, msg = parsePaging(v); msg != "" {
		return q, msg
	}
	if q.Status != "" && q.Status != statusPending && q.Status != statusComplete {
		return q, `"status" must be "pending" or "complete"`
	}
	return q, ""
}

// encodeCursor makes an opaque cursor from a list position.
func encodeCursor(c Cursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + "." + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor encodeCursor made; anything else is refused.
func decodeCursor(s string) (Cursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false
	}
	ms, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 || !validID(id) {
		return Cursor{}, false
	}
	c := Cursor{CreatedAt: time.UnixMilli(n).UTC(), ID: id}
	// Only encodeCursor's exact text: "+5.", "05." or base64 with stray
	// bits would each be another name for the same position.
	return c, encodeCursor(c) == s
}

// handleDownload handles "GET /download/{id}": a short-lived URL that
// downloads the file as an attachment; ?redirect=1 answers 302 to it.
func (s *server) handleDownload(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := filePathID(w, r)
	if !ok {
		return
	}
	redirect, err := parseFlag(r.URL.Query().Get("redirect"))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, `"redirect" must be 1 or 0`)
		return
	}
	f, ok := s.completeFileOf(w, r, owner, id, "the file is still pending: complete the upload first")
	if !ok {
		return
	}
	expires := s.downloadExpiry()
	url, err := s.objects.PresignDownload(r.Context(), DownloadRequest{
		Key: f.ObjectKey, Filename: f.Filename, ContentType: downloadContentType(f),
		Expires: expires, BaseURL: s.baseURL(r),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if redirect {
		http.Redirect(w, r, url, http.StatusFound)
		return
	}
	writeJSONBody(w, http.StatusOK, appendDownloadJSON(make([]byte, 0, 512+len(url)+len(f.Filename)), url, expires, f))
}

// appendDownloadJSON appends GET /download/{id}'s answer, {"url",
// "expires_at", "file"}, as encoding/json would write it
// (TestDownloadJSONMatchesEncodingJSON), without its reflection: it is the
// answer of every download.
func appendDownloadJSON(b []byte, url string, expires time.Time, f *File) []byte {
	b = append(b, `{"url":`...)
	b = appendJSONString(b, url)
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, &expires)
	b = append(b, `,"file":`...)
	b = appendFileJSON(b, f)
	return append(b, "}\n"...)
}

// parseFlag reads a yes/no query parameter; absent means no.
func parseFlag(v string) (bool, error) {
	switch v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, errors.New("not a flag")
}

// handleDelete handles "DELETE /files/{id}": the object first, then the
// record, so a failure half-way leaves a record the client can delete again.
// A key the object store refuses outright (a record from another backend or
// version) names no object it could ever hold, so retrying would never
// help: that record goes anyway, and the refusal is logged.
func (s *server) handleDelete(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := filePathID(w, r)
	if !ok {
		return
	}
	f, err := s.store.GetFile(r.Context(), owner, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.fileEvents(r.Context(), eventFileDeleted, f) // webhooks.go
	if err != nil {
		s.fail(w, r, err)
		return
	}
	err = s.deleteObjects(r.Context(), f)
	if errors.Is(err, errInvalidObjectKey) {
		s.log.Warn("delete: the object store refuses the file's key; deleting the record only",
			"file", id, "err", err, "request_id", requestInfoFrom(r.Context()).id)
		err = nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	deleted, err := s.removeFile(r.Context(), owner, f, events) // a racing delete that removed it wrote the events
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	s.kickIf(events)
	if err == nil && deleted.ObjectKey != f.ObjectKey {
		// A complete promoted the file's staged upload since it was read:
		// the record just deleted names that copy, which goes too.
		s.deletePromoted(r.Context(), deleted.ObjectKey, "delete: deleting the object a racing complete promoted")
	}
	w.WriteHeader(http.StatusNoContent)
}

// removeFile deletes the file's record, or, while its staging key may
// still be written (a form S3 cannot revoke: stagingObjects), holds it
// deleted: hidden, and still charged until sweepStaged has deleted what
// the form stored. A file no longer holdable (its key was cleared since
// it was read) is deleted; one held by a racing delete meanwhile is left
// held (ErrNotFound), not deleted, which would release its charge while
// its form may still be posted, and count it out twice (review 11). Either
// writes the change's events with it.
func (s *server) removeFile(ctx context.Context, owner string, f *File, events fileEvents) (*File, error) {
	if f.StagingKey != "" {
		held, err := s.store.HoldDeletedFileEmitting(ctx, owner, f.ID, events)
		if !errors.Is(err, ErrNotFound) {
			return held, err
		}
		if f, err = s.store.GetFile(ctx, owner, f.ID); err != nil {
			return nil, err // held or deleted by a racing delete: it wrote the events
		}
	}
	return s.store.DeleteFileEmitting(ctx, owner, f.ID, events)
}

// deleteObjects deletes what the object store holds for a file: its
// multipart upload while pending, its object, and its staged upload (a
// form posted again later is the sweeper's: see stagingObjects).
func (s *server) deleteObjects(ctx context.Context, f *File) error {
	err := s.abortIfMultipart(ctx, f)
	if err == nil {
		err = s.objects.Delete(ctx, f.ObjectKey)
	}
	if err == nil && f.StagingKey != "" {
		err = s.objects.Delete(ctx, f.StagingKey)
	}
	return err
}

// objectKey names an object from server-made values only: a per-user prefix
// (a hash, since a proxy-supplied user id is arbitrary text), the creation
// time and the file's random id. No client text ever reaches a key.
func objectKey(owner, id string, created time.Time) string {
	sum := sha256.Sum256([]byte(owner))
	return "users/" + hex.EncodeToString(sum[:16]) + "/" + created.Format("20060102T150405.000Z") + "-" + id
}

// ---- Webhook events (webhook_events.go) ----

// fileEventData is the data of the file events: whose file, and the file
// as the API shows it (no URL of any kind).
type fileEventData struct {
	UserID string   `json:"user_id"`
	File   fileJSON `json:"file"`
}

// requestEventData is the data of request.received.
type requestEventData struct {
	UserID    string   `json:"user_id"`
	RequestID string   `json:"request_id"`
	File      fileJSON `json:"file"`
}

// fileEvents reads the endpoints of f's owner, and the server-wide ones,
// that want event (file.completed or file.deleted; for the completion of
// a file sent through a file request, request.received too), and returns
// what builds their deliveries from f as the change leaves it, for the
// store to write with the change (outboxStore); nil if none wants them.
// The endpoints are read before the change: one registered meanwhile may
// miss it. Whoever makes the change then wakes the worker (kickIf).
func (s *server) fileEvents(ctx context.Context, event string, f *File) (fileEvents, error) {
	hooks, err := s.store.WebhooksFor(ctx, f.Owner, event)
	if err != nil {
		return nil, err
	}
	var requestHooks []Webhook
	if event == eventFileCompleted && f.RequestID != "" {
		if requestHooks, err = s.store.WebhooksFor(ctx, f.Owner, eventRequestReceived); err != nil {
			return nil, err
		}
	}
	if len(hooks)+len(requestHooks) == 0 {
		return nil, nil
	}
	return func(f *File) ([]WebhookDelivery, error) {
		ds, err := s.newDeliveries(hooks, event, f.ID, fileEventData{UserID: f.Owner, File: toFileJSON(f)})
		if err != nil || len(requestHooks) == 0 {
			return ds, err
		}
		data := requestEventData{UserID: f.Owner, RequestID: f.RequestID, File: toFileJSON(f)}
		more, err := s.newDeliveries(requestHooks, eventRequestReceived, f.RequestID+"/"+f.ID, data)
		return append(ds, more...), err
	}, nil
}
