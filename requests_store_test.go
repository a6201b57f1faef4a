package main

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// newTestRequest stores an open request of owner with the given caps.
func newTestRequest(t *testing.T, s Store, owner string, maxFiles, maxBytes int64, now time.Time) FileRequest {
	t.Helper()
	fr := FileRequest{
		ID: newID(), TokenHash: hashSecret(newSecret(shareTokenBytes)), Owner: owner, Title: "Photos",
		MaxFiles: maxFiles, MaxBytes: maxBytes, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := s.InsertRequest(t.Context(), fr); err != nil {
		t.Fatal(err)
	}
	return fr
}

// requestFile is a pending file of owner sent through request id.
func requestFile(owner, requestID string, charged int64, now time.Time) *File {
	f := &File{ID: newID(), Owner: owner, Filename: "f.bin", Status: statusPending, CreatedAt: now,
		RequestID: requestID, SenderName: "Ann", Charged: charged, DeclaredSize: &charged}
	f.ObjectKey = objectKey(owner, f.ID, now)
	return f
}

// TestRequestCapsHoldUnderConcurrentInserts: N racing inserts into one
// request never leave it holding more than its most files or most bytes,
// on each store, and a burst still fills it (not all are refused).
func TestRequestCapsHoldUnderConcurrentInserts(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		for _, c := range []struct {
			name               string
			maxFiles, maxBytes int64
			wantFiles          int64
		}{{"files", 5, 1 << 30, 5}, {"bytes", 100, 7 * 10, 7}} {
			t.Run(c.name, func(t *testing.T) {
				owner := "owner-" + newID()
				fr := newTestRequest(t, s, owner, c.maxFiles, c.maxBytes, now)
				const racers = 24
				errs := make([]error, racers)
				var wg sync.WaitGroup
				for i := range racers {
					wg.Go(func() { errs[i] = s.InsertRequestFile(t.Context(), requestFile(owner, fr.ID, 10, now), Quota{}, now) })
				}
				wg.Wait()
				var ok int64
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, ErrRequestFull):
						t.Fatalf("insert: %v, want nil or ErrRequestFull", err)
					}
				}
				got, err := s.RequestLink(t.Context(), fr.TokenHash, now)
				if err != nil {
					t.Fatal(err)
				}
				if got.Received.Files != ok || got.Received.Files > c.maxFiles || got.Received.Bytes > c.maxBytes {
					t.Fatalf("%d inserts accepted, request holds %+v; caps %d files, %d bytes", ok, got.Received, c.maxFiles, c.maxBytes)
				}
				if ok == 0 {
					t.Fatalf("a burst of %d left the request empty", racers)
				}
				t.Logf("%d of %d racing inserts accepted (want at most %d)", ok, racers, c.wantFiles)
			})
		}
	})
}

// TestRequestLifecycleOnStore: a closed, expired, deleted or unknown
// request is missing to RequestLink and refuses files; reopening brings it
// back; the owner's quota applies to a request's files; a deleted file
// gives its room back.
func TestRequestLifecycleOnStore(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		now := time.Now().UTC().Truncate(time.Millisecond)
		owner := "owner-" + newID()
		fr := newTestRequest(t, s, owner, 2, 100, now)
		insert := func(charged int64, q Quota) error {
			return s.InsertRequestFile(ctx, requestFile(owner, fr.ID, charged, now), q, now)
		}
		if _, err := s.SetRequestClosed(ctx, owner, fr.ID, true, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RequestLink(ctx, fr.TokenHash, now); !errors.Is(err, ErrNotFound) {
			t.Errorf("closed request: RequestLink %v, want ErrNotFound", err)
		}
		if err := insert(1, Quota{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("closed request: insert %v, want ErrNotFound", err)
		}
		if got, err := s.SetRequestClosed(ctx, owner, fr.ID, false, now); err != nil || got.Closed {
			t.Fatalf("reopen: %+v %v", got, err)
		}
		if _, err := s.SetRequestClosed(ctx, "someone-else", fr.ID, true, now); !errors.Is(err, ErrNotFound) {
			t.Errorf("another owner closed it: %v", err)
		}
		if err := insert(60, Quota{Bytes: 50}); !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("over the owner's quota: %v, want ErrQuotaExceeded", err)
		}
		first := requestFile(owner, fr.ID, 60, now)
		if err := s.InsertRequestFile(ctx, first, Quota{}, now); err != nil {
			t.Fatal(err)
		}
		if err := insert(41, Quota{}); !errors.Is(err, ErrRequestFull) {
			t.Errorf("over max bytes: %v, want ErrRequestFull", err)
		}
		if err := insert(40, Quota{}); err != nil {
			t.Fatal(err)
		}
		if err := insert(0, Quota{}); !errors.Is(err, ErrRequestFull) {
			t.Errorf("over max files: %v, want ErrRequestFull", err)
		}
		if _, err := s.DeleteFile(ctx, owner, first.ID); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListRequests(ctx, RequestQuery{Owner: owner, Now: now, Limit: 10})
		if err != nil || len(list) != 1 || list[0].Received != (Usage{Files: 1, Bytes: 40}) {
			t.Fatalf("after a delete: %+v %v, want one request holding 1 file of 40 bytes", list, err)
		}
		if _, err := s.RequestLink(ctx, fr.TokenHash, fr.ExpiresAt); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired request: RequestLink %v, want ErrNotFound", err)
		}
		if err := s.InsertRequestFile(ctx, requestFile(owner, fr.ID, 1, fr.ExpiresAt), Quota{}, fr.ExpiresAt); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired request: insert %v, want ErrNotFound", err)
		}
		if err := s.DeleteRequest(ctx, owner, fr.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RequestLink(ctx, fr.TokenHash, now); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted request: RequestLink %v, want ErrNotFound", err)
		}
		if err := s.DeleteRequest(ctx, owner, fr.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
	})
}

// TestMigrateCopiesFileRequests: dropp migrate copies local mode's
// unexpired file requests, closed ones too, into MongoDB, where their
// links then work; a second run copies nothing again.
func TestMigrateCopiesFileRequests(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	local, err := openLocalStore(filepath.Join(dataDir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	open := newTestRequest(t, local, "owner-1", 3, 100, now)
	closed := newTestRequest(t, local, "owner-1", 3, 100, now)
	if _, err := local.SetRequestClosed(t.Context(), "owner-1", closed.ID, true, now); err != nil {
		t.Fatal(err)
	}
	expired := FileRequest{ID: newID(), TokenHash: hashSecret(newSecret(shareTokenBytes)), Owner: "owner-1", Title: "old",
		MaxFiles: 1, MaxBytes: 1, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	if err := local.InsertRequest(t.Context(), expired); err != nil {
		t.Fatal(err)
	}
	if err := local.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	env := s3TestEnv(t, testBucket(t))
	env["DATA_DIR"], env["MONGODB_URI"], env["MONGO_DB"] = dataDir, requireRig(t).mongoURI, testDatabaseName(t)
	env["SECRET_KEY"] = testSecretKey
	out, err := migrate(env)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	wantSummary(t, out, "file requests: 2 copied, 0 already there")
	dest, err := openMongoStore(t.Context(), env["MONGODB_URI"], env["MONGO_DB"], testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close(context.Background())
	if got, err := dest.RequestLink(t.Context(), open.TokenHash, now); err != nil || got.ID != open.ID || got.Title != open.Title {
		t.Errorf("the open request after the migration: %+v, %v", got, err)
	}
	list, err := dest.ListRequests(t.Context(), RequestQuery{Owner: "owner-1", Now: now, Limit: 10})
	if err != nil || len(list) != 2 || !list[0].Closed && !list[1].Closed {
		t.Errorf("the owner's requests after the migration: %+v, %v; want the open one and the closed one", list, err)
	}
	out, err = migrate(env)
	if err != nil {
		t.Fatalf("migrate again: %v\n%s", err, out)
	}
	wantSummary(t, out, "file requests: 0 copied, 2 already there")
}
