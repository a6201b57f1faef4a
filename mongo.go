package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongoOpTimeout bounds every MongoDB call, so a database that stops
// answering turns into a quick 503 instead of hung requests.
const mongoOpTimeout = 3 * time.Second

// mongoStore keeps metadata in MongoDB (6+, Atlas, or a compatible server).
// It uses no multi-document transactions and enforces expiry in queries, so
// servers without TTL indexes (FerretDB) work too.
//
// The queries rely on unique indexes for correctness, not only speed (one
// user per issuer and subject, one credential per hash, one file per object
// key), so every call answers ErrUnavailable until the indexes exist: the
// check is in opContext, which every call starts with, and costs one
// atomic load once they do.
type mongoStore struct {
	client                                     *mongo.Client
	files, creds, users, authStates, authCodes *mongo.Collection
	shares, shareDownloads                     *mongo.Collection // see mongo_shares.go
	log                                        *slog.Logger
	indexed                                    atomic.Bool
	retry                                      *backgroundRetry // creates the indexes once the database answers
}

var _ Store = (*mongoStore)(nil)

// openMongoStore connects lazily (the driver reconnects by itself when the
// server comes back) and creates collections and indexes, idempotently. A
// database that does not answer at start does not stop the server: the
// store then answers ErrUnavailable until the database answers and the
// indexes are created, in the background.
func openMongoStore(ctx context.Context, uri, dbName string, logger *slog.Logger) (*mongoStore, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(10 * time.Second).
		SetConnectTimeout(3 * time.Second).
		SetAppName("dropp")
	client, err := mongo.Connect(opts)
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
	required := []struct {
		coll  *mongo.Collection
		index mongo.IndexModel
	}{
		{s.files, mongo.IndexModel{Keys: bson.D{{Key: "owner", Value: 1}, {Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.files, mongo.IndexModel{Keys: bson.D{{Key: "object_key", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.creds, mongo.IndexModel{Keys: bson.D{{Key: "kind", Value: 1}, {Key: "hash", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "issuer", Value: 1}, {Key: "subject", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.shares, mongo.IndexModel{Keys: bson.D{{Key: "token_hash", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.shares, mongo.IndexModel{Keys: bson.D{{Key: "file_id", Value: 1}, {Key: "created_at", Value: 1}}}},
		{s.shareDownloads, mongo.IndexModel{Keys: bson.D{{Key: "share_id", Value: 1}}}},
		{s.shareDownloads, mongo.IndexModel{Keys: bson.D{{Key: "file_id", Value: 1}}}},
	}
	for _, index := range usageIndexes { // quota.go
		required = append(required, struct {
			coll  *mongo.Collection
			index mongo.IndexModel
		}{s.usageColl(), index})
	}
	for _, r := range required {
		if _, err := r.coll.Indexes().CreateOne(ctx, r.index); err != nil {
			return fmt.Errorf("MONGODB_URI: creating index on %s: %w", r.coll.Name(), err)
		}
	}
	for _, c := range []*mongo.Collection{s.creds, s.authStates, s.authCodes, s.shares, s.shareDownloads} {
		ttl := mongo.IndexModel{Keys: bson.D{{Key: "expires_at", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}
		if _, err := c.Indexes().CreateOne(ctx, ttl); err != nil {
			s.log.Warn("TTL index not supported; expired records stay until overwritten (queries ignore them)", "collection", c.Name(), "err", err)
		}
	}
	return nil
}

// Reasons clients read while MongoDB cannot be used. They name no driver,
// address or database: readiness is answered to anyone who asks.
const (
	reasonMongoDown     = "metadata store: database not answering"
	reasonMongoNoIndex  = "metadata store: database answers but its indexes are not created yet"
	reasonMongoNotReady = "metadata store: database not ready"
)

// errIndexesPending is what every call answers until the indexes exist.
var errIndexesPending = &unavailableError{reason: reasonMongoNotReady, err: errors.New("mongodb: indexes not created yet")}

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

// mongoAway tells a database that did not answer (or not in time) from one
// that answered with a refusal.
func mongoAway(err error) bool { return errors.Is(mongoErr("", err), ErrUnavailable) }

// ready is ErrUnavailable until the indexes exist.
func (s *mongoStore) ready() error {
	if !s.indexed.Load() {
		return errIndexesPending
	}
	return nil
}

// Ping tells a database that does not answer from one whose indexes are
// still missing, for /readyz.
func (s *mongoStore) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return &unavailableError{reason: reasonMongoDown, err: err}
	}
	if !s.indexed.Load() {
		return &unavailableError{reason: reasonMongoNoIndex, err: errIndexesPending.err}
	}
	return nil
}

// Close stops the background index loop, waiting for it, then disconnects.
func (s *mongoStore) Close(ctx context.Context) error {
	s.retry.stop()
	return s.client.Disconnect(ctx)
}

// mongoErr maps driver errors to the store's sentinels. Unrecognised errors
// stay internal (wrapped), never shown to clients.
func mongoErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return ErrConflict
	case mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.Is(err, context.Canceled), retryable(err):
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	return fmt.Errorf("mongodb %s: %w", op, err)
}

// retryable reports whether the driver marks err as worth retrying. After a
// server dies, an operation can fail with the driver's unexported
// "connection pool was cleared" error, which carries no network label and
// is no timeout, yet means only that the database went away.
func retryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// opContext starts every call of the store: errIndexesPending until the
// indexes exist, and then ctx bounded by mongoOpTimeout.
func (s *mongoStore) opContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := s.ready(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, mongoOpTimeout)
	return ctx, cancel, nil
}

// ping asks the database to answer, indexes or not.
func (s *mongoStore) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, mongoOpTimeout)
	defer cancel()
	return mongoErr("ping", s.client.Ping(ctx, nil))
}

func (s *mongoStore) InsertFile(ctx context.Context, f *File) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.files.InsertOne(ctx, f)
	return mongoErr("insert file", err)
}

func (s *mongoStore) GetFile(ctx context.Context, owner, id string) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var f File
	err = s.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}).Decode(&f)
	if err != nil {
		return nil, mongoErr("get file", err)
	}
	return &f, nil
}

func (s *mongoStore) ListFiles(ctx context.Context, q ListQuery) ([]File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := bson.D{{Key: "owner", Value: q.Owner}}
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: q.Status})
	}
	if q.After != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: q.After.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: q.After.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}}},
		}})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(q.Limit))
	cur, err := s.files.Find(ctx, filter, opts)
	if err != nil {
		return nil, mongoErr("list files", err)
	}
	files := []File{} // not nil: an empty page is a list
	if err := cur.All(ctx, &files); err != nil {
		return nil, mongoErr("list files", err)
	}
	return files, nil
}

func (s *mongoStore) CompleteFile(ctx context.Context, owner, id string, size int64, etag string, at time.Time) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "status", Value: statusPending}}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: statusComplete},
		{Key: "size", Value: size},
		{Key: "etag", Value: etag},
		{Key: "completed_at", Value: at},
	}}}
	var f File
	err = s.files.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&f)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Not pending: either already complete (a no-op) or not there.
		return s.GetFile(ctx, owner, id)
	}
	if err != nil {
		return nil, mongoErr("complete file", err)
	}
	return &f, nil
}

// DeleteFile ends the file's shares first (mongo_shares.go): should the
// file's own delete then fail, the client retries it, and no share
// outlives its file. Then it deletes the file and releases its quota
// charge (quota.go).
func (s *mongoStore) DeleteFile(ctx context.Context, owner, id string) error {
	if err := s.deleteFileShares(ctx, owner, id); err != nil {
		return err
	}
	return s.deleteFileReleasing(ctx, owner, id)
}

func (s *mongoStore) InsertCredential(ctx context.Context, c Credential) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.creds.InsertOne(ctx, c)
	return mongoErr("insert credential", err)
}

func (s *mongoStore) FindCredential(ctx context.Context, kind, hash string, now time.Time) (Credential, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Credential{}, err
	}
	defer cancel()
	var c Credential
	filter := bson.D{{Key: "kind", Value: kind}, {Key: "hash", Value: hash}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	if err := s.creds.FindOne(ctx, filter).Decode(&c); err != nil {
		return Credential{}, mongoErr("find credential", err)
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

// UpsertUser finds the user under any spelling of its issuer (a new user
// gets u.Issuer's), preferring the canonical one should both exist.
func (s *mongoStore) UpsertUser(ctx context.Context, u User) (User, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return User{}, err
	}
	defer cancel()
	filter := bson.D{{Key: "issuer", Value: bson.D{{Key: "$in", Value: issuerSpellings(u.Issuer)}}}, {Key: "subject", Value: u.Subject}}
	onInsert := bson.D{{Key: "_id", Value: newID()}, {Key: "issuer", Value: u.Issuer}}
	if !u.CreatedAt.IsZero() {
		onInsert = append(onInsert, bson.E{Key: "created_at", Value: localTime(u.CreatedAt)})
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: "email", Value: u.Email}, {Key: "email_verified", Value: u.EmailVerified}, {Key: "name", Value: u.Name}, {Key: "picture", Value: u.Picture}}},
		{Key: "$setOnInsert", Value: onInsert},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After).
		SetSort(bson.D{{Key: "issuer", Value: -1}}) // "https://accounts…" before "accounts…"
	var stored User
	err = s.users.FindOneAndUpdate(ctx, filter, update, opts).Decode(&stored)
	if mongo.IsDuplicateKeyError(err) {
		// A concurrent first sign-in of the same subject inserted the user
		// after our lookup: now the update finds it. (MongoDB documents
		// that an upsert may lose this race on a unique index.)
		err = s.users.FindOneAndUpdate(ctx, filter, update, opts).Decode(&stored)
	}
	if err != nil {
		return User{}, mongoErr("upsert user", err)
	}
	return stored, nil
}

func (s *mongoStore) GetUser(ctx context.Context, id string) (User, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return User{}, err
	}
	defer cancel()
	var u User
	if err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u); err != nil {
		return User{}, mongoErr("get user", err)
	}
	return u, nil
}

func (s *mongoStore) InsertAuthState(ctx context.Context, st AuthState) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.authStates.InsertOne(ctx, st)
	return mongoErr("insert auth state", err)
}

func (s *mongoStore) TakeAuthState(ctx context.Context, hash string, now time.Time) (AuthState, error) {
	var st AuthState
	if err := s.takeOnce(ctx, s.authStates, hash, now, &st); err != nil {
		return AuthState{}, err
	}
	return st, nil
}

func (s *mongoStore) InsertAuthCode(ctx context.Context, c AuthCode) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.authCodes.InsertOne(ctx, c)
	return mongoErr("insert auth code", err)
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
