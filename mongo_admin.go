package main

// The admin API on MongoDB (see admin.go): listing, disabling and
// touching users, and deleting their credentials.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ListUsers reads every user unsorted and sorts them here, as ListTokens
// does: the answer holds them all anyway.
func (s *mongoStore) ListUsers(ctx context.Context) ([]User, error) {
	users := []User{}
	if err := s.findAll(ctx, s.users, bson.D{}, nil, &users); err != nil {
		return nil, mongoErr("list users", err)
	}
	if err := s.withLastSeen(ctx, users); err != nil {
		return nil, err
	}
	slices.SortFunc(users, func(a, b User) int { return cmp.Or(cmp.Compare(a.Email, b.Email), cmp.Compare(a.ID, b.ID)) })
	return users, nil
}

// SetUserDisabled sets the user's flag, then marks each of their
// credentials with it (user_disabled), so that a request's credential
// lookup refuses a disabled user without reading the user. It reads the
// flag again after marking, and marks again if it changed meanwhile, so an
// enable and a disable racing each other leave the credentials marked as
// the user is; a credential stored meanwhile is marked by InsertCredential
// (mongo_credentials.go). FerretDB 1.x runs an update as a read and a write, so a
// token's last-use update (TouchToken) racing the mark could write it
// back unmarked; the admin API's disable deletes the user's credentials
// right after (DeleteUserCredentials), which leaves nothing to undo, and
// a credential stored later is marked before it is handed out.
func (s *mongoStore) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	if err := s.setUserField(ctx, id, "disabled", disabled); err != nil {
		return err
	}
	for range 10 {
		if err := s.markCredentials(ctx, id, disabled); err != nil {
			return err
		}
		now, err := s.userDisabled(ctx, id)
		if err != nil || now == disabled {
			return err
		}
		disabled = now
	}
	return fmt.Errorf("%w: user %s is disabled and enabled again too often", ErrUnavailable, id)
}

// userDisabled reads the user's flag; a user with no record is not
// disabled.
func (s *mongoStore) userDisabled(ctx context.Context, id string) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	raw, err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "disabled", Value: 1}})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, mongoErr("read user", err)
	}
	disabled, _ := raw.Lookup("disabled").BooleanOK() // absent: enabled
	return disabled, nil
}

// markCredentials sets (or clears) the user_disabled mark of each of the
// user's credentials.
func (s *mongoStore) markCredentials(ctx context.Context, userID string, disabled bool) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.creds.UpdateMany(ctx, bson.D{{Key: "user_id", Value: userID}}, credentialMark(disabled))
	return mongoErr("mark user credentials", err)
}

// markCredential marks one credential as its user's: disabled.
func (s *mongoStore) markCredential(ctx context.Context, kind, hash string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.creds.UpdateOne(ctx, bson.D{{Key: "kind", Value: kind}, {Key: "hash", Value: hash}}, credentialMark(true), options.UpdateOne().SetHint(credentialIndex))
	return mongoErr("mark credential", err)
}

// credentialMark is the update that records a user's flag on a credential.
func credentialMark(disabled bool) bson.D {
	if disabled {
		return bson.D{{Key: "$set", Value: bson.D{{Key: "user_disabled", Value: true}}}}
	}
	return bson.D{{Key: "$unset", Value: bson.D{{Key: "user_disabled", Value: ""}}}}
}

// TouchUser records when the user was last seen in a collection of its
// own (usersSeen), not in the user's document: FerretDB 1.x runs an update
// as a read and a write of the whole document, so this write, the one a
// user gets most often, wrote back as it read it a disable, a new password
// hash or a reset mark that landed in between, each answered as done
// (review 18: up to 28 of 40 races).
func (s *mongoStore) TouchUser(ctx context.Context, id string, at time.Time) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	seen := bson.D{{Key: "$set", Value: bson.D{{Key: "last_seen_at", Value: localTime(at)}}}}
	_, err = s.usersSeen().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, seen, options.UpdateOne().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		return nil // a racing first touch inserted it: as good a time
	}
	return mongoErr("record user seen", err)
}

// usersSeen holds when each user was last seen (TouchUser), by user ID.
func (s *mongoStore) usersSeen() *mongo.Collection { return s.coll("users_seen") }

// withLastSeen sets each user's LastSeenAt from usersSeen, or keeps the
// one in the user's document, written there before usersSeen, if later.
func (s *mongoStore) withLastSeen(ctx context.Context, users []User) error {
	var seen []struct {
		ID         string    `bson:"_id"`
		LastSeenAt time.Time `bson:"last_seen_at"`
	}
	if err := s.findAll(ctx, s.usersSeen(), bson.D{}, nil, &seen); err != nil {
		return mongoErr("list users seen", err)
	}
	at := make(map[string]time.Time, len(seen))
	for _, u := range seen {
		at[u.ID] = u.LastSeenAt
	}
	for i := range users {
		if t := at[users[i].ID]; t.After(users[i].LastSeenAt) {
			users[i].LastSeenAt = t
		}
	}
	return nil
}

// setUserField sets one field of a user; a missing user is ErrNotFound.
func (s *mongoStore) setUserField(ctx context.Context, id, field string, v any) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: v}}}})
	if err != nil {
		return mongoErr("update user", err)
	}
	if res.MatchedCount == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *mongoStore) MarkCredentialsReset(ctx context.Context, id string, at time.Time) error {
	return s.setUserField(ctx, id, "credentials_reset_at", localTime(at))
}

func (s *mongoStore) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	res, err := s.creds.DeleteMany(ctx, bson.D{{Key: "user_id", Value: userID}})
	if err != nil {
		return 0, mongoErr("delete user credentials", err)
	}
	return int(res.DeletedCount), nil
}
