package main

// File requests on MongoDB (see requests.go). What a request has received
// is counted from the files themselves, the one source of truth, so a file
// its owner deletes, or the sweeper abandons, gives its room back.
//
// The caps are enforced as InsertShare enforces MAX_SHARES_PER_FILE, by
// inserting then counting, since FerretDB 1.x runs updates as a read then a
// write (no atomic $inc) but unique inserts are atomic. An upload first
// inserts a short-lived guard into request_guards, then counts the
// request's files and unexpired guards; over a cap, it takes its guard
// back. Kept, it inserts its file within the owner's quota and only then
// deletes its guard, so at every moment an accepted upload is counted as
// its guard, its file, or both, and the count reads the guards before the
// files (heldByRequest): the last kept insert sees every kept one, so no
// cap is ever exceeded. Counting an upload twice may refuse one too
// many near the edge, and racing inserts may all take theirs back: one
// that then finds room tries again after a random pause, a few times.

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// requestGuardTTL is how long a guard counts: longer than an upload's
// create takes, so that an instance that dies between its guard and its
// file holds no room for long. A create that would take longer gives up
// (InsertRequestFile).
const requestGuardTTL = time.Minute

// errRequestRace: an upload was over a cap, but after taking its guard
// back there was room: racing uploads, not a full request.
var errRequestRace = errors.New("request uploads raced at a cap")

// requestGuard holds one upload's place in a request while it is created.
type requestGuard struct {
	ID        string    `bson:"_id"` // the file's ID
	RequestID string    `bson:"request_id"`
	Bytes     int64     `bson:"bytes"`
	ExpiresAt time.Time `bson:"expires_at"`
}

func (s *mongoStore) requestsColl() *mongo.Collection {
	return s.coll("requests")
}

func (s *mongoStore) requestGuardsColl() *mongo.Collection {
	return s.coll("request_guards")
}

// requestIndexes are the indexes file requests need; ensureIndexes
// creates them. The TTL index on the collections' expires_at is made
// there with the others.
func (s *mongoStore) requestIndexes() []collIndex {
	return []collIndex{
		{s.requestsColl(), mongo.IndexModel{Keys: bson.D{{Key: "token_hash", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.requestsColl(), mongo.IndexModel{Keys: bson.D{{Key: "owner", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}}},
		{s.requestGuardsColl(), mongo.IndexModel{Keys: bson.D{{Key: "request_id", Value: 1}}}},
		{s.files, mongo.IndexModel{Keys: bson.D{{Key: "request_id", Value: 1}}}},
	}
}

// InsertRequest stores a new request.
func (s *mongoStore) InsertRequest(ctx context.Context, fr FileRequest) error {
	return s.insertOne(ctx, s.requestsColl(), fr, "insert request")
}

// ListRequests finds a page of requests, then counts what they received
// in one query.
func (s *mongoStore) ListRequests(ctx context.Context, q RequestQuery) ([]ReceivedRequest, error) {
	filter := bson.D{{Key: "owner", Value: q.Owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: q.Now}}}}
	if c := q.After; c != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_at", Value: bson.D{{Key: "$gt", Value: c.CreatedAt}}}},
			bson.D{{Key: "created_at", Value: c.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: c.ID}}}},
		}})
	}
	opts := onePage(q.Limit, bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}})
	var found []FileRequest
	if err := s.findAll(ctx, s.requestsColl(), filter, opts, &found); err != nil {
		return nil, mongoErr("list requests", err)
	}
	ids := make([]string, len(found))
	for i := range found {
		ids[i] = found[i].ID
	}
	received, err := s.receivedFiles(ctx, ids)
	if err != nil {
		return nil, err
	}
	reqs := make([]ReceivedRequest, len(found))
	for i := range found {
		reqs[i] = ReceivedRequest{FileRequest: found[i], Received: received[found[i].ID]}
	}
	return reqs, nil
}

// receivedFiles sums the pending and complete files of each request.
func (s *mongoStore) receivedFiles(ctx context.Context, requestIDs []string) (map[string]Usage, error) {
	match := bson.D{
		{Key: "request_id", Value: bson.D{{Key: "$in", Value: requestIDs}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{statusPending, statusComplete}}}}},
			// Held, its form still able to write (heldInRequest).
			bson.D{{Key: "status", Value: statusDeleted}, {Key: "staging_key", Value: bson.D{{Key: "$nin", Value: bson.A{nil, ""}}}}},
		}},
	}
	return s.sumByRequest(ctx, s.files, match, "charged")
}

// sumByRequest counts the documents of c that match, and sums their
// field, per request_id. It sums here rather than in a $group: FerretDB
// 1.x's $sum of a field came back 0 (measured). A file held deleted counts
// its charge only, as Usage.add counts it.
func (s *mongoStore) sumByRequest(ctx context.Context, c *mongo.Collection, match bson.D, field string) (map[string]Usage, error) {
	var rows []bson.M
	opts := options.Find().SetProjection(bson.D{{Key: "request_id", Value: 1}, {Key: field, Value: 1}, {Key: "status", Value: 1}})
	if err := s.findAll(ctx, c, match, opts, &rows); err != nil {
		return nil, mongoErr("count request files", err)
	}
	out := map[string]Usage{}
	for _, r := range rows {
		id, _ := r["request_id"].(string)
		u := out[id]
		if r["status"] != statusDeleted {
			u.Files++
		}
		switch n := r[field].(type) {
		case int64:
			u.Bytes += n
		case int32:
			u.Bytes += int64(n)
		}
		out[id] = u
	}
	return out, nil
}

// SetRequestClosed sets the flag with one conditional update (a lost race
// between a close and a reopen leaves either, as for any two edits).
func (s *mongoStore) SetRequestClosed(ctx context.Context, owner, id string, closed bool, now time.Time) (ReceivedRequest, error) {
	opCtx, cancel, err := s.opContext(ctx)
	if err != nil {
		return ReceivedRequest{}, err
	}
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
	var fr FileRequest
	err = s.requestsColl().FindOneAndUpdate(opCtx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "closed", Value: closed}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&fr)
	if err != nil {
		return ReceivedRequest{}, mongoErr("close request", err)
	}
	return s.withReceived(ctx, fr)
}

// DeleteRequest removes the owner's request.
func (s *mongoStore) DeleteRequest(ctx context.Context, owner, id string) error {
	return s.deleteOne(ctx, s.requestsColl(), bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, "delete request")
}

// RequestLink finds the open, unexpired request of that token hash.
func (s *mongoStore) RequestLink(ctx context.Context, hash string, now time.Time) (ReceivedRequest, error) {
	return s.openRequest(ctx, bson.D{{Key: "token_hash", Value: hash}}, now)
}

// openRequest finds the open, unexpired request filter matches, with what
// it received.
func (s *mongoStore) openRequest(ctx context.Context, filter bson.D, now time.Time) (ReceivedRequest, error) {
	filter = append(filter, bson.E{Key: "closed", Value: false}, bson.E{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}})
	var fr FileRequest
	if err := s.decodeOne(ctx, s.requestsColl(), filter, "find request", &fr); err != nil {
		return ReceivedRequest{}, err
	}
	return s.withReceived(ctx, fr)
}

// withReceived fills in what fr received.
func (s *mongoStore) withReceived(ctx context.Context, fr FileRequest) (ReceivedRequest, error) {
	received, err := s.receivedFiles(ctx, []string{fr.ID})
	return ReceivedRequest{FileRequest: fr, Received: received[fr.ID]}, err
}

// InsertRequestFile guards the upload's place, inserts its file within
// the quota, then lets the guard go (see the top of this file).
func (s *mongoStore) InsertRequestFile(ctx context.Context, f *File, q Quota, now time.Time) error {
	// The file must be in while its guard still counts: an upload whose
	// insert came after would be counted by a racing one in neither (review
	// 8: a request of one file held two). Its guard expires a TTL after
	// now, on the clock of this instance: the insert gives up a sixth of
	// the TTL before, a margin for the others' clocks and for the guard's
	// own tries.
	ctx, cancel := context.WithTimeout(ctx, s.requestGuardTTL*5/6)
	defer cancel()
	err := retryRacing(ctx, errRequestRace, ErrRequestFull, func() error { return s.guardRequestFile(ctx, f, now) })
	if err != nil {
		return err
	}
	err = s.InsertFileWithinQuota(ctx, f, q)
	if derr := s.deleteMany(context.WithoutCancel(ctx), s.requestGuardsColl(), bson.D{{Key: "_id", Value: f.ID}}); derr != nil {
		s.log.Warn("request: deleting an upload's guard; it expires on its own", "file", f.ID, "err", derr)
	}
	return err
}

// guardRequestFile is one try at holding f's place in its request: nil
// once its guard is kept.
func (s *mongoStore) guardRequestFile(ctx context.Context, f *File, now time.Time) error {
	fr, err := s.openRequest(ctx, bson.D{{Key: "_id", Value: f.RequestID}, {Key: "owner", Value: f.Owner}}, now)
	if err != nil {
		return err
	}
	if !fr.room(f.Charged) {
		return ErrRequestFull
	}
	if err := s.insertGuard(ctx, requestGuard{ID: f.ID, RequestID: fr.ID, Bytes: f.Charged, ExpiresAt: now.Add(s.requestGuardTTL)}); err != nil {
		return err
	}
	held, err := s.heldByRequest(ctx, fr.ID, now)
	if err == nil && held.Files <= fr.MaxFiles && held.Bytes <= fr.MaxBytes {
		return nil
	}
	if derr := s.deleteMany(ctx, s.requestGuardsColl(), bson.D{{Key: "_id", Value: f.ID}}); derr != nil {
		return mongoErr("take back request guard", derr)
	}
	if err != nil {
		return err
	}
	if after, err := s.heldByRequest(ctx, fr.ID, now); err == nil && after.Files < fr.MaxFiles && after.Bytes+f.Charged <= fr.MaxBytes {
		return errRequestRace
	}
	return ErrRequestFull
}

// insertGuard is one InsertOne of a guard.
func (s *mongoStore) insertGuard(ctx context.Context, g requestGuard) error {
	return s.insertOne(ctx, s.requestGuardsColl(), g, "insert request guard")
}

// heldByRequest is what the request holds: its unexpired guards and its
// files (an upload being created may be counted as both). The guards are
// read first: an upload whose guard is gone by then inserted its file
// before, so the files read next count it. (Read the other way round, an
// upload could insert its file after the first read and drop its guard
// before the second, and be counted in neither: measured, 6 kept of 5.)
func (s *mongoStore) heldByRequest(ctx context.Context, requestID string, now time.Time) (Usage, error) {
	guards, err := s.sumByRequest(ctx, s.requestGuardsColl(), bson.D{
		{Key: "request_id", Value: requestID}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}},
	}, "bytes")
	if err != nil {
		return Usage{}, err
	}
	files, err := s.receivedFiles(ctx, []string{requestID})
	if err != nil {
		return Usage{}, err
	}
	f, g := files[requestID], guards[requestID]
	return Usage{Files: f.Files + g.Files, Bytes: f.Bytes + g.Bytes}, nil
}
