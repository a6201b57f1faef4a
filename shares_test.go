package main

import (
	"context"
	"time"
)

// The benchmarks' in-memory store (bench_test.go) exercises no share
// link: it keeps none.

func (m *memStore) InsertShare(context.Context, Share) error { return nil }
func (m *memStore) ListShares(context.Context, string, string, time.Time) ([]Share, error) {
	return []Share{}, nil
}
func (m *memStore) DeleteShare(context.Context, string, string) error { return ErrNotFound }
func (m *memStore) ShareLink(context.Context, string, time.Time) (Share, error) {
	return Share{}, ErrNotFound
}
func (m *memStore) CountShareDownload(context.Context, string, time.Time) (Share, error) {
	return Share{}, ErrNotFound
}
