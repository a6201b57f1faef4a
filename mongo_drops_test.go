package main

import (
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestAddShareFileRetryTakesNewMember: an add taken back for the file's
// cap and tried again puts the file in with a new member. A download that
// read the first try's member, and whose number a removal then deleted,
// is refused once the retry is in, not served with no number held; the
// file then gives exactly its limit (review 7's run A: 3 of 2 when the
// retry reused the member).
func TestAddShareFileRetryTakesNewMember(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	countStoreCalls(s)
	owner, max := ctNewID(), int64(2)
	sh, f := ctLimitedDrop(t, s, owner, ctNow(), max)
	ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), owner, sh.ID, f.ID, ctNow()))

	var stale Share // a download's read of the link while the first try is in
	var others []Share
	afterFirstInsert := func() { // the add's third store call: its cap's count
		for range 2 { // two more shares of the file: the add is over its cap of 1
			other := Share{ID: newID(), TokenHash: ctNewID(), Owner: owner, FileID: f.ID, Files: []ShareFile{{FileID: f.ID}},
				CreatedAt: ctNow(), ExpiresAt: ctNow().Add(time.Hour)}
			ctMust(t, "InsertShare", s.InsertShare(t.Context(), other, 0))
			others = append(others, other)
		}
		var err error
		stale, err = s.ShareLink(t.Context(), sh.TokenHash, ctNow())
		ctMust(t, "ShareLink", err)
		if stale.file(f.ID) == nil {
			t.Fatal("at the add's third store call the file is not in the drop: the call numbers changed")
		}
		_, err = s.takeNumberFrom(t.Context(), &stale, *stale.file(f.ID), 1)
		ctMust(t, "take a number", err)
		ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), owner, sh.ID, f.ID, ctNow()))
	}
	atRecount := func() { // the take-back's count: room again, so the add tries once more
		for _, o := range others {
			ctMust(t, "DeleteShare", s.DeleteShare(t.Context(), owner, o.ID))
		}
	}
	ctx := newAtStoreCall(newAtStoreCall(t.Context(), 6, atRecount), 3, afterFirstInsert)
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, owner, sh.ID, []string{f.ID}, 1, ctNow()))
	if len(others) == 0 {
		t.Fatal("the add made fewer than 3 store calls: the call numbers changed")
	}

	downloads := ctDownloads(t, s, sh, f.ID, 2*max)
	if err := s.stillShared(t.Context(), &stale, *stale.file(f.ID)); err == nil {
		downloads++ // CountShareDownload would have served the stale download
		t.Error("a download that read the add's first try passes stillShared after the retry")
	}
	if downloads != max {
		t.Errorf("the file added again was downloaded %d times, want its limit of %d", downloads, max)
	}
}

// TestConversionAfterRemovalTakesItsFileBack: two first edits of a link
// made before drops, the slower one reading the link before the other
// converted it and took its one file out. The slower one's conversion
// puts the file back with no member; it must take it back, and a download
// whose number went with the removal must not count on it meanwhile
// (review 7: the file stayed back, and such a download made 3 of 2).
func TestConversionAfterRemovalTakesItsFileBack(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	countStoreCalls(s)
	putBack := false
	for at := int64(1); at <= 4; at++ {
		f := ctShareFile(t, s, ctNewID())
		g := ctShareFile(t, s, f.Owner)
		max := int64(2)
		old := insertShareFromBeforeDrops(t, s, f, max, ctNow())
		var stale Share // a download's read of the link before the removal
		convertAndRemove := func() {
			var err error
			stale, err = s.ShareLink(t.Context(), old.TokenHash, ctNow())
			ctMust(t, "ShareLink", err)
			_, err = s.takeNumberFrom(t.Context(), &stale, *stale.file(f.ID), 1) // deleted by the removal
			ctMust(t, "take a number", err)
			ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), f.Owner, old.ID, f.ID, ctNow()))
		}
		whileBack := func() {
			if s.decodeOne(t.Context(), s.shareFiles, bson.D{{Key: "_id", Value: shareFileID(old.ID, f.ID)}}, "", &struct{}{}) == nil {
				putBack = true
			}
			if err := s.stillShared(t.Context(), &stale, *stale.file(f.ID)); err == nil {
				t.Errorf("at the edit's call %d: a download whose number went with the removal counts on the file put back", at+1)
			}
		}
		ctx := newAtStoreCall(newAtStoreCall(t.Context(), at+1, whileBack), at, convertAndRemove)
		ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, f.Owner, old.ID, []string{g.ID}, 0, ctNow()))

		got, err := s.GetShare(t.Context(), f.Owner, old.ID, ctNow())
		ctMust(t, "GetShare", err)
		if !slices.Equal(withoutMembers(got.Files), []ShareFile{{FileID: g.ID}}) {
			t.Errorf("with the removal at the edit's call %d the share holds %+v, want only the added file", at, got.Files)
		}
		if n := ctDownloads(t, s, old, f.ID, 2*max); n != 0 {
			t.Errorf("with the removal at the edit's call %d the removed file was downloaded %d times", at, n)
		}
	}
	if !putBack {
		t.Fatal("no conversion put the file back: the edit's call numbers changed")
	}
}

// TestAddAgainDuringConversionTakeBack: the owner adds back a file while
// a slow first edit of a link made before drops has just put it back
// (its conversion) and is about to take it out again, finding the
// removal's mark. The add must end with the file in the drop (review 11:
// it answered that the file was there already, and the take-back then
// left it out).
func TestAddAgainDuringConversionTakeBack(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	countStoreCalls(s)
	f := ctShareFile(t, s, ctNewID())
	g := ctShareFile(t, s, f.Owner)
	max := int64(2)
	old := insertShareFromBeforeDrops(t, s, f, max, ctNow())
	convertAndRemove := func() {
		ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), f.Owner, old.ID, f.ID, ctNow()))
	}
	addAgain := func() {
		ctMust(t, "AddShareFiles again", s.AddShareFiles(t.Context(), f.Owner, old.ID, []string{f.ID}, 0, ctNow()))
	}
	// The slow edit's calls: 1 its read of the link, 2 its conversion's
	// insert, 3 its read of the removal's mark.
	slow := newAtStoreCall(newAtStoreCall(t.Context(), 3, addAgain), 2, convertAndRemove)
	ctMust(t, "the slow edit", s.AddShareFiles(slow, f.Owner, old.ID, []string{g.ID}, 0, ctNow()))
	got, err := s.GetShare(t.Context(), f.Owner, old.ID, ctNow())
	ctMust(t, "GetShare", err)
	if !slices.ContainsFunc(got.Files, func(sf ShareFile) bool { return sf.FileID == f.ID && sf.Member != "" }) {
		t.Errorf("the file added again is not in the drop with a member of its own: %+v", got.Files)
	}
	if n := ctDownloads(t, s, old, f.ID, 2*max); n != max {
		t.Errorf("the file added again was downloaded %d times, want its limit of %d", n, max)
	}
}
