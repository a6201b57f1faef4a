package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressLinesEveryFewSeconds: off a terminal, a transfer of 12 s
// with a report every 10 ms prints a line at 5 s and 10 s and a last one;
// on a terminal every report rewrites the live line.
func TestProgressLinesEveryFewSeconds(t *testing.T) {
	for _, live := range []bool{false, true} {
		var out bytes.Buffer
		clock := time.Unix(0, 0)
		p := &progress{w: &out, what: "upload", live: live, now: func() time.Time { return clock }, last: clock}
		const reports = 1200
		for i := 1; i <= reports; i++ {
			clock = clock.Add(10 * time.Millisecond)
			p.report(int64(i), reports)
		}
		p.finish()
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if live {
			if n := strings.Count(out.String(), "\r"); n != reports+1 || len(lines) != 1 {
				t.Errorf("on a terminal: %d carriage returns and %d lines, want %d and 1", n, len(lines), reports+1)
			}
			continue
		}
		want := []string{"upload: 500 of 1200 bytes (41%)", "upload: 1000 of 1200 bytes (83%)", "upload: 1200 of 1200 bytes (100%)"}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("off a terminal:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
		}
	}
}

// TestProgressOfNothing: a transfer that reported nothing prints nothing.
func TestProgressOfNothing(t *testing.T) {
	var out bytes.Buffer
	newProgress(&out, "download").finish()
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}

// TestIsTerminal: a pipe, a file and a buffer are no terminal.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(w) || isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Errorf("isTerminal: pipe %v, file %v, buffer %v; want all false", isTerminal(w), isTerminal(f), isTerminal(&bytes.Buffer{}))
	}
}
