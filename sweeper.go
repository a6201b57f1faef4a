package main

// The sweeper: every SWEEP_INTERVAL_SECONDS each instance deletes the
// uploads that can no longer be completed, with their objects, and the
// expired credentials, sign-in states and codes (FerretDB and some other
// compatible servers have no TTL indexes). Every delete is idempotent, so
// several instances sweeping at once only repeat each other's work.

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// sweepBatch is how many pending files one query returns; a sweep reads
// batches until one comes back short, at most sweepMaxBatches of them.
const (
	sweepBatch      = 500
	sweepMaxBatches = 20
)

// sweepResult counts what one sweep removed, for its summary line.
type sweepResult struct {
	pendingFiles int // records of abandoned uploads, with their objects
	staged       int // staged uploads whose form expired (stagingObjects)
	expired      int // credentials, sign-in states and codes
	failures     int
}

// startSweeper sweeps every SWEEP_INTERVAL_SECONDS until ctx ends; the
// returned stop waits for a sweep in progress to finish.
func (s *server) startSweeper(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sweep runs one sweep and logs its one summary line.
func (s *server) sweep(ctx context.Context) sweepResult {
	start := time.Now()
	var res sweepResult
	s.sweepPendingFiles(ctx, &res)
	s.sweepStaged(ctx, &res)
	n, err := s.store.DeleteExpired(ctx, s.now())
	res.expired += n
	if err != nil {
		res.failures++
		s.log.Warn("sweep: deleting expired credentials", "err", err)
	}
	// Multipart uploads and share links are swept here once they exist:
	// their expired records and their in-progress multipart uploads.
	s.log.Info("sweep", "pending_files", res.pendingFiles, "staged_uploads", res.staged, "expired_records", res.expired,
		"failures", res.failures, "duration", time.Since(start))
	return res
}

// sweepPendingFiles deletes the pending files whose upload form expired
// more than SWEEP_GRACE_SECONDS ago: the record first, if the file is still
// pending (which releases its quota charge), then the object (if the client
// posted one but never completed).
func (s *server) sweepPendingFiles(ctx context.Context, res *sweepResult) {
	before := s.now().Add(-s.cfg.UploadTTL - s.cfg.SweepGrace)
	s.walkFiles(ctx, res, "abandoned uploads", func(after *Cursor) ([]File, error) {
		return s.store.PendingFilesBefore(ctx, before, after, sweepBatch)
	}, func(f *File) {
		if resumable(f, s.now(), s.cfg.SweepGrace) { // multipart.go
			return
		}
		switch swept, ok := s.sweepFile(ctx, f, before); {
		case !ok:
			res.failures++
		case swept:
			res.pendingFiles++
		}
	})
}

// walkFiles calls each for every file that list gives, a batch at a time.
// Each batch starts after the last file of the one before, so a sweep
// looks at each file once: one it kept, or failed on, waits for the next
// sweep.
func (s *server) walkFiles(ctx context.Context, res *sweepResult, what string, list func(after *Cursor) ([]File, error), each func(*File)) {
	var after *Cursor
	for range sweepMaxBatches {
		files, err := list(after)
		if err != nil {
			res.failures++
			s.log.Warn("sweep: listing "+what, "err", err)
			return
		}
		for i := range files {
			each(&files[i])
		}
		if len(files) < sweepBatch || ctx.Err() != nil {
			return
		}
		last := &files[len(files)-1]
		after = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// sweepStaged deletes the staged uploads whose form expired more than
// SWEEP_GRACE_SECONDS ago, whatever became of their files (one posted
// again after its file was completed or deleted goes here), then settles
// the charge of the files they were for. Until then, a file completed
// from a staged upload keeps the charge its form reserved (a size-less
// form, the single-upload limit): that form may still store that much.
func (s *server) sweepStaged(ctx context.Context, res *sweepResult) {
	st, ok := s.objects.(stagingObjects)
	if !ok {
		return
	}
	expired := s.now().Add(-s.cfg.SweepGrace)
	n, err := st.SweepStaged(ctx, expired)
	res.staged += n
	if err != nil {
		res.failures++
		s.log.Warn("sweep: deleting staged uploads", "err", err)
		return // the charges stay until the staged objects are gone
	}
	before := expired.Add(-s.cfg.UploadTTL)
	s.walkFiles(ctx, res, "files completed from staged uploads", func(after *Cursor) ([]File, error) {
		return s.store.StagedFilesBefore(ctx, before, after, sweepBatch)
	}, func(f *File) {
		if err := s.settleStaged(ctx, f); err != nil && !errors.Is(err, ErrNotFound) {
			res.failures++
			s.log.Warn("sweep: settling a file completed from a staged upload", "file", f.ID, "err", err)
		}
	})
}

// settleStaged makes a file completed from a staged upload, whose form
// has expired, count its real size, and forgets its staging key. A charge
// settled by another sweeper first is fine.
func (s *server) settleStaged(ctx context.Context, f *File) error {
	if f.Size != nil && f.Charged != *f.Size {
		err := s.store.SettleCharge(ctx, f.Owner, f.ID, f.Charged, *f.Size)
		if err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return s.store.ClearStagingKey(ctx, f.Owner, f.ID)
}

// sweepFile deletes one abandoned upload created before `before`, and
// tells whether it did, and whether all went well. The record goes first,
// and only if the file is still pending: that delete is the sweeper's
// claim, so a file completed since its batch was read keeps its record and
// its object, and so does one another sweeper claimed (which deletes the
// object). Then its object and its parts go; should that fail, `dropp
// reconcile` finds the object, which no record names any more.
func (s *server) sweepFile(ctx context.Context, f *File, before time.Time) (swept, ok bool) {
	err := s.store.DeleteAbandonedFile(ctx, f.Owner, f.ID, before)
	if errors.Is(err, ErrNotFound) {
		return false, true
	}
	if err == nil {
		err = s.deleteObjects(ctx, f)
	}
	if errors.Is(err, errInvalidObjectKey) {
		err = nil // no object can be under that key
	}
	if err != nil {
		s.log.Warn("sweep: deleting an abandoned upload", "file", f.ID, "err", err)
		return false, false
	}
	return true, true
}

// ---- MongoDB ----

// DeleteAbandonedFile deletes the file with a filter on its status and
// creation time, so the condition holds in the delete itself. (FerretDB
// runs a conditional update as a read then a write, so a completion in
// that window can still lose to it; MongoDB's are atomic.)
func (s *mongoStore) DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) error {
	return s.deleteFileReleasing(ctx, owner, id,
		bson.E{Key: "status", Value: statusPending},
		bson.E{Key: "created_at", Value: bson.D{{Key: "$lt", Value: createdBefore}}})
}

func (s *mongoStore) PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, bson.D{{Key: "status", Value: statusPending}}, t, after, limit)
}

func (s *mongoStore) StagedFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, bson.D{{Key: "status", Value: statusComplete}, {Key: "staging_key", Value: bson.D{{Key: "$gt", Value: ""}}}}, t, after, limit)
}

// ClearStagingKey unsets the key of a complete file.
func (s *mongoStore) ClearStagingKey(ctx context.Context, owner, id string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "status", Value: statusComplete}}
	_, err = s.files.UpdateOne(ctx, filter, bson.D{{Key: "$unset", Value: bson.D{{Key: "staging_key", Value: ""}}}})
	return mongoErr("clear staging key", err)
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

// DeleteExpired deletes expired credentials, states, codes, shares, share
// downloads and completion claims (mongo.go), and the usage ledger entries
// that are no longer needed (quota.go).
func (s *mongoStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, c := range []*mongo.Collection{s.creds, s.authStates, s.authCodes, s.shares, s.shareDownloads, s.completionsColl()} {
		n, err := s.deleteExpiredIn(ctx, c, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	pruned, err := s.pruneUsage(ctx, now.Add(-usageKeep))
	return total + pruned, err
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

// ---- Local store ----

// DeleteAbandonedFile checks, under the store's write lock, that the file
// is still pending and created before t, and deletes it.
func (s *localStore) DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil {
			return nil, err
		}
		if f.Status != statusPending || !f.CreatedAt.Before(createdBefore) {
			return nil, ErrNotFound
		}
		return &localRecord{Op: opDelFile, Key: id}, nil
	})
}

// PendingFilesBefore returns up to limit pending files created before t,
// after the position after, oldest first.
func (s *localStore) PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, func(f *File) bool { return f.Status == statusPending }, t, after, limit)
}

func (s *localStore) StagedFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, func(f *File) bool { return f.Status == statusComplete && f.StagingKey != "" }, t, after, limit)
}

// ClearStagingKey forgets the staging key of a complete file.
func (s *localStore) ClearStagingKey(ctx context.Context, owner, id string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil || f.Status != statusComplete || f.StagingKey == "" {
			return nil, err
		}
		doc := cloneLocalFile(f)
		doc.StagingKey = ""
		return &localRecord{Op: opPutFile, File: &doc}, nil
	})
}

// filesBefore returns up to limit files that match, created before t,
// after the position after, oldest first.
func (s *localStore) filesBefore(ctx context.Context, match func(*File) bool, t time.Time, after *Cursor, limit int) ([]File, error) {
	var files []File
	err := s.view(ctx, func(st *localState) error {
		var found []*File
		for _, f := range st.files {
			if match(f) && f.CreatedAt.Before(t) && (after == nil || compareLocalCursor(f, *after) > 0) {
				found = append(found, f)
			}
		}
		slices.SortFunc(found, compareLocalFiles)
		files = make([]File, min(limit, len(found)))
		for i := range files {
			files[i] = cloneLocalFile(found[i])
		}
		return nil
	})
	return files, err
}

// DeleteExpired deletes expired credentials, states, codes and shares, one log
// record each (compaction would drop them too, but only once the log grows).
func (s *localStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n1, err := sweepLocalKind(ctx, s, localCreds, now)
	if err != nil {
		return n1, err
	}
	n2, err := sweepLocalKind(ctx, s, localStates, now)
	if err != nil {
		return n1 + n2, err
	}
	n3, err := sweepLocalKind(ctx, s, localCodes, now)
	if err != nil {
		return n1 + n2 + n3, err
	}
	n4, err := sweepLocalKind(ctx, s, localShares, now)
	return n1 + n2 + n3 + n4, err
}

// sweepLocalKind removes the records of kind k expired by now.
func sweepLocalKind[K comparable, R any](ctx context.Context, s *localStore, k localKind[K, R], now time.Time) (int, error) {
	var keys []K
	err := s.view(ctx, func(st *localState) error {
		for key, r := range k.rows(st) {
			if localExpired(k.expires(&r), now) {
				keys = append(keys, key)
			}
		}
		return nil
	})
	for _, key := range keys {
		if err != nil {
			break
		}
		err = k.remove(ctx, s, key)
	}
	return len(keys), err
}
