package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSweeper, on each metadata store with the injected clock: abandoned
// uploads (posted or not) go with their objects and release their quota;
// complete files and uploads still in time stay; expired credentials,
// sign-in states and codes go; two sweepers at once are harmless; each
// sweep logs one summary line.
func TestSweeper(t *testing.T) {
	t.Parallel()
	onEachEnv(t, map[string]string{"MAX_UPLOAD_BYTES": "4096"}, func(t *testing.T, a apiTester) {
		clock := &testClock{}
		a.srv.now = clock.now
		var logs syncBuffer
		a.srv.log = slog.New(slog.NewTextHandler(&logs, nil))
		tok := a.newUser("sweep")
		owner := a.userID(tok)
		store := a.srv.store

		posted := a.create(tok, map[string]any{"filename": "posted.bin"}) // uploaded, never completed
		a.upload(posted, []byte("abandoned"))
		never := a.create(tok, map[string]any{"filename": "never.bin", "size": 10})
		_, keptKey := a.stored(tok, map[string]any{"filename": "kept.bin"}, []byte("kept!"))
		now := clock.now()
		expired := now.Add(time.Minute)
		ctMust(t, "credential", store.InsertCredential(t.Context(), Credential{Hash: ctNewID(), Kind: kindSession, UserID: owner, CreatedAt: now, ExpiresAt: expired}))
		ctMust(t, "state", store.InsertAuthState(t.Context(), AuthState{Hash: ctNewID(), ExpiresAt: expired}))
		ctMust(t, "code", store.InsertAuthCode(t.Context(), AuthCode{Hash: ctNewID(), UserID: owner, ExpiresAt: expired}))

		clock.advance(a.srv.cfg.UploadTTL + a.srv.cfg.SweepGrace + time.Minute)
		fresh := a.create(tok, map[string]any{"filename": "fresh.bin", "size": 7}) // its form is still valid

		var wg sync.WaitGroup
		results := make([]sweepResult, 2)
		for i := range results {
			wg.Go(func() { results[i] = a.srv.sweep(t.Context()) })
		}
		wg.Wait()
		for _, r := range results {
			if r.failures != 0 || r.pendingFiles > 2 {
				t.Errorf("sweep result %+v: want no failures and at most the 2 abandoned uploads", r)
			}
		}
		if results[0].pendingFiles+results[1].pendingFiles < 2 {
			t.Errorf("sweeps removed %+v, want the 2 abandoned uploads between them", results)
		}

		for _, id := range []string{posted.File.ID, never.File.ID} {
			if _, err := store.GetFile(t.Context(), owner, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("abandoned upload %s: %v, want it gone", id, err)
			}
		}
		if _, err := a.srv.objects.Head(t.Context(), posted.Upload.Fields["key"]); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("object of the abandoned upload: %v, want it gone", err)
		}
		if _, err := a.srv.objects.Head(t.Context(), keptKey); err != nil {
			t.Errorf("object of the complete file: %v", err)
		}
		if _, err := store.GetFile(t.Context(), owner, fresh.File.ID); err != nil {
			t.Errorf("upload still in time: %v", err)
		}
		wantUsage(t, store, owner, Usage{Bytes: 5 + 7, Files: 2})
		if n, err := store.DeleteExpired(t.Context(), clock.now()); n != 0 || err != nil {
			t.Errorf("after the sweeps, %d expired records were left (%v)", n, err)
		}
		resp, body := a.do(request{method: "GET", path: "/me", token: tok})
		wantStatus(t, resp, body, 200) // an unexpired token survives
		if n := strings.Count(logs.String(), "msg=sweep "); n != 2 {
			t.Errorf("%d summary lines for 2 sweeps:\n%s", n, logs.String())
		}
	})
}

// TestSweeperRunsEveryInterval: runDropp's sweeper sweeps on its interval.
func TestSweeperRunsEveryInterval(t *testing.T) {
	t.Parallel()
	a := apiTester{newLocalTestEnv(t, map[string]string{"SWEEP_INTERVAL_SECONDS": "1"})}
	var logs syncBuffer
	a.srv.log = slog.New(slog.NewTextHandler(&logs, nil))
	stop := a.srv.startSweeper(t.Context())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "msg=sweep ") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if !strings.Contains(logs.String(), "msg=sweep ") {
		t.Error("no sweep within 10 s at SWEEP_INTERVAL_SECONDS=1")
	}
}

// deleteFailingObjects is the real object store, except that deleting one
// key always fails; it counts the attempts.
type deleteFailingObjects struct {
	ObjectStore
	key      string
	attempts atomic.Int32
}

func (o *deleteFailingObjects) Delete(ctx context.Context, key string) error {
	if key == o.key {
		o.attempts.Add(1)
		return errors.New("object store: delete refused")
	}
	return o.ObjectStore.Delete(ctx, key)
}

// TestSweeperWalksEachFileOnce, on each metadata store: with more abandoned
// uploads than a batch, and the oldest one's object impossible to delete,
// one sweep attempts that one once and deletes all the others, including
// those created at the same instant across the batch boundary. The record
// goes before the object (the sweeper's claim, see sweepFile), so the
// stuck object is left to `dropp reconcile`, and the next sweep does not
// see it again.
func TestSweeperWalksEachFileOnce(t *testing.T) {
	t.Parallel()
	onEachEnv(t, nil, func(t *testing.T, a apiTester) {
		store, owner := a.srv.store, ctNewID()
		created := time.Now().UTC().Add(-a.srv.cfg.UploadTTL - a.srv.cfg.SweepGrace - time.Hour).Truncate(time.Millisecond)
		stuck := ctFile(owner, created.Add(-time.Minute))
		ctInsert(t, store, stuck)
		for range sweepBatch + 10 {
			ctInsert(t, store, ctFile(owner, created)) // one instant: the batches split on the id
		}
		objects := &deleteFailingObjects{ObjectStore: a.srv.objects, key: stuck.ObjectKey}
		a.srv.objects = objects

		res := a.srv.sweep(t.Context())
		if n := objects.attempts.Load(); n != 1 {
			t.Errorf("one sweep tried to delete the stuck upload %d times, want once", n)
		}
		if res.pendingFiles != sweepBatch+10 || res.failures != 1 {
			t.Errorf("sweep %+v: want %d uploads deleted and 1 failure", res, sweepBatch+10)
		}
		left, err := store.PendingFilesBefore(t.Context(), time.Now(), nil, sweepBatch)
		if err != nil || len(left) != 0 {
			t.Fatalf("pending after the sweep: %d files (%v), want none", len(left), err)
		}
		a.srv.sweep(t.Context())
		if n := objects.attempts.Load(); n != 1 {
			t.Errorf("after a second sweep, %d attempts, want still 1", n)
		}
	})
}

// batchHookStore runs afterBatch once, right after the sweeper read its
// first batch of abandoned uploads: what a request does while a sweep holds
// a batch.
type batchHookStore struct {
	Store
	once       sync.Once
	afterBatch func()
}

func (s *batchHookStore) PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	files, err := s.Store.PendingFilesBefore(ctx, t, after, limit)
	s.once.Do(s.afterBatch)
	return files, err
}

// TestSweeperKeepsFileCompletedWhileItWalks (issue 18, section 3): aged
// uploads, a single one and a multipart one, are completed after the
// sweeper read them in its batch and before it deletes them. They stay,
// with their objects, downloadable, and count in the usage. On each
// metadata store (MongoDB with S3, local with local objects).
func TestSweeperKeepsFileCompletedWhileItWalks(t *testing.T) {
	t.Parallel()
	onEachEnv(t, map[string]string{"SWEEP_GRACE_SECONDS": "60",
		"UPLOAD_POST_TTL_SECONDS": "600", "MULTIPART_TTL_SECONDS": "1200", "PRESIGN_TTL_SECONDS": "3600"}, func(t *testing.T, a apiTester) {
		clock := &testClock{}
		a.srv.now = clock.now
		tok := a.newUser("late")
		single := a.create(tok, map[string]any{"filename": "single.txt", "size": 5})
		a.upload(single, []byte("hello"))
		parts := partsClient{t: t, e: a.testEnv, token: tok}
		multi := parts.create("multi.bin", 7)
		parts.send(multi.File.ID, 7, multi.Upload.PartSize, []int{1})
		// Both are now long abandoned, as the sweeper sees it.
		clock.advance(max(a.srv.cfg.UploadTTL, a.srv.cfg.MultipartTTL) + a.srv.cfg.SweepGrace + time.Minute)

		a.srv.store = &batchHookStore{Store: a.srv.store, afterBatch: func() {
			for _, id := range []string{single.File.ID, multi.File.ID} {
				resp, body := a.complete(tok, id, nil)
				wantStatus(t, resp, body, http.StatusOK)
			}
		}}
		if res := a.srv.sweep(t.Context()); res.failures != 0 || res.pendingFiles != 0 {
			t.Errorf("sweep: %+v, want nothing swept and no failures", res)
		}
		if got := downloaded(t, a, tok, single.File.ID); string(got) != "hello" {
			t.Errorf("single upload completed during the sweep downloads %q, want %q", got, "hello")
		}
		if n, sum := parts.downloadSHA256(multi.File.ID); n != 7 || sum != testContentSHA256(7) {
			t.Errorf("multipart upload completed during the sweep downloads %d bytes (sha256 %s)", n, sum)
		}
		a.wantMeUsage(tok, 5+7, 2)
	})
}

// TestSweeperSettlesOnlyAfterStagedObjectGoes (issue 18, section 2, on S3
// with each metadata store): a file completed from a size-less form keeps
// the whole charge until the sweep that deletes its staged object. The
// form expires at a whole second (ceilSecond), up to a second after the
// file's creation plus UPLOAD_POST_TTL_SECONDS: a sweep in that second
// must not settle the file while its replayed object stays.
func TestSweeperSettlesOnlyAfterStagedObjectGoes(t *testing.T) {
	t.Parallel()
	for _, metadata := range []string{"mongodb", "local"} {
		t.Run(metadata, func(t *testing.T) {
			t.Parallel()
			a, clock := formReplayEnv(t, metadata, "s3")
			tok := a.newUser("edge")
			for ms := clock.now().Nanosecond() / 1e6; ms < 50 || ms > 300; ms = clock.now().Nanosecond() / 1e6 {
				time.Sleep(10 * time.Millisecond) // create early in a second: the form then expires most of a second after TTL
			}
			up := a.create(tok, map[string]any{"filename": "one.bin"})
			a.upload(up, []byte("1"))
			resp, body := a.complete(tok, up.File.ID, nil)
			wantStatus(t, resp, body, http.StatusOK)
			replayForm(t, a, up, bytes.Repeat([]byte("x"), 1<<20))

			f, err := a.srv.store.GetFile(t.Context(), a.userID(tok), up.File.ID)
			if err != nil {
				t.Fatal(err)
			}
			// Just after the file's creation plus TTL and grace, before its form's expiry plus grace.
			clock.advance(f.CreatedAt.Add(a.srv.cfg.UploadTTL + a.srv.cfg.SweepGrace + 20*time.Millisecond).Sub(clock.now()))
			if res := a.srv.sweep(t.Context()); res.failures != 0 {
				t.Fatalf("sweep: %+v", res)
			}
			if usage, stored := a.me(tok).Usage.Bytes, storedBytes(t, a); usage < stored {
				t.Errorf("a sweep before the form's expiry plus grace: usage %d bytes, the object store holds %d", usage, stored)
			}
			sweepAfterForms(t, a, clock)
			wantUsageIsStored(t, a, tok, 1)
		})
	}
}
