// Package client is Dropp's reference Go client: what a desktop app needs,
// written against the README and openapi.json only. It signs in through a
// loopback listener (PKCE S256, state check, timeout), uploads a file
// through the form the server hands out, lists with pagination, downloads
// to a file, deletes, and reads /me; transfers report progress.
//
// It uses only the standard library, in its own module, so that the
// server's go.mod does not change.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one Dropp server as one signed-in user.
type Client struct {
	// BaseURL is the server, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Token is the access token from SignIn. There is no refresh token:
	// on an *Error with Status 401, sign in again.
	Token string
	// API makes the JSON calls; nil means a client with a 30 s timeout.
	API *http.Client
	// Transfer makes the uploads and downloads, which may take long; nil
	// means http.DefaultClient (no overall timeout: cancel the context).
	Transfer *http.Client
}

// New returns a client of the server at baseURL acting with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token}
}

var defaultAPIClient = &http.Client{Timeout: 30 * time.Second}

func (c *Client) api() *http.Client {
	if c.API != nil {
		return c.API
	}
	return defaultAPIClient
}

func (c *Client) transfer() *http.Client {
	if c.Transfer != nil {
		return c.Transfer
	}
	return http.DefaultClient
}

// Error is a refusal by the server: the API's {"error","message"} shape,
// an OAuth error of /auth/token (Code is its "error"), or an S3-style XML
// error of an upload or download URL (Code is S3's, e.g. "EntityTooSmall").
type Error struct {
	Status  int    // HTTP status
	Code    string // machine-readable code: branch on this
	Message string // human text
}

func (e *Error) Error() string {
	return fmt.Sprintf("dropp: %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCode tells whether err is an *Error with the code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Progress is told how many bytes of a transfer are done, of total (-1
// when unknown). It is called from the transfer's goroutine.
type Progress func(done, total int64)

// File is a file record, as the API shows it.
type File struct {
	ID          string     `json:"id"`
	Filename    string     `json:"filename"`
	Size        *int64     `json:"size"`
	ContentType string     `json:"content_type"`
	Status      string     `json:"status"` // "pending" or "complete"
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
	// Only on a file sent through a file request (requests.go).
	RequestID  string `json:"request_id,omitempty"`
	SenderName string `json:"sender_name,omitempty"`
	SenderNote string `json:"sender_note,omitempty"`
}

// User is who is signed in.
type User struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Picture string `json:"picture"`
}

// Usage is what a user stores against the quota (nil quota: unlimited).
type Usage struct {
	Bytes      int64  `json:"bytes"`
	Files      int64  `json:"files"`
	QuotaBytes *int64 `json:"quota_bytes"`
	QuotaFiles *int64 `json:"quota_files"`
}

// Me is the answer of GET /me.
type Me struct {
	User  User  `json:"user"`
	Usage Usage `json:"usage"`
}

// do makes one JSON API call; out, if not nil, receives a 2xx body.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json") // the routes that can answer a page too (a link's) answer JSON
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.api().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// readError reads a refusal in whichever shape it came: JSON (the API's or
// OAuth's) or S3's XML.
func readError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case mt == "application/json":
		var j struct {
			Error            string `json:"error"`
			Message          string `json:"message"`
			ErrorDescription string `json:"error_description"` // /auth/token's OAuth shape
		}
		if json.Unmarshal(data, &j) == nil && j.Error != "" {
			e.Code, e.Message = j.Error, j.Message+j.ErrorDescription
		}
	case strings.HasSuffix(mt, "xml"):
		var x struct{ Code, Message string }
		if xml.Unmarshal(data, &x) == nil {
			e.Code, e.Message = x.Code, x.Message
		}
	}
	return e
}

// Me returns who is signed in and their usage.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var me Me
	if err := c.do(ctx, "GET", "/me", nil, &me); err != nil {
		return nil, err
	}
	return &me, nil
}

// Logout revokes the client's token; the client cannot be used after.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, "POST", "/auth/logout", nil, nil)
}

// Delete deletes a file and its content.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/files/"+url.PathEscape(id), nil, nil)
}

// ListOptions narrow a list; the zero value lists everything, 100 a page.
type ListOptions struct {
	Limit  int    // 1..1000; 0 means the server's default (100)
	Cursor string // NextCursor of the previous page
	Status string // "", "pending" or "complete"
}

// Page is one page of a list, newest first.
type Page struct {
	Files      []File  `json:"files"`
	NextCursor *string `json:"next_cursor"` // nil on the last page
}

// List returns one page of the user's files.
func (c *Client) List(ctx context.Context, opt ListOptions) (*Page, error) {
	q := url.Values{}
	if opt.Limit > 0 {
		q.Set("limit", fmt.Sprint(opt.Limit))
	}
	if opt.Cursor != "" {
		q.Set("cursor", opt.Cursor)
	}
	if opt.Status != "" {
		q.Set("status", opt.Status)
	}
	var p Page
	if err := c.do(ctx, "GET", "/list/?"+q.Encode(), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ListAll follows the cursors to the end and returns every file.
func (c *Client) ListAll(ctx context.Context, opt ListOptions) ([]File, error) {
	var all []File
	for {
		p, err := c.List(ctx, opt)
		if err != nil {
			return all, err
		}
		all = append(all, p.Files...)
		if p.NextCursor == nil {
			return all, nil
		}
		opt.Cursor = *p.NextCursor
	}
}
