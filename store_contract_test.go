package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLocalStoreContract runs the backend-agnostic suite on the local store.
func TestLocalStoreContract(t *testing.T) {
	t.Parallel()
	testStoreContract(t, storeOpeners["local"])
}

// testStoreContract checks what every Store must do alike, whatever the
// backend. open returns a working store and arranges for it to be closed;
// subtests run in parallel, each with its own store. Every id, owner and
// hash is fresh, so a store shared between subtests works too.
func testStoreContract(t *testing.T, open func(t *testing.T) Store) {
	runContract(t, open, []contractCheck{
		{"Ping", ctPing},
		{"InsertGetFile", ctInsertGetFile},
		{"MillisecondUTCTimes", ctMillisecondUTCTimes},
		{"ReturnedFilesAreCopies", ctReturnedFilesAreCopies},
		{"InsertFileConflict", ctInsertFileConflict},
		{"OwnerIsolation", ctOwnerIsolation},
		{"ListOrder", ctListOrder},
		{"ListPagination", ctListPagination},
		{"ListPaginationConcurrentInserts", ctListPaginationConcurrentInserts},
		{"ListStatusFilter", ctListStatusFilter},
		{"CompleteFile", ctCompleteFile},
		{"DeleteFile", ctDeleteFile},
		{"PendingFilesBefore", ctPendingFilesBefore},
		{"DeleteAbandonedFile", ctDeleteAbandonedFile},
		{"HoldPendingFile", ctHoldPendingFile},
		{"StagedFiles", ctStagedFiles},
		{"UsageByOwner", ctUsageByOwner},
		{"Credentials", ctCredentials},
		{"CredentialUserDisabled", ctCredentialUserDisabled},
		{"Users", ctUsers},
		{"AuthStates", ctAuthStates},
		{"AuthCodes", ctAuthCodes},
		{"ConcurrentTake", ctConcurrentTake},
		{"Tokens", ctTokens},                                         // tokens_test.go
		{"TouchToken", ctTouchToken},                                 // tokens_test.go
		{"ClaimDelivery", ctClaimDelivery},                           // webhook_delivery_test.go
		{"DueDeliveriesLeavesBusyOut", ctDueDeliveriesLeavesBusyOut}, // webhook_delivery_test.go
	})
}

// contractCheck is one named check of a store contract.
type contractCheck struct {
	name string
	run  func(t *testing.T, s Store)
}

// runContract runs each check as a parallel subtest named after it, each
// on a store of its own from open.
func runContract(t *testing.T, open func(t *testing.T) Store, checks []contractCheck) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

// ctPing: an open store answers.
func ctPing(t *testing.T, s Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// ctInsertGetFile: every field comes back as inserted, set or not.
func ctInsertGetFile(t *testing.T, s Store) {
	ctx := t.Context()
	owner, now := ctNewID(), ctNow()
	pending := ctFile(owner, now)
	bare := ctFile(owner, now) // no declared size, no content type
	bare.DeclaredSize, bare.ContentType = nil, ""
	complete := ctFile(owner, now.Add(-time.Hour))
	size, done := int64(7), now.Add(-time.Minute)
	complete.Status, complete.Size, complete.ETag, complete.CompletedAt = statusComplete, &size, `"e7"`, &done
	for _, f := range []*File{pending, bare, complete} {
		ctInsert(t, s, f)
		got, err := s.GetFile(ctx, owner, f.ID)
		if err != nil {
			t.Fatalf("GetFile(%s): %v", f.ID, err)
		}
		ctSameFile(t, *got, *f)
	}
	if _, err := s.GetFile(ctx, owner, ctNewID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile(missing) = %v, want ErrNotFound", err)
	}
}

// ctMillisecondUTCTimes: times come back in UTC, cut to the millisecond,
// whatever the caller passed in, as MongoDB stores them.
func ctMillisecondUTCTimes(t *testing.T, s Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	precise := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, zone)
	f := ctFile(ctNewID(), precise)
	ctInsert(t, s, f)
	done, _, err := s.CompleteFile(ctx, f.Owner, f.ID, "", 1, "e", precise.Add(time.Second))
	if err != nil {
		t.Fatalf("CompleteFile: %v", err)
	}
	got, err := s.GetFile(ctx, f.Owner, f.ID)
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	want := precise.UTC().Truncate(time.Millisecond)
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want},
		{"CompletedAt", *got.CompletedAt, want.Add(time.Second)},
		{"CompleteFile's CompletedAt", *done.CompletedAt, want.Add(time.Second)},
	} {
		if !c.got.Equal(c.want) || c.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// ctReturnedFilesAreCopies: neither the caller's File nor a returned one
// shares memory with what the store keeps.
func ctReturnedFilesAreCopies(t *testing.T, s Store) {
	ctx := t.Context()
	f := ctFile(ctNewID(), ctNow())
	want := *ctCloneFile(f)
	ctInsert(t, s, f)
	f.Filename, *f.DeclaredSize = "changed.txt", 999
	got, err := s.GetFile(ctx, f.Owner, f.ID)
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	got.Filename, *got.DeclaredSize = "changed again.txt", 998
	page, err := s.ListFiles(ctx, ListQuery{Owner: f.Owner, Limit: 10})
	if err != nil || len(page) != 1 {
		t.Fatalf("ListFiles = %d files, %v; want 1", len(page), err)
	}
	*page[0].DeclaredSize = 997
	again, err := s.GetFile(ctx, f.Owner, f.ID)
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	ctSameFile(t, *again, want)
}

// ctInsertFileConflict: file IDs and object keys are unique across all
// owners; a refused insert changes nothing.
func ctInsertFileConflict(t *testing.T, s Store) {
	ctx := t.Context()
	owner, now := ctNewID(), ctNow()
	orig := ctFile(owner, now)
	ctInsert(t, s, orig)
	sameID := ctFile(owner, now)
	sameID.ID = orig.ID
	sameKey := ctFile(owner, now)
	sameKey.ObjectKey = orig.ObjectKey
	otherOwner := ctFile(ctNewID(), now) // uniqueness holds across owners
	otherOwner.ID = orig.ID
	for name, f := range map[string]*File{"same ID": sameID, "same object key": sameKey, "same ID, other owner": otherOwner} {
		if err := s.InsertFile(ctx, f); !errors.Is(err, ErrConflict) {
			t.Errorf("InsertFile(%s) = %v, want ErrConflict", name, err)
		}
	}
	got, err := s.GetFile(ctx, owner, orig.ID)
	if err != nil {
		t.Fatalf("GetFile(original): %v", err)
	}
	ctSameFile(t, *got, *orig)
	if _, err := s.GetFile(ctx, owner, sameKey.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile(refused file) = %v, want ErrNotFound", err)
	}
}

// ctOwnerIsolation: another user's file id behaves exactly like a missing
// one on every file method, and leaves the file untouched.
func ctOwnerIsolation(t *testing.T, s Store) {
	ctx := t.Context()
	alice, bob := ctNewID(), ctNewID()
	f := ctFile(alice, ctNow())
	ctInsert(t, s, f)
	if _, err := s.GetFile(ctx, bob, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile as other owner = %v, want ErrNotFound", err)
	}
	if _, _, err := s.CompleteFile(ctx, bob, f.ID, "", 1, "e", ctNow()); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompleteFile as other owner = %v, want ErrNotFound", err)
	}
	if err := errOf(s.DeleteFile(ctx, bob, f.ID)); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteFile as other owner = %v, want ErrNotFound", err)
	}
	for _, status := range []string{"", statusPending} {
		if page := ctList(t, s, ListQuery{Owner: bob, Status: status, Limit: 10}); len(page) != 0 {
			t.Errorf("ListFiles(other owner, status %q) = %d files, want 0", status, len(page))
		}
	}
	got, err := s.GetFile(ctx, alice, f.ID)
	if err != nil {
		t.Fatalf("GetFile as owner: %v", err)
	}
	ctSameFile(t, *got, *f)
}

// ctListOrder: newest first, ties on CreatedAt broken by ID, descending.
func ctListOrder(t *testing.T, s Store) {
	owner, base := ctNewID(), ctNow()
	var want []File
	for i := range 12 {
		f := ctFile(owner, base.Add(time.Duration(i%4)*time.Millisecond)) // three per millisecond
		ctInsert(t, s, f)
		want = append(want, *f)
	}
	ctNewestFirst(want)
	ctSameIDs(t, "all", ctList(t, s, ListQuery{Owner: owner, Limit: 100}), want)
	ctSameIDs(t, "first 5", ctList(t, s, ListQuery{Owner: owner, Limit: 5}), want[:5])
}

// ctListPagination: following the cursor visits every file once, in order,
// whatever the page size.
func ctListPagination(t *testing.T, s Store) {
	owner, base := ctNewID(), ctNow()
	var want []File
	for i := range 25 {
		f := ctFile(owner, base.Add(-time.Duration(i/2)*time.Second))
		ctInsert(t, s, f)
		want = append(want, *f)
	}
	ctNewestFirst(want)
	for _, limit := range []int{1, 7, 25, 26} {
		ctSameIDs(t, fmt.Sprintf("pages of %d", limit), ctWalk(t, s, ListQuery{Owner: owner, Limit: limit}), want)
	}
	last := want[len(want)-1]
	after := ctList(t, s, ListQuery{Owner: owner, Limit: 10, After: &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})
	if len(after) != 0 {
		t.Errorf("page after the oldest file = %d files, want 0", len(after))
	}
}

// ctListPaginationConcurrentInserts: files added while a client walks the
// pages are newer than its cursor, so after the first page the walk sees
// exactly the files that were there when it started.
func ctListPaginationConcurrentInserts(t *testing.T, s Store) {
	owner, base := ctNewID(), ctNow().Add(-time.Hour)
	var want []File
	for i := range 30 {
		f := ctFile(owner, base.Add(time.Duration(i/3)*time.Millisecond))
		ctInsert(t, s, f)
		want = append(want, *f)
	}
	ctNewestFirst(want)
	q := ListQuery{Owner: owner, Limit: 4}
	page := ctList(t, s, q)
	got := page
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := ctFile(owner, ctNow().Add(time.Duration(i)*time.Millisecond))
			if err := s.InsertFile(context.Background(), f); err != nil {
				t.Errorf("concurrent InsertFile: %v", err)
				return
			}
		}
	})
	for len(page) == q.Limit && len(got) <= len(want) {
		last := page[len(page)-1]
		q.After = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		page = ctList(t, s, q)
		got = append(got, page...)
	}
	close(stop)
	wg.Wait()
	ctSameIDs(t, "walk during inserts", got, want)
}

// ctListStatusFilter: a status filter keeps the order and the cursor works
// with it.
func ctListStatusFilter(t *testing.T, s Store) {
	ctx := t.Context()
	owner, base := ctNewID(), ctNow()
	var all, pending, complete []File
	for i := range 20 {
		f := ctFile(owner, base.Add(time.Duration(i)*time.Millisecond))
		ctInsert(t, s, f)
		if i%3 == 0 {
			done, _, err := s.CompleteFile(ctx, owner, f.ID, "", int64(i), "e", base)
			if err != nil {
				t.Fatalf("CompleteFile: %v", err)
			}
			f = done
		}
		all = append(all, *f)
	}
	ctNewestFirst(all)
	for _, f := range all {
		if f.Status == statusComplete {
			complete = append(complete, f)
		} else {
			pending = append(pending, f)
		}
	}
	for _, c := range []struct {
		status string
		want   []File
	}{{"", all}, {statusPending, pending}, {statusComplete, complete}} {
		ctSameIDs(t, "status "+c.status, ctList(t, s, ListQuery{Owner: owner, Status: c.status, Limit: 100}), c.want)
		ctSameIDs(t, "status "+c.status+" in pages of 3", ctWalk(t, s, ListQuery{Owner: owner, Status: c.status, Limit: 3}), c.want)
	}
}

// ctCompleteFile: completing sets size, ETag and time once and says so;
// completing again returns the file as it is, and says it did not.
func ctCompleteFile(t *testing.T, s Store) {
	ctx := t.Context()
	f := ctFile(ctNewID(), ctNow())
	ctInsert(t, s, f)
	at := ctNow().Add(time.Second)
	want := *ctCloneFile(f)
	size := int64(12345)
	want.Status, want.Size, want.ETag, want.CompletedAt = statusComplete, &size, `"abc"`, &at
	got, completed, err := s.CompleteFile(ctx, f.Owner, f.ID, "", size, `"abc"`, at)
	if err != nil || !completed {
		t.Fatalf("CompleteFile: completed %v, %v; want true", completed, err)
	}
	ctSameFile(t, *got, want)
	again, completed, err := s.CompleteFile(ctx, f.Owner, f.ID, "", 1, `"other"`, at.Add(time.Hour))
	if err != nil || completed {
		t.Fatalf("CompleteFile again: completed %v, %v; want false", completed, err)
	}
	ctSameFile(t, *again, want)
	stored, err := s.GetFile(ctx, f.Owner, f.ID)
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	ctSameFile(t, *stored, want)
	if _, _, err := s.CompleteFile(ctx, f.Owner, ctNewID(), "", 1, "e", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompleteFile(missing) = %v, want ErrNotFound", err)
	}
}

// ctPendingFilesBefore: walked in batches, the pending files created
// before the cutoff come once each, oldest first by (CreatedAt, ID), even
// with equal times across a batch boundary; complete files and later ones
// do not come. Its files are from 1999, which no other subtest uses, as
// the walk is not per owner.
func ctPendingFilesBefore(t *testing.T, s Store) {
	ctx := t.Context()
	t0 := time.Date(1999, 3, 1, 12, 0, 0, 0, time.UTC)
	owner := ctNewID()
	var want []File
	for _, d := range []time.Duration{0, 0, 0, time.Millisecond, 2 * time.Millisecond} {
		f := ctFile(owner, t0.Add(d))
		ctInsert(t, s, f)
		want = append(want, *ctCloneFile(f))
	}
	slices.SortFunc(want, func(a, b File) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID)) })
	done := ctFile(owner, t0.Add(time.Millisecond))
	ctInsert(t, s, done)
	if _, _, err := s.CompleteFile(ctx, owner, done.ID, "", 1, "e", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	ctInsert(t, s, ctFile(owner, t0.Add(time.Hour))) // after the cutoff
	var got []File
	var after *Cursor
	for range len(want) + 1 {
		batch, err := s.PendingFilesBefore(ctx, t0.Add(time.Minute), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		got = append(got, batch...)
		last := batch[len(batch)-1]
		after = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	ctSameIDs(t, "pending files walked", got, want)
	for i := range got {
		if i < len(want) && got[i].ID != want[i].ID {
			t.Fatalf("walk order %d: %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

// ctDeleteAbandonedFile: the sweeper's delete takes a file only if it is
// still pending and was created before the cut-off, checked in the store:
// a complete file, or a newer one, stays (ErrNotFound).
func ctDeleteAbandonedFile(t *testing.T, s Store) {
	ctx := t.Context()
	t0 := ctNow().Add(-time.Hour)
	owner := ctNewID()
	pending, done, young := ctFile(owner, t0), ctFile(owner, t0), ctFile(owner, t0.Add(time.Hour))
	for _, f := range []*File{pending, done, young} {
		ctInsert(t, s, f)
	}
	if _, _, err := s.CompleteFile(ctx, owner, done.ID, "", 1, "e", t0); err != nil {
		t.Fatal(err)
	}
	cutoff := t0.Add(time.Minute)
	for _, f := range []*File{done, young} {
		if err := errOf(s.DeleteAbandonedFile(ctx, owner, f.ID, cutoff)); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteAbandonedFile(%s) = %v, want ErrNotFound", f.Filename, err)
		}
		if _, err := s.GetFile(ctx, owner, f.ID); err != nil {
			t.Errorf("file kept by DeleteAbandonedFile: %v", err)
		}
	}
	ctMust(t, "delete the abandoned file", errOf(s.DeleteAbandonedFile(ctx, owner, pending.ID, cutoff)))
	if _, err := s.GetFile(ctx, owner, pending.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("abandoned file after DeleteAbandonedFile: %v, want ErrNotFound", err)
	}
	if err := errOf(s.DeleteAbandonedFile(ctx, owner, pending.ID, cutoff)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteAbandonedFile = %v, want ErrNotFound", err)
	}
}

// ctHoldPendingFile: a sender's take-back holds a file that names a
// staging key only while it is still pending: a complete file stays
// complete (ErrNotFound), and a complete after the hold is not
// acknowledged. A file with no staging key is never held, and its
// complete goes through after.
func ctHoldPendingFile(t *testing.T, s Store) {
	ctx := t.Context()
	owner := ctNewID()
	staged := func() *File {
		f := ctFile(owner, ctNow())
		f.StagingKey = "staging/" + f.ID
		ctInsert(t, s, f)
		return f
	}
	pending, done, unstaged := staged(), staged(), ctFile(owner, ctNow())
	ctInsert(t, s, unstaged)
	if _, _, err := s.CompleteFile(ctx, owner, done.ID, "", 1, "e", ctNow()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*File{done, unstaged} {
		if err := errOf(s.HoldPendingFile(ctx, owner, f.ID)); !errors.Is(err, ErrNotFound) {
			t.Errorf("HoldPendingFile(%s) = %v, want ErrNotFound", f.Filename, err)
		}
	}
	if f, err := s.GetFile(ctx, owner, done.ID); err != nil || f.Status != statusComplete {
		t.Errorf("the complete file after HoldPendingFile: %+v, %v, want it complete", f, err)
	}
	if _, completed, err := s.CompleteFile(ctx, owner, unstaged.ID, "", 1, "e", ctNow()); err != nil || !completed {
		t.Errorf("CompleteFile of the file not held = %v, %v, want it completed", completed, err)
	}
	held, err := s.HoldPendingFile(ctx, owner, pending.ID)
	if err != nil || held.ID != pending.ID || held.Status != statusPending {
		t.Fatalf("HoldPendingFile(pending) = %+v, %v, want the file as it was", held, err)
	}
	if _, _, err := s.CompleteFile(ctx, owner, pending.ID, "", 1, "e", ctNow()); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompleteFile after the hold = %v, want ErrNotFound", err)
	}
	if _, err := s.GetFile(ctx, owner, pending.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the held file reads %v, want ErrNotFound", err)
	}
}

// ctStagedFiles: StagedFilesBefore walks the complete files created
// before the cut-off that name a staging key, and a key cleared with
// ClearStagingKey takes its file out of the walk; CompleteFile records the
// key an object was promoted to. Its files are from 1998, which no other
// subtest uses.
func ctStagedFiles(t *testing.T, s Store) {
	ctx := t.Context()
	t0 := time.Date(1998, 3, 1, 12, 0, 0, 0, time.UTC)
	owner := ctNewID()
	var staged []*File
	for i := range 3 {
		f := ctFile(owner, t0.Add(time.Duration(i)*time.Millisecond))
		f.StagingKey = stagingKey(f.ObjectKey, t0)
		ctInsert(t, s, f)
		staged = append(staged, f)
	}
	plain := ctFile(owner, t0)
	ctInsert(t, s, plain)
	for _, f := range append(staged[1:], plain) { // staged[0] stays pending
		done, _, err := s.CompleteFile(ctx, owner, f.ID, f.ObjectKey+"-e", 1, "e", t0)
		if err != nil || done.ObjectKey != f.ObjectKey+"-e" {
			t.Fatalf("CompleteFile with a promoted key: %+v, %v", done, err)
		}
	}
	walk := func() (ids []string) {
		files, err := s.StagedFilesBefore(ctx, t0.Add(time.Minute), nil, 10)
		ctMust(t, "StagedFilesBefore", err)
		for _, f := range files {
			ids = append(ids, f.ID)
		}
		return ids
	}
	if got, want := walk(), []string{staged[1].ID, staged[2].ID}; !slices.Equal(got, want) {
		t.Errorf("staged complete files: %v, want %v", got, want)
	}
	ctMust(t, "ClearStagingKey", s.ClearStagingKey(ctx, owner, staged[1].ID))
	if got, want := walk(), []string{staged[2].ID}; !slices.Equal(got, want) {
		t.Errorf("staged complete files after a clear: %v, want %v", got, want)
	}
	if f, err := s.GetFile(ctx, owner, staged[1].ID); err != nil || f.StagingKey != "" || f.Status != statusComplete {
		t.Errorf("file after ClearStagingKey: %+v, %v", f, err)
	}
}

// ctUsageByOwner: every owner's usage is the one GetUsage gives, pending
// and complete files alike; an owner without files has none.
func ctUsageByOwner(t *testing.T, s Store) {
	ctx := t.Context()
	owners := []string{ctNewID(), ctNewID()}
	for i, owner := range owners {
		for range i + 1 {
			f := ctFile(owner, ctNow())
			f.Charged = *f.DeclaredSize
			ctInsert(t, s, f)
		}
	}
	second := ctList(t, s, ListQuery{Owner: owners[1], Limit: 10})
	if _, _, err := s.CompleteFile(ctx, owners[1], second[0].ID, "", 7, "e", ctNow()); err != nil {
		t.Fatal(err)
	}
	usage, err := s.UsageByOwner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range owners {
		want, err := s.GetUsage(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		if usage[owner] != want || want.Files == 0 {
			t.Errorf("UsageByOwner[%s] = %+v, GetUsage %+v", owner, usage[owner], want)
		}
	}
	if u := usage[ctNewID()]; u != (Usage{}) {
		t.Errorf("an owner without files has usage %+v", u)
	}
}

// errOf is the error of a delete that also returns the deleted record.
func errOf(_ *File, err error) error { return err }

// ctDeleteFile: a deleted file is gone for every method, once; the delete
// returns the record as it was deleted, with a key a complete wrote since
// the caller read it.
func ctDeleteFile(t *testing.T, s Store) {
	ctx := t.Context()
	owner, now := ctNewID(), ctNow()
	f, kept := ctFile(owner, now), ctFile(owner, now)
	ctInsert(t, s, f)
	ctInsert(t, s, kept)
	promoted := f.ObjectKey + "-etag"
	if _, _, err := s.CompleteFile(ctx, owner, f.ID, promoted, 3, "etag", now); err != nil {
		t.Fatalf("CompleteFile: %v", err)
	}
	deleted, err := s.DeleteFile(ctx, owner, f.ID)
	if err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	if deleted.ID != f.ID || deleted.ObjectKey != promoted || deleted.Status != statusComplete {
		t.Errorf("DeleteFile returned %+v, want the record as completed (key %s)", deleted, promoted)
	}
	if _, err := s.GetFile(ctx, owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile(deleted) = %v, want ErrNotFound", err)
	}
	if err := errOf(s.DeleteFile(ctx, owner, f.ID)); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteFile(deleted) = %v, want ErrNotFound", err)
	}
	ctSameIDs(t, "after delete", ctList(t, s, ListQuery{Owner: owner, Limit: 10}), []File{*kept})
	again := ctFile(owner, now) // the ID and the object key are free again
	again.ID, again.ObjectKey = f.ID, f.ObjectKey
	ctInsert(t, s, again)
}

// ctCredentials: found by kind and hash until they expire or are deleted.
// ctCredentialUserDisabled: FindCredential reports the user disabled, for
// a credential stored before the disable and one stored after it, and
// enabled again once the user is; a user's flag never reaches another's
// credentials.
func ctCredentialUserDisabled(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	var users [2]User
	for i := range users {
		u, err := s.UpsertUser(ctx, User{Issuer: "test", Subject: ctNewID(), Email: "u@example.com"})
		if err != nil {
			t.Fatalf("UpsertUser: %v", err)
		}
		users[i] = u
	}
	cred := func(userID string) Credential {
		c := Credential{Hash: ctNewID(), Kind: kindBearer, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.InsertCredential(ctx, c); err != nil {
			t.Fatalf("InsertCredential: %v", err)
		}
		return c
	}
	want := func(c Credential, disabled bool) {
		t.Helper()
		got, err := s.FindCredential(ctx, c.Kind, c.Hash, now)
		if err != nil || got.UserDisabled != disabled {
			t.Errorf("FindCredential: UserDisabled %v, %v; want %v", got.UserDisabled, err, disabled)
		}
	}
	before, other := cred(users[0].ID), cred(users[1].ID)
	want(before, false)
	if err := s.SetUserDisabled(ctx, users[0].ID, true); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	after := cred(users[0].ID)
	want(before, true)
	want(after, true)
	want(other, false)
	if err := s.SetUserDisabled(ctx, users[0].ID, false); err != nil {
		t.Fatalf("SetUserDisabled(false): %v", err)
	}
	want(before, false)
	want(after, false)
}

func ctCredentials(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	c := Credential{Hash: ctNewID(), Kind: kindSession, UserID: ctNewID(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertCredential(ctx, c); err != nil {
		t.Fatalf("InsertCredential: %v", err)
	}
	got, err := s.FindCredential(ctx, kindSession, c.Hash, c.ExpiresAt.Add(-time.Millisecond))
	if err != nil {
		t.Fatalf("FindCredential just before expiry: %v", err)
	}
	if ctDescribe(got) != ctDescribe(c) {
		t.Errorf("FindCredential =\n%s\nwant\n%s", ctDescribe(got), ctDescribe(c))
	}
	for name, find := range map[string]func() error{
		"at expiry":  func() error { _, err := s.FindCredential(ctx, kindSession, c.Hash, c.ExpiresAt); return err },
		"other kind": func() error { _, err := s.FindCredential(ctx, kindBearer, c.Hash, now); return err },
		"missing":    func() error { _, err := s.FindCredential(ctx, kindSession, ctNewID(), now); return err },
	} {
		if err := find(); !errors.Is(err, ErrNotFound) {
			t.Errorf("FindCredential(%s) = %v, want ErrNotFound", name, err)
		}
	}
	if err := s.InsertCredential(ctx, c); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertCredential(duplicate) = %v, want ErrConflict", err)
	}
	bearer := c
	bearer.Kind = kindBearer // a hash is unique within its kind
	if err := s.InsertCredential(ctx, bearer); err != nil {
		t.Fatalf("InsertCredential(same hash, other kind): %v", err)
	}
	if err := s.DeleteCredential(ctx, kindSession, c.Hash); err != nil {
		t.Fatalf("DeleteCredential: %v", err)
	}
	if _, err := s.FindCredential(ctx, kindSession, c.Hash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindCredential(deleted) = %v, want ErrNotFound", err)
	}
	if _, err := s.FindCredential(ctx, kindBearer, c.Hash, now); err != nil {
		t.Errorf("FindCredential(other kind, after delete): %v", err)
	}
	if err := s.DeleteCredential(ctx, kindSession, c.Hash); err != nil {
		t.Errorf("DeleteCredential(missing) = %v, want nil", err)
	}
}

// ctUsers: one user per (issuer, subject), refreshed by a later sign-in,
// groups included (changed, then gone).
func ctUsers(t *testing.T, s Store) {
	ctx := t.Context()
	iss := "https://issuer.example/" + ctNewID()
	u := User{Issuer: iss, Subject: "sub-1", Email: "a@example.com", Name: "A", Picture: "https://p.example/a", Groups: []string{"a", "b"}}
	created, err := s.UpsertUser(ctx, u)
	if err != nil {
		t.Fatalf("UpsertUser(new): %v", err)
	}
	if created.ID == "" {
		t.Fatal("UpsertUser(new) returned no ID")
	}
	u.ID = created.ID
	ctSameUser(t, "created", created, u)
	u.Email, u.Name, u.Picture, u.Groups = "new@example.com", "A. N. Other", "", []string{"c"} // the same person, refreshed
	refreshed, err := s.UpsertUser(ctx, u)
	if err != nil {
		t.Fatalf("UpsertUser(refresh): %v", err)
	}
	ctSameUser(t, "refreshed", refreshed, u)
	got, err := s.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	ctSameUser(t, "GetUser", got, u)
	u.Groups = nil // out of every group at the provider
	if refreshed, err = s.UpsertUser(ctx, u); err != nil {
		t.Fatalf("UpsertUser(no groups): %v", err)
	}
	ctSameUser(t, "refreshed without groups", refreshed, u)
	if got, err = s.GetUser(ctx, u.ID); err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	ctSameUser(t, "GetUser without groups", got, u)
	ids := map[string]bool{u.ID: true}
	for _, other := range []User{{Issuer: iss, Subject: "sub-2", Email: u.Email}, {Issuer: iss + "/other", Subject: "sub-1"}} {
		o, err := s.UpsertUser(ctx, other)
		if err != nil {
			t.Fatalf("UpsertUser(%s, %s): %v", other.Issuer, other.Subject, err)
		}
		if ids[o.ID] {
			t.Errorf("UpsertUser(%s, %s) reused ID %s", other.Issuer, other.Subject, o.ID)
		}
		ids[o.ID] = true
	}
	if _, err := s.GetUser(ctx, ctNewID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetUser(missing) = %v, want ErrNotFound", err)
	}
}

// ctAuthStates: single use, expiring, unique by hash.
func ctAuthStates(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	state := func() AuthState {
		return AuthState{Hash: ctNewID(), BrowserHash: ctNewID(), Nonce: "n", Verifier: "v", AppRedirect: "http://127.0.0.1:9/cb",
			AppState: "as", CodeChallenge: "cc", ExpiresAt: now.Add(time.Minute)}
	}
	insert := func(a AuthState) { ctMust(t, "InsertAuthState", s.InsertAuthState(ctx, a)) }
	take := func(a AuthState, at time.Time) (string, error) {
		got, err := s.TakeAuthState(ctx, a.Hash, at)
		return ctDescribe(got), err
	}
	ctTakeOnce(t, state, insert, take, func(a AuthState) time.Time { return a.ExpiresAt })
	a := state()
	insert(a)
	if err := s.InsertAuthState(ctx, a); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertAuthState(duplicate) = %v, want ErrConflict", err)
	}
}

// ctAuthCodes: single use, expiring, unique by hash.
func ctAuthCodes(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	code := func() AuthCode {
		return AuthCode{Hash: ctNewID(), UserID: ctNewID(), CodeChallenge: "cc", RedirectURI: "http://127.0.0.1:9/cb", ExpiresAt: now.Add(time.Minute)}
	}
	insert := func(c AuthCode) { ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, c)) }
	take := func(c AuthCode, at time.Time) (string, error) {
		got, err := s.TakeAuthCode(ctx, c.Hash, at)
		return ctDescribe(got), err
	}
	ctTakeOnce(t, code, insert, take, func(c AuthCode) time.Time { return c.ExpiresAt })
	c := code()
	insert(c)
	if err := s.InsertAuthCode(ctx, c); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertAuthCode(duplicate) = %v, want ErrConflict", err)
	}
}

// ctTakeOnce checks the single-use rules shared by auth states and codes:
// a take returns the whole record once; a second take, a take at or after
// expiry and a take of a missing hash find nothing.
func ctTakeOnce[T any](t *testing.T, fresh func() T, insert func(T), take func(T, time.Time) (string, error), expires func(T) time.Time) {
	t.Helper()
	rec := fresh()
	insert(rec)
	before := expires(rec).Add(-time.Millisecond)
	got, err := take(rec, before)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	if got != ctDescribe(rec) {
		t.Errorf("take =\n%s\nwant\n%s", got, ctDescribe(rec))
	}
	if _, err := take(rec, before); !errors.Is(err, ErrNotFound) {
		t.Errorf("second take = %v, want ErrNotFound", err)
	}
	expired := fresh()
	insert(expired)
	if _, err := take(expired, expires(expired)); !errors.Is(err, ErrNotFound) {
		t.Errorf("take at expiry = %v, want ErrNotFound", err)
	}
	if _, err := take(fresh(), before); !errors.Is(err, ErrNotFound) {
		t.Errorf("take of a missing hash = %v, want ErrNotFound", err)
	}
}

// ctConcurrentTake: of many concurrent takes of one state or code, exactly
// one succeeds and the others find nothing.
func ctConcurrentTake(t *testing.T, s Store) {
	ctx := t.Context()
	now := ctNow()
	takers := map[string]func(hash string) error{
		"code": func(hash string) error {
			_, err := s.TakeAuthCode(ctx, hash, now)
			return err
		},
		"state": func(hash string) error {
			_, err := s.TakeAuthState(ctx, hash, now)
			return err
		},
	}
	for round := range 5 {
		for kind, take := range takers {
			hash := ctNewID()
			if kind == "code" {
				ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, AuthCode{Hash: hash, UserID: "u", ExpiresAt: now.Add(time.Minute)}))
			} else {
				ctMust(t, "InsertAuthState", s.InsertAuthState(ctx, AuthState{Hash: hash, ExpiresAt: now.Add(time.Minute)}))
			}
			errs := make([]error, 8)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { errs[i] = take(hash) })
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, ErrNotFound):
					t.Errorf("round %d: take %s = %v, want nil or ErrNotFound", round, kind, err)
				}
			}
			if wins != 1 {
				t.Errorf("round %d: %d concurrent takes of one %s succeeded, want exactly 1", round, wins, kind)
			}
		}
	}
}

// ctNow is the current time as every store keeps it: UTC, milliseconds.
func ctNow() time.Time {
	return time.Now().UTC().Truncate(time.Millisecond)
}

// ctNewID returns a fresh random id, owner or hash.
func ctNewID() string {
	return strings.ToLower(rand.Text())
}

// ctFile returns a new pending file of owner with every optional field set.
func ctFile(owner string, created time.Time) *File {
	id := ctNewID()
	declared := int64(len(id) * 1000)
	return &File{
		ID:           id,
		Owner:        owner,
		Filename:     "report " + id[:6] + " ✓.pdf",
		DeclaredSize: &declared,
		ContentType:  "application/pdf",
		Status:       statusPending,
		ObjectKey:    "objects/" + id,
		CreatedAt:    created,
	}
}

// ctCloneFile deep-copies f, so that a test's expectation cannot change
// behind its back.
func ctCloneFile(f *File) *File {
	c := *f
	for _, p := range []**int64{&c.DeclaredSize, &c.Size} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	if c.CompletedAt != nil {
		v := *c.CompletedAt
		c.CompletedAt = &v
	}
	return &c
}

// ctInsert inserts f or fails the test.
func ctInsert(t *testing.T, s Store, f *File) {
	t.Helper()
	if err := s.InsertFile(t.Context(), f); err != nil {
		t.Fatalf("InsertFile(%s): %v", f.ID, err)
	}
}

// ctMust fails the test if err is not nil.
func ctMust(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ctList returns one page, failing the test on an error or an oversized
// page.
func ctList(t *testing.T, s Store, q ListQuery) []File {
	t.Helper()
	page, err := s.ListFiles(t.Context(), q)
	if err != nil {
		t.Fatalf("ListFiles(%+v): %v", q, err)
	}
	if len(page) > q.Limit {
		t.Fatalf("ListFiles(limit %d) returned %d files", q.Limit, len(page))
	}
	return page
}

// ctWalk follows the cursor from q until a page comes back short.
func ctWalk(t *testing.T, s Store, q ListQuery) []File {
	t.Helper()
	var all []File
	for range 100 {
		page := ctList(t, s, q)
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
		last := page[len(page)-1]
		q.After = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	t.Fatal("ListFiles pages never ended")
	return nil
}

// ctNewestFirst sorts files the way ListFiles returns them.
func ctNewestFirst(files []File) {
	slices.SortFunc(files, func(a, b File) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}

// ctSameIDs compares two lists of files, in order, field by field.
func ctSameIDs(t *testing.T, what string, got, want []File) {
	t.Helper()
	describe := func(files []File) string {
		lines := make([]string, len(files))
		for i, f := range files {
			lines[i] = ctDescribe(f)
		}
		return strings.Join(lines, "\n")
	}
	if g, w := describe(got), describe(want); g != w {
		t.Errorf("%s: got %d files\n%s\nwant %d files\n%s", what, len(got), g, len(want), w)
	}
}

// ctSameFile compares two files field by field.
func ctSameFile(t *testing.T, got, want File) {
	t.Helper()
	if g, w := ctDescribe(got), ctDescribe(want); g != w {
		t.Errorf("file =\n%s\nwant\n%s", g, w)
	}
}

// ctSameUser compares two users.
func ctSameUser(t *testing.T, what string, got, want User) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: user = %+v, want %+v", what, got, want)
	}
}

// ctDescribe renders any record with pointers followed and times in UTC,
// so records compare as strings and differences read well.
func ctDescribe(v any) string {
	switch v := v.(type) {
	case File:
		return fmt.Sprintf("%s owner=%s name=%q declared=%s size=%s type=%q status=%s key=%s etag=%q created=%s completed=%s",
			v.ID, v.Owner, v.Filename, ctPtr(v.DeclaredSize), ctPtr(v.Size), v.ContentType, v.Status, v.ObjectKey, v.ETag,
			ctTime(v.CreatedAt), ctPtr(v.CompletedAt))
	case Credential:
		return fmt.Sprintf("%+v created=%s expires=%s", Credential{Hash: v.Hash, Kind: v.Kind, UserID: v.UserID}, ctTime(v.CreatedAt), ctTime(v.ExpiresAt))
	case AuthState:
		exp := v.ExpiresAt
		v.ExpiresAt = time.Time{}
		return fmt.Sprintf("%+v expires=%s", v, ctTime(exp))
	case AuthCode:
		exp := v.ExpiresAt
		v.ExpiresAt = time.Time{}
		return fmt.Sprintf("%+v expires=%s", v, ctTime(exp))
	}
	return fmt.Sprintf("%+v", v)
}

// ctPtr renders what p points to, or nil.
func ctPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	if t, ok := any(*p).(time.Time); ok {
		return ctTime(t)
	}
	return fmt.Sprint(*p)
}

// ctTime renders t in UTC to the nanosecond.
func ctTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// TestMongoStoreContract runs the same contract against MongoDB (FerretDB),
// a fresh database per subtest.
func TestMongoStoreContract(t *testing.T) {
	t.Parallel()
	testStoreContract(t, storeOpeners["mongo"])
}

// openMongoStoreAt opens the store on database db with opts, closed with
// the test.
func openMongoStoreAt(t *testing.T, db string, opts ...mongoOption) *mongoStore {
	t.Helper()
	s, err := openMongoStore(t.Context(), requireRig(t).mongoURI, db, testLogger(t), opts...)
	ctMust(t, "open mongo store", err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// storeOpeners open a fresh store of each backend, closed with the test.
var storeOpeners = map[string]func(t *testing.T) Store{
	"local": func(t *testing.T) Store { return openTestLocalStore(t, t.TempDir()) },
	"mongo": func(t *testing.T) Store { return openMongoStoreAt(t, testDatabaseName(t)) },
}

// onEachStore runs test on a fresh store of each backend (storeOpeners:
// local, and a MongoDB (FerretDB) database), in parallel subtests.
func onEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for name, open := range storeOpeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open(t))
		})
	}
}

// onEachStoreReplayed is onEachStore for what a store must keep: check
// runs on what insert stored, and on the local store again after its log
// is replayed.
func onEachStoreReplayed[T any](t *testing.T, insert func(*testing.T, Store) T, check func(*testing.T, Store, T)) {
	onEachStore(t, func(t *testing.T, s Store) {
		stored := insert(t, s)
		check(t, s, stored)
		if local, ok := s.(*localStore); ok {
			check(t, reopenLocalStore(t, local), stored)
		}
	})
}

// TestUpsertUserConcurrentFirstSignIn: many first sign-ins of one subject
// at once all succeed, as one user (item 17: a lost insert race was a 409).
func TestUpsertUserConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) { raceFirstSignIns(t, []Store{s}, 8) })
}

// raceFirstSignIns signs in a new subject n times at once, the i-th on
// instances[i % len(instances)], in 5 rounds: each round must succeed
// every time and make one user.
func raceFirstSignIns(t *testing.T, instances []Store, n int) {
	t.Helper()
	for round := range 5 {
		u := User{Issuer: "https://issuer.example", Subject: fmt.Sprintf("sub-%d-%s", round, newID()), Email: "a@example.com"}
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				got, err := instances[i%len(instances)].UpsertUser(t.Context(), u)
				ids[i], errs[i] = got.ID, err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %d first sign-ins on %d instance(s): %v", round, n, len(instances), err)
		}
		for _, id := range ids {
			if id == "" || id != ids[0] {
				t.Fatalf("round %d: %d first sign-ins on %d instance(s) made users %v, want one", round, n, len(instances), ids)
			}
		}
	}
}

// TestUpsertUserGoogleIssuerSpellings: a Google user stored under the bare
// spelling of the issuer (as sign-in once stored it) is found when it
// signs in again under the canonical one; a new user gets the canonical
// spelling, and other issuers get no such allowance (item 15).
func TestUpsertUserGoogleIssuerSpellings(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		legacy, err := s.UpsertUser(ctx, User{Issuer: googleIssuerBare, Subject: "sub-legacy", Email: "old@example.com"})
		ctMust(t, "UpsertUser(bare)", err)
		again, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-legacy", Email: "new@example.com"})
		ctMust(t, "UpsertUser(canonical)", err)
		if again.ID != legacy.ID || again.Email != "new@example.com" {
			t.Errorf("legacy user signing in again: %+v, want ID %s with the new email", again, legacy.ID)
		}
		fresh, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-new"})
		ctMust(t, "UpsertUser(new)", err)
		if got, err := s.GetUser(ctx, fresh.ID); err != nil || got.Issuer != googleIssuer {
			t.Errorf("new Google user stored as %+v, %v; want issuer %q", got, err, googleIssuer)
		}
		other, err := s.UpsertUser(ctx, User{Issuer: "https://login.example.com", Subject: "sub-legacy"})
		ctMust(t, "UpsertUser(other issuer)", err)
		if other.ID == legacy.ID {
			t.Error("another issuer's subject was taken for the Google user")
		}
	})
}
