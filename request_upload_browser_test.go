//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The file request page uploads with the owner's page's uploader
// (uploader.js), so what issue 18 §1 fixed there holds for a stranger too:
// the same big file dropped in two tabs has one writer and ends as one
// intact file, and a reload mid-upload resumes, sending again the part
// that was on its way. As page_drop_browser_test.go does for the owner's
// page: a 17 MiB file in 4 parts on a throttled link, on the local stores
// and on MongoDB with S3, bytes checked through the owner's download.

// openRequestAsStranger has the owner's page create a file request and
// opens its link in a fresh browser context (no cookie, no storage); it
// returns the link, the stranger's browser context and tab.
func openRequestAsStranger(t *testing.T, c *cdpClient, owner string) (link, ctx, page string) {
	t.Helper()
	const createJS = `fetch("/requests", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({title: "Big files, please", max_files: 5, max_bytes: 100 * 1024 * 1024})})
		.then(r => r.json()).then(r => (r.request && r.request.url) || JSON.stringify(r))`
	if err := c.evaluate(owner, createJS, &link); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link, "/r/") {
		t.Fatalf("POST /requests made no link (%q)", link)
	}
	ctx, err := c.newBrowserContext()
	if err != nil {
		t.Fatal(err)
	}
	return link, ctx, openRequestTab(t, c, ctx, link)
}

// openRequestTab opens the request link in another tab of the browser
// context ctx (same storage and locks), and waits for its script.
func openRequestTab(t *testing.T, c *cdpClient, ctx, link string) string {
	t.Helper()
	page, err := c.openPageIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.call(page, "Page.navigate", map[string]any{"url": link}, nil); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, c, page, func(s appState) bool { return s.Ready })
	return page
}

// requestSettled tells whether every upload line of the request page has
// ended: sent or failed.
func requestSettled(s appState) bool {
	for _, row := range s.Uploads {
		if !strings.Contains(row, "Sent") && !strings.Contains(row, "Failed") {
			return false
		}
	}
	return true
}

// requireOneReceivedFile waits until every given stranger's tab has ended
// its uploads, then wants none failed and the owner's GET /list/ to hold
// exactly one file, complete, of data's size, whose download has data's
// SHA-256.
func requireOneReceivedFile(t *testing.T, c *cdpClient, owner, name string, data []byte, pages ...string) {
	t.Helper()
	for _, page := range pages {
		s := waitForApp(t, c, page, requestSettled)
		if slicesHas(s.Uploads, "Failed") {
			t.Errorf("an upload line failed: %q", s.Uploads)
		}
	}
	files := listFiles(t, c, owner)
	if len(files) != 1 || files[0].Filename != name || files[0].Status != "complete" ||
		files[0].Size == nil || *files[0].Size != int64(len(data)) {
		t.Fatalf("the owner's GET /list/ has %+v, want one complete %s of %d bytes", files, name, len(data))
	}
	want := sha256.Sum256(data)
	if got := fetchSHA256(t, c, owner, "GET", fmt.Sprintf("/download/%s?redirect=1", files[0].ID)); got != hex.EncodeToString(want[:]) {
		t.Errorf("%s downloads with SHA-256 %s, want %x", name, got, want)
	}
}

// TestRequestPageTwoTabsOneFile: a stranger drops the same big file in a
// second tab of the request page while the first uploads it; it ends as
// one complete, intact file, each part sent once (one writer), and no
// line failed.
func TestRequestPageTwoTabsOneFile(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, owner := openSignedInApp(t, base)
		link, ctx, first := openRequestAsStranger(t, chrome, owner)
		data := randomBytes(t, dropFileSize)
		file := writeTestFile(t, t.TempDir(), "two-tabs.bin", data)

		countPuts(t, chrome, first)
		throttle(t, chrome, first, dropThrottle)
		pick(t, chrome, first, file)
		waitForApp(t, chrome, first, func(s appState) bool { return s.Progress > 5 && s.Progress < 50 })
		second := openRequestTab(t, chrome, ctx, link)
		countPuts(t, chrome, second)
		pick(t, chrome, second, file)
		waitForApp(t, chrome, second, func(s appState) bool { return len(s.Uploads) == 1 })
		time.Sleep(2 * time.Second) // a second writer starts at once
		throttle(t, chrome, first, 0)
		requireOneReceivedFile(t, chrome, owner, "two-tabs.bin", data, first, second)
		requireOneWriter(t, chrome, first, second)
	})
}

// TestRequestPageReloadThenResume: a stranger's tab reloaded mid-upload
// shows the upload as unfinished; the same file chosen again resumes it
// (the part cut off by the reload is sent again, not kept as the store
// left it), and it ends complete, once, with the right bytes.
func TestRequestPageReloadThenResume(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, owner := openSignedInApp(t, base)
		_, _, page := openRequestAsStranger(t, chrome, owner)
		data := randomBytes(t, dropFileSize)
		file := writeTestFile(t, t.TempDir(), "reloaded.bin", data)

		throttle(t, chrome, page, reloadThrottle)
		pick(t, chrome, page, file)
		// The parts the server holds of the upload the page remembers (in
		// whichever localStorage entry it keeps multipart uploads).
		const partsJS = `(async () => {
			const key = Object.keys(localStorage).find(k => k.endsWith("multipart"));
			const r = key && JSON.parse(localStorage.getItem(key) || "[]")[0];
			if (!r) return 0;
			const resp = await fetch(location.pathname + "/upload/" + r.id + "/parts", {headers: {Accept: "application/json"}});
			return resp.ok ? (await resp.json()).parts.length : 0;
		})()`
		var stored int
		waitForApp(t, chrome, page, func(appState) bool {
			return chrome.evaluate(page, partsJS, &stored) == nil && stored >= 1
		})
		if chrome.evaluate(page, partsJS, &stored); stored >= dropParts {
			t.Fatal("the upload ended before the reload: throttle harder")
		}

		if err := chrome.call(page, "Page.reload", map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		waitForApp(t, chrome, page, func(s appState) bool { return s.Ready })
		if !eventually(5*time.Second, func() bool {
			var s appState
			return chrome.evaluate(page, appStateJS, &s) == nil && strings.Contains(s.Text, "Unfinished: reloaded.bin")
		}) {
			t.Error("after the reload the page does not name the unfinished upload")
		}
		throttle(t, chrome, page, 0)
		pick(t, chrome, page, file)
		requireOneReceivedFile(t, chrome, owner, "reloaded.bin", data, page)
		waitForApp(t, chrome, page, func(s appState) bool { return !strings.Contains(s.Text, "Unfinished") })
	})
}

// eventually polls ok every 100 ms for at most d.
func eventually(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}
