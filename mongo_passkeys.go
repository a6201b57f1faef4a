package main

// Passkeys on MongoDB: the "passkeys" collection, keyed by credential ID,
// indexed by user. The counter update is one conditional update, so of
// two sign-ins racing with one counter value only one passes.

import (
	"cmp"
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// passkeysColl is the collection of passkeys.
func (s *mongoStore) passkeysColl() *mongo.Collection {
	return s.coll("passkeys")
}

// passkeyIndex finds a user's passkeys.
func passkeyIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "created_at", Value: 1}}}
}

func (s *mongoStore) InsertPasskey(ctx context.Context, p Passkey) error {
	p.CreatedAt, p.LastUsedAt = localTime(p.CreatedAt), localTime(p.LastUsedAt)
	return s.insertOne(ctx, s.passkeysColl(), p, "insert passkey")
}

func (s *mongoStore) GetPasskey(ctx context.Context, id string) (Passkey, error) {
	var p Passkey
	if err := s.decodeOne(ctx, s.passkeysColl(), bson.D{{Key: "_id", Value: id}}, "get passkey", &p); err != nil {
		return Passkey{}, err
	}
	return p, nil
}

// UserPasskeys reads the user's passkeys unsorted and sorts them here, as
// ListTokens does.
func (s *mongoStore) UserPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	var list []Passkey
	if err := s.findAll(ctx, s.passkeysColl(), bson.D{{Key: "user_id", Value: userID}}, nil, &list); err != nil {
		return nil, mongoErr("list passkeys", err)
	}
	slices.SortFunc(list, func(a, b Passkey) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return list, nil
}

func (s *mongoStore) UsePasskey(ctx context.Context, id string, from, count int64, at time.Time) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "sign_count", Value: from}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "sign_count", Value: count}, {Key: "last_used_at", Value: localTime(at)}}}}
	res, err := s.passkeysColl().UpdateOne(ctx, filter, update)
	if err != nil {
		return mongoErr("use passkey", err)
	}
	if res.MatchedCount == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *mongoStore) DeletePasskey(ctx context.Context, id string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.passkeysColl().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return mongoErr("delete passkey", err)
	}
	return nil
}

func (s *mongoStore) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	res, err := s.passkeysColl().DeleteMany(ctx, bson.D{{Key: "user_id", Value: userID}})
	if err != nil {
		return 0, mongoErr("delete passkeys", err)
	}
	return int(res.DeletedCount), nil
}
