package main

import (
	"os"
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
