//go:build linux

package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// droppProc is a dropp binary running as a child process.
type droppProc struct {
	cmd  *exec.Cmd
	base string        // http://127.0.0.1:PORT, from its "listening:" line
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done is closed
}

// startDropp runs bin with the inherited environment (which picks local or
// production mode) plus DATA_DIR and a loopback ADDR on a port the kernel
// picks, appends its output to logPath, and waits until it listens.
func startDropp(bin, dataDir, logPath string) (*droppProc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "DATA_DIR="+dataDir)
	cmd.Stdout, cmd.Stderr = pw, logf
	// If this driver dies, so does the server it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		logf.Close()
		return nil, err
	}
	p := &droppProc{cmd: cmd, done: make(chan struct{})}
	listening := make(chan string, 1)
	go copyStartLines(pr, logf, listening)
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	select {
	case u := <-listening:
		p.base = strings.TrimSuffix(u, "/login/")
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("dropp exited at start (%v); see %s", p.err, logPath)
	case <-time.After(60 * time.Second):
		p.kill()
		return nil, fmt.Errorf("dropp did not listen within 60 s; see %s", logPath)
	}
}

// copyStartLines copies dropp's stdout to its log and hands on the URL of
// its "listening:" line.
func copyStartLines(r io.ReadCloser, log io.Writer, listening chan<- string) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if u, ok := strings.CutPrefix(line, "listening: "); ok {
			listening <- u
		}
	}
}

// terminate sends SIGTERM and waits (at most wait) for the exit; it returns
// how long the exit took.
func (p *droppProc) terminate(wait time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(wait):
		p.kill()
		return time.Since(start), fmt.Errorf("still running %v after SIGTERM; killed", wait)
	}
}

// kill stops the process at once, if it still runs.
func (p *droppProc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// signInLocal gets a bearer token through the real desktop flow with local
// sign-in (RFC 8252 with PKCE): /auth/google answers with a redirect to the
// app's loopback URI carrying a one-time code, which /auth/token redeems.
// Nothing listens on the redirect URI: the redirect is read, not followed.
func signInLocal(base string) (string, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	verifier := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(verifier))
	const redirect = "http://127.0.0.1:9/soak-callback"
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	q := url.Values{
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"soak"}, "redirect_uri": {redirect},
	}
	resp, err := client.Get(base + "/auth/google?" + q.Encode())
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("GET /auth/google: %s, Location %q: want 302 with a code (is sign-in local?)",
			resp.Status, resp.Header.Get("Location"))
	}
	resp, err = client.PostForm(base+"/auth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"code_verifier": {verifier}, "redirect_uri": {redirect},
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", errors.Join(fmt.Errorf("POST /auth/token: %s", resp.Status), err)
	}
	return tok.AccessToken, nil
}
