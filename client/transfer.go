package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// uploadAnswer is the "upload" of POST /upload/: how to send the content,
// by Method.
type uploadAnswer struct {
	Method    string            `json:"method"` // "POST" (a form), "PUT" or "multipart"
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields"`  // POST
	Headers   map[string]string `json:"headers"` // PUT
	PartSize  int64             `json:"part_size"`
	PartCount int               `json:"part_count"`
}

// MultipartThreshold is the size from which Upload sends a file in parts,
// which can resume (ResumeUpload) after a failure.
var MultipartThreshold int64 = 64 << 20

// Upload sends the file at path: it creates the upload (declaring the
// size, and contentType if not ""), sends the content the way the server
// answered (a form POST, a PUT, or parts), then completes it. progress may
// be nil. If a multipart upload fails, the returned *PartialUpload error
// says how to resume it.
func (c *Client) Upload(ctx context.Context, path, contentType string, progress Progress) (*File, error) {
	return c.upload(ctx, path, contentType, nil, progress)
}

// upload is Upload, with extra fields in the create body (a file
// request's sender: requests.go).
func (c *Client) upload(ctx context.Context, path, contentType string, extra map[string]any, progress Progress) (*File, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	create := map[string]any{"filename": filepath.Base(path), "size": size}
	if contentType != "" {
		create["content_type"] = contentType
	}
	if size >= MultipartThreshold {
		create["multipart"] = true
	}
	for k, v := range extra {
		create[k] = v
	}
	var created struct {
		File   File         `json:"file"`
		Upload uploadAnswer `json:"upload"`
	}
	if err := c.do(ctx, "POST", "/upload/", create, &created); err != nil {
		return nil, err
	}
	up := created.Upload
	switch up.Method {
	case "POST":
		err = c.postForm(ctx, up, f, size, progress)
	case "PUT":
		err = c.put(ctx, up.URL, up.Headers, io.NewSectionReader(f, 0, size), size, &countingReader{total: size, progress: progress})
	case "multipart":
		if err = c.sendParts(ctx, created.File.ID, f, size, up.PartSize, progress); err != nil {
			return nil, &PartialUpload{ID: created.File.ID, PartSize: up.PartSize, Err: err}
		}
	default:
		err = fmt.Errorf("dropp: unknown upload method %q", up.Method)
	}
	if err != nil {
		return nil, err
	}
	return c.complete(ctx, created.File.ID)
}

// openSized opens the file at path to send it, with its size.
func openSized(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, info.Size(), nil
}

// PartialUpload is a multipart upload that stopped; ResumeUpload with its
// ID and PartSize sends only the missing parts.
type PartialUpload struct {
	ID       string
	PartSize int64
	Err      error
}

func (e *PartialUpload) Error() string {
	return fmt.Sprintf("upload %s stopped (resume it): %v", e.ID, e.Err)
}
func (e *PartialUpload) Unwrap() error { return e.Err }

// ResumeUpload finishes a multipart upload of the file at path: it asks
// which parts are stored, sends the others, and completes.
func (c *Client) ResumeUpload(ctx context.Context, id, path string, partSize int64, progress Progress) (*File, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := c.sendParts(ctx, id, f, size, partSize, progress); err != nil {
		return nil, &PartialUpload{ID: id, PartSize: partSize, Err: err}
	}
	return c.complete(ctx, id)
}

func (c *Client) complete(ctx context.Context, id string) (*File, error) {
	var done struct {
		File File `json:"file"`
	}
	if err := c.do(ctx, "POST", "/upload/"+url.PathEscape(id)+"/complete", nil, &done); err != nil {
		return nil, err
	}
	return &done.File, nil
}

// sendParts PUTs every part the server does not hold yet, up to 100 URLs
// a request, one part at a time.
func (c *Client) sendParts(ctx context.Context, id string, f io.ReaderAt, size, partSize int64, progress Progress) error {
	if partSize <= 0 {
		return fmt.Errorf("dropp: part size %d", partSize)
	}
	count := int((size + partSize - 1) / partSize)
	var stored struct {
		Parts []struct {
			PartNumber int    `json:"part_number"`
			Size       int64  `json:"size"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := c.do(ctx, "GET", "/upload/"+url.PathEscape(id)+"/parts", nil, &stored); err != nil {
		return err
	}
	have := map[int]bool{}
	counter := &countingReader{total: size, progress: progress}
	for _, p := range stored.Parts {
		// A stored part counts only if it holds this file's bytes: its
		// ETag is the MD5 of its content (S3 and local mode alike). This
		// catches a part cut short by the failure being resumed from, and
		// a file that changed since.
		off := int64(p.PartNumber-1) * partSize
		if p.PartNumber < 1 || p.PartNumber > count || p.Size != min(partSize, size-off) {
			continue
		}
		h := md5.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, off, p.Size)); err != nil {
			return err
		}
		if strings.Trim(p.ETag, `"`) == hex.EncodeToString(h.Sum(nil)) {
			have[p.PartNumber] = true
			counter.done += p.Size // no request reads yet
		}
	}
	var missing []int
	for n := 1; n <= count; n++ {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	for len(missing) > 0 {
		batch := missing[:min(100, len(missing))]
		missing = missing[len(batch):]
		var urls struct {
			Parts []struct {
				PartNumber int               `json:"part_number"`
				URL        string            `json:"url"`
				Headers    map[string]string `json:"headers"`
			} `json:"parts"`
		}
		if err := c.do(ctx, "POST", "/upload/"+url.PathEscape(id)+"/parts", map[string]any{"part_numbers": batch}, &urls); err != nil {
			return err
		}
		for _, p := range urls.Parts {
			off := int64(p.PartNumber-1) * partSize
			n := min(partSize, size-off)
			if err := c.put(ctx, p.URL, p.Headers, io.NewSectionReader(f, off, n), n, counter); err != nil {
				return fmt.Errorf("part %d: %w", p.PartNumber, err)
			}
		}
	}
	return nil
}

// put sends body (n bytes) to a pre-signed PUT URL with its headers, and
// no Authorization; counter counts it. Each request reads its own body:
// the transport may still be reading a request's body after its answer
// came (a server that answers early), so a reader shared between the parts
// would feed one part's bytes to another's request (a race, seen in CI).
func (c *Client) put(ctx context.Context, u string, headers map[string]string, body io.Reader, n int64, counter *countingReader) error {
	req, err := http.NewRequestWithContext(ctx, "PUT", u, io.NopCloser(&countedBody{r: body, counter: counter}))
	if err != nil {
		return err
	}
	req.ContentLength = n
	for k, v := range headers {
		if !strings.EqualFold(k, "Content-Length") { // set from ContentLength
			req.Header.Set(k, v)
		}
	}
	return c.sendPresigned(req)
}

// postForm streams the form: every field unchanged (their names differ
// between S3 and local mode), then the file last, with its exact
// Content-Length (S3 refuses a chunked POST). The pre-signed URL gets no
// Authorization header: S3 refuses one that carries it.
func (c *Client) postForm(ctx context.Context, form uploadAnswer, content io.Reader, size int64, progress Progress) error {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	names := make([]string, 0, len(form.Fields))
	for k := range form.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := mw.WriteField(k, form.Fields[k]); err != nil {
			return err
		}
	}
	if _, err := mw.CreateFormFile("file", "file"); err != nil {
		return err
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n" // what mw.Close would write after the file
	body := io.MultiReader(&head, &countingReader{r: content, total: size, progress: progress}, strings.NewReader(tail))
	req, err := http.NewRequestWithContext(ctx, "POST", form.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(head.Len()) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.sendPresigned(req)
}

// sendPresigned sends a request to a pre-signed URL (no Dropp token) and
// wants a 2xx; anything else is read as the error it says.
func (c *Client) sendPresigned(req *http.Request) error {
	resp, err := c.transfer().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	return nil
}

// countingReader reports progress as its reader is read.
type countingReader struct {
	r        io.Reader // nil when only parts' bodies count into it (countedBody)
	mu       sync.Mutex
	done     int64
	total    int64
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(n)
	return n, err
}

// add counts n more bytes done and reports them. A lock, since the
// requests of several parts may read at once (countedBody).
func (c *countingReader) add(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done += int64(n)
	if c.progress != nil {
		c.progress(c.done, c.total)
	}
}

// countedBody is one request's body, counted into a countingReader shared
// by the parts of an upload.
type countedBody struct {
	r       io.Reader
	counter *countingReader
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.counter.add(n)
	return n, err
}

// DownloadOptions say how Download saves a file; the zero value keeps an
// existing file and reports no progress.
type DownloadOptions struct {
	// Overwrite replaces a file already at the destination; without it,
	// Download refuses with an error that is os.ErrExist.
	Overwrite bool
	// Progress, if not nil, is told how much has arrived.
	Progress Progress
}

// Download saves the file's content at dest: a file path, or an existing
// directory to save it in under the file's own name. The content goes
// to a temporary file in the same directory, renamed into place once
// whole, so dest never holds part of a file. The file gets the mode a
// new file of os.Create gets (0666 less the umask). Download returns the
// file and the path it wrote.
//
// Without Overwrite, an existing file is checked for before the transfer
// and again just before the rename; a file made in between those two
// moments and the rename would be replaced.
func (c *Client) Download(ctx context.Context, id, dest string, opt DownloadOptions) (*File, string, error) {
	var dl struct {
		URL  string `json:"url"`
		File File   `json:"file"`
	}
	if err := c.do(ctx, "GET", "/download/"+url.PathEscape(id), nil, &dl); err != nil {
		return nil, "", err
	}
	path, err := downloadPath(dest, dl.File.Filename)
	if err == nil && !opt.Overwrite {
		err = notThere(path) // before the transfer, so that a refusal costs nothing
	}
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", dl.URL, nil) // no Authorization: pre-signed
	if err != nil {
		return nil, "", err
	}
	resp, err := c.transfer().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", readError(resp)
	}
	tmp, err := createTemp(filepath.Dir(path))
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	n, err := io.Copy(tmp, &countingReader{r: resp.Body, total: resp.ContentLength, progress: opt.Progress})
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("download cut short: %d of %d bytes", n, resp.ContentLength)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && !opt.Overwrite {
		err = notThere(path) // again: it may have come while the content did
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, "", err
	}
	return &dl.File, path, nil
}

// downloadPath is where a download to dest goes: dest itself, or, if dest
// is a directory, the file's name in it.
func downloadPath(dest, filename string) (string, error) {
	if info, err := os.Stat(dest); err != nil || !info.IsDir() {
		return dest, nil
	}
	name, err := localName(filename)
	if err != nil {
		return "", err
	}
	return filepath.Join(dest, name), nil
}

// localName is a file's name as the server gives it, made a name in a
// directory. The server refuses unsafe names at upload, but the client
// does not rely on that: a name that is empty, "." or "..", that holds a
// separator of any system, or that is not local to the directory (on
// Windows: a drive, a stream or a reserved name) is refused, so that no
// name can write outside the directory.
func localName(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || !filepath.IsLocal(name) {
		return "", fmt.Errorf("dropp: the file's name %q cannot be a file name here: give the path to save it as", name)
	}
	return name, nil
}

// notThere is nil if nothing is at path, and an error that is
// os.ErrExist if something is.
func notThere(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return &os.PathError{Op: "download", Path: path, Err: os.ErrExist}
	}
	return nil
}

// createTemp makes a new hidden temporary file in dir, with mode 0666
// before the umask, as os.Create does: the downloaded file keeps it
// through the rename. (os.CreateTemp's 0600 would make every download
// private to its user, unlike any other file the user saves.)
func createTemp(dir string) (*os.File, error) {
	for {
		f, err := os.OpenFile(filepath.Join(dir, ".dropp-download-"+randomString()[:16]), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrNotExist) {
			// Name the folder the user gave, not the hidden file's name.
			return nil, &os.PathError{Op: "download into", Path: dir, Err: os.ErrNotExist}
		}
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
}
