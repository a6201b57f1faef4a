//go:build unix

package main

import (
	"strings"
	"testing"
	"time"
)

// TestRealBrowserFileRequest: the owner creates a file request on the web
// page; a stranger opens its link in a fresh browser context (no cookie,
// no storage), leaves a name and a note and sends a file, with the page's
// own script under its CSP (on S3, straight to the bucket); the stranger's
// browser cannot list the owner's files; the owner's page then shows the
// file with the request's title and the sender's name. On the local
// stores and on MongoDB with S3. It saves the request page to
// artifacts/request-page.png (and request-page-s3.png).
func TestRealBrowserFileRequest(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	onEachPageBackend(t, func(t *testing.T, base string) {
		chrome, owner := openSignedInApp(t, base)
		const createJS = `(() => {
			document.getElementById("request-new").open = true;
			document.getElementById("request-title").value = "Scans for the tax return";
			document.getElementById("request-message").value = "Please send the 2026 receipts.\nThanks!";
			document.getElementById("request-files").value = "5";
			document.getElementById("request-mib").value = "10";
			document.getElementById("request-create").click();
			return true;
		})()`
		if err := chrome.evaluate(owner, createJS, new(bool)); err != nil {
			t.Fatal(err)
		}
		var link string
		deadline := time.Now().Add(20 * time.Second)
		for link == "" && time.Now().Before(deadline) {
			if err := chrome.evaluate(owner, `document.getElementById("request-result").dataset.url || ""`, &link); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.HasPrefix(link, base+"/r/") {
			t.Fatalf("the page made no request link (%q)", link)
		}
		waitForApp(t, chrome, owner, func(s appState) bool { return strings.Contains(s.Text, "0 of 5 files") })

		stranger := openFreshPage(t, chrome)
		setViewport(t, chrome, stranger, 800, 800)
		navigate(t, chrome, stranger, link)
		shown := waitForPage(t, chrome, stranger, func(s pageState) bool { return strings.Contains(s.Text, "Room for 5 more files") })
		if !strings.Contains(shown.Text, "Scans for the tax return") || !strings.Contains(shown.Text, "Please send the 2026 receipts.") {
			t.Errorf("request page shows:\n%s", shown.Text)
		}
		wantOwnStyle(t, shown, "page")
		const senderJS = `(() => {
			document.getElementById("sender-name").value = "Ann Example";
			document.getElementById("sender-note").value = "All twelve months";
			return true;
		})()`
		if err := chrome.evaluate(stranger, senderJS, new(bool)); err != nil {
			t.Fatal(err)
		}
		file := writeTestFile(t, t.TempDir(), "receipts.txt", []byte("twelve receipts\n"))
		if err := chrome.setFileInputFiles(stranger, `document.getElementById("file-input")`, []string{file}); err != nil {
			t.Fatal(err)
		}
		sent := waitForPage(t, chrome, stranger, func(s pageState) bool {
			return strings.Contains(s.Text, "Sent") && strings.Contains(s.Text, "Room for 4 more files")
		})
		if strings.Contains(sent.Text, "Failed") {
			t.Fatalf("the stranger's upload failed:\n%s", sent.Text)
		}
		name := "request-page.png"
		if !strings.HasPrefix(t.Name(), "TestRealBrowserFileRequest/local") {
			name = "request-page-s3.png"
		}
		saveScreenshotAs(t, chrome, stranger, name)
		var listStatus int
		if err := chrome.evaluate(stranger, `fetch("/list/").then(r => r.status)`, &listStatus); err != nil {
			t.Fatal(err)
		}
		if listStatus != 401 {
			t.Errorf("the stranger's browser lists files: %d, want 401", listStatus)
		}

		if err := chrome.call(owner, "Page.reload", map[string]any{}, nil); err != nil {
			t.Fatal(err)
		}
		st := waitForApp(t, chrome, owner, func(s appState) bool { return s.Ready && len(s.Files) == 1 })
		if !strings.Contains(st.Files[0], "receipts.txt") || !strings.Contains(st.Files[0], "Sent through “Scans for the tax return” by Ann Example: All twelve months") {
			t.Errorf("the owner's file row: %q", st.Files[0])
		}
		if !strings.Contains(st.Text, "1 of 5 files") {
			t.Errorf("the owner's request row does not count the file:\n%s", st.Text)
		}
	})
}
