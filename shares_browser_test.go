//go:build unix

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openForDownloads opens url in a new page of chrome, its downloads saved
// to a new directory; it returns the page and the directory.
func openForDownloads(t *testing.T, chrome *cdpClient, url string) (page, downloads string) {
	t.Helper()
	page, downloads = openPage(t, chrome), t.TempDir()
	err := chrome.call("", "Browser.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": downloads, "eventsEnabled": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	navigate(t, chrome, page, url)
	return page, downloads
}

// TestRealBrowserShareLink opens a share link in headless Chromium, clicks
// Download and checks the file it saves, with the local object store and
// with S3, whose pre-signed URL is on another origin. The page's style
// must apply under its CSP, the form's redirect must pass the CSP's
// form-action, no request to Dropp may carry the token in Referer, and
// opening the page must not count. It saves a screenshot of the page to
// artifacts/share-page.png.
func TestRealBrowserShareLink(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	// One browser, one case after the other: a loaded machine starts a
	// browser slowly enough.
	chrome := startChromium(t)
	t.Run("local", func(t *testing.T) { browseShareLink(t, chrome, nil, "share-page.png") })
	t.Run("s3", func(t *testing.T) { browseShareLink(t, chrome, s3TestEnv(t, testBucket(t)), "share-page-s3.png") })
}

// browseShareLink is TestRealBrowserShareLink on a local-mode server with
// env added, in a new tab of chrome.
func browseShareLink(t *testing.T, chrome *cdpClient, env map[string]string, screenshot string) {
	e, referers := newRefererRecordingEnv(t, env)
	a := shareEnv{apiTester: apiTester{e}}
	alice := e.newUser("alice")
	content := []byte("bytes a browser fetched through a share link\n")
	f, _ := a.stored(alice, map[string]any{"filename": "shared report é.txt", "content_type": "text/plain"}, content)
	sh := a.share(alice, f.ID, map[string]any{"max_downloads": 3})
	token := strings.TrimPrefix(sh.URL, e.URL+"/s/")

	page, downloads := openForDownloads(t, chrome, sh.URL)
	shown := waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "Download") })
	saveScreenshotAs(t, chrome, page, screenshot)
	if !strings.Contains(shown.Text, "shared report é.txt") || !strings.Contains(shown.Text, "3 downloads left") {
		t.Errorf("share page shows:\n%s", shown.Text)
	}
	wantOwnStyle(t, shown, "page")
	if n := a.shares(alice, f.ID)[0].Downloads; n != 0 {
		t.Errorf("opening the page counted %d downloads", n)
	}

	clickSelector(t, chrome, page, "#download")
	saved := waitForDownload(t, chrome, filepath.Join(downloads, "shared report é.txt"))
	if !bytes.Equal(saved, content) {
		t.Errorf("the browser saved %q, want %q", saved, content)
	}
	if n := a.shares(alice, f.ID)[0].Downloads; n != 1 {
		t.Errorf("one click counted %d downloads", n)
	}
	seen := referers()
	if !slicesContainsPrefix(seen, "POST /s/") || env == nil && !slicesContainsPrefix(seen, "GET /objects/") {
		t.Fatalf("the browser's download requests were not seen: %v", seen)
	}
	for _, r := range seen {
		if _, referer, _ := strings.Cut(r, " referer="); strings.Contains(referer, token) {
			t.Errorf("the token leaked in a Referer: %s", r)
		}
	}
}

// newRefererRecordingEnv starts a local-mode server behind a recorder of
// each request's method, path and Referer.
func newRefererRecordingEnv(t *testing.T, env map[string]string) (*testEnv, func() []string) {
	t.Helper()
	e := newLocalTestEnv(t, env)
	var mu sync.Mutex
	var seen []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" referer="+`"`+r.Header.Get("Referer")+`"`)
		mu.Unlock()
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	recorded := *e
	recorded.URL = ts.URL
	return &recorded, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// slicesContainsPrefix reports whether a line of lines starts with prefix.
func slicesContainsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// waitForDownload waits up to 20 s for chrome to say it completed the
// download saved at path (its download behavior set with eventsEnabled),
// and returns the file. A file at path is not enough: Chromium can show
// one there, empty, before the download is complete.
func waitForDownload(t *testing.T, chrome *cdpClient, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !chrome.downloads.completed(path) {
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(path))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("no completed download at %s; the directory holds %v; downloads seen: %v", path, names, &chrome.downloads)
		}
		time.Sleep(50 * time.Millisecond)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the completed download: %v", err)
	}
	return data
}

// TestSharePageCountsDownInChromium (issue 18 §5): the share page's
// "downloads left" follows each download made from it, and the button
// goes once none is left; before, it showed the count of when it opened.
func TestSharePageCountsDownInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	a := shareEnv{apiTester: apiTester{e}}
	alice := e.newUser("alice")
	f, _ := a.stored(alice, map[string]any{"filename": "counted.txt", "content_type": "text/plain"}, []byte("counted\n"))
	sh := a.share(alice, f.ID, map[string]any{"max_downloads": 2})

	chrome := startChromium(t)
	page, _ := openForDownloads(t, chrome, sh.URL)
	waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "2 downloads left") })
	clickSelector(t, chrome, page, "#download")
	waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "1 download left") })
	clickSelector(t, chrome, page, "#download")
	waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "0 downloads left") })
	var disabled bool
	if err := chrome.evaluate(page, `document.getElementById("download").disabled`, &disabled); err != nil || !disabled {
		t.Errorf("with no download left the button is still enabled (%v)", err)
	}
	if n := a.shares(alice, f.ID)[0].Downloads; n != 2 {
		t.Errorf("two clicks counted %d downloads", n)
	}
}

// TestPagesWriteSizesAndDatesAlike (issue 18 §5): the web page's list and
// a share link's page write one file's size the same way (binary units,
// humanSize) and their times the same way (UTC, humanTime); the list once
// said "31 MB" where the share page said "30.0 MiB".
func TestPagesWriteSizesAndDatesAlike(t *testing.T) {
	t.Parallel()
	_, chrome, page := openLocalApp(t)
	const size = 1536 // "1.5 KiB"; in decimal units "1.5 KB"
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "sized.bin", bytes.Repeat([]byte("s"), size)))
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "sized.bin") && allHave(s.Files, "complete") })

	const shareJS = `(async () => {
		const f = (await (await fetch("/list/")).json()).files[0];
		const resp = await fetch("/files/" + f.id + "/shares", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"});
		return {created: f.created_at, share: (await resp.json()).share};
	})()`
	var got struct {
		Created time.Time
		Share   struct {
			URL       string
			ExpiresAt time.Time `json:"expires_at"`
		}
	}
	if err := chrome.evaluate(page, shareJS, &got); err != nil {
		t.Fatal(err)
	}
	st := waitForApp(t, chrome, page, func(appState) bool { return true })
	if want := "sized.bin " + humanSize(size) + " · complete · " + humanTime(got.Created); !slicesHas(st.Files, want) {
		t.Errorf("the list shows %q, want %q", st.Files, want)
	}

	stranger := openFreshPage(t, chrome)
	navigate(t, chrome, stranger, got.Share.URL)
	shown := waitForPage(t, chrome, stranger, func(s pageState) bool { return strings.Contains(s.Text, "sized.bin") })
	if want := humanSize(size) + " · link expires " + humanTime(got.Share.ExpiresAt); !strings.Contains(shown.Text, want) {
		t.Errorf("the share page shows:\n%s\nwant %q", shown.Text, want)
	}
}
