package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A removal is durable only once the directory that held the name is
// fsynced: a power loss can otherwise bring the file back. No process kill
// shows that (the page cache survives it), so these tests watch the
// system calls instead, with strace.

// traceChild runs the test named child in a new process of this test
// binary under strace, with env added, and returns the trace of its
// removals and syncs, each file descriptor shown with its path (-y).
// The child does its work only when env tells it to (childDir).
func traceChild(t *testing.T, child string, env ...string) string {
	t.Helper()
	strace := requireTool(t, "strace", "strace")
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-y", "-o", out, "-e", "trace=unlinkat,fsync,fdatasync",
		os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s under strace: %v\n%s", child, err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(trace)
}

// childDir is the directory a traced child works in, or "" (then the
// child is not a child, and skips).
func childDir(t *testing.T) string {
	dir := os.Getenv("DROPP_TRACED_CHILD_DIR")
	if dir == "" {
		t.Skip("run under strace by the test that names it")
	}
	return dir
}

// tracedCall matches a call of a trace (-y): its name, the path of its
// file descriptor, and for unlinkat the name it removed, relative to that.
var tracedCall = regexp.MustCompile(`^\d+ +(unlinkat|fsync|fdatasync)\([^<]*<([^>]*)>(?:, "([^"]*)")?.*= 0`)

// removalsSynced reads a trace and tells whether a file whose name
// matches was removed, and whether each such removal was followed by a
// sync of the directory that held it.
func removalsSynced(trace string, name *regexp.Regexp) (removed, synced bool) {
	unsynced := map[string]bool{} // directories with a removal not synced since
	for _, line := range strings.Split(trace, "\n") {
		m := tracedCall.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[1] == "unlinkat":
			file := m[3]
			if !filepath.IsAbs(file) {
				file = filepath.Join(m[2], file)
			}
			if name.MatchString(file) {
				removed, unsynced[filepath.Dir(file)] = true, true
			}
		default:
			delete(unsynced, m[2])
		}
	}
	return removed, removed && len(unsynced) == 0
}
