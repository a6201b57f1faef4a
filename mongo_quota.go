package main

// Quotas on MongoDB (see quota.go; what a file counts is Usage.add in
// store.go): the per-user usage ledger.
//
// FerretDB runs every update as a read, a change in memory and a write, so
// neither $inc nor a conditional update is atomic there (measured: 20
// concurrent $inc of one document kept 3). What is atomic on it, as on
// MongoDB, is a unique index. So each user's usage is a ledger in the
// "usage" collection: every change inserts the entry that follows the
// latest one (its _id holds the owner and the next sequence number, so of
// concurrent writers exactly one succeeds; the others read the new latest
// entry and try again), and carries the totals after it. Each entry also
// names its operation ("reserve:<file id>", "settle:<file id>"...) under a
// unique index, so a change that two requests race to make is made once.
//
// The ledger costs every create, completion and delete several round trips,
// and a user's concurrent uploads collide on its sequence numbers; it buys
// only the enforcement of a quota. So with no quota configured the store
// keeps none: files still record their charge, the usage is summed from
// them when asked (usageFromFiles), and the ledgers are dropped at start
// (dropStaleLedger), since they would be stale the day quotas are turned
// back on, when each ledger then starts again from the files.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// withQuota tells the store the configured quota; with none, it keeps no
// ledger. Without this option the store keeps the ledger (the safe side).
func withQuota(q Quota) mongoOption {
	return func(s *mongoStore) { s.ledgerOff = q == (Quota{}) }
}

// dropStaleLedger deletes every ledger entry when the store keeps none.
// Run where the indexes are created, before any request; idempotent.
func (s *mongoStore) dropStaleLedger(ctx context.Context) error {
	if !s.ledgerOff {
		return nil
	}
	if _, err := s.usageColl().DeleteMany(ctx, bson.D{}); err != nil {
		return fmt.Errorf("MONGODB_URI: dropping the usage ledger, stale with no quota set: %w", err)
	}
	return nil
}

// usageEntry is one entry of a user's usage ledger.
type usageEntry struct {
	ID    string    `bson:"_id" json:"id"` // owner + "/" + sequence number, zero-padded
	Owner string    `bson:"owner" json:"owner"`
	Seq   int64     `bson:"seq" json:"seq"`
	Bytes int64     `bson:"bytes" json:"bytes"` // totals after this entry
	Files int64     `bson:"files" json:"files"`
	Op    string    `bson:"op" json:"op"`           // unique: each operation is applied once
	To    int64     `bson:"to,omitempty" json:"to"` // a settlement's new charge; a reservation's charge
	At    time.Time `bson:"at" json:"at"`
}

// usageIndexes are the ledger's indexes; ensureIndexes creates them. They
// are made afresh for each caller: the driver's option builders are not
// safe to share between stores opened at once (the race detector caught
// one package-level builder read by two openings).
func usageIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		{Keys: bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: -1}}},
		{Keys: bson.D{{Key: "op", Value: 1}}, Options: options.Index().SetUnique(true)},
	}
}

// usageRetries bounds the attempts of one ledger change under contention.
const usageRetries = 200

// errOpApplied: the ledger already holds this operation.
var errOpApplied = errors.New("operation already applied")

// usageColl is the collection of the usage ledgers.
func (s *mongoStore) usageColl() *mongo.Collection { return s.coll("usage") }

// usageDelta is one change to a user's usage.
type usageDelta struct{ bytes, files, to int64 }

// appendUsage appends op to the owner's ledger with the change plan makes
// from the latest entry. plan may refuse (ErrQuotaExceeded) or find
// nothing to do (errOpApplied). An operation already in the ledger is
// errOpApplied.
func (s *mongoStore) appendUsage(ctx context.Context, owner, op string, plan func(head usageEntry) (usageDelta, error)) error {
	for attempt := range usageRetries {
		head, err := s.usageHead(ctx, owner)
		if err != nil {
			return err
		}
		d, err := plan(head)
		if err != nil {
			return err
		}
		next := usageEntry{
			ID: usageEntryID(owner, head.Seq+1), Owner: owner, Seq: head.Seq + 1, Op: op, To: d.to,
			Bytes: head.Bytes + d.bytes, Files: head.Files + d.files, At: localTime(time.Now()),
		}
		err = s.insertUsageEntry(ctx, next)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if _, found, ferr := s.findOp(ctx, op); ferr != nil || found {
			return cmp.Or(ferr, errOpApplied)
		}
		time.Sleep(time.Duration(attempt%10) * time.Millisecond) // another change won this sequence number
	}
	return fmt.Errorf("%w: usage of one user changes too often", ErrUnavailable)
}

// usageEntryID orders a user's entries by sequence number.
func usageEntryID(owner string, seq int64) string { return fmt.Sprintf("%s/%016d", owner, seq) }

// insertUsageEntry inserts e; a taken _id or op is ErrConflict.
func (s *mongoStore) insertUsageEntry(ctx context.Context, e usageEntry) error {
	return s.insertOne(ctx, s.usageColl(), e, "append usage")
}

// findOp returns the ledger entry of op, if there is one.
func (s *mongoStore) findOp(ctx context.Context, op string) (usageEntry, bool, error) {
	var e usageEntry
	err := s.decodeOne(ctx, s.usageColl(), bson.D{{Key: "op", Value: op}}, "find usage op", &e)
	if errors.Is(err, ErrNotFound) {
		return e, false, nil
	}
	return e, err == nil, err
}

// usageHead returns the owner's latest ledger entry, starting the ledger
// from the files the owner has if there is none.
func (s *mongoStore) usageHead(ctx context.Context, owner string) (usageEntry, error) {
	for range 3 {
		head, found, err := s.latestEntry(ctx, owner)
		if err != nil || found {
			return head, err
		}
		if err := s.startLedger(ctx, owner); err != nil {
			return usageEntry{}, err
		}
	}
	return usageEntry{}, fmt.Errorf("%w: usage ledger of %s cannot be started", ErrUnavailable, owner)
}

// latestEntry reads the owner's entry with the highest sequence number.
func (s *mongoStore) latestEntry(ctx context.Context, owner string) (usageEntry, bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return usageEntry{}, false, err
	}
	defer cancel()
	var e usageEntry
	opts := options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}})
	err = s.usageColl().FindOne(ctx, bson.D{{Key: "owner", Value: owner}}, opts).Decode(&e)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return e, false, nil
	}
	return e, err == nil, mongoErr("read usage", err)
}

// startLedger writes entry 0 from the files the owner already has (stored
// before quotas existed, which get their charge set now). Of concurrent
// starts one inserts; a duplicate is success.
func (s *mongoStore) startLedger(ctx context.Context, owner string) error {
	u, err := s.usageFromFiles(ctx, owner, true)
	if err != nil {
		return err
	}
	e := usageEntry{ID: usageEntryID(owner, 0), Owner: owner, Op: "start:" + owner, Bytes: u.Bytes, Files: u.Files, At: localTime(time.Now())}
	if err := s.insertUsageEntry(ctx, e); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// usageFromFiles sums what the owner's files count (Usage.add). An owner
// with at most usageReadLimit files has them read in one find and summed
// here; one with more, in the database (sumFiles), whose $group FerretDB 2
// serves from a persistent cursor and pays with its PostgreSQL connection
// (countOf says why). With chargeLegacy (a ledger's start, a migration's
// check) each file stored before quotas is first given its charge on its
// record, as sumFiles does; without (GET /me with no quota) it writes
// nothing.
func (s *mongoStore) usageFromFiles(ctx context.Context, owner string, chargeLegacy bool) (Usage, error) {
	files, err := s.readFilesUpTo(ctx, owner, usageReadLimit)
	if err != nil {
		return Usage{}, err
	}
	if len(files) > usageReadLimit {
		return s.sumFiles(ctx, owner, chargeLegacy)
	}
	if chargeLegacy {
		if err := s.chargeLegacyFiles(ctx, files); err != nil {
			return Usage{}, err
		}
	}
	return sumCharges(files), nil
}

// chargeLegacyFiles sets, on its record, the charge of each of files
// stored before quotas (no charge, but something to count: legacyCharge),
// so that a ledger started from them and a later sum of charges agree.
// Each write is its own call through the gate, bounded as every one is:
// an owner may have up to usageReadLimit such files.
func (s *mongoStore) chargeLegacyFiles(ctx context.Context, files []File) error {
	for i := range files {
		f := &files[i]
		if f.Charged != 0 || legacyCharge(f) == 0 {
			continue
		}
		if err := s.writeCharge(ctx, f.ID, legacyCharge(f)); err != nil {
			return err
		}
	}
	return nil
}

// usageReadLimit is how many files usageFromFiles reads rather than have
// the database sum them. Measured on FerretDB 2 (DocumentDB): any $group
// costs about 15 ms of PostgreSQL's CPU however few files it reads (25 ms
// at 3,000), the PostgreSQL connection FerretDB closes after it (countOf
// says why), a find of 100 files about 1 ms, of 3,000 files 36 ms. On
// FerretDB 1.24 each of sumFiles' three queries decodes every file of the
// owner, so there its sum costs about three reads (docs/scale.md).
const usageReadLimit = 1000

// readFilesUpTo reads what counts of the owner's files, at most limit+1 of
// them (more than limit: there are more). In one batch of that size, not
// under a limit: FerretDB 2 spends about 18 ms of CPU more on a find with
// a limit than without (measured with 100 files).
func (s *mongoStore) readFilesUpTo(ctx context.Context, owner string, limit int32) ([]File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	fields := bson.D{{Key: "_id", Value: 1}, {Key: "charged", Value: 1}, {Key: "size", Value: 1}, {Key: "declared_size", Value: 1}, {Key: "status", Value: 1}}
	opts := options.Find().SetProjection(fields).SetBatchSize(limit + 1).SetHint(listIndex)
	cur, err := s.files.Find(ctx, bson.D{{Key: "owner", Value: owner}}, opts)
	if err != nil {
		return nil, mongoErr("count usage", err)
	}
	defer cur.Close(ctx) // ends the cursor on the server when there are more
	var files []File
	for len(files) <= int(limit) && cur.Next(ctx) {
		var f File // fresh each time: the decoder leaves absent fields as they were
		if err := cur.Decode(&f); err != nil {
			return nil, mongoErr("count usage", err)
		}
		files = append(files, f)
	}
	return files, mongoErr("count usage", cur.Err())
}

// sumFiles sums what the owner's files count (Usage.add) in the database,
// which sends back numbers, not the files: a count of the files not held
// deleted, an aggregate summing the charges, and a find of only the files
// stored before quotas existed that count something (legacyCharge). With
// chargeLegacy those are first given that charge on their record
// (setCharged), so the sum of charges that follows counts them.
//
// Not one $group with $cond and two accumulators: FerretDB 1.24 has no
// $cond nor $ifNull, and computes only the first accumulator of a $group
// (the others come back 0). The count is a count command, not a second
// $group: FerretDB 2 (DocumentDB) spends about 15 ms of CPU on any $group,
// and well under 1 ms on a count of 100 files. Each query reads the
// owner's files from the owner's index. They are not one snapshot: a
// charge settled between them can be counted twice or not at all in that
// one answer (the ledger, kept with a quota, is exact).
func (s *mongoStore) sumFiles(ctx context.Context, owner string, chargeLegacy bool) (Usage, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return Usage{}, err
	}
	defer cancel()
	legacy, err := s.unchargedFiles(ctx, owner)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	for i := range legacy {
		f := &legacy[i]
		if !chargeLegacy {
			u.Bytes += legacyCharge(f)
		} else if err := s.setCharged(ctx, f.ID, legacyCharge(f)); err != nil {
			return Usage{}, err
		}
	}
	charged, err := s.sumCharged(ctx, owner)
	if err != nil {
		return Usage{}, err
	}
	u.Bytes += charged
	u.Files, err = s.countLiveFiles(ctx, owner)
	return u, err
}

// sumCharged sums the charges of the owner's files.
func (s *mongoStore) sumCharged(ctx context.Context, owner string) (int64, error) {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "owner", Value: owner}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "bytes", Value: bson.D{{Key: "$sum", Value: "$charged"}}}}}},
	}
	cur, err := s.files.Aggregate(ctx, pipeline)
	if err != nil {
		return 0, mongoErr("count usage", err)
	}
	var sums []struct {
		Bytes int64 `bson:"bytes"`
	}
	if err := cur.All(ctx, &sums); err != nil || len(sums) == 0 { // no files, no group
		return 0, mongoErr("count usage", err)
	}
	return sums[0].Bytes, nil
}

// countLiveFiles counts the owner's files not held deleted, from the list's
// index (listIndex says why it is named).
func (s *mongoStore) countLiveFiles(ctx context.Context, owner string) (int64, error) {
	n, err := s.countOf(ctx, s.files, bson.D{{Key: "owner", Value: owner}, notDeleted}, listIndex)
	return n, mongoErr("count usage", err)
}

// unchargedFiles reads the owner's files without a charge whose
// legacyCharge is not 0: a size that is not 0, or none and a declared size
// that is not 0. Only files stored before quotas existed have no charge
// but something to count (an empty file is charged 0, and counts nothing).
func (s *mongoStore) unchargedFiles(ctx context.Context, owner string) ([]File, error) {
	nothing := bson.A{nil, 0} // null matches a missing field too
	filter := bson.D{
		{Key: "owner", Value: owner},
		{Key: "charged", Value: bson.D{{Key: "$in", Value: nothing}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "size", Value: bson.D{{Key: "$nin", Value: nothing}}}},
			bson.D{{Key: "size", Value: nil}, {Key: "declared_size", Value: bson.D{{Key: "$nin", Value: nothing}}}},
		}},
	}
	fields := bson.D{{Key: "_id", Value: 1}, {Key: "size", Value: 1}, {Key: "declared_size", Value: 1}}
	var files []File
	err := s.findAll(ctx, s.files, filter, options.Find().SetProjection(fields), &files)
	return files, mongoErr("count usage", err)
}

// writeCharge is setCharged as a call of its own, bounded like every one.
func (s *mongoStore) writeCharge(ctx context.Context, id string, charged int64) error {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return s.setCharged(ctx, id, charged)
}

// setCharged records a file's charge on its record, within the caller's
// bounded call (sumFiles makes many in one).
func (s *mongoStore) setCharged(ctx context.Context, id string, charged int64) error {
	_, err := s.files.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "charged", Value: charged}}}})
	return mongoErr("set charge", err)
}

// InsertFileWithinQuota reserves f's charge in the owner's ledger, then
// inserts f, releasing the reservation if the insert fails. Without a
// ledger and a quota, it only inserts f.
func (s *mongoStore) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	if s.ledgerOff && q == (Quota{}) {
		return s.InsertFile(ctx, f)
	}
	err := s.appendUsage(ctx, f.Owner, "reserve:"+f.ID, func(head usageEntry) (usageDelta, error) {
		if !q.allows(Usage{Bytes: head.Bytes, Files: head.Files}, f.Charged) {
			return usageDelta{}, ErrQuotaExceeded
		}
		return usageDelta{bytes: f.Charged, files: 1, to: f.Charged}, nil // to: for repairReservations
	})
	if errors.Is(err, errOpApplied) {
		return ErrConflict // that file id was reserved before
	}
	if err != nil {
		return err
	}
	if err := s.InsertFile(ctx, f); err != nil {
		// Under the delete's operation, so that a repair (mongo_usage_repair.go)
		// and this release cannot both apply.
		uerr := s.appendUsage(context.WithoutCancel(ctx), f.Owner, "delete:"+f.ID, func(usageEntry) (usageDelta, error) {
			return usageDelta{bytes: -f.Charged, files: -1}, nil
		})
		if uerr != nil && !errors.Is(uerr, errOpApplied) {
			s.log.Error("quota: releasing the reservation of a file never stored; the owner's usage is too high by its charge",
				"owner", f.Owner, "file", f.ID, "charge", f.Charged, "err", uerr)
		}
		return err
	}
	return nil
}

// SettleCharge moves the owner's usage from the file's charge `from` to
// `to`, once, unless the file was deleted first; then records `to` on the
// file. Settling twice is ErrConflict. Without a ledger it only records
// `to`.
func (s *mongoStore) SettleCharge(ctx context.Context, owner, id string, from, to int64) error {
	if s.ledgerOff {
		return s.writeCharge(ctx, id, to)
	}
	err := s.appendUsage(ctx, owner, "settle:"+id, func(usageEntry) (usageDelta, error) {
		_, deleted, err := s.findOp(ctx, "delete:"+id)
		switch {
		case err != nil:
			return usageDelta{}, err
		case deleted:
			return usageDelta{}, ErrNotFound
		}
		return usageDelta{bytes: to - from, to: to}, nil
	})
	if errors.Is(err, errOpApplied) {
		return s.mendSettled(ctx, id)
	}
	if err != nil {
		return err
	}
	return s.writeCharge(ctx, id, to)
}

// mendSettled answers a settle the ledger already holds (ErrConflict), and
// writes its charge on the record again first: the call that settled may
// have stopped between the ledger's entry and the record's, and a record
// left with its old charge would have a delete release that, not what the
// ledger counts, once the entry is pruned (review 8: the usage ended 490
// bytes below what was stored). The sweeper's next try mends it so.
func (s *mongoStore) mendSettled(ctx context.Context, id string) error {
	settled, found, err := s.findOp(ctx, "settle:"+id)
	if err != nil || !found {
		return cmp.Or(err, ErrConflict) // pruned: the record had long been written
	}
	return cmp.Or(s.writeCharge(ctx, id, settled.To), ErrConflict)
}

// deleteFileReleasing deletes the owner's file and, if this call deleted
// it (a delete's count is atomic), releases its charge: the settled one if
// a settlement came first, else the one it was created with. Without a
// ledger there is nothing to release. It returns the record it deleted,
// whose object keys are the ones to delete (a complete may have promoted
// the file's object since the caller read it).
func (s *mongoStore) deleteFileReleasing(ctx context.Context, owner, id string, only ...bson.E) (*File, error) {
	if s.ledgerOff {
		return s.deleteOwnedFile(ctx, owner, id, only...)
	}
	// The ledger must exist before the file goes: a ledger started after
	// would not count it, and the release would then take it off twice.
	// And before the file is read: starting it gives a file stored before
	// quotas its charge, which the release must take off.
	if _, err := s.usageHead(ctx, owner); err != nil {
		return nil, err
	}
	f, err := s.deleteOwnedFile(ctx, owner, id, only...)
	if err != nil {
		return nil, err
	}
	// The file is gone: its release must be written even if the client
	// has gone away, or nothing would ever release it.
	detached := context.WithoutCancel(ctx)
	err = s.appendUsage(detached, owner, "delete:"+id, func(usageEntry) (usageDelta, error) {
		charge := f.Charged
		settled, found, err := s.findOp(detached, "settle:"+id)
		if found {
			charge = settled.To
		}
		files := int64(-1)
		if err == nil && f.Status == statusDeleted {
			// Its hold took the file off already (holdInLedger).
			_, held, herr := s.findOp(detached, "hold:"+id)
			if held {
				files = 0
			}
			err = herr
		}
		return usageDelta{bytes: -charge, files: files}, err
	})
	if err != nil && !errors.Is(err, errOpApplied) {
		return nil, err
	}
	return f, nil
}

// holdInLedger takes a file held deleted off the owner's file count; its
// bytes stay until the record goes (deleteFileReleasing). Written even if
// the client has gone, as a release is.
func (s *mongoStore) holdInLedger(ctx context.Context, owner, id string) error {
	if s.ledgerOff {
		return nil
	}
	err := s.appendUsage(context.WithoutCancel(ctx), owner, "hold:"+id, func(usageEntry) (usageDelta, error) {
		return usageDelta{files: -1}, nil
	})
	if errors.Is(err, errOpApplied) {
		return nil
	}
	return err
}

// deleteOwnedFile deletes the owner's file if it also matches only, and
// returns it as it was deleted; of racing deletes, one succeeds and the
// others are ErrNotFound. (FerretDB 1.x runs FindOneAndDelete as a query
// then a delete, so there a complete landing in between can be missed;
// MongoDB's is atomic.)
func (s *mongoStore) deleteOwnedFile(ctx context.Context, owner, id string, only ...bson.E) (*File, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	filter := append(bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}}, only...)
	var f File
	if err := s.files.FindOneAndDelete(ctx, filter).Decode(&f); err != nil {
		return nil, mongoErr("delete file", err)
	}
	return &f, nil
}

// usageKeep is how long a ledger entry that is not its user's latest is
// kept: long enough that requests racing on one file find each other's
// operations (a settlement, a deletion), which take seconds.
const usageKeep = 24 * time.Hour

// pruneUsage deletes the ledger entries written before `before`, except
// each user's latest and those a file still needs (entriesStillNeeded),
// and returns how many it deleted. The sweeper runs it.
func (s *mongoStore) pruneUsage(ctx context.Context, before time.Time) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	cur, err := s.usageColl().Find(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetProjection(bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: 1}, {Key: "op", Value: 1}, {Key: "to", Value: 1}}))
	if err != nil {
		return 0, mongoErr("prune usage", err)
	}
	var old []usageEntry
	if err := cur.All(ctx, &old); err != nil {
		return 0, mongoErr("prune usage", err)
	}
	newestOld := map[string]int64{}
	for _, e := range old {
		newestOld[e.Owner] = max(newestOld[e.Owner], e.Seq)
	}
	old = slices.DeleteFunc(old, func(e usageEntry) bool { return e.Seq >= newestOld[e.Owner] })
	keep, err := s.entriesStillNeeded(ctx, old)
	if err != nil {
		return 0, err
	}
	pruned := 0
	for owner, seq := range newestOld {
		// Only the entries checked above: one stamped later, by an
		// instance whose clock runs ahead, can have a lower seq (review 11).
		filter := bson.D{{Key: "owner", Value: owner}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: seq}}}, {Key: "at", Value: bson.D{{Key: "$lt", Value: before}}}}
		if len(keep[owner]) > 0 {
			filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$nin", Value: keep[owner]}}})
		}
		res, err := s.usageColl().DeleteMany(ctx, filter)
		if err != nil {
			return pruned, mongoErr("prune usage", err)
		}
		pruned += int(res.DeletedCount)
	}
	return pruned, nil
}

// entriesStillNeeded returns, per owner, the _ids of the entries among
// old that a file's later release reads (deleteFileReleasing, releaseLost:
// findOp), which a prune must keep however old they are (review 8: a held
// file's delete, once its hold was pruned, took it off the file count a
// second time): a hold of a file whose record is still there; a
// settlement of one whose record does not carry the settled charge yet
// (mendSettled writes it); and either, of a file whose record went but
// whose release is not written yet.
func (s *mongoStore) entriesStillNeeded(ctx context.Context, old []usageEntry) (map[string][]string, error) {
	var ids []string
	for _, e := range old {
		if id, ok := heldOrSettled(e.Op); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var files []struct {
		ID      string `bson:"_id"`
		Charged int64  `bson:"charged"`
	}
	if err := s.findAll(ctx, s.files, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, options.Find().SetProjection(bson.D{{Key: "charged", Value: 1}}), &files); err != nil {
		return nil, mongoErr("prune usage", err)
	}
	charged := make(map[string]int64, len(files))
	for _, f := range files {
		charged[f.ID] = f.Charged
	}
	released, err := s.releasedFiles(ctx, ids)
	if err != nil {
		return nil, err
	}
	keep := map[string][]string{}
	for _, e := range old {
		id, ok := heldOrSettled(e.Op)
		if !ok {
			continue
		}
		c, there := charged[id]
		needed := !released[id] // the record went; its release will read this
		if there {
			needed = strings.HasPrefix(e.Op, "hold:") || c != e.To
		}
		if needed {
			keep[e.Owner] = append(keep[e.Owner], e.ID)
		}
	}
	return keep, nil
}

// heldOrSettled tells whether op is a hold or a settlement, and of which file.
func heldOrSettled(op string) (string, bool) {
	for _, prefix := range []string{"hold:", "settle:"} {
		if id, ok := strings.CutPrefix(op, prefix); ok {
			return id, true
		}
	}
	return "", false
}

// releasedFiles tells which of ids have their release in the ledger.
func (s *mongoStore) releasedFiles(ctx context.Context, ids []string) (map[string]bool, error) {
	ops := make([]string, len(ids))
	for i, id := range ids {
		ops[i] = "delete:" + id
	}
	var entries []usageEntry
	if err := s.findAll(ctx, s.usageColl(), bson.D{{Key: "op", Value: bson.D{{Key: "$in", Value: ops}}}}, options.Find().SetProjection(bson.D{{Key: "op", Value: 1}}), &entries); err != nil {
		return nil, mongoErr("prune usage", err)
	}
	released := make(map[string]bool, len(entries))
	for _, e := range entries {
		released[strings.TrimPrefix(e.Op, "delete:")] = true
	}
	return released, nil
}

// GetUsage returns the totals of the owner's latest ledger entry, or
// without a ledger the sum of the owner's files.
func (s *mongoStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	if s.ledgerOff {
		return s.usageFromFiles(ctx, owner, false)
	}
	head, err := s.usageHead(ctx, owner)
	return Usage{Bytes: head.Bytes, Files: head.Files}, err
}

// UsageByOwner sums every owner's files as usageFromFiles does, then with
// a ledger takes each owner's latest entry instead: an owner without one
// would start theirs from the files, which is the same answer.
func (s *mongoStore) UsageByOwner(ctx context.Context) (map[string]Usage, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, usageScanTimeout)
	defer cancel()
	usage, err := s.usageFromAllFiles(ctx)
	if err != nil || s.ledgerOff {
		return usage, err
	}
	return usage, s.ledgerHeads(ctx, usage)
}

// usageScanTimeout bounds UsageByOwner, which reads every file (and the
// ledger): far more than the one-document operations mongoOpTimeout bounds.
const usageScanTimeout = 30 * time.Second

// usageFromAllFiles reads what counts of every file in one query and sums
// it per owner as the files stream by, holding one file at a time. A
// $group would send less, but FerretDB 1.24 computes only the first
// accumulator of a $group (the others come back 0) and has no $cond for a
// file stored before quotas (legacyCharge).
func (s *mongoStore) usageFromAllFiles(ctx context.Context) (map[string]Usage, error) {
	fields := bson.D{{Key: "owner", Value: 1}, {Key: "charged", Value: 1}, {Key: "size", Value: 1}, {Key: "declared_size", Value: 1}, {Key: "status", Value: 1}}
	cur, err := s.files.Find(ctx, bson.D{}, options.Find().SetProjection(fields))
	if err != nil {
		return nil, mongoErr("usage by owner", err)
	}
	defer cur.Close(ctx)
	usage := map[string]Usage{}
	for cur.Next(ctx) {
		var f File // fresh each time: the decoder leaves absent fields as they were
		if err := cur.Decode(&f); err != nil {
			return nil, mongoErr("usage by owner", err)
		}
		u := usage[f.Owner]
		u.add(&f)
		usage[f.Owner] = u
	}
	if err := cur.Err(); err != nil {
		return nil, mongoErr("usage by owner", err)
	}
	return usage, nil
}

// ledgerHeads sets each owner with a ledger to its latest entry's totals.
// FerretDB's $group has no $max nor $first, so the entries (the sweeper
// prunes them to about a day's worth, pruneUsage) stream by unsorted and
// each owner keeps the one with the highest sequence number: a sort, in
// the order of the ledger's {owner, seq: -1} index, would make FerretDB 2
// serve them from a persistent cursor and then close its PostgreSQL
// connection (onePage says why).
func (s *mongoStore) ledgerHeads(ctx context.Context, usage map[string]Usage) error {
	fields := bson.D{{Key: "owner", Value: 1}, {Key: "seq", Value: 1}, {Key: "bytes", Value: 1}, {Key: "files", Value: 1}}
	cur, err := s.usageColl().Find(ctx, bson.D{}, options.Find().SetProjection(fields))
	if err != nil {
		return mongoErr("usage by owner", err)
	}
	defer cur.Close(ctx)
	heads := map[string]int64{} // owner → the sequence number of the entry in usage
	for cur.Next(ctx) {
		var e usageEntry
		if err := cur.Decode(&e); err != nil {
			return mongoErr("usage by owner", err)
		}
		if seq, seen := heads[e.Owner]; !seen || e.Seq > seq {
			usage[e.Owner], heads[e.Owner] = Usage{Bytes: e.Bytes, Files: e.Files}, e.Seq
		}
	}
	return mongoErr("usage by owner", cur.Err())
}
