package main

import (
	"testing"
	"time"
)

// TestUsageRepairReleasesLostReservations: what a kill leaves in the usage
// ledger, a reservation whose file was never inserted (killed between the
// two writes of InsertFileWithinQuota) and a file deleted but never
// released (killed inside deleteFileReleasing), is released by a sweep once
// the reservation is usageRepairAge old, once only; a file that exists
// keeps its charge. TestFailoverKillOneInstance found the first.
func TestUsageRepairReleasesLostReservations(t *testing.T) {
	t.Parallel()
	q := Quota{Bytes: 1 << 30, Files: 100}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	owner := ctNewID()
	kept, neverInserted, neverReleased := quotaFile(owner, 100), quotaFile(owner, 200), quotaFile(owner, 300)
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), kept, q))
	// The first write of InsertFileWithinQuota, without the second.
	ctMust(t, "reserve", s.appendUsage(t.Context(), owner, "reserve:"+neverInserted.ID, func(usageEntry) (usageDelta, error) {
		return usageDelta{bytes: 200, files: 1, to: 200}, nil
	}))
	// The first write of deleteFileReleasing, without the second.
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), neverReleased, q))
	ctMust(t, "delete", errOf(s.deleteOwnedFile(t.Context(), owner, neverReleased.ID)))
	wantUsage(t, s, owner, Usage{Bytes: 600, Files: 3})

	_, err := s.DeleteExpired(t.Context(), time.Now())
	ctMust(t, "sweep", err)
	wantUsage(t, s, owner, Usage{Bytes: 600, Files: 3}) // too young: a create or delete may be between its writes

	for range 2 {
		_, err = s.DeleteExpired(t.Context(), time.Now().Add(usageRepairAge+time.Second))
		ctMust(t, "sweep", err)
		wantUsage(t, s, owner, Usage{Bytes: 100, Files: 1})
	}
	ctMust(t, "delete", errOf(s.DeleteFile(t.Context(), owner, kept.ID)))
	wantUsage(t, s, owner, Usage{})
}
