//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 18 §1: the web page lost a finished file. The same big file
// dropped twice ran two writers on one multipart upload; the loser's
// failure deleted the winner's complete file. These tests drop a file
// that goes up in parts, as a person would, on a throttled link so that
// "mid-upload" is certain, and each ends with exactly one complete file
// with the right bytes and no DELETE sent by the page.

// dropPartSize makes the 17 MiB test file (above MULTIPART_FROM, 16 MiB,
// in app.js) go up in 4 parts of 5 MiB, the smallest part S3 allows.
const dropPartSize = "5242880"

// dropFileSize is just above MULTIPART_FROM, so the page sends parts.
const dropFileSize = 17 << 20

// dropParts is how many parts the test file has.
const dropParts = 4

// dropThrottle keeps the upload going (a 5 MiB part takes 20 s) until the
// test has done what it does mid-upload, then the throttle is lifted.
const dropThrottle = 256 << 10

// reloadThrottle lets the first part land within seconds (5 s), and the
// upload run on for 12 s more: long enough to reload in the middle.
const reloadThrottle = 1 << 20

// onEachPageBackend runs test on a local-mode server and on one with
// MongoDB (FerretDB) and S3 (versitygw, with the README's CORS rule), in
// turn; it returns each server's base URL to test.
func onEachPageBackend(t *testing.T, test func(t *testing.T, base string)) {
	t.Run("local", func(t *testing.T) {
		e := newLocalTestEnv(t, map[string]string{"PART_SIZE_BYTES": dropPartSize})
		test(t, e.URL)
	})
	t.Run("mongo-s3", func(t *testing.T) {
		bucket := testBucket(t)
		env := s3TestEnv(t, bucket)
		env["MONGODB_URI"], env["MONGO_DB"] = requireRig(t).mongoURI, testDatabaseName(t)
		env["SECRET_KEY"], env["ADDR"] = testSecretKey, "127.0.0.1:0"
		env["PART_SIZE_BYTES"] = dropPartSize
		e := startTestEnv(t, env)
		putReadmeCORSRule(t, bucket, e.URL)
		test(t, e.URL)
	})
}

// recordDeletesJS makes every page of the origin (this one, and each one
// loaded later, reloads included) note each DELETE it sends in
// localStorage "test.deletes", which all tabs share.
const recordDeletesJS = `(() => {
	const fetch0 = window.fetch;
	window.fetch = function (url, opts) {
		if (opts && opts.method === "DELETE") {
			const seen = JSON.parse(localStorage.getItem("test.deletes") || "[]");
			seen.push(String(url));
			localStorage.setItem("test.deletes", JSON.stringify(seen));
		}
		return fetch0.apply(this, arguments);
	};
	return true;
})()`

// recordDeletes installs recordDeletesJS in page now and on every load.
func recordDeletes(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	if err := c.call(page, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": recordDeletesJS}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.evaluate(page, recordDeletesJS, new(bool)); err != nil {
		t.Fatal(err)
	}
}

// openSecondTab opens another tab of the same browser profile (same
// cookies, storage and locks) on the page, signed in already.
func openSecondTab(t *testing.T, c *cdpClient, base string) string {
	t.Helper()
	page := openPage(t, c)
	if err := c.call(page, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": recordDeletesJS}, nil); err != nil {
		t.Fatal(err)
	}
	navigate(t, c, page, base+"/")
	waitForApp(t, c, page, func(s appState) bool { return s.Ready })
	if err := c.evaluate(page, `window.confirm = () => true`, new(any)); err != nil {
		t.Fatal(err)
	}
	return page
}

// listedFile is a file as GET /list/ shows it.
type listedFile struct {
	ID       string `json:"id"`
	Filename string `json:"filename"`
	Size     *int64 `json:"size"`
	Status   string `json:"status"`
}

// listFiles is GET /list/ from inside the page.
func listFiles(t *testing.T, c *cdpClient, page string) []listedFile {
	t.Helper()
	var listed struct{ Files []listedFile }
	if err := c.evaluate(page, `fetch("/list/").then(r => r.json())`, &listed); err != nil {
		t.Fatal(err)
	}
	return listed.Files
}

// settled tells whether every upload line in s has ended: done or failed.
func settled(s appState) bool {
	for _, row := range s.Uploads {
		if !strings.Contains(row, "done") && !strings.Contains(row, "Failed") {
			return false
		}
	}
	return true
}

// requireOneCompleteFile waits until every given tab's uploads have
// ended, then wants GET /list/ to hold exactly one file, complete, of the
// right size, whose download has data's SHA-256; no upload line failed
// and no tab sent a DELETE.
func requireOneCompleteFile(t *testing.T, c *cdpClient, name string, data []byte, pages ...string) {
	t.Helper()
	for _, page := range pages {
		waitForApp(t, c, page, func(s appState) bool {
			if !settled(s) {
				return false
			}
			files := listFiles(t, c, page)
			return slicesHas(s.Uploads, "Failed") || len(files) > 0 && files[0].Status == "complete"
		})
	}
	time.Sleep(time.Second) // a wrong DELETE followed the failure at once
	for _, page := range pages {
		throttle(t, c, page, 0)
		var s appState
		if err := c.evaluate(page, appStateJS, &s); err != nil {
			t.Fatal(err)
		}
		if slicesHas(s.Uploads, "Failed") {
			t.Errorf("an upload line failed: %q", s.Uploads)
		}
	}
	var deletes []string
	if err := c.evaluate(pages[0], `JSON.parse(localStorage.getItem("test.deletes") || "[]")`, &deletes); err != nil {
		t.Fatal(err)
	}
	if len(deletes) > 0 {
		t.Errorf("the page sent DELETE %q", deletes)
	}
	files := listFiles(t, c, pages[0])
	if len(files) != 1 || files[0].Filename != name || files[0].Status != "complete" ||
		files[0].Size == nil || *files[0].Size != int64(len(data)) {
		t.Fatalf("GET /list/ has %+v, want one complete %s of %d bytes", files, name, len(data))
	}
	want := sha256.Sum256(data)
	if got := fetchSHA256(t, c, pages[0], "GET", fmt.Sprintf("/download/%s?redirect=1", files[0].ID)); got != hex.EncodeToString(want[:]) {
		t.Errorf("%s downloads with SHA-256 %s, want %x", name, got, want)
	}
}

// countPuts makes each page count the PUTs (parts) it sends from now on.
func countPuts(t *testing.T, c *cdpClient, pages ...string) {
	t.Helper()
	for _, page := range pages {
		if err := c.evaluate(page, countPutsJS, new(bool)); err != nil {
			t.Fatal(err)
		}
	}
}

// requireOneWriter wants the pages to have sent each of the file's
// dropParts parts once between them: one writer, not two racing.
func requireOneWriter(t *testing.T, c *cdpClient, pages ...string) {
	t.Helper()
	total := 0
	for _, page := range pages {
		var n int
		if err := c.evaluate(page, `window.puts`, &n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != dropParts {
		t.Errorf("the pages sent %d part uploads for a file of %d parts: more than one writer", total, dropParts)
	}
}

// requireNoUnfinished wants page not to call anything unfinished for a
// second: an upload that a tab is running is not unfinished.
func requireNoUnfinished(t *testing.T, c *cdpClient, page, while string) {
	t.Helper()
	for range 10 {
		var s appState
		if err := c.evaluate(page, appStateJS, &s); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.Text, "Unfinished") {
			t.Fatalf("%s, the page says:\n%s", while, s.Text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dropBigFile opens a signed-in app page on base, recording its deletes
// and counting its PUTs, drops a new file of dropFileSize random bytes
// named name, throttled to dropThrottle, and waits until its progress is
// past 5% but below below%. It returns the browser, the page, the file's
// path and its bytes.
func dropBigFile(t *testing.T, base, name string, below float64) (chrome *cdpClient, page, file string, data []byte) {
	t.Helper()
	chrome, page = openSignedInApp(t, base)
	recordDeletes(t, chrome, page)
	data = randomBytes(t, dropFileSize)
	file = writeTestFile(t, t.TempDir(), name, data)

	countPuts(t, chrome, page)
	throttle(t, chrome, page, dropThrottle)
	pick(t, chrome, page, file)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Progress > 5 && s.Progress < below })
	return chrome, page, file, data
}

// TestWebPageDoubleDropKeepsFile: the same big file dropped twice in one
// tab, the second time mid-upload (issue 18's report), ends as one
// complete file; the second drop joins the first upload.
func TestWebPageDoubleDropKeepsFile(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, page, file, data := dropBigFile(t, base, "big-17MiB.bin", 60)
		requireNoUnfinished(t, chrome, page, "while the file uploads")
		pick(t, chrome, page, file)
		waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 2 })
		throttle(t, chrome, page, 0)
		requireOneCompleteFile(t, chrome, "big-17MiB.bin", data, page)
		requireOneWriter(t, chrome, page)
	})
}

// TestWebPageTwoTabsOneFile: the same big file dropped in a second tab
// while the first uploads it ends as one complete file; the second tab
// never calls the running upload unfinished, and does not write to it.
func TestWebPageTwoTabsOneFile(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, first, file, data := dropBigFile(t, base, "two-tabs.bin", 50)
		second := openSecondTab(t, chrome, base)
		countPuts(t, chrome, second)
		requireNoUnfinished(t, chrome, second, "while the other tab uploads the file")
		pick(t, chrome, second, file)
		waitForApp(t, chrome, second, func(s appState) bool { return len(s.Uploads) == 1 })
		throttle(t, chrome, first, 0)
		requireOneCompleteFile(t, chrome, "two-tabs.bin", data, first, second)
		requireOneWriter(t, chrome, first, second)
	})
}

// TestWebPageReloadThenResume: a tab reloaded mid-upload shows the upload
// as unfinished (and a second tab, opened while it ran, did not until
// then); the same file dropped again resumes it, and it ends complete,
// once, with the right bytes; then no tab calls it unfinished.
func TestWebPageReloadThenResume(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, page := openSignedInApp(t, base)
		recordDeletes(t, chrome, page)
		data := randomBytes(t, dropFileSize)
		file := writeTestFile(t, t.TempDir(), "reloaded.bin", data)

		throttle(t, chrome, page, reloadThrottle)
		pick(t, chrome, page, file)
		var stored int
		waitForApp(t, chrome, page, func(appState) bool {
			return chrome.evaluate(page, storedPartsJS, &stored) == nil && stored >= 1
		})
		other := openSecondTab(t, chrome, base)
		requireNoUnfinished(t, chrome, other, "while the first tab uploads the file")
		if chrome.evaluate(page, storedPartsJS, &stored); stored >= 4 {
			t.Fatal("the upload ended before the reload: throttle harder")
		}

		if err := chrome.call(page, "Page.reload", map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && strings.Contains(s.Text, "Unfinished: reloaded.bin") })
		waitForApp(t, chrome, other, func(s appState) bool { return strings.Contains(s.Text, "Unfinished: reloaded.bin") })
		throttle(t, chrome, page, 0)
		pick(t, chrome, page, file)
		requireOneCompleteFile(t, chrome, "reloaded.bin", data, page)
		for _, p := range []string{page, other} {
			waitForApp(t, chrome, p, func(s appState) bool { return !strings.Contains(s.Text, "Unfinished") })
		}
	})
}

// openSmallPartsApp opens a signed-in app page on a local-mode server
// whose multipart uploads use dropPartSize parts.
func openSmallPartsApp(t *testing.T) (*cdpClient, string) {
	t.Helper()
	requireChromium(t)
	e := newLocalTestEnv(t, map[string]string{"PART_SIZE_BYTES": dropPartSize})
	return openSignedInApp(t, e.URL)
}

// writeTwins writes, in two folders, a file named name for each of datas,
// all with the same modification time: files that share a name, a size
// and a date, and differ only in their bytes. It returns their paths.
func writeTwins(t *testing.T, name string, datas ...[]byte) []string {
	t.Helper()
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var paths []string
	for i, data := range datas {
		dir := filepath.Join(t.TempDir(), fmt.Sprint("folder", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := writeTestFile(t, dir, name, data)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// cutOffByReload starts the upload of file on a throttled link and
// reloads the page once the server holds a part of it, then waits for the
// page to call name unfinished, and lifts the throttle.
func cutOffByReload(t *testing.T, c *cdpClient, page, file, name string) {
	t.Helper()
	throttle(t, c, page, reloadThrottle)
	pick(t, c, page, file)
	var stored int
	waitForApp(t, c, page, func(appState) bool {
		return c.evaluate(page, storedPartsJS, &stored) == nil && stored >= 1
	})
	if err := c.call(page, "Page.reload", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, c, page, func(s appState) bool { return s.Ready && strings.Contains(s.Text, "Unfinished: "+name) })
	throttle(t, c, page, 0)
}

// downloadSums is the SHA-256 of each complete file GET /list/ shows.
func downloadSums(t *testing.T, c *cdpClient, page string) map[string]bool {
	t.Helper()
	sums := map[string]bool{}
	for _, f := range listFiles(t, c, page) {
		if f.Status == "complete" {
			sums[fetchSHA256(t, c, page, "GET", "/download/"+f.ID+"?redirect=1")] = true
		}
	}
	return sums
}

// hexSHA256 is data's SHA-256 in hex.
func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestWebPageResumesOnlyTheSameBytes: after a reload cut off the upload of
// folder0/video.bin, the person drops folder1/video.bin, another file of
// the same name, size and date. The page must not resume the first file's
// upload with the second file's bytes (a complete file that is neither,
// review 13): it uploads the second file anew, and the first stays
// unfinished, to be resumed with its own bytes.
func TestWebPageResumesOnlyTheSameBytes(t *testing.T) {
	t.Parallel()
	chrome, page := openSmallPartsApp(t)
	datas := [][]byte{randomBytes(t, dropFileSize), randomBytes(t, dropFileSize)}
	paths := writeTwins(t, "video.bin", datas...)
	cutOffByReload(t, chrome, page, paths[0], "video.bin")

	pick(t, chrome, page, paths[1])
	s := waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 1 && settled(s) })
	if slicesHas(s.Uploads, "Failed") {
		t.Fatalf("the upload of folder1/video.bin failed: %q", s.Uploads)
	}
	if sums := downloadSums(t, chrome, page); len(sums) != 1 || !sums[hexSHA256(datas[1])] {
		t.Errorf("folder1/video.bin was dropped, but the complete files' SHA-256s are %v, want only %s", sums, hexSHA256(datas[1]))
	}
	waitForApp(t, chrome, page, func(s appState) bool {
		return len(s.Uploads) == 0 && strings.Contains(s.Text, "Unfinished: video.bin")
	})

	pick(t, chrome, page, paths[0])
	waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 1 && settled(s) })
	sums := downloadSums(t, chrome, page)
	if len(sums) != 2 || !sums[hexSHA256(datas[0])] || !sums[hexSHA256(datas[1])] {
		t.Errorf("after folder0/video.bin was dropped again, the complete files' SHA-256s are %v, want both files'", sums)
	}
}

// TestWebPageSameNameFilesInOneDrop: two different files of the same
// name, size and date chosen together (two folders' report.txt) are both
// uploaded; neither follows the other's upload (review 13: the second was
// never sent, and its line said done).
func TestWebPageSameNameFilesInOneDrop(t *testing.T) {
	t.Parallel()
	chrome, page := openSmallPartsApp(t)
	datas := [][]byte{[]byte(strings.Repeat("A", 1000)), []byte(strings.Repeat("B", 1000))}
	pick(t, chrome, page, writeTwins(t, "report.txt", datas...)...)
	s := waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 2 && settled(s) })
	if slicesHas(s.Uploads, "Failed") {
		t.Fatalf("an upload failed: %q", s.Uploads)
	}
	sums := downloadSums(t, chrome, page)
	for i, data := range datas {
		if !sums[hexSHA256(data)] {
			t.Errorf("both lines say done (%q), but folder%d/report.txt is not on the server (its files: %v)", s.Uploads, i, sums)
		}
	}
}

// loseCompleteJS makes the page's next POST …/complete answer 504 without
// reaching Dropp, as a proxy does whose read timeout ends before a long
// join (deploy/nginx.conf: 300 s; completeTime allows more for big
// files), while the join finishes on the server all the same. It keeps
// the URL in window.lostComplete.
const loseCompleteJS = `(() => {
	const fetch0 = window.fetch;
	window.fetch0 = fetch0;
	window.fetch = function (url, opts) {
		if (window.loseComplete && /\/complete$/.test(String(url))) {
			window.loseComplete = false;
			window.lostComplete = String(url);
			return Promise.resolve(new Response(JSON.stringify({message: "gateway timeout"}), {status: 504, headers: {"Content-Type": "application/json"}}));
		}
		return fetch0.apply(this, arguments);
	};
	window.loseComplete = true;
	return true;
})()`

// TestWebPageRedropOfCompletedUpload: a multipart upload whose complete
// went through on the server, though the page heard an error (a proxy's
// timeout), shows failed. Dropped again, the file is found complete and
// done, with no part sent again and no second copy (review 13: the page
// uploaded all of it again).
func TestWebPageRedropOfCompletedUpload(t *testing.T) {
	t.Parallel()
	chrome, page := openSmallPartsApp(t)
	file := writeTestFile(t, t.TempDir(), "joined-late.bin", randomBytes(t, dropFileSize))
	if err := chrome.evaluate(page, loseCompleteJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	pick(t, chrome, page, file)
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Uploads, "Failed") })
	var lost string
	if err := chrome.evaluate(page, `window.lostComplete`, &lost); err != nil || lost == "" {
		t.Fatalf("no complete was lost: %v", err)
	}
	// The join the proxy gave up on finishes.
	var status int
	js := fmt.Sprintf(`window.fetch0(%q, {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`, lost)
	if err := chrome.evaluate(page, js, &status); err != nil || status != 200 {
		t.Fatalf("the late complete: %d %v", status, err)
	}
	countPuts(t, chrome, page)
	pick(t, chrome, page, file)
	s := waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 2 && settled(s) })
	var puts int
	if err := chrome.evaluate(page, `window.puts`, &puts); err != nil {
		t.Fatal(err)
	}
	if files := listFiles(t, chrome, page); len(files) != 1 || puts != 0 || !strings.Contains(s.Uploads[1], "done") {
		t.Errorf("the file was complete on the server; dropped again, the page sent %d part(s), says %q, and the server has %+v",
			puts, s.Uploads[1], files)
	}
}

// TestWebPageDeletedPendingIsNotUnfinished: a multipart upload cut off by
// a reload is named unfinished until its pending file is deleted with the
// page's Delete button: then there is nothing to resume (review 13: the
// note stayed).
func TestWebPageDeletedPendingIsNotUnfinished(t *testing.T) {
	t.Parallel()
	chrome, page := openSmallPartsApp(t)
	file := writeTestFile(t, t.TempDir(), "cut-off.bin", randomBytes(t, dropFileSize))
	cutOffByReload(t, chrome, page, file, "cut-off.bin")
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "cut-off.bin") })
	if err := chrome.evaluate(page, `window.confirm = () => true`, new(any)); err != nil {
		t.Fatal(err)
	}
	clickFileButton(t, chrome, page, "cut-off.bin", "Delete")
	waitForApp(t, chrome, page, func(s appState) bool { return !slicesHas(s.Files, "cut-off.bin") })
	if files := listFiles(t, chrome, page); len(files) != 0 {
		t.Fatalf("the delete did not go through: %+v", files)
	}
	time.Sleep(2 * noteEvery) // the note is drawn again every few seconds
	var s appState
	if err := chrome.evaluate(page, appStateJS, &s); err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(s.Text, "Unfinished"); i >= 0 {
		t.Errorf("the pending file was deleted, yet the page says: %q", strings.SplitN(s.Text[i:], "\n", 2)[0])
	}
}

// noteEvery is how often the page draws its "Unfinished" note again
// (NOTE_EVERY in uploader.js).
const noteEvery = 3 * time.Second
