//go:build unix

package main

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRealBrowserDrop: in Chromium, a drop of three files is downloaded
// whole with "Download all" (all three land in the download directory,
// each with its bytes, each counted once), and a drop of an image and a
// video shows both inline, on the local object store and on S3 (whose
// bucket origin the page's CSP must allow). Screenshots:
// artifacts/drop-page.png and artifacts/preview.png (and -s3 variants).
func TestRealBrowserDrop(t *testing.T) {
	requireChromium(t)
	t.Parallel()
	chrome := startChromium(t)
	t.Cleanup(chrome.close)
	video := recordWebM(t, chrome)
	t.Run("local", func(t *testing.T) { browseDrop(t, chrome, nil, "", video) })
	t.Run("s3", func(t *testing.T) { browseDrop(t, chrome, s3TestEnv(t, testBucket(t)), "-s3", video) })
}

// browseDrop runs TestRealBrowserDrop on a server started with env.
func browseDrop(t *testing.T, chrome *cdpClient, env map[string]string, suffix string, video []byte) {
	e, _ := newRefererRecordingEnv(t, env)
	a := shareEnv{apiTester: apiTester{e}}
	alice := e.newUser("alice")
	files := dropFiles(a, alice, "alpha.txt", "beta.txt", "gamma.txt")
	d := a.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": 2})

	page, downloads := openForDownloads(t, chrome, d.URL)
	shown := waitForPage(t, chrome, page, func(s pageState) bool { return strings.Contains(s.Text, "Download all") })
	for _, want := range []string{"alpha.txt", "beta.txt", "gamma.txt", "2 downloads left"} {
		if !strings.Contains(shown.Text, want) {
			t.Errorf("drop page lacks %q:\n%s", want, shown.Text)
		}
	}
	saveScreenshotAs(t, chrome, page, "drop-page"+suffix+".png")
	chrome.evaluate(page, `document.querySelector("#download-all").scrollIntoView()`, new(any))
	clickSelector(t, chrome, page, "#download-all")
	for _, f := range files {
		saved := waitForDownload(t, chrome, filepath.Join(downloads, f.Filename))
		if want := "content of " + f.Filename; string(saved) != want {
			t.Errorf("%s saved as %q, want %q", f.Filename, saved, want)
		}
	}
	waitForPage(t, chrome, page, func(s pageState) bool { return strings.Count(s.Text, "1 download left") == 3 })
	for _, l := range a.allShares(alice) {
		for _, f := range l.Files {
			if l.ID == d.ID && f.Downloads != 1 {
				t.Errorf("Download all counted %d downloads of %s, want 1", f.Downloads, f.ID)
			}
		}
	}

	pic, _ := a.stored(alice, map[string]any{"filename": "pic.png", "content_type": "image/png"}, testPNG(t))
	clip, _ := a.stored(alice, map[string]any{"filename": "clip.webm", "content_type": "video/webm"}, video)
	p := a.drop(alice, map[string]any{"file_ids": ids(pic, clip)})
	navigate(t, chrome, page, p.URL)
	const loaded = `(() => { const img = document.querySelector("img.preview"), v = document.querySelector("video.preview");
		return !!img && img.complete && img.naturalWidth === 64 && !!v && v.readyState >= 1 && v.videoWidth === 160; })()`
	if !waitForJS(chrome, page, loaded) {
		var state any
		chrome.evaluate(page, `(() => { const img = document.querySelector("img.preview"), v = document.querySelector("video.preview");
			return {img: img && img.naturalWidth, video: v && [v.readyState, v.videoWidth, v.error && v.error.message]}; })()`, &state)
		saveScreenshotAs(t, chrome, page, "preview"+suffix+".png")
		t.Fatalf("the previews did not load: %v", state)
	}
	saveScreenshotAs(t, chrome, page, "preview"+suffix+".png")
}

// waitForJS polls expr in the page until it is true, for at most 20 s.
func waitForJS(c *cdpClient, page, expr string) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if err := c.evaluate(page, expr, &ok); err == nil && ok {
			return true
		}
	}
	return false
}

// testPNG is a 64×48 PNG of two colours.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), 0x88, uint8(y * 5), 0xff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// recordWebM has Chromium record a second of a 160×120 canvas as WebM, a
// real video to preview with no file in the repository.
func recordWebM(t *testing.T, c *cdpClient) []byte {
	t.Helper()
	page := openPage(t, c)
	const record = `(async () => {
		const canvas = document.createElement("canvas");
		canvas.width = 160; canvas.height = 120;
		document.body.append(canvas);
		const g = canvas.getContext("2d");
		const rec = new MediaRecorder(canvas.captureStream(25), { mimeType: "video/webm" });
		const chunks = [];
		rec.ondataavailable = (e) => chunks.push(e.data);
		rec.start(100);
		for (let i = 0; i < 25; i++) {
			g.fillStyle = "hsl(" + i * 14 + ", 80%, 50%)";
			g.fillRect(0, 0, 160, 120);
			await new Promise((r) => setTimeout(r, 40));
		}
		const stopped = new Promise((r) => (rec.onstop = r));
		rec.stop();
		await stopped;
		const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
		let s = "";
		for (const b of bytes) s += String.fromCharCode(b);
		return btoa(s);
	})()`
	var b64 string
	if err := c.evaluate(page, record, &b64); err != nil {
		t.Fatal(err)
	}
	video, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(video) < 100 {
		t.Fatalf("recorded %d bytes of WebM: %v", len(video), err)
	}
	return video
}

// TestWebPageDropInChromium: on the owner's page, three files dropped at
// once offer one link to all three; two files selected with their
// checkboxes ("Select files") make a link of two with "Share selected"; an image's Preview
// shows it inline in the list.
func TestWebPageDropInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, nil)
	a := shareEnv{apiTester: apiTester{e}}
	chrome, page := openSignedInApp(t, e.URL)
	t.Cleanup(chrome.close)
	dir := t.TempDir()
	pick(t, chrome, page, writeTestFile(t, dir, "one.txt", []byte("one")), writeTestFile(t, dir, "two.txt", []byte("two")),
		writeTestFile(t, dir, "pic.png", testPNG(t)))
	waitForApp(t, chrome, page, func(s appState) bool {
		return strings.Contains(s.Text, "3 files uploaded.") && strings.Contains(s.Text, "Share them as one link")
	})
	link := createFromDialog(t, chrome, page, "drop-offer-share", "3 files")
	if got := a.dropLink(link).names(); len(got) != 3 {
		t.Errorf("the offered drop holds %v, want the three files", got)
	}

	const selectTwo = `(() => { document.getElementById("select-files").click();
		for (const li of document.querySelectorAll("#files > li")) {
		if (li.querySelector(".name").textContent !== "pic.png") li.querySelector("input.select").click(); }
		return document.getElementById("share-selected").textContent; })()`
	var label string
	if err := chrome.evaluate(page, selectTwo, &label); err != nil || label != "Share 2 selected files" {
		t.Fatalf("after selecting two files the button reads %q (%v)", label, err)
	}
	link = createFromDialog(t, chrome, page, "share-selected", "2 files")
	if got := a.dropLink(link).names(); len(got) != 2 || slices.Contains(got, "pic.png") {
		t.Errorf("the selected drop holds %v, want one.txt and two.txt", got)
	}

	clickFileButton(t, chrome, page, "pic.png", "Preview")
	if !waitForJS(chrome, page, `(() => { const img = document.querySelector("#files img.preview"); return !!img && img.complete && img.naturalWidth === 64; })()`) {
		t.Fatal("the owner's preview of pic.png did not show")
	}
	savePagePNG(t, chrome, page, "page-drop.png")
}

// createFromDialog clicks the button with that id, which opens the share
// dialog titled for what, creates the link and returns its URL.
func createFromDialog(t *testing.T, c *cdpClient, page, button, what string) string {
	t.Helper()
	open := `(() => { document.getElementById(` + jsString(button) + `).click(); return true; })()`
	if err := c.evaluate(page, open, new(bool)); err != nil {
		t.Fatal(err)
	}
	var link string
	waitForApp(t, c, page, func(appState) bool {
		var title string
		c.evaluate(page, `document.getElementById("share-dialog").open ? document.getElementById("share-name").textContent : ""`, &title)
		return title == what
	})
	create := `(() => { document.getElementById("share-result").dataset.url = ""; document.getElementById("share-create").click(); return true; })()`
	if err := c.evaluate(page, create, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitForApp(t, c, page, func(appState) bool {
		c.evaluate(page, `document.getElementById("share-result").dataset.url || ""`, &link)
		return link != ""
	})
	if err := c.evaluate(page, `(() => { document.getElementById("share-dialog").close(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	return link
}
