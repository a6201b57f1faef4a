package client

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Share is a link to complete files (one, or several: a drop, drops.go)
// that anyone holding it can open, until it expires, is used up or is
// revoked.
type Share struct {
	ID           string      `json:"id"`
	FileID       string      `json:"file_id"`       // the file it was made with (the first of a drop)
	Files        []ShareFile `json:"files"`         // every file, in order, with its downloads
	URL          string      `json:"url,omitempty"` // the link to hand out: in CreateShare's answer only
	ExpiresAt    time.Time   `json:"expires_at"`
	MaxDownloads *int64      `json:"max_downloads"` // of each file; nil: no limit
	Downloads    int64       `json:"downloads"`     // of all its files
	AllowPreview bool        `json:"allow_preview"`
	CreatedAt    time.Time   `json:"created_at"`
	Protected    bool        `json:"protected"`    // the link asks for a password
	MembersOnly  bool        `json:"members_only"` // only users signed in to the server can open it
}

// ShareOptions shape a new share; the zero value takes the server's
// default lifetime (SHARE_TTL_SECONDS) and sets no download limit.
type ShareOptions struct {
	// ExpiresIn is the link's lifetime, in whole seconds (rounded up), at
	// most the server's SHARE_MAX_TTL_SECONDS; 0: the server's default.
	ExpiresIn time.Duration
	// MaxDownloads is how many downloads of each file the link allows
	// (1..100000); 0: no limit.
	MaxDownloads int64
	// Password protects the link: whoever opens it must give it (12 to
	// 256 characters, not a common password); "": no password.
	Password string
	// MembersOnly lets only users signed in to the server open the link.
	MembersOnly bool
	// AllowPreview shows previews on a link with a download limit (a link
	// without one always shows them).
	AllowPreview bool
}

// CreateShare makes a link to the user's complete file; its URL is in
// the answer and nowhere else, later.
func (c *Client) CreateShare(ctx context.Context, fileID string, opt ShareOptions) (*Share, error) {
	return c.shareCall(ctx, "POST", "/files/"+url.PathEscape(fileID)+"/shares", opt.body())
}

// body is the JSON body the options make.
func (opt ShareOptions) body() map[string]any {
	body := map[string]any{}
	if opt.ExpiresIn > 0 {
		body["expires_in"] = int64((opt.ExpiresIn + time.Second - 1) / time.Second)
	}
	if opt.MaxDownloads != 0 {
		body["max_downloads"] = opt.MaxDownloads
	}
	if opt.Password != "" {
		body["password"] = opt.Password
	}
	if opt.MembersOnly {
		body["members_only"] = true
	}
	if opt.AllowPreview {
		body["allow_preview"] = true
	}
	return body
}

// sharePageLimit is the page size ListShares asks for; 0 leaves it to
// the server. The tests set it small to walk several pages.
var sharePageLimit = 0

// ListShares returns the file's unexpired shares, oldest first, without
// their URLs. It follows the answer's next_cursor, if the server pages
// the list, to the last page.
func (c *Client) ListShares(ctx context.Context, fileID string) ([]Share, error) {
	return c.listShares(ctx, "/files/"+url.PathEscape(fileID)+"/shares")
}

// listShares walks the pages of a list of shares at path.
func (c *Client) listShares(ctx context.Context, path string) ([]Share, error) {
	all := []Share{}
	q := url.Values{}
	if sharePageLimit > 0 {
		q.Set("limit", fmt.Sprint(sharePageLimit))
	}
	for {
		var page struct {
			Shares     []Share `json:"shares"`
			NextCursor *string `json:"next_cursor"` // absent or nil on the last page
		}
		if err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return all, err
		}
		all = append(all, page.Shares...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// RevokeShare ends a share at once; its link answers 404 from then on.
func (c *Client) RevokeShare(ctx context.Context, shareID string) error {
	return c.do(ctx, "DELETE", "/shares/"+url.PathEscape(shareID), nil, nil)
}
