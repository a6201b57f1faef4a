package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration table
// true: every variable the server reads has a row, with its default.
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
}
