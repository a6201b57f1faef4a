//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTeamServerOnOneMachine runs the README's "A team server on one
// machine", with Pebble as the ACME CA:
//
//  1. the binary is built with the README's own command;
//  2. it starts with the README's settings (what deploy/dropp.service does
//     with /etc/dropp/dropp.env; TestSystemdUnitVerifies checks the unit),
//     plus what a test needs: its own ports, DATA_DIR, and Pebble as the CA;
//  3. it gets its certificate over ACME (TLS-ALPN-01, validated for real);
//  4. `dropp invite` with the README's arguments makes the administrator,
//     who opens the link in Chromium, chooses a password, signs in and
//     invites a member from /admin/;
//  5. the member accepts with a passkey (a DevTools virtual authenticator),
//     signs in with it in a fresh page of a fresh browser context, uploads
//     a file through the web page and shares it; the desktop flow (RFC
//     8252), signed in with the passkey too, gets the member a bearer token;
//  6. a stranger downloads the shared file over HTTPS, with a Go client
//     that verifies the chain to Pebble's root, and gets its bytes;
//  7. the administrator disables the member from /admin/: the member's
//     session cookie and bearer token get 401, the share link 404.
//
// Chromium does not trust Pebble's root: it is told to accept the one key
// Dropp's certificate carries (--ignore-certificate-errors-spki-list, the
// browser part only) and to resolve the name to loopback. The stranger's Go
// client trusts Pebble's root and nothing else. Each step is timed; the
// times of a run are in docs/team-server.md. Not parallel: with 4 tests at
// once Pebble's validations failed, as in TestACMEWithPebble.
func TestTeamServerOnOneMachine(t *testing.T) {
	requireChromium(t)
	bins := requirePebble(t)
	readme := readTeamServerSteps(t)
	timer := newStepTimer(t)
	defer timer.report()

	var bin string
	timer.step("1. build the binary (README's command)", func() { bin = buildLikeREADME(t, readme.build) })

	httpsPort, httpPort := freePort(t), freePort(t)
	peb := startPebble(t, bins, pebbleOptions{httpPort: httpPort, tlsPort: httpsPort})
	env := readme.testSettings(t, httpsPort, httpPort, peb)
	base := env["PUBLIC_URL"]
	stranger := peb.client() // trusts Pebble's root only

	var spki string
	timer.step("2. start with the README's settings, certificate from the CA", func() {
		startTeamServer(t, bin, env)
		spki = awaitCertificate(t, stranger, base)
	})

	var adminLink string
	timer.step("3. dropp invite (README's arguments)", func() { adminLink = runTeamInvite(t, bin, env, readme.invite) })
	admin := teamMember{email: readme.invite[1], password: "the admin's own long passphrase"}

	chrome := startChromiumWith(t, "--host-resolver-rules=MAP "+acmeTestHost+" 127.0.0.1", "--ignore-certificate-errors-spki-list="+spki)
	adminPage := openPage(t, chrome)
	member := teamMember{email: "member@example.com"} // no password: a passkey
	var memberLink string
	timer.step("4. admin sets a password, signs in, invites a member", func() {
		admin.accept(t, chrome, adminPage, adminLink)
		var secure bool // what WebAuthn (passkeys) needs of the page
		if err := chrome.evaluate(adminPage, `window.isSecureContext`, &secure); err != nil || !secure {
			t.Errorf("the sign-in page is not a secure context in Chromium (%v)", err)
		}
		admin.signIn(t, chrome, adminPage)
		waitForPage(t, chrome, adminPage, func(s pageState) bool { return s.Path == "/" })
		memberLink = inviteFromAdminPage(t, chrome, adminPage, base, member.email)
	})

	memberPage := openFreshPage(t, chrome)
	var shareLink string
	content := []byte("minutes of the team meeting\n")
	timer.step("5. member accepts with a passkey, signs in with it in a fresh page, uploads and shares", func() {
		invitePage := openFreshPage(t, chrome)
		passkeys := addVirtualAuthenticator(t, chrome, invitePage)
		member.accept(t, chrome, invitePage, memberLink)
		if got := passkeyRPIDs(t, chrome, invitePage, passkeys); len(got) != 1 || got[0] != acmeTestHost {
			t.Fatalf("the member's passkeys are for RP IDs %q, want [%q] (PUBLIC_URL's host)", got, acmeTestHost)
		}
		copyPasskeys(t, chrome, invitePage, passkeys, memberPage, addVirtualAuthenticator(t, chrome, memberPage))
		navigate(t, chrome, memberPage, base+"/login/")
		member.signIn(t, chrome, memberPage)
		waitForApp(t, chrome, memberPage, func(s appState) bool { return s.Path == "/" && s.Ready })
		pick(t, chrome, memberPage, writeTestFile(t, t.TempDir(), "minutes.txt", content))
		waitForApp(t, chrome, memberPage, func(s appState) bool { return slicesHas(s.Files, "minutes.txt 28 bytes · complete") })
		shareLink = shareFromPage(t, chrome, memberPage, "minutes.txt")
	})
	var token string
	timer.step("6. member connects the desktop app (RFC 8252)", func() {
		token = desktopTokenInBrowser(t, chrome, memberPage, stranger, base, member)
	})
	navigate(t, chrome, memberPage, base+"/login/")
	waitForPage(t, chrome, memberPage, func(s pageState) bool { return strings.Contains(s.Text, "Signed in as "+member.email) })
	if status := pageFetchStatus(t, chrome, memberPage, base+"/me"); status != http.StatusOK {
		t.Fatalf("the member's session cookie: GET /me %d, want 200", status)
	}

	timer.step("7. a stranger downloads over HTTPS", func() {
		if got := strangerDownload(t, stranger, shareLink); !bytes.Equal(got, content) {
			t.Fatalf("the stranger got %q, want %q", got, content)
		}
	})

	timer.step("8. admin disables the member; session and token stop", func() {
		disableFromAdminPage(t, chrome, adminPage, base, member.email)
		if status := pageFetchStatus(t, chrome, memberPage, base+"/me"); status != http.StatusUnauthorized {
			t.Errorf("the member's session cookie after disable: GET /me %d, want 401", status)
		}
		if status := bearerStatus(t, stranger, base+"/me", token); status != http.StatusUnauthorized {
			t.Errorf("the member's bearer token after disable: GET /me %d, want 401", status)
		}
		resp, err := stranger.Get(shareLink)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the disabled member's share link: %d, want 404", resp.StatusCode)
		}
	})
}

// testSettings are the README's settings on this test's machine: the
// name is acmeTestHost on free ports (the README's :443 and :80 need root),
// DATA_DIR a temporary directory, and the CA Pebble. Nothing else changes.
func (s teamServerSteps) testSettings(t *testing.T, httpsPort, httpPort string, peb *pebble) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.settings {
		env[k] = v
	}
	u, err := url.Parse(env["PUBLIC_URL"])
	if err != nil || u.Scheme != "https" || env["TLS"] != "auto" || env["SIGNIN"] != "accounts" || env["DATA_DIR"] == "" {
		t.Fatalf("README.md's team server settings: want an https PUBLIC_URL, TLS=auto, SIGNIN=accounts and DATA_DIR; got %v", env)
	}
	env["PUBLIC_URL"] = "https://" + acmeTestHost + ":" + httpsPort
	env["DATA_DIR"] = t.TempDir()
	env["ADDR"], env["HTTP_ADDR"] = "127.0.0.1:"+httpsPort, "127.0.0.1:"+httpPort
	env["ACME_DIRECTORY_URL"], env["ACME_CA_ROOT_FILE"] = peb.directory, peb.caFile
	return env
}

// buildLikeREADME runs the README's build command (its VAR=value prefix
// as the environment), writing the binary to a temporary directory.
func buildLikeREADME(t *testing.T, command []string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dropp")
	var env, args []string
	for i, f := range command {
		if strings.Contains(f, "=") && len(args) == 0 {
			env = append(env, f)
			continue
		}
		if i > 0 && command[i-1] == "-o" {
			f = bin
		}
		args = append(args, f)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(command, " "), err, out)
	}
	return bin
}

// startTeamServer starts the binary with env alone, as systemd does with
// the unit's EnvironmentFile, and stops it with SIGTERM when the test ends.
func startTeamServer(t *testing.T, bin string, env map[string]string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("dropp exited with %v\n%s", err, logs.String())
		}
		if t.Failed() {
			t.Logf("dropp's log:\n%s", logs.String())
		}
	})
	if readListenURL(t, stdout) == "" {
		t.Fatalf("no listening line; log:\n%s", logs.String())
	}
	go io.Copy(io.Discard, stdout)
}

// awaitCertificate waits until base serves a certificate that c (trusting
// Pebble's root) verifies, and returns the base64 SHA-256 of its public
// key, the form Chromium's --ignore-certificate-errors-spki-list takes.
func awaitCertificate(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			sum := sha256.Sum256(resp.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
			return base64.StdEncoding.EncodeToString(sum[:])
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified certificate after 90 s: %v", err)
		}
	}
}

// runTeamInvite runs `dropp ARGS` with the server's settings and returns
// the link it prints.
func runTeamInvite(t *testing.T, bin string, env map[string]string, args []string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dropp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	link := regexp.MustCompile(`(?m)^(https://\S+/invite/\S+)$`).FindSubmatch(out)
	if link == nil || !strings.HasPrefix(string(link[1]), env["PUBLIC_URL"]+"/invite/") {
		t.Fatalf("dropp %s printed no link under PUBLIC_URL:\n%s", strings.Join(args, " "), out)
	}
	return string(link[1])
}

// teamMember is one person of the team and how they get in: with a
// password, chosen on the invitation page and typed on /login/; or, with
// no password, with a passkey, made on the invitation page and used on
// /login/ by the page's DevTools virtual authenticator (the caller adds it
// with addVirtualAuthenticator). Chromium sees no certificate error on
// Dropp's key (the SPKI list), so the pages are a secure context, as
// WebAuthn requires; the RP ID is PUBLIC_URL's host.
type teamMember struct{ email, password string }

func (m teamMember) usesPasskey() bool { return m.password == "" }

// accept opens the invitation link and chooses the password, or registers
// a passkey.
func (m teamMember) accept(t *testing.T, c *cdpClient, page, link string) {
	t.Helper()
	navigate(t, c, page, link)
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Choose a password for "+m.email) })
	if m.usesPasskey() {
		waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Use a passkey") }) // the script shows it
		registerPasskey(t, c, page)
		return
	}
	retype(t, c, page, "new-password", m.password)
	retype(t, c, page, "confirm-password", m.password)
	clickSelector(t, c, page, "#set-password")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Your password is set") })
}

// signIn signs in on the /login/ page the browser shows (with the desktop
// app's request in it, or not).
func (m teamMember) signIn(t *testing.T, c *cdpClient, page string) {
	t.Helper()
	if m.usesPasskey() {
		clickPasskeySignIn(t, c, page)
		return
	}
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/login/" && strings.Contains(s.Text, "Password") })
	retype(t, c, page, "email-input", m.email)
	retype(t, c, page, "password-input", m.password)
	clickSelector(t, c, page, "#password-sign-in")
}

// passkeyRPIDs are the RP IDs of the credentials the virtual
// authenticator holds.
func passkeyRPIDs(t *testing.T, c *cdpClient, page, auth string) []string {
	t.Helper()
	var res struct {
		Credentials []struct {
			RPID string `json:"rpId"`
		} `json:"credentials"`
	}
	if err := c.call(page, "WebAuthn.getCredentials", map[string]any{"authenticatorId": auth}, &res); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, cred := range res.Credentials {
		ids = append(ids, cred.RPID)
	}
	return ids
}

// retype replaces the value of the input with that id by text, typed.
func retype(t *testing.T, c *cdpClient, page, id, text string) {
	t.Helper()
	js := `(() => { const el = document.getElementById(` + jsString(id) + `); el.value = ""; el.focus(); return true; })()`
	if err := c.evaluate(page, js, new(bool)); err != nil {
		t.Fatal(err)
	}
	if err := c.call(page, "Input.insertText", map[string]any{"text": text}, nil); err != nil {
		t.Fatal(err)
	}
}

// inviteFromAdminPage invites email with /admin/'s form and returns the
// link the page shows once.
func inviteFromAdminPage(t *testing.T, c *cdpClient, page, base, email string) string {
	t.Helper()
	navigate(t, c, page, base+"/admin/")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/admin/" && strings.Contains(s.Text, "Invite") })
	retype(t, c, page, "invite-email", email)
	clickSelector(t, c, page, "#invite button")
	waitForPage(t, c, page, func(s pageState) bool { return strings.Contains(s.Text, "Send this link to "+email) })
	var link string
	if err := c.evaluate(page, `document.getElementById("invitation-url").textContent`, &link); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, base+"/invite/") {
		t.Fatalf("the admin page's invitation link %q is not under %s", link, base)
	}
	return link
}

// shareFromPage makes a share link for the named file with the page's
// Share dialog and returns it.
func shareFromPage(t *testing.T, c *cdpClient, page, name string) string {
	t.Helper()
	clickFileButton(t, c, page, name, "Share")
	if err := c.evaluate(page, `(() => { document.getElementById("share-create").click(); return true; })()`, new(bool)); err != nil {
		t.Fatal(err)
	}
	var link string
	waitForApp(t, c, page, func(s appState) bool {
		c.evaluate(page, `document.getElementById("share-result").dataset.url || ""`, &link)
		return link != ""
	})
	return link
}

// desktopTokenInBrowser is the desktop app's sign-in (RFC 8252): the app
// listens on loopback, opens /auth/google with its PKCE challenge in the
// member's browser, where the member signs in; the code arrives on the
// app's redirect URI and the app redeems it at /auth/token (with c).
func desktopTokenInBrowser(t *testing.T, chrome *cdpClient, page string, c *http.Client, base string, m teamMember) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan url.Values, 1)
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case codes <- r.URL.Query():
		default:
		}
		fmt.Fprintln(w, "Signed in: return to the Dropp app.")
	})}
	go app.Serve(ln)
	defer app.Close()
	verifier := newSecret(32)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://" + ln.Addr().String() + "/callback"
	q := url.Values{"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"app-state"}, "redirect_uri": {redirect}}
	navigate(t, chrome, page, base+"/auth/google?"+q.Encode())
	m.signIn(t, chrome, page)
	var got url.Values
	select {
	case got = <-codes:
	case <-time.After(20 * time.Second):
		t.Fatal("the app's redirect URI got no code within 20 s")
	}
	if got.Get("state") != "app-state" || got.Get("code") == "" {
		t.Fatalf("the app's redirect URI got %v", got)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	resp, err := c.PostForm(base+"/auth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := decode[struct {
		AccessToken string `json:"access_token"`
	}](t, body)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("/auth/token: %d %s", resp.StatusCode, body)
	}
	if status := bearerStatus(t, c, base+"/me", tok.AccessToken); status != http.StatusOK {
		t.Fatalf("GET /me with the member's token: %d", status)
	}
	return tok.AccessToken
}

// strangerDownload opens the share link and downloads the file, with a
// client that verifies the server's chain, and returns the bytes.
func strangerDownload(t *testing.T, c *http.Client, link string) []byte {
	t.Helper()
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("minutes.txt")) || len(resp.TLS.VerifiedChains) == 0 {
		t.Fatalf("GET %s: %d, verified chains %d: %.300s", link, resp.StatusCode, len(resp.TLS.VerifiedChains), page)
	}
	resp, err = c.Post(link+"/download", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(resp.TLS.VerifiedChains) == 0 {
		t.Fatalf("POST %s/download: %d: %.300s", link, resp.StatusCode, body)
	}
	return body
}

// disableFromAdminPage clicks Disable in the account's row of /admin/ and
// waits for the row to say so.
func disableFromAdminPage(t *testing.T, c *cdpClient, page, base, email string) {
	t.Helper()
	navigate(t, c, page, base+"/admin/")
	waitForPage(t, c, page, func(s pageState) bool { return s.Path == "/admin/" && strings.Contains(s.Text, email) })
	js := `(() => {
		const row = Array.from(document.querySelectorAll("tr[data-id]")).find(tr => tr.textContent.includes(` + jsString(email) + `));
		const b = Array.from(row.querySelectorAll("button")).find(b => b.textContent === "Disable");
		const r = b.getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2};
	})()`
	var box struct{ X, Y float64 }
	if err := c.evaluate(page, js, &box); err != nil {
		t.Fatal(err)
	}
	if err := c.click(page, box.X, box.Y); err != nil {
		t.Fatal(err)
	}
	waitForPage(t, c, page, func(s pageState) bool {
		return s.Path == "/admin/" && regexp.MustCompile(regexp.QuoteMeta(email)+`[^\n]*disabled`).MatchString(s.Text)
	})
}

// pageFetchStatus is the status of a GET of u from inside the page, with
// the page's cookies.
func pageFetchStatus(t *testing.T, c *cdpClient, page, u string) int {
	t.Helper()
	var status int
	if err := c.evaluate(page, `fetch(`+jsString(u)+`, {credentials: "same-origin"}).then(r => r.status)`, &status); err != nil {
		t.Fatal(err)
	}
	return status
}

// bearerStatus is the status of a GET of u with the bearer token.
func bearerStatus(t *testing.T, c *http.Client, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stepTimer times the test's steps and logs them, and their total, as a
// table for docs/team-server.md.
type stepTimer struct {
	t     *testing.T
	began time.Time
	lines []string
}

func newStepTimer(t *testing.T) *stepTimer { return &stepTimer{t: t, began: time.Now()} }

// step runs f and records how long it took.
func (s *stepTimer) step(name string, f func()) {
	s.t.Helper()
	began := time.Now()
	f()
	line := fmt.Sprintf("| %s | %.1f s |", name, time.Since(began).Seconds())
	s.t.Log(line)
	s.lines = append(s.lines, line)
}

// report logs the steps and the total time from the start of the test.
func (s *stepTimer) report() {
	s.t.Logf("the five-minute path, as run:\n| Step | Time |\n|---|---|\n%s\n| total, Pebble and Chromium included | %.1f s |",
		strings.Join(s.lines, "\n"), time.Since(s.began).Seconds())
}
