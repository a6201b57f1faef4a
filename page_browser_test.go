//go:build unix

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebPageInChromium drives the page at "/" in headless Chromium in
// local mode: signed out it sends the browser to /login/, whose sign-in
// lands back on "/"; two files picked at once upload with progress to
// 100% and are listed; one downloads byte for byte; one is deleted; at
// 360 px nothing overflows. Screenshots go to artifacts/page-*.png.
func TestWebPageInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	chrome := startChromium(t)
	page := openPage(t, chrome)
	setViewport(t, chrome, page, 900, 700)
	signInOnPage(t, chrome, page, e.URL)
	st := waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && s.EmptyShown })
	if st.Path != "/" || !strings.Contains(st.Text, "Sign out") {
		t.Fatalf("after sign-in: %+v", st)
	}
	savePagePNG(t, chrome, page, "page-empty.png")

	dir := t.TempDir()
	small := writeTestFile(t, dir, "notes ü.txt", []byte("hello from the browser\n"))
	big := writeTestFile(t, dir, "big.bin", randomBytes(t, 3<<20))

	// Both picked at once, on a slow link so that the upload is caught
	// half-way for the screenshot.
	throttle(t, chrome, page, 1<<20)
	pick(t, chrome, page, big, small)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Progress > 5 && s.Progress < 90 })
	savePagePNG(t, chrome, page, "page-uploading.png")
	throttle(t, chrome, page, 0)
	st = waitForApp(t, chrome, page, func(s appState) bool {
		return len(s.Files) == 2 && allHave(s.Files, "complete") && len(s.Uploads) == 2 && allHave(s.Uploads, "100%")
	})
	if !slicesHas(st.Files, "big.bin 3.0 MiB") || !slicesHas(st.Files, "notes ü.txt 23 bytes") {
		t.Errorf("files listed as %q, want both with their sizes", st.Files)
	}

	// A file dropped on the page (a synthetic drop event carrying a File).
	const dropJS = `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
		document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true;
	})()`
	if err := chrome.evaluate(page, dropJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, chrome, page, func(s appState) bool { return len(s.Files) == 3 && strings.HasPrefix(s.Files[0], "dropped.txt") })
	waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 0 }) // done rows leave by themselves
	savePagePNG(t, chrome, page, "page-files.png")

	// Usage, where the server counts it (issue 10): shown once /me has it.
	var usage struct{ Has, Shown bool }
	const usageJS = `fetch("/me").then(r => r.json()).then(m => ({has: !!m.usage, shown: !document.getElementById("usage").hidden}))`
	if err := chrome.evaluate(page, usageJS, &usage); err != nil {
		t.Fatal(err)
	}
	if usage.Has != usage.Shown {
		t.Errorf("GET /me has usage: %v; the page shows usage: %v", usage.Has, usage.Shown)
	}

	t.Run("download", func(t *testing.T) {
		for _, f := range []string{small, big} {
			want := sha256.Sum256(mustRead(t, f))
			got := pageDownloadSHA256(t, chrome, page, filepath.Base(f))
			if got != hex.EncodeToString(want[:]) {
				t.Errorf("%s downloaded with SHA-256 %s, want %x", filepath.Base(f), got, want)
			}
		}
	})
	t.Run("delete", func(t *testing.T) {
		clickFileButton(t, chrome, page, "dropped.txt", "Delete")
		waitForApp(t, chrome, page, func(s appState) bool { return len(s.Files) == 2 && !slicesHas(s.Files, "dropped.txt") })
		var listed struct{ Files []fileOut }
		if err := chrome.evaluate(page, `fetch("/list/").then(r => r.json())`, &listed); err != nil {
			t.Fatal(err)
		}
		if len(listed.Files) != 2 || slices.ContainsFunc(listed.Files, func(f fileOut) bool { return f.Filename == "dropped.txt" }) {
			t.Errorf("after delete the API lists %+v", listed.Files)
		}
	})
	t.Run("keyboard", func(t *testing.T) {
		// Tab alone reaches the file picker, then each file's Download and Delete.
		// It starts from the top of a freshly loaded page: blur() would leave
		// Chromium's Tab starting point where the deleted row was, so the
		// presses would wrap around the end of the page instead.
		navigate(t, chrome, page, e.URL+"/")
		waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && len(s.Files) == 2 })
		var reached []string
		folded := -1 // the first press that lands in a folded (details) section
		for i := range 10 {
			if err := pressTab(chrome, page); err != nil {
				t.Fatal(err)
			}
			var focused string
			const js = `(() => { const a = document.activeElement; return a.id || a.getAttribute("aria-label") || a.textContent; })()`
			if err := chrome.evaluate(page, js, &focused); err != nil {
				t.Fatal(err)
			}
			reached = append(reached, focused)
			var inDetails bool
			if err := chrome.evaluate(page, `!!document.activeElement.closest("details")`, &inDetails); err != nil {
				t.Fatal(err)
			}
			if inDetails && folded < 0 {
				folded = i
			}
		}
		for _, want := range []string{"file-input", "Download big.bin", "Delete big.bin"} {
			if !slices.Contains(reached, want) {
				t.Errorf("Tab reaches %q, not %q", reached, want)
			}
			// The picker and the files come first; folded management sections after.
			if i := slices.Index(reached, want); folded >= 0 && i > folded {
				t.Errorf("Tab reaches %q only after the folded section at %q: %q", want, reached[folded], reached)
			}
		}
	})
	t.Run("360 px wide", func(t *testing.T) {
		setViewport(t, chrome, page, 360, 640)
		var overflow int
		if err := chrome.evaluate(page, `document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow); err != nil {
			t.Fatal(err)
		}
		if overflow > 0 {
			t.Errorf("at 360 px the page is %d px too wide", overflow)
		}
		savePagePNG(t, chrome, page, "page-narrow.png")
	})
}

// TestWebPageUploadError: a refusal from the API reaches the person in
// the API's own words (an empty file name cannot be picked, so a server
// limit is used: MAX_UPLOAD_BYTES).
func TestWebPageUploadError(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, map[string]string{"MAX_UPLOAD_BYTES": "10"})
	chrome, page := openSignedInApp(t, e.URL)
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "big.txt", bytes.Repeat([]byte("x"), 11)))
	waitForApp(t, chrome, page, func(s appState) bool {
		return slicesHas(s.Uploads, `Failed: "size" must be from 0 to 10`)
	})
}

// TestWebPageOrdersByInstant: a file created 10 ms after another, in the
// same second, is listed above it once uploaded. Their creation times are
// "…:05.5Z" and "…:05.51Z" in RFC 3339, which sort the other way round as
// text; the page once placed a new row by comparing them as text.
func TestWebPageOrdersByInstant(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	var at atomic.Int64 // the server's clock in Unix ms once set; 0: the real one
	e.srv.now = func() time.Time {
		if ms := at.Load(); ms != 0 {
			return time.UnixMilli(ms).UTC()
		}
		return time.Now()
	}
	chrome, page := openSignedInApp(t, e.URL)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && s.EmptyShown })

	second := time.Now().Truncate(time.Second).Add(time.Second)
	dir := t.TempDir()
	for i, name := range []string{"older.txt", "newer.txt"} {
		at.Store(second.Add(500*time.Millisecond + time.Duration(i)*10*time.Millisecond).UnixMilli())
		pick(t, chrome, page, writeTestFile(t, dir, name, []byte(name)))
		waitForApp(t, chrome, page, func(s appState) bool { return len(s.Files) == i+1 && allHave(s.Files, "complete") })
	}
	st := waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 0 })
	if len(st.Files) != 2 || !strings.HasPrefix(st.Files[0], "newer.txt") || !strings.HasPrefix(st.Files[1], "older.txt") {
		t.Errorf("files listed as %q, want newer.txt above older.txt", st.Files)
	}
}

// storedPartsJS evaluates to how many parts the server lists for the
// page's first multipart upload in localStorage (0 if none).
const storedPartsJS = `(async () => {
	const r = JSON.parse(localStorage.getItem("dropp.multipart") || "[]")[0];
	if (!r) return 0;
	const resp = await fetch("/upload/" + r.id + "/parts");
	return resp.ok ? (await resp.json()).parts.length : 0;
})()`

// openLocalApp starts a local-mode server and opens its web page in
// headless Chromium, signed in (requireChromium: none is a failure).
func openLocalApp(t *testing.T) (*testEnv, *cdpClient, string) {
	t.Helper()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	chrome, page := openSignedInApp(t, e.URL)
	return e, chrome, page
}

// openSignedInApp starts Chromium, signs in on the page at base+"/" and
// waits until the app is ready; it returns the browser and its page.
func openSignedInApp(t *testing.T, base string) (*cdpClient, string) {
	t.Helper()
	chrome := startChromium(t)
	page := openPage(t, chrome)
	signInOnPage(t, chrome, page, base)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Ready })
	return chrome, page
}

// signInOnPage opens base+"/" signed out, which must lead to /login/, and
// clicks the sign-in link (local sign-in), which must land back on "/".
func signInOnPage(t *testing.T, c *cdpClient, page, base string) {
	t.Helper()
	navigate(t, c, page, base+"/")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Sign in as") })
	clickSignIn(t, c, page)
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/" })
	// confirm() would wait for a person; the test's person says yes.
	if err := c.evaluate(page, `window.confirm = () => true`, new(any)); err != nil {
		t.Fatal(err)
	}
}

// appState is what the test reads from the page at "/".
type appState struct {
	Path       string   `json:"path"`
	Text       string   `json:"text"`
	Ready      bool     `json:"ready"`
	EmptyShown bool     `json:"emptyShown"`
	Files      []string `json:"files"`   // each row's text, top to bottom
	Uploads    []string `json:"uploads"` // each upload row's text
	Progress   float64  `json:"progress"`
}

// appStateJS reads appState.
const appStateJS = `(() => {
	const rows = (id) => Array.from(document.querySelectorAll("#" + id + " > li")).map(li => li.innerText.replace(/\s+/g, " "));
	const bar = document.querySelector("#uploads progress");
	return {path: location.pathname, text: document.body ? document.body.innerText : "",
		ready: document.body && document.body.dataset.ready === "1",
		emptyShown: !!document.getElementById("empty") && !document.getElementById("empty").hidden,
		files: rows("files"), uploads: rows("uploads"), progress: bar ? bar.value : 0};
})()`

// waitForApp polls the page until done reports true, for at most 30s.
func waitForApp(t *testing.T, c *cdpClient, page string, done func(appState) bool) appState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var s appState
	for time.Now().Before(deadline) {
		if err := c.evaluate(page, appStateJS, &s); err == nil && done(s) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	savePagePNG(t, c, page, "page-failed.png")
	t.Fatalf("page did not reach the expected state; last: %+v", s)
	return s
}

// savePagePNG writes the viewport to artifacts/<name>. (Named apart from
// the other browser tests' helpers, which other branches also add.)
func savePagePNG(t *testing.T, c *cdpClient, page, name string) {
	t.Helper()
	png, err := c.screenshot(page)
	if err == nil {
		err = os.MkdirAll("artifacts", 0o755)
	}
	path, _ := filepath.Abs(filepath.Join("artifacts", name))
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// setViewport sets the page's viewport size in CSS pixels.
func setViewport(t *testing.T, c *cdpClient, page string, width, height int) {
	t.Helper()
	err := c.call(page, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// pressTab presses and releases the Tab key.
func pressTab(c *cdpClient, page string) error {
	for _, typ := range []string{"keyDown", "keyUp"} {
		ev := map[string]any{"type": typ, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}
		if err := c.call(page, "Input.dispatchKeyEvent", ev, nil); err != nil {
			return err
		}
	}
	return nil
}

// pick chooses files with the page's file input, as a person would.
func pick(t *testing.T, c *cdpClient, page string, paths ...string) {
	t.Helper()
	if err := c.setFileInputFiles(page, `document.getElementById("file-input")`, paths); err != nil {
		t.Fatal(err)
	}
}

// throttle limits the page's upload speed to bytesPerSecond (0: no limit).
func throttle(t *testing.T, c *cdpClient, page string, bytesPerSecond int) {
	t.Helper()
	if err := c.call(page, "Network.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	limit := -1
	if bytesPerSecond > 0 {
		limit = bytesPerSecond
	}
	err := c.call(page, "Network.emulateNetworkConditions", map[string]any{
		"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": limit,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// pageDownloadSHA256 follows the Download link of the named file's row
// from inside the page and hashes what arrives.
func pageDownloadSHA256(t *testing.T, c *cdpClient, page, name string) string {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const row = Array.from(document.querySelectorAll("#files > li")).find(li => li.querySelector(".name").textContent === %q);
		return Array.from(row.querySelectorAll("a")).find(a => a.textContent === "Download").href;
	})()`, name)
	var href string
	if err := c.evaluate(page, js, &href); err != nil {
		t.Fatal(err)
	}
	return fetchSHA256(t, c, page, "GET", href)
}

// clickFileButton clicks, with the mouse, the button labelled label in the
// named file's row.
func clickFileButton(t *testing.T, c *cdpClient, page, name, label string) {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const row = Array.from(document.querySelectorAll("#files > li")).find(li => li.querySelector(".name").textContent === %q);
		const b = Array.from(row.querySelectorAll("button, a")).find(b => b.textContent === %q);
		b.scrollIntoView();
		const r = b.getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2};
	})()`, name, label)
	var box struct{ X, Y float64 }
	if err := c.evaluate(page, js, &box); err != nil {
		t.Fatal(err)
	}
	if err := c.click(page, box.X, box.Y); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// slicesHas tells whether some row contains sub.
func slicesHas(rows []string, sub string) bool {
	for _, r := range rows {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

// allHave tells whether every row contains sub.
func allHave(rows []string, sub string) bool {
	for _, r := range rows {
		if !strings.Contains(r, sub) {
			return false
		}
	}
	return true
}

// TestWebPageS3InChromium: in S3 mode, without a CORS rule the page says
// the upload could not reach the bucket; with the README's rule on the
// bucket, the page sends the bytes straight to the bucket (versitygw
// answers bucket CORS, preflights included), in parts for the large file
// where the server has multipart uploads, and downloads them back.
func TestWebPageS3InChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	bucket := testBucket(t)
	env := s3TestEnv(t, bucket)
	env["MONGODB_URI"], env["MONGO_DB"] = requireRig(t).mongoURI, testDatabaseName(t)
	env["SECRET_KEY"], env["ADDR"] = testSecretKey, "127.0.0.1:0"
	env["PART_SIZE_BYTES"] = "5242880" // where multipart exists, the 17 MiB file takes 4 parts
	e := startTestEnv(t, env)
	chrome, page := openSignedInApp(t, e.URL)
	data := randomBytes(t, 1<<20)
	file := writeTestFile(t, t.TempDir(), "to-s3.bin", data)

	// Without the rule the browser may not post to the bucket, and says so.
	pick(t, chrome, page, file)
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Uploads, "bucket's CORS rule is missing") })

	putReadmeCORSRule(t, bucket, e.URL)
	pick(t, chrome, page, file)
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "to-s3.bin 1.0 MiB · complete") })
	multipart := pageHasRoute(t, chrome, page, "POST", "/upload/", map[string]any{"filename": "probe", "size": 1, "multipart": true})
	if err := chrome.evaluate(page, countPutsJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	big := randomBytes(t, 17<<20)
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "big-to-s3.bin", big))
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "big-to-s3.bin 17.0 MiB · complete") })
	var puts int
	if err := chrome.evaluate(page, `window.puts`, &puts); err != nil {
		t.Fatal(err)
	}
	if multipart && puts != 4 {
		t.Errorf("the 17 MiB file went up in %d PUTs, want 4 parts", puts)
	}
	for name, data := range map[string][]byte{"to-s3.bin": data, "big-to-s3.bin": big} {
		want := sha256.Sum256(data)
		if got := pageDownloadSHA256(t, chrome, page, name); got != hex.EncodeToString(want[:]) {
			t.Errorf("%s downloaded from S3 with SHA-256 %s, want %x", name, got, want)
		}
	}
}

// TestWebPageShareInChromium (issue 9's share links, where the server has
// them): the Share dialog makes a link with a download limit, lists it
// with a Revoke button, and the link opens in a fresh browser context
// (no session) and downloads the file; revoked, it no longer does.
func TestWebPageShareInChromium(t *testing.T) {
	t.Parallel()
	_, chrome, page := openLocalApp(t)
	if !pageHasRoute(t, chrome, page, "GET", "/files/00000000-0000-4000-8000-000000000000/shares", nil) {
		t.Skip("this server has no share links (issue 9): the page hides Share")
	}
	data := []byte("shared with a stranger\n")
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "shared.txt", data))
	waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "shared.txt 23 bytes · complete") })

	clickFileButton(t, chrome, page, "shared.txt", "Share")
	const fillJS = `(() => { document.getElementById("share-expiry").value = "3600";
		document.getElementById("share-limit").value = "2";
		document.getElementById("share-create").click(); return true; })()`
	if err := chrome.evaluate(page, fillJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	var link string
	waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, `document.getElementById("share-result").dataset.url || ""`, &link)
		return link != "" && strings.Contains(s.Text, "0 of 2 downloads") && strings.Contains(s.Text, "Revoke")
	})
	savePagePNG(t, chrome, page, "page-share.png")

	stranger := openFreshPage(t, chrome)
	navigate(t, chrome, stranger, link)
	waitForPage(t, chrome, stranger, func(s pageState) bool { return strings.Contains(s.Text, "shared.txt") })
	want := sha256.Sum256(data)
	if got := fetchSHA256(t, chrome, stranger, "POST", link+"/download"); got != hex.EncodeToString(want[:]) {
		t.Errorf("the link downloads SHA-256 %s, want %x", got, want)
	}

	if err := chrome.evaluate(page, `(() => { Array.from(document.querySelectorAll("#share-list button")).find(b => b.textContent === "Revoke").click(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, chrome, page, func(s appState) bool { return strings.Contains(s.Text, "No live links.") })
	if got := fetchSHA256(t, chrome, stranger, "POST", link+"/download"); !strings.HasPrefix(got, "HTTP 4") {
		t.Errorf("a revoked link still downloads: %s", got)
	}
}

// TestWebPageResumeInChromium (issue 8's multipart uploads, where the
// server has them): a page reloaded half-way through a multipart upload
// shows it as unfinished; the same file picked again sends only the parts
// the server lacks, completes, and downloads byte for byte.
func TestWebPageResumeInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, map[string]string{"PART_SIZE_BYTES": "5242880"})
	chrome, page := openSignedInApp(t, e.URL)
	probe := map[string]any{"filename": "probe", "size": 1, "multipart": true}
	if !pageHasRoute(t, chrome, page, "POST", "/upload/", probe) {
		t.Skip("this server has no multipart uploads (issue 8): the page sends one request")
	}
	data := randomBytes(t, 20<<20) // 4 parts of 5 MiB
	file := writeTestFile(t, t.TempDir(), "resumable.bin", data)

	throttle(t, chrome, page, 4<<20)
	pick(t, chrome, page, file)
	var stored int
	waitForApp(t, chrome, page, func(appState) bool {
		return chrome.evaluate(page, storedPartsJS, &stored) == nil && stored >= 1 && stored < 4
	})

	if err := chrome.call(page, "Page.reload", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	throttle(t, chrome, page, 0)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && strings.Contains(s.Text, "Unfinished: resumable.bin") })
	chrome.evaluate(page, storedPartsJS, &stored) // a part may have landed as the page went
	// A stored part is kept only if the page noted it sent (with its
	// SHA-256): the part that was on its way as the page went is sent again
	// even if the server lists it (a store may list a cut-off part at full
	// size).
	const keptJS = `(async () => {
		const r = JSON.parse(localStorage.getItem("dropp.multipart") || "[]")[0];
		if (!r) return -1;
		const resp = await fetch("/upload/" + r.id + "/parts");
		return resp.ok ? (await resp.json()).parts.filter((p) => r.sums && r.sums[p.part_number]).length : -1;
	})()`
	var kept int
	if err := chrome.evaluate(page, keptJS, &kept); err != nil {
		t.Fatal(err)
	}
	if kept < 0 || kept > stored {
		t.Fatalf("the page's record keeps %d parts, the server has %d", kept, stored)
	}
	resend := 4 - kept
	if err := chrome.evaluate(page, countPutsJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	pick(t, chrome, page, file)
	st := waitForApp(t, chrome, page, func(s appState) bool { return slicesHas(s.Files, "resumable.bin 20.0 MiB · complete") })
	if strings.Contains(st.Text, "Unfinished") {
		t.Errorf("still shown as unfinished after completing:\n%s", st.Text)
	}
	var puts int
	if err := chrome.evaluate(page, `window.puts`, &puts); err != nil {
		t.Fatal(err)
	}
	if puts != resend {
		t.Errorf("resumed with %d part uploads; the server had %d of 4 parts, %d of them noted sent", puts, stored, kept)
	}
	want := sha256.Sum256(data)
	if got := pageDownloadSHA256(t, chrome, page, "resumable.bin"); got != hex.EncodeToString(want[:]) {
		t.Errorf("resumed file downloads with SHA-256 %s, want %x", got, want)
	}
}

// countPutsJS makes the page count the PUT requests it sends in
// window.puts.
const countPutsJS = `(() => { window.puts = 0; const open = XMLHttpRequest.prototype.open;
	XMLHttpRequest.prototype.open = function (method, ...rest) { if (method === "PUT") window.puts++; return open.call(this, method, ...rest); };
	return true; })()`

// pageHasRoute sends one API request from the page and tells whether the
// server has the route (an older server answers "no such route" or 405).
func pageHasRoute(t *testing.T, c *cdpClient, page, method, path string, body any) bool {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const opts = {method: %q, headers: {}};
		const body = %s;
		if (body !== null) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
		const resp = await fetch(%q, opts);
		const data = await resp.json().catch(() => ({}));
		if (resp.ok && data.file) await fetch("/files/" + data.file.id, {method: "DELETE"});
		return !(resp.status === 405 || (resp.status === 404 && data.message === "no such route") ||
			(resp.status === 400 && /unknown field/.test(data.message || "")));
	})()`, method, mustJSON(t, body), path)
	var ok bool
	if err := c.evaluate(page, js, &ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// fetchSHA256 fetches url from inside the page and hashes the body, or
// says "HTTP <status>".
func fetchSHA256(t *testing.T, c *cdpClient, page, method, url string) string {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const resp = await fetch(%q, {method: %q});
		if (!resp.ok) return "HTTP " + resp.status;
		const sum = await crypto.subtle.digest("SHA-256", await resp.arrayBuffer());
		return Array.from(new Uint8Array(sum)).map(b => b.toString(16).padStart(2, "0")).join("");
	})()`, url, method)
	var sum string
	if err := c.evaluate(page, js, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWebPageLoadMore: the list shows a page of 50 (pending files too),
// and "Load more" fetches the rest with the cursor, then goes away.
func TestWebPageLoadMore(t *testing.T) {
	t.Parallel()
	_, chrome, page := openLocalApp(t)
	const createJS = `(async () => {
		for (let i = 1; i <= 53; i++) {
			const resp = await fetch("/upload/", {method: "POST", headers: {"Content-Type": "application/json"},
				body: JSON.stringify({filename: "pending-" + String(i).padStart(2, "0") + ".txt", size: 1})});
			if (!resp.ok) return "HTTP " + resp.status;
		}
		return "";
	})()`
	var problem string
	if err := chrome.evaluate(page, createJS, &problem); err != nil || problem != "" {
		t.Fatalf("creating files: %v %s", err, problem)
	}
	if err := chrome.call(page, "Page.reload", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	const moreShownJS = `!document.getElementById("more").hidden`
	st := waitForApp(t, chrome, page, func(s appState) bool { return s.Ready && len(s.Files) == 50 })
	var more bool
	if chrome.evaluate(page, moreShownJS, &more); !more {
		t.Fatal("50 of 53 files listed, and no Load more")
	}
	if err := chrome.evaluate(page, `document.getElementById("more").click(), true`, new(bool)); err != nil {
		t.Fatal(err)
	}
	st = waitForApp(t, chrome, page, func(s appState) bool { return len(s.Files) == 53 })
	names := map[string]bool{}
	for _, row := range st.Files {
		name, _, _ := strings.Cut(row, " ")
		names[name] = true
	}
	if chrome.evaluate(page, moreShownJS, &more); more || len(names) != 53 {
		t.Errorf("after Load more: Load more shown %v, %d distinct files of 53", more, len(names))
	}
}

// TestWebPageCancel: Cancel stops an upload half-way, removes its line and
// deletes its pending file, so nothing is left behind in the list.
func TestWebPageCancel(t *testing.T) {
	t.Parallel()
	_, chrome, page := openLocalApp(t)
	throttle(t, chrome, page, 256<<10)
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "unwanted.bin", randomBytes(t, 2<<20)))
	waitForApp(t, chrome, page, func(s appState) bool { return s.Progress > 2 && s.Progress < 90 })
	if err := chrome.evaluate(page, `(() => { document.querySelector("#uploads button").click(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	throttle(t, chrome, page, 0)
	waitForApp(t, chrome, page, func(s appState) bool { return len(s.Uploads) == 0 })
	const countJS = `fetch("/list/").then(r => r.json()).then(l => l.files.length)`
	deadline := time.Now().Add(10 * time.Second)
	var n int
	for chrome.evaluate(page, countJS, &n) == nil && n != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("after Cancel the API still lists %d files", n)
	}
}

// problemsJS, run in every new document before its own scripts, records
// what a person's console would show: uncaught errors, rejected promises,
// console.error and Content-Security-Policy violations.
const problemsJS = `window.__problems = [];
addEventListener("error", (e) => __problems.push("error: " + (e.message || (e.target && (e.target.src || e.target.href)) || e.type)), true);
addEventListener("unhandledrejection", (e) => __problems.push("unhandled rejection: " + e.reason));
addEventListener("securitypolicyviolation", (e) => __problems.push("CSP blocked " + e.blockedURI + " by " + e.violatedDirective));
const consoleError = console.error;
console.error = (...a) => { __problems.push("console.error: " + a.join(" ")); consoleError(...a); };`

// TestPagesHaveNoConsoleErrorsInChromium opens each page a person sees
// (the owner's page, the admin page, the sign-in page, a share link and a
// file request link) and fails on any script error or CSP violation.
func TestPagesHaveNoConsoleErrorsInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, map[string]string{"ADMIN_EMAILS": "you@localhost"})
	chrome := startChromium(t)
	page := openPage(t, chrome)
	if err := chrome.call(page, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": problemsJS}, nil); err != nil {
		t.Fatal(err)
	}
	signInOnPage(t, chrome, page, e.URL)
	waitForApp(t, chrome, page, func(s appState) bool { return s.Ready })
	pick(t, chrome, page, writeTestFile(t, t.TempDir(), "seen.txt", []byte("seen\n")))
	waitForApp(t, chrome, page, func(s appState) bool { return len(s.Files) == 1 && allHave(s.Files, "complete") })
	const linksJS = `(async () => {
		const post = (path, body) => fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)}).then(r => r.json());
		const files = (await fetch("/list/").then(r => r.json())).files;
		const share = await post("/files/" + files[0].id + "/shares", {expires_in: 3600});
		const req = await post("/requests", {title: "Send me", max_files: 1, max_bytes: 1024, expires_in: 3600});
		return {share: share.share.url, request: req.request.url};
	})()`
	var links struct{ Share, Request string }
	if err := chrome.evaluate(page, linksJS, &links); err != nil {
		t.Fatal(err)
	}
	problems(t, chrome, page, "/")
	for _, url := range []string{e.URL + "/admin/", e.URL + "/login/", links.Share, links.Request} {
		navigate(t, chrome, page, url)
		waitForPage(t, chrome, page, func(s pageState) bool { return s.Text != "" })
		time.Sleep(300 * time.Millisecond) // the page's own scripts run
		problems(t, chrome, page, url)
	}
}

// problems reports what problemsJS recorded on the page now open.
func problems(t *testing.T, c *cdpClient, page, name string) {
	t.Helper()
	var got []string
	if err := c.evaluate(page, `window.__problems || ["problemsJS did not run"]`, &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range got {
		t.Errorf("%s: %s", name, p)
	}
}
