package main

// Opening the MongoDB store: connecting, then creating every collection's
// indexes, at start or, while the database is away, in the background.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// openMongoStore connects lazily (the driver reconnects by itself when the
// server comes back) and creates collections and indexes, idempotently. A
// database that does not answer at start does not stop the server: the
// store then answers ErrUnavailable until the database answers and the
// indexes are created, in the background.
func openMongoStore(ctx context.Context, uri, dbName string, logger *slog.Logger, opts ...mongoOption) (*mongoStore, error) {
	clientOpts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(10 * time.Second).
		SetConnectTimeout(3 * time.Second).
		SetAppName("dropp")
	client, err := mongo.Connect(clientOpts)
	if err != nil {
		return nil, fmt.Errorf("MONGODB_URI: %w", err)
	}
	db := client.Database(dbName)
	s := &mongoStore{
		client:     client,
		files:      db.Collection("files"),
		creds:      db.Collection("credentials"),
		users:      db.Collection("users"),
		authStates: db.Collection("auth_states"),
		authCodes:  db.Collection("auth_codes"),
		log:        logger,
		retry:      newBackgroundRetry(),
		shares:     db.Collection("shares"),

		shareDownloads: db.Collection("share_downloads"),
		shareFiles:     db.Collection("share_files"),

		requestGuardTTL: requestGuardTTL,
	}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.indexAtStart(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// ensureIndexes creates the indexes the queries rely on. TTL indexes only
// tidy up (queries check expiry themselves), so a server that lacks them
// gets a log line, not a failed start.
func (s *mongoStore) ensureIndexes(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	required := []collIndex{
		{s.files, mongo.IndexModel{Keys: listIndex}},
		{s.files, mongo.IndexModel{Keys: bson.D{{Key: "object_key", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.creds, mongo.IndexModel{Keys: credentialIndex, Options: options.Index().SetUnique(true)}},
		{s.creds, mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "kind", Value: 1}, {Key: "created_at", Value: 1}}}}, // a user's tokens (mongo_tokens.go)
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "issuer", Value: 1}, {Key: "subject", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.shares, mongo.IndexModel{Keys: shareTokenIndex, Options: options.Index().SetUnique(true)}},
		// A file's shares, for its owner, in the order they are listed and paged.
		{s.shares, mongo.IndexModel{Keys: bson.D{{Key: "file_id", Value: 1}, {Key: "owner", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}}},
		{s.shareDownloads, mongo.IndexModel{Keys: bson.D{{Key: "share_id", Value: 1}}}},
		{s.shareDownloads, mongo.IndexModel{Keys: bson.D{{Key: "file_id", Value: 1}}}},
		// The owner's shares, all files, in list order (GET /shares).
		{s.shares, mongo.IndexModel{Keys: bson.D{{Key: "owner", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}}},
		{s.passkeysColl(), passkeyIndex()},                                              // mongo_passkeys.go
		{s.invitationsColl(), mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}}}, // an email's invitations (DeleteInvitations)
	}
	for _, index := range dropIndexes() { // mongo_drops.go
		required = append(required, collIndex{s.shareFiles, index})
	}
	required = append(required, s.webhookIndexes()...)
	// File requests' indexes (mongo_requests.go).
	required = append(required, s.requestIndexes()...)
	for _, index := range usageIndexes() { // mongo_quota.go
		required = append(required, collIndex{s.usageColl(), index})
	}
	for _, r := range required {
		if _, err := r.coll.Indexes().CreateOne(ctx, r.index); err != nil {
			return fmt.Errorf("MONGODB_URI: creating index on %s: %w", r.coll.Name(), err)
		}
	}
	if err := s.dropStaleLedger(ctx); err != nil { // mongo_quota.go
		return err
	}
	// The sweeper's walk (PendingFilesBefore) only runs faster with it: a
	// database that cannot build it still opens.
	sweep := mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}}
	if _, err := s.files.Indexes().CreateOne(ctx, sweep); err != nil {
		s.log.Warn("the sweeper's index on files could not be created; sweeps scan the pending files instead", "err", err)
	}
	for _, c := range s.expiringColls() {
		ttl := mongo.IndexModel{Keys: bson.D{{Key: "expires_at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}
		if _, err := c.Indexes().CreateOne(ctx, ttl); err != nil {
			s.log.Warn("TTL index not supported; expired records stay until overwritten (queries ignore them)", "collection", c.Name(), "err", err)
		}
	}
	return nil
}

// expiringColls are the collections whose documents end at their
// expires_at: a TTL index deletes them on MongoDB and FerretDB 2, and the
// sweeper (DeleteExpired) on an engine that refuses the index, such as
// FerretDB 1.x. One list, so that nothing expires on one engine and piles
// up on the other (review 15: webhook deliveries were listed and walked for
// ever on FerretDB 1.x).
func (s *mongoStore) expiringColls() []*mongo.Collection {
	return []*mongo.Collection{s.creds, s.authStates, s.authCodes, s.shares, s.shareDownloads, s.shareFiles,
		s.completionsColl(), s.invitationsColl(), s.deliveriesColl(), s.claimsColl(), s.requestsColl(),
		s.requestGuardsColl(), s.rateSpendsColl()}
}

// indexAtStart creates the indexes now if the database answers within
// mongoOpTimeout, and otherwise leaves them to a background loop, so that
// start-up never waits on a database that is away. A database that answers
// but refuses to create them is a configuration error, returned.
func (s *mongoStore) indexAtStart(ctx context.Context) error {
	err := s.ping(ctx)
	if err == nil {
		err = s.createIndexes(ctx)
	}
	switch {
	case err == nil:
		return nil
	case !mongoAway(err):
		return err
	}
	s.log.Warn("MongoDB does not answer: requests get 503 until it does; its indexes will be created then", "err", err)
	s.retry.start(s.indexed.Load, s.indexInBackground)
	return nil
}

// createIndexes makes one attempt at the indexes and opens the store once
// they exist.
func (s *mongoStore) createIndexes(ctx context.Context) error {
	if err := s.ensureIndexes(ctx); err != nil {
		return err
	}
	s.indexed.Store(true)
	return nil
}

// indexInBackground is one attempt of the background loop. A database that
// is still away is expected and not logged again; anything else is.
func (s *mongoStore) indexInBackground(ctx context.Context) {
	err := s.createIndexes(ctx)
	switch {
	case err == nil:
		s.log.Info("MongoDB answers and its indexes exist: the metadata store is ready")
	case ctx.Err() == nil && !mongoAway(err):
		s.log.Warn("MongoDB answers but the indexes could not be created; retrying", "err", err)
	}
}
