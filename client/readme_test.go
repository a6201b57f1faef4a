package client

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeBlock is the sh code block that follows marker in the README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), marker+"\n```sh\n")
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatalf("README.md has no sh block after %q", marker)
	}
	return block
}

// TestREADMECurlExample runs the README's end-to-end curl example, as it
// stands, against the server.
func TestREADMECurlExample(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the example needs %s", tool)
		}
	}
	script := readmeBlock(t, "<!-- tested: client/readme_test.go -->")
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "S="+testServer(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the README example failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, want := range []string{"204\n", `"status":"complete"`, `"next_cursor":null`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the example's output lacks %q:\n%s", want, out)
		}
	}
	if n := bytes.Count(out, []byte("204\n")); n != 3 {
		t.Errorf("%d answers 204, want 3 (upload, delete, logout):\n%s", n, out)
	}
}
