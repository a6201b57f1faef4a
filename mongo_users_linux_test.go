package main

import (
	"context"
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
			raceFirstSignIns(t, []Store{open(), open()}, 4)
		})
	}
}
