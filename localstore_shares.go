package main

// The local store's share links. Shares are kept by token hash, the key of
// the public lookups, and indexed by file and by ID (sharesOfFile,
// shareHashes), so that the owner's calls read only the file's shares.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// InsertShare stores a new share; one with the same token hash is
// ErrConflict. The count of the file's live shares and the insert are one
// step under the write lock, so the limit holds exactly.
func (s *localStore) InsertShare(ctx context.Context, sh Share, maxLive int) error {
	sh.CreatedAt, sh.ExpiresAt = localTime(sh.CreatedAt), localTime(sh.ExpiresAt)
	sh.MaxDownloads = cloneLocalPtr(sh.MaxDownloads)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, dup := st.shares[sh.TokenHash]; dup {
			return nil, ErrConflict
		}
		if maxLive > 0 && len(st.liveShares(sh.Owner, sh.FileID, sh.CreatedAt)) >= maxLive {
			return nil, ErrTooManyShares
		}
		return localShares.put(&sh), nil
	})
}

// ListShares returns a page of the owner's unexpired shares of the file,
// oldest first.
func (s *localStore) ListShares(ctx context.Context, q ShareQuery) ([]Share, error) {
	var page []Share
	err := s.view(ctx, func(st *localState) error {
		for _, sh := range st.liveShares(q.Owner, q.FileID, q.Now) {
			if q.After == nil || compareShares(sh, Share{CreatedAt: q.After.CreatedAt, ID: q.After.ID}) > 0 {
				page = append(page, cloneLocalShare(sh))
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

// compareShares orders shares as they are listed: by CreatedAt, then ID.
func compareShares(a, b Share) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// liveShares returns the owner's shares of the file that are unexpired at
// now and whose file is still there, unordered.
func (st *localState) liveShares(owner, fileID string, now time.Time) []Share {
	var live []Share
	for hash := range st.sharesOfFile[fileID] {
		sh := st.shares[hash]
		if sh.Owner == owner && !localExpired(sh.ExpiresAt, now) && st.shareFileExists(&sh) {
			live = append(live, sh)
		}
	}
	return live
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

// putShare stores sh, replacing the share of its token hash, and indexes it.
func (st *localState) putShare(sh *Share) {
	st.deleteShare(sh.TokenHash)
	st.shares[sh.TokenHash] = *sh
	st.indexShare(sh)
}

// indexShare adds sh to the indexes.
func (st *localState) indexShare(sh *Share) {
	hashes := st.sharesOfFile[sh.FileID]
	if hashes == nil {
		hashes = map[string]bool{}
		st.sharesOfFile[sh.FileID] = hashes
	}
	hashes[sh.TokenHash] = true
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
	if hashes := st.sharesOfFile[sh.FileID]; hashes != nil {
		delete(hashes, hash)
		if len(hashes) == 0 {
			delete(st.sharesOfFile, sh.FileID)
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

// CountShareDownload counts one download of the usable share of that token
// hash. The write lock makes the check and the count one step.
func (s *localStore) CountShareDownload(ctx context.Context, hash string, now time.Time) (Share, error) {
	var counted Share
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		sh, err := st.usableShare(hash, now)
		if err != nil {
			return nil, err
		}
		sh.Downloads++
		counted = cloneLocalShare(sh)
		return localShares.put(&sh), nil
	})
	if err != nil {
		return Share{}, err
	}
	return counted, nil
}

// usableShare returns a copy of the share of that token hash if it is
// unexpired, not used up and its file is still there.
func (st *localState) usableShare(hash string, now time.Time) (Share, error) {
	sh, ok := localShares.lookup(st, hash, now)
	if !ok || sh.usedUp() || !st.shareFileExists(&sh) {
		return Share{}, ErrNotFound
	}
	return cloneLocalShare(sh), nil
}

// cloneLocalShare copies sh and its maximum, so callers and the store
// never share memory.
func cloneLocalShare(sh Share) Share {
	sh.MaxDownloads = cloneLocalPtr(sh.MaxDownloads)
	return sh
}
