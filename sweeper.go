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

// sweepMargin is how long after its form expired a pending upload is
// kept: a client whose post finished just in time can still complete it.
const sweepMargin = time.Hour

// sweepBatch is how many pending files one query returns; a sweep reads
// batches until one comes back short, at most sweepMaxBatches of them.
const (
	sweepBatch      = 500
	sweepMaxBatches = 20
)

// sweepResult counts what one sweep removed, for its summary line.
type sweepResult struct {
	pendingFiles int // records of abandoned uploads, with their objects
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
	s.log.Info("sweep", "pending_files", res.pendingFiles, "expired_records", res.expired,
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
// more than sweepMargin ago: the object (if the client posted one but never
// completed), then the record, which releases its quota charge. Each batch
// starts after the last file of the one before, so a sweep looks at each
// file once: one it kept, or failed to delete, waits for the next sweep.
func (s *server) sweepPendingFiles(ctx context.Context, res *sweepResult) {
	before := s.now().Add(-s.cfg.UploadTTL - sweepMargin)
	var after *Cursor
	for range sweepMaxBatches {
		files, err := s.store.PendingFilesBefore(ctx, before, after, sweepBatch)
		if err != nil {
			res.failures++
			s.log.Warn("sweep: listing abandoned uploads", "err", err)
			return
		}
		for i := range files {
			switch {
			case resumable(&files[i], s.now()): // multipart.go
			case s.sweepFile(ctx, &files[i]):
				res.pendingFiles++
			default:
				res.failures++
			}
		}
		if len(files) < sweepBatch || ctx.Err() != nil {
			return
		}
		last := &files[len(files)-1]
		after = &Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// sweepFile deletes one abandoned upload; a record another sweeper deleted
// first is success.
func (s *server) sweepFile(ctx context.Context, f *File) bool {
	err := s.abortIfMultipart(ctx, f) // its parts go too
	if err == nil {
		err = s.objects.Delete(ctx, f.ObjectKey)
	}
	if errors.Is(err, errInvalidObjectKey) {
		err = nil // no object can be under that key
	}
	if err == nil {
		err = s.store.DeleteFile(ctx, f.Owner, f.ID)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Warn("sweep: deleting an abandoned upload", "file", f.ID, "err", err)
		return false
	}
	return true
}
