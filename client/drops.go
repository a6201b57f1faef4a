package client

import (
	"context"
	"net/url"
)

// ShareFile is one file of a share link and the downloads counted of it.
type ShareFile struct {
	ID        string `json:"id"`
	Downloads int64  `json:"downloads"`
}

// CreateDrop makes one link to several of the user's complete files (1 to
// 100), in that order; MaxDownloads allows that many downloads of each.
// Its URL is in the answer and nowhere else, later.
func (c *Client) CreateDrop(ctx context.Context, fileIDs []string, opt ShareOptions) (*Share, error) {
	body := opt.body()
	body["file_ids"] = fileIDs
	return c.shareCall(ctx, "POST", "/shares", body)
}

// ListAllShares returns every unexpired link of the user, oldest first,
// without their URLs, following the pages to the last.
func (c *Client) ListAllShares(ctx context.Context) ([]Share, error) {
	return c.listShares(ctx, "/shares")
}

// AddDropFiles adds complete files to a link, after those it has, and
// returns the link as it now is.
func (c *Client) AddDropFiles(ctx context.Context, shareID string, fileIDs []string) (*Share, error) {
	return c.shareCall(ctx, "POST", "/shares/"+url.PathEscape(shareID)+"/files", map[string]any{"file_ids": fileIDs})
}

// RemoveDropFile takes a file out of a link; its downloads so far are
// forgotten.
func (c *Client) RemoveDropFile(ctx context.Context, shareID, fileID string) error {
	return c.do(ctx, "DELETE", "/shares/"+url.PathEscape(shareID)+"/files/"+url.PathEscape(fileID), nil, nil)
}

// PreviewURL is a URL that shows the user's file inline (images, audio,
// video and PDF only: any other type is refused with "forbidden").
func (c *Client) PreviewURL(ctx context.Context, fileID string) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	err := c.do(ctx, "GET", "/files/"+url.PathEscape(fileID)+"/preview", nil, &out)
	return out.URL, err
}

// shareCall sends body and reads the {"share": ...} answer.
func (c *Client) shareCall(ctx context.Context, method, path string, body any) (*Share, error) {
	var out struct {
		Share Share `json:"share"`
	}
	if err := c.do(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out.Share, nil
}
