package main

// The local store's share links. Shares are kept by token hash, the key of
// the public lookups, and indexed by file and by ID (sharesOfFile,
// shareHashes), so that the owner's calls read only the file's shares.

import (
	"context"
	"slices"
	"time"
)

// InsertShare stores a new share; one with the same token hash is
// ErrConflict. The count of each file's live shares and the insert are one
// step under the write lock, so the limit holds exactly.
func (s *localStore) InsertShare(ctx context.Context, sh Share, maxLive int) error {
	sh.CreatedAt, sh.ExpiresAt = localTime(sh.CreatedAt), localTime(sh.ExpiresAt)
	sh.MaxDownloads = cloneLocalPtr(sh.MaxDownloads)
	sh.withLegacyFiles()
	sh.Files = cloneLocalShare(sh).Files
	for i := range sh.Files {
		sh.Files[i].Downloads = 0
	}
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, dup := st.shares[sh.TokenHash]; dup {
			return nil, ErrConflict
		}
		for _, f := range sh.Files {
			if maxLive > 0 && len(st.liveShares(sh.Owner, f.FileID, sh.CreatedAt)) >= maxLive {
				return nil, ErrTooManyShares
			}
		}
		return localShares.put(&sh), nil
	})
}

// ListShares returns a page of the owner's unexpired shares of the file
// (of any file, when q.FileID is ""), oldest first.
func (s *localStore) ListShares(ctx context.Context, q ShareQuery) ([]Share, error) {
	var page []Share
	err := s.view(ctx, func(st *localState) error {
		for _, sh := range st.ownerShares(q.Owner, q.FileID, q.Now) {
			if q.After == nil || compareShares(sh, Share{CreatedAt: q.After.CreatedAt, ID: q.After.ID}) > 0 {
				page = append(page, sh)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(page, compareShares)
	return append([]Share{}, page[:min(len(page), q.Limit)]...), nil
}

// liveShares returns the owner's shares of the file that are unexpired at
// now, if the file is still there, unordered.
func (st *localState) liveShares(owner, fileID string, now time.Time) []Share {
	if _, err := st.ownedFile(owner, fileID); err != nil {
		return nil
	}
	var live []Share
	for hash := range st.sharesOfFile[fileID] {
		sh := st.shares[hash]
		if sh.Owner == owner && !localExpired(sh.ExpiresAt, now) {
			live = append(live, sh)
		}
	}
	return live
}

// ownerShares returns copies of the owner's unexpired shares of the file
// (of any file, when fileID is ""), each with the files still there;
// unordered. A link left with no file is listed among all the owner's
// links, as on MongoDB, so that its owner can add a file to it again or
// revoke it, until compaction forgets it (dropExpired); it is no file's
// share. Listing every share reads them all: the local store serves one
// person.
func (st *localState) ownerShares(owner, fileID string, now time.Time) []Share {
	var found []Share
	keep := func(sh Share) {
		if sh.Owner != owner || localExpired(sh.ExpiresAt, now) {
			return
		}
		if sh = st.presentShare(sh); len(sh.Files) > 0 || fileID == "" {
			found = append(found, sh)
		}
	}
	if fileID != "" {
		for _, sh := range st.liveShares(owner, fileID, now) {
			keep(sh)
		}
		return found
	}
	for _, sh := range st.shares {
		keep(sh)
	}
	return found
}

// presentShare returns a copy of sh with only the files still there
// (and not held deleted).
func (st *localState) presentShare(sh Share) Share {
	sh = cloneLocalShare(sh)
	sh.Files = slices.DeleteFunc(sh.Files, func(f ShareFile) bool {
		_, err := st.liveFile(sh.Owner, f.FileID)
		return err != nil
	})
	return sh
}

// DeleteShare removes the owner's share with that ID.
func (s *localStore) DeleteShare(ctx context.Context, owner, id string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		hash, ok := st.shareHashes[id]
		if !ok || st.shares[hash].Owner != owner {
			return nil, ErrNotFound
		}
		return localShares.del(hash), nil
	})
}

// putShare stores sh, replacing the share of its token hash, and indexes
// it. A share stored before drops (no Files) becomes a drop of its one
// file, with its count.
func (st *localState) putShare(sh *Share) {
	sh.withLegacyFiles()
	st.deleteShare(sh.TokenHash)
	st.shares[sh.TokenHash] = *sh
	st.indexShare(sh)
}

// indexShare adds sh to the indexes.
func (st *localState) indexShare(sh *Share) {
	for _, f := range sh.Files {
		hashes := st.sharesOfFile[f.FileID]
		if hashes == nil {
			hashes = map[string]bool{}
			st.sharesOfFile[f.FileID] = hashes
		}
		hashes[sh.TokenHash] = true
	}
	st.shareHashes[sh.ID] = sh.TokenHash
}

// deleteShare removes the share of that token hash, if there is one, and
// its index entries.
func (st *localState) deleteShare(hash string) {
	sh, ok := st.shares[hash]
	if !ok {
		return
	}
	delete(st.shares, hash)
	delete(st.shareHashes, sh.ID)
	for _, f := range sh.Files {
		if hashes := st.sharesOfFile[f.FileID]; hashes != nil {
			delete(hashes, hash)
			if len(hashes) == 0 {
				delete(st.sharesOfFile, f.FileID)
			}
		}
	}
}

// indexShares rebuilds the indexes from the shares, after a bulk removal
// (dropExpired).
func (st *localState) indexShares() {
	st.sharesOfFile, st.shareHashes = map[string]map[string]bool{}, map[string]string{}
	for _, sh := range st.shares {
		st.indexShare(&sh)
	}
}

// ShareLink returns the usable share of that token hash.
func (s *localStore) ShareLink(ctx context.Context, hash string, now time.Time) (Share, error) {
	var found Share
	err := s.view(ctx, func(st *localState) error {
		sh, err := st.usableShare(hash, now)
		found = sh
		return err
	})
	return found, err
}

// CountShareDownload counts one download of the file of the usable share
// of link's token hash, as stored (link's counts are not needed). The
// write lock makes the check and the count one step. The share is stored
// back with only the files still there.
func (s *localStore) CountShareDownload(ctx context.Context, link Share, fileID string, now time.Time) (Share, error) {
	var counted Share
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		sh, err := st.usableShare(link.TokenHash, now)
		if err != nil {
			return nil, err
		}
		f := sh.file(fileID)
		if f == nil || sh.fileUsedUp(f) {
			return nil, ErrNotFound
		}
		f.Downloads++
		counted = cloneLocalShare(sh)
		return localShares.put(&sh), nil
	})
	if err != nil {
		return Share{}, err
	}
	return counted, nil
}

// usableShare returns a copy of the share of that token hash, with the
// files still there, if it is unexpired and not used up (which a share
// with no file left is).
func (st *localState) usableShare(hash string, now time.Time) (Share, error) {
	sh, ok := localShares.lookup(st, hash, now)
	if !ok {
		return Share{}, ErrNotFound
	}
	if sh = st.presentShare(sh); sh.usedUp() {
		return Share{}, ErrNotFound
	}
	return sh, nil
}

// cloneLocalShare copies sh, its maximum and its files, so callers and
// the store never share memory.
func cloneLocalShare(sh Share) Share {
	sh.MaxDownloads = cloneLocalPtr(sh.MaxDownloads)
	sh.Files = slices.Clone(sh.Files)
	return sh
}

// GetShare returns the owner's unexpired share with that ID.
func (s *localStore) GetShare(ctx context.Context, owner, id string, now time.Time) (Share, error) {
	var found Share
	err := s.view(ctx, func(st *localState) error {
		sh, err := st.ownerShare(owner, id, now)
		found = st.presentShare(sh)
		return err
	})
	return found, err
}

// ownerShare returns the owner's unexpired share with that ID, as stored.
func (st *localState) ownerShare(owner, id string, now time.Time) (Share, error) {
	sh, ok := localShares.lookup(st, st.shareHashes[id], now)
	if !ok || sh.Owner != owner {
		return Share{}, ErrNotFound
	}
	return cloneLocalShare(sh), nil
}

// AddShareFiles appends the files to the share under the write lock,
// checking each file's live shares, as InsertShare does, and the drop's
// cap as it writes: all go in, or none.
func (s *localStore) AddShareFiles(ctx context.Context, owner, shareID string, fileIDs []string, maxLive int, now time.Time) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		sh, err := st.ownerShare(owner, shareID, now)
		if err != nil {
			return nil, err
		}
		sh = st.presentShare(sh) // a file gone for good need not be kept, nor counted
		had := len(sh.Files)
		for _, fileID := range fileIDs {
			if sh.file(fileID) != nil {
				continue
			}
			if maxLive > 0 && len(st.liveShares(owner, fileID, now)) >= maxLive {
				return nil, ErrTooManyShares
			}
			sh.Files = append(sh.Files, ShareFile{FileID: fileID})
		}
		switch {
		case len(sh.Files) == had:
			return nil, nil // every file in already
		case len(sh.Files) > maxDropFiles:
			return nil, ErrDropFull
		}
		return localShares.put(&sh), nil
	})
}

// RemoveShareFile takes the file out of the share under the write lock.
func (s *localStore) RemoveShareFile(ctx context.Context, owner, shareID, fileID string, now time.Time) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		sh, err := st.ownerShare(owner, shareID, now)
		if err != nil {
			return nil, err
		}
		sh = st.presentShare(sh)
		n := len(sh.Files)
		if sh.Files = slices.DeleteFunc(sh.Files, func(f ShareFile) bool { return f.FileID == fileID }); len(sh.Files) == n {
			return nil, ErrNotFound
		}
		return localShares.put(&sh), nil
	})
}
