package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// requireTool returns the path of a command the test needs. A missing one
// skips the test on a developer's machine but fails it in CI, where
// scripts/test installs it.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing in CI: scripts/test installs it (apt-get install %s)", name, debianPackage)
	}
	t.Skipf("%s not installed (apt-get install %s); scripts/test installs it", name, debianPackage)
	return ""
}

// TestSystemdUnitVerifies runs systemd-analyze verify on deploy/dropp.service
// (with ExecStart pointed at an executable that exists here, since verify
// checks it) and holds its hardening to systemd's own exposure score.
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := requireTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("deploy/dropp.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=dropp", "ProtectSystem=strict", "NoNewPrivileges=yes", "EnvironmentFile=/etc/dropp/dropp.env"} {
		if !bytes.Contains(unit, []byte("\n"+want+"\n")) {
			t.Errorf("dropp.service lacks %s", want)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dropp.service")
	os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/dropp"), []byte(exe)), 0o644)
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for dropp\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Errorf("systemd-analyze security: exposure %.1f, want at most 2.0 (OK)\n%s", score, out)
	}
}

// TestDeployFilesAgree checks what the deploy files promise each other and
// the server: the Dockerfile's health check is the binary's subcommand, its
// DATA_DIR is its volume, and the proxy examples set what Dropp reads.
func TestDeployFilesAgree(t *testing.T) {
	t.Parallel()
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	checks := []struct{ file, want string }{
		{"Dockerfile", `HEALTHCHECK --interval=30s --timeout=10s --start-period=10s CMD ["/dropp", "healthcheck"]`},
		{"Dockerfile", "ENV DATA_DIR=/data ADDR=:8080"},
		{"Dockerfile", "VOLUME /data"},
		{"Dockerfile", "USER 65532:65532"},
		{"compose.yaml", `"127.0.0.1:8080:8080"`},
		{"compose.yaml", "mc mb --ignore-existing local/dropp"},
		{"Caddyfile", "TRUSTED_PROXIES=127.0.0.1"},
		{"Caddyfile", "PUBLIC_URL=https://dropp.example.com"},
		{"nginx.conf", "proxy_set_header X-Forwarded-For $remote_addr;"},
		{"nginx.conf", "client_max_body_size"},
		{"nginx.conf", "TRUSTED_PROXIES=127.0.0.1"},
		{"Dockerfile.dockerignore", "\n.env\n"},
		{"Dockerfile.dockerignore", "\ndropp-data\n"},
	}
	for _, c := range checks {
		if !strings.Contains(read(c.file), c.want) {
			t.Errorf("deploy/%s lacks %q", c.file, c.want)
		}
	}
	for _, name := range []string{"CONTAINER_PORT_ON_HOST_LOOPBACK", "METRICS_ADDR", "LOG_FORMAT", "SECRET_KEY", "MONGODB_URI", "AWS_S3_BUCKET"} {
		if !strings.Contains(read("compose.yaml"), "      "+name+":") || !isSetting(name) {
			t.Errorf("compose.yaml does not set the Dropp setting %s", name)
		}
	}
}

// TestDeployProxyBodyLimits: the proxy examples let through the largest
// request body Dropp takes (a single-form upload of maxSingleBytes plus
// its fields), in each proxy's own units, and their comments state
// MAX_UPLOAD_BYTES's real default.
func TestDeployProxyBodyLimits(t *testing.T) {
	t.Parallel()
	limits := []struct {
		file  string
		limit *regexp.Regexp
		units map[string]int64
	}{
		// Caddy (go-humanize): KB, MB, GB are powers of 10; KiB, MiB, GiB of 2.
		{"Caddyfile", regexp.MustCompile(`(?m)^\s*max_size\s+(\d+)([A-Za-z]*)\s*$`),
			map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}},
		// nginx: k and m (either case) are binary; it has no g.
		{"nginx.conf", regexp.MustCompile(`(?m)^\s*client_max_body_size\s+(\d+)([kKmMgG]?);`),
			map[string]int64{"": 1, "k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}},
	}
	want := int64(maxSingleBytes + localFormOverhead)
	maxUpload, _ := strconv.ParseInt(settingDefault("MAX_UPLOAD_BYTES"), 10, 64)
	stated := regexp.MustCompile(`MAX_UPLOAD_BYTES,? \(?(\d+) GiB by default`)
	for _, l := range limits {
		data, err := os.ReadFile(filepath.Join("deploy", l.file))
		if err != nil {
			t.Fatal(err)
		}
		m := l.limit.FindSubmatch(data)
		if m == nil {
			t.Errorf("deploy/%s sets no body limit that %v matches", l.file, l.limit)
			continue
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		unit, ok := l.units[string(m[2])]
		if !ok || n*unit < want {
			t.Errorf("deploy/%s: body limit %s%s is below %d bytes (5 GiB and the form's fields)", l.file, m[1], m[2], want)
		}
		for _, s := range stated.FindAllSubmatch(data, -1) {
			if gib, _ := strconv.ParseInt(string(s[1]), 10, 64); gib<<30 != maxUpload {
				t.Errorf("deploy/%s says %q, but MAX_UPLOAD_BYTES defaults to %s", l.file, s[0], humanBytes(maxUpload))
			}
		}
	}
}

// TestDeployComposePinsImages: every image deploy/compose.yaml runs is an
// exact release (a version of three numbers, a dated MinIO release, or a
// digest), never latest or a tag that moves, such as mongo:7.
func TestDeployComposePinsImages(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exact := regexp.MustCompile(`^(\d+\.\d+\.\d+([-.][A-Za-z0-9.]+)?|RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)$`)
	digest := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	images := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)\s*$`).FindAllSubmatch(data, -1)
	if len(images) == 0 {
		t.Fatal("deploy/compose.yaml names no image")
	}
	for _, m := range images {
		ref, sum, pinned := strings.Cut(string(m[1]), "@")
		name, tag := ref, ""
		if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			name, tag = ref[:i], ref[i+1:]
		}
		if pinned && !digest.MatchString(sum) || !pinned && !exact.MatchString(tag) {
			t.Errorf("deploy/compose.yaml runs %s: pin %s to an exact release", m[1], name)
		}
	}
}

// mustConfig loads the configuration from env or fails the test.
func mustConfig(t *testing.T, env map[string]string) *config {
	t.Helper()
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
