package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// putTestObject writes content under key in the bucket and returns its ETag.
func putTestObject(t *testing.T, store *s3Objects, key, content string) string {
	t.Helper()
	if _, err := requireRig(t).s3.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(store.bucket), Key: aws.String(key), Body: strings.NewReader(content)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	info, err := store.Head(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info.ETag
}

// TestS3Promote, on versitygw: Promote copies the staged object it was
// told of; a staged object changed since it was read is refused, and
// nothing is copied; nothing staged is ErrObjectNotFound.
func TestS3Promote(t *testing.T) {
	t.Parallel()
	store, _ := newTestS3Objects(t)
	staged := stagingKey("users/ab/one", time.Now().Add(time.Hour))

	first := putTestObject(t, store, staged, "first")
	putTestObject(t, store, staged, "other") // the form posted again before complete copied it
	if _, err := store.Promote(t.Context(), staged, "users/ab/one-"+first, first); !errors.Is(err, errStagedChanged) {
		t.Fatalf("promote of a staged object that changed: %v, want errStagedChanged", err)
	}
	if _, err := store.Head(t.Context(), "users/ab/one-"+first); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("after a refused promote, the file's key: %v, want no object", err)
	}

	second := putTestObject(t, store, staged, "second")
	info, err := store.Promote(t.Context(), staged, "users/ab/one-"+second, second)
	if err != nil || info.Size != int64(len("second")) || info.ETag != second {
		t.Fatalf("promote: %+v %v, want the staged object", info, err)
	}
	if _, err := store.Promote(t.Context(), stagingKey("users/ab/none", time.Now()), "users/ab/none", second); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("promote of nothing staged: %v, want ErrObjectNotFound", err)
	}
}

// TestS3SweepStaged: the sweep deletes the staged objects whose form
// expired before its cut-off, and keeps the others and everything else.
func TestS3SweepStaged(t *testing.T) {
	t.Parallel()
	store, _ := newTestS3Objects(t)
	now := time.Now().Truncate(time.Second)
	old1, old2 := stagingKey("users/a/1", now.Add(-2*time.Hour)), stagingKey("users/b/2", now.Add(-time.Hour-time.Second))
	live, file := stagingKey("users/a/3", now.Add(-time.Hour)), "users/a/4"
	for _, key := range []string{old1, old2, live, file} {
		putTestObject(t, store, key, "x")
	}
	n, err := store.SweepStaged(t.Context(), now.Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want the 2 expired", n, err)
	}
	for key, want := range map[string]bool{old1: false, old2: false, live: true, file: true} {
		if _, err := store.Head(t.Context(), key); (err == nil) != want {
			t.Errorf("%s after the sweep: %v, want it there: %v", key, err, want)
		}
	}
}
