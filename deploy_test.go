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
// checks it) and holds its hardening to systemd's own exposure score; then
// the same with the drop-in deploy/dropp-ports.conf beside it, as the
// README's team server installs it.
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
	dropIn, err := os.ReadFile("deploy/dropp-ports.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "dropp.service")
	os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/dropp"), []byte(exe)), 0o644)
	verifyUnit(t, analyze, path)
	os.Mkdir(filepath.Join(dir, "dropp.service.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "dropp.service.d", "ports.conf"), dropIn, 0o644)
	verifyUnit(t, analyze, path)
}

// verifyUnit runs systemd-analyze verify and security on the unit at path
// (with any drop-ins beside it) and wants an exposure of at most 2.0 ("OK").
func verifyUnit(t *testing.T, analyze, path string) {
	t.Helper()
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	cmd := exec.Command(analyze, "security", "--offline=yes", filepath.Base(path))
	cmd.Dir = filepath.Dir(path) // where it finds dropp.service.d/
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for dropp\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Errorf("systemd-analyze security: exposure %.1f, want at most 2.0 (OK)\n%s", score, out)
	} else {
		t.Logf("systemd-analyze security %s: exposure %.1f", path, score)
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

// teamServerSteps are what the README's "A team server on one machine"
// block says to do; TestTeamServerOnOneMachine runs them.
type teamServerSteps struct {
	build    []string          // the build command before "&&": CGO_ENABLED=0 go build ...
	envFile  string            // where the settings are written
	settings map[string]string // the settings written there
	installs map[string]string // deploy/ file → where it is installed
	invite   []string          // the arguments of `dropp invite`
}

// readTeamServerSteps reads the README's block marked as tested by
// teamserver_test.go.
func readTeamServerSteps(t *testing.T) teamServerSteps {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "## A team server on one machine")
	if ok {
		_, rest, ok = strings.Cut(rest, "<!-- tested: teamserver_test.go -->\n```sh\n")
	}
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal(`README.md: no "A team server on one machine" block marked <!-- tested: teamserver_test.go -->`)
	}
	steps := teamServerSteps{settings: map[string]string{}, installs: map[string]string{}}
	setting := regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(\S+)$`)
	envFile := regexp.MustCompile(`cat >(\S+) <<'EOF'`)
	install := regexp.MustCompile(`^install -m 0644 (?:-D )?(deploy/\S+) (\S+)`)
	for _, line := range strings.Split(block, "\n") {
		if m := setting.FindStringSubmatch(line); m != nil {
			steps.settings[m[1]] = m[2]
		}
		if m := envFile.FindStringSubmatch(line); m != nil {
			steps.envFile = m[1]
		}
		if m := install.FindStringSubmatch(line); m != nil {
			steps.installs[m[1]] = m[2]
		}
		if cmd, _, ok := strings.Cut(line, " && install "); ok && strings.Contains(cmd, " go build ") {
			steps.build = strings.Fields(cmd)
		}
		if _, args, ok := strings.Cut(line, "&& dropp invite "); ok {
			steps.invite = append([]string{"invite"}, strings.Fields(strings.TrimSuffix(args, ")"))...)
		}
	}
	if len(steps.build) == 0 || steps.envFile == "" || len(steps.settings) == 0 || len(steps.invite) < 2 {
		t.Fatalf("README.md's team server block lacks the build command, the settings file or the invite command: %+v", steps)
	}
	return steps
}

// TestDeployTeamServerAgrees: the README's team server steps and the files
// they install agree: the settings are Dropp's and make a valid
// configuration (HTTPS by itself, accounts, local store and objects); the
// unit reads the file they are written to and has the same DATA_DIR; the
// unit and its ports drop-in are installed where systemd finds them; every
// setting the unit sets is Dropp's.
func TestDeployTeamServerAgrees(t *testing.T) {
	t.Parallel()
	steps := readTeamServerSteps(t)
	for name := range steps.settings {
		if !isSetting(name) {
			t.Errorf("README's team server settings name %s, which is not a Dropp setting", name)
		}
	}
	cfg, err := loadConfig(testGetenv(steps.settings))
	if err != nil {
		t.Fatalf("README's team server settings: %v", err)
	}
	if !cfg.TLS.Auto || !cfg.accountsSignIn() || !cfg.localMetadata() || !cfg.localObjectStore() || cfg.Addr != ":443" || cfg.TLS.HTTPAddr != ":80" {
		t.Errorf("README's team server settings give TLS auto %v, accounts %v, local %v/%v, ADDR %q, HTTP_ADDR %q",
			cfg.TLS.Auto, cfg.accountsSignIn(), cfg.localMetadata(), cfg.localObjectStore(), cfg.Addr, cfg.TLS.HTTPAddr)
	}
	unit, err := os.ReadFile("deploy/dropp.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("\nEnvironmentFile="+steps.envFile+"\n")) {
		t.Errorf("deploy/dropp.service does not read %s, where the README writes the settings", steps.envFile)
	}
	for _, m := range regexp.MustCompile(`(?m)^Environment=([A-Z_]+)=(\S*)$`).FindAllSubmatch(unit, -1) {
		name, value := string(m[1]), string(m[2])
		if !isSetting(name) {
			t.Errorf("deploy/dropp.service sets %s, which is not a Dropp setting", name)
		}
		if readme, ok := steps.settings[name]; ok && readme != value {
			t.Errorf("deploy/dropp.service sets %s=%s, the README's settings %s", name, value, readme)
		}
	}
	want := map[string]string{
		"deploy/dropp.service":    "/etc/systemd/system/dropp.service",
		"deploy/dropp-ports.conf": "/etc/systemd/system/dropp.service.d/ports.conf",
	}
	for file, path := range want {
		if steps.installs[file] != path {
			t.Errorf("README installs %s as %q, want %s", file, steps.installs[file], path)
		}
	}
}

// TestDeployComposeSmall: deploy/compose.small.yaml, the small team's
// compose file, sets only Dropp's settings, and they make a valid
// configuration with the image's DATA_DIR: local store and objects (no
// MongoDB, no S3), accounts, TLS=auto; its published ports 443 and 80
// lead to ADDR and HTTP_ADDR.
func TestDeployComposeSmall(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("deploy/compose.small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATA_DIR": "/data"} // the Dockerfile's ENV
	required := regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`)
	for _, m := range regexp.MustCompile(`(?m)^      ([A-Z][A-Z0-9_]*): (.*)$`).FindAllStringSubmatch(string(data), -1) {
		name, value := m[1], strings.Trim(m[2], `"`)
		if !isSetting(name) {
			t.Errorf("compose.small.yaml sets %s, which is not a Dropp setting", name)
		}
		switch {
		case required.MatchString(value) && name == "PUBLIC_URL":
			value = "https://dropp.example.com"
		case strings.HasPrefix(value, "${") && strings.HasSuffix(value, ":-}"):
			value = ""
		}
		env[name] = value
	}
	cfg, err := loadConfig(testGetenv(env))
	if err != nil {
		t.Fatalf("compose.small.yaml's settings: %v", err)
	}
	if !cfg.localMetadata() || !cfg.localObjectStore() || !cfg.accountsSignIn() || !cfg.TLS.Auto {
		t.Errorf("compose.small.yaml: local %v/%v, accounts %v, TLS auto %v; want all", cfg.localMetadata(), cfg.localObjectStore(), cfg.accountsSignIn(), cfg.TLS.Auto)
	}
	for host, addr := range map[string]string{"443": cfg.Addr, "80": cfg.TLS.HTTPAddr} {
		_, port, _ := strings.Cut(addr, ":")
		if !strings.Contains(string(data), `- "`+host+":"+port+`"`) {
			t.Errorf("compose.small.yaml does not publish port %s to %s", host, addr)
		}
	}
	if strings.Contains(string(data), "image:") {
		t.Error("compose.small.yaml runs an image beside Dropp; the small variant is Dropp alone")
	}
}
