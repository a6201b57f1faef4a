package main

// Users on MongoDB: one per issuer and subject.

import (
	"context"
	"hash/maphash"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// UpsertUser finds the user under any spelling of its issuer (a new user
// gets u.Issuer's), preferring the canonical one should both exist.
func (s *mongoStore) UpsertUser(ctx context.Context, u User) (User, error) {
	defer s.subjects.lock(u.Subject)()
	ctx, cancel, err := s.opContext(ctx)
	if err != nil {
		return User{}, err
	}
	defer cancel()
	filter := bson.D{{Key: "issuer", Value: bson.D{{Key: "$in", Value: issuerSpellings(u.Issuer)}}}, {Key: "subject", Value: u.Subject}}
	onInsert := bson.D{{Key: "_id", Value: newID()}, {Key: "issuer", Value: u.Issuer}}
	if !u.CreatedAt.IsZero() {
		onInsert = append(onInsert, bson.E{Key: "created_at", Value: localTime(u.CreatedAt)})
	}
	set := bson.D{{Key: "email", Value: u.Email}, {Key: "email_verified", Value: u.EmailVerified}, {Key: "name", Value: u.Name}, {Key: "picture", Value: u.Picture}}
	update := bson.D{{Key: "$setOnInsert", Value: onInsert}}
	// Groups are refreshed like the rest, and removed when there are none,
	// as the record's omitempty would leave them out.
	if len(u.Groups) > 0 {
		set = append(set, bson.E{Key: "groups", Value: u.Groups})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "groups", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: set})
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After).
		SetSort(bson.D{{Key: "issuer", Value: -1}}) // "https://accounts…" before "accounts…"
	var stored User
	err = s.users.FindOneAndUpdate(ctx, filter, update, opts).Decode(&stored)
	for attempt := 0; attempt < 3 && (duplicateKey(err) || upsertDeadlock(err)); attempt++ {
		// A concurrent first sign-in of the same subject inserted the user
		// after our lookup: now the update finds it. (MongoDB documents
		// that an upsert may lose this race on a unique index.)
		err = s.users.FindOneAndUpdate(ctx, filter, update, opts).Decode(&stored)
	}
	if err != nil {
		return User{}, mongoErr("upsert user", err)
	}
	return stored, nil
}

func (s *mongoStore) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	if err := s.decodeOne(ctx, s.users, bson.D{{Key: "_id", Value: id}}, "get user", &u); err != nil {
		return User{}, err
	}
	return u, nil
}

// subjectLocks lets one instance upsert one subject at a time. On FerretDB
// 2 (DocumentDB) a unique index is an exclusion constraint, and concurrent
// inserts under one key can deadlock in PostgreSQL, which finds each
// deadlock only after its deadlock_timeout (1 s by default): eight first
// sign-ins of one user at once outlasted a call's 3 s in a chain of them
// (TestUpsertUserConcurrentFirstSignIn). Within an instance they now queue
// here, each a few milliseconds; across instances UpsertUser's retry still
// settles the race (TestUpsertUserConcurrentAcrossInstances). Subjects
// share a lock by a hash: another subject waits at most for one upsert.
type subjectLocks struct {
	seed    maphash.Seed
	once    sync.Once
	stripes [64]sync.Mutex
}

// lock locks subject's stripe and returns its unlock.
func (l *subjectLocks) lock(subject string) (unlock func()) {
	l.once.Do(func() { l.seed = maphash.MakeSeed() })
	m := &l.stripes[maphash.String(l.seed, subject)%uint64(len(l.stripes))]
	m.Lock()
	return m.Unlock
}
