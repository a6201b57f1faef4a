package main

import (
	"context"
	"time"
)

// The in-memory store writes a change's events after it, as MongoDB does.

func (m *memStore) CompleteFileEmitting(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time, events fileEvents) (*File, bool, error) {
	f, completed, err := m.CompleteFile(ctx, owner, id, key, size, etag, at)
	f, err = writeEventsAfter(ctx, m, f, err, events)
	return f, completed, err
}

func (m *memStore) DeleteFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	f, err := m.DeleteFile(ctx, owner, id)
	return writeEventsAfter(ctx, m, f, err, events)
}

func (m *memStore) HoldDeletedFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	f, err := m.HoldDeletedFile(ctx, owner, id)
	return writeEventsAfter(ctx, m, f, err, events)
}
