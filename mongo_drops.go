package main

// A drop's files on MongoDB: one document per file of a share, whose _id
// is the share's ID and the file's ("<share>/<file>"), so that adding a
// file twice, even from two instances at once, keeps one, and adding and
// removing files never rewrites a document another call may be rewriting
// too (FerretDB runs updates as a read then a write: mongo_shares.go).
// The documents carry the share's owner, creation and expiry, so that a
// file's shares are listed, counted and tidied from them alone.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// shareFile is one file of a drop.
type shareFile struct {
	ID        string    `bson:"_id"` // shareFileID
	ShareID   string    `bson:"share_id"`
	FileID    string    `bson:"file_id"`
	Owner     string    `bson:"owner"`
	AddedAt   time.Time `bson:"added_at"`   // the drop lists its files in this order
	CreatedAt time.Time `bson:"created_at"` // the share's, to page a file's shares
	ExpiresAt time.Time `bson:"expires_at"` // the share's, so a TTL index tidies them too
	// Member tells apart the times a file was put in the drop: none for
	// the files the share was made with (and every file put in before
	// members), a new id each time AddShareFiles puts one in. The file's
	// download numbers carry it (downloadNumberID), so numbers of a file
	// taken out and put back are never those of an earlier time: taking
	// it out deletes only its time's numbers, and a download counted from
	// an earlier time is refused (stillShared).
	Member string `bson:"member,omitempty"`
}

// memberFilter selects the documents of one time a file was put in a
// drop: by its member id, or, for none, those without one.
func memberFilter(member string) bson.E {
	if member == "" {
		return bson.E{Key: "member", Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: "member", Value: member}
}

// shareFileID is the _id of the document of a file of a share.
func shareFileID(shareID, fileID string) string { return shareID + "/" + fileID }

// removalMarkID is the _id of the mark that a file without a member was
// taken out of the share (markRemoved). File IDs hold no "/", so it is
// never a shareFileID.
func removalMarkID(shareID, fileID string) string { return shareFileID(shareID, fileID) + "/removed" }

// newShareFile is the document of the file in the share, added at added,
// with no member.
func newShareFile(sh *Share, fileID string, added time.Time) shareFile {
	return shareFile{
		ID: shareFileID(sh.ID, fileID), ShareID: sh.ID, FileID: fileID, Owner: sh.Owner,
		AddedAt: added.Truncate(time.Millisecond), CreatedAt: sh.CreatedAt, ExpiresAt: sh.ExpiresAt,
	}
}

// insertShareFiles adds files to the share, in order; one already there
// stays as it is.
func (s *mongoStore) insertShareFiles(ctx context.Context, sh *Share, files []ShareFile) error {
	added := time.Now().UTC()
	for i, f := range files {
		doc := newShareFile(sh, f.FileID, added.Add(time.Duration(i)*time.Millisecond))
		if err := s.insertShareFile(ctx, doc); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

// insertShareFile is one InsertOne of a share file (ErrConflict if there).
func (s *mongoStore) insertShareFile(ctx context.Context, doc shareFile) error {
	return s.insertOne(ctx, s.shareFiles, doc, "add file to share")
}

// dropsOfFile returns a page of the owner's drops that hold q.FileID, in
// list order, found through their file documents.
func (s *mongoStore) dropsOfFile(ctx context.Context, q ShareQuery) ([]mongoShare, error) {
	filter := liveSharesFilter(q.Owner, q.FileID, q.Now)
	if q.After != nil {
		filter = append(filter, afterCursor(q.After, "share_id"))
	}
	opts := onePage(q.Limit, bson.D{{Key: "created_at", Value: 1}, {Key: "share_id", Value: 1}})
	var docs []shareFile
	if err := s.findAll(ctx, s.shareFiles, filter, opts, &docs); err != nil || len(docs) == 0 {
		return nil, mongoErr("list a file's drops", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ShareID
	}
	return s.findShares(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "owner", Value: q.Owner}}, q.Limit)
}

// withFiles returns the shares with their files (those still there) and
// each file's downloads: the drops' file documents and the files, one
// query each whatever their number, then the counts (fileDownloads: one
// $group, or for a link of few files a count command per file).
func (s *mongoStore) withFiles(ctx context.Context, docs []mongoShare) ([]Share, error) {
	shares := make([]Share, len(docs))
	var drops []string
	for i, d := range docs {
		shares[i] = d.Share
		shares[i].Files = nil
		if d.Drop {
			drops = append(drops, d.ID)
		} else {
			shares[i].Files = []ShareFile{{FileID: d.FileID}}
		}
	}
	if len(docs) == 0 {
		return shares, nil
	}
	members, err := s.shareFilesOf(ctx, drops)
	if err != nil {
		return nil, err
	}
	var fileIDs []string
	for i := range shares {
		for _, m := range members[shares[i].ID] {
			shares[i].Files = append(shares[i].Files, ShareFile{FileID: m.FileID, Member: m.Member})
		}
		for _, f := range shares[i].Files {
			fileIDs = append(fileIDs, f.FileID)
		}
	}
	present, err := s.presentFiles(ctx, docs[0].Owner, fileIDs)
	if err != nil {
		return nil, err
	}
	for i := range shares {
		shares[i].Files = slices.DeleteFunc(shares[i].Files, func(f ShareFile) bool { return !present[f.FileID] })
	}
	counts, err := s.fileDownloads(ctx, shares)
	if err != nil {
		return nil, err
	}
	for i := range shares {
		sh := &shares[i]
		for j := range sh.Files {
			sh.Files[j].Downloads = counts[sh.ID][countKey(sh.Files[j].FileID, sh.Files[j].Member)]
		}
	}
	return shares, nil
}

// shareFilesOf returns the file documents of each of the drops, in the
// order their files were added.
func (s *mongoStore) shareFilesOf(ctx context.Context, shareIDs []string) (map[string][]shareFile, error) {
	if len(shareIDs) == 0 {
		return nil, nil
	}
	var docs []shareFile
	if err := s.findAll(ctx, s.shareFiles, bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: shareIDs}}}}, nil, &docs); err != nil {
		return nil, mongoErr("read drop files", err)
	}
	slices.SortFunc(docs, compareShareFiles)
	out := map[string][]shareFile{}
	for _, d := range docs {
		out[d.ShareID] = append(out[d.ShareID], d)
	}
	return out, nil
}

// presentFiles tells which of the owner's files are there (and not held
// deleted).
func (s *mongoStore) presentFiles(ctx context.Context, owner string, ids []string) (map[string]bool, error) {
	present := map[string]bool{}
	if len(ids) == 0 {
		return present, nil
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, {Key: "owner", Value: owner}, {Key: "status", Value: bson.D{{Key: "$ne", Value: statusDeleted}}}}
	var rows []struct {
		ID string `bson:"_id"`
	}
	if err := s.findAll(ctx, s.files, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}), &rows); err != nil {
		return nil, mongoErr("read shared files", err)
	}
	for _, r := range rows {
		present[r.ID] = true
	}
	return present, nil
}

// GetShare finds the owner's unexpired share by ID.
func (s *mongoStore) GetShare(ctx context.Context, owner, id string, now time.Time) (Share, error) {
	return s.findShare(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, now)
}

// AddShareFiles puts each file in (addShareFile), then reads the drop:
// if adds racing this one took it past maxDropFiles, or a file was
// refused, it takes back every file it put in (takeBackPut) and says so.
// Unlike the local store it cannot check the cap as it writes: a racing
// add that named a file this one put in found it there, and may have
// answered that it is in before this one takes it back (docs/drops.md).
func (s *mongoStore) AddShareFiles(ctx context.Context, owner, shareID string, fileIDs []string, maxLive int, now time.Time) error {
	sh, err := s.editableDrop(ctx, owner, shareID, now)
	if err != nil {
		return err
	}
	var put []shareFile
	for i, fileID := range fileIDs {
		// A millisecond apart, as insertShareFiles does: the drop lists
		// its files in the order they were added.
		doc, added, err := s.addShareFile(ctx, &sh, fileID, maxLive, now.Add(time.Duration(i)*time.Millisecond))
		if added {
			put = append(put, doc)
		}
		if err != nil {
			return cmp.Or(s.takeBackPut(ctx, put), err)
		}
	}
	if len(put) == 0 {
		return nil
	}
	if err := s.withinDropCap(ctx, owner, shareID, now); err != nil {
		return cmp.Or(s.takeBackPut(ctx, put), err)
	}
	return nil
}

// addShareFile inserts the file's document, then checks the file's cap and
// that the share was not revoked meanwhile, taking the document back if
// either fails (so no document outlives its share). It returns the
// document and whether this call put it in: false for a file already in
// the drop, which another call put there.
func (s *mongoStore) addShareFile(ctx context.Context, sh *Share, fileID string, maxLive int, added time.Time) (shareFile, bool, error) {
	doc := newShareFile(sh, fileID, added)
	files := []ShareFile{{FileID: fileID}}
	put := false
	err := retryRacing(ctx, errShareRace, ErrTooManyShares, func() error {
		// A new member each try: a try taken back may have been read by a
		// download and then removed, and its member must never be live
		// again (TestAddShareFileRetryTakesNewMember).
		doc.Member = newID()
		put = false
		err := s.insertShareFile(ctx, doc)
		if errors.Is(err, ErrConflict) {
			var out bool
			if out, err = s.takeOutPutBack(ctx, doc); err != nil || !out {
				return err // already in the drop
			}
			if err = s.insertShareFile(ctx, doc); errors.Is(err, ErrConflict) {
				return nil // added by another call meanwhile
			}
		}
		if err != nil {
			return err
		}
		err = s.withinCap(ctx, sh, files, maxLive)
		if err == nil {
			err = s.decodeOne(ctx, s.shares, bson.D{{Key: "_id", Value: sh.ID}}, "add file to share", &struct{}{}) // not revoked meanwhile
		}
		put = err == nil
		return s.takeBack(ctx, sh, files, maxLive, err, func(ctx context.Context) error {
			return s.deleteShareFileOf(ctx, doc)
		})
	})
	return doc, put && err == nil, err
}

// withinDropCap reads the drop as it now is: ErrDropFull if it holds more
// than maxDropFiles files.
func (s *mongoStore) withinDropCap(ctx context.Context, owner, shareID string, now time.Time) error {
	sh, err := s.GetShare(ctx, owner, shareID, now)
	if err == nil && len(sh.Files) > maxDropFiles {
		err = ErrDropFull
	}
	return err
}

// takeBackPut takes out of the drop the files an add put in, with any
// download counted on them meanwhile, each by its member: a file taken
// out and put back by another call since stays (RemoveShareFile would
// take whatever is there). It goes on after ctx ended (undoInsert): the
// add is answered an error, so nothing it put in may stay.
func (s *mongoStore) takeBackPut(ctx context.Context, put []shareFile) error {
	for _, doc := range put {
		err := undoInsert(ctx, func(ctx context.Context) error {
			if err := s.deleteShareFileOf(ctx, doc); err != nil {
				return err
			}
			return s.forgetDownloadsOf(ctx, doc.ShareID, doc.FileID, doc.Member)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteShareFileOf deletes the document of doc's time in the drop (its
// member's), not a later add's.
func (s *mongoStore) deleteShareFileOf(ctx context.Context, doc shareFile) error {
	mine := bson.D{{Key: "_id", Value: doc.ID}, memberFilter(doc.Member)}
	return mongoErr("take back share file", s.deleteMany(ctx, s.shareFiles, mine))
}

// takeOutPutBack deletes the document in the way of doc if it is a file
// its owner took out that a conversion put back (insertConvertedFile):
// one with no member, marked removed. That conversion is taking it back,
// or failed to; either way the file is not in the drop, and an add must
// not answer that it is (review 11). True if it was such a document.
func (s *mongoStore) takeOutPutBack(ctx context.Context, doc shareFile) (bool, error) {
	var there shareFile
	err := s.decodeOne(ctx, s.shareFiles, bson.D{{Key: "_id", Value: doc.ID}}, "add file to share", &there)
	if errors.Is(err, ErrNotFound) {
		return false, nil // gone meanwhile
	}
	if err != nil || there.Member != "" {
		return false, err
	}
	marked, err := s.markedRemoved(ctx, doc.ShareID, doc.FileID)
	if err != nil || !marked {
		return false, err // a file in the drop
	}
	return true, s.deletePutBack(ctx, doc.ID)
}

// markedRemoved tells whether a removal marked the file, one without a
// member, taken out of the share (markRemoved).
func (s *mongoStore) markedRemoved(ctx context.Context, shareID, fileID string) (bool, error) {
	err := s.decodeOne(ctx, s.shareFiles, bson.D{{Key: "_id", Value: removalMarkID(shareID, fileID)}}, "read removal mark", &struct{}{})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// deletePutBack deletes the document, with no member, of a file that a
// conversion put back after its removal (insertConvertedFile).
func (s *mongoStore) deletePutBack(ctx context.Context, id string) error {
	return mongoErr("take back share file", s.deleteMany(ctx, s.shareFiles, bson.D{{Key: "_id", Value: id}, memberFilter("")}))
}

// RemoveShareFile deletes the file's document, then the downloads counted
// in its time in the drop (its member's): were the file put back
// meanwhile, the downloads of its new time stay.
func (s *mongoStore) RemoveShareFile(ctx context.Context, owner, shareID, fileID string, now time.Time) error {
	if _, err := s.editableDrop(ctx, owner, shareID, now); err != nil {
		return err
	}
	var doc shareFile
	mine := bson.D{{Key: "_id", Value: shareFileID(shareID, fileID)}, {Key: "owner", Value: owner}}
	if err := s.decodeOne(ctx, s.shareFiles, mine, "remove file from share", &doc); err != nil {
		return err
	}
	if doc.Member == "" {
		if err := s.markRemoved(ctx, doc); err != nil {
			return err
		}
	}
	err := s.deleteOne(ctx, s.shareFiles, append(mine, memberFilter(doc.Member)), "remove file from share")
	if errors.Is(err, ErrNotFound) && doc.Member == "" {
		// An add that found it marked took it out first (takeOutPutBack,
		// which cannot tell it from a conversion's put-back): taken out
		// all the same, its downloads go below.
		err = nil
	}
	if err != nil {
		return err
	}
	return s.forgetDownloadsOf(ctx, shareID, fileID, doc.Member)
}

// forgetDownloadsOf deletes the downloads counted on one time the file was
// in the drop (its member's), which a removal or a take-back ends.
func (s *mongoStore) forgetDownloadsOf(ctx context.Context, shareID, fileID, member string) error {
	filter := bson.D{{Key: "share_id", Value: shareID}, {Key: "file_id", Value: fileID}, memberFilter(member)}
	return mongoErr("forget removed file's downloads", s.deleteMany(ctx, s.shareDownloads, filter))
}

// markRemoved leaves the mark that the file of doc, which has no member,
// is taken out of its drop, before it is. Without a member, the file's
// document is the same each time a conversion of a link made before drops
// inserts it (editableDrop), and a conversion that read the link before
// its owner's first edit can insert it after that edit took the file out:
// the mark makes the conversion take it back again, and a download refuse
// to count on it meanwhile (stillInDrop). The mark has neither share_id
// nor file_id, so no read of a drop's or a file's documents sees it, and
// it goes with the share's expiry. A removal that fails after its mark
// leaves the file listed but refused, as its owner asked; asked again, it
// goes.
func (s *mongoStore) markRemoved(ctx context.Context, doc shareFile) error {
	mark := bson.D{{Key: "_id", Value: removalMarkID(doc.ShareID, doc.FileID)}, {Key: "expires_at", Value: doc.ExpiresAt}}
	err := s.insertOne(ctx, s.shareFiles, mark, "remove file from share")
	if errors.Is(err, ErrConflict) {
		return nil // marked by an earlier removal, whose conversion's put-back is being taken out again
	}
	return err
}

// editableDrop returns the owner's unexpired share, made a drop first if
// it was stored before drops: its one file gets its document, then the
// share its mark. Two edits converting one share at once both insert the
// same document (one is kept) and set the same mark. A conversion slower
// than another edit's conversion and removal of the file puts the file
// back: it finds the removal's mark and takes its document back
// (insertConvertedFile).
func (s *mongoStore) editableDrop(ctx context.Context, owner, id string, now time.Time) (Share, error) {
	docs, err := s.findShares(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}, 1)
	if err != nil {
		return Share{}, err
	}
	if len(docs) == 0 {
		return Share{}, ErrNotFound
	}
	sh := docs[0]
	if sh.Drop {
		return sh.Share, nil
	}
	if err := s.insertConvertedFile(ctx, &sh.Share); err != nil {
		return Share{}, err
	}
	opCtx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Share{}, err
	}
	defer cancel()
	_, err = s.shares.UpdateOne(opCtx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "drop", Value: true}}}})
	return sh.Share, mongoErr("make share a drop", err)
}

// insertConvertedFile inserts the document of the one file of a link made
// before drops, and takes it back if a removal marked the file taken out
// (markRemoved): the link was converted and the file removed since this
// edit read it. A download that read the file back meanwhile is refused
// (stillInDrop). Should the take-back fail, or its instance stop first,
// the file shows in the drop but never downloads, until its owner takes
// it out again or adds it again (takeOutPutBack).
func (s *mongoStore) insertConvertedFile(ctx context.Context, sh *Share) error {
	doc := newShareFile(sh, sh.FileID, time.Now().UTC())
	err := s.insertShareFile(ctx, doc)
	if errors.Is(err, ErrConflict) {
		return nil // converted by another edit, or being
	}
	if err != nil {
		return err
	}
	marked, err := s.markedRemoved(ctx, sh.ID, sh.FileID)
	if err != nil || !marked {
		return err
	}
	return s.deletePutBack(ctx, doc.ID)
}

// dropIndexes are the indexes of the drops' file documents: a drop's
// files, and a file's drops in the order they are listed and paged.
func dropIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: "share_id", Value: 1}}},
		{Keys: bson.D{{Key: "file_id", Value: 1}, {Key: "owner", Value: 1}, {Key: "created_at", Value: 1}, {Key: "share_id", Value: 1}}},
	}
}
