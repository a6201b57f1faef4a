package main

// Share links on MongoDB. A download is counted by inserting a document
// whose _id is the share's ID and the download's number ("<id>/3"): the
// unique _id lets exactly one caller take each number, on every instance,
// and a limited share has only numbers 1..max to give. An $inc on the share
// would be simpler, but FerretDB 1.x runs updates as a read then a write,
// so concurrent increments are lost and a conditional filter does not hold
// (measured: 20 concurrent UpdateOne calls with downloads < 5 all matched,
// leaving downloads at 2); unique inserts are atomic there too.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// shareDownload is one counted download of a share: a MongoDB-only
// document (the local store counts under its write lock).
type shareDownload struct {
	ID        string    `bson:"_id"` // share ID + "/" + the download's number
	ShareID   string    `bson:"share_id"`
	FileID    string    `bson:"file_id"`
	ExpiresAt time.Time `bson:"expires_at"` // the share's, so a TTL index tidies them too
}

// InsertShare inserts the share, then counts the file's live shares and
// deletes its own again when they are over maxLive. FerretDB has no
// transactions, and a count before the insert would let racing inserts
// all pass; counted after, the last kept insert sees every kept one, so
// no more than maxLive are ever kept. Racing inserts at the edge can all
// see too many and all take theirs back: one that then finds room tries
// again after a random pause, a few times, so a burst still fills the
// room rather than leaving it empty.
func (s *mongoStore) InsertShare(ctx context.Context, sh Share, maxLive int) error {
	sh.Downloads = 0 // counted in share_downloads
	for attempt := 1; ; attempt++ {
		err := s.insertShareWithin(ctx, sh, maxLive)
		if !errors.Is(err, errShareRace) {
			return err
		}
		if attempt == shareInsertAttempts {
			return ErrTooManyShares
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Duration(1+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// shareInsertAttempts bounds InsertShare's tries under a race at the cap.
const shareInsertAttempts = 5

// errShareRace says an insert was over the cap, but after taking it back
// there was room: racing inserts, not a full file.
var errShareRace = errors.New("share inserts raced at the cap")

// insertShareWithin is one try of InsertShare.
func (s *mongoStore) insertShareWithin(ctx context.Context, sh Share, maxLive int) error {
	if err := s.insertShare(ctx, sh); err != nil || maxLive <= 0 {
		return err
	}
	n, err := s.countLiveShares(ctx, sh.Owner, sh.FileID, sh.CreatedAt)
	if err == nil && n <= int64(maxLive) {
		return nil
	}
	if derr := s.deleteMany(ctx, s.shares, bson.D{{Key: "_id", Value: sh.ID}}); derr != nil {
		return mongoErr("take back share over the limit", derr)
	}
	if err != nil {
		return err
	}
	if after, err := s.countLiveShares(ctx, sh.Owner, sh.FileID, sh.CreatedAt); err == nil && after < int64(maxLive) {
		return errShareRace
	}
	return ErrTooManyShares
}

// insertShare is one InsertOne of a share.
func (s *mongoStore) insertShare(ctx context.Context, sh Share) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.shares.InsertOne(ctx, sh)
	return mongoErr("insert share", err)
}

// countLiveShares counts the owner's shares of the file unexpired at now.
func (s *mongoStore) countLiveShares(ctx context.Context, owner, fileID string, now time.Time) (int64, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	n, err := s.shares.CountDocuments(ctx, liveSharesFilter(owner, fileID, now))
	return n, mongoErr("count shares", err)
}

// liveSharesFilter matches the owner's shares of a file unexpired at now
// (the index on file_id, owner, created_at, _id serves it).
func liveSharesFilter(owner, fileID string, now time.Time) bson.D {
	return bson.D{{Key: "file_id", Value: fileID}, {Key: "owner", Value: owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
}

// ListShares finds a page of shares, then counts their downloads in one
// query.
func (s *mongoStore) ListShares(ctx context.Context, q ShareQuery) ([]Share, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := liveSharesFilter(q.Owner, q.FileID, q.Now)
	if c := q.After; c != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$gt", Value: c.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: c.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: c.ID}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(q.Limit))
	cur, err := s.shares.Find(ctx, filter, opts)
	if err != nil {
		return nil, mongoErr("list shares", err)
	}
	shares := []Share{}
	if err := cur.All(ctx, &shares); err != nil {
		return nil, mongoErr("list shares", err)
	}
	if len(shares) == 0 {
		return shares, nil
	}
	ids := make([]string, len(shares))
	for i := range shares {
		ids[i] = shares[i].ID
	}
	counts, err := s.downloadCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range shares {
		shares[i].Downloads = counts[shares[i].ID]
	}
	return shares, nil
}

// downloadCounts counts the downloads of each of the shares.
func (s *mongoStore) downloadCounts(ctx context.Context, shareIDs []string) (map[string]int64, error) {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "share_id", Value: bson.D{{Key: "$in", Value: shareIDs}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$share_id"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	}
	cur, err := s.shareDownloads.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, mongoErr("count share downloads", err)
	}
	var rows []struct {
		ShareID string `bson:"_id"`
		N       int64  `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, mongoErr("count share downloads", err)
	}
	counts := make(map[string]int64, len(rows))
	for _, r := range rows {
		counts[r.ShareID] = r.N
	}
	return counts, nil
}

// DeleteShare removes the share, then its counted downloads.
func (s *mongoStore) DeleteShare(ctx context.Context, owner, id string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := s.shares.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}})
	if err != nil {
		return mongoErr("delete share", err)
	}
	if res.DeletedCount == 0 {
		return ErrNotFound
	}
	return mongoErr("delete share downloads", s.deleteMany(ctx, s.shareDownloads, bson.D{{Key: "share_id", Value: id}}))
}

// deleteFileShares removes the shares of the owner's file and their
// counted downloads, as part of deleting the file.
func (s *mongoStore) deleteFileShares(ctx context.Context, owner, fileID string) error {
	if err := s.deleteMany(ctx, s.shares, bson.D{{Key: "file_id", Value: fileID}, {Key: "owner", Value: owner}}); err != nil {
		return mongoErr("delete file's shares", err)
	}
	return mongoErr("delete file's share downloads", s.deleteMany(ctx, s.shareDownloads, bson.D{{Key: "file_id", Value: fileID}}))
}

// deleteMany is one DeleteMany, bounded by mongoOpTimeout.
func (s *mongoStore) deleteMany(ctx context.Context, c *mongo.Collection, filter bson.D) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.DeleteMany(ctx, filter)
	return err
}

// ShareLink finds the unexpired share and counts its downloads.
func (s *mongoStore) ShareLink(ctx context.Context, hash string, now time.Time) (Share, error) {
	sh, err := s.findShare(ctx, hash, now)
	if err != nil {
		return Share{}, err
	}
	if sh.Downloads, err = s.countDownloads(ctx, sh.ID); err != nil {
		return Share{}, err
	}
	if sh.usedUp() {
		return Share{}, ErrNotFound
	}
	return sh, nil
}

// findShare returns the unexpired share of that token hash, uncounted.
func (s *mongoStore) findShare(ctx context.Context, hash string, now time.Time) (Share, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Share{}, err
	}
	defer cancel()
	var sh Share
	filter := bson.D{{Key: "token_hash", Value: hash}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	if err := s.shares.FindOne(ctx, filter).Decode(&sh); err != nil {
		return Share{}, mongoErr("find share", err)
	}
	return sh, nil
}

// countDownloads counts the downloads of one share.
func (s *mongoStore) countDownloads(ctx context.Context, shareID string) (int64, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	n, err := s.shareDownloads.CountDocuments(ctx, bson.D{{Key: "share_id", Value: shareID}})
	return n, mongoErr("count share downloads", err)
}

// CountShareDownload takes the lowest free download number, trying the
// next one whenever another caller took it first. Numbers are taken in
// order, so the count read first never skips a free one. A share revoked
// while its number was being taken is reported missing: the revocation
// wins.
func (s *mongoStore) CountShareDownload(ctx context.Context, hash string, now time.Time) (Share, error) {
	sh, err := s.ShareLink(ctx, hash, now)
	if err != nil {
		return Share{}, err
	}
	for n := sh.Downloads + 1; sh.MaxDownloads == nil || n <= *sh.MaxDownloads; n++ {
		taken, err := s.takeDownloadNumber(ctx, &sh, n)
		if err != nil {
			return Share{}, err
		}
		if !taken {
			continue
		}
		if err := s.findOne(ctx, s.shares, sh.ID); err != nil {
			return Share{}, mongoErr("count share download", err)
		}
		sh.Downloads = n
		return sh, nil
	}
	return Share{}, ErrNotFound
}

// takeDownloadNumber records download number n of the share; false when
// another caller already took that number. Each attempt is one call,
// bounded on its own like every MongoDB call.
func (s *mongoStore) takeDownloadNumber(ctx context.Context, sh *Share, n int64) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	d := shareDownload{ID: fmt.Sprintf("%s/%d", sh.ID, n), ShareID: sh.ID, FileID: sh.FileID, ExpiresAt: sh.ExpiresAt}
	_, err = s.shareDownloads.InsertOne(ctx, d)
	switch {
	case mongo.IsDuplicateKeyError(err):
		return false, nil
	case err != nil:
		return false, mongoErr("count share download", err)
	}
	return true, nil
}

// findOne tells whether the document with that _id exists (ErrNoDocuments
// if not).
func (s *mongoStore) findOne(ctx context.Context, c *mongo.Collection, id string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
}
