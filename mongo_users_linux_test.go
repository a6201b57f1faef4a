package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestUpsertUserConcurrentAcrossInstances: first sign-ins of one subject on
// two instances at once (two stores on one database, each serializing its
// own) still make one user, on each MongoDB engine: the race that
// subjectLocks keeps within an instance is settled by the database's
// unique index and UpsertUser's retry. (Linux only, as FerretDB 2 is.)
func TestUpsertUserConcurrentAcrossInstances(t *testing.T) {
	t.Parallel()
	// Each returns an opener of stores on one fresh database.
	engines := map[string]func(t *testing.T) func() Store{
		"mongo": func(t *testing.T) func() Store {
			name := testDatabaseName(t)
			return func() Store { return openMongoStoreAt(t, name) }
		},
	}
	if documentDBWanted() { // as storeOpeners: in CI it is (TestDocumentDBRigAnswers)
		engines["documentdb"] = func(t *testing.T) func() Store {
			uri, name := requireDocumentDB(t).uri, docDBDatabaseName(t)
			return func() Store {
				s, err := openMongoStore(t.Context(), uri, name, testLogger(t))
				ctMust(t, "open FerretDB 2 store", err)
				t.Cleanup(func() { s.Close(context.Background()) })
				return s
			}
		}
	}
	for engine, sameDatabase := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			open := sameDatabase(t)
			instances := []Store{open(), open()}
			for round := range 5 {
				u := User{Issuer: "https://issuer.example", Subject: fmt.Sprintf("sub-%d-%s", round, newID()), Email: "a@example.com"}
				ids := make([]string, 2*len(instances))
				errs := make([]error, len(ids))
				var wg sync.WaitGroup
				for i := range ids {
					wg.Go(func() {
						got, err := instances[i%len(instances)].UpsertUser(t.Context(), u)
						ids[i], errs[i] = got.ID, err
					})
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("round %d: first sign-ins on two instances: %v", round, err)
				}
				for _, id := range ids {
					if id == "" || id != ids[0] {
						t.Fatalf("round %d: first sign-ins on two instances made users %v, want one", round, ids)
					}
				}
			}
		})
	}
}
