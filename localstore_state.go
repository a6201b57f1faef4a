package main

import (
	"errors"
	"fmt"
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
	creds      map[localCredKey]Credential
	users      map[string]User
	identities map[localIdentity]string // → user ID
	states     map[string]AuthState     // by hash
	codes      map[string]AuthCode      // by hash
}

// newLocalState returns an empty state ready for replay: files are indexed
// by owner once, after the whole log is read (buildOwnerIndex).
func newLocalState() *localState {
	return &localState{
		files:      map[string]*File{},
		objectKeys: map[string]string{},
		creds:      map[localCredKey]Credential{},
		users:      map[string]User{},
		identities: map[localIdentity]string{},
		states:     map[string]AuthState{},
		codes:      map[string]AuthCode{},
	}
}

// errLocalRecord: a record is missing the document its operation needs.
var errLocalRecord = errors.New("malformed record")

// apply makes the change rec describes. Deleting what is not there is fine:
// replay may meet a delete whose put was dropped as expired.
func (st *localState) apply(rec *localRecord) error {
	switch {
	case rec.Op == opPutFile && rec.File != nil:
		f := File(*rec.File)
		st.putFile(&f)
	case rec.Op == opDelFile:
		st.deleteFile(rec.Key)
	case rec.Op == opPutCred && rec.Cred != nil:
		st.creds[localCredKey{rec.Cred.Kind, rec.Cred.Hash}] = Credential(*rec.Cred)
	case rec.Op == opDelCred:
		delete(st.creds, localCredKey{rec.Kind, rec.Key})
	case rec.Op == opPutUser && rec.User != nil:
		st.users[rec.User.ID] = User(*rec.User)
		st.identities[localIdentity{rec.User.Issuer, rec.User.Subject}] = rec.User.ID
	case rec.Op == opPutState && rec.State != nil:
		st.states[rec.State.Hash] = AuthState(*rec.State)
	case rec.Op == opDelState:
		delete(st.states, rec.Key)
	case rec.Op == opPutCode && rec.Code != nil:
		st.codes[rec.Code.Hash] = AuthCode(*rec.Code)
	case rec.Op == opDelCode:
		delete(st.codes, rec.Key)
	default:
		return fmt.Errorf("%w: op %q", errLocalRecord, rec.Op)
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
		if q.Status == "" || list[i].Status == q.Status {
			page = append(page, cloneLocalFile(list[i]))
		}
	}
	return page
}

// dropExpired forgets credentials, states and codes that have expired:
// lookups already treat them as missing.
func (st *localState) dropExpired(now time.Time) {
	for k, c := range st.creds {
		if localExpired(c.ExpiresAt, now) {
			delete(st.creds, k)
		}
	}
	for k, a := range st.states {
		if localExpired(a.ExpiresAt, now) {
			delete(st.states, k)
		}
	}
	for k, c := range st.codes {
		if localExpired(c.ExpiresAt, now) {
			delete(st.codes, k)
		}
	}
}

// live counts the documents a compacted log would hold.
func (st *localState) live() int {
	return len(st.files) + len(st.creds) + len(st.users) + len(st.states) + len(st.codes)
}

// eachRecord emits one put record per document: the content of a compacted
// log.
func (st *localState) eachRecord(emit func(*localRecord) error) error {
	for _, u := range st.users {
		doc := localUserDoc(u)
		if err := emit(&localRecord{Op: opPutUser, User: &doc}); err != nil {
			return err
		}
	}
	for _, c := range st.creds {
		doc := localCredDoc(c)
		if err := emit(&localRecord{Op: opPutCred, Cred: &doc}); err != nil {
			return err
		}
	}
	for _, a := range st.states {
		doc := localStateDoc(a)
		if err := emit(&localRecord{Op: opPutState, State: &doc}); err != nil {
			return err
		}
	}
	for _, c := range st.codes {
		doc := localCodeDoc(c)
		if err := emit(&localRecord{Op: opPutCode, Code: &doc}); err != nil {
			return err
		}
	}
	for _, list := range st.byOwner {
		for _, f := range list {
			doc := localFileDoc(*f)
			if err := emit(&localRecord{Op: opPutFile, File: &doc}); err != nil {
				return err
			}
		}
	}
	return nil
}
