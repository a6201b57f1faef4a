package main

// The local store's share links. Shares are kept by token hash, the key of
// the public lookups; the owner's calls (list, revoke) walk them all, which
// a single-user local store keeps small.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// InsertShare stores a new share; one with the same token hash is ErrConflict.
func (s *localStore) InsertShare(ctx context.Context, sh Share) error {
	sh.CreatedAt, sh.ExpiresAt = localTime(sh.CreatedAt), localTime(sh.ExpiresAt)
	sh.MaxDownloads = cloneLocalPtr(sh.MaxDownloads)
	return localShares.insert(ctx, s, sh)
}

// ListShares returns the owner's unexpired shares of the file, oldest first.
func (s *localStore) ListShares(ctx context.Context, owner, fileID string, now time.Time) ([]Share, error) {
	list := []Share{}
	err := s.view(ctx, func(st *localState) error {
		for _, sh := range st.shares {
			if sh.Owner == owner && sh.FileID == fileID && !localExpired(sh.ExpiresAt, now) && st.shareFileExists(&sh) {
				list = append(list, cloneLocalShare(sh))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b Share) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list, nil
}

// DeleteShare removes the owner's share with that ID.
func (s *localStore) DeleteShare(ctx context.Context, owner, id string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		for hash, sh := range st.shares {
			if sh.ID == id && sh.Owner == owner {
				return localShares.del(hash), nil
			}
		}
		return nil, ErrNotFound
	})
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
