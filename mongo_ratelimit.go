package main

// Shared rate budgets on MongoDB (ratelimit.go). FerretDB 1.x does
// not apply a conditional update atomically, so a budget is not a counter:
// each spent unit is a document of its own under a unique _id, the bucket
// and the unit's number, as numbered share downloads are
// (CountShareDownload). Of concurrent spends each number is taken once, and
// numbers stop at the budget, so no more than the budget succeed. There is
// no count to read first (on FerretDB 1.x a count scans): the caller says
// from which number to try, the one after the last it saw taken.

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// MongoDB is shared by instances, so it keeps their rate budgets; without
// this the type assertion in spendShared would quietly find none.
var _ rateBudgetStore = (*mongoStore)(nil)

// rateSpend is one spent unit of a shared rate budget: a MongoDB-only
// document.
type rateSpend struct {
	ID        string    `bson:"_id"`        // bucket + "/" + the unit's number
	ExpiresAt time.Time `bson:"expires_at"` // the window's end: a TTL index or the sweeper tidies it
}

func (s *mongoStore) rateSpendsColl() *mongo.Collection {
	return s.coll("rate_spends")
}

// SpendRateBudget takes the lowest free unit of the bucket from from on,
// trying the next one whenever another caller took it first, and returns
// its number (0: none left). Each try is one insert, bounded on its own.
func (s *mongoStore) SpendRateBudget(ctx context.Context, bucket string, from, budget int, expires time.Time) (int, error) {
	for n := max(from, 1); n <= budget; n++ {
		if taken, err := s.takeRateUnit(ctx, bucket, n, expires); taken || err != nil {
			return n, err
		}
	}
	return 0, nil
}

// takeRateUnit records unit n of the bucket; false when another caller
// already took it.
func (s *mongoStore) takeRateUnit(ctx context.Context, bucket string, n int, expires time.Time) (bool, error) {
	return s.insertUnique(ctx, s.rateSpendsColl(), rateSpend{ID: fmt.Sprintf("%s/%d", bucket, n), ExpiresAt: expires}, "spend rate budget")
}
