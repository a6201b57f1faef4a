package main

// The sweeper on MongoDB (see sweeper.go): abandoned uploads, and the
// expired records and ledger entries.

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// DeleteAbandonedFile deletes the file with a filter on its status and
// creation time, so the condition holds in the delete itself. FerretDB
// 1.x runs that delete as a read then a delete by _id, and a complete as
// a read then a write, so a complete can land in between: the sweeper
// first takes the file's completion claim (claimSweep), and a complete
// that finds it is not acknowledged, while a complete that claimed first
// keeps the file from the sweeper (review 8 lost 17 of 80 such files).
// Once the claim is taken the file is the sweeper's, even made complete
// since by a complete whose claim comes after, which is not acknowledged:
// so the delete takes a complete file too. Before, it missed such a file,
// and a sender's take-back answered that the file was received while that
// complete deleted it (review 18).
func (s *mongoStore) DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) (*File, error) {
	taken, err := s.claimSweep(ctx, id, time.Now())
	if err != nil {
		return nil, err
	}
	if !taken {
		return nil, ErrNotFound
	}
	return s.deleteFileReleasing(ctx, owner, id,
		bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{statusPending, statusComplete}}}},
		bson.E{Key: "created_at", Value: bson.D{{Key: "$lt", Value: createdBefore}}})
}

func (s *mongoStore) PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, bson.D{{Key: "status", Value: statusPending}}, t, after, limit)
}

func (s *mongoStore) StagedFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{statusComplete, statusDeleted}}}}, {Key: "staging_key", Value: bson.D{{Key: "$gt", Value: ""}}}}, t, after, limit)
}

// ClearStagingKey unsets the key of a complete file, then, should its
// owner be holding it deleted meanwhile, holds it again: on FerretDB 1.x
// this write, and the settle's before it, can land over the hold's
// (keepHolding; review 8 saw 39 of 80 held files come back, listed
// without their object).
func (s *mongoStore) ClearStagingKey(ctx context.Context, owner, id string) error {
	before, err := s.clearStagingKey(ctx, owner, id)
	if errors.Is(err, ErrNotFound) {
		return nil // not complete: held, or gone
	}
	if err != nil {
		return err
	}
	return s.keepHolding(ctx, owner, before)
}

// clearStagingKey is ClearStagingKey's update; it returns the file as it
// was before.
func (s *mongoStore) clearStagingKey(ctx context.Context, owner, id string) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "status", Value: statusComplete}}
	var f File
	err = s.files.FindOneAndUpdate(ctx, filter, bson.D{{Key: "$unset", Value: bson.D{{Key: "staging_key", Value: ""}}}}).Decode(&f)
	return &f, mongoErr("clear staging key", err)
}

// filesBefore returns up to limit files matching filter created before t,
// after the position after, oldest first.
func (s *mongoStore) filesBefore(ctx context.Context, filter bson.D, t time.Time, after *Cursor, limit int) ([]File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter = append(filter, bson.E{Key: "created_at", Value: bson.D{{Key: "$lt", Value: t}}})
	if after != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$gt", Value: after.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: after.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: after.ID}}}},
		}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit))
	cur, err := s.files.Find(ctx, filter, opts)
	if err != nil {
		return nil, mongoErr("list abandoned uploads", err)
	}
	files := []File{}
	if err := cur.All(ctx, &files); err != nil {
		return nil, mongoErr("list abandoned uploads", err)
	}
	return files, nil
}

// DeleteExpired deletes the expired documents of every collection a TTL
// index tidies (expiringColls), for engines without TTL indexes, and the
// usage ledger entries that are no longer needed (mongo_quota.go).
func (s *mongoStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, c := range s.expiringColls() {
		n, err := s.deleteExpiredIn(ctx, c, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	repaired, err := s.repairReservations(ctx, now) // mongo_usage_repair.go
	if err != nil {
		return total + repaired, err
	}
	pruned, err := s.pruneUsage(ctx, now.Add(-usageKeep))
	return total + repaired + pruned, err
}

// deleteExpiredIn deletes the expired documents of one collection, within
// one call's time bound: a sweep of large collections gets one per call.
func (s *mongoStore) deleteExpiredIn(ctx context.Context, c *mongo.Collection, now time.Time) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	res, err := c.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return 0, mongoErr("delete expired "+c.Name(), err)
	}
	return int(res.DeletedCount), nil
}
