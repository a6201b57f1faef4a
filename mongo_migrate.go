package main

// What a migration (migrate.go) needs of MongoDB and nothing else does.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
)

// insertUser inserts u under its own id (UpsertUser would give a new
// one). A user already there is ErrConflict; the same identity under
// another id is an error the operator must look at.
func (s *mongoStore) insertUser(ctx context.Context, u User) error {
	err := s.insertOne(ctx, s.users, u, "insert user")
	if !errors.Is(err, ErrConflict) {
		return err
	}
	if _, gerr := s.GetUser(ctx, u.ID); gerr != nil {
		return fmt.Errorf("MongoDB already has a user for %s %s under another id", u.Issuer, u.Subject)
	}
	return ErrConflict
}

// insertMigratedShare inserts a migrated share part by part, each part
// already there kept as it is, so that the next run completes a run
// interrupted between them: the downloads first, so that a share never
// shows up with fewer, then the share's document, then its files (their
// _ids are "<share>/<file>": insertShareFiles keeps one that is there).
// ErrConflict says the document was there already. InsertShare cannot do
// this: for the API a conflict stays a conflict, and a share whose files
// failed is taken back.
func (s *mongoStore) insertMigratedShare(ctx context.Context, sh Share) error {
	sh.withLegacyFiles()
	sh.Downloads = 0 // counted in share_downloads, as InsertShare stores it
	if err := s.insertShareDownloads(ctx, sh); err != nil {
		return err
	}
	docErr := s.insertShare(ctx, sh)
	if docErr != nil && !errors.Is(docErr, ErrConflict) {
		return docErr
	}
	if err := s.insertShareFiles(ctx, &sh, sh.Files); err != nil {
		return err
	}
	return docErr
}

// insertShareDownloads records the downloads so far of each of the
// share's files, numbered as CountShareDownload numbers them, for files
// the share was made with (no member: InsertShare stored them so); the
// numbers already there are kept.
func (s *mongoStore) insertShareDownloads(ctx context.Context, sh Share) error {
	for _, f := range sh.Files {
		for n := int64(1); n <= f.Downloads; n++ {
			if _, err := s.takeDownloadNumber(ctx, &sh, ShareFile{FileID: f.FileID}, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// settleMigratedUsage makes the owner's quota usage agree with the files
// MongoDB holds for them: a ledger not yet started starts from them; one
// already there gets a correcting entry if it differs.
func (s *mongoStore) settleMigratedUsage(ctx context.Context, owner string) error {
	_, found, err := s.latestEntry(ctx, owner)
	if err != nil || !found {
		return cmp.Or(err, s.startLedger(ctx, owner))
	}
	actual, err := s.usageFromFiles(ctx, owner, true)
	if err != nil {
		return err
	}
	err = s.appendUsage(ctx, owner, "migrate:"+newID(), func(head usageEntry) (usageDelta, error) {
		if head.Bytes == actual.Bytes && head.Files == actual.Files {
			return usageDelta{}, errOpApplied
		}
		return usageDelta{bytes: actual.Bytes - head.Bytes, files: actual.Files - head.Files}, nil
	})
	if errors.Is(err, errOpApplied) {
		return nil
	}
	return err
}
