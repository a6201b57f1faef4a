package main

import "testing"

// TestCountsAreByMember: a download number left from a file's earlier
// time in a drop (a removal whose delete of them failed) counts for none
// of its later times: the file put back reads no downloads, on a link's
// read (a count per file) and on the owner's page of shares (the $group),
// and gives its whole limit.
func TestCountsAreByMember(t *testing.T) {
	t.Parallel()
	s := openMongoStoreAt(t, testDatabaseName(t))
	owner, max := ctNewID(), int64(2)
	sh, f := ctLimitedDrop(t, s, owner, ctNow(), max)
	ctLimitedDrop(t, s, owner, ctNow(), max) // a second share: the page counts with the $group
	ctMust(t, "RemoveShareFile", s.RemoveShareFile(t.Context(), owner, sh.ID, f.ID, ctNow()))
	for n := range max { // what a failed delete would have left
		left := shareDownload{ID: downloadNumberID(sh.ID, ShareFile{FileID: f.ID}, n+1), ShareID: sh.ID, FileID: f.ID, ExpiresAt: sh.ExpiresAt}
		ctMust(t, "insert a leftover number", s.insertOne(t.Context(), s.shareDownloads, left, "insert leftover"))
	}
	ctMust(t, "AddShareFiles", s.AddShareFiles(t.Context(), owner, sh.ID, []string{f.ID}, 0, ctNow()))

	got, err := s.ShareLink(t.Context(), sh.TokenHash, ctNow())
	ctMust(t, "ShareLink", err)
	if file := got.file(f.ID); file == nil || file.Downloads != 0 {
		t.Errorf("the link's read shows the file put back as %+v, want no downloads", file)
	}
	ctCheckListedDownloads(t, s, sh, f.ID, 0)
	if n := ctDownloads(t, s, sh, f.ID, 2*max); n != max {
		t.Errorf("the file put back was downloaded %d times, want its limit of %d", n, max)
	}
}
