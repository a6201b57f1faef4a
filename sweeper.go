package main

// The sweeper: every SWEEP_INTERVAL_SECONDS each instance deletes the
// uploads that can no longer be completed, with their objects, and the
// expired credentials, sign-in states and codes (FerretDB and some other
// compatible servers have no TTL indexes). Every delete is idempotent, so
// several instances sweeping at once only repeat each other's work.

import (
	"context"
	"errors"
	"time"
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
	if u, ok := s.objects.(uploadSweeper); ok {
		u.SweepExpiredUploads(s.now())
	}
	// Multipart uploads and share links are swept here once they exist:
	// their expired records and their in-progress multipart uploads.
	s.log.Info("sweep", "pending_files", res.pendingFiles, "staged_uploads", res.staged, "expired_records", res.expired,
		"failures", res.failures, "duration", time.Since(start))
	return res
}

// uploadSweeper is an object store that forgets its expired multipart
// uploads only when told: the local one, whose CreateMultipart no longer
// walks every upload (S3 needs a lifecycle rule instead).
type uploadSweeper interface {
	SweepExpiredUploads(now time.Time)
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
// the charge of the files they were for, and deletes those held deleted
// (statusDeleted). Until then, a file completed
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
		// The form expires at a whole second (ceilSecond), up to a
		// second after created+TTL: its staged object may still be there.
		if expires, ok := stagingExpiry(f.StagingKey); ok && !expires.Before(expired) {
			return
		}
		if f.Status == statusDeleted {
			// Its staged object is gone: the held record goes, and
			// its charge with it.
			if _, err := s.store.DeleteFile(ctx, f.Owner, f.ID); err != nil && !errors.Is(err, ErrNotFound) {
				res.failures++
				s.log.Warn("sweep: deleting a file held deleted", "file", f.ID, "err", err)
			}
			return
		}
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
	deleted, err := s.store.DeleteAbandonedFile(ctx, f.Owner, f.ID, before)
	if errors.Is(err, ErrNotFound) {
		return false, true
	}
	if err == nil {
		err = s.deleteObjects(ctx, deleted)
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
