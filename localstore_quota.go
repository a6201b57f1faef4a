package main

// Quotas on the local store (see quota.go; what a file counts is Usage.add
// in store.go): checked and reserved under the write lock, the usage
// derived from the files held.

import "context"

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
	// Without a quota, skip the walk of the owner's files under the lock.
	if q != (Quota{}) && !q.allows(st.usage(doc.Owner), doc.Charged) {
		return nil, ErrQuotaExceeded
	}
	return &localRecord{Op: opPutFile, File: doc}, nil
}

// SettleCharge sets the file's charge from `from` to `to`; the usage,
// derived from the files, follows.
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

// GetUsage sums the owner's files.
func (s *localStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	var u Usage
	err := s.view(ctx, func(st *localState) error {
		u = st.usage(owner)
		return nil
	})
	return u, err
}

// UsageByOwner sums every owner's files.
func (s *localStore) UsageByOwner(ctx context.Context) (map[string]Usage, error) {
	usage := map[string]Usage{}
	err := s.view(ctx, func(st *localState) error {
		for owner := range st.byOwner {
			usage[owner] = st.usage(owner)
		}
		return nil
	})
	return usage, err
}

// usage sums the owner's files' charges; a user's files are a short walk.
// A file stored before quotas existed counts its legacyCharge, as on
// MongoDB.
func (st *localState) usage(owner string) Usage {
	var u Usage
	for _, f := range st.byOwner[owner] {
		u.add(f)
	}
	return u
}

// InsertFile stores a new file; a file with the same ID or ObjectKey is ErrConflict.
func (s *localStore) InsertFile(ctx context.Context, f *File) error {
	return s.InsertFileWithinQuota(ctx, f, Quota{}) // no quota: no check (localstore_quota.go)
}
