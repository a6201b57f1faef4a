package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLocalInvitationRemovalsAreDurable: taking an invitation, and
// deleting an email's invitations, remove their files and then fsync the
// invitations directory before they answer, as writing one does; else a
// power loss could bring a used invitation back, which for an existing
// account resets its password (review 18).
func TestLocalInvitationRemovalsAreDurable(t *testing.T) {
	t.Parallel()
	for _, child := range []string{"TestLocalInvitationTakeChild", "TestLocalInvitationsDeleteChild"} {
		dir := t.TempDir()
		trace := traceChild(t, child, "DROPP_TRACED_CHILD_DIR="+dir)
		removed, synced := removalsSynced(trace, regexp.MustCompile("^"+regexp.QuoteMeta(filepath.Join(dir, localInvitationsDir))+"/[0-9a-f]+[.]json$"))
		if !removed || !synced {
			t.Errorf("%s: an invitation file removed: %v; the directory synced after: %v, want both", child, removed, synced)
		}
	}
}

// TestLocalInvitationTakeChild stores an invitation and takes it (traced
// by TestLocalInvitationRemovalsAreDurable).
func TestLocalInvitationTakeChild(t *testing.T) {
	s, inv := childStoreWithInvitation(t)
	if _, err := s.TakeInvitation(t.Context(), inv.Hash, inv.CreatedAt); err != nil {
		t.Fatal(err)
	}
}

// TestLocalInvitationsDeleteChild stores an invitation and deletes its
// email's (traced by TestLocalInvitationRemovalsAreDurable).
func TestLocalInvitationsDeleteChild(t *testing.T) {
	s, inv := childStoreWithInvitation(t)
	if n, err := s.DeleteInvitations(t.Context(), inv.Email); n != 1 || err != nil {
		t.Fatalf("DeleteInvitations = %d, %v; want 1, nil", n, err)
	}
}

// childStoreWithInvitation opens a local store in the traced child's
// directory and stores one invitation in it.
func childStoreWithInvitation(t *testing.T) (*localStore, Invitation) {
	s, err := openLocalStore(childDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	now := time.Now().UTC()
	inv := Invitation{Hash: strings.Repeat("ab", 32), Email: "x@example.com", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertInvitation(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	return s, inv
}
