package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// poolClearedError stands in for the driver's unexported error of an
// operation that found its connection pool cleared after the server died:
// it says only that it is retryable.
type poolClearedError struct{}

func (poolClearedError) Error() string   { return "connection pool for 127.0.0.1:1 was cleared" }
func (poolClearedError) Retryable() bool { return true }

// notRetryableError is a driver error that must stay an internal error.
type notRetryableError struct{}

func (notRetryableError) Error() string   { return "bad command" }
func (notRetryableError) Retryable() bool { return false }

// TestMongoErrRetryableIsUnavailable: a retryable driver error (seen after
// SIGKILL of the database under load) is a 503, not a 500.
func TestMongoErrRetryableIsUnavailable(t *testing.T) {
	t.Parallel()
	err := mongoErr("find credential", fmt.Errorf("wrapped: %w", poolClearedError{}))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("pool cleared: %v, want ErrUnavailable", err)
	}
	if err := mongoErr("find credential", notRetryableError{}); errors.Is(err, ErrUnavailable) {
		t.Fatalf("a non-retryable error became ErrUnavailable: %v", err)
	}
}

// TestDecodeCredentialMatchesDriver: decodeCredential reads what the
// driver's decoder reads from a stored credential, and refuses a document
// with a missing or mistyped field instead of returning zero values.
func TestDecodeCredentialMatchesDriver(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 22, 0, 0, 123e6, time.UTC)
	want := Credential{Hash: hashSecret("t"), Kind: kindBearer, UserID: newID(), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	doc, err := bson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var viaDriver Credential
	if err := bson.Unmarshal(doc, &viaDriver); err != nil {
		t.Fatal(err)
	}
	got, err := decodeCredential(doc)
	if err != nil || got != viaDriver || got != want {
		t.Fatalf("decodeCredential = %+v, %v; driver %+v; want %+v", got, err, viaDriver, want)
	}
	for name, bad := range map[string]bson.D{
		"missing user_id":   {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: at}},
		"string expires_at": {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "user_id", Value: "u"}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: "soon"}},
		"int user_id":       {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "user_id", Value: 7}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: at}},
	} {
		raw, err := bson.Marshal(bad)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := decodeCredential(raw); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", name, c)
		}
	}
}
