package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progressEvery is how often a transfer's progress is printed where it
// is not a terminal: a log or a pipe gets a line every few seconds, not
// a line for each read.
const progressEvery = 5 * time.Second

// progress prints a transfer's progress: on a terminal as one live line,
// rewritten in place; elsewhere as a line at most every progressEvery,
// and a last line when the transfer ends.
type progress struct {
	mu          sync.Mutex // transfers report from their own goroutines
	w           io.Writer
	what        string
	live        bool
	now         func() time.Time
	last        time.Time // when a line was last printed (or the transfer began)
	done, total int64
	reported    bool
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, live: isTerminal(w), now: time.Now, last: time.Now()}
}

// report is the transfer's client.Progress.
func (p *progress) report(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total, p.reported = done, total, true
	switch now := p.now(); {
	case p.live:
		fmt.Fprintf(p.w, "\r%s", p.line())
	case now.Sub(p.last) >= progressEvery:
		fmt.Fprintln(p.w, p.line())
		p.last = now
	}
}

// finish ends the progress, whether the transfer ended well or not: the
// live line is ended, or the last state printed.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reported {
		return
	}
	if p.live {
		fmt.Fprint(p.w, "\r")
	}
	fmt.Fprintln(p.w, p.line())
}

func (p *progress) line() string {
	if p.total < 0 {
		return fmt.Sprintf("%s: %d bytes", p.what, p.done)
	}
	pct := int64(100)
	if p.total > 0 {
		pct = p.done * 100 / p.total
	}
	return fmt.Sprintf("%s: %d of %d bytes (%d%%)", p.what, p.done, p.total, pct)
}

// isTerminal tells whether w is a terminal (a character device), without
// a module beyond the standard library.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
