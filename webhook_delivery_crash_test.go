//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// webhookCrashDirEnv and webhookCrashAddrEnv tell the test binary it runs
// as the dropp process of TestWebhookDeliveredAfterKill, and where.
const (
	webhookCrashDirEnv  = "DROPP_WEBHOOK_CRASH_DIR"
	webhookCrashAddrEnv = "DROPP_WEBHOOK_CRASH_ADDR"
)

// TestWebhookDeliveredAfterKill: a dropp process (run, on the local store)
// is killed with SIGKILL while it is sending three events, which the
// endpoint holds unanswered; started again on the same data, it sends
// them again, with the same webhook-ids, and they are delivered.
func TestWebhookDeliveredAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	token := seedCrashUser(t, filepath.Join(dir, "metadata"))
	release := make(chan struct{})
	rc := newHookReceiver(t)
	rc.setAnswer(func(n int, w http.ResponseWriter) bool {
		if n <= 3 {
			<-release // held until the sender is killed
		}
		return false
	})
	t.Cleanup(func() { closeOnce(release) })

	stop := startCrashDropp(t, dir, addr)
	e := &testEnv{t: t, URL: "http://" + addr, client: &http.Client{Timeout: 10 * time.Second}}
	hook := addWebhook(t, e, token, "", rc.URL, eventFileCompleted)
	var ids []string
	for range 3 {
		resp, body := e.do(request{method: "POST", path: "/webhooks/" + hook.ID + "/test", token: token})
		wantStatus(t, resp, body, http.StatusAccepted)
		ids = append(ids, decode[map[string]deliveryOut](t, body)["delivery"].ID)
	}
	rc.await(t, 3) // all three are in flight
	stop()
	close(release)

	stop = startCrashDropp(t, dir, addr)
	defer stop()
	got := rc.await(t, 6)
	seen := map[string]int{}
	for _, h := range got {
		seen[h.id]++
		if err := verifyWebhook(hook.Secret, h); err != nil {
			t.Error(err)
		}
	}
	for _, id := range ids {
		if seen[id] != 2 {
			t.Errorf("webhook-id %s sent %d times, want twice: before the kill and after", id, seen[id])
		}
	}
	for _, d := range awaitDeliveries(t, e, token, "", hook.ID, 3) {
		if d.Status != deliveryDelivered {
			t.Errorf("delivery %+v after the restart: want delivered", d)
		}
	}
}

// closeOnce closes c unless it is closed already.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// seedCrashUser stores a user and a bearer token for them in the local
// store at dir, before any dropp process opens it, and returns the token.
func seedCrashUser(t *testing.T, dir string) string {
	s, err := openLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	u, err := s.UpsertUser(t.Context(), User{Issuer: "test", Subject: "alice", Email: "alice@example.com", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	token := newSecret(32)
	now := time.Now().UTC()
	c := Credential{Hash: hashSecret(token), Kind: kindBearer, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertCredential(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return token
}

// startCrashDropp starts the test binary as a dropp process serving dir
// on addr, waits until it answers, and returns what SIGKILLs it.
func startCrashDropp(t *testing.T, dir, addr string) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWebhookCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), webhookCrashDirEnv+"="+dir, webhookCrashAddrEnv+"="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	kill = func() {
		if killed.CompareAndSwap(false, true) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}
	t.Cleanup(kill)
	for deadline := time.Now().Add(30 * time.Second); httpStatus("http://"+addr+"/healthz") != http.StatusOK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("the dropp process did not answer in 30 s; it said:\n%s", out.String())
		}
	}
	return kill
}

// TestWebhookCrashChild is the dropp process of TestWebhookDeliveredAfterKill:
// run itself, with local everything, until it is killed.
func TestWebhookCrashChild(t *testing.T) {
	dir := os.Getenv(webhookCrashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestWebhookDeliveredAfterKill")
	}
	env := map[string]string{"DATA_DIR": dir, "ADDR": os.Getenv(webhookCrashAddrEnv), "WEBHOOK_ALLOW_PRIVATE": "true"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // an orphan stops by itself
	defer cancel()
	err := runDropp(ctx, []string{"dropp"}, testGetenv(env), os.Stdout, os.Stderr)
	fmt.Println("run returned:", err)
}
