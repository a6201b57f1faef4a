package main

// Shared rate budgets on MongoDB (ratelimit_shared.go). FerretDB 1.x does
// not apply a conditional update atomically, so a budget is not a counter:
// each spent unit is a document of its own under a unique _id, the bucket
// and the unit's number, as numbered share downloads are
// (CountShareDownload). Of concurrent spends each number is taken once, and
// numbers stop at the budget, so no more than the budget succeed.

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// MongoDB is shared by instances, so it keeps their rate budgets; without
// this the type assertion in spendShared would quietly find none.
var _ rateBudgetStore = (*mongoStore)(nil)

// rateSpend is one spent unit of a shared rate budget: a MongoDB-only
// document.
type rateSpend struct {
	ID        string    `bson:"_id"` // bucket + "/" + the unit's number
	Bucket    string    `bson:"bucket"`
	ExpiresAt time.Time `bson:"expires_at"` // the window's end: a TTL index or the sweeper tidies it
}

func (s *mongoStore) rateSpendsColl() *mongo.Collection {
	return s.files.Database().Collection("rate_spends")
}

// rateSpendIndex serves the count of a bucket's spent units.
func rateSpendIndex() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "bucket", Value: 1}}}
}

// SpendRateBudget takes the lowest free unit of the bucket, trying the next
// one whenever another caller took it first. Units are taken in order, so
// the count read first never skips a free one; a count read stale only
// costs another try.
func (s *mongoStore) SpendRateBudget(ctx context.Context, bucket string, budget int, expires time.Time) (bool, error) {
	spent, err := s.countRateSpends(ctx, bucket)
	if err != nil {
		return false, err
	}
	for n := spent + 1; n <= budget; n++ {
		if taken, err := s.takeRateUnit(ctx, bucket, n, expires); taken || err != nil {
			return taken, err
		}
	}
	return false, nil
}

// countRateSpends counts the units of the bucket already spent.
func (s *mongoStore) countRateSpends(ctx context.Context, bucket string) (int, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	n, err := s.rateSpendsColl().CountDocuments(ctx, bson.D{{Key: "bucket", Value: bucket}})
	if err != nil {
		return 0, mongoErr("count rate budget", err)
	}
	return int(n), nil
}

// takeRateUnit records unit n of the bucket; false when another caller
// already took it.
func (s *mongoStore) takeRateUnit(ctx context.Context, bucket string, n int, expires time.Time) (bool, error) {
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return false, err
	}
	defer cancel()
	_, err = s.rateSpendsColl().InsertOne(ctx, rateSpend{ID: fmt.Sprintf("%s/%d", bucket, n), Bucket: bucket, ExpiresAt: expires})
	switch {
	case duplicateKey(err):
		return false, nil
	case err != nil:
		return false, mongoErr("spend rate budget", err)
	}
	return true, nil
}
