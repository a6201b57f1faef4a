package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRequestUploadOutlivingItsGuardGivesUp: an upload through a request
// of one file stalls after its guard was kept, past the guard's time (a
// second here); another upload then finds neither its guard nor its file,
// and is kept. The stalled one must then give up rather than insert its
// file (review 8: the request held 2 files of 1).
func TestRequestUploadOutlivingItsGuardGivesUp(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	s.requestGuardTTL = time.Second
	countStoreCalls(s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	owner := "owner-" + newID()
	fr := newTestRequest(t, s, owner, 1, 1<<30, now)
	var err2 error
	stalled := newAtStoreCall(t.Context(), 6, func() { // its guard kept, about to reserve the quota
		time.Sleep(s.requestGuardTTL)
		later := now.Add(s.requestGuardTTL + time.Millisecond)
		err2 = s.InsertRequestFile(t.Context(), requestFile(owner, fr.ID, 10, later), Quota{}, later)
	})
	err1 := s.InsertRequestFile(stalled, requestFile(owner, fr.ID, 10, now), Quota{}, now)
	if !stalled.reached() {
		t.Fatal("the upload made fewer than 6 store calls: the call numbers changed")
	}
	ctMust(t, "the second upload", err2)
	if !errors.Is(err1, ErrUnavailable) && !errors.Is(err1, context.DeadlineExceeded) {
		t.Errorf("the stalled upload: %v, want it to give up", err1)
	}
	got, err := s.SetRequestClosed(t.Context(), owner, fr.ID, false, now)
	ctMust(t, "read the request", err)
	if got.Received.Files != 1 {
		t.Errorf("the request of one file holds %d", got.Received.Files)
	}
}
