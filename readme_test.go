package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration table
// true: every variable the server reads has a row, with its default, and
// every older name still read has one that names its setting.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, s := range settings {
		row := "| `" + s.name + "` | " + s.shownDefault() + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no configuration row starting %q", row)
		}
	}
	for _, a := range settingAliases {
		row := "| `" + a.alias + "` | older name of `" + a.name + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no configuration row starting %q", row)
		}
	}
}

// TestCommentsCiteNoMissingSecurityFile: the security checklist lives
// outside the repository, so comments cite it as "security checklist item
// N" (or describe the attack), never as a file of the repository.
func TestCommentsCiteNoMissingSecurityFile(t *testing.T) {
	t.Parallel()
	missing := "SECURITY" + ".md" // split, so that this file does not cite it
	if _, err := os.Stat(missing); err == nil {
		t.Skip(missing + " is in the repository")
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, missing) {
				t.Errorf("%s:%d cites %s, which is not in the repository: %s", name, i+1, missing, strings.TrimSpace(line))
			}
		}
	}
}

// docBlock is the sh code block that follows marker in the document at
// path.
func docBlock(t *testing.T, path, marker string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), marker+"\n```sh\n")
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatalf("%s has no sh block after %q", path, marker)
	}
	return block
}

// crashedPart is what the test runs between the first step of
// docs/api.md's multipart script and the rest, standing in for a crash
// after part 1 was stored with other bytes of its size (a part PUT cut
// short, as versitygw lists it), which the script must find and send again.
const crashedPart = `url=$(curl -sf "$API/upload/$id/parts" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' \
  -d '{"part_numbers": [1]}' | jq -r '.parts[0].url')
head -c "$ps" /dev/zero | curl -sf -o /dev/null -X PUT --data-binary @- "$url"
`

// TestAPIDocMultipartScript runs docs/api.md's resumable upload script, as
// it stands, against the server: its first step, then a crash that left
// part 1 stored with other bytes, then the rest, which must send part 1
// again and the parts not stored, and complete a file with disk.img's
// bytes (review 16: the script's "-T -" had every part refused 411; review
// 13: it skipped any part listed). On S3 (versitygw) and the local store.
func TestAPIDocMultipartScript(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq", "dd", "md5sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the script needs %s", tool)
		}
	}
	script := docBlock(t, "docs/api.md", "<!-- tested: readme_test.go -->")
	announce, resume, ok := strings.Cut(script, "# 2. ")
	if !ok {
		t.Fatal(`docs/api.md's multipart script has no step "# 2. "`)
	}
	onEachObjectStoreWithSmallParts(t, func(t *testing.T, e *testEnv) {
		const size = 2*minPartBytes + 12345 // 3 parts
		dir := t.TempDir()
		data := make([]byte, size)
		rand.Read(data)
		if err := os.WriteFile(filepath.Join(dir, "disk.img"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := partsClient{t: t, e: e, token: e.newUser("scripter")}
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", announce+crashedPart+"# 2. "+resume)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "API="+e.URL, "T="+c.token)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || bytes.Contains(out, []byte("failed")) {
			t.Fatalf("the script: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
		}
		var done struct{ File fileOut }
		if err := json.Unmarshal(out, &done); err != nil || done.File.Status != "complete" {
			t.Fatalf("the script's complete answered %s (%v)", out, err)
		}
		want := sha256.Sum256(data)
		if n, sum := c.downloadSHA256(done.File.ID); n != size || sum != hex.EncodeToString(want[:]) {
			t.Errorf("the file downloads as %d bytes with SHA-256 %s, want disk.img's %d bytes, %x", n, sum, size, want)
		}
	})
}
