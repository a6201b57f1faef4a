//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium, which scripts/test installs.
const chromiumPath = "/usr/bin/chromium"

// cdpCallTimeout bounds each DevTools command, so a wedged browser fails
// the test instead of hanging it.
const cdpCallTimeout = 20 * time.Second

// cdpClient drives Chromium through the DevTools protocol over
// --remote-debugging-pipe: Chromium reads commands on its fd 3 and writes
// replies and events on its fd 4, each a JSON message ended by a NUL byte.
// Calls are made one at a time; events are dropped, except downloads'.
type cdpClient struct {
	t         *testing.T
	cmd       *exec.Cmd
	toChrome  *os.File
	replies   chan cdpMessage // closed when Chromium's output ends
	nextID    int
	stderr    *syncBuffer
	downloads cdpDownloads
}

// cdpMessage is a reply (with ID) or an event (with Method) from Chromium.
type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// startChromium starts a headless Chromium with a fresh profile and the
// flags that keep it off the network, and stops it when the test ends.
func startChromium(t *testing.T) *cdpClient {
	t.Helper()
	return startChromiumWith(t)
}

// startChromiumWith is startChromium with extra command-line flags.
func startChromiumWith(t *testing.T, flags ...string) *cdpClient {
	t.Helper()
	cmdR, cmdW, err := os.Pipe() // our commands → Chromium's fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // Chromium's fd 4 → us
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--remote-debugging-pipe", "--window-size=800,600"}, flags...)
	cmd := exec.Command(chromiumPath, append(args, "about:blank")...)
	cmd.ExtraFiles = []*os.File{cmdR, outW} // become fds 3 and 4
	// Its own process group, so that a kill reaches its helper processes,
	// and a bounded Wait in case one of them keeps stderr open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	c := &cdpClient{t: t, cmd: cmd, toChrome: cmdW, replies: make(chan cdpMessage, 64), stderr: &syncBuffer{}}
	cmd.Stderr = c.stderr
	err = cmd.Start()
	cmdR.Close() // the child holds its own copies
	outW.Close()
	if err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	go c.readMessages(outR)
	t.Cleanup(c.close)
	return c
}

// readMessages forwards Chromium's replies, and records its download
// events, until its output ends.
func (c *cdpClient) readMessages(r *os.File) {
	defer close(c.replies)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMessage
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		if m.ID != 0 {
			c.replies <- m
		} else {
			c.downloads.record(m)
		}
	}
}

// cdpDownloads follows the downloads of a browser whose download behavior
// was set with eventsEnabled. Chromium writes a download under a temporary
// name and moves it to its own at the end (an empty file may show under
// that name before); its Browser.downloadProgress event "completed", which
// names the file, is the one sign that the file there is whole.
type cdpDownloads struct {
	mu   sync.Mutex
	seen map[string]cdpDownload // by guid
}

// cdpDownload is what the events said of one download, last.
type cdpDownload struct {
	Name, State, FilePath string
}

// record notes an event of a download.
func (d *cdpDownloads) record(m cdpMessage) {
	var ev struct {
		GUID              string `json:"guid"`
		SuggestedFilename string `json:"suggestedFilename"`
		State             string `json:"state"`
		FilePath          string `json:"filePath"`
	}
	if m.Method != "Browser.downloadWillBegin" && m.Method != "Browser.downloadProgress" || json.Unmarshal(m.Params, &ev) != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]cdpDownload{}
	}
	dl := d.seen[ev.GUID]
	if ev.SuggestedFilename != "" {
		dl.Name = ev.SuggestedFilename
	}
	if ev.State != "" {
		dl.State = ev.State
	}
	if ev.FilePath != "" {
		dl.FilePath = ev.FilePath
	}
	d.seen[ev.GUID] = dl
}

// completed reports whether a download was completed at path.
func (d *cdpDownloads) completed(path string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dl := range d.seen {
		if dl.State == "completed" && dl.FilePath == path {
			return true
		}
	}
	return false
}

// String lists the downloads seen, for a failure message.
func (d *cdpDownloads) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprint(d.seen)
}

// call sends one command (to a page session when sessionID is set) and
// decodes its result into result, if not nil.
func (c *cdpClient) call(sessionID, method string, params, result any) error {
	c.nextID++
	msg := map[string]any{"id": c.nextID, "method": method, "params": params}
	if sessionID != "" {
		msg["sessionId"] = sessionID
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := c.toChrome.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return c.awaitReply(c.nextID, method, result)
}

// awaitReply waits for the reply to command id, bounded by cdpCallTimeout.
func (c *cdpClient) awaitReply(id int, method string, result any) error {
	timeout := time.After(cdpCallTimeout)
	for {
		select {
		case m, ok := <-c.replies:
			if !ok {
				return fmt.Errorf("%s: chromium exited; stderr:\n%s", method, c.stderr.String())
			}
			if m.ID != id {
				continue
			}
			if m.Error != nil {
				return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
			}
			if result == nil {
				return nil
			}
			return json.Unmarshal(m.Result, result)
		case <-timeout:
			return fmt.Errorf("%s: no reply within %v", method, cdpCallTimeout)
		}
	}
}

// openPage creates a tab in c's default browser context and attaches to
// it; commands for the page are then sent with the returned session id
// (flat mode). A browser test cannot go on without its page, so a failure
// ends the test.
func openPage(t *testing.T, c *cdpClient) string {
	t.Helper()
	page, err := c.openPageIn("")
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// newBrowserContext makes a browser context of its own (like a fresh
// incognito profile: no cookies, no storage) for openPageIn.
func (c *cdpClient) newBrowserContext() (string, error) {
	var res struct {
		BrowserContextID string `json:"browserContextId"`
	}
	err := c.call("", "Target.createBrowserContext", map[string]any{}, &res)
	return res.BrowserContextID, err
}

// openPageIn is openPage in the given browser context ("": the default).
func (c *cdpClient) openPageIn(browserContextID string) (string, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	params := map[string]any{"url": "about:blank"}
	if browserContextID != "" {
		params["browserContextId"] = browserContextID
	}
	if err := c.call("", "Target.createTarget", params, &target); err != nil {
		return "", err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	err := c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	if err != nil {
		return "", err
	}
	return attached.SessionID, c.call(attached.SessionID, "Page.enable", nil, nil)
}

// openFreshPage opens a tab in a new browser context: no cookies, no
// storage, a stranger.
func openFreshPage(t *testing.T, c *cdpClient) string {
	t.Helper()
	ctxID, err := c.newBrowserContext()
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.openPageIn(ctxID)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// navigate loads url in the page.
func navigate(t *testing.T, c *cdpClient, page, url string) {
	t.Helper()
	if err := c.call(page, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
}

// evaluate runs a JavaScript expression in the page and decodes its
// (JSON-serialisable) value into out.
func (c *cdpClient) evaluate(sessionID, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	// awaitPromise: an async expression's settled value (others are unchanged).
	params := map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}
	err := c.call(sessionID, "Runtime.evaluate", params, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s", expr, res.ExceptionDetails.Text)
	}
	if len(res.Result.Value) == 0 {
		return errors.New("evaluate: no value")
	}
	return json.Unmarshal(res.Result.Value, out)
}

// setFileInputFiles sets the files of the <input type="file"> that the
// JavaScript expression selector evaluates to, and fires its change event,
// as a user picking those files would.
func (c *cdpClient) setFileInputFiles(sessionID, selector string, paths []string) error {
	var res struct {
		Result struct {
			ObjectID string `json:"objectId"`
		} `json:"result"`
	}
	if err := c.call(sessionID, "Runtime.evaluate", map[string]any{"expression": selector}, &res); err != nil {
		return err
	}
	if res.Result.ObjectID == "" {
		return fmt.Errorf("setFileInputFiles: %s is not an element", selector)
	}
	return c.call(sessionID, "DOM.setFileInputFiles", map[string]any{"files": paths, "objectId": res.Result.ObjectID}, nil)
}

// click presses and releases the left mouse button at (x, y), as a user's
// click would.
func (c *cdpClient) click(sessionID string, x, y float64) error {
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		ev := map[string]any{"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1}
		if err := c.call(sessionID, "Input.dispatchMouseEvent", ev, nil); err != nil {
			return err
		}
	}
	return nil
}

// screenshot returns a PNG of the page's viewport.
func (c *cdpClient) screenshot(sessionID string) ([]byte, error) {
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	err := c.call(sessionID, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	return shot.Data, err
}

// close asks Chromium to quit and kills it if it does not.
func (c *cdpClient) close() {
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	c.toChrome.Write(append([]byte(`{"id":999999,"method":"Browser.close"}`), 0))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.toChrome.Close()
}

// clickSelector clicks the middle of the first element matching selector.
func clickSelector(t *testing.T, c *cdpClient, page, selector string) {
	t.Helper()
	var box struct{ X, Y float64 }
	js := `(() => { const r = document.querySelector(` + jsString(selector) + `).getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`
	if err := c.evaluate(page, js, &box); err != nil {
		t.Fatal(err)
	}
	if err := c.click(page, box.X, box.Y); err != nil {
		t.Fatal(err)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// saveScreenshotAs writes the viewport to artifacts/name.
func saveScreenshotAs(t *testing.T, c *cdpClient, page, name string) {
	t.Helper()
	png, err := c.screenshot(page)
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path, _ := filepath.Abs(filepath.Join("artifacts", name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// requireChromium skips (or in CI fails) without Debian's Chromium.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing in CI: scripts/test installs it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s not installed (apt-get install chromium)", chromiumPath)
	}
}
