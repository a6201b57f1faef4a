//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The attack of issue 7 item 6 on the unauthenticated upload endpoint, run
// against the real server binary in a child process, so that its memory is
// measured apart from the test's own clients. Linux only: it reads
// /proc/<pid>/status.

// Figures of the attack and what the server must hold to.
const (
	localAttackConns     = 1000
	localAttackHeaderPad = 900 << 10        // the part header half the connections start with
	localAttackEvery     = time.Second      // one byte this often; the 10 s would not beat the 2 min idle deadline sooner
	localAttackMaxGrowth = 64 << 20         // RSS growth allowed
	localAttackAllClosed = 15 * time.Second // every connection closed by then
)

// TestLocalUploadTrickleAttack opens 1,000 connections to POST
// /objects/upload at once: half send a 900 KiB part header, half the start
// of a field, and all then trickle a byte a second. The server must answer
// and close every one within 15 s (the cap answers most at once; the
// others meet the 10 s verify deadline) and its RSS must grow by less than
// 64 MiB. The figure is VmHWM (the kernel's high-water mark of the child's
// RSS) after the attack minus VmRSS before it. Not parallel: in parallel
// with the ACME tests, Pebble's validations failed (docs/testing.md).
func TestLocalUploadTrickleAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds the server and holds 1,000 connections for up to 15 s")
	}
	raiseFileLimit(t, localAttackConns+512)
	child := startAttackChild(t, buildDropp(t))
	addr := strings.TrimPrefix(child.base, "http://")
	before := child.status(t, "VmRSS")

	big := localTricklePrelude(addr, localAttackHeaderPad)
	small := localTricklePrelude(addr, 0)
	type result struct {
		open   time.Duration
		status string
		err    error
	}
	results := make([]result, localAttackConns)
	var wg sync.WaitGroup
	for i := range localAttackConns {
		prelude := small
		if i%2 == 0 {
			prelude = big
		}
		wg.Go(func() {
			open, status, err := localTrickle(addr, prelude, localAttackEvery, localAttackAllClosed+5*time.Second)
			results[i] = result{open, status, err}
		})
	}
	wg.Wait()
	peak := child.status(t, "VmHWM")

	statuses := map[string]int{}
	var longest time.Duration
	for _, r := range results {
		switch {
		case r.err != nil:
			statuses[r.err.Error()]++
		case r.status == "":
			statuses["cut off while sending"]++
		default:
			statuses[r.status]++
		}
		longest = max(longest, r.open)
	}
	growth := peak - before
	t.Logf("%d trickling connections: RSS %.1f MiB before, peak %.1f MiB (growth %.1f MiB); longest open %v; answers %v",
		localAttackConns, mib(before), mib(peak), mib(growth), longest.Round(time.Millisecond), statuses)
	if growth >= localAttackMaxGrowth {
		t.Errorf("RSS grew by %.1f MiB, want under %.0f MiB", mib(growth), mib(localAttackMaxGrowth))
	}
	if longest > localAttackAllClosed {
		t.Errorf("a connection stayed open %v, want every one closed within %v", longest, localAttackAllClosed)
	}
	for _, r := range results {
		if r.err != nil || strings.Contains(r.status, " 5") && !strings.Contains(r.status, " 503 ") {
			t.Errorf("connection: %q %v", r.status, r.err)
			break
		}
	}
	if resp, err := http.Get(child.base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("server after the attack: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// raiseFileLimit makes sure the test may hold n file descriptors, raising
// the soft limit if it must.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("RLIMIT_NOFILE hard limit %d: the test needs %d file descriptors", lim.Max, n)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// attackChild is the server binary running in local mode as a child.
type attackChild struct {
	base string
	pid  int
}

// startAttackChild starts bin in local mode in a new directory and stops
// it when the test ends.
func startAttackChild(t *testing.T, bin string) attackChild {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"ADDR=127.0.0.1:0", "DATA_DIR=" + dir}
	cmd.SysProcAttr = dieWithParent()
	base, _ := startChild(t, cmd, func(_ error, stderr string) {
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(stderr, 40))
		}
	})
	return attackChild{base: base, pid: cmd.Process.Pid}
}

// status reads one "kB" figure of the child's /proc status, in bytes.
func (c attackChild) status(t *testing.T, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, c.pid)
	return 0
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
