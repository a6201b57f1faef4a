package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// localCredKey identifies a credential: a hash is unique within its kind.
type localCredKey struct{ kind, hash string }

// localIdentity is what a user is keyed by at the identity provider.
type localIdentity struct{ issuer, subject string }

// localState is the local store's whole state in memory. The store's lock
// guards it; apply is the only way it changes, both at replay and at run
// time, so the log and the memory cannot disagree.
type localState struct {
	files      map[string]*File   // by ID, across owners: IDs are unique
	objectKeys map[string]string  // ObjectKey → file ID, for the uniqueness rule
	byOwner    map[string][]*File // each sorted by (CreatedAt, ID) ascending; nil during replay
	// usage is each owner's running sum of what their files count
	// (Usage.add), kept by putFile and deleteFile, during replay too, so
	// that /me and a quota check read one entry, not the owner's files.
	// An owner whose files count nothing has no entry.
	usage      map[string]Usage
	creds      map[localCredKey]Credential
	users      map[string]User
	identities map[localIdentity]string // → user ID
	states     map[string]AuthState     // by hash
	codes      map[string]AuthCode      // by hash
	shares     map[string]Share         // by token hash
	passkeys   map[string]Passkey       // by credential ID (localstore_passkeys.go)
	// Indexes of shares (putShare, deleteShare), so that a file's list and
	// a revoke read only what they need.
	sharesOfFile map[string]map[string]bool // file ID → token hashes of its shares
	shareHashes  map[string]string          // share ID → token hash
	webhooks     map[string]Webhook         // by ID (localstore_webhooks.go)
	deliveries   map[string]WebhookDelivery // by ID
	requests     map[string]FileRequest     // by ID (localstore_requests.go)
}

// newLocalState returns an empty state ready for replay: files are indexed
// by owner once, after the whole log is read (buildOwnerIndex).
func newLocalState() *localState {
	return &localState{
		files:      map[string]*File{},
		objectKeys: map[string]string{},
		usage:      map[string]Usage{},
		creds:      map[localCredKey]Credential{},
		users:      map[string]User{},
		identities: map[localIdentity]string{},
		states:     map[string]AuthState{},
		codes:      map[string]AuthCode{},
		shares:     map[string]Share{},
		passkeys:   map[string]Passkey{},

		sharesOfFile: map[string]map[string]bool{},
		shareHashes:  map[string]string{},
		webhooks:     map[string]Webhook{},
		deliveries:   map[string]WebhookDelivery{},
		requests:     map[string]FileRequest{},
	}
}

// errLocalRecord: a record is missing the document its operation needs.
var errLocalRecord = errors.New("malformed record")

// apply makes the change rec describes. Deleting what is not there is fine:
// replay may meet a delete whose put was dropped as expired.
func (st *localState) apply(rec *localRecord) error {
	switch {
	case rec.Op == opPutFile && rec.File != nil:
		st.putFile(rec.File) // kept as it is: callers pass a copy of their own or a freshly decoded record
	case rec.Op == opDelFile:
		st.deleteFile(rec.Key)
	case rec.Op == opPutCred && rec.Cred != nil:
		localCreds.store(st, rec.Cred)
	case rec.Op == opDelCred:
		delete(st.creds, localCredKey{rec.Kind, rec.Key})
	case rec.Op == opPutUser && rec.User != nil:
		localUsers.store(st, rec.User)
		st.identities[localIdentity{rec.User.Issuer, rec.User.Subject}] = rec.User.ID
	case rec.Op == opPutState && rec.State != nil:
		localStates.store(st, rec.State)
	case rec.Op == opDelState:
		delete(st.states, rec.Key)
	case rec.Op == opPutCode && rec.Code != nil:
		localCodes.store(st, rec.Code)
	case rec.Op == opDelCode:
		delete(st.codes, rec.Key)
	case rec.Op == opPutShare && rec.Share != nil:
		st.putShare(rec.Share)
	case rec.Op == opDelShare:
		st.deleteShare(rec.Key)
	case rec.Op == opPutWebhook && rec.Hook != nil:
		localWebhooks.store(st, rec.Hook)
	case rec.Op == opDelWebhook:
		delete(st.webhooks, rec.Key)
	case rec.Op == opPutDelivery && rec.Deliv != nil:
		localDeliveries.store(st, rec.Deliv)
	case rec.Op == opPutReq && rec.Req != nil:
		localRequests.store(st, rec.Req)
	case rec.Op == opDelReq:
		delete(st.requests, rec.Key)
	case rec.Op == opPutPasskey && rec.Pass != nil:
		localPasskeys.store(st, rec.Pass)
	case rec.Op == opDelPasskey:
		delete(st.passkeys, rec.Key)
	case rec.Op == opPutOutbox: // the deliveries below, alone
	default:
		return fmt.Errorf("%w: op %q", errLocalRecord, rec.Op)
	}
	for i := range rec.Outbox {
		localDeliveries.store(st, &rec.Outbox[i])
	}
	return nil
}

// putFile inserts f or replaces the file with its ID.
func (st *localState) putFile(f *File) {
	if old := st.files[f.ID]; old != nil {
		st.deleteFile(old.ID)
	}
	st.files[f.ID] = f
	st.objectKeys[f.ObjectKey] = f.ID
	st.countUsage(f, 1) // localstore_quota.go
	if st.byOwner != nil {
		list := st.byOwner[f.Owner]
		i, _ := slices.BinarySearchFunc(list, f, compareLocalFiles)
		st.byOwner[f.Owner] = slices.Insert(list, i, f)
	}
}

// deleteFile removes the file with that ID, if there is one.
func (st *localState) deleteFile(id string) {
	f := st.files[id]
	if f == nil {
		return
	}
	delete(st.files, id)
	delete(st.objectKeys, f.ObjectKey)
	st.countUsage(f, -1) // localstore_quota.go
	if st.byOwner == nil {
		return
	}
	list := st.byOwner[f.Owner]
	if i, found := slices.BinarySearchFunc(list, f, compareLocalFiles); found {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(st.byOwner, f.Owner)
	} else {
		st.byOwner[f.Owner] = list
	}
}

// buildOwnerIndex sorts every owner's files once after replay, which is
// much cheaper than keeping them sorted record by record.
func (st *localState) buildOwnerIndex() {
	st.byOwner = map[string][]*File{}
	for _, f := range st.files {
		st.byOwner[f.Owner] = append(st.byOwner[f.Owner], f)
	}
	for owner, list := range st.byOwner {
		slices.SortFunc(list, compareLocalFiles)
		st.byOwner[owner] = slices.Clip(list)
	}
}

// compareLocalFiles orders files by (CreatedAt, ID), oldest first.
func compareLocalFiles(a, b *File) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// compareLocalCursor orders a file against a cursor position like compareLocalFiles.
func compareLocalCursor(f *File, c Cursor) int {
	if d := f.CreatedAt.Compare(c.CreatedAt); d != 0 {
		return d
	}
	return strings.Compare(f.ID, c.ID)
}

// ownedFile returns the file with that ID if owner owns it. Another owner's
// file is reported exactly like a missing one.
func (st *localState) ownedFile(owner, id string) (*File, error) {
	f := st.files[id]
	if f == nil || f.Owner != owner {
		return nil, ErrNotFound
	}
	return f, nil
}

// liveFile is ownedFile for the owner's reads: a file held deleted
// (statusDeleted) is missing.
func (st *localState) liveFile(owner, id string) (*File, error) {
	f, err := st.ownedFile(owner, id)
	if err == nil && f.Status == statusDeleted {
		return nil, ErrNotFound
	}
	return f, err
}

// listFiles walks the owner's files from newest to oldest, starting
// strictly after the cursor, and copies up to q.Limit that match q.Status.
func (st *localState) listFiles(q ListQuery) []File {
	list := st.byOwner[q.Owner]
	end := len(list)
	if q.After != nil {
		after := Cursor{CreatedAt: localTime(q.After.CreatedAt), ID: q.After.ID}
		end, _ = slices.BinarySearchFunc(list, after, compareLocalCursor)
	}
	page := make([]File, 0, max(0, min(q.Limit, end)))
	for i := end - 1; i >= 0 && len(page) < q.Limit; i-- {
		if q.Status == "" && list[i].Status != statusDeleted || list[i].Status == q.Status {
			page = append(page, cloneLocalFile(list[i]))
		}
	}
	return page
}

// dropExpired forgets credentials, states, codes and shares that have
// expired, the files of shares that are gone, and shares left with none:
// lookups already treat them as missing. (Deleting a file leaves its
// shares in place, a delete record staying one record, but takes it out of
// them: every share read keeps only the files still there, presentShare.)
func (st *localState) dropExpired(now time.Time) {
	for _, t := range localTables {
		t.dropExpired(st, now)
	}
	for hash, sh := range st.shares {
		if sh = st.presentShare(sh); len(sh.Files) == 0 {
			delete(st.shares, hash)
		} else {
			st.shares[hash] = sh
		}
	}
	st.indexShares()
}

// live counts the documents a compacted log would hold.
func (st *localState) live() int {
	n := len(st.files)
	for _, t := range localTables {
		n += t.size(st)
	}
	return n
}

// eachRecord emits one put record per document: the content of a compacted
// log.
func (st *localState) eachRecord(emit func(*localRecord) error) error {
	for _, t := range localTables {
		if err := t.emitAll(st, emit); err != nil {
			return err
		}
	}
	for _, list := range st.byOwner {
		for _, f := range list {
			if err := emit(&localRecord{Op: opPutFile, File: f}); err != nil {
				return err
			}
		}
	}
	return nil
}

// localKind is one kind of record the state keeps in a plain map, keyed by
// K: what the generic reads and writes need to know of it. Files are not
// one: they have indexes of their own (putFile, deleteFile).
type localKind[K comparable, R any] struct {
	rows    func(st *localState) map[K]R
	key     func(r *R) K
	put     func(r *R) *localRecord // the log record that stores r
	del     func(key K) *localRecord
	expires func(r *R) time.Time // nil: never expires
}

// The kinds kept in plain maps.
var (
	localUsers = localKind[string, User]{
		rows: func(st *localState) map[string]User { return st.users },
		key:  func(u *User) string { return u.ID },
		put:  func(u *User) *localRecord { return &localRecord{Op: opPutUser, User: u} },
		// Users are never deleted and never expire.
	}
	localCreds = localKind[localCredKey, Credential]{
		rows:    func(st *localState) map[localCredKey]Credential { return st.creds },
		key:     func(c *Credential) localCredKey { return localCredKey{c.Kind, c.Hash} },
		put:     func(c *Credential) *localRecord { return &localRecord{Op: opPutCred, Cred: c} },
		del:     func(k localCredKey) *localRecord { return &localRecord{Op: opDelCred, Kind: k.kind, Key: k.hash} },
		expires: func(c *Credential) time.Time { return c.ExpiresAt },
	}
	localStates = localKind[string, AuthState]{
		rows:    func(st *localState) map[string]AuthState { return st.states },
		key:     func(a *AuthState) string { return a.Hash },
		put:     func(a *AuthState) *localRecord { return &localRecord{Op: opPutState, State: a} },
		del:     func(hash string) *localRecord { return &localRecord{Op: opDelState, Key: hash} },
		expires: func(a *AuthState) time.Time { return a.ExpiresAt },
	}
	localCodes = localKind[string, AuthCode]{
		rows:    func(st *localState) map[string]AuthCode { return st.codes },
		key:     func(c *AuthCode) string { return c.Hash },
		put:     func(c *AuthCode) *localRecord { return &localRecord{Op: opPutCode, Code: c} },
		del:     func(hash string) *localRecord { return &localRecord{Op: opDelCode, Key: hash} },
		expires: func(c *AuthCode) time.Time { return c.ExpiresAt },
	}
	localShares = localKind[string, Share]{
		rows:    func(st *localState) map[string]Share { return st.shares },
		key:     func(sh *Share) string { return sh.TokenHash },
		put:     func(sh *Share) *localRecord { return &localRecord{Op: opPutShare, Share: sh} },
		del:     func(hash string) *localRecord { return &localRecord{Op: opDelShare, Key: hash} },
		expires: func(sh *Share) time.Time { return sh.ExpiresAt },
	}
)

// localTable is what walks over every map-kept kind needs, whatever its
// key and record type.
type localTable interface {
	size(st *localState) int
	dropExpired(st *localState, now time.Time)
	emitAll(st *localState, emit func(*localRecord) error) error
}

// localTables lists the map-kept kinds, in the order compaction writes them.
var localTables = []localTable{localUsers, localCreds, localStates, localCodes, localShares, localWebhooks, localDeliveries, localRequests, localPasskeys}

// store puts r into the state, replacing the record with its key.
func (k localKind[K, R]) store(st *localState, r *R) {
	k.rows(st)[k.key(r)] = *r
}

// lookup returns the record under key, unless it has expired by now.
func (k localKind[K, R]) lookup(st *localState, key K, now time.Time) (R, bool) {
	r, ok := k.rows(st)[key]
	return r, ok && (k.expires == nil || !localExpired(k.expires(&r), now))
}

// size counts the records of kind k.
func (k localKind[K, R]) size(st *localState) int { return len(k.rows(st)) }

// dropExpired forgets the records of kind k that have expired by now.
func (k localKind[K, R]) dropExpired(st *localState, now time.Time) {
	if k.expires != nil {
		maps.DeleteFunc(k.rows(st), func(_ K, r R) bool { return localExpired(k.expires(&r), now) })
	}
}

// emitAll emits one put record per record of kind k.
func (k localKind[K, R]) emitAll(st *localState, emit func(*localRecord) error) error {
	for _, r := range k.rows(st) {
		if err := emit(k.put(&r)); err != nil {
			return err
		}
	}
	return nil
}

// localExpired reports whether something that expires at exp is gone by now.
func localExpired(exp, now time.Time) bool {
	return !now.Before(exp)
}

// cloneLocalFile copies f and what its pointers point to, so that callers
// and the store never share memory.
func cloneLocalFile(f *File) File {
	c := *f
	c.DeclaredSize = cloneLocalPtr(f.DeclaredSize)
	c.Size = cloneLocalPtr(f.Size)
	c.CompletedAt = cloneLocalPtr(f.CompletedAt)
	c.UploadExpiresAt = cloneLocalPtr(f.UploadExpiresAt)
	return c
}

// cloneLocalPtr returns a pointer to a copy of *p, or nil.
func cloneLocalPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
