package main

// File requests on the local store (see requests.go). Requests are kept
// by ID; the public lookup by token hash walks them, which a local
// server's handful of requests makes cheap. What a request has received
// is counted from its owner's files, under the lock that inserts them, so
// its caps hold exactly.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// localRequests is the kind of the requests in the state's plain maps.
var localRequests = localKind[string, FileRequest]{
	rows:    func(st *localState) map[string]FileRequest { return st.requests },
	key:     func(fr *FileRequest) string { return fr.ID },
	put:     func(fr *FileRequest) *localRecord { return &localRecord{Op: opPutReq, Req: fr} },
	del:     func(id string) *localRecord { return &localRecord{Op: opDelReq, Key: id} },
	expires: func(fr *FileRequest) time.Time { return fr.ExpiresAt },
}

// InsertRequest stores a new request.
func (s *localStore) InsertRequest(ctx context.Context, fr FileRequest) error {
	fr = cloneLocalRequest(fr)
	fr.CreatedAt, fr.ExpiresAt = localTime(fr.CreatedAt), localTime(fr.ExpiresAt)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, dup := st.requests[fr.ID]; dup {
			return nil, ErrConflict
		}
		if _, found := st.requestByHash(fr.TokenHash); found {
			return nil, ErrConflict
		}
		return localRequests.put(&fr), nil
	})
}

// ListRequests returns a page of the owner's unexpired requests.
func (s *localStore) ListRequests(ctx context.Context, q RequestQuery) ([]ReceivedRequest, error) {
	var page []ReceivedRequest
	err := s.view(ctx, func(st *localState) error {
		for _, fr := range st.requests {
			after := q.After == nil || compareRequests(fr, FileRequest{CreatedAt: q.After.CreatedAt, ID: q.After.ID}) > 0
			if fr.Owner == q.Owner && !localExpired(fr.ExpiresAt, q.Now) && after {
				page = append(page, st.withReceived(fr))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(page, func(a, b ReceivedRequest) int { return compareRequests(a.FileRequest, b.FileRequest) })
	return append([]ReceivedRequest{}, page[:min(len(page), q.Limit)]...), nil
}

// compareRequests orders requests as they are listed: by CreatedAt, then ID.
func compareRequests(a, b FileRequest) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// SetRequestClosed closes or reopens the owner's unexpired request.
func (s *localStore) SetRequestClosed(ctx context.Context, owner, id string, closed bool, now time.Time) (ReceivedRequest, error) {
	var out ReceivedRequest
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		fr, ok := localRequests.lookup(st, id, now)
		if !ok || fr.Owner != owner {
			return nil, ErrNotFound
		}
		fr = cloneLocalRequest(fr)
		fr.Closed = closed
		out = st.withReceived(fr)
		return localRequests.put(&fr), nil
	})
	return out, err
}

// DeleteRequest removes the owner's request.
func (s *localStore) DeleteRequest(ctx context.Context, owner, id string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if fr, ok := st.requests[id]; !ok || fr.Owner != owner {
			return nil, ErrNotFound
		}
		return localRequests.del(id), nil
	})
}

// RequestLink returns the open, unexpired request of that token hash.
func (s *localStore) RequestLink(ctx context.Context, hash string, now time.Time) (ReceivedRequest, error) {
	var out ReceivedRequest
	err := s.view(ctx, func(st *localState) error {
		fr, err := st.openRequest(hash, now)
		out = fr
		return err
	})
	return out, err
}

// InsertRequestFile checks the request, its room and the owner's quota
// and inserts f, in one step under the write lock.
func (s *localStore) InsertRequestFile(ctx context.Context, f *File, q Quota, now time.Time) error {
	doc := normalizeLocalFile(f)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		fr, ok := localRequests.lookup(st, doc.RequestID, now)
		if !ok || fr.Owner != doc.Owner || fr.Closed {
			return nil, ErrNotFound
		}
		if held := st.withReceived(fr); !held.room(doc.Charged) {
			return nil, ErrRequestFull
		}
		return st.insertWithinQuota(&doc, q)
	})
}

// openRequest returns a copy of the request of that token hash, with what
// it received, if strangers may still send to it.
func (st *localState) openRequest(hash string, now time.Time) (ReceivedRequest, error) {
	fr, ok := st.requestByHash(hash)
	if !ok || fr.Closed || localExpired(fr.ExpiresAt, now) {
		return ReceivedRequest{}, ErrNotFound
	}
	return st.withReceived(fr), nil
}

// requestByHash finds the request of that token hash, expired or not.
func (st *localState) requestByHash(hash string) (FileRequest, bool) {
	for _, fr := range st.requests {
		if fr.TokenHash == hash {
			return fr, true
		}
	}
	return FileRequest{}, false
}

// withReceived returns a copy of fr with what it holds now.
func (st *localState) withReceived(fr FileRequest) ReceivedRequest {
	return receivedAmong(fr, st.byOwner[fr.Owner])
}

// receivedAmong returns a copy of fr with what it holds among its owner's
// files: the pending and complete ones sent through it, and those held
// deleted while their form may still write (heldInRequest).
func receivedAmong(fr FileRequest, ownerFiles []*File) ReceivedRequest {
	out := ReceivedRequest{FileRequest: cloneLocalRequest(fr)}
	for _, f := range ownerFiles {
		if f.RequestID == fr.ID && (f.Status != statusDeleted || heldInRequest(f)) {
			out.Received.add(f)
		}
	}
	return out
}

// cloneLocalRequest copies fr and its content types, so callers and the
// store never share memory.
func cloneLocalRequest(fr FileRequest) FileRequest {
	fr.ContentTypes = slices.Clone(fr.ContentTypes)
	return fr
}
