// Package testserver runs the real Dropp server for the client's tests:
// the dropp binary built from the repository's root, in local mode (its
// own store and objects in a temporary directory; sign-in signs in at
// once, on loopback), and, when scripts/test's rig binaries are named
// (DROPP_TESTRIG_BIN, DROPP_VERSITYGW_BIN), once more on FerretDB and
// versitygw. The library's tests and the CLI's both use it, so that there
// is one way to start a server.
package testserver

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Backend is one running server.
type Backend struct{ Name, URL string }

var (
	mu       sync.Mutex
	dir      string
	bin      string
	local    *Backend
	rig      *Backend
	startErr error
	procs    []*exec.Cmd
)

// Local is the local-mode server's URL, started on first use.
func Local(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if local == nil && startErr == nil {
		local, startErr = startLocal()
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	return local.URL
}

// Backends are the local-mode server and, when the rig's binaries are
// named, the server on FerretDB and versitygw, started on first use.
func Backends(t testing.TB) []Backend {
	t.Helper()
	Local(t)
	mu.Lock()
	defer mu.Unlock()
	ferret, gw := os.Getenv("DROPP_TESTRIG_BIN"), os.Getenv("DROPP_VERSITYGW_BIN")
	if ferret == "" || gw == "" {
		return []Backend{*local}
	}
	if rig == nil && startErr == nil {
		rig, startErr = startRig(ferret, gw)
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	return []Backend{*local, *rig}
}

// Stop ends every process it started and removes their files; TestMain
// calls it after the tests.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	for _, p := range procs {
		p.Process.Kill()
		p.Wait()
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// FollowBrowser plays the browser: it follows the sign-in redirects,
// which in local mode lead at once to the app's loopback listener.
func FollowBrowser(u string) error {
	go func() {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
		}
	}()
	return nil
}

// build makes the temporary directory and the dropp binary in it.
func build() error {
	if bin != "" {
		return nil
	}
	d, err := os.MkdirTemp("", "dropp-client-test-")
	if err != nil {
		return err
	}
	dir = d
	_, self, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "dropp"), ".")
	cmd.Dir = filepath.Join(filepath.Dir(self), "..", "..", "..") // client/internal/testserver → the repository
	if out, err := cmd.CombinedOutput(); err != nil {
		return &startError{out}
	}
	bin = filepath.Join(dir, "dropp")
	return nil
}

func startLocal() (*Backend, error) {
	if err := build(); err != nil {
		return nil, err
	}
	u, err := startProc("local", "ADDR=", "DATA_DIR="+filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	return &Backend{"local", u}, nil
}

// startRig starts FerretDB (testrig) and versitygw, then a server on them.
func startRig(ferretBin, gwBin string) (*Backend, error) {
	rigDir := filepath.Join(dir, "rig")
	mongoAddr, s3Addr := freeAddr(), freeAddr()
	ferret := exec.Command(ferretBin, "-listen", mongoAddr, "-dir", filepath.Join(rigDir, "ferretdb"))
	if err := startLogged(ferret, "ferretdb", "ready "); err != nil {
		return nil, err
	}
	// versitygw's posix backend serves each directory of its root as a
	// bucket: making the directory makes the bucket.
	if err := os.MkdirAll(filepath.Join(rigDir, "s3", "dropp"), 0o700); err != nil {
		return nil, err
	}
	gw := exec.Command(gwBin, "--port", s3Addr, "--region", "us-east-1", "posix", filepath.Join(rigDir, "s3"))
	gw.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=droppClientKey", "ROOT_SECRET_ACCESS_KEY=droppClientSecret")
	if err := startLogged(gw, "versitygw", ""); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", s3Addr); err == nil {
			c.Close()
			break
		} else if i == 100 {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := startProc("mongodb+s3", "ADDR=", "MONGODB_URI=mongodb://"+mongoAddr+"/", "MONGO_DB=dropp_client",
		"AWS_S3_BUCKET=dropp", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3=http://"+s3Addr, "S3_FORCE_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID=droppClientKey", "AWS_SECRET_ACCESS_KEY=droppClientSecret",
		"SECRET_KEY=client-test-secret-key-0123456789abcdef-0123")
	if err != nil {
		return nil, err
	}
	return &Backend{"mongodb+s3", u}, nil
}

// startLogged starts cmd with its output in a log file and, if ready is
// not "", waits for a line starting with it.
func startLogged(cmd *exec.Cmd, name, ready string) error {
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	procs = append(procs, cmd)
	lines := bufio.NewScanner(out)
	found := ready == ""
	for !found && lines.Scan() {
		found = strings.HasPrefix(lines.Text(), ready)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	if !found {
		data, _ := os.ReadFile(logFile.Name())
		return &startError{append([]byte(name+" exited before it was ready: "), data...)}
	}
	return nil
}

// startProc starts the dropp binary with env (ADDR= is given a free
// port) and returns its URL once it listens.
func startProc(name string, env ...string) (string, error) {
	addr := freeAddr()
	cmd := exec.Command(bin)
	cmd.Dir = dir // no .env of the developer's
	// WEBHOOK_ALLOW_PRIVATE: webhooks may go to the tests' receivers, on loopback.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WEBHOOK_ALLOW_PRIVATE=true"}
	for _, kv := range env {
		if kv == "ADDR=" {
			kv += addr
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if err := startLogged(cmd, "dropp-"+name, "listening: "); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type startError struct{ out []byte }

func (e *startError) Error() string { return "dropp: " + string(e.out) }

// ShareLinkStatus is the status of a share link's JSON answer: 200 while
// it works, 404 once it is revoked, used up or expired.
func ShareLinkStatus(t testing.TB, link string) int {
	t.Helper()
	req, err := http.NewRequest("GET", link, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// CreatedMode is the mode os.Create gives a new file under this process's
// umask (which a process it starts inherits): what a downloaded file
// must get.
func CreatedMode(t testing.TB) os.FileMode {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}
