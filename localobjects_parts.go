package main

// The local object store's pre-signed PUT endpoint and its multipart uploads
// (see localobjects.go for the store, localobjects_upload.go for POST forms).
//
// A multipart upload is a directory that survives restarts, so an upload can
// be resumed after the server or the client went away:
//
//	.uploads/<id>/upload.json  the key, Content-Type and expiry it was made for
//	.uploads/<id>/<n>          the bytes of part n
//	.uploads/<id>/<n>.etag     their hex MD5
//
// Completing copies the parts, in order, into a temporary file, syncs it and
// renames it to the key (commit, as for a form): a crash leaves either the
// parts or the whole object, never a torn one.

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// localUploadsDir holds the multipart uploads in progress.
const localUploadsDir = ".uploads"

// localUploadMeta is the file that makes a directory under localUploadsDir
// an upload; it is written before the directory is renamed into place.
const localUploadMeta = "upload.json"

// localUploadInfo is what upload.json holds.
type localUploadInfo struct {
	Key         string    `json:"key"`
	ContentType string    `json:"content_type,omitempty"`
	Expires     time.Time `json:"expires"`
}

// validLocalUploadID accepts exactly what rand.Text makes: 26 characters of
// the base32 alphabet.
func validLocalUploadID(id string) bool {
	return len(id) == 26 && allBytes(id, func(c byte) bool { return 'A' <= c && c <= 'Z' || '2' <= c && c <= '7' })
}

// localUploadPath is a name inside an upload's directory ("" for the
// directory itself).
func localUploadPath(uploadID, name string) string {
	return filepath.Join(localUploadsDir, uploadID, name)
}

// localPartName is the file of part n; its ETag is beside it.
func localPartName(n int) string { return strconv.Itoa(n) }

// CreateMultipart makes the upload's directory, complete with its
// upload.json, under a temporary name, then renames it into place. It
// touches no other upload, so its cost does not grow with their number:
// expired ones are swept at start and by the server's sweeper
// (SweepExpiredUploads).
func (o *localObjects) CreateMultipart(ctx context.Context, key, contentType string, expires time.Time) (string, error) {
	if !validLocalKey(key) {
		return "", fmt.Errorf("create multipart: %w %q", errInvalidObjectKey, key)
	}
	id := rand.Text()
	tmp := filepath.Join(localTmpDir, id)
	raw, err := json.Marshal(localUploadInfo{Key: key, ContentType: contentType, Expires: expires.UTC()})
	if err == nil {
		err = o.root.Mkdir(tmp, 0o700)
	}
	if err == nil {
		err = o.writeSynced(filepath.Join(tmp, localUploadMeta), raw)
	}
	if err == nil {
		err = o.root.MkdirAll(localUploadsDir, 0o700)
	}
	if err == nil {
		err = o.root.Rename(tmp, localUploadPath(id, ""))
	}
	if err == nil {
		err = o.syncDirs(localUploadsDir)
	}
	if err != nil {
		o.root.RemoveAll(tmp)
		return "", fmt.Errorf("create multipart: %w", err)
	}
	return id, nil
}

// uploadInfo reads an upload's upload.json. An upload that is missing,
// expired, or made for another key is ErrUploadNotFound.
func (o *localObjects) uploadInfo(key, uploadID string, now time.Time) (localUploadInfo, error) {
	var info localUploadInfo
	if !validLocalUploadID(uploadID) {
		return info, ErrUploadNotFound
	}
	raw, err := o.root.ReadFile(localUploadPath(uploadID, localUploadMeta))
	if err != nil {
		if errors.Is(localNotFound(err), ErrObjectNotFound) {
			return info, ErrUploadNotFound
		}
		return info, err
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return info, fmt.Errorf("upload %s: %w", uploadID, err)
	}
	if info.Key != key || !now.Before(info.Expires) {
		return info, ErrUploadNotFound
	}
	return info, nil
}

// ListParts reads the upload's directory: each part's size from the file
// system and its ETag from beside it.
func (o *localObjects) ListParts(ctx context.Context, key, uploadID string) ([]PartInfo, error) {
	if _, err := o.uploadInfo(key, uploadID, time.Now()); err != nil {
		return nil, err
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	entries, err := o.root.Open(localUploadPath(uploadID, ""))
	if err != nil {
		return nil, ErrUploadNotFound // completed or aborted since
	}
	defer entries.Close()
	names, err := entries.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list parts: %w", err)
	}
	var parts []PartInfo
	for _, name := range names {
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 || n > maxPartCount || name != localPartName(n) {
			continue // upload.json and the .etag files
		}
		p, err := o.statPart(uploadID, n)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b PartInfo) int { return a.PartNumber - b.PartNumber })
	return parts, nil
}

// statPart reads one stored part's size and ETag.
func (o *localObjects) statPart(uploadID string, n int) (PartInfo, error) {
	fi, err := o.root.Stat(localUploadPath(uploadID, localPartName(n)))
	if err != nil {
		return PartInfo{}, fmt.Errorf("part %d: %w", n, err)
	}
	etag, err := o.root.ReadFile(localUploadPath(uploadID, localPartName(n)+".etag"))
	if err != nil {
		return PartInfo{}, fmt.Errorf("part %d: %w", n, err)
	}
	return PartInfo{PartNumber: n, Size: fi.Size(), ETag: string(etag)}, nil
}

// CompleteMultipart joins the listed parts, which must be exactly the ones
// stored, into the object, then removes the upload.
func (o *localObjects) CompleteMultipart(ctx context.Context, key, uploadID string, parts []PartInfo) error {
	if _, err := o.uploadInfo(key, uploadID, time.Now()); err != nil {
		return err
	}
	up, err := o.joinParts(uploadID, parts)
	if err != nil {
		return err
	}
	defer o.discard(up)
	// A key already stored was joined by an earlier call whose answer was
	// lost (or deleted since): its parts are done with either way, and
	// Head tells which.
	if err := o.commit(up, key); err != nil && !errors.Is(err, errLocalNotPending) {
		return err
	}
	return o.removeUpload(uploadID)
}

// joinParts copies the parts, in the order given, into a new temporary file
// and syncs it. Its ETag is S3's for a multipart object: the MD5 of the
// parts' MD5s, then "-" and the number of parts.
func (o *localObjects) joinParts(uploadID string, parts []PartInfo) (*localUpload, error) {
	up := &localUpload{tmp: filepath.Join(localTmpDir, rand.Text())}
	f, err := o.root.OpenFile(up.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	sums := md5.New()
	bw := bufio.NewWriterSize(f, localBufferSize)
	for _, p := range parts {
		if err = o.copyPart(bw, uploadID, p); err != nil {
			break
		}
		sum, _ := hex.DecodeString(p.ETag)
		sums.Write(sum)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		o.discard(up)
		return nil, err
	}
	up.etag = hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	return up, nil
}

// copyPart appends one part to w after checking it is the one listed.
func (o *localObjects) copyPart(w io.Writer, uploadID string, p PartInfo) error {
	stored, err := o.statPart(uploadID, p.PartNumber)
	if err != nil || stored != p {
		return fmt.Errorf("part %d: %w", p.PartNumber, ErrInvalidParts)
	}
	f, err := o.root.Open(localUploadPath(uploadID, localPartName(p.PartNumber)))
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err == nil && n != p.Size {
		err = fmt.Errorf("part %d: %w", p.PartNumber, ErrInvalidParts)
	}
	return err
}

// AbortMultipart removes the upload and its parts.
func (o *localObjects) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := o.uploadInfo(key, uploadID, time.Now())
	if errors.Is(err, ErrUploadNotFound) {
		// Maybe expired: removing it then is what expiry means anyway.
		if !validLocalUploadID(uploadID) {
			return nil
		}
	} else if err != nil {
		return err
	}
	return o.removeUpload(uploadID)
}

// removeUpload takes the upload's directory out of localUploadsDir in one
// rename, under the lock part writes take, so no part lands in it after;
// then it removes the files.
func (o *localObjects) removeUpload(uploadID string) error {
	gone := filepath.Join(localTmpDir, "gone-"+rand.Text())
	o.mu.Lock()
	err := o.root.Rename(localUploadPath(uploadID, ""), gone)
	o.mu.Unlock()
	if err != nil {
		if errors.Is(localNotFound(err), ErrObjectNotFound) {
			return nil
		}
		return fmt.Errorf("remove upload: %w", err)
	}
	if err := o.syncDirs(localUploadsDir); err != nil {
		return err
	}
	return o.root.RemoveAll(gone)
}

// SweepExpiredUploads is the server sweeper's call (see uploadSweeper):
// it removes the uploads that expired by now, with their parts. Uploads
// whose file was deleted or abandoned are aborted with their record; this
// catches the rest, such as one whose record was never stored.
func (o *localObjects) SweepExpiredUploads(now time.Time) { o.sweepUploads(now) }

// sweepUploads removes the uploads that expired, and any directory that
// is not an upload.
func (o *localObjects) sweepUploads(now time.Time) {
	d, err := o.root.Open(localUploadsDir)
	if err != nil {
		return // none yet
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, id := range names {
		var info localUploadInfo
		raw, err := o.root.ReadFile(localUploadPath(id, localUploadMeta))
		if err == nil && json.Unmarshal(raw, &info) == nil && validLocalUploadID(id) && now.Before(info.Expires) {
			continue
		}
		if err := o.removeUpload(id); err != nil {
			o.log.Warn("local objects: remove expired upload", "upload", id, "err", err)
		}
	}
}

// localPutParams are the signed query parameters of a PUT URL.
type localPutParams struct {
	expires  string // Unix seconds
	size     string // the exact Content-Length
	uploadID string // "" for a whole object
	part     string // the part number, with uploadID
	ct       string // whole objects: the exact Content-Type, or ""
}

// putMAC signs a PUT URL: the key and every parameter, so none can change
// (a part URL is no good for another part, upload, size or key).
func (o *localObjects) putMAC(key string, q localPutParams) []byte {
	return o.mac("put", key, q.expires, q.size, q.uploadID, q.part, q.ct)
}

// PresignPut returns a URL of this server's PUT endpoint, signed like a
// download URL.
func (o *localObjects) PresignPut(ctx context.Context, p PutRequest) (PresignedPut, error) {
	switch {
	case !validLocalKey(p.Key):
		return PresignedPut{}, fmt.Errorf("presign put: %w %q", errInvalidObjectKey, p.Key)
	case p.Size < 0 || p.Size > maxObjectBytes:
		return PresignedPut{}, fmt.Errorf("presign put: bad size %d", p.Size)
	case p.UploadID != "" && (!validLocalUploadID(p.UploadID) || p.PartNumber < 1 || p.PartNumber > maxPartCount):
		return PresignedPut{}, fmt.Errorf("presign put: bad part %q %d", p.UploadID, p.PartNumber)
	case p.BaseURL == "":
		return PresignedPut{}, errors.New("presign put: no base URL")
	case time.Until(p.Expires) > localMaxFormLifetime:
		// A deleted key's tombstone must outlive every URL for it.
		return PresignedPut{}, fmt.Errorf("presign put: expiry %v is past the longest URL lifetime", p.Expires)
	}
	q := localPutParams{expires: strconv.FormatInt(p.Expires.Unix(), 10), size: strconv.FormatInt(p.Size, 10)}
	v := url.Values{"expires": {q.expires}, "size": {q.size}}
	headers := map[string]string{"Content-Length": q.size}
	if p.UploadID != "" {
		q.uploadID, q.part = p.UploadID, strconv.Itoa(p.PartNumber)
		v.Set("uploadId", q.uploadID)
		v.Set("partNumber", q.part)
	} else if p.ContentType != "" {
		q.ct = p.ContentType
		v.Set("ct", q.ct)
		headers["Content-Type"] = q.ct
	}
	v.Set("sig", hex.EncodeToString(o.putMAC(p.Key, q)))
	return PresignedPut{Method: http.MethodPut, URL: p.BaseURL + "/objects/" + escapeObjectKey(p.Key) + "?" + v.Encode(),
		Headers: headers, ExpiresAt: p.Expires}, nil
}

// handlePut handles "PUT /objects/{key...}": a whole object or one part.
// Everything is checked before a byte of the body is read: the signature,
// the expiry, the Content-Length (which must be exactly the signed size),
// the Content-Type, and that the upload is still there. The body then
// streams to disk, through bounded buffers, and is synced before the answer.
//
// Like a form, a PUT holds one of the store's upload slots while it runs,
// and a refusal closes the connection rather than read the unread body.
func (o *localObjects) handlePut(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	key := r.PathValue("key")
	if !validLocalKey(key) {
		refuseUpload(w, errLocalBadKey)
		return
	}
	q, size, lerr := o.verifyPut(key, r)
	if lerr != nil {
		refuseUpload(w, lerr)
		return
	}
	release, ok := o.takeUploadSlot(w)
	if !ok {
		return
	}
	defer release()
	etag, err := o.receivePut(w, r, key, q, size)
	if errors.Is(err, ErrUploadNotFound) {
		err = errLocalNoSuchUpload
	}
	o.answerUpload(w, r, "put", etag, err, http.StatusOK)
}

// errLocalNoSuchUpload is S3's answer for a part of an upload that was
// completed, aborted or has expired.
var errLocalNoSuchUpload = &localError{http.StatusNotFound, "NoSuchUpload",
	"The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."}

// verifyPut checks a PUT's signature, expiry and headers, as S3 checks a
// pre-signed PUT whose Content-Length and Content-Type are signed.
func (o *localObjects) verifyPut(key string, r *http.Request) (localPutParams, int64, *localError) {
	v := r.URL.Query()
	q := localPutParams{expires: v.Get("expires"), size: v.Get("size"), uploadID: v.Get("uploadId"),
		part: v.Get("partNumber"), ct: v.Get("ct")}
	if !validHexMAC(v.Get("sig"), o.putMAC(key, q)) {
		return q, 0, errLocalBadSignature
	}
	if _, lerr := checkURLExpiry(q.expires); lerr != nil {
		return q, 0, lerr
	}
	size, _ := strconv.ParseInt(q.size, 10, 64) // signed by this server: well-formed
	switch {
	case r.ContentLength < 0:
		return q, 0, &localError{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header."}
	case r.ContentLength != size:
		return q, 0, errLocalBadSignature // S3: the signed Content-Length differs
	case q.ct != "" && r.Header.Get("Content-Type") != q.ct:
		return q, 0, errLocalBadSignature // like S3, an unsigned Content-Type may be anything
	}
	return q, size, nil
}

// receivePut stores the body: as a part of the upload, or as the object.
func (o *localObjects) receivePut(w http.ResponseWriter, r *http.Request, key string, q localPutParams, size int64) (string, error) {
	part, _ := strconv.Atoi(q.part)
	var err error
	if q.uploadID != "" {
		_, err = o.uploadInfo(key, q.uploadID, time.Now())
	} else {
		err = o.checkStillPending(key) // commit checks again before the link
	}
	if err != nil {
		return "", err
	}
	body := &idleReader{r: r.Body, idle: newIdleDeadline(w, o.idleTimeout)}
	up, err := o.receiveFile(body, &localPolicy{minSize: size, maxSize: size})
	if err != nil {
		return "", err
	}
	defer o.discard(up)
	if q.uploadID == "" {
		return up.etag, o.commit(up, key)
	}
	return up.etag, o.commitPart(up, q.uploadID, part)
}

// idleReader moves the connection's deadlines on every read.
type idleReader struct {
	r    io.Reader
	idle *idleDeadline
}

func (b *idleReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.idle.extend()
	return n, err
}

// commitPart moves a received part into its upload: the ETag first, then
// the bytes, under the lock removeUpload takes, so a part never lands in an
// upload that was completed or aborted while it streamed.
func (o *localObjects) commitPart(up *localUpload, uploadID string, n int) error {
	etagTmp := up.tmp + ".etag"
	if err := o.writeSynced(etagTmp, []byte(up.etag)); err != nil {
		o.root.Remove(etagTmp)
		return err
	}
	defer o.root.Remove(etagTmp) // a no-op once renamed
	o.mu.Lock()
	err := o.renamePart(up, etagTmp, uploadID, n)
	o.mu.Unlock()
	if err != nil {
		return err
	}
	return o.syncDirs(filepath.ToSlash(localUploadPath(uploadID, "")))
}

// renamePart is commitPart's work under the lock.
func (o *localObjects) renamePart(up *localUpload, etagTmp, uploadID string, n int) error {
	if _, err := o.root.Stat(localUploadPath(uploadID, localUploadMeta)); err != nil {
		return ErrUploadNotFound
	}
	if err := o.root.Rename(etagTmp, localUploadPath(uploadID, localPartName(n)+".etag")); err != nil {
		return err
	}
	return o.root.Rename(up.tmp, localUploadPath(uploadID, localPartName(n)))
}
