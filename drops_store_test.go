package main

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestLocalStoreDropOfOneFromBeforeDrops: a share record written before
// drops (one file, one count) reads as a drop of that file with its
// count, and can be edited like any drop.
func TestLocalStoreDropOfOneFromBeforeDrops(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	f := ctShareFile(t, s, ctNewID())
	g := ctShareFile(t, s, f.Owner)
	max, now := int64(3), ctNow()
	old := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, MaxDownloads: &max, Downloads: 2, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ctMust(t, "write the old record", s.change(t.Context(), func(*localState) (*localRecord, error) {
		return &localRecord{Op: opPutShare, Share: &old}, nil
	}))
	s = reopenLocalStore(t, s)
	testDropOfOneFromBeforeDrops(t, s, old, f, g)
}

// TestMongoStoreDropOfOneFromBeforeDrops: the same on MongoDB, with a
// share document without the drop mark and a download numbered the old
// way ("<share>/1").
func TestMongoStoreDropOfOneFromBeforeDrops(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	f := ctShareFile(t, s, ctNewID())
	g := ctShareFile(t, s, f.Owner)
	max, now := int64(3), ctNow()
	old := insertShareFromBeforeDrops(t, s, f, max, now)
	for n := range 2 {
		d := shareDownload{ID: old.ID + "/" + string(rune('1'+n)), ShareID: old.ID, FileID: f.ID, ExpiresAt: old.ExpiresAt}
		if _, err := s.shareDownloads.InsertOne(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	testDropOfOneFromBeforeDrops(t, s, old, f, g)
}

// insertShareFromBeforeDrops inserts a share of f allowing max downloads,
// made at now, as MongoDB stored shares before drops: its one file named
// in file_id, without the drop mark.
func insertShareFromBeforeDrops(t *testing.T, s *mongoStore, f *File, max int64, now time.Time) Share {
	t.Helper()
	old := Share{ID: newID(), TokenHash: ctNewID(), Owner: f.Owner, FileID: f.ID, MaxDownloads: &max, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := s.shares.InsertOne(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	return old
}

// testDropOfOneFromBeforeDrops checks an old share of f with 2 of 3
// downloads made: it reads as a drop of f, counts its last download,
// takes g and lets f go.
func testDropOfOneFromBeforeDrops(t *testing.T, s Store, old Share, f, g *File) {
	ctx, now := t.Context(), ctNow()
	got, err := s.ShareLink(ctx, old.TokenHash, now)
	ctMust(t, "ShareLink", err)
	if !slices.Equal(withoutMembers(got.Files), []ShareFile{{FileID: f.ID, Downloads: 2}}) {
		t.Fatalf("old share reads as %+v, want a drop of its file with 2 downloads", got.Files)
	}
	_, err = s.CountShareDownload(ctx, got, f.ID, now)
	ctMust(t, "CountShareDownload", err)
	if _, err := s.CountShareDownload(ctx, got, f.ID, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("a fourth download of a share allowing 3 = %v, want ErrNotFound", err)
	}
	ctMust(t, "AddShareFiles", s.AddShareFiles(ctx, f.Owner, old.ID, []string{g.ID}, 0, now))
	ctMust(t, "AddShareFiles again", s.AddShareFiles(ctx, f.Owner, old.ID, []string{f.ID, g.ID}, 0, now)) // the old record's file, and the one just added
	ctMust(t, "RemoveShareFile", s.RemoveShareFile(ctx, f.Owner, old.ID, f.ID, now))
	got, err = s.GetShare(ctx, f.Owner, old.ID, now)
	ctMust(t, "GetShare", err)
	if !slices.Equal(withoutMembers(got.Files), []ShareFile{{FileID: g.ID}}) {
		t.Errorf("after the edits the share holds %+v, want only %s", got.Files, g.ID)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: g.ID, Now: now, Limit: 10}); len(list) != 1 || list[0].ID != old.ID {
		t.Errorf("the added file's shares: %+v", list)
	}
	if list, _ := s.ListShares(ctx, ShareQuery{Owner: f.Owner, FileID: f.ID, Now: now, Limit: 10}); len(list) != 0 {
		t.Errorf("the removed file's shares: %+v", list)
	}
}

// withoutMembers is the files with MongoDB's member ids (which time each
// was put in the drop) left out: the files and counts a client sees.
func withoutMembers(files []ShareFile) []ShareFile {
	out := slices.Clone(files)
	for i := range out {
		out[i].Member = ""
	}
	return out
}
