package main

import (
	"errors"
	"sync"
	"testing"
	"time"
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
// claim), so the sweeper's delete, filtered on pending, finds nothing and
// deletes no object. The complete deletes the record and must hand it
// back with its ErrNotFound (sweptError), for its caller to delete the
// objects (review 11: a multipart file's object stayed, named by no
// record).
func TestCompleteBeatenBySweepHandsBackTheRecord(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	countStoreCalls(s)
	f := ctFile(ctNewID(), ctNow().Add(-2*time.Hour))
	f.Charged = 5
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, q))
	var derr error
	atClaim := newAtStoreCall(t.Context(), 2, func() { // the complete's 2nd call: its claim, its update landed
		_, derr = s.DeleteAbandonedFile(t.Context(), f.Owner, f.ID, ctNow().Add(-time.Hour))
	})
	_, _, cerr := s.CompleteFile(atClaim, f.Owner, f.ID, "", 5, "etag", ctNow())
	if !errors.Is(derr, ErrNotFound) {
		t.Fatalf("the sweeper's delete of the file completed meanwhile: %v, want ErrNotFound", derr)
	}
	var swept *sweptError
	if !errors.As(cerr, &swept) || swept.deleted == nil || swept.deleted.ObjectKey != f.ObjectKey {
		t.Fatalf("the complete answered %v, want a sweptError with the record it deleted", cerr)
	}
	if _, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file swept reads %v", err)
	}
	if u, _ := s.GetUsage(t.Context(), f.Owner); u != (Usage{}) {
		t.Errorf("the usage is %+v, want nothing", u)
	}
}
