package main

// Webhooks on MongoDB: endpoints in "webhooks", the outbox in
// "webhook_deliveries", and claims on delivery attempts in
// "webhook_claims". A claim is an insert under the unique _id
// "delivery/attempt": FerretDB 1.x runs a conditional update as a read then
// a write, so two instances could both "win" one, but of two inserts under
// one _id exactly one succeeds on every server.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The webhook collections.
func (s *mongoStore) webhooksColl() *mongo.Collection {
	return s.coll("webhooks")
}

func (s *mongoStore) deliveriesColl() *mongo.Collection {
	return s.coll("webhook_deliveries")
}

func (s *mongoStore) claimsColl() *mongo.Collection {
	return s.coll("webhook_claims")
}

// webhookIndexes are the indexes the webhook queries use.
func (s *mongoStore) webhookIndexes() []collIndex {
	return []collIndex{
		{s.webhooksColl(), mongo.IndexModel{Keys: bson.D{{Key: "owner", Value: 1}, {Key: "created_at", Value: 1}}}},
		{s.deliveriesColl(), mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "next_at", Value: 1}}}},
		{s.deliveriesColl(), mongo.IndexModel{Keys: bson.D{{Key: "webhook_id", Value: 1}, {Key: "created_at", Value: -1}}}},
	}
}

func (s *mongoStore) InsertWebhook(ctx context.Context, h Webhook) error {
	return s.insertOne(ctx, s.webhooksColl(), h, "insert webhook")
}

func (s *mongoStore) ListWebhooks(ctx context.Context, owner string) ([]Webhook, error) {
	return s.findWebhooks(ctx, bson.D{{Key: "owner", Value: owner}})
}

func (s *mongoStore) WebhooksFor(ctx context.Context, owner, event string) ([]Webhook, error) {
	return s.findWebhooks(ctx, bson.D{
		{Key: "owner", Value: bson.D{{Key: "$in", Value: bson.A{owner, serverWideOwner}}}},
		{Key: "events", Value: event},
	})
}

// findWebhooks returns the endpoints that match filter, oldest first. They
// are sorted here, not by the database: an owner has at most
// maxWebhooksPerOwner (an event's find reads the owner's and the
// server-wide ones: twice that at most), and FerretDB 2 serves a sorted
// find from a cursor whose PostgreSQL connection it then closes (about
// 20 ms of database CPU, onePage), which every counted share download and
// every event paid.
func (s *mongoStore) findWebhooks(ctx context.Context, filter bson.D) ([]Webhook, error) {
	hooks := []Webhook{}
	if err := s.findAll(ctx, s.webhooksColl(), filter, nil, &hooks); err != nil {
		return nil, mongoErr("find webhooks", err)
	}
	slices.SortFunc(hooks, func(a, b Webhook) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return hooks, nil
}

func (s *mongoStore) GetWebhook(ctx context.Context, owner, id string) (Webhook, error) {
	var h Webhook
	err := s.decodeOne(ctx, s.webhooksColl(), bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, "get webhook", &h)
	return h, err
}

func (s *mongoStore) DeleteWebhook(ctx context.Context, owner, id string) error {
	return s.deleteOne(ctx, s.webhooksColl(), bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, "delete webhook")
}

// RotateWebhookSecret sets both secrets in one update: two rotations that
// race leave one of them, whose old secret is the one before.
func (s *mongoStore) RotateWebhookSecret(ctx context.Context, owner, id, secret string, oldUntil time.Time) (Webhook, error) {
	h, err := s.GetWebhook(ctx, owner, id)
	if err != nil {
		return Webhook{}, err
	}
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Webhook{}, err
	}
	defer cancel()
	h.OldSecret, h.OldUntil, h.Secret = h.Secret, oldUntil.UTC().Truncate(time.Millisecond), secret
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "secret", Value: h.Secret}, {Key: "old_secret", Value: h.OldSecret}, {Key: "old_until", Value: h.OldUntil},
	}}}
	res, err := s.webhooksColl().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, update)
	if err == nil && res.MatchedCount == 0 {
		err = mongo.ErrNoDocuments
	}
	return h, mongoErr("rotate webhook secret", err)
}

// InsertDeliveries inserts each delivery; one already there (a duplicate
// _id) is an event emitted before, and is left as it is.
func (s *mongoStore) InsertDeliveries(ctx context.Context, ds []WebhookDelivery) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	for i := range ds {
		_, err := s.deliveriesColl().InsertOne(ctx, &ds[i])
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return mongoErr("insert webhook delivery", err)
		}
	}
	return nil
}

func (s *mongoStore) DueDeliveries(ctx context.Context, now time.Time, limit int, busy BusyEndpoints) ([]WebhookDelivery, error) {
	filter := bson.D{{Key: "status", Value: deliveryPending}, {Key: "next_at", Value: bson.D{{Key: "$lte", Value: now}}}}
	if len(busy.Webhooks) > 0 {
		filter = append(filter, bson.E{Key: "webhook_id", Value: bson.D{{Key: "$nin", Value: busy.Webhooks}}})
	}
	if len(busy.Owners) > 0 {
		filter = append(filter, bson.E{Key: "owner", Value: bson.D{{Key: "$nin", Value: busy.Owners}}})
	}
	sort := bson.D{{Key: "next_at", Value: 1}, {Key: "_id", Value: 1}}
	return s.findDeliveries(ctx, filter, sort, limit)
}

func (s *mongoStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]WebhookDelivery, error) {
	sort := bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}
	return s.findDeliveries(ctx, bson.D{{Key: "webhook_id", Value: webhookID}}, sort, limit)
}

// findDeliveries returns up to limit deliveries that match, in sort order,
// as one page (onePage: a sorted find under a plain limit costs FerretDB 2
// a PostgreSQL connection).
func (s *mongoStore) findDeliveries(ctx context.Context, filter, sort bson.D, limit int) ([]WebhookDelivery, error) {
	opts := onePage(limit, sort)
	ds := []WebhookDelivery{}
	return ds, mongoErr("find webhook deliveries", s.findAll(ctx, s.deliveriesColl(), filter, opts, &ds))
}

func (s *mongoStore) GetDelivery(ctx context.Context, id string) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := s.decodeOne(ctx, s.deliveriesColl(), bson.D{{Key: "_id", Value: id}}, "get webhook delivery", &d)
	return d, err
}

// RecordAttempt updates the delivery if it is still at the attempt before
// d's. The claim on the attempt is what keeps other instances away; the
// condition only stops a holder whose claim expired from writing over a
// later attempt.
func (s *mongoStore) RecordAttempt(ctx context.Context, d WebhookDelivery) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: d.ID}, {Key: "attempts", Value: d.Attempts - 1}}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: d.Status}, {Key: "attempts", Value: d.Attempts}, {Key: "next_at", Value: d.NextAt},
		{Key: "last_code", Value: d.LastCode}, {Key: "last_error", Value: d.LastError},
	}}}
	res, err := s.deliveriesColl().UpdateOne(ctx, filter, update)
	if err == nil && res.MatchedCount == 0 {
		return ErrConflict
	}
	return mongoErr("record webhook attempt", err)
}

// webhookClaim is one attempt's claim; expires_at also feeds the TTL index.
type webhookClaim struct {
	ID        string    `bson:"_id"` // claimKey
	ExpiresAt time.Time `bson:"expires_at"`
}

// ClaimDelivery inserts the attempt's claim. Should a claim be there
// already, it is taken over only if it has expired: the delete of the
// expired claim is conditional in the store, and the insert after it is
// again one winner among instances.
func (s *mongoStore) ClaimDelivery(ctx context.Context, id string, attempt int, now, until time.Time) (bool, error) {
	claim := webhookClaim{ID: claimKey(id, attempt), ExpiresAt: until}
	ok, err := s.insertClaim(ctx, claim)
	if ok || err != nil {
		return ok, err
	}
	expired, err := s.deleteExpiredClaim(ctx, claim.ID, now)
	if !expired || err != nil {
		return false, err
	}
	return s.insertClaim(ctx, claim)
}

// insertClaim inserts the claim; false if one with its _id is there.
func (s *mongoStore) insertClaim(ctx context.Context, c webhookClaim) (bool, error) {
	return s.insertUnique(ctx, s.claimsColl(), c, "claim webhook delivery")
}

// deleteExpiredClaim deletes the claim if it expired by now.
func (s *mongoStore) deleteExpiredClaim(ctx context.Context, id string, now time.Time) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	res, err := s.claimsColl().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return false, mongoErr("take over webhook claim", err)
	}
	return res.DeletedCount == 1, nil
}

func (s *mongoStore) ReleaseClaim(ctx context.Context, id string, attempt int) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.claimsColl().DeleteOne(ctx, bson.D{{Key: "_id", Value: claimKey(id, attempt)}})
	if errors.Is(err, mongo.ErrNoDocuments) {
		err = nil
	}
	return mongoErr("release webhook claim", err)
}
