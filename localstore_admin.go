package main

// The admin API on the local store (see admin.go): listing, disabling and
// touching users, and deleting their credentials.

import (
	"context"
	"slices"
	"strings"
	"time"
)

// ListUsers returns every user, by email.
func (s *localStore) ListUsers(ctx context.Context) ([]User, error) {
	users := []User{}
	err := s.view(ctx, func(st *localState) error {
		for _, u := range st.users {
			users = append(users, u)
		}
		return nil
	})
	slices.SortFunc(users, func(a, b User) int {
		if c := strings.Compare(a.Email, b.Email); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return users, err
}

func (s *localStore) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.updateUser(ctx, id, func(u *User) { u.Disabled = disabled })
}

func (s *localStore) TouchUser(ctx context.Context, id string, at time.Time) error {
	return s.updateUser(ctx, id, func(u *User) { u.LastSeenAt = localTime(at) })
}

// updateUser applies edit to the stored user; a missing user is ErrNotFound.
func (s *localStore) updateUser(ctx context.Context, id string, edit func(u *User)) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		u, ok := st.users[id]
		if !ok {
			return nil, ErrNotFound
		}
		edit(&u)
		return localUsers.put(&u), nil
	})
}

func (s *localStore) MarkCredentialsReset(ctx context.Context, id string, at time.Time) error {
	return s.updateUser(ctx, id, func(u *User) { u.CredentialsResetAt = localTime(at) })
}

// DeleteUserCredentials deletes the user's credentials one record each.
func (s *localStore) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	var keys []localCredKey
	err := s.view(ctx, func(st *localState) error {
		for k, c := range st.creds {
			if c.UserID == userID {
				keys = append(keys, k)
			}
		}
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = localCreds.remove(ctx, s, k)
		}
	}
	return len(keys), err
}
