package client

import (
	"context"
	"fmt"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// FileRequest is an upload link: anyone who holds its URL may send files
// into the owner's account, up to MaxFiles files and MaxBytes bytes in
// all, until it expires or the owner closes it. They can never list,
// download or delete anything.
type FileRequest struct {
	ID            string    `json:"id"`
	URL           string    `json:"url,omitempty"` // the link to hand out: in CreateRequest's answer only
	Title         string    `json:"title"`
	Message       string    `json:"message"`
	MaxFiles      int64     `json:"max_files"`
	MaxBytes      int64     `json:"max_bytes"`
	ContentTypes  []string  `json:"content_types"` // empty: any
	Closed        bool      `json:"closed"`
	FilesReceived int64     `json:"files_received"`
	BytesReceived int64     `json:"bytes_received"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	Protected     bool      `json:"protected"`    // the link asks for a password
	MembersOnly   bool      `json:"members_only"` // only users signed in to the server can open it
}

// RequestOptions shape a new file request. Title, MaxFiles and MaxBytes
// are required.
type RequestOptions struct {
	Title   string
	Message string // optional; line breaks allowed
	// ExpiresIn is the link's lifetime in whole seconds (rounded up), at
	// most the server's SHARE_MAX_TTL_SECONDS; 0: the server's default.
	ExpiresIn time.Duration
	MaxFiles  int64
	MaxBytes  int64
	// ContentTypes are the types the request takes ("image/*" takes any
	// image); empty: any.
	ContentTypes []string
	// Password protects the link as a share link's (ShareOptions): every
	// sender must give it first; "": no password.
	Password string
	// MembersOnly lets only users signed in to the server send to it.
	MembersOnly bool
}

// CreateRequest makes a file request; its URL is in the answer and
// nowhere else, later.
func (c *Client) CreateRequest(ctx context.Context, opt RequestOptions) (*FileRequest, error) {
	body := map[string]any{"title": opt.Title, "max_files": opt.MaxFiles, "max_bytes": opt.MaxBytes}
	if opt.Message != "" {
		body["message"] = opt.Message
	}
	if opt.ExpiresIn > 0 {
		body["expires_in"] = int64((opt.ExpiresIn + time.Second - 1) / time.Second)
	}
	if len(opt.ContentTypes) > 0 {
		body["content_types"] = opt.ContentTypes
	}
	if opt.Password != "" {
		body["password"] = opt.Password
	}
	if opt.MembersOnly {
		body["members_only"] = true
	}
	return c.requestCall(ctx, "POST", "/requests", body)
}

// requestPageLimit is the page size ListRequests asks for; 0 leaves it to
// the server. The tests set it small to walk several pages.
var requestPageLimit = 0

// ListRequests returns the user's unexpired file requests, oldest first,
// without their URLs, following next_cursor to the last page.
func (c *Client) ListRequests(ctx context.Context) ([]FileRequest, error) {
	all := []FileRequest{}
	q := url.Values{}
	if requestPageLimit > 0 {
		q.Set("limit", fmt.Sprint(requestPageLimit))
	}
	for {
		var page struct {
			Requests   []FileRequest `json:"requests"`
			NextCursor *string       `json:"next_cursor"`
		}
		if err := c.do(ctx, "GET", "/requests?"+q.Encode(), nil, &page); err != nil {
			return all, err
		}
		all = append(all, page.Requests...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// CloseRequest closes a file request: its link answers 404 until reopened.
func (c *Client) CloseRequest(ctx context.Context, id string) (*FileRequest, error) {
	return c.requestCall(ctx, "POST", "/requests/"+url.PathEscape(id)+"/close", nil)
}

// ReopenRequest reopens a closed file request.
func (c *Client) ReopenRequest(ctx context.Context, id string) (*FileRequest, error) {
	return c.requestCall(ctx, "POST", "/requests/"+url.PathEscape(id)+"/reopen", nil)
}

// DeleteRequest ends a file request at once; the files it received stay.
func (c *Client) DeleteRequest(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/requests/"+url.PathEscape(id), nil, nil)
}

// requestCall makes a call that answers {"request": ...}.
func (c *Client) requestCall(ctx context.Context, method, path string, body any) (*FileRequest, error) {
	var out struct {
		Request FileRequest `json:"request"`
	}
	if err := c.do(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out.Request, nil
}

// Sender is who sends through a file request: optional plain text, and
// the password of a protected request.
type Sender struct {
	Name string // at most 100 bytes, one line
	Note string // at most 1000 bytes
	// Password is a password-protected request's: it is posted to the link
	// first (POST /r/{token}), and the cookie the server answers with goes
	// with every upload call. "": the request asks for none.
	Password string
}

// SendToRequest sends the file at path through the file request link, as
// a stranger does: no credential (a members-only request refuses it: use
// (*Client).SendToRequest), the same upload paths as Upload (a form, a
// PUT, or parts, straight to the object store). The answer is the file as
// the owner's account now holds it.
func SendToRequest(ctx context.Context, link, path, contentType string, from Sender, progress Progress) (*File, error) {
	return (&Client{}).SendToRequest(ctx, link, path, contentType, from, progress)
}

// SendToRequest is the package's SendToRequest as the signed-in user of
// c, so that a members-only request takes the file: c's token goes with
// every call, but only to c's own server (BaseURL); a link of another
// server is sent to as a stranger, and never sees the token.
func (c *Client) SendToRequest(ctx context.Context, link, path, contentType string, from Sender, progress Progress) (*File, error) {
	rc := &Client{BaseURL: strings.TrimSuffix(link, "/"), API: c.API, Transfer: c.Transfer}
	if sameServer(c.BaseURL, link) {
		rc.Token = c.Token
	}
	if from.Password != "" {
		if err := rc.unlock(ctx, from.Password); err != nil {
			return nil, err
		}
	}
	extra := map[string]any{}
	if from.Name != "" {
		extra["sender_name"] = from.Name
	}
	if from.Note != "" {
		extra["sender_note"] = from.Note
	}
	return rc.upload(ctx, path, contentType, extra, progress)
}

// unlock posts a protected link's password to the link (c.BaseURL) and
// keeps the cookie it sets, which the link's routes need, in a jar of
// c's own API client (a copy: the caller's client is left as it was).
func (c *Client) unlock(ctx context.Context, password string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	api := *c.api()
	api.Jar = jar
	c.API = &api
	// A right password is answered 303 back to the link, followed here
	// with the cookie; a wrong one 401.
	return c.do(ctx, "POST", "", map[string]string{"password": password}, nil)
}

// sameServer tells whether the link is on the server at base: the same
// scheme, host and port.
func sameServer(base, link string) bool {
	b, err := url.Parse(base)
	l, lerr := url.Parse(link)
	return err == nil && lerr == nil && b.Host != "" && b.Scheme == l.Scheme && strings.EqualFold(b.Host, l.Host)
}
