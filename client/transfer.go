package client

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
)

// uploadForm is where and how to send a file's content.
type uploadForm struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

// Upload sends the file at path: it creates the upload (declaring the
// size, and contentType if not ""), posts the content through the form the
// server answered, then completes it. progress may be nil.
func (c *Client) Upload(ctx context.Context, path, contentType string, progress Progress) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	create := map[string]any{"filename": filepath.Base(path), "size": info.Size()}
	if contentType != "" {
		create["content_type"] = contentType
	}
	var created struct {
		File   File       `json:"file"`
		Upload uploadForm `json:"upload"`
	}
	if err := c.do(ctx, "POST", "/upload/", create, &created); err != nil {
		return nil, err
	}
	if err := c.postForm(ctx, created.Upload, f, info.Size(), progress); err != nil {
		return nil, err
	}
	var done struct {
		File File `json:"file"`
	}
	if err := c.do(ctx, "POST", "/upload/"+url.PathEscape(created.File.ID)+"/complete", nil, &done); err != nil {
		return nil, err
	}
	return &done.File, nil
}

// postForm streams the form: every field unchanged (their names differ
// between S3 and local mode), then the file last. The pre-signed URL gets
// no Authorization header: S3 refuses one that carries it.
func (c *Client) postForm(ctx context.Context, form uploadForm, content io.Reader, size int64, progress Progress) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeForm(mw, form.Fields, &countingReader{r: content, total: size, progress: progress}))
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", form.URL, pr)
	if err != nil {
		pr.Close()
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.transfer().Do(req)
	pr.Close() // stops the writer if the server answered early
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	return nil
}

func writeForm(mw *multipart.Writer, fields map[string]string, content io.Reader) error {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := mw.WriteField(k, fields[k]); err != nil {
			return err
		}
	}
	part, err := mw.CreateFormFile("file", "file")
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, content); err != nil {
		return err
	}
	return mw.Close()
}

// countingReader reports progress as its reader is read.
type countingReader struct {
	r        io.Reader
	done     int64
	total    int64
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.progress != nil && (n > 0 || err == io.EOF) {
		c.progress(c.done, c.total)
	}
	return n, err
}

// Download writes the file's content to dest, through a temporary file in
// the same directory renamed into place once whole. progress may be nil.
func (c *Client) Download(ctx context.Context, id, dest string, progress Progress) (*File, error) {
	var dl struct {
		URL  string `json:"url"`
		File File   `json:"file"`
	}
	if err := c.do(ctx, "GET", "/download/"+url.PathEscape(id), nil, &dl); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", dl.URL, nil) // no Authorization: pre-signed
	if err != nil {
		return nil, err
	}
	resp, err := c.transfer().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readError(resp)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".dropp-download-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	n, err := io.Copy(tmp, &countingReader{r: resp.Body, total: resp.ContentLength, progress: progress})
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("download cut short: %d of %d bytes", n, resp.ContentLength)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		return nil, err
	}
	return &dl.File, nil
}
