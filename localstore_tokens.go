package main

// Personal access tokens on the local store (see tokens.go): credentials
// of kind kindPAT among the others.

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// ListTokens walks the credentials: a user has few, and listing is rare.
func (s *localStore) ListTokens(ctx context.Context, userID string, now time.Time) ([]Credential, error) {
	tokens := []Credential{}
	err := s.view(ctx, func(st *localState) error {
		for _, c := range st.creds {
			if c.Kind == kindPAT && c.UserID == userID && !localExpired(c.ExpiresAt, now) {
				tokens = append(tokens, c)
			}
		}
		return nil
	})
	slices.SortFunc(tokens, func(a, b Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.TokenID, b.TokenID))
	})
	return tokens, err
}

// DeleteToken finds and deletes the token in one step under the write lock.
func (s *localStore) DeleteToken(ctx context.Context, userID, tokenID string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		for k, c := range st.creds {
			if c.Kind == kindPAT && c.UserID == userID && c.TokenID == tokenID {
				return localCreds.del(k), nil
			}
		}
		return nil, ErrNotFound
	})
}

// TouchToken checks the last use and writes the new one under the write
// lock, so of concurrent calls one writes; the others write nothing.
func (s *localStore) TouchToken(ctx context.Context, hash string, at time.Time, every time.Duration) (bool, error) {
	at = localTime(at)
	wrote := false
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		c, ok := st.creds[localCredKey{kindPAT, hash}]
		if !ok || (!c.LastUsedAt.IsZero() && c.LastUsedAt.After(at.Add(-every))) {
			return nil, nil
		}
		c.LastUsedAt, wrote = at, true
		return localCreds.put(&c), nil
	})
	return wrote && err == nil, err
}
