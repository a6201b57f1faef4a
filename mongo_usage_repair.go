package main

// Repairing the usage ledger (mongo_quota.go) after a kill. A file's
// reservation and its insert are two writes, and so are its delete and its
// release: an instance killed between them (kill -9, a crash, a lost
// machine) leaves the owner's usage too high by that file for good, since
// no request comes back to it (TestFailoverKillOneInstance found the
// first). So each sweep releases the reservations of files that are gone
// and were never released. The release is the delete's own operation,
// "delete:<id>", which a failed insert also writes: of a repair, a delete
// and a failed insert, whichever comes first releases, and only it.

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	// usageRepairAge is how old a reservation must be before a sweep looks
	// at it: far longer than a create takes from its reservation to its
	// insert, or a delete from its delete to its release.
	usageRepairAge = time.Minute
	// usageRepairSpan is how far back a sweep looks: several sweeps at
	// the default SWEEP_INTERVAL_SECONDS (600), so a sweep that failed or
	// an instance that was down misses nothing.
	usageRepairSpan = time.Hour
)

// repairReservations releases the reservations made between
// usageRepairSpan and usageRepairAge before now whose file no longer exists
// and that no release followed, and returns how many it released.
func (s *mongoStore) repairReservations(ctx context.Context, now time.Time) (int, error) {
	if s.ledgerOff {
		return 0, nil
	}
	reserved, err := s.reservationsBetween(ctx, now.Add(-usageRepairSpan), now.Add(-usageRepairAge))
	if err != nil || len(reserved) == 0 {
		return 0, err
	}
	ids := make([]string, 0, len(reserved))
	for id := range reserved {
		ids = append(ids, id)
	}
	present, err := s.existingFiles(ctx, ids)
	if err != nil {
		return 0, err
	}
	repaired := 0
	for id, e := range reserved {
		if present[id] {
			continue
		}
		switch err := s.releaseLost(ctx, e.Owner, id, e.To); {
		case err == nil:
			repaired++
		case !errors.Is(err, errOpApplied):
			return repaired, err
		}
	}
	return repaired, nil
}

// reservationsBetween returns the reservation entries written in
// [from, to), by file ID.
func (s *mongoStore) reservationsBetween(ctx context.Context, from, to time.Time) (map[string]usageEntry, error) {
	filter := bson.D{
		{Key: "op", Value: bson.D{{Key: "$regex", Value: "^reserve:"}}},
		{Key: "at", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: to}}},
	}
	var entries []usageEntry
	if err := s.findAll(ctx, s.usageColl(), filter, nil, &entries); err != nil {
		return nil, mongoErr("find reservations", err)
	}
	out := make(map[string]usageEntry, len(entries))
	for _, e := range entries {
		out[strings.TrimPrefix(e.Op, "reserve:")] = e
	}
	return out, nil
}

// existingFiles tells which of ids name a file record (of any status).
func (s *mongoStore) existingFiles(ctx context.Context, ids []string) (map[string]bool, error) {
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	var found []struct {
		ID string `bson:"_id"`
	}
	if err := s.findAll(ctx, s.files, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}), &found); err != nil {
		return nil, mongoErr("find reserved files", err)
	}
	present := make(map[string]bool, len(found))
	for _, f := range found {
		present[f.ID] = true
	}
	return present, nil
}

// releaseLost writes the release of a reserved file that is gone, as its
// delete would have (deleteFileReleasing): its settled charge if it was
// settled, else the reserved one, and its place in the file count unless a
// hold took it already. errOpApplied: it was released.
func (s *mongoStore) releaseLost(ctx context.Context, owner, id string, reservedCharge int64) error {
	return s.appendUsage(ctx, owner, "delete:"+id, func(usageEntry) (usageDelta, error) {
		charge := reservedCharge
		settled, found, err := s.findOp(ctx, "settle:"+id)
		if err != nil {
			return usageDelta{}, err
		}
		if found {
			charge = settled.To
		}
		files := int64(-1)
		if _, held, err := s.findOp(ctx, "hold:"+id); err != nil {
			return usageDelta{}, err
		} else if held {
			files = 0
		}
		return usageDelta{bytes: -charge, files: files}, nil
	})
}
