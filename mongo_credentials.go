package main

// Credentials on MongoDB: the hashed session and API tokens every
// authenticated request looks up.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// InsertCredential stores c, then reads its user: if an administrator
// disabled them meanwhile, c is marked as their other credentials are
// (markCredentials, mongo_admin.go). A disable either comes before that
// read, which sees it, or marks c itself, which exists by then; c is not
// handed out before this returns.
func (s *mongoStore) InsertCredential(ctx context.Context, c Credential) error {
	if err := s.insertOne(ctx, s.creds, c, "insert credential"); err != nil {
		return err
	}
	if c.UserDisabled {
		return nil
	}
	disabled, err := s.userDisabled(ctx, c.UserID)
	if err == nil && disabled {
		err = s.markCredential(ctx, c.Kind, c.Hash)
	}
	return err
}

func (s *mongoStore) FindCredential(ctx context.Context, kind, hash string, now time.Time) (Credential, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Credential{}, err
	}
	defer cancel()
	filter := bson.D{{Key: "kind", Value: kind}, {Key: "hash", Value: hash}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	raw, err := s.creds.FindOne(ctx, filter, options.FindOne().SetHint(credentialIndex)).Raw()
	if err != nil {
		return Credential{}, mongoErr("find credential", err)
	}
	c, err := decodeCredential(raw)
	if err != nil {
		return Credential{}, fmt.Errorf("mongodb find credential: %w", err)
	}
	return c, nil
}

// credentialIndex finds a credential by its hash. Lookups name it, as a
// share lookup names shareTokenIndex: FerretDB 2 would also read the
// expires_at (TTL) index, every unexpired credential of every user.
var credentialIndex = bson.D{{Key: "kind", Value: 1}, {Key: "hash", Value: 1}}

// decodeCredential reads a credential document field by field, without
// the driver's reflection: every request signed with a token or a session
// cookie looks one up. TestDecodeCredentialMatchesDriver holds it to the
// driver's decoder.
func decodeCredential(doc bson.Raw) (Credential, error) {
	var c Credential
	var ok [5]bool
	c.Hash, ok[0] = doc.Lookup("hash").StringValueOK()
	c.Kind, ok[1] = doc.Lookup("kind").StringValueOK()
	c.UserID, ok[2] = doc.Lookup("user_id").StringValueOK()
	created, okCreated := doc.Lookup("created_at").DateTimeOK()
	expires, okExpires := doc.Lookup("expires_at").DateTimeOK()
	ok[3], ok[4] = okCreated, okExpires
	if ok != [5]bool{true, true, true, true, true} {
		return Credential{}, errors.New("malformed credential document")
	}
	c.CreatedAt, c.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(expires).UTC()
	if v, err := doc.LookupErr("user_disabled"); err == nil {
		disabled, isBool := v.BooleanOK()
		if !isBool {
			return Credential{}, errors.New("malformed credential document")
		}
		c.UserDisabled = disabled
	}
	if err := decodeTokenFields(doc, &c); err != nil { // mongo_tokens.go
		return Credential{}, err
	}
	return c, nil
}

func (s *mongoStore) DeleteCredential(ctx context.Context, kind, hash string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.creds.DeleteOne(ctx, bson.D{{Key: "kind", Value: kind}, {Key: "hash", Value: hash}})
	return mongoErr("delete credential", err)
}
