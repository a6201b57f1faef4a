package main

// The sweeper on the local store (see sweeper.go): abandoned uploads, and
// the expired records.

import (
	"context"
	"slices"
	"time"
)

// DeleteAbandonedFile checks, under the store's write lock, that the file
// is still pending and created before t, and deletes it.
func (s *localStore) DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) (*File, error) {
	var deleted File
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil {
			return nil, err
		}
		if f.Status != statusPending || !f.CreatedAt.Before(createdBefore) {
			return nil, ErrNotFound
		}
		deleted = cloneLocalFile(f)
		return &localRecord{Op: opDelFile, Key: id}, nil
	})
	if err != nil {
		return nil, err
	}
	return &deleted, nil
}

// PendingFilesBefore returns up to limit pending files created before t,
// after the position after, oldest first.
func (s *localStore) PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, func(f *File) bool { return f.Status == statusPending }, t, after, limit)
}

func (s *localStore) StagedFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return s.filesBefore(ctx, func(f *File) bool {
		return (f.Status == statusComplete || f.Status == statusDeleted) && f.StagingKey != ""
	}, t, after, limit)
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
	if err != nil {
		return n1 + n2 + n3 + n4, err
	}
	n5, err := sweepLocalKind(ctx, s, localRequests, now)
	return n1 + n2 + n3 + n4 + n5, err
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
