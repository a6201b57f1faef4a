package main

// Protected file requests (issue 21 §3: "Both work for single files,
// drops and file requests"): requests.go's use of linkprotect.go's gate.

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// protectedRequest creates a request of token's user with protection
// (the fields of POST /requests beyond the request's own), checking that
// neither the answer nor the owner's list shows the password or its hash,
// and returns it with its link's path.
func (e shareEnv) protectedRequest(token string, protection map[string]any) (requestOut, string) {
	e.t.Helper()
	body := map[string]any{"title": "Tax papers", "max_files": 5, "max_bytes": 100_000}
	for k, v := range protection {
		body[k] = v
	}
	resp, data := e.do(request{method: "POST", path: "/requests", token: token, body: body})
	wantStatus(e.t, resp, data, http.StatusCreated)
	resp, list := e.do(request{method: "GET", path: "/requests", token: token})
	wantStatus(e.t, resp, list, http.StatusOK)
	for _, shown := range [][]byte{data, list} {
		if bytes.Contains(shown, []byte("scrypt")) || bytes.Contains(shown, []byte(linkPassword)) {
			e.t.Fatalf("the owner's API shows the password or its hash: %s", shown)
		}
	}
	fr := decode[struct {
		Request requestOut `json:"request"`
	}](e.t, data).Request
	return fr, linkPath(e.t, fr.URL)
}

// protectedRequestOut is a request as listed, with its protection.
type protectedRequestOut struct {
	ID          string `json:"id"`
	Protected   bool   `json:"protected"`
	MembersOnly bool   `json:"members_only"`
}

// listedProtection is how the owner's list shows request id.
func (e shareEnv) listedProtection(token, id string) protectedRequestOut {
	e.t.Helper()
	resp, data := e.do(request{method: "GET", path: "/requests", token: token})
	wantStatus(e.t, resp, data, http.StatusOK)
	for _, fr := range decode[struct {
		Requests []protectedRequestOut `json:"requests"`
	}](e.t, data).Requests {
		if fr.ID == id {
			return fr
		}
	}
	e.t.Fatalf("request %s is not listed: %s", id, data)
	return protectedRequestOut{}
}

// sendWith sends content through the request at path as a stranger with
// header (a cookie, a bearer token): create, upload, complete.
func (e shareEnv) sendWith(path, name string, content []byte, header map[string]string, token string) requestFileOut {
	e.t.Helper()
	return e.sendThrough(path, map[string]any{"filename": name, "size": len(content)}, content, header, token)
}

// wantSenderRoutesLocked checks that the request's page, its JSON and
// every sender route refuse a call with header, with status (the upload
// routes as JSON whatever the call accepts), and that fileID, a file
// created through the request, is not completed.
func (e shareEnv) wantSenderRoutesLocked(path, fileID string, header map[string]string, status int) {
	e.t.Helper()
	t := e.t
	resp, body := e.do(request{method: "GET", path: path, header: with(header, "Accept", asJSON["Accept"])})
	wantStatus(t, resp, body, status)
	if bytes.Contains(body, []byte("Tax papers")) {
		t.Errorf("the locked JSON tells the request: %s", body)
	}
	for _, accept := range []map[string]string{asJSON, asBrowser, {}} {
		h := with(header, "Accept", accept["Accept"])
		for _, call := range []request{
			{method: "POST", path: path + "/upload", body: map[string]any{"filename": "x.txt", "size": 1}},
			{method: "POST", path: path + "/upload/", body: map[string]any{"filename": "x.txt", "size": 1}},
			{method: "POST", path: path + "/upload/" + fileID + "/complete"},
			{method: "POST", path: path + "/upload/" + fileID + "/parts", body: map[string]any{"part_numbers": []int{1}}},
			{method: "GET", path: path + "/upload/" + fileID + "/parts"},
		} {
			call.header = h
			resp, body := e.do(call)
			if resp.StatusCode != status {
				t.Errorf("%s %s (Accept %q): %d %s, want %d", call.method, call.path, accept["Accept"], resp.StatusCode, body, status)
				continue
			}
			wantStatus(t, resp, body, status) // the JSON error shape
		}
	}
}

// TestProtectedFileRequestPassword (issue 21 §3): a file request with a
// password, on both stores. Its page, its JSON and every sender route
// (upload, complete, parts) need the password's cookie, scoped to the
// request's link; a wrong password, then the right one, as a form and as
// JSON; the stranger then sends a file that lands in the owner's account;
// a share link's cookie opens no request, and a request's opens no share
// link; a wrong password and an unknown request answer alike.
func TestProtectedFileRequestPassword(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		alice := e.newUser("alice")
		fr, path := e.protectedRequest(alice, map[string]any{"password": linkPassword})
		if got := e.listedProtection(alice, fr.ID); !got.Protected || got.MembersOnly {
			t.Fatalf("listed %+v, want protected and not members only", got)
		}

		t.Run("LockedWithoutThePassword", func(t *testing.T) {
			e := e.on(t)
			resp, body := e.do(request{method: "GET", path: path, header: asBrowser})
			wantLinkHeaders(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte(`id="password-form"`)) ||
				!bytes.Contains(body, []byte(`action="`+path+`"`)) || bytes.Contains(body, []byte("Tax papers")) {
				t.Errorf("the locked page: %d %s", resp.StatusCode, body)
			}
			e.wantSenderRoutesLocked(path, newID(), nil, http.StatusUnauthorized)
			if got := e.requests(alice)[0]; got.FilesReceived != 0 {
				t.Errorf("refused uploads counted: %+v", got)
			}
		})

		t.Run("WrongThenRight", func(t *testing.T) {
			e := e.on(t)
			resp, body := e.postPassword(path, "not the password at all", asBrowser)
			wantAnswer(t, resp, body, http.StatusUnauthorized)
			if !bytes.Contains(body, []byte(msgWrongLinkPassword)) || len(resp.Cookies()) != 0 {
				t.Errorf("a wrong password: %v %s", resp.Header["Set-Cookie"], body)
			}
			resp, body = e.do(request{method: "POST", path: path, body: map[string]any{"password": "wrong wrong wrong"}, header: asJSON})
			wantStatus(t, resp, body, http.StatusUnauthorized)
			cookie := e.unlock(path) // checks Path=/r/{token}, HttpOnly, SameSite=Strict
			resp, body = e.do(request{method: "GET", path: path, header: with(asJSON, "Cookie", cookie)})
			wantStatus(t, resp, body, http.StatusOK)
			if got := decode[openRequestOut](t, body); got.Title != "Tax papers" {
				t.Errorf("the unlocked JSON: %s", body)
			}
			resp, body = e.do(request{method: "GET", path: path, header: with(asBrowser, "Cookie", cookie)})
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("Tax papers")) {
				t.Errorf("the unlocked page: %d %s", resp.StatusCode, body)
			}
			sent := e.sendWith(path, "return.pdf", []byte("the return\n"), map[string]string{"Cookie": cookie}, "")
			if sent.RequestID != fr.ID {
				t.Errorf("sent %+v", sent)
			}
			if ids := e.listIDs(alice, ""); !slices.Contains(ids, sent.ID) {
				t.Errorf("the owner's files %v lack the sent file %s", ids, sent.ID)
			}
			resp, body = e.do(request{method: "POST", path: path, body: map[string]any{"password": linkPassword}, header: asJSON})
			wantStatus(t, resp, body, http.StatusSeeOther)
		})

		t.Run("CookieOfAShareLinkAndBack", func(t *testing.T) {
			e := e.on(t)
			sh, shPath := e.protectedShare(alice, map[string]any{"password": linkPassword})
			shareCookie, requestCookie := e.unlock(shPath), e.unlock(path)
			e.wantSenderRoutesLocked(path, newID(), map[string]string{"Cookie": shareCookie}, http.StatusUnauthorized)
			e.wantCookieRefused(t, sh.URL, requestCookie, "a request's cookie on a share link's")
			// Another protected request of the same password and owner.
			_, otherPath := e.protectedRequest(alice, map[string]any{"password": linkPassword})
			e.wantSenderRoutesLocked(otherPath, newID(), map[string]string{"Cookie": requestCookie}, http.StatusUnauthorized)
		})

		t.Run("SameAnswer", func(t *testing.T) {
			e := e.on(t)
			_, open := e.protectedRequest(alice, nil)
			unknown := "/r/" + newSecret(shareTokenBytes)
			e.wantSameAnswer(t, path, "/r/TOKEN", map[string][2]string{
				"unknown request":      {unknown, "not the password at all"},
				"request, no password": {open, linkPassword},
			})
		})
	})
}

// TestMembersOnlyFileRequest (issue 21 §3): a members-only file request,
// on both stores. Signed out, its page sends the browser to sign in, which
// brings it back to the request; its JSON and every sender route answer
// 401. A user of this Dropp (a bearer token, or the session the sign-in
// made) opens it and sends a file.
func TestMembersOnlyFileRequest(t *testing.T) {
	t.Parallel()
	onShareBackends(t, newProtectEnv, func(t *testing.T, e shareEnv) {
		alice, bob := e.newUser("alice"), e.newUser("bob")
		fr, path := e.protectedRequest(alice, map[string]any{"members_only": true})
		if got := e.listedProtection(alice, fr.ID); got.Protected || !got.MembersOnly {
			t.Fatalf("listed %+v, want members only without a password", got)
		}
		e.wantSentToSignIn(t, "GET", path, "")
		e.wantSenderRoutesLocked(path, newID(), nil, http.StatusUnauthorized)

		// Bob, with his token: a member.
		resp, body := e.do(request{method: "GET", path: path, token: bob, header: asJSON})
		wantStatus(t, resp, body, http.StatusOK)
		if sent := e.sendWith(path, "from bob.txt", []byte("bob\n"), nil, bob); sent.RequestID != fr.ID {
			t.Errorf("bob sent %+v", sent)
		}

		// A browser signs in from where it was sent and comes back.
		session := e.signInBack(t, path, "Tax papers")
		e.sendWith(path, "from a browser.txt", []byte("browser\n"), map[string]string{"Cookie": session}, "")
		if got := e.requests(alice)[0]; got.FilesReceived != 2 {
			t.Errorf("the request received %d files, want 2", got.FilesReceived)
		}
	})
}

// TestRequestProtectionStored: a request's protection comes back from
// RequestLink, ListRequests and SetRequestClosed as inserted, on MongoDB
// and on the local store, there also after its log is replayed; a request
// without one comes back with none.
func TestRequestProtectionStored(t *testing.T) {
	t.Parallel()
	protections := []LinkProtection{{}, {PasswordHash: "$scrypt$ln=10,r=8,p=1$c2FsdA$a2V5", MembersOnly: true}, {MembersOnly: true}}
	insert := func(t *testing.T, s Store) map[string]FileRequest {
		now := ctNow()
		out := map[string]FileRequest{}
		for _, p := range protections {
			fr := FileRequest{ID: newID(), TokenHash: ctNewID(), Owner: "owner-p", Title: "t", MaxFiles: 1, MaxBytes: 1,
				CreatedAt: now, ExpiresAt: now.Add(time.Hour), Protection: p}
			ctMust(t, "InsertRequest", s.InsertRequest(t.Context(), fr))
			out[fr.ID] = fr
		}
		return out
	}
	check := func(t *testing.T, s Store, want map[string]FileRequest) {
		t.Helper()
		for _, fr := range want {
			got, err := s.RequestLink(t.Context(), fr.TokenHash, ctNow())
			if err != nil || got.Protection != fr.Protection {
				t.Errorf("RequestLink: %+v, %v; want protection %+v", got.Protection, err, fr.Protection)
			}
			got, err = s.SetRequestClosed(t.Context(), fr.Owner, fr.ID, false, ctNow())
			if err != nil || got.Protection != fr.Protection {
				t.Errorf("SetRequestClosed: %+v, %v; want protection %+v", got.Protection, err, fr.Protection)
			}
		}
		listed, err := s.ListRequests(t.Context(), RequestQuery{Owner: "owner-p", Now: ctNow(), Limit: 10})
		if err != nil || len(listed) != len(want) {
			t.Fatalf("ListRequests: %d, %v", len(listed), err)
		}
		for _, fr := range listed {
			if fr.Protection != want[fr.ID].Protection {
				t.Errorf("ListRequests: protection %+v, want %+v", fr.Protection, want[fr.ID].Protection)
			}
		}
	}
	onEachStoreReplayed(t, insert, check)
}

// checkProtectedRequestContract calls the protected file requests'
// operations for checkContract (TestOpenAPIMatchesAnswers), with the
// owner's token user: their creation and list, each answer of POST
// /r/{token}, the locked answers of the page and of every sender route,
// and the unlocked page and upload.
func checkProtectedRequestContract(c *contractChecker, user string) {
	c.t.Helper()
	c.e.srv.links.hasher = newPasswordHasher(testHashParams)
	create := func(body map[string]any) string {
		body["title"], body["max_files"], body["max_bytes"] = "Protected", 5, 1<<20
		_, data := c.call("/requests", c.req("POST", "/requests", user, body))
		return strings.TrimPrefix(decode[struct{ Request struct{ URL string } }](c.t, data).Request.URL, c.e.URL)
	}
	c.call("/requests", c.req("POST", "/requests", user, map[string]any{"title": "x", "max_files": 1, "max_bytes": 1, "password": "short"}))
	locked := create(map[string]any{"password": linkPassword})
	c.call("/requests", c.req("GET", "/requests", user, nil))
	id := newID()
	upload := map[string]any{"filename": "a.txt", "size": 1}
	c.call("/r/{token}/upload", c.req("POST", locked+"/upload", "", upload))
	c.call("/r/{token}/upload/", c.req("POST", locked+"/upload/", "", upload))
	c.call("/r/{token}/upload/{id}/complete", c.req("POST", locked+"/upload/"+id+"/complete", "", nil))
	c.call("/r/{token}/upload/{id}/parts", c.req("POST", locked+"/upload/"+id+"/parts", "", map[string]any{"part_numbers": []int{1}}))
	c.call("/r/{token}/upload/{id}/parts", c.req("GET", locked+"/upload/"+id+"/parts", "", nil))
	checkLockedLinkContract(c, "/r/{token}", locked)
	resp, _ := c.call("/r/{token}", c.req("POST", locked, "", url.Values{"password": {linkPassword}}))
	var cookie string
	for _, ck := range resp.Cookies() {
		if ck.Name == linkPassCookie {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	unlocked := c.req("POST", locked+"/upload", "", upload)
	unlocked.Header.Set("Cookie", cookie)
	c.call("/r/{token}/upload", unlocked)
	members := create(map[string]any{"members_only": true})
	checkMembersOnlyContract(c, "/r/{token}", members, user)
	c.call("/r/{token}/upload", c.req("POST", members+"/upload", "", upload))
}
