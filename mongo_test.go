package main

import (
	"errors"
	"fmt"
	"testing"
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
