package main

import (
	"bufio"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The upload endpoint of the local object store (see localobjects.go).

// Limits on the form fields before the file. S3 allows 20 KB of fields in
// all; these are of the same order, and bound what a client can make the
// server hold in memory before its signature is checked.
const (
	maxLocalFormFields = 20
	maxLocalFieldBytes = 8 << 10
	// localFormOverhead is the body read before the policy verifies: the
	// fields, their part headers and boundaries, and the file's part header.
	localFormOverhead = 64 << 10
	// localFormTail is the body allowed after the file: the closing
	// boundary (at most 70 bytes by RFC 2046), with room to spare.
	localFormTail = 1 << 10
	// localBufferSize is the size of the read and write buffers a verified
	// upload streams through: they are all it holds in memory.
	localBufferSize = 256 << 10
)

// handleUpload handles "POST /objects/upload": the multipart/form-data POST
// a client would send to S3, checked the way S3 checks it. The file streams
// to a temporary file, linked into place once whole and on disk; it is
// never held in memory. Success is 204, like S3's default.
func (o *localObjects) handleUpload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	release, ok := o.takeUploadSlot(w)
	if !ok {
		return
	}
	defer release()
	etag, err := o.receiveUpload(r, o.newUploadStream(w, r))
	o.answerUpload(w, r, "upload", etag, err, http.StatusNoContent)
}

// takeUploadSlot holds one of the store's upload slots, which a form or a
// PUT keeps while it runs; the caller releases it. With none free it
// answers 503 SlowDown with Retry-After and returns false: by then every
// upload that was stalling has met its deadline.
func (o *localObjects) takeUploadSlot(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case o.uploadSlots <- struct{}{}:
		return func() { <-o.uploadSlots }, true
	default:
		w.Header().Set("Retry-After", strconv.Itoa(int(o.verifyTimeout.Seconds())))
		refuseUpload(w, localSlowDown)
		return nil, false
	}
}

// answerUpload answers a stored form or PUT with its ETag and success, a
// refusal as S3 words it, and anything else with a 500 (what, for the
// log) that closes the connection, whose body may be unread.
func (o *localObjects) answerUpload(w http.ResponseWriter, r *http.Request, what, etag string, err error, success int) {
	var refusal *localError
	switch {
	case errors.As(err, &refusal):
		refuseUpload(w, refusal)
	case err != nil:
		w.Header().Set("Connection", "close")
		o.internalError(w, r, what, err)
	default:
		w.Header().Set("ETag", `"`+etag+`"`)
		w.WriteHeader(success)
	}
}

// refuseUpload answers a refused upload and closes the connection after
// it: the rest of the body is unread, and reading it so that the
// connection could serve another request would let the client hold the
// server at its own pace.
func refuseUpload(w http.ResponseWriter, e *localError) {
	w.Header().Set("Connection", "close")
	writeLocalError(w, e)
}

// receiveUpload reads the fields, checks them against the signed policy
// and that the key is still pending, then stores the file, which must be
// the last part of the form. It returns the new object's ETag.
func (o *localObjects) receiveUpload(r *http.Request, stream *localUploadStream) (string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", localMalformed("the body must be multipart/form-data")
	}
	fields, file, err := readLocalFormFields(mr)
	if err != nil {
		return "", err
	}
	pol, err := o.checkUploadForm(fields)
	if err != nil {
		return "", err
	}
	if err := o.checkStillPending(fields[localFormKey]); err != nil {
		return "", err
	}
	stream.verified(pol.maxSize)
	up, err := o.receiveFile(file, pol)
	if err != nil {
		return "", err
	}
	defer o.discard(up)
	if err := expectFormEnd(mr); err != nil {
		return "", err
	}
	return up.etag, o.commit(up, fields[localFormKey])
}

// checkStillPending refuses, before any byte of the file is read, a key
// already stored or deleted; commit checks again before the link.
func (o *localObjects) checkStillPending(key string) error {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.checkPending(key)
}

// readLocalFormFields reads the text fields up to the file part. Names are
// lower-cased, as S3 matches them case-insensitively.
func readLocalFormFields(mr *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, localInvalidArgument("POST requires exactly one file upload per request.")
		}
		if err != nil {
			return nil, nil, localReadError(err)
		}
		name := strings.ToLower(part.FormName())
		if name == localFormFile {
			return fields, part, nil
		}
		if err := readLocalFormField(fields, name, part); err != nil {
			return nil, nil, err
		}
	}
}

// readLocalFormField adds one bounded field to fields; a repeated name is
// refused, so no check can look at one copy while another is used.
func readLocalFormField(fields map[string]string, name string, part io.Reader) error {
	switch _, dup := fields[name]; {
	case name == "":
		return localMalformed("every part of the form must have a field name")
	case dup:
		return localInvalidArgument("the form has more than one field " + name)
	case len(fields) == maxLocalFormFields:
		return localPreDataTooLarge
	}
	value, err := io.ReadAll(io.LimitReader(part, maxLocalFieldBytes+1))
	if err != nil {
		return localReadError(err)
	}
	if len(value) > maxLocalFieldBytes {
		return localPreDataTooLarge
	}
	fields[name] = string(value)
	return nil
}

// localPolicy is an upload policy whose signature has been verified.
type localPolicy struct {
	expires          time.Time
	exact            map[string]string // lower-case field name → the one value allowed
	minSize, maxSize int64
}

// checkUploadForm checks the form as S3 does: the signature over the
// policy, then the policy's expiry, then the fields against the conditions;
// and last the key, before it may name a file.
func (o *localObjects) checkUploadForm(fields map[string]string) (*localPolicy, error) {
	policy, sig := fields[localFormPolicy], fields[localFormSignature]
	if policy == "" || sig == "" {
		return nil, localInvalidArgument("Bucket POST must contain the fields policy and " + localFormSignature +
			" before the file.")
	}
	if !validHexMAC(sig, o.policyMAC(policy)) {
		return nil, errLocalBadSignature
	}
	pol, err := parseLocalPolicy(policy)
	if err != nil {
		// Only this server signs policies, so this is its own bug.
		return nil, fmt.Errorf("signed upload policy: %w", err)
	}
	if !time.Now().Before(pol.expires) {
		return nil, localAccessDenied("Invalid according to Policy: Policy expired.")
	}
	if time.Until(pol.expires) > localMaxFormLifetime {
		// PresignUpload never signs such a form; one signed under older
		// rules could outlive its key's tombstone.
		return nil, localAccessDenied("Invalid according to Policy: Policy expiration is too far in the future.")
	}
	if err := pol.check(fields); err != nil {
		return nil, err
	}
	if !validLocalKey(fields[localFormKey]) {
		return nil, errLocalBadKey
	}
	return pol, nil
}

// parseLocalPolicy decodes the policy document PresignUpload wrote.
func parseLocalPolicy(policy string) (*localPolicy, error) {
	raw, err := base64.StdEncoding.DecodeString(policy)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	exp, err := time.Parse(time.RFC3339, doc.Expiration)
	if err != nil {
		return nil, err
	}
	pol := &localPolicy{expires: exp, exact: map[string]string{}, maxSize: -1}
	for _, c := range doc.Conditions {
		if err := pol.addCondition(c); err != nil {
			return nil, err
		}
	}
	if pol.maxSize < 0 {
		return nil, errors.New("no content-length-range")
	}
	return pol, nil
}

// addCondition reads one condition, in one of the two forms PresignUpload
// writes: {"field": "value"} or ["content-length-range", min, max].
func (p *localPolicy) addCondition(c json.RawMessage) error {
	var exact map[string]string
	if json.Unmarshal(c, &exact) == nil && len(exact) == 1 {
		for k, v := range exact {
			p.exact[strings.ToLower(k)] = v
		}
		return nil
	}
	var tuple []json.RawMessage
	var op string
	if json.Unmarshal(c, &tuple) != nil || len(tuple) != 3 ||
		json.Unmarshal(tuple[0], &op) != nil || op != "content-length-range" ||
		json.Unmarshal(tuple[1], &p.minSize) != nil || json.Unmarshal(tuple[2], &p.maxSize) != nil {
		return fmt.Errorf("unsupported condition %s", c)
	}
	return nil
}

// check holds the form against the policy both ways, like S3: a field that
// no condition covers is refused, and so is a condition no field meets.
func (p *localPolicy) check(fields map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		want, covered := p.exact[name]
		switch {
		case name == localFormPolicy || name == localFormSignature:
		case !covered:
			return localAccessDenied("Invalid according to Policy: Extra input fields: " + name)
		case fields[name] != want:
			return localAccessDenied(fmt.Sprintf(`Invalid according to Policy: Policy Condition failed: ["eq", "$%s", %q]`, name, want))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.exact)) {
		if _, ok := fields[name]; !ok {
			return localAccessDenied(fmt.Sprintf(`Invalid according to Policy: Policy Condition failed: ["eq", "$%s", %q]`, name, p.exact[name]))
		}
	}
	return nil
}

// localUpload is a file received into the temporary directory.
type localUpload struct {
	tmp  string // name under the store's root
	etag string // hex MD5 of the content, S3's ETag of a single-part upload
}

// receiveFile streams the file part into a new temporary file, reading at
// most one byte more than the policy allows, then checks the size and
// syncs the file to disk.
func (o *localObjects) receiveFile(part io.Reader, pol *localPolicy) (*localUpload, error) {
	up := &localUpload{tmp: filepath.Join(localTmpDir, rand.Text())}
	f, err := o.root.OpenFile(up.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	up.etag, err = writeUploadFile(f, part, pol)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		o.discard(up)
		return nil, err
	}
	return up, nil
}

// writeUploadFile copies the file through an MD5 into f and returns the
// hex digest once the size is within the policy's range and f is synced.
// The multipart reader hands the file over 4 KiB at a time, so writes to f
// are gathered in a buffer.
func writeUploadFile(f *os.File, part io.Reader, pol *localPolicy) (string, error) {
	h := md5.New()
	bw := bufio.NewWriterSize(f, localBufferSize)
	n, err := io.Copy(io.MultiWriter(bw, h), io.LimitReader(part, pol.maxSize+1))
	if err == nil {
		err = bw.Flush()
	}
	switch {
	case err != nil:
		return "", localReadError(err)
	case n > pol.maxSize:
		return "", &localError{http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"}
	case n < pol.minSize:
		return "", &localError{http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"}
	}
	return hex.EncodeToString(h.Sum(nil)), f.Sync()
}

// expectFormEnd refuses anything after the file: the policy was checked
// against the fields before it, and a field after it would go unchecked.
func expectFormEnd(mr *multipart.Reader) error {
	_, err := mr.NextPart()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return localInvalidArgument("the file must be the last field of the form")
	}
	return localReadError(err)
}

// commit links a received file to its key, then renames its ETag next to
// it. The link fails if the key exists, so no object is ever replaced,
// even by two posts of one form at once; the directories are then synced
// so both names survive a crash.
func (o *localObjects) commit(up *localUpload, key string) error {
	dir := path.Dir(key)
	if err := o.root.MkdirAll(filepath.FromSlash(dir), 0o700); err != nil {
		return err
	}
	etagTmp := up.tmp + ".etag"
	if err := o.writeSynced(etagTmp, []byte(up.etag)); err != nil {
		o.root.Remove(etagTmp)
		return err
	}
	if err := o.linkIntoPlace(up, etagTmp, key); err != nil {
		o.root.Remove(etagTmp)
		return err
	}
	return o.syncDirs(dir)
}

// linkIntoPlace checks again, under mu, that the key is still pending (a
// delete or another post may have come while the file streamed), then
// links the bytes and renames the ETag to the key's names. Readers take mu
// too, so none sees the bytes without their ETag.
func (o *localObjects) linkIntoPlace(up *localUpload, etagTmp, key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.checkPending(key); err != nil {
		return err
	}
	if err := o.root.Link(up.tmp, localObjectPath(key)); errors.Is(err, fs.ErrExist) {
		return errLocalNotPending
	} else if err != nil {
		return err
	}
	if err := o.root.Rename(etagTmp, localETagPath(key)); err != nil {
		o.root.Remove(localObjectPath(key)) // all or nothing: the form may be posted again
		return err
	}
	return nil
}

// discard removes an upload's temporary name; once linked, the object
// keeps its bytes under its key.
func (o *localObjects) discard(up *localUpload) {
	if err := o.root.Remove(up.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.log.Warn("local objects: remove temporary file", "name", up.tmp, "err", err)
	}
}

// writeSynced writes a new file and syncs it.
func (o *localObjects) writeSynced(name string, data []byte) error {
	f, err := o.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return writeAndClose(f, data)
}

// writeAndClose writes data to f, syncs it and closes it: what it wrote
// survives a crash once it returns nil.
func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// localUploadBody is an upload's request body: an http.MaxBytesReader
// whose limit is only known half-way through. It starts at what the form
// fields may take and grows, once the policy is verified, by the largest
// file that policy allows. Once verified, each read also moves the
// connection's deadlines.
type localUploadBody struct {
	io.ReadCloser
	left int64
	idle *idleDeadline // nil until the policy verifies
}

// errLocalBodyTooLarge: the body went past its budget.
var errLocalBodyTooLarge = errors.New("upload body over its size limit")

func (b *localUploadBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errLocalBodyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.idle != nil {
		b.idle.extend()
	}
	return n, err
}

// localUploadStream is what the multipart reader reads an upload from.
// Before the policy verifies, it reads the body directly, so the only
// buffer is the multipart reader's own 4 KiB, under an absolute read
// deadline; after, through a large buffer, under the idle deadline.
type localUploadStream struct {
	r           io.Reader
	body        *localUploadBody
	w           http.ResponseWriter
	idleTimeout time.Duration
}

func (s *localUploadStream) Read(p []byte) (int, error) { return s.r.Read(p) }

// newUploadStream puts the stream in place of r.Body, limited to the form
// fields and due within verifyTimeout.
func (o *localObjects) newUploadStream(w http.ResponseWriter, r *http.Request) *localUploadStream {
	// http.ErrNotSupported (a ResponseRecorder, say) leaves the server's
	// own timeouts in place, which is all that can be done.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(o.verifyTimeout))
	body := &localUploadBody{ReadCloser: r.Body, left: localFormOverhead}
	s := &localUploadStream{r: body, body: body, w: w, idleTimeout: o.idleTimeout}
	r.Body = struct {
		io.Reader
		io.Closer
	}{s, body}
	return s
}

// verified lets the file through: the budget grows by the largest file
// the policy allows (and one byte more, to see it is too big) and the
// form's tail; the deadline becomes the idle one; and reads go through a
// large buffer, which takes the body off the connection in large reads
// instead of one system call per 4 KiB. Nothing is buffered in the
// stream before this, so the switch loses no byte.
func (s *localUploadStream) verified(maxSize int64) {
	s.body.left += maxSize + 1 + localFormTail
	s.body.idle = newIdleDeadline(s.w, s.idleTimeout)
	s.r = bufio.NewReaderSize(s.body, localBufferSize)
}

// Refusals of the upload endpoint, with S3's codes and statuses.
var (
	localPreDataTooLarge = &localError{http.StatusBadRequest, "MaxPostPreDataLengthExceeded",
		"Your POST request fields preceding the upload file were too large."}
	localSlowDown = &localError{http.StatusServiceUnavailable, "SlowDown",
		"Please reduce your request rate."}
)

// localReadError classifies an error met while reading the form: a write
// to disk failing is the server's problem (*fs.PathError, passed on as is);
// a body past its budget, stalled, cut short or not valid multipart is the
// client's.
func localReadError(err error) error {
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr):
		return err
	case errors.Is(err, errLocalBodyTooLarge):
		return localPreDataTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &localError{http.StatusBadRequest, "RequestTimeout",
			"Your socket connection to the server was not read from or written to within the timeout period."}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &localError{http.StatusBadRequest, "IncompleteBody", "The request body ended before the form did."}
	}
	return localMalformed("The body of your POST request is not well-formed multipart/form-data.")
}
