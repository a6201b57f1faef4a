package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
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
	shareFiles                                 *mongo.Collection // see mongo_drops.go
	log                                        *slog.Logger
	indexed                                    atomic.Bool
	retry                                      *backgroundRetry // creates the indexes once the database answers
	ledgerOff                                  bool             // no quota configured: see withQuota (mongo_quota.go)
	gate                                       *dbGate          // bounds the calls in flight (dbgate.go); nil: unbounded
	subjects                                   subjectLocks     // one subject's upserts one at a time (mongo_users.go)
	requestGuardTTL                            time.Duration    // how long a request upload's guard counts (mongo_requests.go)
}

var _ Store = (*mongoStore)(nil)

// coll is the collection name in the store's database. The collections a
// feature adds (usage, completions, invitations, requests, webhooks, …)
// are reached through it, not opened as fields, so they follow files to
// whichever database and client the store was pointed at.
func (s *mongoStore) coll(name string) *mongo.Collection {
	return s.files.Database().Collection(name)
}

// withGate puts the gate in front of the store's calls (MONGODB_MAX_CALLS,
// MONGODB_QUEUE).
func withGate(calls, queue int) mongoOption {
	return func(s *mongoStore) { s.gate = newDBGate(calls, queue, mongoOpTimeout) }
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

// collIndex is an index and the collection it is on.
type collIndex struct {
	coll  *mongo.Collection
	index mongo.IndexModel
}

// insertOne inserts doc into c as one call through the gate; op names
// the call in the error (see mongoErr), e.g. "insert file".
func (s *mongoStore) insertOne(ctx context.Context, c *mongo.Collection, doc any, op string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.InsertOne(ctx, doc)
	return mongoErr(op, err)
}

// insertUnique inserts doc into c like insertOne, and answers false, not
// an error, when its unique key is taken: how a caller takes a number, a
// unit or a claim that only one caller on any instance may have.
func (s *mongoStore) insertUnique(ctx context.Context, c *mongo.Collection, doc any, op string) (bool, error) {
	err := s.insertOne(ctx, c, doc, op)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// retryRacing runs try until it answers other than race, which says its
// insert was over a cap and taken back, but there was room after: inserts
// racing at the cap, not a full one. After a race it pauses (raceBackoff)
// and tries again, up to raceAttempts tries; then the cap counts as full.
func retryRacing(ctx context.Context, race, full error, try func() error) error {
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := try()
		if !errors.Is(err, race) {
			return err
		}
		if attempt == raceAttempts {
			return full
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(raceBackoff(attempt, time.Since(start))):
		}
	}
}

// raceAttempts bounds retryRacing's tries.
const raceAttempts = 5

// raceBackoff is the random pause before try attempt+1 of an insert that
// raced at a cap, after a try that took took. A pause short beside a try
// keeps racing tries in step (under load a try spends most of its time
// waiting at the gate), and then every try of a burst counts too many and
// takes its insert back again, until all are refused with the cap's room
// empty. So the pause is drawn from a window attempt tries long, each
// counted as at least 20 ms and at most a second, which bounds the pauses
// of one insert to 10 s.
func raceBackoff(attempt int, took time.Duration) time.Duration {
	window := time.Duration(attempt) * min(max(took, 20*time.Millisecond), time.Second)
	return time.Millisecond + rand.N(window)
}

// findAll decodes every document filter matches into out.
func (s *mongoStore) findAll(ctx context.Context, c *mongo.Collection, filter bson.D, opts *options.FindOptionsBuilder, out any) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// decodeOne decodes the one document filter matches into out, as one call
// through the gate; op names the call in the error. ErrNotFound if none
// matches.
func (s *mongoStore) decodeOne(ctx context.Context, c *mongo.Collection, filter bson.D, op string, out any) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return mongoErr(op, c.FindOne(ctx, filter).Decode(out))
}

// onePage is a find of at most n documents (n >= 1) in sort's order, sent
// as one batch: limit n, batchSize n and singleBatch (a negative limit is
// how the driver asks for singleBatch). On MongoDB that is what a limit
// does: at most n documents in the first batch, and the cursor closed, so
// one command, no getMore and no killCursors (TestRequestRoundTrips); a
// page of up to 1,001 small documents is far below the 16 MiB a batch may
// hold, past which singleBatch would cut it short. It is singleBatch for
// FerretDB 2: DocumentDB (v0.106) serves any other find with a sort or a
// limit from a persistent cursor, and FerretDB (v2.5) then takes that
// PostgreSQL connection out of its pool and closes it, even when the page
// was the last (pool_cursors.go, cursor/registry.go), so the next query
// starts a new PostgreSQL backend: about 20 ms of database CPU a page,
// against 2 ms single-batch (docs/scale.md, "A list page's fixed cost on
// FerretDB 2"; TestPagedFindsAreSingleBatch). FerretDB 1.24 honours
// singleBatch as MongoDB does.
func onePage(n int, sort bson.D) *options.FindOptionsBuilder {
	return options.Find().SetSort(sort).SetLimit(-int64(n)).SetBatchSize(int32(n))
}

// deleteOne deletes the one document filter matches, as one call through
// the gate; op names the call in the error. ErrNotFound if none matched.
func (s *mongoStore) deleteOne(ctx context.Context, c *mongo.Collection, filter bson.D, op string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	res, err := c.DeleteOne(ctx, filter)
	if err != nil {
		return mongoErr(op, err)
	}
	if res.DeletedCount == 0 {
		return ErrNotFound
	}
	return nil
}

// countOf counts the documents of c that filter matches, with the count
// command, read from hint's index (nil: the engine's choice). Not the
// driver's CountDocuments, which sends an aggregate ($match, $group):
// FerretDB 2 (DocumentDB v0.106) serves any $group from a persistent
// cursor, and FerretDB (v2.5) then closes that PostgreSQL connection, as
// for a sorted find (onePage says how): about 18 ms of database CPU a
// count, against 0.5 ms for the count command, which DocumentDB answers as
// one document, with no cursor (docs/scale.md, "Counts and sums on
// FerretDB 2"). With a filter, the count command counts the matching
// documents as CountDocuments does, on MongoDB too (only a count of a whole
// collection reads its metadata, which may be off after an unclean
// shutdown); FerretDB 1.24 answers both alike.
func (s *mongoStore) countOf(ctx context.Context, c *mongo.Collection, filter, hint bson.D) (int64, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	cmd := bson.D{{Key: "count", Value: c.Name()}, {Key: "query", Value: filter}}
	if hint != nil {
		cmd = append(cmd, bson.E{Key: "hint", Value: hint})
	}
	var res struct {
		N int64 `bson:"n"`
	}
	err = c.Database().RunCommand(ctx, cmd).Decode(&res)
	return res.N, err
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

// mongoOption configures openMongoStore.
type mongoOption func(*mongoStore)
