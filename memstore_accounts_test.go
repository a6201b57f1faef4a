package main

import (
	"context"
	"sync"
	"time"
)

// memInvitations keeps the benchmark store's invitations (bench_test.go's
// memStore predates accounts; its struct is left as it was).
var memInvitations = struct {
	sync.Mutex
	m map[*memStore]map[string]Invitation
}{m: map[*memStore]map[string]Invitation{}}

func (m *memStore) InsertInvitation(_ context.Context, inv Invitation) error {
	memInvitations.Lock()
	defer memInvitations.Unlock()
	if memInvitations.m[m] == nil {
		memInvitations.m[m] = map[string]Invitation{}
	}
	if _, dup := memInvitations.m[m][inv.Hash]; dup {
		return ErrConflict
	}
	memInvitations.m[m][inv.Hash] = inv
	return nil
}

func (m *memStore) GetInvitation(_ context.Context, hash string, now time.Time) (Invitation, error) {
	memInvitations.Lock()
	defer memInvitations.Unlock()
	inv, ok := memInvitations.m[m][hash]
	if !ok || !now.Before(inv.ExpiresAt) {
		return Invitation{}, ErrNotFound
	}
	return inv, nil
}

func (m *memStore) TakeInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error) {
	inv, err := m.GetInvitation(ctx, hash, now)
	memInvitations.Lock()
	defer memInvitations.Unlock()
	if _, ok := memInvitations.m[m][hash]; !ok {
		return Invitation{}, ErrNotFound
	}
	delete(memInvitations.m[m], hash)
	return inv, err
}

func (m *memStore) FindAccount(_ context.Context, email string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		if u.Issuer == accountsIssuer && u.Subject == email {
			return u, nil
		}
	}
	return User{}, ErrNotFound
}

func (m *memStore) SetAccountPassword(_ context.Context, id, passwordHash string, admin bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return ErrNotFound
	}
	u.PasswordHash, u.Admin = passwordHash, u.Admin || admin
	m.users[id] = u
	return nil
}
