package main

import (
	"context"
	"time"
)

// The in-memory test store keeps no shares (memstore_test.go), so it has
// no drop to edit either.

func (m *memStore) GetShare(context.Context, string, string, time.Time) (Share, error) {
	return Share{}, ErrNotFound
}

func (m *memStore) AddShareFiles(context.Context, string, string, []string, int, time.Time) error {
	return ErrNotFound
}

func (m *memStore) RemoveShareFile(context.Context, string, string, string, time.Time) error {
	return ErrNotFound
}
