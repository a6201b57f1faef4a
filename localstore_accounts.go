package main

// Accounts and invitations in the local store. Accounts are users (their
// password hash is a field of the user record, in the log). Invitations
// are files of their own, one per invitation, in the store's
// "invitations" directory: `dropp invite` must work while a server holds
// the store's lock, and a file is something it can add without the lock.
// The server takes one under its write lock by removing the file: of
// concurrent removals exactly one succeeds, whichever process tries.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// localInvitationsDir is the directory of invitation files in a store's dir.
const localInvitationsDir = "invitations"

// writeLocalInvitation adds an invitation file to the store in dir (the
// store may be open in another process): written to a temporary name,
// synced, then renamed into place, so a reader never sees half of it.
func writeLocalInvitation(dir string, inv Invitation) error {
	inv.CreatedAt, inv.ExpiresAt = localTime(inv.CreatedAt), localTime(inv.ExpiresAt)
	data, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	invDir := filepath.Join(dir, localInvitationsDir)
	if err := os.MkdirAll(invDir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(invDir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := giveToStoreOwner(dir, invDir, f.Name()); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), localInvitationPath(dir, inv.Hash)); err != nil {
		return err
	}
	return syncLocalDir(invDir)
}

// localInvitationPath is the file of the invitation with that hash; the
// hash is checked to be hex, so it names no other path.
func localInvitationPath(dir, hash string) string {
	return filepath.Join(dir, localInvitationsDir, hash+".json")
}

// validTokenHash accepts what hashSecret produces: 64 lowercase hex digits.
func validTokenHash(h string) bool {
	return len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}

// readLocalInvitation reads the invitation file of hash, if unexpired.
func readLocalInvitation(dir, hash string, now time.Time) (Invitation, error) {
	if !validTokenHash(hash) {
		return Invitation{}, ErrNotFound
	}
	data, err := os.ReadFile(localInvitationPath(dir, hash))
	if errors.Is(err, fs.ErrNotExist) {
		return Invitation{}, ErrNotFound
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("%w: reading invitation: %v", ErrUnavailable, err)
	}
	var inv Invitation
	if err := json.Unmarshal(data, &inv); err != nil || inv.Hash != hash {
		return Invitation{}, fmt.Errorf("invitation file %s is damaged", hash)
	}
	if localExpired(inv.ExpiresAt, now) {
		return Invitation{}, ErrNotFound
	}
	return inv, nil
}

// eachLocalInvitation calls fn with each unexpired invitation of the store
// in dir, each read whole as `dropp invite` wrote it; one taken while the
// walk runs is skipped, and so are the temporary files of a `dropp invite`
// still writing. It needs no lock: backup and migrate read invitations so.
func eachLocalInvitation(dir string, now time.Time, fn func(Invitation) error) error {
	return eachLocalInvitationFile(dir, func(inv Invitation) error {
		if localExpired(inv.ExpiresAt, now) {
			return nil
		}
		return fn(inv)
	})
}

// eachLocalInvitationFile is eachLocalInvitation for every invitation
// file, expired or not.
func eachLocalInvitationFile(dir string, fn func(Invitation) error) error {
	entries, err := os.ReadDir(filepath.Join(dir, localInvitationsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		inv, err := readLocalInvitation(dir, hash, time.Time{})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err == nil {
			err = fn(inv)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *localStore) InsertInvitation(ctx context.Context, inv Invitation) error {
	if !validTokenHash(inv.Hash) {
		return fmt.Errorf("invitation hash %q is not a token hash", inv.Hash)
	}
	return s.view(ctx, func(*localState) error { return writeLocalInvitation(s.dir, inv) })
}

func (s *localStore) GetInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error) {
	var inv Invitation
	err := s.view(ctx, func(*localState) error {
		var err error
		inv, err = readLocalInvitation(s.dir, hash, now)
		return err
	})
	return inv, err
}

// TakeInvitation reads the invitation and removes its file under the
// store's write lock; whoever removes the file has taken it. An expired
// one is removed too, and reported missing.
func (s *localStore) TakeInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error) {
	var inv Invitation
	err := s.change(ctx, func(*localState) (*localRecord, error) {
		var err error
		inv, err = readLocalInvitation(s.dir, hash, time.Time{})
		if err != nil {
			return nil, err
		}
		if err := removeLocalInvitations(s.dir, hash); errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("%w: taking invitation: %v", ErrUnavailable, err)
		}
		if localExpired(inv.ExpiresAt, now) {
			return nil, ErrNotFound
		}
		return nil, nil
	})
	return inv, err
}

// DeleteInvitations removes, under the store's write lock, every
// invitation file for email, expired ones too (a team's few files).
func (s *localStore) DeleteInvitations(ctx context.Context, email string) (int, error) {
	var hashes []string
	err := s.change(ctx, func(*localState) (*localRecord, error) {
		err := eachLocalInvitationFile(s.dir, func(inv Invitation) error {
			if inv.Email == email {
				hashes = append(hashes, inv.Hash)
			}
			return nil
		})
		if err == nil {
			err = removeLocalInvitations(s.dir, hashes...)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: deleting invitation: %v", ErrUnavailable, err)
		}
		return nil, nil
	})
	return len(hashes), err
}

// removeLocalInvitations removes the invitation files with those hashes
// (fs.ErrNotExist if one is gone), then syncs their directory, as writing
// one does: a used invitation must not come back after a power loss
// (review 18: for an existing account an invitation resets its password).
func removeLocalInvitations(dir string, hashes ...string) error {
	if len(hashes) == 0 {
		return nil
	}
	var gone error
	for _, hash := range hashes {
		err := os.Remove(localInvitationPath(dir, hash))
		if errors.Is(err, fs.ErrNotExist) {
			gone = err
		} else if err != nil {
			return err
		}
	}
	if err := syncLocalDir(filepath.Join(dir, localInvitationsDir)); err != nil {
		return err
	}
	return gone
}

// FindAccount finds the account's user among all users (a team's few).
func (s *localStore) FindAccount(ctx context.Context, email string) (User, error) {
	var u User
	err := s.view(ctx, func(st *localState) error {
		id, ok := st.userID(accountsIssuer, email)
		if !ok {
			return ErrNotFound
		}
		u = st.users[id]
		return nil
	})
	return u, err
}

func (s *localStore) SetAccountPassword(ctx context.Context, id, passwordHash string, admin bool) error {
	return s.updateUser(ctx, id, func(u *User) {
		u.PasswordHash = passwordHash
		u.Admin = u.Admin || admin
	})
}
