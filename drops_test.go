package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test copies of the drop API's shapes.
type (
	dropOut struct {
		shareOut
		Files []struct {
			ID        string `json:"id"`
			Downloads int64  `json:"downloads"`
		} `json:"files"`
		AllowPreview bool `json:"allow_preview"`
	}
	dropLinkOut struct {
		sharedFileOut
		Files []dropLinkFileOut `json:"files"`
	}
	dropLinkFileOut struct {
		ID            string `json:"id"`
		Filename      string `json:"filename"`
		Size          int64  `json:"size"`
		ContentType   string `json:"content_type"`
		DownloadsLeft *int64 `json:"downloads_left"`
		Preview       bool   `json:"preview"`
	}
)

// drop creates a drop with body and expects 201.
func (e shareEnv) drop(token string, body any) dropOut {
	e.t.Helper()
	return answerMember[dropOut](e.apiTester, request{method: "POST", path: "/shares", token: token, body: body}, http.StatusCreated, "share")
}

// dropLink reads a link's JSON and expects 200.
func (e shareEnv) dropLink(shareURL string) dropLinkOut {
	e.t.Helper()
	resp, body := e.link("GET", shareURL, "", asJSON)
	wantStatus(e.t, resp, body, http.StatusOK)
	return decode[dropLinkOut](e.t, body)
}

// dropNames lists the names of a link's files, in order.
func (l dropLinkOut) names() []string {
	var names []string
	for _, f := range l.Files {
		names = append(names, f.Filename)
	}
	return names
}

// allShares lists the owner's links (GET /shares) and expects 200.
func (e shareEnv) allShares(token string) []dropOut {
	e.t.Helper()
	return answerMember[[]dropOut](e.apiTester, request{method: "GET", path: "/shares", token: token}, http.StatusOK, "shares")
}

// TestDrops walks drops on MongoDB with S3 and on the local stores:
// create, list, download each file, revoke; validation; per-file limits
// under concurrency; edits and deletes; previews.
func TestDrops(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(map[string]string{"AUTH_RATE_LIMIT": "100000"}), func(t *testing.T, e shareEnv) {
		alice, bob := e.newUser("alice"), e.newUser("bob")
		t.Run("CreateListDownloadRevoke", func(t *testing.T) { dropCreateListDownloadRevoke(e.on(t), alice) })
		t.Run("Validation", func(t *testing.T) { dropValidation(e.on(t), alice, bob) })
		t.Run("PerFileLimitRace", func(t *testing.T) { dropPerFileLimitRace(e.on(t), alice) })
		t.Run("EditsAndDeletes", func(t *testing.T) { dropEditsAndDeletes(e.on(t), alice, bob) })
		t.Run("Previews", func(t *testing.T) { dropPreviews(e.on(t), alice, e.srv.cfg.localObjectStore()) })
		t.Run("Cap", func(t *testing.T) { dropCap(e.on(t), alice) })
	})
}

// dropCap: a link holds at most maxDropFiles files, however many adds race
// (review 15: four racing adds of 50 grew a drop of 1 to 201 files), and a
// file already in the link does not count again when it is named again.
func dropCap(e shareEnv, alice string) {
	t := e.t
	var all []string
	for range 51 + 2*49 { // complete records straight into the store: only the link is under test
		f := ctFile(e.userID(alice), ctNow())
		f.ID, f.Status, f.Size = newID(), statusComplete, f.DeclaredSize
		ctMust(t, "insert a complete file", e.srv.store.InsertFile(t.Context(), f))
		all = append(all, f.ID)
	}
	d := e.drop(alice, map[string]any{"file_ids": all[:50]})
	resp, body := e.do(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": all[:51]}})
	wantStatus(t, resp, body, http.StatusOK) // 50 named again and one new: 51, not 101
	// A refused add adds nothing: a pending file named after a complete
	// one is refused before either is added (review 17: the first stayed,
	// past the cap's check).
	pending := e.create(alice, map[string]any{"filename": "p.txt", "size": 3})
	resp, body = e.do(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": []string{all[148], pending.File.ID}}})
	wantStatus(t, resp, body, http.StatusConflict)
	if got := len(e.dropLink(d.URL).Files); got != 51 {
		t.Errorf("after a refused add the link has %d files, want 51", got)
	}

	var wg sync.WaitGroup
	for _, batch := range [][]string{all[51:100], all[100:]} { // each fits alone (100), not both
		wg.Go(func() {
			status, body, err := e.try(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": batch}})
			if err != nil || (status != http.StatusOK && status != http.StatusConflict) {
				t.Errorf("a racing add: %d %s %v, want 200 or 409", status, body, err)
			}
		})
	}
	wg.Wait()
	list := e.allShares(alice)
	at := slices.IndexFunc(list, func(s dropOut) bool { return s.ID == d.ID })
	if at < 0 {
		t.Fatalf("the link is not listed: %+v", list)
	}
	if n := len(list[at].Files); n > maxDropFiles || n < 51 {
		t.Errorf("after 2 racing adds of 49 files to a drop of 51: %d files, want 51 to %d", n, maxDropFiles)
	}
}

// dropFiles stores one file per name, with content "content of NAME".
func dropFiles(e shareEnv, owner string, names ...string) []fileOut {
	var files []fileOut
	for _, name := range names {
		f, _ := e.stored(owner, map[string]any{"filename": name, "content_type": "text/plain"}, []byte("content of "+name))
		files = append(files, f)
	}
	return files
}

// ids lists the files' IDs.
func ids(files ...fileOut) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.ID)
	}
	return out
}

// dropDownload downloads one file of a link and checks its bytes; the
// status when it is refused.
func dropDownload(e shareEnv, shareURL, fileID string, want []byte) int {
	e.t.Helper()
	resp, body := e.link("POST", shareURL, "/files/"+fileID+"/download", nil)
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode
	}
	got, data := e.fetch(resp.Header.Get("Location"))
	if got.StatusCode != http.StatusOK || !bytes.Equal(data, want) {
		e.t.Errorf("download of %s: %d %q, want %q (%s)", fileID, got.StatusCode, data, want, body)
	}
	if cd := got.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		e.t.Errorf("download Content-Disposition %q, want an attachment", cd)
	}
	return resp.StatusCode
}

// dropCreateListDownloadRevoke: one link for three files, listed by the
// owner, shown on the page with each file, each downloadable on its own
// (and as JSON, as "Download all" asks), dead once revoked.
func dropCreateListDownloadRevoke(e shareEnv, alice string) {
	t := e.t
	files := dropFiles(e, alice, "one.txt", "two.txt", "three.txt")
	d := e.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": 2})
	if !strings.HasPrefix(d.URL, e.URL+"/s/") || d.FileID != files[0].ID || len(d.Files) != 3 || d.Files[2].ID != files[2].ID || d.Downloads != 0 {
		t.Fatalf("drop %+v", d)
	}
	if all := e.allShares(alice); !slices.ContainsFunc(all, func(s dropOut) bool { return s.ID == d.ID && len(s.Files) == 3 && s.URL == "" }) {
		t.Errorf("GET /shares lacks the drop: %+v", all)
	}
	for _, f := range files {
		if !slices.ContainsFunc(e.shares(alice, f.ID), func(s shareOut) bool { return s.ID == d.ID }) {
			t.Errorf("GET /files/%s/shares lacks the drop", f.ID)
		}
	}
	link := e.dropLink(d.URL)
	if got := link.names(); !slices.Equal(got, []string{"one.txt", "two.txt", "three.txt"}) || link.Filename != "one.txt" {
		t.Errorf("link JSON files %v, first %q", got, link.Filename)
	}
	resp, page := e.link("GET", d.URL, "", asBrowser)
	wantStatus(t, resp, page, http.StatusOK)
	for _, want := range []string{"one.txt", "two.txt", "three.txt", "Download all", "3 files", "2 downloads left", "/files/" + files[1].ID + "/download"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, f := range files {
		if code := dropDownload(e, d.URL, f.ID, []byte("content of "+f.Filename)); code != http.StatusSeeOther {
			t.Errorf("download of %s: %d", f.Filename, code)
		}
	}
	resp, body := e.link("POST", d.URL, "/files/"+files[0].ID+"/download", asJSON)
	wantStatus(t, resp, body, http.StatusOK)
	if out := decode[struct{ URL string }](t, body); out.URL == "" {
		t.Errorf("JSON download %s: want a url", body)
	} else if got, data := e.fetch(out.URL); got.StatusCode != http.StatusOK || string(data) != "content of one.txt" {
		t.Errorf("JSON download's URL: %d %q", got.StatusCode, data)
	}
	if code := dropDownload(e, d.URL, files[0].ID, nil); code != http.StatusNotFound {
		t.Errorf("third download of a file of a link allowing 2: %d, want 404", code)
	}
	if code := dropDownload(e, d.URL, files[1].ID, []byte("content of two.txt")); code != http.StatusSeeOther {
		t.Errorf("the other files still have a download left: %d", code)
	}
	resp, body = e.do(request{method: "DELETE", path: "/shares/" + d.ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	for _, suffix := range []string{"", "/files/" + files[2].ID + "/download"} {
		resp, body = e.link("GET", d.URL, suffix, asJSON)
		wantStatus(t, resp, body, http.StatusNotFound)
	}
}

// dropValidation: what creating and editing a drop refuses.
func dropValidation(e shareEnv, alice, bob string) {
	t := e.t
	files := dropFiles(e, alice, "a.txt", "b.txt")
	bobs := dropFiles(e, bob, "bob.txt")
	pending := e.create(alice, map[string]any{"filename": "later.txt"}).File
	for _, tc := range []struct {
		body   any
		status int
	}{
		{map[string]any{}, http.StatusBadRequest},
		{map[string]any{"file_ids": []string{}}, http.StatusBadRequest},
		{map[string]any{"file_ids": []string{"nope"}}, http.StatusBadRequest},
		{map[string]any{"file_ids": []string{files[0].ID, files[0].ID}}, http.StatusBadRequest},
		{map[string]any{"file_ids": ids(files...), "max_downloads": 0}, http.StatusBadRequest},
		{map[string]any{"file_ids": ids(files...), "allow_preview": "yes"}, http.StatusBadRequest},
		{map[string]any{"file_ids": ids(files[0], bobs[0])}, http.StatusNotFound},
		{map[string]any{"file_ids": []string{files[0].ID, pending.ID}}, http.StatusConflict},
		{map[string]any{"file_ids": slices.Repeat([]string{files[0].ID}, maxDropFiles+1)}, http.StatusBadRequest},
	} {
		resp, body := e.do(request{method: "POST", path: "/shares", token: alice, body: tc.body})
		wantStatus(t, resp, body, tc.status)
	}
	resp, body := e.do(request{method: "POST", path: "/shares", body: map[string]any{"file_ids": ids(files...)}})
	wantStatus(t, resp, body, http.StatusUnauthorized)
	resp, body = e.do(request{method: "POST", path: "/files/" + files[0].ID + "/shares", token: alice, body: map[string]any{"file_ids": ids(files...)}})
	wantStatus(t, resp, body, http.StatusBadRequest)

	d := e.drop(alice, map[string]any{"file_ids": ids(files[0])})
	for _, tc := range []struct {
		method, path, token string
		body                any
		status              int
	}{
		{"POST", "/shares/" + d.ID + "/files", alice, map[string]any{"file_ids": ids(bobs...)}, http.StatusNotFound},
		{"POST", "/shares/" + d.ID + "/files", bob, map[string]any{"file_ids": ids(bobs...)}, http.StatusNotFound},
		{"POST", "/shares/" + d.ID + "/files", alice, map[string]any{"file_ids": []string{pending.ID}}, http.StatusConflict},
		{"POST", "/shares/" + d.ID + "/files", alice, map[string]any{}, http.StatusBadRequest},
		{"POST", "/shares/not-an-id/files", alice, map[string]any{"file_ids": ids(files[1])}, http.StatusNotFound},
		{"DELETE", "/shares/" + d.ID + "/files/" + files[1].ID, alice, nil, http.StatusNotFound},
		{"DELETE", "/shares/" + d.ID + "/files/" + files[0].ID, bob, nil, http.StatusNotFound},
		{"DELETE", "/shares/" + d.ID + "/files/nope", alice, nil, http.StatusNotFound},
	} {
		resp, body := e.do(request{method: tc.method, path: tc.path, token: tc.token, body: tc.body})
		wantStatus(t, resp, body, tc.status)
	}
	if got := e.dropLink(d.URL).names(); !slices.Equal(got, []string{"a.txt"}) {
		t.Errorf("refused edits changed the link: %v", got)
	}
}

// dropPerFileLimitRace: max_downloads N allows N downloads of each file:
// N+k racing downloads of each of two files get exactly N each.
func dropPerFileLimitRace(e shareEnv, alice string) {
	t := e.t
	const limit, racers = 3, 10
	files := dropFiles(e, alice, "x.txt", "y.txt")
	d := e.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": limit})
	u, _ := url.Parse(d.URL)
	var counted [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range 2 * racers {
		wg.Go(func() {
			code, body, err := e.try(request{method: "POST", path: u.Path + "/files/" + files[i%2].ID + "/download"})
			switch {
			case err != nil:
				t.Errorf("download: %v", err)
			case code == http.StatusSeeOther:
				counted[i%2].Add(1)
			case code != http.StatusNotFound:
				t.Errorf("download: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		if n := counted[i].Load(); n != limit {
			t.Errorf("%s: %d of %d racing downloads succeeded, want exactly %d", files[i].Filename, n, racers, limit)
		}
	}
	list := e.allShares(alice)
	at := slices.IndexFunc(list, func(s dropOut) bool { return s.ID == d.ID })
	if at < 0 || list[at].Downloads != 2*limit || list[at].Files[0].Downloads != limit || list[at].Files[1].Downloads != limit {
		t.Errorf("list after the race: %+v, want %d downloads of each file", list, limit)
	}
	resp, body := e.link("GET", d.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusNotFound) // every file used up: the link is
}

// dropEditsAndDeletes: a file added or removed changes what the link
// shows and serves; a file deleted from the account leaves every drop; a
// link left with no file is dead.
func dropEditsAndDeletes(e shareEnv, alice, bob string) {
	t := e.t
	files := dropFiles(e, alice, "p.txt", "q.txt", "r.txt")
	d := e.drop(alice, map[string]any{"file_ids": ids(files[0], files[1])})
	other := e.drop(alice, map[string]any{"file_ids": ids(files[1], files[2])})

	resp, body := e.do(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": ids(files[2], files[0])}})
	wantStatus(t, resp, body, http.StatusOK)
	if out := decode[struct{ Share dropOut }](t, body).Share; len(out.Files) != 3 || out.Files[2].ID != files[2].ID {
		t.Errorf("after adding: %s", body)
	}
	if got := e.dropLink(d.URL).names(); !slices.Equal(got, []string{"p.txt", "q.txt", "r.txt"}) {
		t.Errorf("link after adding r.txt (and p.txt again): %v", got)
	}
	dropDownload(e, d.URL, files[2].ID, []byte("content of r.txt"))

	resp, body = e.do(request{method: "DELETE", path: "/shares/" + d.ID + "/files/" + files[0].ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	if got := e.dropLink(d.URL).names(); !slices.Equal(got, []string{"q.txt", "r.txt"}) {
		t.Errorf("link after removing p.txt: %v", got)
	}
	if code := dropDownload(e, d.URL, files[0].ID, nil); code != http.StatusNotFound {
		t.Errorf("download of a removed file: %d, want 404", code)
	}

	resp, body = e.do(request{method: "DELETE", path: "/files/" + files[1].ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	for _, link := range []dropOut{d, other} {
		if got := e.dropLink(link.URL).names(); !slices.Equal(got, []string{"r.txt"}) {
			t.Errorf("link after deleting q.txt from the account: %v", got)
		}
	}
	if code := dropDownload(e, d.URL, files[1].ID, nil); code != http.StatusNotFound {
		t.Errorf("download of a deleted file: %d, want 404", code)
	}
	list := e.allShares(alice)
	at := slices.IndexFunc(list, func(s dropOut) bool { return s.ID == d.ID })
	if at < 0 || len(list[at].Files) != 1 || list[at].Files[0].ID != files[2].ID {
		t.Errorf("owner's list after the delete: %+v", list)
	}

	resp, body = e.do(request{method: "DELETE", path: "/shares/" + d.ID + "/files/" + files[2].ID, token: alice})
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = e.link("GET", d.URL, "", asJSON)
	wantStatus(t, resp, body, http.StatusNotFound)
	if !slices.ContainsFunc(e.allShares(alice), func(s dropOut) bool { return s.ID == d.ID && len(s.Files) == 0 }) {
		t.Errorf("GET /shares does not list the emptied link %s: its owner could not find it to add a file or revoke it", d.ID)
	}
	resp, body = e.do(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": ids(files[0])}})
	wantStatus(t, resp, body, http.StatusOK)
	if got := e.dropLink(d.URL).names(); !slices.Equal(got, []string{"p.txt"}) {
		t.Errorf("an emptied link given a file again: %v", got)
	}
}

// dropPreviews: images, audio, video and PDF are shown inline through a
// URL whose type is pinned and whose disposition is inline (sandboxed and
// nosniff in local mode); HTML and SVG never are; a preview counts no
// download, and a limited link previews only if its owner allowed it.
func dropPreviews(e shareEnv, alice string, local bool) {
	t := e.t
	png := []byte("\x89PNG\r\n\x1a\nnot really an image")
	var files []fileOut
	for _, tc := range []struct{ name, ctype string }{
		{"pic.png", "image/png; name=pic"}, {"clip.mp4", "video/mp4"}, {"page.html", "text/html"}, {"logo.svg", "image/svg+xml"},
	} {
		f, _ := e.stored(alice, map[string]any{"filename": tc.name, "content_type": tc.ctype}, png)
		files = append(files, f)
	}
	open := e.drop(alice, map[string]any{"file_ids": ids(files...)})
	limited := e.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": 1})
	allowed := e.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": 1, "allow_preview": true})

	link := e.dropLink(open.URL)
	for i, want := range []bool{true, true, false, false} {
		if link.Files[i].Preview != want {
			t.Errorf("%s: preview %v, want %v", link.Files[i].Filename, link.Files[i].Preview, want)
		}
	}
	for _, f := range e.dropLink(limited.URL).Files {
		if f.Preview {
			t.Errorf("%s previews on a limited link whose owner did not allow it", f.Filename)
		}
	}
	resp, page := e.link("GET", open.URL, "", asBrowser)
	wantStatus(t, resp, page, http.StatusOK)
	if !strings.Contains(string(page), `<img class="preview"`) || !strings.Contains(string(page), `<video class="preview"`) {
		t.Errorf("page lacks the image and video previews:\n%s", page)
	}
	for _, want := range []string{"img-src 'self' data:", "media-src 'self'"} {
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), want) {
			t.Errorf("page CSP %q lacks %q", resp.Header.Get("Content-Security-Policy"), want)
		}
	}

	for _, sh := range []dropOut{open, allowed} {
		for i, pinned := range []string{"image/png", "video/mp4"} {
			resp, body := e.link("GET", sh.URL, "/files/"+files[i].ID+"/preview", asBrowser)
			wantStatus(t, resp, body, http.StatusSeeOther)
			got, data := e.fetch(resp.Header.Get("Location"))
			if got.StatusCode != http.StatusOK || !bytes.Equal(data, png) {
				t.Fatalf("preview of %s: %d %q", files[i].Filename, got.StatusCode, data)
			}
			h := got.Header
			if h.Get("Content-Type") != pinned || !strings.HasPrefix(h.Get("Content-Disposition"), "inline;") {
				t.Errorf("preview of %s: Content-Type %q, Content-Disposition %q; want %s, inline", files[i].Filename, h.Get("Content-Type"), h.Get("Content-Disposition"), pinned)
			}
			if local && (!strings.HasPrefix(h.Get("Content-Security-Policy"), "sandbox") || h.Get("X-Content-Type-Options") != "nosniff") {
				t.Errorf("local preview: CSP %q, X-Content-Type-Options %q; want sandbox, nosniff", h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"))
			}
		}
		for _, f := range files[2:] {
			resp, body := e.link("GET", sh.URL, "/files/"+f.ID+"/preview", asJSON)
			wantStatus(t, resp, body, http.StatusForbidden)
		}
	}
	resp, body := e.link("GET", limited.URL, "/files/"+files[0].ID+"/preview", asJSON)
	wantStatus(t, resp, body, http.StatusForbidden)
	for _, l := range e.allShares(alice) {
		if (l.ID == open.ID || l.ID == allowed.ID) && l.Downloads != 0 {
			t.Errorf("previews counted %d downloads", l.Downloads)
		}
	}
	if code := dropDownload(e, allowed.URL, files[0].ID, png); code != http.StatusSeeOther {
		t.Errorf("the one download after previews: %d", code)
	}

	resp, body = e.do(request{method: "GET", path: "/files/" + files[0].ID + "/preview", token: alice})
	wantStatus(t, resp, body, http.StatusOK)
	if got, _ := e.fetch(decode[struct{ URL string }](t, body).URL); got.Header.Get("Content-Type") != "image/png" ||
		!strings.HasPrefix(got.Header.Get("Content-Disposition"), "inline;") {
		t.Errorf("owner's preview: %v", got.Header)
	}
	for _, f := range files[2:] {
		resp, body = e.do(request{method: "GET", path: "/files/" + f.ID + "/preview", token: alice})
		wantStatus(t, resp, body, http.StatusForbidden)
	}
}

// TestDropLimitAcrossInstances: two servers on one MongoDB count the
// downloads of each file of a drop together: exactly N of each.
func TestDropLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	first, second := twoInstances(t)
	alice := first.newUser("alice")
	files := dropFiles(first, alice, "m.txt", "n.txt")
	d := first.drop(alice, map[string]any{"file_ids": ids(files...), "max_downloads": 4})
	path := strings.TrimPrefix(d.URL, first.URL)
	var counted [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		server := []shareEnv{first, second}[i%2]
		file := (i / 2) % 2
		wg.Go(func() {
			code, body, err := server.try(request{method: "POST", path: path + "/files/" + files[file].ID + "/download"})
			switch {
			case err != nil:
				t.Errorf("download: %v", err)
			case code == http.StatusSeeOther:
				counted[file].Add(1)
			case code != http.StatusNotFound:
				t.Errorf("download: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		if n := counted[i].Load(); n != 4 {
			t.Errorf("%s: %d of 12 downloads through two servers succeeded, want exactly 4", files[i].Filename, n)
		}
	}
	if list := second.allShares(alice); len(list) != 1 || list[0].Downloads != 8 {
		t.Errorf("the other server lists %+v, want 8 downloads", list)
	}
}

// TestDropAddRefusedChangesNothing: an add refused part way, at a file
// already in MAX_SHARES_PER_FILE links, takes back the files it put in
// before it; before, they stayed in the link of a 409.
func TestDropAddRefusedChangesNothing(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(map[string]string{"MAX_SHARES_PER_FILE": "1"}), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		files := dropFiles(e, alice, "in.txt", "new.txt", "full.txt")
		d := e.drop(alice, map[string]any{"file_ids": ids(files[0])})
		e.drop(alice, map[string]any{"file_ids": ids(files[2])}) // full.txt is at its one link
		resp, body := e.do(request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": ids(files[1:]...)}})
		wantStatus(t, resp, body, http.StatusConflict)
		if got := e.dropLink(d.URL).names(); !slices.Equal(got, []string{"in.txt"}) {
			t.Errorf("after a refused add the link holds %q, want only in.txt", got)
		}
	})
}

// TestDropAddOverCapKeepsARacingAddsFiles: an add that would take the
// link over its cap, because a racing add filled it after its read, adds
// nothing. A file it named that the racing add put in first stays: that
// add answered 200 with it in the link. Before, the later add took it out.
func TestDropAddOverCapKeepsARacingAddsFiles(t *testing.T) {
	t.Parallel()
	onShareBackends(t, shareEnvWith(nil), func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		var all []string
		for range maxDropFiles + 1 { // complete records straight into the store: only the link is under test
			f := ctFile(e.userID(alice), ctNow())
			f.ID, f.Status, f.Size = newID(), statusComplete, f.DeclaredSize
			ctMust(t, "insert a complete file", e.srv.store.InsertFile(t.Context(), f))
			all = append(all, f.ID)
		}
		full := maxDropFiles - 2
		d := e.drop(alice, map[string]any{"file_ids": all[:full]})
		both, mine, theirs := all[full], all[full+1], all[full+2]
		addsOf := func(files ...string) request {
			return request{method: "POST", path: "/shares/" + d.ID + "/files", token: alice, body: map[string]any{"file_ids": files}}
		}
		var racing struct {
			started atomic.Bool
			status  int
			body    []byte
		}
		e.srv.store = &beforeAddShareFiles{Store: e.srv.store, hook: func() {
			if racing.started.CompareAndSwap(false, true) { // the racing add runs whole between the first add's read of the link and its adds
				racing.status, racing.body, _ = e.try(addsOf(both, theirs))
			}
		}}
		resp, body := e.do(addsOf(both, mine))
		wantStatus(t, resp, body, http.StatusConflict) // came last, over the cap
		if racing.status != http.StatusOK {
			t.Fatalf("the racing add: %d %s, want 200", racing.status, racing.body)
		}
		link := e.dropLink(d.URL)
		has := func(id string) bool {
			return slices.ContainsFunc(link.Files, func(f dropLinkFileOut) bool { return f.ID == id })
		}
		if len(link.Files) != maxDropFiles || !has(both) || !has(theirs) || has(mine) {
			t.Errorf("the link holds %d files (the file both named: %v, the racing add's: %v, the refused add's: %v), want %d with the racing add's two",
				len(link.Files), has(both), has(theirs), has(mine), maxDropFiles)
		}
	})
}

// beforeAddShareFiles is a Store that calls hook before each AddShareFiles.
type beforeAddShareFiles struct {
	Store
	hook func()
}

func (s *beforeAddShareFiles) AddShareFiles(ctx context.Context, owner, shareID string, fileIDs []string, maxLive int, now time.Time) error {
	s.hook()
	return s.Store.AddShareFiles(ctx, owner, shareID, fileIDs, maxLive, now)
}
