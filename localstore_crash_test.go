//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// localCrashChildEnv tells the test binary it runs as the child of
// TestLocalStoreCrash, and in which directory; localCrashRoundEnv numbers
// the child, so each one writes ids of its own.
const (
	localCrashChildEnv = "DROPP_CRASH_CHILD_DIR"
	localCrashRoundEnv = "DROPP_CRASH_ROUND"
)

// TestLocalStoreCrash kills a child process that writes to the store as fast
// as it can, at random moments (in the middle of appends, fsyncs, compactions
// and opens), then checks that every write the child acknowledged is there
// and that nothing else is: no record half-written, no other version.
func TestLocalStoreCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a child process several times")
	}
	t.Parallel()
	dir := t.TempDir()
	acked := newCrashAcks()
	began := time.Now()
	for round := 0; time.Since(began) < 12*time.Second; round++ {
		kill := crashKillAfter(round)
		n := acked.add(runCrashChild(t, dir, round, kill))
		t.Logf("round %d: killed %s, after %d acknowledged writes", round, kill, n)
		checkCrashStore(t, dir, acked)
	}
	t.Logf("acknowledged over all rounds: %d inserts, %d completions, %d deletions, %d codes inserted, %d taken",
		len(acked.inserted), len(acked.completed), len(acked.deleted), len(acked.codes), len(acked.taken))
	if len(acked.inserted) == 0 {
		t.Fatal("the child never acknowledged a write: the test tested nothing")
	}
}

// crashKill says when to kill a child: a little after it starts opening
// the store (replaying, cutting a torn tail, compacting), or once it is
// ready, at some point while it writes.
type crashKill struct {
	whileOpening bool
	delay        time.Duration
}

// String says when the kill came, for the test log.
func (k crashKill) String() string {
	if k.whileOpening {
		return fmt.Sprintf("%v into opening", k.delay)
	}
	return fmt.Sprintf("%v into writing", k.delay)
}

// crashKillAfter kills one child in four while it opens the store.
func crashKillAfter(round int) crashKill {
	if round%4 == 1 {
		return crashKill{whileOpening: true, delay: time.Duration(rand.IntN(3000)) * time.Microsecond}
	}
	return crashKill{delay: time.Duration(50+rand.IntN(600)) * time.Millisecond}
}

// runCrashChild starts the child, SIGKILLs it as kill says and returns
// every line it printed.
func runCrashChild(t *testing.T, dir string, round int, kill crashKill) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalStoreCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), localCrashChildEnv+"="+dir, fmt.Sprintf("%s=%d", localCrashRoundEnv, round))
	// Its own process group, so that the kill reaches anything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, opening, ready := make(chan []string, 1), make(chan struct{}), make(chan struct{})
	go func() {
		var out []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch sc.Text() {
			case "opening":
				close(opening)
			case "ready":
				close(ready)
			}
			out = append(out, sc.Text())
		}
		lines <- out
	}()
	wait := ready
	if kill.whileOpening {
		wait = opening
	}
	select {
	case <-wait:
	case <-lines:
		cmd.Wait()
		t.Fatalf("round %d: child exited before it began; stderr:\n%s", round, stderr.String())
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("round %d: child not started after 30s; stderr:\n%s", round, stderr.String())
	}
	time.Sleep(kill.delay)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	out := <-lines
	err = cmd.Wait()
	if status, ok := crashExitStatus(err); !ok || !status.Signaled() {
		t.Fatalf("round %d: child ended before the kill (%v); stderr:\n%s", round, err, stderr.String())
	}
	return out
}

// crashExitStatus returns how a child ended, if it ran at all.
func crashExitStatus(err error) (syscall.WaitStatus, bool) {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return 0, false
	}
	status, ok := exit.Sys().(syscall.WaitStatus)
	return status, ok
}

// TestLocalStoreCrashChild is the child of TestLocalStoreCrash: it writes
// files and auth codes from several goroutines, printing each write once
// the store has acknowledged it, and compacts often, until it is killed.
func TestLocalStoreCrashChild(t *testing.T) {
	dir := os.Getenv(localCrashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestLocalStoreCrash")
	}
	var round int
	fmt.Sscan(os.Getenv(localCrashRoundEnv), &round)
	fmt.Println("opening")
	s, err := openLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	// The parent kills us long before this; the deadline only stops an
	// orphan whose parent died.
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { crashWriteFiles(t, s, round, w, deadline) })
	}
	wg.Go(func() { crashWriteCodes(t, s, round, deadline) })
	wg.Go(func() { crashCompact(t, s, deadline) })
	wg.Wait()
}

// crashCompact compacts the store every few milliseconds, much more often
// than it would by itself, so that many kills land in a compaction.
func crashCompact(t *testing.T, s *localStore, deadline time.Time) {
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		s.mu.Lock()
		err := s.compact()
		s.mu.Unlock()
		if err != nil {
			t.Error(err)
			return
		}
	}
}

// crashWriteFiles inserts files, completes every third and deletes every
// fifth, printing "I", "C" or "D" and the id after each acknowledgement.
func crashWriteFiles(t *testing.T, s *localStore, round, worker int, deadline time.Time) {
	ctx := context.Background()
	for n := 0; time.Now().Before(deadline); n++ {
		id := fmt.Sprintf("r%d-w%d-%06d", round, worker, n)
		pending, complete := crashFile(id)
		if err := s.InsertFile(ctx, pending); err != nil {
			t.Error(err)
			return
		}
		fmt.Println("I", id)
		if n%3 == 0 {
			if _, _, err := s.CompleteFile(ctx, pending.Owner, id, "", *complete.Size, complete.ETag, *complete.CompletedAt); err != nil {
				t.Error(err)
				return
			}
			fmt.Println("C", id)
		}
		if n%5 == 0 {
			if err := errOf(s.DeleteFile(ctx, pending.Owner, id)); err != nil {
				t.Error(err)
				return
			}
			fmt.Println("D", id)
		}
	}
}

// crashWriteCodes inserts auth codes and takes every other one, printing
// "A" or "T" and the hash after each acknowledgement. Taken codes are the
// garbage that makes the store compact.
func crashWriteCodes(t *testing.T, s *localStore, round int, deadline time.Time) {
	ctx := context.Background()
	for n := 0; time.Now().Before(deadline); n++ {
		c := crashCode(fmt.Sprintf("r%d-c%06d", round, n))
		if err := s.InsertAuthCode(ctx, c); err != nil {
			t.Error(err)
			return
		}
		fmt.Println("A", c.Hash)
		if n%2 == 0 {
			if _, err := s.TakeAuthCode(ctx, c.Hash, time.Now()); err != nil {
				t.Error(err)
				return
			}
			fmt.Println("T", c.Hash)
		}
	}
}

// crashFile returns the two versions a child may write of the file with
// that id ("r<round>-w<worker>-<n>"): pending, and then complete.
func crashFile(id string) (pending, complete *File) {
	var round, worker int
	fmt.Sscanf(id, "r%d-w%d-", &round, &worker)
	n := crashSeq(id)
	created := time.UnixMilli(1_700_000_000_000 + int64(round)*1e9 + int64(n)*10 + int64(worker)).UTC()
	declared := int64(n * 7)
	pending = &File{ID: id, Owner: fmt.Sprintf("owner-%d", n%3), Filename: fmt.Sprintf("crash %d «%s».bin", n, id),
		DeclaredSize: &declared, ContentType: "application/octet-stream", Status: statusPending,
		ObjectKey: "crash/" + id, CreatedAt: created}
	complete = ctCloneFile(pending)
	size, done := declared+1, created.Add(time.Second)
	complete.Status, complete.Size, complete.ETag, complete.CompletedAt = statusComplete, &size, `"etag-`+id+`"`, &done
	return pending, complete
}

// crashCode returns the auth code a child writes under that hash.
func crashCode(hash string) AuthCode {
	return AuthCode{Hash: hash, UserID: "user-" + hash, CodeChallenge: "challenge-" + hash,
		RedirectURI: "http://127.0.0.1:1/" + hash, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// crashAcks is what the children acknowledged, over all rounds.
type crashAcks struct {
	inserted, completed, deleted map[string]bool // file ids
	codes, taken                 map[string]bool // code hashes
}

// newCrashAcks returns an empty record of acknowledgements.
func newCrashAcks() *crashAcks {
	return &crashAcks{
		inserted: map[string]bool{}, completed: map[string]bool{}, deleted: map[string]bool{},
		codes: map[string]bool{}, taken: map[string]bool{},
	}
}

// add records a child's output and returns how many acknowledgements it
// held. The kill may have cut the last line short; a line that does not
// parse acknowledged nothing.
func (a *crashAcks) add(lines []string) int {
	sets := map[string]map[string]bool{"I": a.inserted, "C": a.completed, "D": a.deleted, "A": a.codes, "T": a.taken}
	n := 0
	for _, line := range lines {
		op, key, ok := strings.Cut(line, " ")
		if set := sets[op]; ok && set != nil && strings.HasPrefix(key, "r") {
			set[key] = true
			n++
		}
	}
	return n
}

// checkCrashStore opens the store the child left and checks it against
// what was acknowledged.
func checkCrashStore(t *testing.T, dir string, acked *crashAcks) {
	t.Helper()
	s, err := openLocalStore(dir)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close(context.Background())
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id := range acked.inserted {
		// The child completes every third file and deletes every fifth, in
		// that order, so an operation after the last acknowledged one may
		// or may not have happened.
		n := crashSeq(id)
		mayBeDeleted := n%5 == 0 && (n%3 != 0 || acked.completed[id])
		f, found := s.state.files[id]
		switch {
		case acked.deleted[id] && found:
			t.Errorf("file %s: deletion acknowledged, but the file is there", id)
		case !acked.deleted[id] && !found && !mayBeDeleted:
			t.Errorf("file %s: insert acknowledged, but the file is missing", id)
		case found && acked.completed[id] && f.Status != statusComplete:
			t.Errorf("file %s: completion acknowledged, but the file is %s", id, f.Status)
		case found && n%3 != 0 && f.Status != statusPending:
			t.Errorf("file %s: never completed, but the file is %s", id, f.Status)
		}
	}
	for id, f := range s.state.files { // nothing but the exact versions written
		pending, complete := crashFile(id)
		if got := ctDescribe(*f); got != ctDescribe(*pending) && got != ctDescribe(*complete) {
			t.Errorf("file %s is neither version the child wrote:\n%s", id, got)
		}
	}
	listed := 0
	for owner := range 3 {
		listed += len(s.state.listFiles(ListQuery{Owner: fmt.Sprintf("owner-%d", owner), Limit: 1 << 30}))
	}
	if listed != len(s.state.files) {
		t.Errorf("owners' lists hold %d files, the store %d", listed, len(s.state.files))
	}
	for hash := range acked.codes {
		c, found := s.state.codes[hash]
		mayBeTaken := crashSeq(hash)%2 == 0
		switch {
		case acked.taken[hash] && found:
			t.Errorf("code %s: take acknowledged, but the code is there", hash)
		case !acked.taken[hash] && !found && !mayBeTaken:
			t.Errorf("code %s: insert acknowledged, but the code is missing", hash)
		case found && ctDescribe(c) != ctDescribe(crashCode(hash)):
			t.Errorf("code %s = %s, want %s", hash, ctDescribe(c), ctDescribe(crashCode(hash)))
		}
	}
}

// crashSeq returns the sequence number that ends a child's file id or
// code hash.
func crashSeq(key string) int {
	n, _ := strconv.Atoi(key[strings.LastIndexAny(key, "-c")+1:])
	return n
}
