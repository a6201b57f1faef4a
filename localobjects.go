package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxLocalUploads bounds the uploads in progress, verified or not, and
// so what they hold: 64 KiB each before the policy verifies, about
// 550 KiB each while the file streams (70 MB for all of them). Local
// objects also serve a team with Google sign-in and no bucket, whose
// desktop apps each send several files at once: 32 turned away
// scripts/soak's 64 connections with 503s.
const maxLocalUploads = 128

// localVerifyTimeout is how long an upload has, in all, to send the fields
// before the file, from its first byte to the policy verifying. Only a
// verified upload gets the idle deadline that moves with each read: before
// that, a client trickling bytes must not hold the connection for long.
const localVerifyTimeout = 10 * time.Second

// localObjects is the ObjectStore of local mode (AWS_S3_BUCKET unset): one
// file per object under a directory, reached through this server's own
// /objects/ endpoints with forms and URLs signed like S3's, so the client
// code is the same for both backends.
//
// Layout under the directory (every name starting with a dot is the store's
// own, which validLocalKey guarantees no key can name):
//
//	users/ab12…/name        the bytes of the object with that key
//	users/ab12…/.name.etag  its ETag: the hex MD5 of the bytes, as S3 gives for
//	                        a single-part upload, computed while receiving them
//	.tmp/                   uploads in progress, linked into place when done
//	.uploads/<id>/          a multipart upload's parts (see localobjects_parts.go)
//	.deleted/cd34…          a tombstone per deleted key, named by the key's
//	                        SHA-256, so its form stays refused (see
//	                        localTombstoneDir)
//
// Every file access goes through an os.Root, so even a key that slipped past
// validation, or a symlink planted in the directory, cannot reach a file
// outside it.
type localObjects struct {
	root        *os.Root
	key         []byte // HMAC key for upload policies and download URLs
	log         *slog.Logger
	idleTimeout time.Duration // see localIdleTimeout; tests shorten it

	// mu orders the checks, link and rename of a commit, the removals of a
	// delete and the reads of an object's bytes and ETag, so that a reader
	// never sees an object without the ETag it came with. Each holder only
	// stats, links, renames, removes or opens: no I/O of content.
	mu sync.RWMutex

	// uploadSlots bounds the uploads in progress (see maxLocalUploads): a
	// request holds one from its first byte to its answer.
	uploadSlots chan struct{}
	// verifyTimeout bounds the time an upload may take to send the fields
	// before the file (see localVerifyTimeout); tests shorten it.
	verifyTimeout time.Duration

	sweepMu   sync.Mutex
	nextSweep time.Time // tombstones are swept at the first Delete after this
}

// localTmpDir holds partial uploads. It lives inside the store's directory so
// that the final rename stays on one filesystem and is atomic.
const localTmpDir = ".tmp"

// localTombstoneDir holds a small file per deleted key, named by the
// SHA-256 of the key. Keys are never reused, and an upload form stays
// valid until its expiry: the tombstone is what makes the endpoint refuse
// a form whose file was deleted, instead of storing an object no record
// points at.
const localTombstoneDir = ".deleted"

// localMaxFormLifetime is the longest an upload form this store signs may
// live: the longest UPLOAD_POST_TTL_SECONDS allows (7 days), plus a minute
// for rounding. A tombstone is kept that long after its delete, so it
// outlives every form for its key; PresignUpload refuses longer forms.
const localMaxFormLifetime = 7*24*time.Hour + time.Minute

// localTombstoneSweepEvery is how often Delete looks for tombstones past
// localMaxFormLifetime to remove.
const localTombstoneSweepEvery = time.Hour

// localIdleTimeout is how long an upload or download may make no progress
// before its connection is cut. Large transfers go through these endpoints,
// unlike the JSON API, so they replace the server's fixed ReadTimeout and
// WriteTimeout (sized for small calls) with a deadline that moves while
// bytes keep flowing.
const localIdleTimeout = 2 * time.Minute

// maxLocalKeyLen bounds object keys; the server's own keys are ~90 bytes.
const maxLocalKeyLen = 512

// errInvalidObjectKey: a key that validLocalKey refuses. The server only
// makes valid keys, so seeing it in Head or Delete means a corrupt record.
var errInvalidObjectKey = errors.New("invalid object key")

// newLocalObjects opens (creating it 0700 if needed) the store's directory
// and clears its temporary directory of what a previous process left:
// partial uploads that can never complete, since their requests are gone.
func newLocalObjects(dir string, secret []byte, logger *slog.Logger) (*localObjects, error) {
	if len(secret) == 0 {
		return nil, errors.New("local object store: no signing secret")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local object store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("local object store: %w", err)
	}
	if err := clearStaleTmp(root, time.Now()); err != nil {
		root.Close()
		return nil, fmt.Errorf("local object store %s: %w", dir, err)
	}
	if err := root.MkdirAll(localTombstoneDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("local object store %s: %w", dir, err)
	}
	o := &localObjects{
		root:          root,
		key:           deriveKey(secret, "local-objects"),
		log:           logger,
		idleTimeout:   localIdleTimeout,
		uploadSlots:   make(chan struct{}, maxLocalUploads),
		verifyTimeout: localVerifyTimeout,
	}
	o.sweepUploads(time.Now())
	return o, nil
}

// staleTmpAge is how long an entry of the temporary directory goes
// unchanged before it is taken for a dead process's: far longer than an
// upload may stay idle (localIdleTimeout) or a finished one waits to be
// linked.
const staleTmpAge = time.Hour

// clearStaleTmp makes the temporary directory if need be and removes what
// in it has not changed for staleTmpAge. Only that: another process on the
// same directory (a second instance with MongoDB, or `dropp reconcile`)
// may be receiving uploads into it right now (review 10: a start wiped a
// running server's uploads).
func clearStaleTmp(root *os.Root, now time.Time) error {
	if err := root.MkdirAll(localTmpDir, 0o700); err != nil {
		return err
	}
	entries, err := fs.ReadDir(root.FS(), localTmpDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && now.Sub(info.ModTime()) > staleTmpAge {
			err = root.RemoveAll(filepath.Join(localTmpDir, e.Name()))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close releases the store's directory handle.
func (o *localObjects) Close() error { return o.root.Close() }

// validLocalKey accepts keys made of segments of [A-Za-z0-9._-] joined by
// single slashes, where no segment starts with a dot (so none is "." or
// "..", and the store's own dot-files stay out of reach), at most
// maxLocalKeyLen bytes. The server's keys look like
// users/<32 hex>/20261126T233000.123Z-<uuid>.
func validLocalKey(key string) bool {
	if key == "" || len(key) > maxLocalKeyLen {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if !validKeySegment(seg) {
			return false
		}
	}
	// Belt and braces: a lexical check that the path stays inside the
	// directory (on Windows it also refuses names such as NUL or COM1).
	return filepath.IsLocal(filepath.FromSlash(key))
}

// validKeySegment is one segment of a key validLocalKey accepts.
func validKeySegment(seg string) bool {
	return seg != "" && seg[0] != '.' && allBytes(seg, alnumOr("._-"))
}

// localObjectPath and localETagPath are where a valid key's bytes and ETag
// live, relative to the store's root.
func localObjectPath(key string) string { return filepath.FromSlash(key) }

func localETagPath(key string) string {
	dir, base := path.Split(key)
	return filepath.FromSlash(dir + "." + base + ".etag")
}

// localTombstonePath is where a deleted key's tombstone lives.
func localTombstonePath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(localTombstoneDir, hex.EncodeToString(sum[:]))
}

// mac signs a list of strings with the store's key. Each is prefixed with
// its length, so no two different lists sign alike, and the first names the
// purpose, so an upload signature is never a valid download signature.
func (o *localObjects) mac(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, o.key)
	for _, p := range append([]string{purpose}, parts...) {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// validHexMAC compares a hex signature from a client with the expected MAC in
// constant time, as the lower-case text the signer writes: decoding first
// would also take upper-case digits, a second spelling of each signature.
func validHexMAC(sigHex string, want []byte) bool {
	return hmac.Equal([]byte(sigHex), []byte(hex.EncodeToString(want)))
}

// localPolicyDoc is the upload policy document, in S3's shape: an
// expiration and a list of conditions, each {"field": "exact value"} or
// ["content-length-range", min, max].
type localPolicyDoc struct {
	Expiration string `json:"expiration"`
	Conditions []any  `json:"conditions"`
}

// Upload form field names. Like S3, the store matches them
// case-insensitively, so they are written lower-case here.
const (
	localFormKey       = "key"
	localFormPolicy    = "policy"
	localFormSignature = "x-dropp-signature" // S3's is X-Amz-Signature
	localFormFile      = "file"
)

// PresignUpload returns a form for this server's upload endpoint whose
// signed policy pins the expiry, the exact key, the size range and (when
// given) the exact Content-Type, as S3's does.
func (o *localObjects) PresignUpload(ctx context.Context, p UploadPolicy) (UploadForm, error) {
	switch {
	case !validLocalKey(p.Key):
		return UploadForm{}, fmt.Errorf("presign upload: %w %q", errInvalidObjectKey, p.Key)
	case p.MinSize < 0 || p.MaxSize < p.MinSize:
		return UploadForm{}, fmt.Errorf("presign upload: bad size range %d..%d", p.MinSize, p.MaxSize)
	case p.BaseURL == "":
		return UploadForm{}, errors.New("presign upload: no base URL")
	case time.Until(p.Expires) > localMaxFormLifetime:
		// The key's tombstone, if it is deleted, would go before the form.
		return UploadForm{}, fmt.Errorf("presign upload: expiry %v is past the longest form lifetime", p.Expires)
	}
	doc := localPolicyDoc{
		Expiration: p.Expires.UTC().Format(time.RFC3339),
		Conditions: []any{
			map[string]string{"key": p.Key},
			[]any{"content-length-range", p.MinSize, p.MaxSize},
		},
	}
	if p.ContentType != "" {
		doc.Conditions = append(doc.Conditions, map[string]string{"Content-Type": p.ContentType})
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return UploadForm{}, fmt.Errorf("presign upload: %w", err)
	}
	policy := base64.StdEncoding.EncodeToString(raw)
	fields := map[string]string{
		localFormKey:       p.Key,
		localFormPolicy:    policy,
		localFormSignature: hex.EncodeToString(o.policyMAC(policy)),
	}
	if p.ContentType != "" {
		fields["Content-Type"] = p.ContentType
	}
	return UploadForm{URL: p.BaseURL + "/objects/upload", Fields: fields, ExpiresAt: p.Expires}, nil
}

// PresignDownload returns a URL of this server that serves the object until
// d.Expires, as an attachment with d.Filename and d.ContentType. Like S3's
// response-content-disposition and response-content-type, both ride in the
// query string, covered by the signature so a client cannot change them.
func (o *localObjects) PresignDownload(ctx context.Context, d DownloadRequest) (string, error) {
	if !validLocalKey(d.Key) {
		return "", fmt.Errorf("presign download: %w %q", errInvalidObjectKey, d.Key)
	}
	if d.BaseURL == "" {
		return "", errors.New("presign download: no base URL")
	}
	q := localDownloadParams{
		expires: strconv.FormatInt(d.Expires.Unix(), 10),
		rcd:     d.disposition(),
		rct:     d.ContentType,
	}
	v := url.Values{"expires": {q.expires}, "rcd": {q.rcd}, "sig": {hex.EncodeToString(o.downloadMAC(d.Key, q))}}
	if q.rct != "" {
		v.Set("rct", q.rct)
	}
	return d.BaseURL + "/objects/" + escapeObjectKey(d.Key) + "?" + v.Encode(), nil
}

// policyMAC signs an upload policy: the base64 text as sent in the form.
func (o *localObjects) policyMAC(policy string) []byte { return o.mac("upload-policy", policy) }

// localDownloadParams are the signed query parameters of a download URL.
type localDownloadParams struct {
	expires string // Unix seconds
	rcd     string // Content-Disposition to answer with
	rct     string // Content-Type to answer with; "" for application/octet-stream
}

// downloadMAC signs a download URL: the key and every parameter that
// shapes the answer, so none can be changed.
func (o *localObjects) downloadMAC(key string, q localDownloadParams) []byte {
	return o.mac("download", key, q.expires, q.rcd, q.rct)
}

// escapeObjectKey escapes each segment of a key for a URL path.
func escapeObjectKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// handleDownload handles "GET /objects/{key...}": it serves the object if
// the URL's signature holds and it has not expired, with the signed
// Content-Disposition and Content-Type, and with Range support.
func (o *localObjects) handleDownload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	key := r.PathValue("key")
	if !validLocalKey(key) {
		writeLocalError(w, errLocalBadKey)
		return
	}
	q, expires, lerr := o.verifyDownload(key, r.URL.Query())
	if lerr != nil {
		writeLocalError(w, lerr)
		return
	}
	obj, err := o.openObject(key)
	if errors.Is(err, ErrObjectNotFound) {
		writeLocalError(w, &localError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."})
		return
	}
	if err != nil {
		o.internalError(w, r, "download", err)
		return
	}
	defer obj.Close()
	h := w.Header()
	h.Set("Content-Type", cmp.Or(q.rct, "application/octet-stream"))
	h.Set("Content-Disposition", q.rcd)
	// Objects are served from Dropp's own origin: even if a browser rendered
	// one, it may run nothing and reach nothing.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", fmt.Sprintf("private, max-age=%d", max(0, int(time.Until(expires).Seconds()))))
	if obj.etag != "" {
		h.Set("ETag", `"`+obj.etag+`"`) // lets ServeContent answer If-None-Match and If-Range
	}
	content := &progressFile{f: obj.File, idle: newIdleDeadline(w, o.idleTimeout)}
	http.ServeContent(w, r, "", obj.info.ModTime(), content)
}

// verifyDownload checks a download URL's signature, then its expiry.
func (o *localObjects) verifyDownload(key string, v url.Values) (localDownloadParams, time.Time, *localError) {
	q := localDownloadParams{expires: v.Get("expires"), rcd: v.Get("rcd"), rct: v.Get("rct")}
	if !validHexMAC(v.Get("sig"), o.downloadMAC(key, q)) {
		return q, time.Time{}, errLocalBadSignature
	}
	expires, lerr := checkURLExpiry(q.expires)
	return q, expires, lerr
}

// checkURLExpiry reads a pre-signed URL's expires (Unix seconds, covered
// by its signature, which is checked first) and refuses, as S3 does, a URL
// used at or after it. Downloads and PUTs are signed alike.
func checkURLExpiry(expires string) (time.Time, *localError) {
	secs, err := strconv.ParseInt(expires, 10, 64)
	at := time.Unix(secs, 0)
	if err != nil || !time.Now().Before(at) {
		return time.Time{}, localAccessDenied("Request has expired")
	}
	return at, nil
}

// localObject is a stored object opened for reading.
type localObject struct {
	*os.File
	info fs.FileInfo
	etag string // "" if none was recorded (an object placed by hand)
}

// openObject opens a stored object and reads its recorded ETag; a missing
// key (or one that names a directory) is ErrObjectNotFound. Both are read
// under the lock that commits take, so they come from the same upload; the
// open file then stays that upload's bytes even if another replaces it.
func (o *localObjects) openObject(key string) (*localObject, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	f, err := o.root.Open(localObjectPath(key))
	if err != nil {
		return nil, localNotFound(err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = ErrObjectNotFound
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	obj := &localObject{File: f, info: info}
	if b, err := o.root.ReadFile(localETagPath(key)); err == nil && validLocalETag(string(b)) {
		obj.etag = string(b)
	}
	return obj, nil
}

// localNotFound maps "no such file" (including a path through a regular file)
// to ErrObjectNotFound.
func localNotFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return ErrObjectNotFound
	}
	return err
}

// Head reports the stored object's size (from the file system, never from a
// client) and ETag. An object without a recorded ETag is hashed.
func (o *localObjects) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if !validLocalKey(key) {
		return ObjectInfo{}, fmt.Errorf("head: %w %q", errInvalidObjectKey, key)
	}
	obj, err := o.openObject(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer obj.Close()
	if obj.etag == "" {
		h := md5.New()
		if _, err := io.Copy(h, obj.File); err != nil {
			return ObjectInfo{}, fmt.Errorf("head %s: %w", key, err)
		}
		obj.etag = hex.EncodeToString(h.Sum(nil))
	}
	return ObjectInfo{Size: obj.info.Size(), ETag: obj.etag}, nil
}

// Delete removes the object and its ETag; a missing object is not an error.
// It first leaves a tombstone for the key, so that the key's upload form,
// still valid until it expires, can no longer store anything.
func (o *localObjects) Delete(ctx context.Context, key string) error {
	if !validLocalKey(key) {
		return fmt.Errorf("delete: %w %q", errInvalidObjectKey, key)
	}
	// The tombstone needs no lock: a commit that looks after it exists is
	// refused, and one that linked before is undone by removeObject.
	if err := o.writeTombstone(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := o.removeObject(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	o.sweepTombstonesIfDue(time.Now())
	return nil
}

// removeObject removes a key's bytes and ETag, under mu so that no reader
// sees one without the other.
func (o *localObjects) removeObject(key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, name := range []string{localObjectPath(key), localETagPath(key)} {
		if err := o.root.Remove(name); err != nil && !errors.Is(localNotFound(err), ErrObjectNotFound) {
			return err
		}
	}
	return nil
}

// writeTombstone (re)writes the key's tombstone, holding the key itself
// for whoever looks, and syncs it: a delete that was answered must not
// come undone in a crash. Its modification time is the time of the delete.
func (o *localObjects) writeTombstone(key string) error {
	f, err := o.root.OpenFile(localTombstonePath(key), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return o.syncDirs(localTombstoneDir)
}

// sweepTombstonesIfDue removes, at most once per localTombstoneSweepEvery,
// the tombstones older than any form: no form for their keys can still be
// posted. It needs no lock on mu: a tombstone that old guards nothing.
func (o *localObjects) sweepTombstonesIfDue(now time.Time) {
	o.sweepMu.Lock()
	due := !now.Before(o.nextSweep)
	if due {
		o.nextSweep = now.Add(localTombstoneSweepEvery)
	}
	o.sweepMu.Unlock()
	if !due {
		return
	}
	entries, err := fs.ReadDir(o.root.FS(), localTombstoneDir)
	if err != nil {
		o.log.Warn("local objects: list tombstones", "err", err)
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) <= localMaxFormLifetime {
			continue
		}
		if err := o.root.Remove(filepath.Join(localTombstoneDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.log.Warn("local objects: remove tombstone", "name", e.Name(), "err", err)
		}
	}
}

// errLocalNotPending refuses a form whose object was already stored, or
// deleted: a form stores its object once, and dies with its file.
var errLocalNotPending = localAccessDenied("Access Denied: this form's object was already uploaded, or has been deleted.")

// checkPending refuses a key that has an object or a tombstone. The caller
// holds mu.
func (o *localObjects) checkPending(key string) error {
	for _, name := range []string{localObjectPath(key), localTombstonePath(key)} {
		_, err := o.root.Lstat(name)
		if err == nil {
			return errLocalNotPending
		}
		if !errors.Is(localNotFound(err), ErrObjectNotFound) {
			return err
		}
	}
	return nil
}

// Ready checks that the directory is still there and writable, by creating
// and removing a file in it.
func (o *localObjects) Ready(ctx context.Context) error {
	name := filepath.Join(localTmpDir, "ready-"+rand.Text())
	f, err := o.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("local object store not writable: %w", err)
	}
	f.Close()
	return o.root.Remove(name)
}

// validLocalETag accepts the ETags this store records: a hex MD5, with
// "-<parts>" for a multipart object.
func validLocalETag(etag string) bool {
	sum, parts, multipart := strings.Cut(etag, "-")
	if len(sum) != 2*md5.Size || !allBytes(sum, func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }) {
		return false
	}
	n, err := strconv.Atoi(parts)
	return !multipart || err == nil && n >= 1 && n <= maxPartCount
}

// localError is a refusal answered the way S3 answers: a status and an XML
// body naming an S3 error code, so a client handles both backends alike.
type localError struct {
	status  int
	code    string
	message string
}

func (e *localError) Error() string { return e.code + ": " + e.message }

// localAccessDenied is S3's 403 AccessDenied, saying msg.
func localAccessDenied(msg string) *localError {
	return &localError{http.StatusForbidden, "AccessDenied", msg}
}

// localInvalidArgument is S3's 400 InvalidArgument, saying msg.
func localInvalidArgument(msg string) *localError {
	return &localError{http.StatusBadRequest, "InvalidArgument", msg}
}

// localMalformed is S3's 400 MalformedPOSTRequest, saying msg.
func localMalformed(msg string) *localError {
	return &localError{http.StatusBadRequest, "MalformedPOSTRequest", msg}
}

// errLocalBadKey answers a key that validLocalKey refuses.
var errLocalBadKey = &localError{http.StatusBadRequest, "InvalidArgument", "invalid object key"}

// errLocalBadSignature is S3's answer to a request that its signature does
// not cover as sent: a pre-signed URL, a PUT's signed headers or an upload
// form's policy.
var errLocalBadSignature = &localError{http.StatusForbidden, "SignatureDoesNotMatch",
	"The request signature we calculated does not match the signature you provided."}

// writeLocalError writes S3's error shape.
func writeLocalError(w http.ResponseWriter, e *localError) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(localErrorXML{Code: e.code, Message: e.message})
}

// localErrorXML is S3's error body.
type localErrorXML struct {
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
}

// internalError logs what went wrong and tells the client only that it did.
func (o *localObjects) internalError(w http.ResponseWriter, r *http.Request, op string, err error) {
	o.log.Error("local objects: "+op, "err", err, "request_id", requestInfoFrom(r.Context()).id)
	writeLocalError(w, &localError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."})
}

// idleDeadline pushes a connection's read and write deadlines forward while
// a transfer makes progress, so a large file may take as long as it needs
// but a stalled client is cut after timeout.
type idleDeadline struct {
	rc      *http.ResponseController
	timeout time.Duration
	next    time.Time // deadlines are not moved again before this
}

// newIdleDeadline sets the first deadlines at once, before any byte moves.
func newIdleDeadline(w http.ResponseWriter, timeout time.Duration) *idleDeadline {
	d := &idleDeadline{rc: http.NewResponseController(w), timeout: timeout}
	d.extend()
	return d
}

// extend is called on every read or write; it touches the connection only
// every timeout/8, which keeps it off the hot path.
func (d *idleDeadline) extend() {
	now := time.Now()
	if now.Before(d.next) {
		return
	}
	d.next = now.Add(d.timeout / 8)
	// http.ErrNotSupported (a ResponseRecorder, say) leaves the server's
	// own timeouts in place, which is all that can be done.
	d.rc.SetReadDeadline(now.Add(d.timeout))
	d.rc.SetWriteDeadline(now.Add(d.timeout))
}

// progressFile is an object being downloaded: each read of the file comes
// just before a write to the client, so it is where the deadline moves. It
// hides the *os.File on purpose: the network stack would otherwise see the
// file descriptor and sendfile(2) it whole, never calling Read, and a large
// download would be cut at the server's WriteTimeout.
type progressFile struct {
	f    *os.File
	idle *idleDeadline
}

func (p *progressFile) Read(b []byte) (int, error) {
	p.idle.extend()
	return p.f.Read(b)
}

func (p *progressFile) Seek(offset int64, whence int) (int64, error) { return p.f.Seek(offset, whence) }

// ListObjects walks the directory under prefix; the ETag files beside the
// objects (hidden names) are not objects.
func (o *localObjects) ListObjects(ctx context.Context, prefix string, each func(listedObject) error) error {
	dir := strings.TrimSuffix(prefix, "/")
	err := fs.WalkDir(o.root.FS(), dir, func(name string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && name == dir:
			return fs.SkipAll // no object was ever stored
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case d.IsDir() || strings.HasPrefix(d.Name(), "."):
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return each(listedObject{Key: name, Size: info.Size(), Modified: info.ModTime()})
	})
	return err
}

// syncDirs syncs dir and every directory above it up to the root, so the
// renamed entries, and any directory MkdirAll just made, are on disk.
func (o *localObjects) syncDirs(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there; NTFS journals renames
	}
	for {
		d, err := o.root.Open(filepath.FromSlash(dir))
		if err != nil {
			return err
		}
		err = d.Sync()
		d.Close()
		if err != nil || dir == "." {
			return err
		}
		dir = path.Dir(dir)
	}
}
