package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cliFailure is a start that must fail with one line, and what that line
// must say.
type cliFailure struct {
	name  string
	env   map[string]string
	setup func(t *testing.T, dataDir string) // prepares DATA_DIR, if set
	want  []string                           // substrings of the error
}

// cliBackendFailures are backends that fail to open. Each once crashed
// the server with a nil dereference in openBackends' deferred close.
func cliBackendFailures() []cliFailure {
	return []cliFailure{
		{name: "DATA_DIR in use", setup: cliHoldDataDir,
			want: []string{"DATA_DIR", "in use by another Dropp process", "stop that server"}},
		{name: "metadata log damaged in the middle", setup: cliDamageLog,
			want: []string{"DATA_DIR", "corrupt", "truncate it"}},
		{name: "DATA_DIR objects is a file", setup: cliObjectsIsAFile,
			want: []string{"DATA_DIR", "local object store"}},
		{name: "MONGODB_URI unclosed bracket", env: map[string]string{"MONGODB_URI": "mongodb://user:s3cret@[bad", "SECRET_KEY": testSecretKey},
			want: []string{"MONGODB_URI: not a valid connection string (want mongodb://host:port/", "mongodb://xxxxx@[bad"}},
		{name: "MONGODB_URI without scheme", env: map[string]string{"MONGODB_URI": "localhost:27017", "SECRET_KEY": testSecretKey},
			want: []string{"MONGODB_URI: not a valid connection string", "mongodb://"}},
		{name: "MONGODB_URI the driver refuses", env: map[string]string{"MONGODB_URI": "mongodb://user:s3cret@127.0.0.1:1/?ssl=maybe", "SECRET_KEY": testSecretKey},
			want: []string{"MONGODB_URI:", "ssl"}},
	}
}

// cliHoldDataDir opens DATA_DIR's metadata store, as a running server does.
func cliHoldDataDir(t *testing.T, dataDir string) {
	openTestLocalStore(t, filepath.Join(dataDir, "metadata"))
}

// cliDamageLog writes a metadata log and flips a bit of its first record.
func cliDamageLog(t *testing.T, dataDir string) {
	s, err := openLocalStore(filepath.Join(dataDir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	writeLocalFixture(t, s)
	ctMust(t, "Close", s.Close(t.Context()))
	path := filepath.Join(dataDir, "metadata", localLogName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[localCRCLen+5] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// cliObjectsIsAFile makes the local object store fail after the metadata
// store opened, so openBackends must close what it already opened.
func cliObjectsIsAFile(t *testing.T, dataDir string) {
	if err := os.WriteFile(filepath.Join(dataDir, "objects"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// env is the failure's environment on a fresh DATA_DIR, prepared by setup.
func (c cliFailure) prepare(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()}
	for k, v := range c.env {
		env[k] = v
	}
	if c.setup != nil {
		c.setup(t, env["DATA_DIR"])
	}
	return env
}

// TestCLIBackendFailuresThroughRun: every backend that fails to open gives
// runDropp an error of one line that says what is wrong and what to do, and
// never a panic; a password in MONGODB_URI never shows.
func TestCLIBackendFailuresThroughRun(t *testing.T) {
	t.Parallel()
	for _, c := range cliBackendFailures() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runDropp(ctx, []string{"dropp"}, testGetenv(c.prepare(t)), &stdout, &stderr)
			if err == nil {
				t.Fatalf("run = nil, want an error; stdout %q", stdout.String())
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || strings.Contains(msg, "s3cret") {
				t.Errorf("error %q: want one line without the password", msg)
			}
			for _, want := range c.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
}

// cliRun runs the binary in dir with only env and returns its outputs and
// exit status.
func cliRun(t *testing.T, bin, dir string, env map[string]string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", bin, err)
	}
	return out.String(), errOut.String(), status
}

// TestCLIBinary runs the built program as an operator would: failures end
// with "dropp: " and a helpful line, exit status 1 and no stack trace;
// misspelt variables (from the environment and from .env) are warned
// about; version prints the build; an unknown argument exits 2.
func TestCLIBinary(t *testing.T) {
	t.Parallel()
	bin := buildDropp(t)
	noCrash := func(t *testing.T, stderr string) {
		t.Helper()
		if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
			t.Errorf("stderr shows a crash:\n%s", stderr)
		}
	}
	for _, c := range cliBackendFailures() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, status := cliRun(t, bin, t.TempDir(), c.prepare(t))
			noCrash(t, stderr)
			if status != 1 || !strings.HasPrefix(stderr, "dropp: ") || !strings.Contains(stderr, c.want[0]) || strings.Contains(stderr, "s3cret") {
				t.Errorf("exit status %d, stderr:\n%s\nwant status 1 and \"dropp: ...%s...\" without the password", status, stderr, c.want[0])
			}
		})
	}
	t.Run("every problem and near-miss at once", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("AWS_S3_BUCKETS=files\nPRESIGN_TTL_SECONDS=abc\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"ADDR": "18712", "GOOGLE_CLIENTID": "id", "AWS_PROFILE": "dev"}
		_, stderr, status := cliRun(t, bin, dir, env)
		noCrash(t, stderr)
		for _, want := range []string{
			"GOOGLE_CLIENTID is not a Dropp setting; did you mean GOOGLE_CLIENT_ID?",
			"AWS_S3_BUCKETS is not a Dropp setting; did you mean AWS_S3_BUCKET?",
			"\ndropp: PRESIGN_TTL_SECONDS: want an integer", "\ndropp: ADDR: want host:port",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if status != 1 || strings.Contains(stderr, "AWS_PROFILE") {
			t.Errorf("exit status %d (want 1), stderr:\n%s", status, stderr)
		}
	})
	for _, args := range [][]string{{"version"}, {"-version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, status := cliRun(t, bin, t.TempDir(), nil, args...)
			if status != 0 || !strings.HasPrefix(stdout, "dropp ") || !strings.Contains(stdout, ", revision ") {
				t.Errorf("exit status %d, stdout %q, stderr %q; want status 0 and the version", status, stdout, stderr)
			}
		})
	}
	t.Run("unknown argument", func(t *testing.T) {
		t.Parallel()
		_, stderr, status := cliRun(t, bin, t.TempDir(), nil, "serve")
		if status != 2 || !strings.Contains(stderr, "Usage:") || !strings.Contains(stderr, `dropp: unexpected argument "serve"`) {
			t.Errorf("exit status %d, stderr:\n%s\nwant 2, the usage and the argument named", status, stderr)
		}
	})
}

// TestCLIVersion: both spellings print the version and stop.
func TestCLIVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "-version", "--version"} {
		var stdout, stderr bytes.Buffer
		err := runDropp(t.Context(), []string{"dropp", arg}, configGetenv(), &stdout, &stderr)
		if err != nil || !strings.HasPrefix(stdout.String(), "dropp ") || !strings.Contains(stdout.String(), ", revision ") {
			t.Errorf("run %s = %v, stdout %q; want the version", arg, err, stdout.String())
		}
	}
}

// TestCLIVersionLine covers the build info versionLine reads.
func TestCLIVersionLine(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"},
	}}
	cases := []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{stamped, true, "dropp v1.2.3, revision 0123abcd (modified), go1.26.0"},
		{&debug.BuildInfo{GoVersion: "go1.26.0"}, true, "dropp (devel), revision unknown, go1.26.0"},
		{nil, false, "dropp (devel), revision unknown"},
	}
	for _, c := range cases {
		if got := versionLine(c.info, c.ok); got != c.want {
			t.Errorf("versionLine = %q, want %q", got, c.want)
		}
	}
}

// TestCLIRefusesArguments: dropp takes no argument but version; anything
// else is refused with the usage, not silently ignored.
func TestCLIRefusesArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"serve"}, {"version", "now"}, {"-version", "x"}, {"--", "x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runDropp(ctx, append([]string{"dropp"}, args...), configGetenv("ADDR", "127.0.0.1:0", "DATA_DIR", t.TempDir()), &stdout, &stderr)
			if exitCode(err) != 2 || !strings.Contains(stderr.String(), "Usage:") {
				t.Errorf("run %v = %v (exit status %d), stderr %q; want a usage error", args, err, exitCode(err), stderr.String())
			}
		})
	}
}

// TestCLIExitCode: help is success, a bad command line 2, the rest 1.
func TestCLIExitCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{usageError{errors.New("flag provided but not defined: -port")}, 2},
		{errors.New("DATA_DIR: in use"), 1},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestCLIWarnsAboutNearMisses: runDropp warns, before anything else, about the
// names it is given that look like a misspelt setting.
func TestCLIWarnsAboutNearMisses(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := runDropp(t.Context(), []string{"dropp"}, configGetenv("ADDR", "18712"), &stdout, &stderr,
		"ADDR", "PATH", "GOOGLE_CLIENTID", "AWS_PROFILE")
	configWantError(t, err, "ADDR")
	got := stderr.String()
	if !strings.Contains(got, "GOOGLE_CLIENTID is not a Dropp setting; did you mean GOOGLE_CLIENT_ID?") ||
		strings.Contains(got, "PATH") || strings.Contains(got, "AWS_PROFILE") || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr %q, want exactly one warning, about GOOGLE_CLIENTID", got)
	}
}

// TestCLIWarnsAboutOtherServersNames: PORT and DROPP_DATA_DIR, which other
// servers read, are not silently ignored: runDropp says which setting, with
// the value, was meant.
func TestCLIWarnsAboutOtherServersNames(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := runDropp(t.Context(), []string{"dropp"}, configGetenv("ADDR", "18712", "PORT", "8195", "DROPP_DATA_DIR", "/srv/dropp"),
		&stdout, &stderr, "ADDR", "PORT", "DROPP_DATA_DIR")
	configWantError(t, err, "ADDR")
	got := stderr.String()
	for _, want := range []string{
		"PORT is not a Dropp setting and is ignored; did you mean ADDR=:8195 (ADDR=127.0.0.1:8195 with local sign-in)?",
		"DROPP_DATA_DIR is not a Dropp setting and is ignored; did you mean DATA_DIR?",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr %q lacks %q", got, want)
		}
	}
}

// TestCLIPortInUse: when another program holds ADDR's port (or
// METRICS_ADDR's), runDropp's error says so and how to choose another.
func TestCLIPortInUse(t *testing.T) {
	t.Parallel()
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	next, _ := strconv.Atoi(port)
	for _, setting := range []string{"ADDR", "METRICS_ADDR"} {
		env := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir(), setting: addr}
		err := runDropp(t.Context(), []string{"dropp"}, testGetenv(env), io.Discard, io.Discard)
		want := fmt.Sprintf("another program uses this port: set %s, e.g. %s=127.0.0.1:%d", setting, setting, next+1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s on a port in use: %v, want it to say %q", setting, err, want)
		}
	}
}
