package main

// The admin API on MongoDB (see admin.go): listing, disabling and
// touching users, and deleting their credentials.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func (s *mongoStore) ListUsers(ctx context.Context) ([]User, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	cur, err := s.users.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "email", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, mongoErr("list users", err)
	}
	users := []User{}
	if err := cur.All(ctx, &users); err != nil {
		return nil, mongoErr("list users", err)
	}
	return users, nil
}

func (s *mongoStore) SetUserDisabled(ctx context.Context, id string, disabled bool) error {
	return s.setUserField(ctx, id, "disabled", disabled)
}

func (s *mongoStore) TouchUser(ctx context.Context, id string, at time.Time) error {
	return s.setUserField(ctx, id, "last_seen_at", localTime(at))
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
