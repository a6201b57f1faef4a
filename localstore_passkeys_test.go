package main

import (
	"context"
	"testing"
	"time"
)

// TestLocalPasskeysSurviveRestart: passkeys and their counters are in the
// log, replayed at open and kept by compaction; a deleted one stays gone.
func TestLocalPasskeysSurviveRestart(t *testing.T) {
	t.Parallel()
	ctx, now := context.Background(), time.Now()
	s := openTestLocalStore(t, t.TempDir())
	for _, id := range []string{"kept", "gone"} {
		user := map[string]string{"kept": "u1", "gone": "u2"}[id]
		if err := s.InsertPasskey(ctx, Passkey{ID: id, UserID: user, PublicKey: []byte{0xa0}, Alg: coseEdDSA, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UsePasskey(ctx, "kept", 0, 7, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUserPasskeys(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	check := func(s *localStore, when string) {
		t.Helper()
		if p, err := s.GetPasskey(ctx, "kept"); err != nil || p.SignCount != 7 || p.UserID != "u1" {
			t.Fatalf("%s: kept passkey %+v, %v", when, p, err)
		}
		if _, err := s.GetPasskey(ctx, "gone"); err == nil {
			t.Fatalf("%s: the deleted passkey is back", when)
		}
	}
	s = reopenLocalStore(t, s)
	check(s, "after replay")
	if err := s.compact(); err != nil {
		t.Fatal(err)
	}
	check(reopenLocalStore(t, s), "after compaction")
}
