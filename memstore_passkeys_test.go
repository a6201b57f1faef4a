package main

import (
	"context"
	"time"
)

// The in-memory store's passkeys (store.go's passkeyStore).

func (m *memStore) InsertPasskey(_ context.Context, p Passkey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.passkeys == nil {
		m.passkeys = map[string]Passkey{}
	}
	if _, dup := m.passkeys[p.ID]; dup {
		return ErrConflict
	}
	p.CreatedAt, p.LastUsedAt = localTime(p.CreatedAt), localTime(p.LastUsedAt)
	m.passkeys[p.ID] = p
	return nil
}

func (m *memStore) GetPasskey(_ context.Context, id string) (Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok {
		return Passkey{}, ErrNotFound
	}
	return p, nil
}

func (m *memStore) UserPasskeys(_ context.Context, userID string) ([]Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return userPasskeys(m.passkeys, userID), nil
}

func (m *memStore) UsePasskey(_ context.Context, id string, from, count int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok || p.SignCount != from {
		return ErrNotFound
	}
	p.SignCount, p.LastUsedAt = count, localTime(at)
	m.passkeys[id] = p
	return nil
}

func (m *memStore) DeletePasskey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.passkeys, id)
	return nil
}

func (m *memStore) DeleteUserPasskeys(_ context.Context, userID string) (int, error) {
	return memDeleteWhere(&m.mu, m.passkeys, func(p Passkey) bool { return p.UserID == userID }), nil
}
