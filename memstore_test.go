package main

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMemStoreContract runs the store contract suite on the benchmarks'
// in-memory store, so their figures come from a Store that behaves like the
// real ones.
func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	testStoreContract(t, func(t *testing.T) Store { return newMemStore() })
}

// memStore is a benchmark fixture, not a backend: an in-memory Store that
// takes the store's cost out of the handler benchmarks. It is minimal but
// keeps the Store contract (TestMemStoreContract), so handlers behave as
// they do on MongoDB.
type memStore struct {
	mu      sync.Mutex
	files   map[string]*File   // by ID
	byOwner map[string][]*File // each sorted by memOlderFirst
	keys    map[string]bool    // object keys in use
	creds   map[string]Credential
	users   map[string]User // by ID
	states  map[string]AuthState
	codes   map[string]AuthCode
	invites map[string]Invitation // by hash
	hooks   memWebhooks           // memstore_webhooks_test.go

	fileRequests // memstore_requests_test.go

	passkeys map[string]Passkey // by credential ID; memstore_passkeys_test.go
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		files: map[string]*File{}, byOwner: map[string][]*File{}, keys: map[string]bool{},
		creds: map[string]Credential{}, users: map[string]User{},
		states: map[string]AuthState{}, codes: map[string]AuthCode{}, invites: map[string]Invitation{},
	}
}

// memOlderFirst orders a user's files as they are kept: the reverse of the
// API's order, so that a new file is appended rather than inserted.
func memOlderFirst(a, b *File) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// memCopy returns a deep copy of a file, so that neither the caller's nor
// the stored one changes the other.
func memCopy(f *File) *File {
	c := cloneLocalFile(f)
	return &c
}

func (m *memStore) Ping(context.Context) error { return nil }

func (m *memStore) Close(context.Context) error { return nil }

func (m *memStore) InsertFile(_ context.Context, f *File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[f.ID] != nil || m.keys[f.ObjectKey] {
		return ErrConflict
	}
	n := normalizeLocalFile(f) // times as MongoDB keeps them
	stored := &n
	m.files[f.ID], m.keys[f.ObjectKey] = stored, true
	list := m.byOwner[f.Owner]
	i, _ := slices.BinarySearchFunc(list, stored, memOlderFirst)
	m.byOwner[f.Owner] = slices.Insert(list, i, stored)
	return nil
}

// find returns the stored file if owner owns it; the caller holds m.mu.
func (m *memStore) find(owner, id string) (*File, error) {
	f := m.files[id]
	if f == nil || f.Owner != owner {
		return nil, ErrNotFound
	}
	return f, nil
}

func (m *memStore) GetFile(_ context.Context, owner, id string) (*File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.findLive(owner, id)
	if err != nil {
		return nil, err
	}
	return memCopy(f), nil
}

func (m *memStore) ListFiles(_ context.Context, q ListQuery) ([]File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.byOwner[q.Owner]
	if q.After != nil { // keep only the files older than the cursor
		i, _ := slices.BinarySearchFunc(list, &File{CreatedAt: q.After.CreatedAt, ID: q.After.ID}, memOlderFirst)
		list = list[:i]
	}
	out := make([]File, 0, min(len(list), max(q.Limit, 0)))
	for i := len(list) - 1; i >= 0 && (q.Limit <= 0 || len(out) < q.Limit); i-- {
		if q.Status == "" && list[i].Status != statusDeleted || list[i].Status == q.Status {
			out = append(out, *list[i])
		}
	}
	memDetach(out)
	return out, nil
}

// memDetach gives a page's files pointer fields of their own, as the
// contract asks, taken from one block per field for the whole page: a copy
// per file would make the fixture's cost, not the handler's, dominate the
// list benchmark.
func memDetach(files []File) {
	sizes := make([]int64, 2*len(files))
	times := make([]time.Time, len(files))
	for i := range files {
		f := &files[i]
		if f.DeclaredSize != nil {
			sizes[2*i] = *f.DeclaredSize
			f.DeclaredSize = &sizes[2*i]
		}
		if f.Size != nil {
			sizes[2*i+1] = *f.Size
			f.Size = &sizes[2*i+1]
		}
		if f.CompletedAt != nil {
			times[i] = *f.CompletedAt
			f.CompletedAt = &times[i]
		}
	}
}

func (m *memStore) CompleteFile(_ context.Context, owner, id, key string, size int64, etag string, at time.Time) (*File, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.findLive(owner, id)
	if err != nil {
		return nil, false, err
	}
	completed := f.Status == statusPending
	if completed {
		at = localTime(at)
		f.Status, f.Size, f.ETag, f.CompletedAt = statusComplete, &size, etag, &at
		if key != "" {
			delete(m.keys, f.ObjectKey)
			f.ObjectKey, m.keys[key] = key, true
		}
	}
	return memCopy(f), completed, nil
}

func (m *memStore) DeleteFile(_ context.Context, owner, id string) (*File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil {
		return nil, err
	}
	delete(m.files, id)
	delete(m.keys, f.ObjectKey)
	m.byOwner[owner] = slices.DeleteFunc(m.byOwner[owner], func(g *File) bool { return g == f })
	return memCopy(f), nil
}

// findLive is find for the owner's reads: a file held deleted is missing.
func (m *memStore) findLive(owner, id string) (*File, error) {
	f, err := m.find(owner, id)
	if err == nil && f.Status == statusDeleted {
		return nil, ErrNotFound
	}
	return f, err
}

func (m *memStore) HoldDeletedFile(_ context.Context, owner, id string) (*File, error) {
	return m.hold(owner, id, false)
}

func (m *memStore) HoldPendingFile(_ context.Context, owner, id string) (*File, error) {
	return m.hold(owner, id, true)
}

// hold marks the owner's file that names a staging key deleted; if
// pendingOnly, only a file still pending.
func (m *memStore) hold(owner, id string, pendingOnly bool) (*File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.findLive(owner, id)
	if err != nil || f.StagingKey == "" || pendingOnly && f.Status != statusPending {
		return nil, ErrNotFound
	}
	held := memCopy(f)
	f.Status = statusDeleted
	return held, nil
}

func (m *memStore) DeleteAbandonedFile(_ context.Context, owner, id string, createdBefore time.Time) (*File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.find(owner, id)
	if err != nil || f.Status != statusPending || !f.CreatedAt.Before(createdBefore) {
		return nil, ErrNotFound
	}
	delete(m.files, id)
	delete(m.keys, f.ObjectKey)
	m.byOwner[owner] = slices.DeleteFunc(m.byOwner[owner], func(g *File) bool { return g == f })
	return memCopy(f), nil
}

// memInsert stores v under key, refusing a key in use as the stores'
// unique indexes do.
func memInsert[T any](mu *sync.Mutex, table map[string]T, key string, v T) error {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := table[key]; dup {
		return ErrConflict
	}
	table[key] = v
	return nil
}

// memLive returns the record under key unless it has expired by now.
func memLive[T any](mu *sync.Mutex, table map[string]T, key string, now time.Time, expires func(T) time.Time) (T, error) {
	mu.Lock()
	defer mu.Unlock()
	return memLiveLocked(table, key, now, expires)
}

// memTake is memLive for a one-time record: it is gone after, live or not.
func memTake[T any](mu *sync.Mutex, table map[string]T, key string, now time.Time, expires func(T) time.Time) (T, error) {
	mu.Lock()
	defer mu.Unlock()
	v, err := memLiveLocked(table, key, now, expires)
	delete(table, key)
	return v, err
}

// memDeleteWhere deletes, under mu, the entries of table that match, and
// counts them.
func memDeleteWhere[K comparable, T any](mu *sync.Mutex, table map[K]T, match func(T) bool) int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for k, v := range table {
		if match(v) {
			delete(table, k)
			n++
		}
	}
	return n
}

func memLiveLocked[T any](table map[string]T, key string, now time.Time, expires func(T) time.Time) (T, error) {
	v, ok := table[key]
	if !ok || !now.Before(expires(v)) {
		var none T
		return none, ErrNotFound
	}
	return v, nil
}

func credentialExpires(c Credential) time.Time { return c.ExpiresAt }
func authStateExpires(s AuthState) time.Time   { return s.ExpiresAt }
func authCodeExpires(c AuthCode) time.Time     { return c.ExpiresAt }
func invitationExpires(i Invitation) time.Time { return i.ExpiresAt }

func (m *memStore) InsertCredential(_ context.Context, c Credential) error {
	return memInsert(&m.mu, m.creds, c.Kind+"/"+c.Hash, c)
}

func (m *memStore) FindCredential(_ context.Context, kind, hash string, now time.Time) (Credential, error) {
	c, err := memLive(&m.mu, m.creds, kind+"/"+hash, now, credentialExpires)
	if err != nil {
		return c, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c.UserDisabled = m.users[c.UserID].Disabled
	return c, nil
}

func (m *memStore) DeleteCredential(_ context.Context, kind, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.creds, kind+"/"+hash)
	return nil
}

func (m *memStore) UpsertUser(_ context.Context, u User) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, old := range m.users {
		if old.Issuer == u.Issuer && old.Subject == u.Subject {
			u.ID = id
			m.users[id] = u
			return u, nil
		}
	}
	u.ID = newID()
	m.users[u.ID] = u
	return u, nil
}

func (m *memStore) GetUser(_ context.Context, id string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (m *memStore) InsertAuthState(_ context.Context, s AuthState) error {
	return memInsert(&m.mu, m.states, s.Hash, s)
}

func (m *memStore) TakeAuthState(_ context.Context, hash string, now time.Time) (AuthState, error) {
	return memTake(&m.mu, m.states, hash, now, authStateExpires)
}

func (m *memStore) InsertAuthCode(_ context.Context, c AuthCode) error {
	return memInsert(&m.mu, m.codes, c.Hash, c)
}

func (m *memStore) TakeAuthCode(_ context.Context, hash string, now time.Time) (AuthCode, error) {
	return memTake(&m.mu, m.codes, hash, now, authCodeExpires)
}

// memStore exercises no share link: it keeps none.

func (m *memStore) InsertShare(context.Context, Share, int) error { return nil }

func (m *memStore) ListShares(context.Context, ShareQuery) ([]Share, error) {
	return []Share{}, nil
}

func (m *memStore) DeleteShare(context.Context, string, string) error { return ErrNotFound }

func (m *memStore) ShareLink(context.Context, string, time.Time) (Share, error) {
	return Share{}, ErrNotFound
}

func (m *memStore) CountShareDownload(context.Context, Share, string, time.Time) (Share, error) {
	return Share{}, ErrNotFound
}

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
		u.add(f)
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

func (m *memStore) MarkCredentialsReset(_ context.Context, id string, at time.Time) error {
	return m.editUser(id, func(u *User) { u.CredentialsResetAt = at })
}

func (m *memStore) DeleteUserCredentials(_ context.Context, userID string) (int, error) {
	return memDeleteWhere(&m.mu, m.creds, func(c Credential) bool { return c.UserID == userID }), nil
}

func (m *memStore) PendingFilesBefore(_ context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return m.filesBefore(func(f *File) bool { return f.Status == statusPending }, t, after, limit)
}

func (m *memStore) StagedFilesBefore(_ context.Context, t time.Time, after *Cursor, limit int) ([]File, error) {
	return m.filesBefore(func(f *File) bool {
		return (f.Status == statusComplete || f.Status == statusDeleted) && f.StagingKey != ""
	}, t, after, limit)
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
	return memDeleteWhere(&m.mu, m.creds, func(c Credential) bool { return !now.Before(c.ExpiresAt) }), nil
}

func (m *memStore) HasObjectKey(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[key], nil
}

// ---- Accounts (accounts.go) ----

func (m *memStore) InsertInvitation(_ context.Context, inv Invitation) error {
	return memInsert(&m.mu, m.invites, inv.Hash, inv)
}

func (m *memStore) GetInvitation(_ context.Context, hash string, now time.Time) (Invitation, error) {
	return memLive(&m.mu, m.invites, hash, now, invitationExpires)
}

func (m *memStore) TakeInvitation(_ context.Context, hash string, now time.Time) (Invitation, error) {
	return memTake(&m.mu, m.invites, hash, now, invitationExpires)
}

func (m *memStore) DeleteInvitations(_ context.Context, email string) (int, error) {
	return memDeleteWhere(&m.mu, m.invites, func(inv Invitation) bool { return inv.Email == email }), nil
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
