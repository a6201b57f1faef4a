package main

// Files on MongoDB: the file records, the owner's pages (listFilter, named
// index listIndex), the hand-written decoder the hot reads use (decodeFile,
// held to the driver's by TestDecodeFileMatchesDriver), completion and
// deletion.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func (s *mongoStore) InsertFile(ctx context.Context, f *File) error {
	return s.insertOne(ctx, s.files, f, "insert file")
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
// largest cost of a list request. The page is one batch (onePage), so a
// page of up to 1000 files takes one round trip.
func (s *mongoStore) ListFiles(ctx context.Context, q ListQuery) ([]File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	opts := onePage(q.Limit, bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetHint(listIndex)
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
	detached := context.WithoutCancel(callerCtx) // what follows is written even if the client has gone
	if errors.Is(err, mongo.ErrNoDocuments) {
		// Not pending: either already complete (a no-op) or not there.
		// Complete, it may be an earlier try's, answered 503 when
		// finishing a sweep or a hold failed: that is finished now.
		done, err := s.GetFile(ctx, owner, id)
		if err != nil {
			return nil, false, err
		}
		claim, err := s.readClaim(detached, id)
		if err != nil {
			return nil, false, err
		}
		return s.finishClaimed(detached, owner, id, claim.Kind, done, false)
	}
	if err != nil {
		return nil, false, mongoErr("complete file", err)
	}
	taken, first, err := s.claimCompletion(detached, id, f.ObjectKey, at)
	if err != nil {
		return nil, false, err
	}
	return s.finishClaimed(detached, owner, id, first, &f, taken)
}

// finishClaimed answers a complete of file f, made complete by this call
// (taken) or before: as it is, unless the sweeper or an owner's hold
// claimed the file first, which wins (finishSweep, finishHold).
func (s *mongoStore) finishClaimed(ctx context.Context, owner, id, first string, f *File, taken bool) (*File, bool, error) {
	switch first {
	case claimSwept:
		return nil, false, s.finishSweep(ctx, owner, id)
	case claimHeld:
		return nil, false, s.finishHold(ctx, owner, id)
	}
	return f, taken, nil
}

// finishHold marks deleted again a file its owner deleted (HoldDeletedFile
// claimed it) while this complete's update went through: on FerretDB 1.x
// that update, a read then a write, may have written the file back over
// the hold. The complete is not acknowledged (ErrNotFound: its caller
// deletes the copy it promoted), and the owner's delete stands.
func (s *mongoStore) finishHold(ctx context.Context, owner, id string) error {
	if err := s.markDeletedAgain(ctx, owner, id, ""); err != nil {
		return err
	}
	return fmt.Errorf("%w: the upload was deleted", ErrNotFound)
}

// markDeletedAgain sets a held file's status back to deleted, after an
// update that read it before its hold may have written it back; with
// stagingKey, that key too, which the update may have cleared.
func (s *mongoStore) markDeletedAgain(ctx context.Context, owner, id, stagingKey string) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	held := bson.D{{Key: "status", Value: statusDeleted}}
	if stagingKey != "" {
		held = append(held, bson.E{Key: "staging_key", Value: stagingKey})
	}
	_, err = s.files.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, bson.D{{Key: "$set", Value: held}})
	return mongoErr("hold deleted file", err)
}

// finishSweep deletes a file the sweeper claimed as abandoned while this
// complete's update went through: the sweeper's delete, a read then a
// delete on FerretDB 1.x, may have read it before that update or after,
// and so may or may not delete it. Deleted here, no complete record
// outlives the complete's ErrNotFound, whose caller deletes the copy it
// promoted; should this delete fail, the error stands, and the file
// stays complete with its copy, for the client's retry to find.
func (s *mongoStore) finishSweep(ctx context.Context, owner, id string) error {
	deleted, err := s.deleteFileReleasing(ctx, owner, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return &sweptError{deleted: deleted}
}

// completionClaimTTL is how long a completion's claim is kept: far longer
// than two completes of one file can race (both read it pending), or a
// sweep and a complete.
const completionClaimTTL = time.Hour

// completionsColl holds one claim per file that left pending, under its
// _id, for completionClaimTTL (the sweeper deletes them after): a
// complete's, or the sweeper's (kind claimSwept) for an abandoned upload.
func (s *mongoStore) completionsColl() *mongo.Collection {
	return s.coll("completions")
}

// The kinds of claim besides a complete's, which has none: the sweeper's,
// taken before it deletes an abandoned upload, and a hold's, taken when an
// owner's delete holds a file that was pending (HoldDeletedFile).
const (
	claimSwept = "swept"
	claimHeld  = "held"
)

// completionClaim is a claim in completionsColl.
type completionClaim struct {
	ID        string    `bson:"_id"`
	Kind      string    `bson:"kind,omitempty"`
	Key       string    `bson:"key,omitempty"` // a complete's: the object key it wrote
	ExpiresAt time.Time `bson:"expires_at"`
}

// claimCompletion tells whether this call is the one that completed the
// file, and if not, the kind of the claim that came first: another
// complete's (""), the sweeper's or a hold's. On MongoDB the conditional
// update alone would tell, but FerretDB 1.x runs it as a read then a
// write, so two completes can both match the pending file, and so can the
// sweeper's delete and an owner's hold; a unique insert is atomic on both.
// A failed insert is an error: the complete is not acknowledged without
// knowing whether the sweeper or a hold came first, and its retry finds
// out (CompleteFile's not-pending path).
func (s *mongoStore) claimCompletion(ctx context.Context, id, key string, at time.Time) (taken bool, first string, err error) {
	claim := completionClaim{ID: id, Key: key, ExpiresAt: at.Add(completionClaimTTL)}
	taken, err = s.insertUnique(ctx, s.completionsColl(), claim, "claim completion")
	if err != nil {
		return false, "", err
	}
	if taken {
		return true, "", nil
	}
	claim, err = s.readClaim(ctx, id)
	return false, claim.Kind, err
}

// readClaim reads the file's claim; none if it has just expired (a claim
// of an hour ago, no race of now).
func (s *mongoStore) readClaim(ctx context.Context, id string) (completionClaim, error) {
	var claim completionClaim
	err := s.decodeOne(ctx, s.completionsColl(), bson.D{{Key: "_id", Value: id}}, "claim completion", &claim)
	if errors.Is(err, ErrNotFound) {
		return completionClaim{}, nil
	}
	return claim, err
}

// claimHold takes a held file's claim once its hold has been written, if
// the file was pending: a complete that claims after it is not
// acknowledged, and marks the file deleted again (finishHold). A
// complete that claimed first had written the file complete by then,
// perhaps over the hold: the hold marks it deleted again itself, and
// answers the key that complete wrote, whose copy its caller deletes
// (review 11: it leaked). "" when no complete came first.
func (s *mongoStore) claimHold(ctx context.Context, owner, id string) (string, error) {
	claim := completionClaim{ID: id, Kind: claimHeld, ExpiresAt: time.Now().Add(completionClaimTTL)}
	taken, err := s.insertUnique(ctx, s.completionsColl(), claim, "claim held file")
	if err != nil || taken {
		return "", err
	}
	if claim, err = s.readClaim(ctx, id); err != nil || claim.Kind != "" {
		return "", err
	}
	if err := s.markDeletedAgain(ctx, owner, id, ""); err != nil {
		return "", err // the file may be live: its copy must stay (review 12)
	}
	return claim.Key, nil
}

// claimSweep takes the claim of an abandoned upload for the sweeper (or a
// sender's take-back), before it deletes the file: false if a complete
// claimed it first, which the sweeper then leaves alone. A sweep's claim
// already there is taken too: an earlier try's whose delete failed after
// it (a sender's take-back answered 503), or another sweeper's racing this
// one, whose delete then finds the file gone. Before, a retry of that
// take-back found the file claimed, and answered it was received.
func (s *mongoStore) claimSweep(ctx context.Context, id string, now time.Time) (bool, error) {
	claim := completionClaim{ID: id, Kind: claimSwept, ExpiresAt: now.Add(completionClaimTTL)}
	return s.claimFirst(ctx, claim, "claim abandoned upload")
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
// the ledger takes it off the file count (holdInLedger). A file that was
// pending gets a hold's claim, so that a complete racing the mark never
// leaves it complete (claimHold, finishHold); before anything, the owner's
// mark that the file is being held goes in, for the sweeper (markHolding).
func (s *mongoStore) HoldDeletedFile(ctx context.Context, owner, id string) (*File, error) {
	return s.hold(ctx, owner, id, notDeleted)
}

// hold is HoldDeletedFile, whose mark takes the file only if it also
// matches only.
func (s *mongoStore) hold(ctx context.Context, owner, id string, only ...bson.E) (*File, error) {
	if err := s.markHolding(ctx, owner, id); err != nil {
		return nil, err
	}
	if err := s.deleteFileShares(ctx, owner, id); err != nil {
		return nil, err
	}
	if !s.ledgerOff {
		// The ledger must exist before the file is held, as before a delete.
		if _, err := s.usageHead(ctx, owner); err != nil {
			return nil, err
		}
	}
	f, err := s.markDeleted(ctx, owner, id, only...)
	if err != nil {
		return nil, err
	}
	if f.Status == statusPending {
		// Should the claim fail, a complete racing the hold may stand:
		// the delete is not acknowledged, and its retry finds the file
		// live, or held (review 12). Its events go unwritten, and the
		// ledger takes the file off when the held record goes.
		completed, err := s.claimHold(context.WithoutCancel(ctx), owner, id)
		if err != nil {
			return nil, err
		}
		f.ObjectKey = cmp.Or(completed, f.ObjectKey)
	}
	return f, s.holdInLedger(ctx, owner, id)
}

// HoldPendingFile reads the file, and if it is pending with a staging
// key, takes its hold claim, then holds it as HoldDeletedFile does. (The
// read keeps the claim off a file the hold would not take: a claim left
// there would refuse that file's complete.) The claim, a unique insert, decides
// between the take-back and a complete of the pending file, which claims
// after its own write (claimCompletion): on FerretDB 1.x each conditional
// update is a read then a write, so the file's status as either update
// read it cannot. A complete that claimed first keeps the file, untouched
// (ErrNotFound); one that claims after is not acknowledged and marks the
// file deleted again (finishHold), even if its write landed first. So,
// won, the hold is this take-back's whatever the file's status now, even
// deleted already by such a complete: it goes on to take the file off
// the owner's count (holdInLedger), and answers the take-back done.
func (s *mongoStore) HoldPendingFile(ctx context.Context, owner, id string) (*File, error) {
	f, err := s.GetFile(ctx, owner, id)
	if err == nil && (f.Status != statusPending || f.StagingKey == "") {
		err = ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	claim := completionClaim{ID: id, Kind: claimHeld, ExpiresAt: time.Now().Add(completionClaimTTL)}
	won, err := s.claimFirst(ctx, claim, "claim held file")
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, ErrNotFound
	}
	return s.hold(ctx, owner, id)
}

// claimFirst inserts claim, and tells whether the file's claim is of its
// kind: this call's, or an earlier try's that failed after its claim, so
// that a retry finishes what that try began rather than finding the file
// claimed by another.
func (s *mongoStore) claimFirst(ctx context.Context, claim completionClaim, op string) (bool, error) {
	taken, err := s.insertUnique(ctx, s.completionsColl(), claim, op)
	if err != nil || taken {
		return taken, err
	}
	first, err := s.readClaim(ctx, claim.ID)
	return first.Kind == claim.Kind, err
}

// holdingID is the _id of the mark that the owner is holding the file
// deleted. The owner is in it, so that no one else's delete of that ID
// (answered 404) makes one that counts.
func holdingID(owner, id string) string { return id + "/held/" + owner }

// holdingTTL is how long a holding mark counts: longer than the sweeper
// takes to come back to a file whose settle failed half way.
const holdingTTL = 24 * time.Hour

// markHolding marks, before the hold writes its own mark on the file, that
// the owner is holding it deleted. On FerretDB 1.x the sweeper's updates
// of a complete staged file whose form expired (its settle, the clearing
// of its staging key) are each a read then a write, and can write the
// file back over the hold. The sweeper checks for this mark after its
// last write (ClearStagingKey, keepHolding): a mark made after that check
// comes before a hold's write that then lands after the sweeper's.
func (s *mongoStore) markHolding(ctx context.Context, owner, id string) error {
	mark := completionClaim{ID: holdingID(owner, id), Kind: claimHeld, ExpiresAt: time.Now().Add(holdingTTL)}
	_, err := s.insertUnique(ctx, s.completionsColl(), mark, "hold deleted file")
	return err // taken already: a retry of the same delete
}

// keepHolding marks the owner's file f deleted again, with the staging key
// it had, if the owner is holding it (markHolding), after the sweeper's
// write that may have put it back. With its staging key the record stays
// one sweepStaged deletes (review: without it, a hold that failed after
// its mark would have left the file hidden and charged for good).
func (s *mongoStore) keepHolding(ctx context.Context, owner string, f *File) error {
	mark, err := s.readClaim(ctx, holdingID(owner, f.ID))
	if err != nil || mark.ID == "" {
		return err
	}
	return s.markDeletedAgain(ctx, owner, f.ID, f.StagingKey)
}

// markDeleted sets the owner's file that names a staging key, and also
// matches only, to statusDeleted.
func (s *mongoStore) markDeleted(ctx context.Context, owner, id string, only ...bson.E) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := append(bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner},
		{Key: "staging_key", Value: bson.D{{Key: "$gt", Value: ""}}}}, only...)
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: statusDeleted}}}}
	var f File
	if err := s.files.FindOneAndUpdate(ctx, filter, update).Decode(&f); err != nil {
		return nil, mongoErr("hold deleted file", err)
	}
	return &f, nil
}

// HasObjectKey tells whether a file record names the object key.
func (s *mongoStore) HasObjectKey(ctx context.Context, key string) (bool, error) {
	n, err := s.countOf(ctx, s.files, bson.D{{Key: "object_key", Value: key}}, nil) // a unique key: 0 or 1
	return n > 0, mongoErr("find object key", err)
}
