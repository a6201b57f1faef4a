package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
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
	shareFiles                                 *mongo.Collection // see mongo_drops.go
	log                                        *slog.Logger
	indexed                                    atomic.Bool
	retry                                      *backgroundRetry // creates the indexes once the database answers
	ledgerOff                                  bool             // no quota configured: see withQuota (mongo_quota.go)
	gate                                       *dbGate          // bounds the calls in flight (dbgate.go); nil: unbounded
}

var _ Store = (*mongoStore)(nil)

// withGate puts the gate in front of the store's calls (MONGODB_MAX_CALLS,
// MONGODB_QUEUE).
func withGate(calls, queue int) mongoOption {
	return func(s *mongoStore) { s.gate = newDBGate(calls, queue) }
}

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
	required := []struct {
		coll  *mongo.Collection
		index mongo.IndexModel
	}{
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
		{s.passkeysColl(), passkeyIndex()}, // mongo_passkeys.go
	}
	for _, index := range dropIndexes() { // mongo_drops.go
		required = append(required, struct {
			coll  *mongo.Collection
			index mongo.IndexModel
		}{s.shareFiles, index})
	}
	required = append(required, s.webhookIndexes()...)
	// File requests' indexes (mongo_requests.go).
	required = append(required, s.requestIndexes()...)
	for _, index := range usageIndexes() { // mongo_quota.go
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
	if err := s.dropStaleLedger(ctx); err != nil { // mongo_quota.go
		return err
	}
	// The sweeper's walk (PendingFilesBefore) only runs faster with it: a
	// database that cannot build it still opens.
	sweep := mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}}
	if _, err := s.files.Indexes().CreateOne(ctx, sweep); err != nil {
		s.log.Warn("the sweeper's index on files could not be created; sweeps scan the pending files instead", "err", err)
	}
	for _, c := range []*mongo.Collection{s.creds, s.authStates, s.authCodes, s.shares, s.shareDownloads, s.shareFiles, s.completionsColl(), s.invitationsColl(), s.deliveriesColl(), s.claimsColl(),
		s.requestsColl(), s.requestGuardsColl(), s.rateSpendsColl()} {
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
	case duplicateKey(err):
		return ErrConflict
	case mongo.IsTimeout(err), mongo.IsNetworkError(err), errors.Is(err, context.Canceled), retryable(err):
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	return fmt.Errorf("mongodb %s: %w", op, err)
}

// duplicateKey reports whether err is a write refused by a unique index.
// MongoDB says so with E11000. FerretDB 2 on DocumentDB says so only when
// it sees the taken key itself; a write that races another one past that
// check is refused by PostgreSQL's exclusion constraint behind the unique
// index, which reaches the client as an InternalError naming it (seen on
// concurrent first sign-ins: TestUpsertUserConcurrentFirstSignIn/documentdb).
func duplicateKey(err error) bool {
	var se mongo.ServerError
	return mongo.IsDuplicateKeyError(err) ||
		errors.As(err, &se) && strings.Contains(err.Error(), "conflicting key value violates exclusion constraint")
}

// upsertDeadlock reports whether PostgreSQL, under FerretDB 2, chose this
// upsert as the victim of a deadlock with a concurrent one (seen on
// concurrent first sign-ins): nothing was written, and trying again is safe.
func upsertDeadlock(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && strings.Contains(err.Error(), "deadlock detected")
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
// indexes exist, and then ctx bounded by mongoOpTimeout, once the call is
// through the gate (dbgate.go), where it may wait as long again. The
// driver sends what is left of the deadline as maxTimeMS, so the database
// also stops when Dropp gives up. cancel also gives the gate back.
func (s *mongoStore) opContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := s.ready(); err != nil {
		return nil, nil, err
	}
	ctx, pass, err := s.gate.enter(ctx, mongoOpTimeout)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, mongoOpTimeout)
	var done atomic.Bool // some calls cancel early and again in a defer
	return ctx, func() {
		if done.CompareAndSwap(false, true) {
			pass.leave(ctx) // before cancel, which would end ctx
		}
		cancel()
	}, nil
}

// deleteMany is one DeleteMany, bounded by mongoOpTimeout.
func (s *mongoStore) deleteMany(ctx context.Context, c *mongo.Collection, filter bson.D) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.DeleteMany(ctx, filter)
	return err
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
	raw, err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, notDeleted}).Raw()
	if err != nil {
		return nil, mongoErr("get file", err)
	}
	// Read as a list reads its page (decodeFile, no reflection): a
	// download, a complete and a delete each get one file.
	got := new(struct {
		f   File
		opt fileOptionals
	})
	if err := decodeFile(raw, &got.f, &got.opt, owner); err != nil {
		return nil, fmt.Errorf("mongodb get file: %w", err)
	}
	return &got.f, nil
}

// ListFiles reads the page from the cursor's raw documents (decodeFile)
// rather than through the driver's reflection decoder, which was the
// largest cost of a list request. The batch size is the page size, so a
// page of up to 1000 files takes one round trip.
func (s *mongoStore) ListFiles(ctx context.Context, q ListQuery) ([]File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	opts := options.Find().
		SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetHint(listIndex).
		SetLimit(int64(q.Limit)).
		SetBatchSize(int32(q.Limit))
	cur, err := s.files.Find(ctx, listFilter(q), opts)
	if err != nil {
		return nil, mongoErr("list files", err)
	}
	defer cur.Close(ctx)
	n := min(q.Limit, cur.RemainingBatchLength())
	files := make([]File, 0, n) // not nil: an empty page is a list
	optional := make([]fileOptionals, 0, n)
	for cur.Next(ctx) {
		optional = append(optional, fileOptionals{})
		files = append(files, File{})
		if err := decodeFile(cur.Current, &files[len(files)-1], &optional[len(optional)-1], q.Owner); err != nil {
			return nil, mongoErr("list files", err)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, mongoErr("list files", err)
	}
	return files, nil
}

// listIndex is the index a list reads: the owner's files in list order.
// A list names it (a hint), because FerretDB 2 (DocumentDB) plans its
// status != deleted from the sweeper's status index too, reading the
// entries of every user's files (TestHotQueriesUseIndexes); MongoDB would
// choose it anyway.
var listIndex = bson.D{{Key: "owner", Value: 1}, {Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}

// notDeleted hides the files held deleted (statusDeleted) from the owner.
var notDeleted = bson.E{Key: "status", Value: bson.D{{Key: "$ne", Value: statusDeleted}}}

// listFilter selects the owner's files of q's status after q's cursor.
func listFilter(q ListQuery) bson.D {
	filter := bson.D{{Key: "owner", Value: q.Owner}}
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: q.Status})
	} else {
		filter = append(filter, notDeleted)
	}
	if q.After != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$lt", Value: q.After.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: q.After.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}}},
		}})
	}
	return filter
}

// fileOptionals holds what a decoded File's pointer fields point to, so
// that a page allocates them in one array rather than three times a file.
type fileOptionals struct {
	declaredSize, size           int64
	completedAt, uploadExpiresAt time.Time
}

// decodeFile fills f from one raw BSON files document, as the driver's
// decoder would from File's bson tags (TestDecodeFileMatchesDriver holds it
// to that), in one pass over the document's elements, with the pointer
// fields pointing into opt. Strings that repeat on every document (owner,
// status) are shared instead of copied.
func decodeFile(doc bson.Raw, f *File, opt *fileOptionals, owner string) error {
	*f = File{}
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok || int(length) != len(doc) || length < 5 {
		return errors.New("malformed BSON document")
	}
	rem = rem[:len(rem)-1] // the document's closing NUL
	var d rawFields
	for len(rem) > 0 {
		elem, rest, ok := bsoncore.ReadElement(rem)
		if !ok {
			return errors.New("malformed BSON element")
		}
		rem = rest
		v := elem.Value()
		switch key := elem.KeyBytes(); string(key) {
		case "_id":
			f.ID = d.str("_id", v)
		case "owner":
			f.Owner = d.str("owner", v, owner)
		case "filename":
			f.Filename = d.str("filename", v)
		case "declared_size":
			f.DeclaredSize = d.int64("declared_size", v, &opt.declaredSize)
		case "size":
			f.Size = d.int64("size", v, &opt.size)
		case "content_type":
			f.ContentType = d.str("content_type", v)
		case "status":
			f.Status = d.str("status", v, statusPending, statusComplete, statusDeleted)
		case "object_key":
			f.ObjectKey = d.str("object_key", v)
		case "etag":
			f.ETag = d.str("etag", v)
		case "created_at":
			d.time("created_at", v, &f.CreatedAt)
		case "completed_at":
			f.CompletedAt = d.time("completed_at", v, &opt.completedAt)
		case "charged":
			d.int64("charged", v, &f.Charged)
		case "upload_id":
			f.UploadID = d.str("upload_id", v)
		case "part_size":
			d.int64("part_size", v, &f.PartSize)
		case "part_count":
			var n int64
			if d.int64("part_count", v, &n) != nil {
				f.PartCount = int(n)
			}
		case "upload_expires_at":
			f.UploadExpiresAt = d.time("upload_expires_at", v, &opt.uploadExpiresAt)
		case "staging_key":
			f.StagingKey = d.str("staging_key", v)
		case "request_id":
			f.RequestID = d.str("request_id", v)
		case "sender_name":
			f.SenderName = d.str("sender_name", v)
		case "sender_note":
			f.SenderNote = d.str("sender_note", v)
		}
	}
	if d.err == nil && f.CreatedAt.IsZero() {
		d.err = errors.New(`field "created_at" is missing`)
	}
	return d.err
}

// rawFields reads typed values of raw BSON elements, keeping the first
// error. A null value reads as the zero value, as for the driver.
type rawFields struct{ err error }

// check tells whether v holds one of the wanted types; null is not an
// error, any other type is.
func (d *rawFields) check(key string, v bsoncore.Value, want ...bsoncore.Type) bool {
	if v.Type == bsoncore.TypeNull {
		return false
	}
	for _, t := range want {
		if v.Type == t {
			return true
		}
	}
	if d.err == nil {
		d.err = fmt.Errorf("field %q has BSON type %v", key, v.Type)
	}
	return false
}

// str reads a string, returning the matching one of known when there is
// one, so that repeated values cost no allocation.
func (d *rawFields) str(key string, v bsoncore.Value, known ...string) string {
	if !d.check(key, v, bsoncore.TypeString) {
		return ""
	}
	// A BSON string is its length (int32), its bytes and a NUL; ReadElement
	// has checked that the length fits the document.
	if len(v.Data) < 5 {
		d.err = fmt.Errorf("field %q is a malformed string", key)
		return ""
	}
	b := v.Data[4 : len(v.Data)-1]
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// int64 reads an integer into *slot and returns slot, or nil for null.
func (d *rawFields) int64(key string, v bsoncore.Value, slot *int64) *int64 {
	if !d.check(key, v, bsoncore.TypeInt64, bsoncore.TypeInt32, bsoncore.TypeDouble) {
		return nil
	}
	if v.Type != bsoncore.TypeDouble {
		*slot = v.AsInt64()
		return slot
	}
	// A whole number stored as a double (mongosh writes numbers so) reads
	// as the driver reads it; a fraction, or one past int64, is an error.
	f := v.Double()
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		if d.err == nil {
			d.err = fmt.Errorf("field %q is %g, not a whole number", key, f)
		}
		return nil
	}
	*slot = int64(f)
	return slot
}

// time reads a date into *slot (in UTC, as the driver decodes dates) and
// returns slot, or nil for null.
func (d *rawFields) time(key string, v bsoncore.Value, slot *time.Time) *time.Time {
	if !d.check(key, v, bsoncore.TypeDateTime) {
		return nil
	}
	*slot = time.UnixMilli(v.DateTime()).UTC()
	return slot
}

func (s *mongoStore) CompleteFile(callerCtx context.Context, owner, id, key string, size int64, etag string, at time.Time) (*File, bool, error) {
	ctx, cancel, err := s.opContext(callerCtx)
	if err != nil {
		return nil, false, err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "status", Value: statusPending}}
	set := bson.D{
		{Key: "status", Value: statusComplete},
		{Key: "size", Value: size},
		{Key: "etag", Value: etag},
		{Key: "completed_at", Value: at},
	}
	if key != "" {
		set = append(set, bson.E{Key: "object_key", Value: key})
	}
	update := bson.D{{Key: "$set", Value: set}}
	var f File
	err = s.files.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&f)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Not pending: either already complete (a no-op) or not there.
		done, err := s.GetFile(ctx, owner, id)
		return done, false, err
	}
	if err != nil {
		return nil, false, mongoErr("complete file", err)
	}
	// The file is complete now: its claim is written even if the client
	// has gone, with a budget of its own.
	return &f, s.claimCompletion(context.WithoutCancel(callerCtx), id, at), nil
}

// completionClaimTTL is how long a completion's claim is kept: far longer
// than two completes of one file can race (both read it pending).
const completionClaimTTL = time.Hour

// completionsColl holds one claim per completed file, under its _id, for
// completionClaimTTL (the sweeper deletes them after).
func (s *mongoStore) completionsColl() *mongo.Collection {
	return s.files.Database().Collection("completions")
}

// claimCompletion tells whether this call is the one that completed the
// file. On MongoDB the conditional update alone would tell, but FerretDB
// runs it as a read then a write, so two completes can both match the
// pending file; a unique insert is atomic on both. A failed insert only
// logs: the file is complete either way, and at worst goes uncounted.
func (s *mongoStore) claimCompletion(ctx context.Context, id string, at time.Time) bool {
	ctx, cancel, err := s.opContext(ctx)
	if err == nil {
		defer cancel()
		claim := bson.D{{Key: "_id", Value: id}, {Key: "expires_at", Value: at.Add(completionClaimTTL)}}
		_, err = s.completionsColl().InsertOne(ctx, claim)
		err = mongoErr("claim completion", err)
	}
	if err != nil && !errors.Is(err, ErrConflict) {
		s.log.Warn("claiming a file's completion", "file", id, "err", err)
	}
	return err == nil
}

// DeleteFile ends the file's shares first (mongo_shares.go): should the
// file's own delete then fail, the client retries it, and no share
// outlives its file. Then it deletes the file and releases its quota
// charge (mongo_quota.go).
func (s *mongoStore) DeleteFile(ctx context.Context, owner, id string) (*File, error) {
	if err := s.deleteFileShares(ctx, owner, id); err != nil {
		return nil, err
	}
	return s.deleteFileReleasing(ctx, owner, id)
}

// HoldDeletedFile ends the file's shares first, as DeleteFile does, then
// marks it deleted in one conditional update; its bytes stay charged, and
// the ledger takes it off the file count (holdInLedger).
func (s *mongoStore) HoldDeletedFile(ctx context.Context, owner, id string) (*File, error) {
	if err := s.deleteFileShares(ctx, owner, id); err != nil {
		return nil, err
	}
	if !s.ledgerOff {
		// The ledger must exist before the file is held, as before a delete.
		if _, err := s.usageHead(ctx, owner); err != nil {
			return nil, err
		}
	}
	f, err := s.markDeleted(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return f, s.holdInLedger(ctx, owner, id)
}

// markDeleted sets the owner's file that names a staging key to statusDeleted.
func (s *mongoStore) markDeleted(ctx context.Context, owner, id string) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, notDeleted,
		{Key: "staging_key", Value: bson.D{{Key: "$gt", Value: ""}}}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: statusDeleted}}}}
	var f File
	if err := s.files.FindOneAndUpdate(ctx, filter, update).Decode(&f); err != nil {
		return nil, mongoErr("hold deleted file", err)
	}
	return &f, nil
}

// InsertCredential stores c, then reads its user: if an administrator
// disabled them meanwhile, c is marked as their other credentials are
// (markCredentials, mongo_admin.go). A disable either comes before that
// read, which sees it, or marks c itself, which exists by then; c is not
// handed out before this returns.
func (s *mongoStore) InsertCredential(ctx context.Context, c Credential) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if _, err = s.creds.InsertOne(ctx, c); err != nil {
		return mongoErr("insert credential", err)
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
	set := bson.D{{Key: "email", Value: u.Email}, {Key: "email_verified", Value: u.EmailVerified}, {Key: "name", Value: u.Name}, {Key: "picture", Value: u.Picture}}
	update := bson.D{{Key: "$setOnInsert", Value: onInsert}}
	// Groups are refreshed like the rest, and removed when there are none,
	// as the record's omitempty would leave them out.
	if len(u.Groups) > 0 {
		set = append(set, bson.E{Key: "groups", Value: u.Groups})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "groups", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: set})
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After).
		SetSort(bson.D{{Key: "issuer", Value: -1}}) // "https://accounts…" before "accounts…"
	var stored User
	err = s.users.FindOneAndUpdate(ctx, filter, update, opts).Decode(&stored)
	for attempt := 0; attempt < 3 && (duplicateKey(err) || upsertDeadlock(err)); attempt++ {
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

// HasObjectKey tells whether a file record names the object key.
func (s *mongoStore) HasObjectKey(ctx context.Context, key string) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := s.files.CountDocuments(ctx, bson.D{{Key: "object_key", Value: key}}, options.Count().SetLimit(1))
	return n > 0, mongoErr("find object key", err)
}
