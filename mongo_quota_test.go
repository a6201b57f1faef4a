package main

import (
	"context"
	"errors"
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

// usageKinds are files of every kind the usage counts (Usage.add): each
// status, charged or stored before quotas (legacyCharge: the size, else the
// declared size, else nothing), empty ones and deleted ones.
func usageKinds(owner string) []*File {
	size := func(n int64) *int64 { return &n }
	kind := func(status string, charged int64, declared, real *int64) *File {
		f := ctFile(owner, ctNow())
		f.Status, f.Charged, f.DeclaredSize, f.Size = status, charged, declared, real
		return f
	}
	return []*File{
		kind(statusPending, 300, size(300), nil),
		kind(statusComplete, 120, size(200), size(120)),
		kind(statusDeleted, 50, nil, size(50)),                // bytes, not a file
		kind(statusComplete, 0, size(90), size(70)),           // legacy: its size
		kind(statusPending, 0, size(40), nil),                 // legacy: its declared size
		kind(statusComplete, 0, size(30), size(0)),            // legacy, empty: its size, 0
		kind(statusPending, 0, nil, nil),                      // legacy, nothing declared
		kind(statusDeleted, 0, nil, size(25)),                 // legacy, deleted
		kind(statusDeleted, 0, size(15), nil),                 // legacy, deleted, pending
		kind(statusComplete, 0, size(0), size(0)),             // empty
		kind(statusComplete, 1<<40, size(1<<40), size(1<<40)), // a terabyte
	}
}

// usageOddDocuments are MongoDB documents the File type never writes but a
// database may hold: a charge stored as 0 or null, or as a 32-bit number,
// and no size fields at all.
func usageOddDocuments(owner string) []bson.D {
	doc := func(status string, fields ...bson.E) bson.D {
		id := ctNewID()
		return append(bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "status", Value: status}, {Key: "object_key", Value: "objects/" + id}}, fields...)
	}
	return []bson.D{
		doc(statusPending, bson.E{Key: "charged", Value: int64(0)}, bson.E{Key: "declared_size", Value: int64(11)}),
		doc(statusComplete, bson.E{Key: "charged", Value: nil}, bson.E{Key: "size", Value: int64(13)}, bson.E{Key: "declared_size", Value: int64(17)}),
		doc(statusComplete, bson.E{Key: "charged", Value: int32(7)}, bson.E{Key: "size", Value: int32(7)}),
		doc(statusPending, bson.E{Key: "declared_size", Value: int32(19)}),
		doc(statusPending),
	}
}

// TestUsageSumsEveryFileKind: on each store (FerretDB 1.24, FerretDB 2 and
// the local store), an owner's usage among other owners' files is what
// sumCharges counts of the owner's files, of every kind. On MongoDB, both
// the sum GET /me shows without a quota (usageFromFiles: read, or for an
// owner of many files summed in the database, sumFiles) and the one a
// ledger starts from (usageFromFiles charging the legacy files), and
// with the odd documents an older store may hold.
func TestUsageSumsEveryFileKind(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		owners := []string{ctNewID(), ctNewID(), ctNewID()}
		want := map[string]Usage{}
		for i, owner := range owners {
			files := usageKinds(owner)[i:] // owners differ
			for _, f := range files {
				ctMust(t, "insert", s.InsertFile(ctx, f))
			}
			var stored []File
			for _, f := range files {
				stored = append(stored, *f)
			}
			if ms, ok := s.(*mongoStore); ok {
				stored = append(stored, insertOddDocuments(t, ms, owner)...)
			}
			want[owner] = sumCharges(stored)
		}
		check := func(what string, usage func(owner string) (Usage, error)) {
			t.Helper()
			for _, owner := range owners {
				got, err := usage(owner)
				ctMust(t, what, err)
				if got != want[owner] {
					t.Errorf("%s of %s: %+v, want %+v (sumCharges)", what, owner, got, want[owner])
				}
			}
		}
		ms, isMongo := s.(*mongoStore)
		withoutLedger := func(when string) {
			if isMongo {
				check("usage without a ledger, read"+when, func(owner string) (Usage, error) { return ms.usageFromFiles(ctx, owner, false) })
				check("usage without a ledger, summed in the database"+when, func(owner string) (Usage, error) { return ms.sumFiles(ctx, owner, false) })
			}
		}
		withoutLedger("")
		check("GetUsage", func(owner string) (Usage, error) { return s.GetUsage(ctx, owner) })
		withoutLedger(", legacy files charged") // by the ledger's start
		all, err := s.UsageByOwner(ctx)
		ctMust(t, "UsageByOwner", err)
		check("UsageByOwner", func(owner string) (Usage, error) { return all[owner], nil })
	})
}

// insertOddDocuments stores usageOddDocuments and returns them as File
// reads them.
func insertOddDocuments(t *testing.T, s *mongoStore, owner string) []File {
	t.Helper()
	var files []File
	for _, d := range usageOddDocuments(owner) {
		_, err := s.files.InsertOne(t.Context(), d)
		ctMust(t, "insert odd document", err)
		raw, err := bson.Marshal(d)
		ctMust(t, "marshal", err)
		var f File
		ctMust(t, "unmarshal", bson.Unmarshal(raw, &f))
		files = append(files, f)
	}
	return files
}

// TestUsageWithoutLedgerSendsNoFiles: with no quota set, GET /me's usage
// of an owner of many files is summed in the database, which sends back a
// few numbers rather than the owner's files (issue 23: reading and
// decoding 100,000 of them took longer than the store's 3 s timeout). It
// reads at most usageReadLimit+1 files first, to sum a few files itself;
// beyond, only a file stored before quotas with something to count is
// sent, for its legacyCharge.
func TestUsageWithoutLedgerSendsNoFiles(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(Quota{}))
	owner := ctNewID()
	const n = 2000
	var files []any
	for i := range n {
		f := quotaFile(owner, int64(i+1))
		if i%3 == 0 {
			f.Status = statusComplete
		}
		files = append(files, f)
	}
	legacy := ctFile(owner, ctNow())
	files = append(files, legacy)
	_, err := s.files.InsertMany(t.Context(), files)
	ctMust(t, "seed files", err)

	var mu sync.Mutex
	sent := 0 // documents the database sent back
	monitor := &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		for _, batch := range []string{"firstBatch", "nextBatch"} {
			if docs, err := e.Reply.LookupErr("cursor", batch); err == nil {
				values, _ := docs.Array().Values()
				mu.Lock()
				sent += len(values)
				mu.Unlock()
			}
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(requireRig(t).mongoURI).SetMonitor(monitor))
	ctMust(t, "connect", err)
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	s.files = client.Database(s.files.Database().Name()).Collection("files")

	wantUsage(t, s, owner, Usage{Bytes: n*(n+1)/2 + *legacy.DeclaredSize, Files: n + 1})
	// The files read first, the sum of the charges, and the legacy file (a
	// count sends a number).
	if most := usageReadLimit + 1 + 2; sent > most {
		t.Errorf("the usage of %d files read %d documents from the database, want at most %d", n+1, sent, most)
	}
}

// TestSettleRetryMendsTheRecord: a settle that stops between the ledger's
// entry and the record's charge leaves the record with its old charge;
// the sweeper's next try must write the settled charge on the record, so
// that a delete after the entry is pruned releases what the ledger
// counted (review 8: the record kept 1,000, the delete released it, and
// the usage ended at -490 bytes, letting 2,900 bytes in under a 2,000-byte
// quota).
func TestSettleRetryMendsTheRecord(t *testing.T) {
	t.Parallel()
	q := Quota{Bytes: 2000}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	owner, f := settleStoppedBeforeRecord(t, s, q)
	if err := s.SettleCharge(t.Context(), owner, f.ID, 1000, 10); !errors.Is(err, ErrConflict) {
		t.Fatalf("the sweeper's next settle: %v, want ErrConflict", err)
	}
	if rec, _ := s.GetFile(t.Context(), owner, f.ID); rec.Charged != 10 {
		t.Errorf("after the next settle the record charges %d, want the settled 10", rec.Charged)
	}
	wantReleasedAfterPrune(t, s, q, owner, f.ID)
}

// TestPruneKeepsWhatAFileStillNeeds: a prune a day on keeps the ledger
// entries that a file's later release reads. A held file's hold: before,
// the sweeper's delete of the held record, once the hold was pruned, took
// the file off the count a second time (review 8: 4 files stored under a
// 3-file quota). And a settlement whose record was never mended (a
// complete's settle stopped between its writes, which no sweep retries).
func TestPruneKeepsWhatAFileStillNeeds(t *testing.T) {
	t.Parallel()
	q := Quota{Bytes: 2000, Files: 3}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	t.Run("hold", func(t *testing.T) {
		owner := ctNewID()
		f := quotaFile(owner, 10)
		f.StagingKey = "staging/" + f.ID // a file whose form may still be posted is held, not deleted
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, q))
		ctMust(t, "HoldDeletedFile", errOf(s.HoldDeletedFile(t.Context(), owner, f.ID)))
		wantReleasedAfterPrune(t, s, q, owner, f.ID)
	})
	t.Run("settle", func(t *testing.T) {
		owner, f := settleStoppedBeforeRecord(t, s, q)
		wantReleasedAfterPrune(t, s, q, owner, f.ID)
	})
}

// settleStoppedBeforeRecord stores a complete file of 10 bytes charged
// 1,000 (a size-less form's charge) for a new owner, and settles it to 10
// with the settle's call that writes the record failing: the ledger counts
// 10, the record 1,000.
func settleStoppedBeforeRecord(t *testing.T, s *mongoStore, q Quota) (string, *File) {
	t.Helper()
	countStoreCalls(s)
	for at := int64(1); at <= 8; at++ {
		owner := ctNewID()
		f := quotaFile(owner, 1000)
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, q))
		_, _, err := s.CompleteFile(t.Context(), owner, f.ID, "", 10, "etag", ctNow())
		ctMust(t, "complete", err)
		err = s.SettleCharge(newAtStoreCall(t.Context(), at, nil), owner, f.ID, 1000, 10) // its at-th call fails
		u, _ := s.GetUsage(t.Context(), owner)
		rec, _ := s.GetFile(t.Context(), owner, f.ID)
		if err != nil && u.Bytes == 10 && rec.Charged == 1000 {
			return owner, f
		}
	}
	t.Fatal("no call of the settle failed between the ledger's entry and the record's charge: the call numbers changed")
	return "", nil
}

// wantReleasedAfterPrune stores another file of the owner (so the ledger's
// latest entry is not the file's), prunes the ledger as a day on, deletes
// the file, and wants the usage to be the other file's alone.
func wantReleasedAfterPrune(t *testing.T, s *mongoStore, q Quota, owner, id string) {
	t.Helper()
	other := quotaFile(owner, 500)
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), other, q))
	_, err := s.pruneUsage(t.Context(), time.Now().Add(time.Second))
	ctMust(t, "pruneUsage", err)
	ctMust(t, "DeleteFile", errOf(s.DeleteFile(t.Context(), owner, id)))
	if u, _ := s.GetUsage(t.Context(), owner); u != (Usage{Bytes: 500, Files: 1}) {
		t.Errorf("after the prune and the delete the usage is %+v, want the other file's {Bytes:500 Files:1}", u)
	}
}
