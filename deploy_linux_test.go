package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestScratchImage proves that the container image works without building
// it: the binary is built with the Dockerfile's own `go build` line and
// run in an empty root holding only the binary, the CA file and /data (the
// image's whole content). There it answers /healthz and `dropp healthcheck`,
// and a desktop client signs in, uploads and downloads.
func TestScratchImage(t *testing.T) {
	t.Parallel()
	root := newScratchRoot(t)
	base, stop := startInRoot(t, root, "ADDR=127.0.0.1:0")
	defer stop()
	c := noRedirectClient()
	if body := fetch(t, c, base+"/healthz"); !bytes.Contains(body, []byte("ok")) {
		t.Errorf("/healthz = %s", body)
	}
	hc := rootCommand(root, "/dropp", "healthcheck")
	hc.Env = []string{"ADDR=" + strings.TrimPrefix(base, "http://")}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("dropp healthcheck in the empty root: %v\n%s", err, out)
	}
	token := desktopSignIn(t, c, base)
	content := []byte("from a scratch image\n")
	id := uploadFile(t, c, base, token, "scratch.txt", content)
	dl := apiGet[downloadOut](t, c, base+"/download/"+id, token)
	if got := fetch(t, c, dl.URL); !bytes.Equal(got, content) {
		t.Fatalf("download = %q", got)
	}
}

// TestContainerLoopbackPublishing: CONTAINER_PORT_ON_HOST_LOOPBACK lets
// local sign-in listen on all of a container's interfaces, but only in a
// container (the empty root without /.dockerenv is refused, with it
// accepted), and it relaxes nothing else: a non-loopback Host is still
// refused, and sign-in through the loopback address works.
func TestContainerLoopbackPublishing(t *testing.T) {
	t.Parallel()
	root := newScratchRoot(t)
	cmd := rootCommand(root, "/dropp")
	cmd.Env = []string{"ADDR=:0", "DATA_DIR=/data", "CONTAINER_PORT_ON_HOST_LOOPBACK=true"}
	out, err := cmd.CombinedOutput()
	if exitCode := cmd.ProcessState.ExitCode(); err == nil || exitCode != 1 || !strings.Contains(string(out), "CONTAINER_PORT_ON_HOST_LOOPBACK=true but this process is not in a container") {
		t.Fatalf("outside a container: exit %d, %v\n%s", exitCode, err, out)
	}
	cmd = rootCommand(root, "/dropp")
	cmd.Env = []string{"ADDR=:0", "DATA_DIR=/data"}
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `ADDR ":0" is not a loopback address`) {
		t.Fatalf("without the setting, ADDR :0 with local sign-in: %v\n%s", err, out)
	}

	if err := os.WriteFile(filepath.Join(root, ".dockerenv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startInRoot(t, root, "ADDR=:0", "CONTAINER_PORT_ON_HOST_LOOPBACK=true")
	defer stop()
	base = strings.Replace(base, "localhost", "127.0.0.1", 1)
	c := noRedirectClient()
	token := desktopSignIn(t, c, base)
	apiGet[struct{}](t, c, base+"/me", token)

	req, _ := http.NewRequest("GET", base+"/login/", nil)
	req.Host = "dropp.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("non-loopback Host in a container: %d, want 400", resp.StatusCode)
	}
}

// newScratchRoot builds the binary as the Dockerfile does and lays out
// what the image holds: /dropp, the CA file and an empty /data.
func newScratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	bin, err := scratchBinary(dockerfileBuildLine(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dropp"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA file to copy into the image: %v", err)
	}
	certs := filepath.Join(root, "etc", "ssl", "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

// scratchBinary builds the binary with the Dockerfile's build line, once
// for all the tests of this run (a static build shares little of the cache).
func scratchBinary(build string) ([]byte, error) {
	scratchBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "dropp-scratch-")
		if err != nil {
			scratchBuild.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "dropp")
		if msg, err := exec.Command("sh", "-c", strings.Replace(build, "/out/dropp", out, 1)).CombinedOutput(); err != nil {
			scratchBuild.err = fmt.Errorf("%s: %v\n%s", build, err, msg)
			return
		}
		scratchBuild.bin, scratchBuild.err = os.ReadFile(out)
	})
	return scratchBuild.bin, scratchBuild.err
}

var scratchBuild struct {
	once sync.Once
	bin  []byte
	err  error
}

// dockerfileBuildLine is the Dockerfile's `go build` command, so the test
// builds exactly what the image holds.
func dockerfileBuildLine(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if cmd, ok := strings.CutPrefix(line, "RUN "); ok && strings.Contains(cmd, "go build") {
			if !strings.Contains(cmd, "CGO_ENABLED=0") || !strings.Contains(cmd, "-trimpath") || !strings.Contains(cmd, "-o /out/dropp") {
				t.Fatalf("Dockerfile's build line %q must be static (CGO_ENABLED=0), -trimpath, -o /out/dropp", cmd)
			}
			return cmd
		}
	}
	t.Fatal("Dockerfile has no RUN ... go build line")
	return ""
}

// rootCommand runs name with root as its file system root: chroot as
// root, or inside a new user namespace (mapped to root) otherwise.
func rootCommand(root, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	if os.Getuid() != 0 {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	return cmd
}

// startInRoot starts /dropp in root with DATA_DIR=/data and env, and
// returns its base URL and a stop func.
func startInRoot(t *testing.T, root string, env ...string) (string, func()) {
	t.Helper()
	cmd := rootCommand(root, "/dropp")
	cmd.Env = append([]string{"DATA_DIR=/data"}, env...)
	return startChild(t, cmd, nil)
}
