package main

// Share links on MongoDB. A download is counted by inserting a document
// whose _id is the share's ID, the file's ID and the download's number
// ("<share>/<file>/3"): the unique _id lets exactly one caller take each
// number, on every instance, and a limited share has only numbers 1..max
// to give for each file. An $inc on the share would be simpler, but
// FerretDB 1.x runs updates as a read then a write, so concurrent
// increments are lost and a conditional filter does not hold (measured: 20
// concurrent UpdateOne calls with downloads < 5 all matched, leaving
// downloads at 2); unique inserts are atomic there too. For the same
// reason a drop's files are documents of their own (mongo_drops.go), not an
// array in the share that concurrent edits would overwrite.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// shareDownload is one counted download of a file of a share: a
// MongoDB-only document (the local store counts under its write lock).
// Downloads counted before drops have the _id "<share>/<n>" and the same
// fields, so they count toward their file as they did.
type shareDownload struct {
	ID        string    `bson:"_id"` // downloadNumberID
	ShareID   string    `bson:"share_id"`
	FileID    string    `bson:"file_id"`
	Member    string    `bson:"member,omitempty"` // the file's time in the drop (shareFile.Member)
	ExpiresAt time.Time `bson:"expires_at"`       // the share's, so a TTL index tidies them too
}

// mongoShare is a share as the shares collection holds it. Drop marks a
// share whose files are its shareFile documents; one stored before drops
// has none and reads as a drop of its FileID.
type mongoShare struct {
	Share `bson:",inline"`
	Drop  bool `bson:"drop,omitempty"`
}

// InsertShare inserts the share and its files, then counts each file's
// live shares and deletes its own again when they are over maxLive.
// FerretDB has no transactions, and a count before the insert would let
// racing inserts all pass; counted after, the last kept insert sees every
// kept one, so no more than maxLive are ever kept. Racing inserts at the
// edge can all see too many and all take theirs back: one that then finds
// room tries again after a random pause, a few times, so a burst still
// fills the room rather than leaving it empty.
func (s *mongoStore) InsertShare(ctx context.Context, sh Share, maxLive int) error {
	sh.withLegacyFiles()
	sh.Downloads = 0 // counted in share_downloads
	return retryRacing(ctx, errShareRace, ErrTooManyShares, func() error { return s.insertShareWithin(ctx, sh, maxLive) })
}

// errShareRace says an insert was over the cap, but after taking it back
// there was room: racing inserts, not a full file.
var errShareRace = errors.New("share inserts raced at the cap")

// insertShareWithin is one try of InsertShare: the share first, so that
// a file document never outlives a share that was not kept, then its
// files, then the count. A share whose insert failed is not taken back:
// its ID may be another's (a migration run again inserts the same shares,
// ErrConflict), and a delete must not rest on a guess.
func (s *mongoStore) insertShareWithin(ctx context.Context, sh Share, maxLive int) error {
	if err := s.insertShare(ctx, sh); err != nil {
		return err
	}
	err := s.insertShareFiles(ctx, &sh, sh.Files)
	if err == nil {
		err = s.withinCap(ctx, &sh, sh.Files, maxLive)
	}
	return s.takeBack(ctx, &sh, sh.Files, maxLive, err, func(ctx context.Context) error { return s.deleteShareDocs(ctx, sh.ID) })
}

// withinCap checks, after they were added to sh, that none of files is in
// more than maxLive live shares: ErrTooManyShares if one is, errShareRace
// if it was over but is no longer (the caller takes its insert back
// either way).
func (s *mongoStore) withinCap(ctx context.Context, sh *Share, files []ShareFile, maxLive int) error {
	if maxLive <= 0 {
		return nil
	}
	for _, f := range files {
		n, err := s.countLiveShares(ctx, sh.Owner, f.FileID, sh.CreatedAt)
		if err != nil {
			return err
		}
		if n > int64(maxLive) {
			return errOverCap
		}
	}
	return nil
}

// errOverCap is withinCap's answer before takeBack sorts it out.
var errOverCap = errors.New("over the share cap")

// takeBack undoes an insert whose files or count failed, or that withinCap
// found over the cap (undo, see undoInsert), and tells a race
// (errShareRace: there is room now) from a full file.
func (s *mongoStore) takeBack(ctx context.Context, sh *Share, files []ShareFile, maxLive int, err error, undo func(context.Context) error) error {
	if err == nil {
		return nil
	}
	if uerr := undoInsert(ctx, undo); uerr != nil {
		return uerr
	}
	if !errors.Is(err, errOverCap) {
		return err
	}
	for _, f := range files {
		if n, err := s.countLiveShares(ctx, sh.Owner, f.FileID, sh.CreatedAt); err != nil || n >= int64(maxLive) {
			return ErrTooManyShares
		}
	}
	return errShareRace
}

// takeBackTimeout bounds undoInsert: a few of the calls' own bounds, each
// of which may be spent waiting at the gate, then on the database.
const takeBackTimeout = 4 * mongoOpTimeout

// undoInsert runs undo, again after a failure, until it succeeds or
// takeBackTimeout passes, and even after ctx ended. A take-back is what
// lets the request answer an error: were it given up with the request
// (its client gone, or a call's deadline passed under load), the share
// would stay, stored and live, while its owner was told it was not made.
func undoInsert(ctx context.Context, undo func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeBackTimeout)
	defer cancel()
	for {
		err := undo(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1+rand.IntN(50)) * time.Millisecond):
		}
	}
}

// insertShare is one InsertOne of a share, marked as a drop; its files
// go in documents of their own (insertShareFiles).
func (s *mongoStore) insertShare(ctx context.Context, sh Share) error {
	sh.Files = nil
	return s.insertOne(ctx, s.shares, mongoShare{Share: sh, Drop: true}, "insert share")
}

// countLiveShares counts the owner's shares unexpired at now that hold the
// file: drops through their file documents, shares from before drops by
// their file_id (two counts, countOf).
func (s *mongoStore) countLiveShares(ctx context.Context, owner, fileID string, now time.Time) (int64, error) {
	n, err := s.countOf(ctx, s.shareFiles, liveSharesFilter(owner, fileID, now), nil)
	if err != nil {
		return 0, mongoErr("count shares", err)
	}
	old, err := s.countOf(ctx, s.shares, append(liveSharesFilter(owner, fileID, now), notDrop), nil)
	return n + old, mongoErr("count shares", err)
}

// notDrop matches the shares stored before drops.
var notDrop = bson.E{Key: "drop", Value: bson.D{{Key: "$ne", Value: true}}}

// liveSharesFilter matches the owner's shares (or share files) of a file
// unexpired at now (the indexes on file_id, owner, created_at serve it).
func liveSharesFilter(owner, fileID string, now time.Time) bson.D {
	return bson.D{{Key: "file_id", Value: fileID}, {Key: "owner", Value: owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
}

// afterCursor matches what sorts after c by (created_at, idField).
func afterCursor(c *Cursor, idField string) bson.E {
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "created_at", Value: bson.D{{Key: "$gt", Value: c.CreatedAt}}}},
		bson.D{{Key: "created_at", Value: c.CreatedAt}, {Key: idField, Value: bson.D{{Key: "$gt", Value: c.ID}}}},
	}}
}

// ListShares finds a page of shares, then their files and downloads.
func (s *mongoStore) ListShares(ctx context.Context, q ShareQuery) ([]Share, error) {
	filter := bson.D{{Key: "owner", Value: q.Owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: q.Now}}}}
	if q.FileID != "" {
		filter = append(liveSharesFilter(q.Owner, q.FileID, q.Now), notDrop)
	}
	if q.After != nil {
		filter = append(filter, afterCursor(q.After, "_id"))
	}
	docs, err := s.findShares(ctx, filter, q.Limit)
	if err != nil {
		return nil, err
	}
	if q.FileID != "" {
		drops, err := s.dropsOfFile(ctx, q)
		if err != nil {
			return nil, err
		}
		docs = append(docs, drops...)
		slices.SortFunc(docs, func(a, b mongoShare) int { return compareShares(a.Share, b.Share) })
		docs = docs[:min(len(docs), q.Limit)]
	}
	return s.withFiles(ctx, docs)
}

// shareTokenIndex finds a share by its link's token. The lookup names it:
// FerretDB 2 (DocumentDB) would also read the expires_at (TTL) index, the
// entries of every unexpired share (TestHotQueriesUseIndexes).
var shareTokenIndex = bson.D{{Key: "token_hash", Value: 1}}

// findShares is one Find of at most limit shares in list order, in one
// batch (onePage): a page of shares, a file's drops, a link's lookup.
func (s *mongoStore) findShares(ctx context.Context, filter bson.D, limit int) ([]mongoShare, error) {
	opts := onePage(limit, bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}})
	if len(filter) > 0 && filter[0].Key == "token_hash" {
		opts.SetHint(shareTokenIndex) // a link's lookup
	}
	docs := []mongoShare{}
	return docs, mongoErr("list shares", s.findAll(ctx, s.shares, filter, opts, &docs))
}

// countEachFileUpTo is the most files a read of one share counts one by
// one, a count command each (fileDownloads); a share of more files, and a
// page of shares, are counted with downloadCounts' one $group. On
// FerretDB 2 a $group costs about 18 ms of database CPU whatever it
// counts, for the PostgreSQL connection FerretDB closes after it (countOf
// says why), and a count command about 0.5 ms: a link's read costs 1.9 ms
// with one file, 5.1 ms with 8 and 9.2 ms with 16, against 17-19 ms with
// the $group (TestLinkCountCost; docs/scale.md, "A link's downloads,
// counted"). Each count is a round trip, where the $group is one: on
// MongoDB, which serves a $group without that cost, more files would only
// add round trips. So the bound is where the counts still cost under a
// third of the $group on FerretDB 2: 8 files. A link is mostly one file; a
// drop holds up to maxDropFiles.
const countEachFileUpTo = 8

// fileDownloads counts the downloads of each file of each of the shares,
// by share and the file's time in the drop (countKey): for one share of
// at most countEachFileUpTo files (a link's read, for its page or a
// counted download), one count command per file; else one $group for them
// all (a page of several shares, or a larger drop).
func (s *mongoStore) fileDownloads(ctx context.Context, shares []Share) (map[string]map[string]int64, error) {
	if len(shares) != 1 || len(shares[0].Files) > countEachFileUpTo {
		ids := make([]string, len(shares))
		for i, sh := range shares {
			ids[i] = sh.ID
		}
		return s.downloadCounts(ctx, ids)
	}
	counts, err := s.countEachFile(ctx, shares[0])
	return map[string]map[string]int64{shares[0].ID: counts}, err
}

// countEachFile counts the downloads of each of the share's files, by
// countKey, with a count command each: exact per file, whatever happened
// to the drop's other files.
func (s *mongoStore) countEachFile(ctx context.Context, sh Share) (map[string]int64, error) {
	counts := make(map[string]int64, len(sh.Files))
	for _, f := range sh.Files {
		filter := bson.D{{Key: "share_id", Value: sh.ID}, {Key: "file_id", Value: f.FileID}, memberFilter(f.Member)}
		n, err := s.countOf(ctx, s.shareDownloads, filter, nil)
		if err != nil {
			return nil, mongoErr("count share downloads", err)
		}
		counts[countKey(f.FileID, f.Member)] = n
	}
	return counts, nil
}

// countKey names a file's time in a drop among a share's counts: a
// number left from an earlier time (one a removal could not delete, or
// a refused download's not yet given back) never counts for a later one.
func countKey(fileID, member string) string {
	if member == "" {
		return fileID
	}
	return fileID + "/" + member
}

// downloadCounts counts the downloads of each file of each of the shares,
// by countKey.
func (s *mongoStore) downloadCounts(ctx context.Context, shareIDs []string) (map[string]map[string]int64, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: shareIDs}}}}}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "s", Value: "$share_id"}, {Key: "f", Value: "$file_id"}, {Key: "m", Value: "$member"}}},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	cur, err := s.shareDownloads.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, mongoErr("count share downloads", err)
	}
	var rows []struct {
		Key struct {
			ShareID string `bson:"s"`
			FileID  string `bson:"f"`
			Member  string `bson:"m"` // none: absent, or null
		} `bson:"_id"`
		N int64 `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, mongoErr("count share downloads", err)
	}
	counts := make(map[string]map[string]int64, len(shareIDs))
	for _, r := range rows {
		if counts[r.Key.ShareID] == nil {
			counts[r.Key.ShareID] = map[string]int64{}
		}
		counts[r.Key.ShareID][countKey(r.Key.FileID, r.Key.Member)] += r.N
	}
	return counts, nil
}

// DeleteShare removes the share, then its files and counted downloads.
func (s *mongoStore) DeleteShare(ctx context.Context, owner, id string) error {
	if err := s.deleteOne(ctx, s.shares, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, "delete share"); err != nil {
		return err
	}
	return s.deleteShareDocs(ctx, id)
}

// deleteShareDocs removes the share with that ID, its file documents and
// its counted downloads.
func (s *mongoStore) deleteShareDocs(ctx context.Context, id string) error {
	if err := s.deleteMany(ctx, s.shares, bson.D{{Key: "_id", Value: id}}); err != nil {
		return mongoErr("delete share", err)
	}
	if err := s.deleteMany(ctx, s.shareFiles, bson.D{{Key: "share_id", Value: id}}); err != nil {
		return mongoErr("delete share files", err)
	}
	return mongoErr("delete share downloads", s.deleteMany(ctx, s.shareDownloads, bson.D{{Key: "share_id", Value: id}}))
}

// deleteFileShares takes the owner's file out of every share, as part of
// deleting the file: the shares from before drops that name it go, and so
// do its share file documents and its counted downloads.
func (s *mongoStore) deleteFileShares(ctx context.Context, owner, fileID string) error {
	ofFile := bson.D{{Key: "file_id", Value: fileID}, {Key: "owner", Value: owner}}
	if err := s.deleteMany(ctx, s.shares, append(ofFile, notDrop)); err != nil {
		return mongoErr("delete file's shares", err)
	}
	if err := s.deleteMany(ctx, s.shareFiles, ofFile); err != nil {
		return mongoErr("take file out of drops", err)
	}
	return mongoErr("delete file's share downloads", s.deleteMany(ctx, s.shareDownloads, bson.D{{Key: "file_id", Value: fileID}}))
}

// ShareLink finds the unexpired share with its files and their counts.
func (s *mongoStore) ShareLink(ctx context.Context, hash string, now time.Time) (Share, error) {
	sh, err := s.findShare(ctx, bson.D{{Key: "token_hash", Value: hash}}, now)
	if err != nil {
		return Share{}, err
	}
	if sh.usedUp() {
		return Share{}, ErrNotFound
	}
	return sh, nil
}

// findShare returns the unexpired share filter matches, with its files
// and their counts.
func (s *mongoStore) findShare(ctx context.Context, filter bson.D, now time.Time) (Share, error) {
	docs, err := s.findShares(ctx, append(filter, bson.E{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}), 1)
	if err != nil {
		return Share{}, err
	}
	if len(docs) == 0 {
		return Share{}, ErrNotFound
	}
	shares, err := s.withFiles(ctx, docs)
	if err != nil {
		return Share{}, err
	}
	return shares[0], nil
}

// CountShareDownload takes the lowest free download number of the file,
// starting after the count in sh (the link's read, which the request made
// moments before: no second read of the share and its counts), and trying
// the next number whenever another caller took it first.
//
// Numbers are taken in order, each after all below it (but for the
// exceptions below), so a file's taken numbers run from its first to its
// count, and a count read earlier is that count or lower: starting from it
// never skips a free number, and a stale count costs only retries
// (ctShareMaxDownloadsRace starts 20 callers from 0). The limit holds
// because a number's document is unique: each number up to MaxDownloads
// counts once for one time the file is in the drop (its member, which the
// number's _id carries). Expiry is checked here against now: a share's
// expiry and limit never change once stored. A share revoked, or a file
// taken out of it (or out and back in) or deleted, while its number was
// being taken is reported missing: stillShared, after the number is taken,
// reads the share again (the revocation wins,
// ctShareRevokedWhileCounting), and the number is given back
// (giveBackNumber).
//
// Exceptions to "only ever low" leave free numbers below taken ones: a
// number given back, and a file taken out of a drop and put back, which
// starts again from no downloads, so that a count read before that is
// high. So when every number from the read's count to the limit is taken,
// the free numbers are looked up and the lowest taken (takeGap): the file
// still gives its limit's worth of downloads
// (ctShareStaleCountAfterPutBack). That costs one more read, of up to the
// limit's worth of ids, only when a file looks used up.
func (s *mongoStore) CountShareDownload(ctx context.Context, sh Share, fileID string, now time.Time) (Share, error) {
	sh.Files = slices.Clone(sh.Files) // the caller's stays as read
	f := sh.file(fileID)
	if f == nil || !sh.ExpiresAt.After(now) {
		return Share{}, ErrNotFound
	}
	n, err := s.takeNumberFrom(ctx, &sh, *f, f.Downloads+1)
	if errors.Is(err, ErrNotFound) && sh.MaxDownloads != nil {
		n, err = s.takeGap(ctx, &sh, *f)
	}
	if err != nil {
		return Share{}, err
	}
	if err := s.stillShared(ctx, &sh, *f); err != nil {
		s.giveBackNumber(ctx, &sh, *f, n)
		return Share{}, err
	}
	f.Downloads = max(n, f.Downloads+1) // a number taken in a gap is below the count
	return sh, nil
}

// takeNumberFrom takes the lowest free download number of the file from n
// up to the share's limit; ErrNotFound when each one is taken.
func (s *mongoStore) takeNumberFrom(ctx context.Context, sh *Share, f ShareFile, n int64) (int64, error) {
	for ; sh.MaxDownloads == nil || n <= *sh.MaxDownloads; n++ {
		taken, err := s.takeDownloadNumber(ctx, sh, f, n)
		if err != nil || taken {
			return n, err
		}
	}
	return 0, ErrNotFound
}

// takeGap takes the lowest number up to the limited share's limit that no
// download of the file's time in the drop has (a gap, see
// CountShareDownload); ErrNotFound when there is none: the file is used
// up.
func (s *mongoStore) takeGap(ctx context.Context, sh *Share, f ShareFile) (int64, error) {
	var docs []shareDownload
	filter := bson.D{{Key: "share_id", Value: sh.ID}, {Key: "file_id", Value: f.FileID}, memberFilter(f.Member)}
	if err := s.findAll(ctx, s.shareDownloads, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}), &docs); err != nil {
		return 0, mongoErr("read share downloads", err)
	}
	taken := make(map[int64]bool, len(docs))
	for _, d := range docs { // the number ends the _id, whichever its form (downloadNumberID)
		if n, err := strconv.ParseInt(d.ID[strings.LastIndexByte(d.ID, '/')+1:], 10, 64); err == nil {
			taken[n] = true
		}
	}
	for n := int64(1); n <= *sh.MaxDownloads; n++ {
		if taken[n] {
			continue
		}
		ok, err := s.takeDownloadNumber(ctx, sh, f, n)
		if err != nil || ok {
			return n, err
		}
	}
	return 0, ErrNotFound
}

// stillShared checks, once a number is taken, that the share is still
// there with the file in it, in the same time in the drop (member) as the
// download read, and the file present (not held deleted): the share's
// document by _id, then, for a drop, the file's document in it, then the
// file. Three reads of one document each, and no counts: the download's
// number is already taken, and its count is that number.
func (s *mongoStore) stillShared(ctx context.Context, sh *Share, f ShareFile) error {
	var doc mongoShare
	if err := s.decodeOne(ctx, s.shares, bson.D{{Key: "_id", Value: sh.ID}}, "check share", &doc); err != nil {
		return err
	}
	switch {
	case doc.Drop:
		if err := s.stillInDrop(ctx, sh.ID, f); err != nil {
			return err
		}
	case doc.FileID != f.FileID: // a share from before drops names its one file
		return ErrNotFound
	}
	present, err := s.presentFiles(ctx, sh.Owner, []string{f.FileID})
	if err == nil && !present[f.FileID] {
		err = ErrNotFound
	}
	return err
}

// stillInDrop checks that the file is in the drop in the time f was read
// in: with f's member (a file taken out and put back has a new one, and
// the numbers of its earlier time were deleted), and, for a file without
// one, not marked taken out (markRemoved: a conversion may have put it
// back for a moment). One find by _id either way.
func (s *mongoStore) stillInDrop(ctx context.Context, shareID string, f ShareFile) error {
	ids := []string{shareFileID(shareID, f.FileID)}
	if f.Member == "" {
		ids = append(ids, removalMarkID(shareID, f.FileID))
	}
	var docs []shareFile
	if err := s.findAll(ctx, s.shareFiles, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, nil, &docs); err != nil {
		return mongoErr("check share file", err)
	}
	if len(docs) != 1 || docs[0].ID != ids[0] || docs[0].Member != f.Member {
		return ErrNotFound
	}
	return nil
}

// giveBackNumber deletes download number n of the file, taken for a
// download that is then refused, so that it does not count: a file taken
// out of a drop loses its downloads (RemoveShareFile), but a number taken
// just after would stay. Deleted, a number below the count is a gap, which
// takeGap fills. Deleting by _id alone is safe even where a delete is a
// read and then a delete of what was read (FerretDB 1.x): only a download
// of this file's same time in the drop can take that _id again once it is
// deleted, and only when the file was taken out meanwhile, which refuses
// that download too (ctShareGiveBackAfterPutBack): a member is never live
// again once its time ends (addShareFile draws one per try), and a file
// without one is marked when taken out (markRemoved). One try, even after
// the request ended: should it fail, the file allows one download fewer,
// never more.
func (s *mongoStore) giveBackNumber(ctx context.Context, sh *Share, f ShareFile, n int64) {
	id := downloadNumberID(sh.ID, f, n)
	if err := s.deleteMany(context.WithoutCancel(ctx), s.shareDownloads, bson.D{{Key: "_id", Value: id}}); err != nil {
		s.log.Warn("share download refused, its number not given back", "share", sh.ID, "file", f.FileID, "number", n, "err", err)
	}
}

// takeDownloadNumber records download number n of the share's file; false
// when another caller already took that number. Each try is one call,
// bounded on its own like every MongoDB call.
func (s *mongoStore) takeDownloadNumber(ctx context.Context, sh *Share, f ShareFile, n int64) (bool, error) {
	d := shareDownload{ID: downloadNumberID(sh.ID, f, n), ShareID: sh.ID, FileID: f.FileID, Member: f.Member, ExpiresAt: sh.ExpiresAt}
	return s.insertUnique(ctx, s.shareDownloads, d, "count share download")
}

// downloadNumberID is the _id of download number n of a file of a share:
// "<share>/<file>/<n>", with the member before the number for a file put
// in the drop after the share was made ("<share>/<n>" from before drops).
func downloadNumberID(shareID string, f ShareFile, n int64) string {
	if f.Member == "" {
		return fmt.Sprintf("%s/%s/%d", shareID, f.FileID, n)
	}
	return fmt.Sprintf("%s/%s/%s/%d", shareID, f.FileID, f.Member, n)
}

// compareShareFiles orders a drop's files as they were added.
func compareShareFiles(a, b shareFile) int {
	return cmp.Or(a.AddedAt.Compare(b.AddedAt), cmp.Compare(a.ID, b.ID))
}
