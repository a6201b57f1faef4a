package main

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// The in-memory store's personal access tokens (tokenStore), kept among
// its credentials as the real stores keep them.

func (m *memStore) ListTokens(_ context.Context, userID string, now time.Time) ([]Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tokens := []Credential{}
	for _, c := range m.creds {
		if c.Kind == kindPAT && c.UserID == userID && c.ExpiresAt.After(now) {
			tokens = append(tokens, c)
		}
	}
	slices.SortFunc(tokens, func(a, b Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.TokenID, b.TokenID))
	})
	return tokens, nil
}

func (m *memStore) DeleteToken(_ context.Context, userID, tokenID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.creds {
		if c.Kind == kindPAT && c.UserID == userID && c.TokenID == tokenID {
			delete(m.creds, k)
			return nil
		}
	}
	return ErrNotFound
}

func (m *memStore) TouchToken(_ context.Context, hash string, at time.Time, every time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := kindPAT + "/" + hash
	c, ok := m.creds[k]
	at = localTime(at)
	if !ok || (!c.LastUsedAt.IsZero() && c.LastUsedAt.After(at.Add(-every))) {
		return false, nil
	}
	c.LastUsedAt = at
	m.creds[k] = c
	return true, nil
}
