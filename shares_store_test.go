package main

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestLocalStoreShares and TestMongoStoreShares run the share contract on
// both stores, a fresh store per subtest.
func TestLocalStoreShares(t *testing.T) {
	t.Parallel()
	testShareContract(t, storeOpeners["local"])
}

func TestMongoStoreShares(t *testing.T) {
	t.Parallel()
	testShareContract(t, storeOpeners["mongo"])
}

// testShareContract checks what every Store must do with shares.
func testShareContract(t *testing.T, open func(t *testing.T) Store) {
	runContract(t, open, []contractCheck{
		{"InsertListRevoke", ctShareInsertListRevoke},
		{"DuplicateToken", ctShareDuplicateToken},
		{"Expiry", ctShareExpiry},
		{"CountUnlimited", ctShareCountUnlimited},
		{"MaxDownloadsRace", ctShareMaxDownloadsRace},
		{"DeleteFileEndsShares", ctShareDeleteFileEndsShares},
		{"Sweep", ctShareSweep},
		{"LimitAndPages", ctShareLimitAndPages},
		{"RevokedWhileCounting", ctShareRevokedWhileCounting},
		{"StaleCountAfterPutBack", ctShareStaleCountAfterPutBack},
		{"GiveBackAfterPutBack", ctShareGiveBackAfterPutBack},
		{"PutBackWhileTakenOut", ctSharePutBackWhileTakenOut},
		{"GapAfterFailedCount", ctShareGapAfterFailedCount},
		{"AddAllOrNone", ctShareAddAllOrNone},
	})
}

// ctShareFile inserts a new file for owner and returns it.
func ctShareFile(t *testing.T, s Store, owner string) *File {
	t.Helper()
	f := ctFile(owner, ctNow())
	ctInsert(t, s, f)
	return f
}

// ctShare inserts a share of f expiring in ttl, with max downloads (0:
// unlimited), and returns it.
func ctShare(t *testing.T, s Store, f *File, ttl time.Duration, max int64) Share {
	t.Helper()
	now := ctNow()
	sh := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}}, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if max > 0 {
		sh.MaxDownloads = &max
	}
	ctMust(t, "InsertShare", s.InsertShare(t.Context(), sh, 0))
	return sh
}

// ctShareInsertListRevoke: a share comes back as inserted, listed only to
// its owner, and is gone at once when revoked.
func ctShareInsertListRevoke(t *testing.T, s Store) {
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	first := ctShare(t, s, f, time.Hour, 3)
	time.Sleep(2 * time.Millisecond) // a later creation time, so the order is certain
	second := ctShare(t, s, f, 2*time.Hour, 0)
	got, err := s.ShareLink(ctx, first.TokenHash, now)
	ctMust(t, "ShareLink", err)
	if !reflect.DeepEqual(got, first) {
		t.Errorf("ShareLink = %+v, want %+v", got, first)
	}
	list, err := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000})
	ctMust(t, "ListShares", err)
	if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
		t.Fatalf("ListShares = %+v, want the two shares oldest first", list)
	}
	if other, _ := s.ListShares(ctx, ShareQuery{Owner: ctNewID(), FileID: f.ID, Now: now, Limit: 1000}); len(other) != 0 {
		t.Errorf("another owner lists %+v", other)
	}
	if err := s.DeleteShare(ctx, ctNewID(), first.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteShare by another owner = %v, want ErrNotFound", err)
	}
	ctMust(t, "DeleteShare", s.DeleteShare(ctx, f.Owner, first.ID))
	if _, err := s.ShareLink(ctx, first.TokenHash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("ShareLink after revoke = %v, want ErrNotFound", err)
	}
	if _, err := s.CountShareDownload(ctx, first, first.FileID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("CountShareDownload after revoke = %v, want ErrNotFound", err)
	}
	if err := s.DeleteShare(ctx, f.Owner, first.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteShare = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000}); len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("ListShares after revoke = %+v", list)
	}
}

// ctShareDuplicateToken: two shares never share a token hash.
func ctShareDuplicateToken(t *testing.T, s Store) {
	f := ctShareFile(t, s, ctNewID())
	sh := ctShare(t, s, f, time.Hour, 0)
	sh.ID = newID()
	if err := s.InsertShare(t.Context(), sh, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("InsertShare with a used token hash = %v, want ErrConflict", err)
	}
}

// ctShareExpiry: at its expiry a share is missing everywhere.
func ctShareExpiry(t *testing.T, s Store) {
	ctx := t.Context()
	f := ctShareFile(t, s, ctNewID())
	sh := ctShare(t, s, f, time.Hour, 0)
	for _, at := range []time.Time{sh.ExpiresAt, sh.ExpiresAt.Add(time.Hour)} {
		if _, err := s.ShareLink(ctx, sh.TokenHash, at); !errors.Is(err, ErrNotFound) {
			t.Errorf("ShareLink at %v = %v, want ErrNotFound", at, err)
		}
		if _, err := s.CountShareDownload(ctx, sh, sh.FileID, at); !errors.Is(err, ErrNotFound) {
			t.Errorf("CountShareDownload at %v = %v, want ErrNotFound", at, err)
		}
		if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: at, Limit: 1000}); len(list) != 0 {
			t.Errorf("ListShares at %v = %+v", at, list)
		}
	}
	if _, err := s.ShareLink(ctx, sh.TokenHash, sh.ExpiresAt.Add(-time.Millisecond)); err != nil {
		t.Errorf("ShareLink just before expiry: %v", err)
	}
}

// ctShareCountUnlimited: an unlimited share counts every download.
func ctShareCountUnlimited(t *testing.T, s Store) {
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	sh := ctShare(t, s, f, time.Hour, 0)
	for i := int64(1); i <= 3; i++ {
		got, err := s.CountShareDownload(ctx, sh, sh.FileID, now)
		ctMust(t, "CountShareDownload", err)
		if got.totalDownloads() != i {
			t.Errorf("download %d counted as %d", i, got.totalDownloads())
		}
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000}); len(list) != 1 || list[0].totalDownloads() != 3 {
		t.Errorf("ListShares = %+v, want 3 downloads", list)
	}
}

// ctShareMaxDownloadsRace: 20 concurrent downloads of a share allowing 5
// count exactly 5; the used-up share is still listed but no longer usable.
func ctShareMaxDownloadsRace(t *testing.T, s Store) {
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	sh := ctShare(t, s, f, time.Hour, 5)
	var ok, missing atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.CountShareDownload(ctx, sh, sh.FileID, now)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrNotFound):
				missing.Add(1)
			default:
				t.Errorf("CountShareDownload: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || missing.Load() != 15 {
		t.Errorf("%d downloads counted, %d refused; want 5 and 15", ok.Load(), missing.Load())
	}
	if _, err := s.ShareLink(ctx, sh.TokenHash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("ShareLink of a used-up share = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000}); len(list) != 1 || list[0].totalDownloads() != 5 {
		t.Errorf("ListShares = %+v, want the share with 5 downloads", list)
	}
}

// ctShareDeleteFileEndsShares: deleting a file ends every share of it.
func ctShareDeleteFileEndsShares(t *testing.T, s Store) {
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	kept := ctShareFile(t, s, f.Owner)
	sh := ctShare(t, s, f, time.Hour, 0)
	other := ctShare(t, s, kept, time.Hour, 0)
	ctMust(t, "DeleteFile", errOf(s.DeleteFile(ctx, f.Owner, f.ID)))
	if _, err := s.ShareLink(ctx, sh.TokenHash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("ShareLink of a deleted file's share = %v, want ErrNotFound", err)
	}
	if _, err := s.CountShareDownload(ctx, sh, sh.FileID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("CountShareDownload of a deleted file's share = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000}); len(list) != 0 {
		t.Errorf("ListShares of a deleted file = %+v", list)
	}
	if _, err := s.ShareLink(ctx, other.TokenHash, now); err != nil {
		t.Errorf("another file's share: %v", err)
	}
}

// ctShareRevokedWhileCounting: a share revoked, a file taken out of it or
// the file deleted while a download of it is being counted (before its
// number is taken, or once it is, before the count checks the share again)
// reports the download missing: the revocation wins. The revocation runs,
// from another caller, as the count makes its k-th store call through the
// gate, for each k: on MongoDB, before each of its calls. The local store
// counts under its write lock, so there a revocation comes before or after.
func ctShareRevokedWhileCounting(t *testing.T, s Store) {
	isMongo := countStoreCalls(s)
	owner := ctNewID()
	revocations := []struct {
		name    string
		revoke  func(ctx context.Context, sh Share, fileID string) error
		putBack bool // the file is put back after: it must show no downloads
	}{
		{"share revoked", func(ctx context.Context, sh Share, _ string) error { return s.DeleteShare(ctx, owner, sh.ID) }, false},
		{"file taken out", func(ctx context.Context, sh Share, fileID string) error {
			return s.RemoveShareFile(ctx, owner, sh.ID, fileID, ctNow())
		}, true},
		{"file deleted", func(ctx context.Context, _ Share, fileID string) error {
			return errOf(s.DeleteFile(ctx, owner, fileID))
		}, false},
	}
	for _, r := range revocations {
		before, after := 0, 0 // revocations before the number was taken, and just after
		for at := int64(1); at <= 12; at++ {
			now, max := ctNow(), int64(3)
			sh, f := ctLimitedDrop(t, s, owner, now, max)
			var taken bool
			var revoked error
			ctx := newAtStoreCall(t.Context(), at, func() {
				got, err := s.GetShare(t.Context(), owner, sh.ID, now)
				ctMust(t, "GetShare", err)
				taken = got.file(f.ID).Downloads > 0
				revoked = r.revoke(t.Context(), sh, f.ID)
			})
			_, err := s.CountShareDownload(ctx, sh, f.ID, now)
			switch {
			case !ctx.reached():
				ctMust(t, r.name+" after the count: the count", err)
				continue
			case taken && after > 0:
				continue // during the check: either answer is right
			case taken:
				after++
			default:
				before++
			}
			ctMust(t, r.name, revoked)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s at the count's store call %d (its number taken: %v): the count = %v, want ErrNotFound", r.name, at, taken, err)
			}
			if r.putBack {
				ctCheckPutBackUncounted(t, s, sh, f.ID, at)
			}
		}
		if isMongo && (before == 0 || after == 0) {
			t.Errorf("%s: %d revocations came before the number was taken and %d just after, want some of each", r.name, before, after)
		}
	}
}

// ctCheckPutBackUncounted puts the file back in the drop it was taken out
// of while a download of it was being counted, and checks that the
// refused download left no count behind: the file starts again from none.
func ctCheckPutBackUncounted(t *testing.T, s Store, sh Share, fileID string, at int64) {
	t.Helper()
	ctMust(t, "AddShareFiles", s.AddShareFiles(t.Context(), sh.Owner, sh.ID, []string{fileID}, 0, ctNow()))
	got, err := s.ShareLink(t.Context(), sh.TokenHash, ctNow())
	ctMust(t, "ShareLink", err)
	if f := got.file(fileID); f == nil || f.Downloads != 0 {
		t.Errorf("taken out at the count's store call %d and put back: the file reads %+v, want it with no downloads", at, f)
	}
}

// ctShareStaleCountAfterPutBack: downloads counted from a link read made
// before its file was taken out of the drop and put back (a count that is
// high: the file starts again from none) neither take the file over its
// limit nor leave it short of it. On MongoDB they are refused (the file
// put back has a new member: stillShared) and give their numbers back;
// the local store counts them as the file's new downloads.
func ctShareStaleCountAfterPutBack(t *testing.T, s Store) {
	ctx, now, owner := t.Context(), ctNow(), ctNewID()
	max := int64(5)
	sh, f := ctLimitedDrop(t, s, owner, now, max)
	for range 3 {
		_, err := s.CountShareDownload(ctx, sh, f.ID, now)
		ctMust(t, "CountShareDownload", err)
	}
	stale, err := s.ShareLink(ctx, sh.TokenHash, now)
	ctMust(t, "ShareLink", err)
	ctMust(t, "RemoveShareFile", s.RemoveShareFile(ctx, owner, sh.ID, f.ID, now))
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, owner, sh.ID, []string{f.ID}, 0, now))
	downloads := int64(0)
	for range 2 { // two downloads whose links were read before
		if _, err := s.CountShareDownload(ctx, stale, f.ID, now); err == nil {
			downloads++
		}
	}
	downloads += ctDownloads(t, s, sh, f.ID, 2*max)
	if downloads != max {
		t.Errorf("the file put back was downloaded %d times, want its limit of %d", downloads, max)
	}
}

// ctLimitedDrop inserts a drop made now of two new files of owner,
// allowing max downloads of each, and answers it and its first file.
func ctLimitedDrop(t *testing.T, s Store, owner string, now time.Time, max int64) (Share, *File) {
	t.Helper()
	f, kept := ctShareFile(t, s, owner), ctShareFile(t, s, owner)
	sh := Share{ID: newID(), TokenHash: ctNewID(), Owner: owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}, {FileID: kept.ID}},
		MaxDownloads: &max, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ctMust(t, "InsertShare", s.InsertShare(t.Context(), sh, 0))
	return sh, f
}

// ctDownloads downloads the file of the share from fresh reads of its
// link until a download is refused (ErrNotFound: used up), or upTo times,
// and answers how many were counted.
func ctDownloads(t *testing.T, s Store, sh Share, fileID string, upTo int64) int64 {
	t.Helper()
	n := int64(0)
	for range upTo {
		fresh, err := s.ShareLink(t.Context(), sh.TokenHash, ctNow())
		if err == nil {
			_, err = s.CountShareDownload(t.Context(), fresh, fileID, ctNow())
		}
		if errors.Is(err, ErrNotFound) {
			break
		}
		ctMust(t, "a download", err)
		n++
	}
	return n
}

// ctShareGiveBackAfterPutBack: a file taken out of the drop and put back
// while a download of it was being counted gives exactly its limit once
// back. The download is refused, and gives back only the number it took,
// not one a download of the file put back took; and it is never counted
// once its number went with the file taken out. The file is taken out as
// the count makes its out-th store call, and put back (and downloaded
// once) at its back-th, for each pair.
func ctShareGiveBackAfterPutBack(t *testing.T, s Store) {
	isMongo := countStoreCalls(s)
	owner, refusedThenPutBack := ctNewID(), 0
	for out := int64(1); out <= 5; out++ {
		for back := out + 1; back <= 7; back++ {
			now, max := ctNow(), int64(2)
			sh, f := ctLimitedDrop(t, s, owner, now, max)
			putBack := func() {
				ctMust(t, "AddShareFiles", s.AddShareFiles(t.Context(), owner, sh.ID, []string{f.ID}, 0, ctNow()))
			}
			downloads := int64(0) // of the file once put back
			atBack := newAtStoreCall(t.Context(), back, func() {
				putBack()
				downloads += ctDownloads(t, s, sh, f.ID, 1)
			})
			atOut := newAtStoreCall(atBack, out, func() {
				ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), owner, sh.ID, f.ID, ctNow()))
			})
			_, err := s.CountShareDownload(atOut, sh, f.ID, now)
			switch {
			case !atOut.reached():
				continue // counted before the file was taken out
			case err != nil && !errors.Is(err, ErrNotFound):
				t.Fatalf("taken out at call %d, put back at %d: the count = %v", out, back, err)
			case !atBack.reached():
				putBack() // the count was over first; a download counted then was the file's before
			case err == nil:
				t.Errorf("taken out at the count's store call %d and put back at %d: the download was counted", out, back)
			default:
				refusedThenPutBack++
			}
			if downloads += ctDownloads(t, s, sh, f.ID, 2*max); downloads != max {
				t.Errorf("taken out at the count's store call %d, put back at %d: the file put back was downloaded %d times, want its limit of %d",
					out, back, downloads, max)
			}
		}
	}
	if isMongo && refusedThenPutBack == 0 {
		t.Error("no count was refused and its file put back while it ran: the check saw nothing")
	}
}

// ctSharePutBackWhileTakenOut: a file put back in the drop (and downloaded
// once) while it is being taken out keeps what it was downloaded since:
// taking it out deletes only the downloads of its earlier time there. The
// file is put back as the removal makes its at-th store call, for each
// call; whichever wins, the file in the drop afterwards gives exactly its
// limit.
func ctSharePutBackWhileTakenOut(t *testing.T, s Store) {
	isMongo := countStoreCalls(s)
	owner, keptBack := ctNewID(), 0
	for at := int64(1); at <= 6; at++ {
		now, max := ctNow(), int64(2)
		sh, f := ctLimitedDrop(t, s, owner, now, max)
		_, err := s.CountShareDownload(t.Context(), sh, f.ID, now) // a download before, which goes with the removal
		ctMust(t, "CountShareDownload", err)
		downloads := int64(0) // in the drop once put back
		ctx := newAtStoreCall(t.Context(), at, func() {
			ctMust(t, "AddShareFiles", s.AddShareFiles(t.Context(), owner, sh.ID, []string{f.ID}, 0, ctNow()))
			downloads = ctDownloads(t, s, sh, f.ID, 1)
		})
		ctMust(t, "RemoveShareFile", s.RemoveShareFile(ctx, owner, sh.ID, f.ID, ctNow()))
		got, err := s.ShareLink(t.Context(), sh.TokenHash, ctNow())
		ctMust(t, "ShareLink", err)
		if got.file(f.ID) == nil { // the removal came last: the file is out, and its downloads gone
			ctMust(t, "AddShareFiles", s.AddShareFiles(t.Context(), owner, sh.ID, []string{f.ID}, 0, ctNow()))
			downloads = 0
		} else {
			keptBack++
		}
		if downloads += ctDownloads(t, s, sh, f.ID, 2*max); downloads != max {
			t.Errorf("put back at the removal's store call %d: the file in the drop was downloaded %d times, want its limit of %d", at, downloads, max)
		}
		ctCheckListedDownloads(t, s, sh, f.ID, max)
	}
	if isMongo && keptBack == 0 {
		t.Error("no put-back outlived the removal: the check saw nothing")
	}
}

// ctShareGapAfterFailedCount: a count that fails once its number is
// taken (its request gone, or the database failing its check) gives the
// number back, and a download that finds the numbers above it taken takes
// it: the file still gives exactly its limit. Here the count's request
// ends as it checks the share, just after another download took the next
// number.
func ctShareGapAfterFailedCount(t *testing.T, s Store) {
	countStoreCalls(s)
	owner, max := ctNewID(), int64(2)
	sh, f := ctLimitedDrop(t, s, owner, ctNow(), max)
	downloads := int64(0)
	other := newAtStoreCall(t.Context(), 2, func() { downloads += ctDownloads(t, s, sh, f.ID, 1) })
	failing := newAtStoreCall(other, 2, nil) // ends the count's request at the same call
	_, err := s.CountShareDownload(failing, sh, f.ID, ctNow())
	if !failing.reached() {
		return // no store calls to fail (the local store counts under its lock)
	}
	if err == nil || downloads != 1 {
		t.Fatalf("the count = %v and the other download counted %d, want an error and 1", err, downloads)
	}
	if downloads += ctDownloads(t, s, sh, f.ID, 2*max); downloads != max {
		t.Errorf("after a count failed with its number taken, the file was downloaded %d times, want its limit of %d", downloads, max)
	}
}

// ctCheckListedDownloads checks that the owner's page of shares (with
// more than one share, counted for them all at once) shows the file of
// the share with want downloads.
func ctCheckListedDownloads(t *testing.T, s Store, sh Share, fileID string, want int64) {
	t.Helper()
	shares, err := s.ListShares(t.Context(), ShareQuery{Owner: sh.Owner, Now: ctNow(), Limit: 1000})
	ctMust(t, "ListShares", err)
	for _, listed := range shares {
		if listed.ID != sh.ID {
			continue
		}
		if f := listed.file(fileID); f == nil || f.Downloads != want {
			t.Errorf("the owner's page of shares shows the file as %+v, want %d downloads", f, want)
		}
		return
	}
	t.Errorf("the owner's page of shares lacks share %s", sh.ID)
}

// TestLocalStoreSharesSurviveReopen: counts and revocations are in the log,
// and compaction drops the shares of deleted files.
func TestLocalStoreSharesSurviveReopen(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	gone := ctShareFile(t, s, f.Owner)
	counted := ctShare(t, s, f, time.Hour, 2)
	revoked := ctShare(t, s, f, time.Hour, 0)
	orphan := ctShare(t, s, gone, time.Hour, 0)
	_, err := s.CountShareDownload(ctx, counted, counted.FileID, now)
	ctMust(t, "CountShareDownload", err)
	ctMust(t, "DeleteShare", s.DeleteShare(ctx, f.Owner, revoked.ID))
	ctMust(t, "DeleteFile", errOf(s.DeleteFile(ctx, gone.Owner, gone.ID)))
	s = reopenLocalStore(t, s)
	got, err := s.ShareLink(ctx, counted.TokenHash, now)
	if err != nil || got.totalDownloads() != 1 {
		t.Errorf("after reopen: %+v, %v; want 1 download", got, err)
	}
	if _, err := s.ShareLink(ctx, revoked.TokenHash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked share after reopen: %v", err)
	}
	s.mu.Lock()
	_, kept := s.state.shares[orphan.TokenHash]
	s.mu.Unlock()
	if kept {
		t.Error("the share of a deleted file is still kept after reopen")
	}
}

// ctShareSweep: the sweeper's DeleteExpired removes expired shares, which
// lookups already ignore, so that stores without TTL indexes do not keep
// them; live shares stay.
func ctShareSweep(t *testing.T, s Store) {
	ctx, now := t.Context(), ctNow()
	f := ctShareFile(t, s, ctNewID())
	expired := ctShare(t, s, f, time.Hour, 0)
	live := ctShare(t, s, f, 3*time.Hour, 0)
	_, err := s.CountShareDownload(ctx, expired, expired.FileID, now)
	ctMust(t, "CountShareDownload", err)
	n, err := s.DeleteExpired(ctx, now.Add(2*time.Hour))
	ctMust(t, "DeleteExpired", err)
	if n < 1 {
		t.Errorf("DeleteExpired removed %d records, want the expired share at least", n)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 1000}); len(list) != 1 || list[0].ID != live.ID {
		t.Errorf("ListShares before either expired = %+v, want only the live share left", list)
	}
}

// ctShareLimitAndPages: InsertShare refuses a share over maxLive live ones
// of the file (expired ones and other files' do not count), and
// ListShares pages oldest first after a cursor.
func ctShareLimitAndPages(t *testing.T, s Store) {
	ctx := t.Context()
	f, other := ctShareFile(t, s, ctNewID()), ctShareFile(t, s, ctNewID())
	ctShare(t, s, other, time.Hour, 0)
	expired := ctShare(t, s, f, time.Millisecond, 0)
	time.Sleep(5 * time.Millisecond)
	var shares []Share
	for range 3 {
		now := ctNow()
		sh := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "InsertShare within the limit", s.InsertShare(ctx, sh, 3))
		shares = append(shares, sh)
		time.Sleep(2 * time.Millisecond)
	}
	now := ctNow()
	over := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertShare(ctx, over, 3); !errors.Is(err, ErrTooManyShares) {
		t.Errorf("InsertShare over the limit = %v, want ErrTooManyShares", err)
	}
	if _, err := s.ShareLink(ctx, over.TokenHash, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("the share refused over the limit: ShareLink = %v, want ErrNotFound", err)
	}
	q := ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 2}
	page, err := s.ListShares(ctx, q)
	ctMust(t, "ListShares", err)
	if len(page) != 2 || page[0].ID != shares[0].ID || page[1].ID != shares[1].ID {
		t.Fatalf("first page = %+v, want the 2 oldest live shares (not %s, expired)", page, expired.ID)
	}
	q.After = &Cursor{CreatedAt: page[1].CreatedAt, ID: page[1].ID}
	page, err = s.ListShares(ctx, q)
	ctMust(t, "ListShares after a cursor", err)
	if len(page) != 1 || page[0].ID != shares[2].ID {
		t.Errorf("second page = %+v, want the last share", page)
	}
}

// TestLocalStoreShareIndexes: the local store's indexes of shares by file
// and by ID (what list and revoke read instead of every share) hold
// exactly the shares, after inserts, revokes, counted downloads, a replay
// and a compaction.
func TestLocalStoreShareIndexes(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	ctx := t.Context()
	var kept []Share
	for i := range 6 {
		f := ctShareFile(t, s, ctNewID())
		a, b := ctShare(t, s, f, time.Hour, 5), ctShare(t, s, f, time.Hour, 0)
		if _, err := s.CountShareDownload(ctx, a, a.FileID, ctNow()); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			ctMust(t, "DeleteShare", s.DeleteShare(ctx, f.Owner, b.ID))
		} else {
			kept = append(kept, b)
		}
		kept = append(kept, a)
	}
	check := func(when string, s *localStore) {
		t.Helper()
		s.view(ctx, func(st *localState) error {
			byFile, byID := st.sharesOfFile, st.shareHashes
			st.indexShares()
			if !reflect.DeepEqual(byFile, st.sharesOfFile) || !reflect.DeepEqual(byID, st.shareHashes) || len(byID) != len(kept) {
				t.Errorf("%s: indexes %v %v, want %d shares: %v %v", when, byFile, byID, len(kept), st.sharesOfFile, st.shareHashes)
			}
			return nil
		})
	}
	check("after the changes", s)
	s = reopenLocalStore(t, s)
	check("after a replay", s)
	s.mu.Lock()
	err := s.compact()
	s.mu.Unlock()
	ctMust(t, "compact", err)
	check("after a compaction", s)
	for _, sh := range kept {
		if list, _ := s.ListShares(ctx, ShareQuery{Owner: sh.Owner, FileID: sh.FileID, Now: ctNow(), Limit: 10}); !slices.ContainsFunc(list, func(l Share) bool { return l.ID == sh.ID }) {
			t.Errorf("share %s is not listed with its file: %+v", sh.ID, list)
		}
	}
}

// TestMongoStoreShareIndexes: MongoDB looks shares up through indexes: by
// token hash (unique) for the links, and by file and owner in list order
// for the owner's list, count and revoke.
func TestMongoStoreShareIndexes(t *testing.T) {
	t.Parallel()
	s := storeOpeners["mongo"](t).(*mongoStore)
	cur, err := s.shares.Indexes().List(t.Context())
	ctMust(t, "list indexes", err)
	var indexes []struct {
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
	}
	ctMust(t, "read indexes", cur.All(t.Context(), &indexes))
	want := map[string]bool{"token_hash:unique": false, "file_id,owner,created_at,_id": false}
	for _, ix := range indexes {
		var names []string
		for _, k := range ix.Key {
			names = append(names, k.Key)
		}
		name := strings.Join(names, ",")
		if ix.Unique {
			name += ":unique"
		}
		if _, ok := want[name]; ok {
			want[name] = true
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("shares has no index %s: %+v", name, indexes)
		}
	}
}

// TestShareInsertTakenBackAfterRequestEnds, on each store: a share create
// whose request ends (its client goes away, or a call's deadline passes
// under load) at any of its store calls either stores the share and
// succeeds, or stores nothing, not even a file document, and fails. Before,
// MongoDB's take-back ran on the ended context and failed too, leaving a
// live share whose create answered 503 (TestShareLimitPerFile/mongodb+s3:
// "4 created, 5 live"). The MongoDB stores run behind the gate, as the
// server's do; the local store decides under one lock.
func TestShareInsertTakenBackAfterRequestEnds(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		countStoreCalls(s)
		owner := ctNewID()
		for at := int64(1); at <= 8; at++ {
			f := ctShareFile(t, s, owner)
			now := ctNow()
			sh := Share{ID: newID(), TokenHash: ctNewID(), Owner: owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			ctx := newAtStoreCall(t.Context(), at, nil)
			err := s.InsertShare(ctx, sh, 5)
			_, found := s.ShareLink(t.Context(), sh.TokenHash, now)
			live, lerr := s.ListShares(t.Context(), ShareQuery{Owner: owner, FileID: f.ID, Now: now, Limit: 10})
			ctMust(t, "ListShares", lerr)
			switch {
			case err == nil && (found != nil || len(live) != 1):
				t.Errorf("request ended at store call %d: the create succeeded, but ShareLink: %v, %d live", at, found, len(live))
			case err != nil && (!errors.Is(found, ErrNotFound) || len(live) != 0):
				t.Errorf("request ended at store call %d: the create failed (%v), but ShareLink: %v, %d live", at, err, found, len(live))
			}
		}
	})
}

// atStoreCall is a request's context that runs do when the store makes
// its at-th call through the gate (dbGate.enter looks the request's ticket
// up in it once per call), or, with no do, ends there.
type atStoreCall struct {
	context.Context
	do        func()
	calls, at int64
	mu        sync.Mutex
}

// countStoreCalls gives a MongoDB store a gate at which each of its calls
// looks its ticket up, so that an atStoreCall sees each call, and tells
// whether it did: the local store makes no calls to see.
func countStoreCalls(s Store) bool {
	m, ok := s.(*mongoStore)
	if ok {
		m.gate = newDBGate(8, 64, 0)
	}
	return ok
}

func newAtStoreCall(parent context.Context, at int64, do func()) *atStoreCall {
	if do == nil {
		ctx, cancel := context.WithCancel(parent)
		return &atStoreCall{Context: ctx, do: cancel, at: at}
	}
	return &atStoreCall{Context: parent, do: do, at: at}
}

func (c *atStoreCall) Value(key any) any {
	if _, ok := key.(dbTicketKey); ok {
		c.mu.Lock()
		c.calls++
		now := c.calls == c.at
		c.mu.Unlock()
		if now {
			c.do()
		}
	}
	return c.Context.Value(key)
}

// reached tells whether the store made its at-th call.
func (c *atStoreCall) reached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls >= c.at
}

// ctShareAddAllOrNone: AddShareFiles puts every file in, after those the
// drop has and in the order given, or none: not when one is at its cap of
// live shares (ErrTooManyShares), nor when the drop would hold more than
// maxDropFiles (ErrDropFull). A file already in stays where it is, once.
func ctShareAddAllOrNone(t *testing.T, s Store) {
	ctx, owner := t.Context(), ctNewID()
	sh, f := ctLimitedDrop(t, s, owner, ctNow(), 10)
	full := ctShareFile(t, s, owner)
	ctShare(t, s, full, time.Hour, 0) // its one live share
	want := fileIDsOf(sh.Files)
	wantFiles := func(when string) {
		t.Helper()
		got, err := s.GetShare(ctx, owner, sh.ID, ctNow())
		ctMust(t, "GetShare", err)
		if ids := fileIDsOf(got.Files); !slices.Equal(ids, want) {
			t.Fatalf("%s the drop holds %d files %v, want %d %v", when, len(ids), ids, len(want), want)
		}
	}
	a, b := ctShareFile(t, s, owner).ID, ctShareFile(t, s, owner).ID
	if err := s.AddShareFiles(ctx, owner, sh.ID, []string{a, full.ID}, 1, ctNow()); !errors.Is(err, ErrTooManyShares) {
		t.Fatalf("adding a file at its cap of links = %v, want ErrTooManyShares", err)
	}
	wantFiles("after an add refused at a file's cap of links")
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, owner, sh.ID, []string{f.ID, a, b}, 1, ctNow()))
	want = append(want, a, b)
	wantFiles("after an add of a file in and two new")
	var fill []string
	for len(want)+len(fill) < maxDropFiles-1 {
		fill = append(fill, ctShareFile(t, s, owner).ID)
	}
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, owner, sh.ID, fill, 0, ctNow()))
	want = append(want, fill...)
	x, y := ctShareFile(t, s, owner).ID, ctShareFile(t, s, owner).ID
	if err := s.AddShareFiles(ctx, owner, sh.ID, []string{x, y}, 0, ctNow()); !errors.Is(err, ErrDropFull) {
		t.Fatalf("adding 2 files to a drop of %d = %v, want ErrDropFull", maxDropFiles-1, err)
	}
	wantFiles("after an add refused over the drop's cap")
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, owner, sh.ID, []string{x}, 0, ctNow()))
	want = append(want, x)
	wantFiles("after an add up to the cap")
}

// fileIDsOf lists the files' IDs, in order.
func fileIDsOf(files []ShareFile) []string {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.FileID
	}
	return ids
}
