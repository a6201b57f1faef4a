package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// localCompactMin is the log length, in records, below which the local
// store never compacts: rewriting a small log saves nothing.
const localCompactMin = 4096

// errLocalStoreClosed is what a closed local store answers.
var errLocalStoreClosed = errors.New("local store is closed")

// localStore is the embedded metadata store used when MONGODB_URI is unset.
// The whole state lives in memory (localState); every change is appended to
// a log on disk (localLog) before it is acknowledged, and replayed at start.
type localStore struct {
	dir  string
	lock *os.File // holds the directory's flock while the store is open

	mu         sync.RWMutex // guards state, closed and appends to log
	state      *localState
	log        *localLog
	closed     bool
	compactMin int         // tests lower it to exercise compaction
	claims     localClaims // webhook deliveries being sent (localstore_webhooks.go)
}

// openLocalStore opens (or creates) the store in dir. Only one process at a
// time may have it open.
func openLocalStore(dir string) (*localStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	lock, err := lockLocalDir(dir)
	if err != nil {
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	s := &localStore{dir: dir, lock: lock, compactMin: localCompactMin}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("local store %s: %w", dir, err)
	}
	return s, nil
}

// load replays the log into memory, cutting off a torn tail left by a crash.
func (s *localStore) load() error {
	// A leftover snapshot was never renamed into place, so it is not needed.
	if err := os.Remove(filepath.Join(s.dir, localTempName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, localLogName), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st := newLocalState()
	good, records, err := replayLocalLog(f, st.apply)
	if err == nil {
		err = truncateLocalLog(f, good)
	}
	if err == nil {
		err = syncLocalDir(s.dir) // the log may have just been created
	}
	if err != nil {
		f.Close()
		return err
	}
	st.dropExpired(time.Now())
	st.buildOwnerIndex()
	s.state, s.log = st, newLocalLog(f, records)
	if !s.needsCompaction() {
		return nil
	}
	if err := s.compact(); err != nil {
		s.log.close()
		return err
	}
	return nil
}

// truncateLocalLog drops whatever follows the last whole record, so that new
// records start on a line of their own.
func truncateLocalLog(f *os.File, good int64) error {
	info, err := f.Stat()
	if err != nil || info.Size() == good {
		return err
	}
	if err := f.Truncate(good); err != nil {
		return err
	}
	return f.Sync()
}

// Ping reports whether the store can still take writes.
func (s *localStore) Ping(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errLocalStoreClosed
	}
	return s.log.failure()
}

// Close flushes the log and releases the directory. Later calls do nothing.
func (s *localStore) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.log.close()
	if cerr := s.lock.Close(); err == nil { // closing releases the flock
		err = cerr
	}
	return err
}

// view runs read on the state under the read lock, then waits until any
// change it may have seen is on disk, so that no caller ever observes a
// change that a crash could still undo.
func (s *localStore) view(ctx context.Context, read func(st *localState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	seq, err := s.viewLocked(read)
	if werr := s.log.waitDurable(seq); werr != nil {
		return werr
	}
	return err
}

// viewLocked is view's part under the read lock; it returns the sequence
// number of the last change read could have seen.
func (s *localStore) viewLocked(read func(st *localState) error) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, errLocalStoreClosed
	}
	return s.log.written.Load(), read(s.state)
}

// change runs plan on the state under the write lock. plan checks the
// request against the state and returns the record that makes the change,
// or nil if there is nothing to change; the record is appended to the log
// and applied. change returns plan's error, once the log is on disk: the
// answer may rest on changes of other callers that are not there yet.
func (s *localStore) change(ctx context.Context, plan func(st *localState) (*localRecord, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	seq, err := s.changeLocked(plan)
	if werr := s.log.waitDurable(seq); werr != nil {
		return werr
	}
	return err
}

// changeLocked is change's part under the write lock; it returns the
// sequence number the caller must wait for.
func (s *localStore) changeLocked(plan func(st *localState) (*localRecord, error)) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errLocalStoreClosed
	}
	rec, err := plan(s.state)
	if err != nil || rec == nil {
		return s.log.written.Load(), err
	}
	line, err := encodeLocalRecord(rec)
	if err != nil {
		return 0, err
	}
	seq, err := s.log.append(line)
	if err != nil {
		return 0, err
	}
	if err := s.state.apply(rec); err != nil {
		return 0, err // plan built a record apply refuses: a bug
	}
	if s.needsCompaction() {
		return seq, s.compact()
	}
	return seq, nil
}

// needsCompaction: the log holds over twice as many records as there are
// live documents, so rewriting it at least halves it. Amortized, each
// change is rewritten at most about once.
func (s *localStore) needsCompaction() bool {
	return s.log.records >= s.compactMin && s.log.records > 2*s.state.live()
}

// compact rewrites the log as one record per live document, dropping
// expired credentials, states and codes. Callers hold the write lock.
func (s *localStore) compact() error {
	s.state.dropExpired(time.Now())
	return s.log.replace(func() (*os.File, int, error) {
		return writeLocalSnapshot(s.dir, s.state.eachRecord)
	})
}

// GetFile returns the owner's file with that ID.
func (s *localStore) GetFile(ctx context.Context, owner, id string) (*File, error) {
	var f *File
	err := s.view(ctx, func(st *localState) error {
		found, err := st.liveFile(owner, id)
		if err == nil {
			c := cloneLocalFile(found)
			f = &c
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ListFiles returns one page of the owner's files, newest first.
func (s *localStore) ListFiles(ctx context.Context, q ListQuery) ([]File, error) {
	var page []File
	err := s.view(ctx, func(st *localState) error {
		page = st.listFiles(q)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// CompleteFile marks the owner's pending file complete; a complete one is
// returned as it is. The write lock makes one caller the one that completed it.
func (s *localStore) CompleteFile(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time) (*File, bool, error) {
	return s.CompleteFileEmitting(ctx, owner, id, key, size, etag, at, nil)
}

// CompleteFileEmitting is CompleteFile, with the deliveries of events in
// the completion's record (localstore_outbox.go).
func (s *localStore) CompleteFileEmitting(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time, events fileEvents) (*File, bool, error) {
	var done File
	completed := false
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.liveFile(owner, id)
		if err != nil {
			return nil, err
		}
		done = cloneLocalFile(f)
		if f.Status == statusComplete {
			return st.withEvents(nil, &done, events)
		}
		at := localTime(at)
		done.Status, done.Size, done.ETag, done.CompletedAt = statusComplete, &size, etag, &at
		done.ObjectKey = cmp.Or(key, done.ObjectKey)
		completed = true
		doc := cloneLocalFile(&done)
		return st.withEvents(&localRecord{Op: opPutFile, File: &doc}, &done, events)
	})
	if err != nil {
		return nil, false, err
	}
	return &done, completed, nil
}

// DeleteFile removes the owner's file with that ID and returns it as it
// was under the write lock.
func (s *localStore) DeleteFile(ctx context.Context, owner, id string) (*File, error) {
	return s.DeleteFileEmitting(ctx, owner, id, nil)
}

// DeleteFileEmitting is DeleteFile, with the deliveries of events in the
// deletion's record (localstore_outbox.go).
func (s *localStore) DeleteFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	var deleted File
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil {
			return nil, err
		}
		deleted = cloneLocalFile(f)
		return st.withEvents(&localRecord{Op: opDelFile, Key: id}, &deleted, events)
	})
	if err != nil {
		return nil, err
	}
	return &deleted, nil
}

// HoldDeletedFile marks the owner's file that names a staging key
// deleted, under the write lock. Its shares stay in the log until the file
// goes, but no share route finds them: each reads the file first.
func (s *localStore) HoldDeletedFile(ctx context.Context, owner, id string) (*File, error) {
	return s.HoldDeletedFileEmitting(ctx, owner, id, nil)
}

// HoldDeletedFileEmitting is HoldDeletedFile, with the deliveries of
// events in the hold's record (localstore_outbox.go).
func (s *localStore) HoldDeletedFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	return s.hold(ctx, owner, id, false, events)
}

// HoldPendingFile is HoldDeletedFile, only if the file is still pending
// under the write lock, which a complete takes too.
func (s *localStore) HoldPendingFile(ctx context.Context, owner, id string) (*File, error) {
	return s.hold(ctx, owner, id, true, nil)
}

// hold marks the owner's file that names a staging key deleted, with the
// deliveries of events in the hold's record; if pendingOnly, only a file
// still pending.
func (s *localStore) hold(ctx context.Context, owner, id string, pendingOnly bool, events fileEvents) (*File, error) {
	var held File
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.liveFile(owner, id)
		if err == nil && (f.StagingKey == "" || pendingOnly && f.Status != statusPending) {
			err = ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		held = cloneLocalFile(f)
		doc := cloneLocalFile(f)
		doc.Status = statusDeleted
		return st.withEvents(&localRecord{Op: opPutFile, File: &doc}, &held, events)
	})
	if err != nil {
		return nil, err
	}
	return &held, nil
}

// InsertCredential stores a bearer token or session record.
func (s *localStore) InsertCredential(ctx context.Context, c Credential) error {
	c.CreatedAt, c.ExpiresAt = localTime(c.CreatedAt), localTime(c.ExpiresAt)
	c.UserDisabled = false // read from the user at each lookup (FindCredential)
	return localCreds.insert(ctx, s, c)
}

// FindCredential returns the credential of that kind and hash unless it
// has expired by now, with its user's disabled flag, read with it.
func (s *localStore) FindCredential(ctx context.Context, kind, hash string, now time.Time) (Credential, error) {
	var c Credential
	err := s.view(ctx, func(st *localState) error {
		var ok bool
		if c, ok = localCreds.lookup(st, localCredKey{kind, hash}, now); !ok {
			return ErrNotFound
		}
		c.UserDisabled = st.users[c.UserID].Disabled
		return nil
	})
	if err != nil {
		return Credential{}, err
	}
	return c, nil
}

// DeleteCredential revokes a credential; a missing one is not an error.
func (s *localStore) DeleteCredential(ctx context.Context, kind, hash string) error {
	return localCreds.remove(ctx, s, localCredKey{kind, hash})
}

// UpsertUser creates the user for (Issuer, Subject) with a new random ID, or
// refreshes its email, name, picture and groups; it returns the stored user. The
// write lock makes the lookup and the insert one step, so concurrent first
// sign-ins of one subject make one user.
func (s *localStore) UpsertUser(ctx context.Context, u User) (User, error) {
	var stored User
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		id, known := st.userID(u.Issuer, u.Subject)
		if !known {
			stored = u
			stored.ID = newID()
			stored.CreatedAt = localTime(stored.CreatedAt)
		} else {
			stored = st.users[id]
			if stored.Email == u.Email && stored.EmailVerified == u.EmailVerified && stored.Name == u.Name && stored.Picture == u.Picture &&
				slices.Equal(stored.Groups, u.Groups) {
				return nil, nil // nothing new: spare the log a record per sign-in
			}
			stored.Email, stored.EmailVerified, stored.Name, stored.Picture = u.Email, u.EmailVerified, u.Name, u.Picture
			stored.Groups = u.Groups
		}
		return localUsers.put(&stored), nil
	})
	if err != nil {
		return User{}, err
	}
	return stored, nil
}

// userID finds the user of (issuer, subject) under any spelling of the
// issuer, the canonical one first.
func (st *localState) userID(issuer, subject string) (string, bool) {
	for _, iss := range issuerSpellings(issuer) {
		if id, ok := st.identities[localIdentity{iss, subject}]; ok {
			return id, true
		}
	}
	return "", false
}

// GetUser returns the user with that ID.
func (s *localStore) GetUser(ctx context.Context, id string) (User, error) {
	return localUsers.get(ctx, s, id, time.Time{}) // users never expire
}

// InsertAuthState stores the server-side half of a sign-in attempt.
func (s *localStore) InsertAuthState(ctx context.Context, a AuthState) error {
	a.ExpiresAt = localTime(a.ExpiresAt)
	return localStates.insert(ctx, s, a)
}

// TakeAuthState removes and returns an unexpired state, once.
func (s *localStore) TakeAuthState(ctx context.Context, hash string, now time.Time) (AuthState, error) {
	return localStates.take(ctx, s, hash, now)
}

// InsertAuthCode stores a one-time code for a desktop app.
func (s *localStore) InsertAuthCode(ctx context.Context, c AuthCode) error {
	c.ExpiresAt = localTime(c.ExpiresAt)
	return localCodes.insert(ctx, s, c)
}

// TakeAuthCode removes and returns an unexpired code, once.
func (s *localStore) TakeAuthCode(ctx context.Context, hash string, now time.Time) (AuthCode, error) {
	return localCodes.take(ctx, s, hash, now)
}

// insert stores r; a record with the same key is ErrConflict.
func (k localKind[K, R]) insert(ctx context.Context, s *localStore, r R) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, dup := k.rows(st)[k.key(&r)]; dup {
			return nil, ErrConflict
		}
		return k.put(&r), nil
	})
}

// get returns the record under key unless it has expired by now.
func (k localKind[K, R]) get(ctx context.Context, s *localStore, key K, now time.Time) (R, error) {
	var found R
	err := s.view(ctx, func(st *localState) error {
		var ok bool
		if found, ok = k.lookup(st, key, now); !ok {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return found, nil
}

// take removes and returns the unexpired record under key. The write lock
// makes the check and the removal one step, so of concurrent takes exactly
// one finds it.
func (k localKind[K, R]) take(ctx context.Context, s *localStore, key K, now time.Time) (R, error) {
	var found R
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		var ok bool
		if found, ok = k.lookup(st, key, now); !ok {
			return nil, ErrNotFound
		}
		return k.del(key), nil
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return found, nil
}

// remove deletes the record under key, expired or not; a missing one is
// not an error.
func (k localKind[K, R]) remove(ctx context.Context, s *localStore, key K) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, ok := k.rows(st)[key]; !ok {
			return nil, nil
		}
		return k.del(key), nil
	})
}

// normalizeLocalFile returns a deep copy of f with its times as MongoDB
// would store them.
func normalizeLocalFile(f *File) File {
	c := cloneLocalFile(f)
	c.CreatedAt = localTime(c.CreatedAt)
	if c.CompletedAt != nil {
		*c.CompletedAt = localTime(*c.CompletedAt)
	}
	return c
}

// HasObjectKey tells whether a file record names the object key.
func (s *localStore) HasObjectKey(ctx context.Context, key string) (bool, error) {
	var known bool
	err := s.view(ctx, func(st *localState) error {
		_, known = st.objectKeys[key]
		return nil
	})
	return known, err
}
