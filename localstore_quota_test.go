package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// localFilesUsage sums the owner's file records in the local store's
// state, as Usage.add counts each.
func localFilesUsage(t *testing.T, s *localStore, owner string) Usage {
	t.Helper()
	var u Usage
	ctMust(t, "view", s.view(t.Context(), func(st *localState) error {
		for _, f := range st.files {
			if f.Owner == owner {
				u.add(f)
			}
		}
		return nil
	}))
	return u
}

// TestLocalUsageIsRunningSum: the local store reads an owner's usage from
// its running sum, not from the owner's files: GetUsage of an owner with
// 20,000 files costs about what it costs with one (summing the files cost
// hundreds of times more), and the sum, rebuilt by the replay at open,
// equals the sum over the file records.
func TestLocalUsageIsRunningSum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const many = 20_000
	var log []byte
	base := ctNow().Add(-time.Hour)
	for i := range many + 1 {
		owner := "many"
		if i == many {
			owner = "one"
		}
		f := ctFile(owner, base.Add(time.Duration(i)*time.Millisecond))
		f.Charged = int64(i % 7)
		line, err := encodeLocalRecord(&localRecord{Op: opPutFile, File: f})
		ctMust(t, "encode", err)
		log = append(log, line...)
	}
	ctMust(t, "write log", os.WriteFile(filepath.Join(dir, localLogName), log, 0o600))
	s := openTestLocalStore(t, dir)
	for _, owner := range []string{"many", "one"} {
		got, err := s.GetUsage(t.Context(), owner)
		ctMust(t, "usage", err)
		if want := localFilesUsage(t, s, owner); got != want || got.Files == 0 {
			t.Errorf("%s: usage %+v after replay, sum over the files %+v", owner, got, want)
		}
	}
	manyTook, oneTook := fastestUsage(t, s, "many"), fastestUsage(t, s, "one")
	t.Logf("GetUsage: %v with %d files, %v with one", manyTook, many, oneTook)
	if manyTook > 10*oneTook+20*time.Microsecond {
		t.Errorf("GetUsage takes %v with %d files and %v with one: it reads the files", manyTook, many, oneTook)
	}
}

// fastestUsage is the fastest of 200 GetUsage calls for owner.
func fastestUsage(t *testing.T, s *localStore, owner string) time.Duration {
	fastest := time.Hour
	for range 200 {
		t0 := time.Now()
		if _, err := s.GetUsage(context.Background(), owner); err != nil {
			t.Fatal(err)
		}
		fastest = min(fastest, time.Since(t0))
	}
	return fastest
}
