package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrObjectNotFound: the object store has no object under that key.
var ErrObjectNotFound = errors.New("object not found")

// UploadPolicy is what a pre-signed upload form must enforce.
type UploadPolicy struct {
	Key         string
	MinSize     int64  // content-length-range lower bound
	MaxSize     int64  // content-length-range upper bound
	ContentType string // exact Content-Type, or "" for none
	Expires     time.Time
	BaseURL     string // this server's public base URL (used by the local object store only)
}

// UploadForm is the multipart/form-data POST a client sends straight to the
// object store: the file goes last, after every field.
type UploadForm struct {
	Method    string            `json:"method"` // "POST", set by presignSingle
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// appendJSON appends the form as encoding/json writes it (fields in key
// order), without reflection; see writeCreatedUpload.
func (f UploadForm) appendJSON(b []byte) []byte {
	b = append(b, `{"method":`...)
	b = appendJSONString(b, f.Method)
	b = append(b, `,"url":`...)
	b = appendJSONString(b, f.URL)
	b = append(b, `,"fields":`...)
	if f.Fields == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(f.Fields)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, f.Fields[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"expires_at":`...)
	b = appendJSONTime(b, &f.ExpiresAt)
	return append(b, '}')
}

// DownloadRequest describes a pre-signed GET.
type DownloadRequest struct {
	Key         string
	Filename    string
	ContentType string
	Expires     time.Time
	BaseURL     string // used by the local object store only
	Inline      bool   // shown in the browser (previews.go), not saved: only for a type previewElement pins
}

// disposition is the Content-Disposition the download is served with.
func (d *DownloadRequest) disposition() string {
	if d.Inline {
		return "inline" + strings.TrimPrefix(contentDisposition(d.Filename), "attachment")
	}
	return contentDisposition(d.Filename)
}

// ObjectInfo is what the object store says about a stored object.
type ObjectInfo struct {
	Size int64
	ETag string
}

// S3's limits on objects and multipart uploads.
const (
	maxObjectBytes = 5 << 40 // the largest object
	maxSingleBytes = 5 << 30 // the largest single-request upload
	minPartBytes   = 5 << 20 // the smallest part but the last
	maxPartBytes   = 5 << 30 // the largest part
	maxPartCount   = 10_000  // the most parts in one upload
)

// ErrUploadNotFound: the object store has no multipart upload with that id
// (it was completed, aborted or has expired).
var ErrUploadNotFound = errors.New("multipart upload not found")

// ErrInvalidParts: the parts named at completion are not the ones stored
// (a part was sent again in the meantime).
var ErrInvalidParts = errors.New("the parts changed")

// PutRequest describes a pre-signed PUT: of a whole object (UploadID "") or
// of one part of a multipart upload. Size is always exact and signed, so the
// object store refuses any other length.
type PutRequest struct {
	Key         string
	UploadID    string // "" for a whole object
	PartNumber  int    // 1..maxPartCount, with UploadID
	Size        int64
	ContentType string // whole objects only: the exact Content-Type, or "" for none
	Expires     time.Time
	BaseURL     string // used by the local object store only
}

// PresignedPut is a PUT a client sends straight to the object store, with
// exactly these headers (Content-Length is set from the body by HTTP
// clients; it is listed so a client knows the length is checked).
type PresignedPut struct {
	Method    string            `json:"method"` // always "PUT"
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// PartInfo is one stored part of a multipart upload.
type PartInfo struct {
	PartNumber int    `json:"part_number"`
	Size       int64  `json:"size"`
	ETag       string `json:"etag"`
}

// ObjectStore is what the server needs from its object backend. S3
// (s3Objects) and the local directory store (localObjects) implement it.
type ObjectStore interface {
	PresignUpload(ctx context.Context, p UploadPolicy) (UploadForm, error)
	PresignPut(ctx context.Context, p PutRequest) (PresignedPut, error)
	// CreateMultipart starts a multipart upload to key and returns its id;
	// the local store forgets it after expires (S3 needs a lifecycle rule).
	CreateMultipart(ctx context.Context, key, contentType string, expires time.Time) (string, error)
	ListParts(ctx context.Context, key, uploadID string) ([]PartInfo, error)             // ErrUploadNotFound
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []PartInfo) error // ErrUploadNotFound
	AbortMultipart(ctx context.Context, key, uploadID string) error                      // a missing upload is not an error
	PresignDownload(ctx context.Context, d DownloadRequest) (string, error)
	Head(ctx context.Context, key string) (ObjectInfo, error) // ErrObjectNotFound
	Delete(ctx context.Context, key string) error             // a missing object is not an error
	Ready(ctx context.Context) error
}

// contentDisposition builds an RFC 6266 attachment header: an ASCII-only
// filename= fallback stripped of quotes, backslashes, percent signs and
// control characters, plus filename*= with the exact UTF-8 name.
func contentDisposition(filename string) string {
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`,
		asciiFallback(filename), rfc5987Escape(filename))
}

// asciiFallback keeps printable ASCII except the characters that would end or
// escape the quoted string, or be percent-decoded by some browsers.
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == '%' || r == '/':
			b.WriteByte('_')
		case r >= utf8.RuneSelf:
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "download"
	}
	return b.String()
}

// rfc5987Escape percent-encodes everything but RFC 5987 attr-chars.
func rfc5987Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// isAttrChar tells the bytes RFC 5987 lets stand unescaped.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// stagingObjects is an object store whose upload forms and PUT URLs cannot
// be revoked before they expire (S3): a form posted again after its file
// was completed or deleted would replace what the file serves, or store
// bytes no quota counts. So a single upload writes to a staging key, which
// names its form's expiry (stagingKey); completion copies the staged object,
// server-side, to the file's own key, which no form or URL can write; and
// the sweeper deletes every staged object whose form has expired, whatever
// became of its file. The local object store needs none of this: its forms
// are single-use (localobjects.go).
type stagingObjects interface {
	// Promote copies the object at the staging key from, if it still has
	// the ETag etag, to the key to, and returns what is at to. A staged
	// object that changed since it was read is errStagedChanged; a missing
	// one, ErrObjectNotFound.
	Promote(ctx context.Context, from, to, etag string) (ObjectInfo, error)
	// SweepStaged deletes the staged objects whose form expired before t
	// and returns how many.
	SweepStaged(ctx context.Context, before time.Time) (int, error)
}

// errStagedChanged: the staged object was replaced while it was promoted
// (its form was posted again).
var errStagedChanged = errors.New("the uploaded object changed while completing")

// stagingPrefix is where staged uploads live, apart from users/, so that
// neither `dropp reconcile` nor a user's files ever count them.
const stagingPrefix = "staging/"

// stagingKey is the staging key of the object key for a form that expires
// at expires: the expiry in fixed-width Unix seconds comes first, so a
// listing of stagingPrefix is in the order the sweeper deletes them.
func stagingKey(key string, expires time.Time) string {
	return fmt.Sprintf("%s%010d/%s", stagingPrefix, expires.Unix(), key)
}

// stagingExpiry reads the form expiry a staging key names.
func stagingExpiry(key string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(key, stagingPrefix)
	secs, _, cut := strings.Cut(rest, "/")
	n, err := strconv.ParseInt(secs, 10, 64)
	if !ok || !cut || err != nil || len(secs) != 10 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// listedObject is one object as a listing shows it.
type listedObject struct {
	Key      string
	Size     int64
	Modified time.Time
}

// objectLister is an object store that can list its objects; both of
// Dropp's can.
type objectLister interface {
	ListObjects(ctx context.Context, prefix string, each func(listedObject) error) error
}

// objectsOrigin is the origin the browser sends bytes to when it is not
// this server's: an object store that presigns URLs elsewhere says which.
func objectsOrigin(objects ObjectStore) string {
	if o, ok := objects.(interface{ browserOrigin() string }); ok {
		return o.browserOrigin()
	}
	return ""
}
