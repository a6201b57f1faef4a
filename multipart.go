package main

// Uploads of any size, resumable: a file announced with "multipart": true
// goes up in parts, each PUT straight to the object store with a URL the
// server signs for that part's exact size. A client that lost its state asks
// which parts are stored and sends only the rest; complete lists the parts
// itself and checks them all before joining them. Also here: the choice
// between a single POST form and a single PUT (S3_UPLOAD_METHOD).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxPartsPerCall bounds the part URLs one POST /upload/{id}/parts signs.
const maxPartsPerCall = 100

// singleUploadLimit is the largest file a single request may carry:
// MAX_UPLOAD_BYTES, and never more than S3 takes in one request.
func (s *server) singleUploadLimit() int64 { return min(s.cfg.MaxUploadBytes, maxSingleBytes) }

// choosePartSize picks the part size of a multipart upload of size bytes:
// at least PART_SIZE_BYTES (itself at least S3's 5 MiB), rounded up to whole
// MiB as large as needed to keep to maxPartCount parts. It returns the size
// and the number of parts; the last part holds the rest.
func choosePartSize(size, preferred int64) (partSize int64, count int) {
	partSize = max(preferred, minPartBytes)
	if need := ceilDiv(size, maxPartCount); need > partSize {
		partSize = ceilDiv(need, 1<<20) << 20
	}
	return partSize, int(max(1, ceilDiv(size, partSize)))
}

// ceilDiv is a/b rounded up, for a ≥ 0 and b > 0.
func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// partLength is the size of part n (1-based) of a multipart file.
func partLength(f *File, n int) int64 {
	if n < f.PartCount {
		return f.PartSize
	}
	return *f.DeclaredSize - int64(f.PartCount-1)*f.PartSize
}

// multipartAnswer is the "upload" of POST /upload/ for a multipart file.
type multipartAnswer struct {
	Method    string    `json:"method"` // always "multipart"
	PartSize  int64     `json:"part_size"`
	PartCount int       `json:"part_count"`
	ExpiresAt time.Time `json:"expires_at"`
}

// validateMultipart returns what is wrong with a multipart request, or "".
func validateMultipart(req *createUploadRequest) string {
	switch {
	case req.Size == nil:
		return `"size" is required with "multipart": true`
	case *req.Size == 0:
		return `an empty file cannot go up in parts: send it without "multipart"`
	}
	return ""
}

// validateSingle returns what is wrong with a single upload, or "".
func (s *server) validateSingle(req *createUploadRequest) string {
	limit := s.singleUploadLimit()
	switch {
	case req.Size != nil && *req.Size > limit:
		return fmt.Sprintf(`"size" is over %d bytes, the most one request may carry: send "multipart": true to upload in parts`, limit)
	case req.Size == nil && s.cfg.UploadMethod == uploadMethodPut:
		return `"size" is required: this server signs uploads as PUT URLs, which fix the size`
	}
	return ""
}

// startMultipart starts the object store's multipart upload and records
// the file, charging its declared size to the owner's quota. The store's
// upload is aborted if the record cannot be written (over quota, say), so
// nothing is left behind that no record names.
func (s *server) startMultipart(w http.ResponseWriter, r *http.Request, f *File, now time.Time) {
	f.PartSize, f.PartCount = choosePartSize(*f.DeclaredSize, s.cfg.PartSize)
	expires := now.Add(s.cfg.MultipartTTL)
	f.UploadExpiresAt = &expires
	id, err := s.objects.CreateMultipart(r.Context(), f.ObjectKey, f.ContentType, expires)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.UploadID = id
	f.Charged = s.chargeFor(f.DeclaredSize)
	if err := s.insertPending(r.Context(), f, now); err != nil {
		if aerr := s.objects.AbortMultipart(r.Context(), f.ObjectKey, id); aerr != nil {
			s.log.Warn("multipart: abort after a failed insert", "file", f.ID, "err", aerr)
		}
		s.failInsert(w, r, f, err)
		return
	}
	s.metrics.uploadCreated()
	writeCreatedUpload(w, f, multipartAnswer{
		Method: "multipart", PartSize: f.PartSize, PartCount: f.PartCount, ExpiresAt: expires})
}

// partsRequest is the body of POST /upload/{id}/parts.
type partsRequest struct {
	PartNumbers []int `json:"part_numbers"`
}

// partURL is one part's pre-signed PUT.
type partURL struct {
	PartNumber int `json:"part_number"`
	PresignedPut
}

// handlePartURLs handles "POST /upload/{id}/parts": a PUT URL for each
// part asked for, each accepting exactly that part's size. They can be
// asked for again at any time while the upload lives.
func (s *server) handlePartURLs(w http.ResponseWriter, r *http.Request, owner string) {
	var req partsRequest
	id, ok := pathIDAndJSON(w, r, "file", &req, bodyRequired)
	if !ok {
		return
	}
	f, ok := s.pendingMultipart(w, r, owner, id)
	if !ok {
		return
	}
	if msg := validatePartNumbers(req.PartNumbers, f.PartCount); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	expires := ceilSecond(s.now().Add(s.cfg.UploadTTL))
	if f.UploadExpiresAt.Before(expires) {
		expires = *f.UploadExpiresAt
	}
	urls := make([]partURL, 0, len(req.PartNumbers))
	for _, n := range req.PartNumbers {
		put, err := s.objects.PresignPut(r.Context(), PutRequest{
			Key: f.ObjectKey, UploadID: f.UploadID, PartNumber: n, Size: partLength(f, n),
			Expires: expires, BaseURL: s.baseURL(r),
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		urls = append(urls, partURL{PartNumber: n, PresignedPut: put})
	}
	writeJSON(w, http.StatusOK, map[string]any{"parts": urls})
}

// validatePartNumbers wants 1..maxPartsPerCall distinct numbers in 1..count.
func validatePartNumbers(nums []int, count int) string {
	if len(nums) == 0 || len(nums) > maxPartsPerCall {
		return fmt.Sprintf(`"part_numbers" must list 1 to %d part numbers`, maxPartsPerCall)
	}
	seen := make(map[int]bool, len(nums))
	for _, n := range nums {
		switch {
		case n < 1 || n > count:
			return fmt.Sprintf(`"part_numbers": %d is not a part of this upload, which has parts 1 to %d`, n, count)
		case seen[n]:
			return fmt.Sprintf(`"part_numbers": %d is listed twice`, n)
		}
		seen[n] = true
	}
	return ""
}

// handleListParts handles "GET /upload/{id}/parts": the parts already
// stored, so a client that lost its state uploads only the rest.
func (s *server) handleListParts(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := filePathID(w, r)
	if !ok {
		return
	}
	f, ok := s.pendingMultipart(w, r, owner, id)
	if !ok {
		return
	}
	parts, err := s.objects.ListParts(r.Context(), f.ObjectKey, f.UploadID)
	if errors.Is(err, ErrUploadNotFound) {
		writeError(w, http.StatusConflict, codeConflict, uploadGoneMessage(s.joined(r.Context(), f)))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if parts == nil {
		parts = []PartInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"parts": parts})
}

// uploadGoneMessage says why the parts of a pending multipart file cannot
// be listed: joined already, by a complete whose record was not written
// (its store write failed, or it is still being written), which a complete
// sent again finishes; or gone, which only a new upload mends.
func uploadGoneMessage(joined bool) string {
	if joined {
		return "the parts are already joined: complete the upload again"
	}
	return "the multipart upload no longer exists (it expired): delete the file and start again"
}

// pendingMultipart fetches the caller's file and wants it a multipart
// upload still in progress; otherwise it answers and returns false.
func (s *server) pendingMultipart(w http.ResponseWriter, r *http.Request, owner, id string) (*File, bool) {
	f, err := s.store.GetFile(r.Context(), owner, id)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	switch {
	case f.UploadID == "":
		writeError(w, http.StatusConflict, codeConflict, `the file is not a multipart upload (create it with "multipart": true)`)
	case f.Status != statusPending:
		writeError(w, http.StatusConflict, codeConflict, "the upload is already complete")
	case f.UploadExpiresAt == nil || !s.now().Before(*f.UploadExpiresAt):
		writeError(w, http.StatusConflict, codeConflict, "the multipart upload expired: delete the file and start again")
	default:
		return f, true
	}
	return nil, false
}

// completeMultipart completes a pending multipart file: it lists the
// stored parts, wants 1..K all there with their right sizes, joins them,
// then records the size the object store reports. A missing or wrong part
// answers 409 naming it, and the file stays pending so the client can send
// it. An upload the store no longer has may have been joined by an earlier
// call whose record was never written: the object then says so.
//
// Completes of one file on this instance take turns: one joins the parts,
// and the others then find the file complete and answer it. (On S3 a list
// of the parts while another complete joins them can come back empty.)
// Completes on other instances that race anyway are met by joined and
// awaitJoin.
func (s *server) completeMultipart(w http.ResponseWriter, r *http.Request, f *File, claimed *int64) {
	defer s.joining.lock(f.ID)()
	f, ok := s.fileToComplete(w, r, f.Owner, f.ID)
	if !ok {
		return
	}
	// checkParts holds every part to its exact size, so the join makes the
	// declared size: a complete claiming another is refused before the
	// join, which cannot be undone, not after it.
	if claimed != nil && *claimed != *f.DeclaredSize {
		writeError(w, http.StatusConflict, codeConflict,
			fmt.Sprintf("the file was announced as %d bytes, not the %d given at completion", *f.DeclaredSize, *claimed))
		return
	}
	parts, err := s.objects.ListParts(r.Context(), f.ObjectKey, f.UploadID)
	if err == nil {
		if msg := checkParts(f, parts); msg != "" {
			// A complete on another instance may have joined the parts
			// since this one read the file (S3 then lists none).
			if s.joined(r.Context(), f) {
				s.recordCompletion(w, r, f, claimed)
				return
			}
			s.answerCompletedOr(w, r, f, msg)
			return
		}
		deadline := time.Now().Add(completeTime(*f.DeclaredSize))
		// http.ErrNotSupported leaves the server's WriteTimeout, which is
		// all that can be done.
		http.NewResponseController(w).SetWriteDeadline(deadline)
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		err = s.objects.CompleteMultipart(ctx, f.ObjectKey, f.UploadID, parts)
	}
	if errors.Is(err, ErrInvalidParts) {
		if !s.joined(r.Context(), f) {
			writeError(w, http.StatusConflict, codeConflict, "a part was sent again while completing: complete again")
			return
		}
		err = nil // a racing complete joined them: record what it made
	}
	if err != nil && !errors.Is(err, ErrUploadNotFound) {
		s.fail(w, r, err)
		return
	}
	s.recordCompletion(w, r, f, claimed)
}

// joined tells whether the object of a multipart file exists: a complete
// that raced this one joined the parts first, and then the parts this one
// listed are no longer an upload's. Not knowing is not joined.
func (s *server) joined(ctx context.Context, f *File) bool {
	_, err := s.objects.Head(ctx, f.ObjectKey)
	return err == nil
}

// completeTime is how long joining the parts of a file of size bytes may
// take: a minute, plus a second per 20 MiB for the local store's copy
// (which runs at 50 to 130 MB/s on a busy 2-core machine) or S3's own
// join, which AWS says may take minutes for a large object. Without it, a
// large file could never complete in local mode: the server's WriteTimeout
// (60 s) would cut every attempt.
func completeTime(size int64) time.Duration {
	return time.Minute + time.Duration(size/(20<<20))*time.Second
}

// recordCompletion asks the object store for the object's real size and
// ETag, checks the size against what was declared, promotes a staged
// upload to the file's own key, marks the file complete and makes it count
// its real size toward the quota. A complete that finds the upload gone
// because a racing complete finished it answers that one's file.
func (s *server) recordCompletion(w http.ResponseWriter, r *http.Request, f *File, claimed *int64) {
	info, err := s.objects.Head(r.Context(), f.uploadKey())
	if errors.Is(err, ErrObjectNotFound) && f.UploadID != "" && s.now().Before(*f.UploadExpiresAt) {
		info, err = s.awaitJoin(r.Context(), f)
	}
	if errors.Is(err, ErrObjectNotFound) {
		msg := "the file has not been uploaded yet"
		if f.UploadID != "" {
			msg = "the multipart upload no longer exists (it expired): delete the file and start again"
		}
		s.answerCompletedOr(w, r, f, msg)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if msg := sizeMismatch(f.DeclaredSize, claimed, info.Size); msg != "" {
		writeError(w, http.StatusConflict, codeConflict, msg)
		return
	}
	events, err := s.fileEvents(r.Context(), eventFileCompleted, f) // webhooks.go
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var promoted string // the key a staged upload is copied to
	if f.StagingKey != "" {
		promoted = promotedKey(f, info.ETag)
		if info, err = s.promote(w, r, f, info, promoted); err != nil {
			s.answerPromoteFailed(w, r, f, err)
			return
		}
	}
	done, completed, err := s.store.CompleteFileEmitting(r.Context(), f.Owner, f.ID, promoted, info.Size, info.ETag, s.now().Truncate(time.Millisecond), events)
	if errors.Is(err, ErrNotFound) && promoted != "" {
		// The file was deleted (or swept) while this copy was made: no
		// record will ever name it. (On any other error the write may
		// have landed, and the copy may be the file's.)
		s.deletePromoted(r.Context(), promoted, "complete: deleting the copy of a file deleted meanwhile")
	}
	s.deleteSwept(r.Context(), err)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.kickIf(events)
	if promoted != "" && done.ObjectKey != promoted {
		// A racing complete promoted other bytes (the form was posted in
		// between) and recorded them first: this copy is nobody's.
		s.deletePromoted(r.Context(), promoted, "complete: deleting a copy another complete beat")
	}
	if completed { // a complete that raced this one and won counted it
		s.metrics.uploadCompleted(info.Size)
	}
	if f.StagingKey == "" { // a staged upload's charge waits for its form to expire (sweepStaged)
		s.settleCharge(r.Context(), f, info.Size)
	}
	s.deleteStaged(r.Context(), f)
	writeJSON(w, http.StatusOK, fileResponse{toFileJSON(done)})
}

// awaitJoin waits for the object of a multipart file whose upload has
// gone before it expired: a complete racing this one is joining its parts
// (S3 may take a while, and versitygw removes the upload before the object
// appears). It checks every 100 ms for as long as a join may take
// (completeTime), and stops early once the file is recorded complete, for
// the caller to answer it. A deleted file's upload goes too: the caller
// then finds no record.
func (s *server) awaitJoin(ctx context.Context, f *File) (ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, completeTime(*f.DeclaredSize))
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ObjectInfo{}, ErrObjectNotFound
		case <-tick.C:
		}
		info, err := s.objects.Head(ctx, f.ObjectKey)
		if !errors.Is(err, ErrObjectNotFound) {
			return info, err
		}
		if now, err := s.store.GetFile(ctx, f.Owner, f.ID); err != nil || now.Status == statusComplete {
			return ObjectInfo{}, ErrObjectNotFound
		}
	}
}

// promotedKey is the key a staged upload with that ETag is copied to: the
// file's key and the ETag, so that the bytes under it are only ever those
// (S3 has no way to copy only if the target is absent). Completes that
// race a post of the form so copy to different keys, and the record names
// one key whole, size and ETag with it; completes of the same bytes copy
// the same bytes to the same key.
func promotedKey(f *File, etag string) string { return f.ObjectKey + "-" + etag }

// promote copies a staged single upload, as it was read (info), to key
// and returns what is there: the bytes the file will serve.
func (s *server) promote(w http.ResponseWriter, r *http.Request, f *File, info ObjectInfo, key string) (ObjectInfo, error) {
	deadline := time.Now().Add(completeTime(info.Size))
	// http.ErrNotSupported leaves the server's WriteTimeout.
	http.NewResponseController(w).SetWriteDeadline(deadline)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	return s.objects.(stagingObjects).Promote(ctx, f.StagingKey, key, info.ETag)
}

// deletePromoted deletes a promoted copy that no record names, to the end
// even if the client goes away; should that fail, it is logged, and
// `dropp reconcile` finds the object.
func (s *server) deletePromoted(ctx context.Context, key, what string) {
	if err := s.objects.Delete(context.WithoutCancel(ctx), key); err != nil {
		s.log.Warn(what, "key", key, "err", err)
	}
}

// deleteSwept deletes the objects of a file the sweeper took as abandoned
// while its complete went through, whose record the complete deleted
// (sweptError): the sweeper's own delete found the file complete and
// deleted nothing (review 11: a multipart file's object stayed, named by
// no record and counted by no quota).
func (s *server) deleteSwept(ctx context.Context, err error) {
	var swept *sweptError
	if !errors.As(err, &swept) || swept.deleted == nil {
		return
	}
	if err := s.deleteObjects(context.WithoutCancel(ctx), swept.deleted); err != nil {
		s.log.Warn("complete: deleting the objects of a file swept meanwhile; dropp reconcile finds them", "file", swept.deleted.ID, "err", err)
	}
}

// answerPromoteFailed answers a promotion that failed: a staged object that
// changed or went away under it is a conflict, unless a racing complete
// finished the file.
func (s *server) answerPromoteFailed(w http.ResponseWriter, r *http.Request, f *File, err error) {
	switch {
	case errors.Is(err, errStagedChanged):
		s.answerCompletedOr(w, r, f, "the upload changed while completing (its form was posted again): complete again")
	case errors.Is(err, ErrObjectNotFound):
		s.answerCompletedOr(w, r, f, "the file has not been uploaded yet")
	default:
		s.fail(w, r, err)
	}
}

// answerCompletedOr answers 200 with the file if another request has
// completed it meanwhile, and otherwise 409 saying msg.
func (s *server) answerCompletedOr(w http.ResponseWriter, r *http.Request, f *File, msg string) {
	if _, ok := s.fileToComplete(w, r, f.Owner, f.ID); ok {
		writeError(w, http.StatusConflict, codeConflict, msg)
	}
}

// fileToComplete reads the file a complete works on, from the store: the
// handler, the multipart join (under its lock) and a refusal each read it
// afresh, because another complete may have finished it meanwhile. A file
// found complete is answered by answerAlreadyComplete, as a retry is. On
// false it has answered.
func (s *server) fileToComplete(w http.ResponseWriter, r *http.Request, owner, id string) (*File, bool) {
	f, err := s.store.GetFile(r.Context(), owner, id)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if f.Status == statusComplete {
		s.answerAlreadyComplete(w, r, f)
		return nil, false
	}
	return f, true
}

// answerAlreadyComplete answers a complete of a file read complete: a
// retry, or a racing complete's. It asks the store again, which on MongoDB
// finds whether the sweeper or an owner's hold claimed the file first (a
// complete that wrote it back over them was answered 503): the file is
// then gone, and so are its objects (review 12: the retry was answered
// 200). Otherwise the file's events are written again (the outbox keeps
// one) and its charge settled, either of which the first try may have
// missed.
func (s *server) answerAlreadyComplete(w http.ResponseWriter, r *http.Request, f *File) {
	events, err := s.fileEvents(r.Context(), eventFileCompleted, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var size int64
	if f.Size != nil {
		size = *f.Size
	}
	done, _, err := s.store.CompleteFileEmitting(r.Context(), f.Owner, f.ID, "", size, f.ETag, s.now().Truncate(time.Millisecond), events)
	if errors.Is(err, ErrNotFound) {
		s.deleteSwept(r.Context(), err)
		if f.StagingKey != "" { // its promoted copy, which the held record names
			s.deletePromoted(r.Context(), f.ObjectKey, "complete: deleting the copy of a file deleted meanwhile")
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.kickIf(events)
	if done.StagingKey == "" && done.Size != nil && done.Charged != *done.Size {
		s.settleCharge(r.Context(), done, *done.Size)
	}
	writeJSON(w, http.StatusOK, fileResponse{toFileJSON(done)})
}

// deleteStaged deletes a completed file's staged upload, now copied. It is
// only tidying: should it fail, or the form be posted again, the sweeper
// deletes the staged object once the form has expired. It runs to the end
// even if the client goes away.
func (s *server) deleteStaged(ctx context.Context, f *File) {
	if f.StagingKey == "" {
		return
	}
	if err := s.objects.Delete(context.WithoutCancel(ctx), f.StagingKey); err != nil {
		s.log.Warn("complete: deleting the staged upload", "file", f.ID, "err", err)
	}
}

// checkParts names the parts that are missing or of the wrong size, or "".
// parts is sorted by part number, as both stores list them; a part beyond
// K (none can be signed) is refused too.
func checkParts(f *File, parts []PartInfo) string {
	var missing, wrong []string
	next := 1
	for _, p := range parts {
		for ; next < p.PartNumber && next <= f.PartCount; next++ {
			missing = append(missing, strconv.Itoa(next))
		}
		if want := partLength(f, p.PartNumber); p.PartNumber > f.PartCount || p.Size != want {
			wrong = append(wrong, fmt.Sprintf("%d (%d bytes, want %d)", p.PartNumber, p.Size, max(want, 0)))
		}
		next = p.PartNumber + 1
	}
	for ; next <= f.PartCount; next++ {
		missing = append(missing, strconv.Itoa(next))
	}
	var msg []string
	if len(missing) > 0 {
		msg = append(msg, "missing parts: "+shortList(missing))
	}
	if len(wrong) > 0 {
		msg = append(msg, "parts of the wrong size: "+shortList(wrong))
	}
	if msg == nil {
		return ""
	}
	return "the upload is not whole; " + strings.Join(msg, "; ") + ". Upload them, then complete again"
}

// shortList joins at most 20 items, saying how many more there are, so a
// message stays short even with 10,000 parts missing.
func shortList(items []string) string {
	const most = 20
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:most], ", ") + fmt.Sprintf(" and %d more", len(items)-most)
}

// abortIfMultipart aborts a pending multipart upload, so that deleting the
// file leaves no parts in the object store.
func (s *server) abortIfMultipart(ctx context.Context, f *File) error {
	if f.UploadID == "" || f.Status != statusPending {
		return nil
	}
	return s.objects.AbortMultipart(ctx, f.ObjectKey, f.UploadID)
}

// resumable tells a pending multipart file the sweeper must keep: its
// upload lives MULTIPART_TTL_SECONDS (and grace after), not the single
// form's lifetime.
func resumable(f *File, now time.Time, grace time.Duration) bool {
	return f.UploadExpiresAt != nil && now.Before(f.UploadExpiresAt.Add(grace))
}
