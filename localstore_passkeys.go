package main

// Passkeys in the local store: records of their own in the log, keyed by
// credential ID (a team's few, so a user's are found by a scan). The
// counter update checks the stored counter under the write lock.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// The log's passkey operations.
const (
	opPutPasskey = "put_passkey"
	opDelPasskey = "del_passkey"
)

var localPasskeys = localKind[string, Passkey]{
	rows: func(st *localState) map[string]Passkey { return st.passkeys },
	key:  func(p *Passkey) string { return p.ID },
	put:  func(p *Passkey) *localRecord { return &localRecord{Op: opPutPasskey, Pass: p} },
	del:  func(id string) *localRecord { return &localRecord{Op: opDelPasskey, Key: id} },
	// Passkeys never expire.
}

func (s *localStore) InsertPasskey(ctx context.Context, p Passkey) error {
	p.CreatedAt, p.LastUsedAt, p.ProvenAt = localTime(p.CreatedAt), localTime(p.LastUsedAt), localTime(p.ProvenAt)
	return localPasskeys.insert(ctx, s, p)
}

func (s *localStore) GetPasskey(ctx context.Context, id string) (Passkey, error) {
	return localPasskeys.get(ctx, s, id, time.Time{})
}

func (s *localStore) UserPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	var list []Passkey
	err := s.view(ctx, func(st *localState) error {
		list = userPasskeys(st.passkeys, userID)
		return nil
	})
	return list, err
}

// userPasskeys picks the user's passkeys out of all, oldest first.
func userPasskeys(all map[string]Passkey, userID string) []Passkey {
	var list []Passkey
	for _, p := range all {
		if p.UserID == userID {
			list = append(list, p)
		}
	}
	slices.SortFunc(list, func(a, b Passkey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return list
}

func (s *localStore) UsePasskey(ctx context.Context, id string, from, count int64, at time.Time) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		p, ok := st.passkeys[id]
		if !ok || p.SignCount != from {
			return nil, ErrNotFound
		}
		p.SignCount, p.LastUsedAt = count, localTime(at)
		return localPasskeys.put(&p), nil
	})
}

func (s *localStore) DeletePasskey(ctx context.Context, id string) error {
	return localPasskeys.remove(ctx, s, id)
}

func (s *localStore) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	var ids []string
	err := s.view(ctx, func(st *localState) error {
		for _, p := range userPasskeys(st.passkeys, userID) {
			ids = append(ids, p.ID)
		}
		return nil
	})
	for _, id := range ids {
		if err == nil {
			err = localPasskeys.remove(ctx, s, id)
		}
	}
	return len(ids), err
}
