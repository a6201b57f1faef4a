package main

import (
	"context"
	"slices"
	"time"
)

// The memStore benchmark fixture's share of the quota, admin and sweeper
// methods: enough for the handler benchmarks, which set no quota.

func (m *memStore) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	m.mu.Lock()
	u := m.usageLocked(f.Owner)
	m.mu.Unlock()
	if !q.allows(u, f.Charged) {
		return ErrQuotaExceeded // not atomic: benchmarks never race at a quota
	}
	return m.InsertFile(ctx, f)
}

func (m *memStore) SettleCharge(_ context.Context, owner, id string, from, to int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil {
		return err
	}
	if f.Charged != from {
		return ErrConflict
	}
	f.Charged = to
	return nil
}

func (m *memStore) GetUsage(_ context.Context, owner string) (Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usageLocked(owner), nil
}

func (m *memStore) UsageByOwner(_ context.Context) (map[string]Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	usage := map[string]Usage{}
	for owner := range m.byOwner {
		usage[owner] = m.usageLocked(owner)
	}
	return usage, nil
}

// usageLocked sums the owner's files; the caller holds m.mu.
func (m *memStore) usageLocked(owner string) Usage {
	var u Usage
	for _, f := range m.byOwner[owner] {
		u.Bytes += f.Charged
		u.Files++
	}
	return u
}

func (m *memStore) ListUsers(context.Context) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	users := []User{}
	for _, u := range m.users {
		users = append(users, u)
	}
	return users, nil
}

func (m *memStore) SetUserDisabled(_ context.Context, id string, disabled bool) error {
	return m.editUser(id, func(u *User) { u.Disabled = disabled })
}

func (m *memStore) TouchUser(_ context.Context, id string, at time.Time) error {
	return m.editUser(id, func(u *User) { u.LastSeenAt = at })
}

func (m *memStore) editUser(id string, edit func(*User)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return ErrNotFound
	}
	edit(&u)
	m.users[id] = u
	return nil
}

func (m *memStore) DeleteUserCredentials(_ context.Context, userID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.creds {
		if c.UserID == userID {
			delete(m.creds, k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) PendingFilesBefore(_ context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return m.filesBefore(func(f *File) bool { return f.Status == statusPending }, t, after, limit)
}

func (m *memStore) StagedFilesBefore(_ context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return m.filesBefore(func(f *File) bool { return f.Status == statusComplete && f.StagingKey != "" }, t, after, limit)
}

func (m *memStore) ClearStagingKey(_ context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err == nil && f.Status == statusComplete {
		f.StagingKey = ""
	}
	return err
}

func (m *memStore) filesBefore(match func(*File) bool, t time.Time, after *Cursor, limit int) ([]File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	files := []File{}
	for _, f := range m.files {
		if match(f) && f.CreatedAt.Before(t) && (after == nil || compareLocalCursor(f, *after) > 0) {
			files = append(files, *memCopy(f))
		}
	}
	slices.SortFunc(files, func(a, b File) int { return compareLocalFiles(&a, &b) })
	return files[:min(limit, len(files))], nil
}

func (m *memStore) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.creds {
		if !now.Before(c.ExpiresAt) {
			delete(m.creds, k)
			n++
		}
	}
	return n, nil
}

func (m *memStore) HasObjectKey(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[key], nil
}
