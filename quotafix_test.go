package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// cancelAfterFileDelete points s at a client that cancels the returned
// context as soon as the database has deleted a record of the "files"
// collection: a client that leaves right after its file went.
func cancelAfterFileDelete(t *testing.T, s *mongoStore) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	fileDeletes := map[int64]bool{}
	monitor := &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if coll, ok := e.Command.Lookup("delete").StringValueOK(); ok && coll == "files" {
				mu.Lock()
				fileDeletes[e.RequestID] = true
				mu.Unlock()
			}
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			mu.Lock()
			defer mu.Unlock()
			if fileDeletes[e.RequestID] {
				cancel()
			}
		},
	}
	client, err := mongo.Connect(options.Client().ApplyURI(requireRig(t).mongoURI).SetMonitor(monitor))
	ctMust(t, "connect", err)
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	s.files = client.Database(s.files.Database().Name()).Collection("files")
	return ctx
}

// TestQuotaDeleteReleasesAfterClientLeaves: on MongoDB, a client that goes
// away right after its file was deleted still gets the file's charge
// released (and the delete is not reported as failed).
func TestQuotaDeleteReleasesAfterClientLeaves(t *testing.T) {
	t.Parallel()
	s := storeOpeners["mongo"](t).(*mongoStore)
	owner := ctNewID()
	f := quotaFile(owner, 700)
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, Quota{}))
	ctx := cancelAfterFileDelete(t, s)
	if err := s.DeleteFile(ctx, owner, f.ID); err != nil {
		t.Errorf("delete whose client left after the file went: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the context was not cancelled by the delete: the test proves nothing")
	}
	wantUsage(t, s, owner, Usage{})
}

// TestQuotaSettleOutlivesRequest: on each store, a completion whose client
// went away still settles the file at its real size.
func TestQuotaSettleOutlivesRequest(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		srv := &server{store: s, log: testLogger(t)}
		owner := ctNewID()
		f := quotaFile(owner, 2048)
		ctMust(t, "insert", srv.store.InsertFileWithinQuota(t.Context(), f, Quota{}))
		gone, cancel := context.WithCancel(t.Context())
		cancel()
		srv.settleCharge(gone, f, 100)
		wantUsage(t, srv.store, owner, Usage{Bytes: 100, Files: 1})
	})
}

// legacyFiles stores, as before quotas existed (no charge), a pending file
// declaring 300 bytes and a complete one of 50 bytes, and returns them.
func legacyFiles(t *testing.T, s Store, owner string) (pending, complete *File) {
	t.Helper()
	pending = ctFile(owner, ctNow())
	declared := int64(300)
	pending.DeclaredSize = &declared
	complete = ctFile(owner, ctNow())
	size := int64(50)
	complete.DeclaredSize, complete.Size, complete.Status = nil, &size, statusComplete
	for _, f := range []*File{pending, complete} {
		if f.Charged != 0 {
			t.Fatalf("legacy file charged %d", f.Charged)
		}
		ctMust(t, "insert legacy file", s.InsertFile(t.Context(), f))
	}
	return pending, complete
}

// TestQuotaLegacyFilesCount: on each store, files stored before quotas
// existed count their real size, or their declared one while pending.
func TestQuotaLegacyFilesCount(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		owner := ctNewID()
		legacyFiles(t, s, owner)
		wantUsage(t, s, owner, Usage{Bytes: 350, Files: 2})
		err := s.InsertFileWithinQuota(t.Context(), quotaFile(owner, 51), Quota{Bytes: 400})
		if !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("a reservation past the quota with legacy files counted: %v, want ErrQuotaExceeded", err)
		}
	})
}

// TestQuotaLegacyFileDeleteReleases: on each store, deleting a file stored
// before quotas existed, as the first quota operation of its owner,
// releases what it counts.
func TestQuotaLegacyFileDeleteReleases(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		owner := ctNewID()
		pending, complete := legacyFiles(t, s, owner)
		ctMust(t, "delete", s.DeleteFile(t.Context(), owner, pending.ID))
		wantUsage(t, s, owner, Usage{Bytes: 50, Files: 1})
		ctMust(t, "delete", s.DeleteFile(t.Context(), owner, complete.ID))
		wantUsage(t, s, owner, Usage{})
	})
}

// TestQuotaExceededWithoutUsage: a refusal stays 403 quota_exceeded when
// the usage cannot be read after it, and never shows an unset limit.
func TestQuotaExceededWithoutUsage(t *testing.T) {
	t.Parallel()
	q := Quota{Bytes: 4096, Files: 4}
	srv := &server{store: storeOpeners["local"](t), log: testLogger(t), cfg: &config{QuotaBytes: q.Bytes, QuotaFiles: q.Files}}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := srv.store.GetUsage(gone, "someone"); err == nil {
		t.Fatal("reading the usage with a cancelled context succeeded: the test proves nothing")
	}
	w := httptest.NewRecorder()
	srv.writeQuotaExceeded(w, httptest.NewRequestWithContext(gone, "POST", "/upload/", nil), "someone", 100)
	wantQuotaExceeded(t, w.Result(), w.Body.Bytes(), "100 B", "4.0 KiB and 4 files")

	// The usage read after the refusal no longer breaks a limit (a file
	// was deleted in between): the message names the limit, not "0 B".
	for _, tc := range []struct {
		quota Quota
		usage Usage
		want  string
	}{
		{Quota{Files: 4}, Usage{Bytes: 10, Files: 2}, "over your quota of 4 files"},
		{Quota{Bytes: 4096}, Usage{Bytes: 10, Files: 2}, "over your quota of 4.0 KiB"},
		{Quota{Files: 4}, Usage{Files: 4}, "you have 4 of your 4 files"},
		{Quota{Bytes: 4096}, Usage{Bytes: 4000}, "you use 3.9 KiB of your 4.0 KiB quota"},
	} {
		msg := quotaMessage(tc.quota, &tc.usage, 100)
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "0 B quota") {
			t.Errorf("quotaMessage(%+v, %+v) = %q, want it to say %q", tc.quota, tc.usage, msg, tc.want)
		}
	}
}
