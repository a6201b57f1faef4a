package main

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestSharePreviewURLLivesAsADownload: the URL a share link's preview
// redirects to lives as its download URL does, shareDownloadTTL, not
// PRESIGN_TTL_SECONDS, and never past the link's own expiry: a revoked or
// expired link stops showing the file (an image, a PDF, a video is its
// whole content) as soon as it stops downloading it.
func TestSharePreviewURLLivesAsADownload(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(nil), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		png := []byte("\x89PNG\r\n\x1a\n not really")
		f, _ := e.stored(alice, map[string]any{"filename": "p.png", "content_type": "image/png", "size": len(png)}, png)
		for _, c := range []struct {
			name      string
			expiresIn int
		}{{"a link of a week", 7 * 24 * 3600}, {"a link of 30 s", 30}} {
			sh := e.share(alice, f.ID, map[string]any{"expires_in": c.expiresIn})
			resp, body := e.link("GET", sh.URL, "/files/"+f.ID+"/preview", asBrowser)
			wantStatus(t, resp, body, http.StatusSeeOther)
			at := presignedExpiry(t, resp.Header.Get("Location"))
			if limit := e.clock.now().Add(shareDownloadTTL + time.Second); at.After(limit) || at.After(sh.ExpiresAt) {
				t.Errorf("%s: its preview URL lives until %v, past %v (shareDownloadTTL) or the link's expiry %v",
					c.name, at, limit.Truncate(time.Second), sh.ExpiresAt)
			}
		}
	})
}

// presignedExpiry is when a pre-signed URL of either object store dies:
// the local store's "expires" (Unix seconds), or S3's X-Amz-Date plus
// X-Amz-Expires.
func presignedExpiry(t *testing.T, location string) time.Time {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("Location %q: %v", location, err)
	}
	q := u.Query()
	if exp := q.Get("expires"); exp != "" {
		at, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			t.Fatalf("Location %q: expires: %v", location, err)
		}
		return time.Unix(at, 0)
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	secs, serr := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || serr != nil {
		t.Fatalf("Location %q is neither a local nor an S3 pre-signed URL", location)
	}
	return signed.Add(time.Duration(secs) * time.Second)
}
