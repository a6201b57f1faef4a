package main

// Accounts and invitations on MongoDB. Invitations live in a collection of
// their own, keyed by their token's hash; taking one is takeOnce's atomic
// delete, so of concurrent redemptions exactly one wins, on every instance.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// invitationsColl is the collection of invitations.
func (s *mongoStore) invitationsColl() *mongo.Collection {
	return s.coll("invitations")
}

func (s *mongoStore) InsertInvitation(ctx context.Context, inv Invitation) error {
	return s.insertOne(ctx, s.invitationsColl(), inv, "insert invitation")
}

func (s *mongoStore) GetInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error) {
	var inv Invitation
	filter := bson.D{{Key: "_id", Value: hash}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	if err := s.decodeOne(ctx, s.invitationsColl(), filter, "get invitation", &inv); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

func (s *mongoStore) TakeInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error) {
	var inv Invitation
	if err := s.takeOnce(ctx, s.invitationsColl(), hash, now, &inv); err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

func (s *mongoStore) DeleteInvitations(ctx context.Context, email string) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	res, err := s.invitationsColl().DeleteMany(ctx, bson.D{{Key: "email", Value: email}})
	if err != nil {
		return 0, mongoErr("delete invitations", err)
	}
	return int(res.DeletedCount), nil
}

func (s *mongoStore) FindAccount(ctx context.Context, email string) (User, error) {
	var u User
	filter := bson.D{{Key: "issuer", Value: accountsIssuer}, {Key: "subject", Value: email}}
	if err := s.decodeOne(ctx, s.users, filter, "find account", &u); err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *mongoStore) SetAccountPassword(ctx context.Context, id, passwordHash string, admin bool) error {
	if err := s.setUserField(ctx, id, "password_hash", passwordHash); err != nil || !admin {
		return err
	}
	return s.setUserField(ctx, id, "admin", true)
}
