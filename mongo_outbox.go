package main

// File changes with their webhook events on MongoDB. FerretDB 1, which
// Dropp supports, has no multi-document transactions, so the deliveries
// are inserted after the change, before the call returns: a crash between
// the two loses the events of a change whose request was never answered
// (docs/webhooks.md).

import (
	"context"
	"time"
)

// CompleteFileEmitting is CompleteFile, then the deliveries of events.
func (s *mongoStore) CompleteFileEmitting(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time, events fileEvents) (*File, bool, error) {
	f, completed, err := s.CompleteFile(ctx, owner, id, key, size, etag, at)
	f, err = writeEventsAfter(ctx, s, f, err, events)
	return f, completed, err
}

// DeleteFileEmitting is DeleteFile, then the deliveries of events.
func (s *mongoStore) DeleteFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	f, err := s.DeleteFile(ctx, owner, id)
	return writeEventsAfter(ctx, s, f, err, events)
}

// HoldDeletedFileEmitting is HoldDeletedFile, then the deliveries of events.
func (s *mongoStore) HoldDeletedFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error) {
	f, err := s.HoldDeletedFile(ctx, owner, id)
	return writeEventsAfter(ctx, s, f, err, events)
}

// writeEventsAfter writes events(f) to the outbox once the change that
// returned f and err has been made, for a store that cannot make them one
// step. It goes on if the client has gone: the change is made, and its
// events must not be lost with the request.
func writeEventsAfter(ctx context.Context, store webhookStore, f *File, err error, events fileEvents) (*File, error) {
	if err != nil || events == nil {
		return f, err
	}
	ds, err := events(f)
	if err == nil {
		err = store.InsertDeliveries(context.WithoutCancel(ctx), ds)
	}
	return f, err
}
