package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// usageEntries counts the documents of the MongoDB usage ledgers.
func usageEntries(t *testing.T, s *mongoStore) int64 {
	t.Helper()
	n, err := s.usageColl().CountDocuments(t.Context(), bson.D{})
	ctMust(t, "count usage entries", err)
	return n
}

// TestQuotaOffWritesNoLedger: with no quota set, creating, completing and
// deleting files on MongoDB appends nothing to the usage ledger, and GET /me
// still shows the usage, summed from the files.
func TestQuotaOffWritesNoLedger(t *testing.T) {
	t.Parallel()
	a := apiTester{newTestEnv(t, map[string]string{"MAX_UPLOAD_BYTES": "2048"})}
	clock := &testClock{}
	a.srv.now = clock.now
	store := a.srv.store.(*mongoStore)
	tok := a.newUser("unlimited")

	open := a.create(tok, map[string]any{"filename": "open.bin"}) // charges MAX_UPLOAD_BYTES
	declared := a.create(tok, map[string]any{"filename": "a.bin", "size": 300})
	a.create(tok, map[string]any{"filename": "b.bin", "size": 40})
	a.wantMeUsage(tok, 2048+300+40, 3)

	// On S3 the completed size-less upload keeps its reservation while its
	// form may still be posted (sweepStaged).
	a.upload(open, make([]byte, 100))
	resp, body := a.complete(tok, open.File.ID, nil)
	wantStatus(t, resp, body, http.StatusOK)
	a.wantMeUsage(tok, 2048+300+40, 3)

	// Deleted while its form may still be posted: its bytes stay
	// charged until the staged sweep, but it is no longer a file.
	resp, body = a.do(request{method: "DELETE", path: "/files/" + declared.File.ID, token: tok})
	wantStatus(t, resp, body, http.StatusNoContent)
	a.wantMeUsage(tok, 2048+300+40, 2)

	// One sweep after the forms expired: b.bin was abandoned, and open.bin
	// counts its real size.
	clock.advance(a.srv.cfg.UploadTTL + a.srv.cfg.SweepGrace + time.Minute)
	if res := a.srv.sweep(t.Context()); res.failures != 0 {
		t.Fatalf("sweep: %+v", res)
	}
	a.wantMeUsage(tok, 100, 1)

	if n := usageEntries(t, store); n != 0 {
		t.Errorf("%d usage ledger entries with no quota set, want 0", n)
	}
	f, err := store.GetFile(t.Context(), a.userID(tok), open.File.ID)
	ctMust(t, "get completed file", err)
	if f.Charged != 100 {
		t.Errorf("completed file charged %d, want its size 100", f.Charged)
	}
}

// TestQuotaOffDropsStaleLedger: a ledger written with quotas on is dropped
// when the store starts with none, and a later start with quotas on counts
// each user's usage again from the files, including the changes made while
// quotas were off.
func TestQuotaOffDropsStaleLedger(t *testing.T) {
	t.Parallel()
	db := testDatabaseName(t)
	owner := ctNewID()
	withQuotas := withQuota(Quota{Bytes: 1000, Files: 4})

	on := openMongoStoreAt(t, db, withQuotas)
	kept, gone := quotaFile(owner, 100), quotaFile(owner, 200)
	ctMust(t, "insert", on.InsertFileWithinQuota(t.Context(), kept, Quota{Bytes: 1000, Files: 4}))
	ctMust(t, "insert", on.InsertFileWithinQuota(t.Context(), gone, Quota{Bytes: 1000, Files: 4}))
	if usageEntries(t, on) == 0 {
		t.Fatal("no ledger written with quotas on")
	}

	off := openMongoStoreAt(t, db, withQuota(Quota{}))
	if n := usageEntries(t, off); n != 0 {
		t.Fatalf("%d usage ledger entries left after a start with no quota, want 0", n)
	}
	ctMust(t, "delete", errOf(off.DeleteFile(t.Context(), owner, gone.ID)))
	ctMust(t, "insert", off.InsertFileWithinQuota(t.Context(), quotaFile(owner, 50), Quota{}))
	ctMust(t, "settle", off.SettleCharge(t.Context(), owner, kept.ID, 100, 70))
	wantUsage(t, off, owner, Usage{Bytes: 120, Files: 2})
	if n := usageEntries(t, off); n != 0 {
		t.Fatalf("%d usage ledger entries written with no quota, want 0", n)
	}

	again := openMongoStoreAt(t, db, withQuotas)
	wantUsage(t, again, owner, Usage{Bytes: 120, Files: 2})
	ctMust(t, "insert", again.InsertFileWithinQuota(t.Context(), quotaFile(owner, 880), Quota{Bytes: 1000, Files: 4}))
	wantUsage(t, again, owner, Usage{Bytes: 1000, Files: 3})
	if err := again.InsertFileWithinQuota(t.Context(), quotaFile(owner, 1), Quota{Bytes: 1000, Files: 4}); err != ErrQuotaExceeded {
		t.Errorf("insert over the byte quota: %v, want ErrQuotaExceeded", err)
	}
}

// BenchmarkQuotaInsertMongo: concurrent creates of one user on the test
// rig's FerretDB, with the usage ledger (a quota set) and without (none
// set), the cost the ledger adds to POST /upload/. Reference only, as
// BenchmarkListHandlerMongo.
func BenchmarkQuotaInsertMongo(b *testing.B) {
	for name, q := range map[string]Quota{"ledger": {Files: 1 << 40}, "no_ledger": {}} {
		b.Run(name, func(b *testing.B) {
			db := fmt.Sprintf("bench_quota_%s_%d", name, time.Now().UnixNano())
			s, err := openMongoStore(b.Context(), requireRig(b).mongoURI, db, slog.New(slog.DiscardHandler), withQuota(q))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				requireRig(b).mongo.Database(db).Drop(ctx)
				s.Close(ctx)
			})
			owner := ctNewID()
			b.SetParallelism(8) // 16 connections on 2 cores, as scripts/loadbench
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.InsertFileWithinQuota(context.Background(), quotaFile(owner, 10), q); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

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
			for _, cmd := range []string{"delete", "findAndModify"} { // DeleteFile uses the latter
				if coll, ok := e.Command.Lookup(cmd).StringValueOK(); ok && coll == "files" {
					mu.Lock()
					fileDeletes[e.RequestID] = true
					mu.Unlock()
				}
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
	if err := errOf(s.DeleteFile(ctx, owner, f.ID)); err != nil {
		t.Errorf("delete whose client left after the file went: %v", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the context was not cancelled by the delete: the test proves nothing")
	}
	wantUsage(t, s, owner, Usage{})
}
