package main

// Personal access tokens on MongoDB (see tokens.go): credentials of kind
// kindPAT in the credentials collection.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
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

// ListTokens reads the user's tokens unsorted and sorts them here: the
// answer holds them all anyway, and FerretDB 2 serves a sorted find from a
// persistent cursor whose PostgreSQL connection it then closes (onePage).
func (s *mongoStore) ListTokens(ctx context.Context, userID string, now time.Time) ([]Credential, error) {
	filter := bson.D{{Key: "user_id", Value: userID}, {Key: "kind", Value: kindPAT}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	tokens := []Credential{}
	if err := s.findAll(ctx, s.creds, filter, nil, &tokens); err != nil {
		return nil, mongoErr("list tokens", err)
	}
	slices.SortFunc(tokens, func(a, b Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.TokenID, b.TokenID))
	})
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
