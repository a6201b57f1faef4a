package main

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSweepRacingCompleteLosesNoAcknowledgedFile: a complete and the
// sweeper's delete of the same old pending upload, started together, many
// times. On FerretDB 1.x each is a read then a write, and before the
// sweeper took the completion claim first, 17 of 80 files answered
// complete were then deleted (review 8). Now a complete that answers the
// file has it kept, one that answers ErrNotFound leaves no complete record
// (its caller deletes the copy it promoted), and the usage counts what is
// left.
func TestSweepRacingCompleteLosesNoAcknowledgedFile(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(Quota{Files: 1 << 40}))
	acknowledged, swept := 0, 0
	for range 80 {
		f := ctFile(ctNewID(), ctNow().Add(-2*time.Hour))
		f.Charged = 5
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, Quota{Files: 1 << 40}))
		var done *File
		var cerr, derr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; done, _, cerr = s.CompleteFile(t.Context(), f.Owner, f.ID, "", 5, "etag", ctNow()) })
		wg.Go(func() { <-start; _, derr = s.DeleteAbandonedFile(t.Context(), f.Owner, f.ID, ctNow().Add(-time.Hour)) })
		close(start)
		wg.Wait()
		if derr != nil && !errors.Is(derr, ErrNotFound) {
			t.Fatalf("the sweeper's delete: %v", derr)
		}
		now, gerr := s.GetFile(t.Context(), f.Owner, f.ID)
		switch {
		case cerr == nil:
			acknowledged++
			if done.Status != statusComplete {
				t.Errorf("complete answered the file %s", done.Status)
			}
			if gerr != nil || now.Status != statusComplete {
				t.Errorf("complete answered the file, then it reads %v (%+v)", gerr, now)
			}
		case errors.Is(cerr, ErrNotFound):
			swept++
			if !errors.Is(gerr, ErrNotFound) {
				t.Errorf("complete answered %v, and the file stays: %+v", cerr, now)
			}
		default:
			t.Fatalf("complete: %v", cerr)
		}
		u, err := s.GetUsage(t.Context(), f.Owner)
		ctMust(t, "GetUsage", err)
		want := Usage{} // the file gone
		if gerr == nil {
			want = Usage{Bytes: 5, Files: 1}
		}
		if u != want {
			t.Errorf("the usage is %+v, want %+v (the file read %v)", u, want, gerr)
		}
	}
	t.Logf("of 80 races, %d completes were acknowledged and %d swept", acknowledged, swept)
}

// TestCompleteBeatenBySweepHandsBackTheRecord: the sweeper claims an
// abandoned upload just as its complete's update lands (at the complete's
// claim). The complete, which claims second, is not acknowledged; the
// sweeper's delete takes the file, complete as it now is, and hands the
// record back, for its caller to delete the objects the complete's
// update named (review 11: a multipart file's object stayed, named by no
// record). Before review 18 the sweeper's delete, filtered on pending,
// missed the file, and the complete deleted it: a sender's take-back,
// which deletes the same way, then answered "this file was received".
func TestCompleteBeatenBySweepHandsBackTheRecord(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	countStoreCalls(s)
	f := ctFile(ctNewID(), ctNow().Add(-2*time.Hour))
	f.Charged = 5
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, q))
	var deleted *File
	var derr error
	atClaim := newAtStoreCall(t.Context(), 2, func() { // the complete's 2nd call: its claim, its update landed
		deleted, derr = s.DeleteAbandonedFile(t.Context(), f.Owner, f.ID, ctNow().Add(-time.Hour))
	})
	_, _, cerr := s.CompleteFile(atClaim, f.Owner, f.ID, "", 5, "etag", ctNow())
	if derr != nil || deleted == nil || deleted.ObjectKey != f.ObjectKey || deleted.Status != statusComplete {
		t.Fatalf("the sweeper's delete of the file completed meanwhile: %+v, %v; want the complete record, deleted", deleted, derr)
	}
	if !errors.Is(cerr, ErrNotFound) {
		t.Fatalf("the complete that claimed second answered %v, want ErrNotFound (swept)", cerr)
	}
	if _, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file swept reads %v", err)
	}
	if u, _ := s.GetUsage(t.Context(), f.Owner); u != (Usage{}) {
		t.Errorf("the usage is %+v, want nothing", u)
	}
}

// TestHoldRacingSweepKeepsTheDelete: an owner deletes a complete file
// whose form may still be posted (its record is held, marked deleted)
// just as a sweep clears its staging key, many times, the handler's way
// (removeFile: a file whose key went first is deleted instead). On
// FerretDB 1.x the sweep's update is a read then a write, and before the
// holding mark it wrote the file back over the hold in 39 of 80 rounds
// (review 8): a file deleted came back listed, without its object, and
// the file count ended one low. Now the file stays deleted, and stays one
// the staged sweep deletes.
func TestHoldRacingSweepKeepsTheDelete(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	countStoreCalls(s)
	for range 80 {
		f := insertStagedFile(t, s, q)
		_, _, err := s.CompleteFile(t.Context(), f.Owner, f.ID, "", 5, "etag", ctNow())
		ctMust(t, "complete", err)
		var cerr error
		var wg sync.WaitGroup
		atMark := newAtStoreCall(t.Context(), 6, func() { // the hold's 6th call: its mark on the file
			wg.Go(func() { cerr = s.ClearStagingKey(t.Context(), f.Owner, f.ID) })
		})
		_, herr := s.HoldDeletedFile(atMark, f.Owner, f.ID)
		wg.Wait()
		ctMust(t, "ClearStagingKey", cerr)
		if !atMark.reached() {
			t.Fatal("the hold made fewer than 6 store calls: the call numbers changed")
		}
		if errors.Is(herr, ErrNotFound) { // the key went first: removeFile deletes it
			_, herr = s.DeleteFile(t.Context(), f.Owner, f.ID)
		}
		ctMust(t, "delete", herr)
		if got, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the file deleted reads %+v, %v", got, err)
		}
		wantSweptAway(t, s, f)
	}
}

// TestFailedHoldIsFinishedBySweep: a delete that made its holding mark and
// then failed (a 503) leaves the file complete; the sweep that clears its
// staging key holds it as the owner asked, and keeps it a record the
// staged sweep deletes, not one hidden and charged for good.
func TestFailedHoldIsFinishedBySweep(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	f := insertStagedFile(t, s, q)
	_, _, err := s.CompleteFile(t.Context(), f.Owner, f.ID, "", 5, "etag", ctNow())
	ctMust(t, "complete", err)
	ctMust(t, "markHolding", s.markHolding(t.Context(), f.Owner, f.ID)) // and then the delete failed
	ctMust(t, "ClearStagingKey", s.ClearStagingKey(t.Context(), f.Owner, f.ID))
	if got, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the file whose delete failed after its mark reads %+v, %v after the sweep", got, err)
	}
	wantSweptAway(t, s, f)
}

// wantSweptAway wants f, which its owner deleted, gone from the usage once
// the staged sweep has deleted what is left of it: a held record, which
// must still name its staging key for StagedFilesBefore to find it.
func wantSweptAway(t *testing.T, s *mongoStore, f *File) {
	t.Helper()
	staged, err := s.StagedFilesBefore(t.Context(), ctNow().Add(time.Hour), &Cursor{CreatedAt: f.CreatedAt.Add(-time.Millisecond)}, 1000)
	ctMust(t, "StagedFilesBefore", err)
	for _, g := range staged {
		if g.ID == f.ID {
			ctMust(t, "the staged sweep's DeleteFile", errOf(s.DeleteFile(t.Context(), f.Owner, f.ID)))
		}
	}
	if _, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file reads %v", err)
	}
	var left []File
	ctMust(t, "find", s.findAll(t.Context(), s.files, bson.D{{Key: "_id", Value: f.ID}}, nil, &left))
	if len(left) != 0 {
		t.Errorf("a record the staged sweep does not find is left: %+v", left[0])
	}
	if u, _ := s.GetUsage(t.Context(), f.Owner); u != (Usage{}) {
		t.Errorf("after the staged sweep the usage is %+v, want nothing", u)
	}
}

// TestDeleteExpiredTidiesEveryExpiringCollection: the sweeper's fallback
// for engines without TTL indexes deletes an expired document of each
// collection a TTL index would tidy. Before they were one list, webhook
// deliveries, their claims, file requests, their guards and invitations
// stayed for ever on FerretDB 1.x, and the deliveries were still listed
// (review 15).
func TestDeleteExpiredTidiesEveryExpiringCollection(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	now := ctNow()
	for _, c := range s.expiringColls() {
		doc := bson.D{{Key: "_id", Value: "expired-" + ctNewID()}, {Key: "expires_at", Value: now.Add(-time.Minute)}}
		if _, err := c.InsertOne(t.Context(), doc); err != nil {
			t.Fatalf("insert into %s: %v", c.Name(), err)
		}
	}
	if _, err := s.DeleteExpired(t.Context(), now); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.expiringColls() {
		n, err := c.CountDocuments(t.Context(), bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}})
		if err != nil {
			t.Fatalf("count %s: %v", c.Name(), err)
		}
		if n != 0 {
			t.Errorf("%s keeps %d expired document(s) after DeleteExpired", c.Name(), n)
		}
	}
}
