package main

// Quotas on the local store (see quota.go; what a file counts is Usage.add
// in store.go): checked and reserved under the write lock, against each
// owner's running sum of what their files count (localState.usage), which
// the state keeps as it applies each record that puts or deletes a file.

import (
	"context"
	"maps"
)

// InsertFileWithinQuota checks the owner's usage and inserts f in one step
// under the write lock.
func (s *localStore) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	doc := normalizeLocalFile(f)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		return st.insertWithinQuota(&doc, q)
	})
}

// insertWithinQuota is the record that inserts doc if it is new and the
// owner's quota q allows it (also used by InsertRequestFile).
func (st *localState) insertWithinQuota(doc *File, q Quota) (*localRecord, error) {
	if _, dup := st.files[doc.ID]; dup {
		return nil, ErrConflict
	}
	if _, dup := st.objectKeys[doc.ObjectKey]; dup {
		return nil, ErrConflict
	}
	if !q.allows(st.usage[doc.Owner], doc.Charged) {
		return nil, ErrQuotaExceeded
	}
	return &localRecord{Op: opPutFile, File: doc}, nil
}

// SettleCharge sets the file's charge from `from` to `to`; the usage
// follows as the record is applied.
func (s *localStore) SettleCharge(ctx context.Context, owner, id string, from, to int64) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil {
			return nil, err
		}
		if f.Charged != from {
			return nil, ErrConflict
		}
		doc := cloneLocalFile(f)
		doc.Charged = to
		return &localRecord{Op: opPutFile, File: &doc}, nil
	})
}

// GetUsage reads the owner's running sum.
func (s *localStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	var u Usage
	err := s.view(ctx, func(st *localState) error {
		u = st.usage[owner]
		return nil
	})
	return u, err
}

// UsageByOwner copies every owner's running sum.
func (s *localStore) UsageByOwner(ctx context.Context) (map[string]Usage, error) {
	var usage map[string]Usage
	err := s.view(ctx, func(st *localState) error {
		usage = maps.Clone(st.usage)
		return nil
	})
	return usage, err
}

// countUsage adds what f counts (Usage.add: a file stored before quotas
// counts its legacyCharge, as on MongoDB) to its owner's running sum, or
// with sign -1 takes it off. An owner left at zero loses their entry.
func (st *localState) countUsage(f *File, sign int64) {
	var c Usage
	c.add(f)
	u := st.usage[f.Owner]
	u.Bytes += sign * c.Bytes
	u.Files += sign * c.Files
	if u == (Usage{}) {
		delete(st.usage, f.Owner)
	} else {
		st.usage[f.Owner] = u
	}
}

// InsertFile stores a new file; a file with the same ID or ObjectKey is ErrConflict.
func (s *localStore) InsertFile(ctx context.Context, f *File) error {
	return s.InsertFileWithinQuota(ctx, f, Quota{}) // no quota: no check (localstore_quota.go)
}
