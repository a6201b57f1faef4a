package main

// Sign-in's one-time records on MongoDB: the OAuth states and the desktop
// app's one-time codes, each taken at most once.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func (s *mongoStore) InsertAuthState(ctx context.Context, st AuthState) error {
	return s.insertOne(ctx, s.authStates, st, "insert auth state")
}

func (s *mongoStore) TakeAuthState(ctx context.Context, hash string, now time.Time) (AuthState, error) {
	var st AuthState
	if err := s.takeOnce(ctx, s.authStates, hash, now, &st); err != nil {
		return AuthState{}, err
	}
	return st, nil
}

func (s *mongoStore) InsertAuthCode(ctx context.Context, c AuthCode) error {
	return s.insertOne(ctx, s.authCodes, c, "insert auth code")
}

func (s *mongoStore) TakeAuthCode(ctx context.Context, hash string, now time.Time) (AuthCode, error) {
	var c AuthCode
	if err := s.takeOnce(ctx, s.authCodes, hash, now, &c); err != nil {
		return AuthCode{}, err
	}
	return c, nil
}

// takeOnce removes and decodes the record with that _id; of concurrent
// takes exactly one gets it (DeleteOne is atomic on every server). An
// expired record is deleted too but reported as missing.
func (s *mongoStore) takeOnce(ctx context.Context, c *mongo.Collection, id string, now time.Time, out any) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err := res.Err(); err != nil {
		return mongoErr("take "+c.Name(), err)
	}
	// Whoever actually deletes the record owns it. FindOneAndDelete would
	// do on MongoDB, but FerretDB 1.x runs it as a query then a delete, so
	// concurrent takes could all "win".
	del, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return mongoErr("take "+c.Name(), err)
	}
	if del.DeletedCount != 1 {
		return ErrNotFound
	}
	var exp struct {
		ExpiresAt time.Time `bson:"expires_at"`
	}
	if err := res.Decode(&exp); err != nil {
		return mongoErr("take "+c.Name(), err)
	}
	if !now.Before(exp.ExpiresAt) {
		return ErrNotFound
	}
	return mongoErr("take "+c.Name(), res.Decode(out))
}
