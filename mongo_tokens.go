package main

// Personal access tokens on MongoDB (see tokens.go): credentials of kind
// kindPAT in the credentials collection.

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// decodeTokenFields reads the fields only a personal access token has,
// each optional, for decodeCredential; a field present with the wrong
// type is an error, as there.
func decodeTokenFields(doc bson.Raw, c *Credential) error {
	for _, f := range []struct {
		key string
		dst *string
	}{{"token_id", &c.TokenID}, {"name", &c.Name}, {"scope", &c.Scope}} {
		v, err := doc.LookupErr(f.key)
		if err != nil {
			continue // absent
		}
		s, ok := v.StringValueOK()
		if !ok {
			return errors.New("malformed credential document")
		}
		*f.dst = s
	}
	if v, err := doc.LookupErr("last_used_at"); err == nil {
		at, ok := v.DateTimeOK()
		if !ok {
			return errors.New("malformed credential document")
		}
		c.LastUsedAt = time.UnixMilli(at).UTC()
	}
	return nil
}

func (s *mongoStore) ListTokens(ctx context.Context, userID string, now time.Time) ([]Credential, error) {
	filter := bson.D{{Key: "user_id", Value: userID}, {Key: "kind", Value: kindPAT}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	sort := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "token_id", Value: 1}})
	tokens := []Credential{}
	if err := s.findAll(ctx, s.creds, filter, sort, &tokens); err != nil {
		return nil, mongoErr("list tokens", err)
	}
	return tokens, nil
}

func (s *mongoStore) DeleteToken(ctx context.Context, userID, tokenID string) error {
	return s.deleteOne(ctx, s.creds, bson.D{{Key: "user_id", Value: userID}, {Key: "kind", Value: kindPAT}, {Key: "token_id", Value: tokenID}}, "delete token")
}

// TouchToken is one conditional update: the filter, not the caller, says
// whether the last recorded use is old enough.
func (s *mongoStore) TouchToken(ctx context.Context, hash string, at time.Time, every time.Duration) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	at = localTime(at)
	filter := bson.D{{Key: "kind", Value: kindPAT}, {Key: "hash", Value: hash}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "last_used_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "last_used_at", Value: bson.D{{Key: "$lte", Value: at.Add(-every)}}}},
	}}}
	res, err := s.creds.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "last_used_at", Value: at}}}})
	if err != nil {
		return false, mongoErr("touch token", err)
	}
	return res.ModifiedCount > 0, nil
}
