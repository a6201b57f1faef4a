package main

// Tests of the sign-in hardening (issue 7, items 13-17): ID token claims
// and header, Google's hd claim, membership checked at use, one user per
// Google account whatever the issuer's spelling, JWKS and discovery
// caching, and concurrent first sign-ins.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// onEachStore runs test on a fresh local store and a fresh MongoDB
// (FerretDB) database, in parallel subtests.
func onEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		test(t, openTestLocalStore(t, t.TempDir()))
	})
	t.Run("mongo", func(t *testing.T) {
		t.Parallel()
		s, err := openMongoStore(t.Context(), rig.mongoURI, testDatabaseName(t), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		test(t, s)
	})
}

// TestUpsertUserConcurrentFirstSignIn: many first sign-ins of one subject
// at once all succeed, as one user (item 17: a lost insert race was a 409).
func TestUpsertUserConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		for round := range 5 {
			u := User{Issuer: "https://issuer.example", Subject: fmt.Sprintf("sub-%d-%s", round, newID()), Email: "a@example.com"}
			ids := make([]string, 8)
			errs := make([]error, len(ids))
			var wg sync.WaitGroup
			for i := range ids {
				wg.Go(func() {
					got, err := s.UpsertUser(t.Context(), u)
					ids[i], errs[i] = got.ID, err
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("round %d: concurrent first sign-ins: %v", round, err)
			}
			for _, id := range ids {
				if id == "" || id != ids[0] {
					t.Fatalf("round %d: concurrent first sign-ins made users %v, want one", round, ids)
				}
			}
		}
	})
}

// TestUpsertUserGoogleIssuerSpellings: a Google user stored under the bare
// spelling of the issuer (as sign-in once stored it) is found when it
// signs in again under the canonical one; a new user gets the canonical
// spelling, and other issuers get no such allowance (item 15).
func TestUpsertUserGoogleIssuerSpellings(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		legacy, err := s.UpsertUser(ctx, User{Issuer: googleIssuerBare, Subject: "sub-legacy", Email: "old@example.com"})
		ctMust(t, "UpsertUser(bare)", err)
		again, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-legacy", Email: "new@example.com"})
		ctMust(t, "UpsertUser(canonical)", err)
		if again.ID != legacy.ID || again.Email != "new@example.com" {
			t.Errorf("legacy user signing in again: %+v, want ID %s with the new email", again, legacy.ID)
		}
		fresh, err := s.UpsertUser(ctx, User{Issuer: googleIssuer, Subject: "sub-new"})
		ctMust(t, "UpsertUser(new)", err)
		if got, err := s.GetUser(ctx, fresh.ID); err != nil || got.Issuer != googleIssuer {
			t.Errorf("new Google user stored as %+v, %v; want issuer %q", got, err, googleIssuer)
		}
		other, err := s.UpsertUser(ctx, User{Issuer: "https://login.example.com", Subject: "sub-legacy"})
		ctMust(t, "UpsertUser(other issuer)", err)
		if other.ID == legacy.ID {
			t.Error("another issuer's subject was taken for the Google user")
		}
	})
}
