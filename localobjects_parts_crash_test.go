//go:build unix

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localPartsCrashEnv names, for the child of TestLocalMultipartCompleteCrash,
// the store directory, key and upload id, separated by spaces.
const localPartsCrashEnv = "DROPP_PARTS_CRASH_CHILD"

// TestLocalMultipartCompleteCrash kills a child process in the middle of
// completing a 48 MiB multipart upload, at random moments, then reopens
// the store: it must hold either the whole object or every part intact
// (never a torn object), and an upload left with its parts must complete.
func TestLocalMultipartCompleteCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills a child process several times")
	}
	t.Parallel()
	const rounds, partSize, parts = 6, 16 << 20, 3
	joined, finished := 0, 0
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "objects")
		store, srv := newTestLocalObjectsIn(t, dir)
		s := contractStore{ObjectStore: store, baseURL: srv.URL}
		u := startContractMultipart(t, s)
		for n := 1; n <= parts; n++ {
			u.putPart(t, s, n, contractBytes(partSize, byte(n)))
		}
		want := u.listParts(t, s)
		srv.Close()
		store.Close()

		done := runPartsCrashChild(t, dir+" "+u.key+" "+u.id, time.Duration(rand.IntN(400))*time.Millisecond)
		store, err := newLocalObjects(dir, []byte(testSecretKey), localTestLogger(t))
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if _, err := store.Head(t.Context(), u.key); err == nil {
			joined++
			wantJoined(t, store, u.key, partSize, parts)
		} else if !errors.Is(err, ErrObjectNotFound) {
			t.Fatalf("round %d: head: %v", round, err)
		} else {
			got, err := store.ListParts(t.Context(), u.key, u.id)
			if err != nil || len(got) != len(want) || got[0] != want[0] || got[parts-1] != want[parts-1] {
				t.Fatalf("round %d: no object, and parts %+v %v; want them all: %+v", round, got, err, want)
			}
			if err := store.CompleteMultipart(t.Context(), u.key, u.id, got); err != nil {
				t.Fatalf("round %d: complete after the crash: %v", round, err)
			}
			wantJoined(t, store, u.key, partSize, parts)
		}
		if done {
			finished++
		}
		store.Close()
	}
	t.Logf("%d rounds: the object was whole after %d kills (%d children had finished), the parts intact after the others",
		rounds, joined, finished)
}

// wantJoined wants the object to be the parts' bytes, in order.
func wantJoined(t *testing.T, store *localObjects, key string, partSize, parts int) {
	t.Helper()
	want := sha256.New()
	for n := 1; n <= parts; n++ {
		want.Write(contractBytes(partSize, byte(n)))
	}
	obj, err := store.openObject(key)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got := sha256.New()
	size, err := io.Copy(got, obj.File)
	if err != nil || size != int64(partSize*parts) || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Fatalf("object: %d bytes, %v; want the %d bytes of the parts in order", size, err, partSize*parts)
	}
}

// runPartsCrashChild starts the child, kills it after delay and reports
// whether it had finished completing by then.
func runPartsCrashChild(t *testing.T, arg string, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalMultipartCompleteCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), localPartsCrashEnv+"="+arg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "completing" {
	}
	time.Sleep(delay)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	done := false
	for sc.Scan() {
		done = done || sc.Text() == "completed"
	}
	cmd.Wait()
	return done
}

// TestLocalMultipartCompleteCrashChild is the child: it completes the
// upload named in its environment, saying when it starts and ends.
func TestLocalMultipartCompleteCrashChild(t *testing.T) {
	arg := os.Getenv(localPartsCrashEnv)
	if arg == "" {
		t.Skip("run by TestLocalMultipartCompleteCrash")
	}
	f := strings.Fields(arg)
	store, err := newLocalObjects(f[0], []byte(testSecretKey), localTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := store.ListParts(t.Context(), f[1], f[2])
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("completing\n")
	if err := store.CompleteMultipart(t.Context(), f[1], f[2], parts); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("completed\n")
	time.Sleep(time.Minute) // until killed
}
