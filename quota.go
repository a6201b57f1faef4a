package main

// Per-user quotas: what counts, the atomic reservation on both metadata
// stores, and the API's view of usage.
//
// What counts toward a user's usage is each file's Charged bytes (the
// declared size of a pending upload, or MAX_UPLOAD_BYTES without one; the
// real size once complete) and one file per record. The reservation is
// atomic on each store:
//   - MongoDB keeps a usage document per user, changed only by one
//     conditional UpdateOne ($inc with a filter that the result stays within
//     the quota) whose ModifiedCount says whether the reservation holds, so
//     no transaction is needed (FerretDB has none);
//   - the local store checks and inserts under its write lock, deriving the
//     usage from the files it holds.
// A file's charge changes only by a compare-and-set on its Charged field
// (SettleCharge, DeleteFile), so of concurrent completions and deletions
// exactly one adjusts the usage.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ErrQuotaExceeded: the file would take its owner over a quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// codeQuotaExceeded is the API error code of a refused reservation.
const codeQuotaExceeded = "quota_exceeded"

// Quota is the limit of one user; a zero field is unlimited.
type Quota struct {
	Bytes int64
	Files int64
}

// allows tells whether a user at usage u may add one file charging bytes.
func (q Quota) allows(u Usage, bytes int64) bool {
	return (q.Bytes == 0 || u.Bytes+bytes <= q.Bytes) && (q.Files == 0 || u.Files+1 <= q.Files)
}

// Usage is what a user's files count toward the quota. In MongoDB it is
// the document of the "usage" collection whose _id is the user's id.
type Usage struct {
	Bytes int64 `bson:"bytes" json:"bytes"`
	Files int64 `bson:"files" json:"files"`
}

// usageJSON is a user's usage as the API shows it; a null quota is
// unlimited.
type usageJSON struct {
	Bytes      int64  `json:"bytes"`
	Files      int64  `json:"files"`
	QuotaBytes *int64 `json:"quota_bytes"`
	QuotaFiles *int64 `json:"quota_files"`
}

// quota is the configured per-user quota.
func (s *server) quota() Quota { return Quota{Bytes: s.cfg.QuotaBytes, Files: s.cfg.QuotaFiles} }

// toUsageJSON shows u against the configured quota.
func (s *server) toUsageJSON(u Usage) usageJSON {
	out := usageJSON{Bytes: u.Bytes, Files: u.Files}
	if s.cfg.QuotaBytes > 0 {
		out.QuotaBytes = &s.cfg.QuotaBytes
	}
	if s.cfg.QuotaFiles > 0 {
		out.QuotaFiles = &s.cfg.QuotaFiles
	}
	return out
}

// chargeFor is what a new upload counts until it completes: its declared
// size, or the largest size it could turn out to have.
func (s *server) chargeFor(declared *int64) int64 {
	if declared != nil {
		return *declared
	}
	return s.cfg.MaxUploadBytes
}

// writeQuotaExceeded answers 403 quota_exceeded with the user's usage and
// the limits in human units.
func (s *server) writeQuotaExceeded(w http.ResponseWriter, r *http.Request, owner string, charge int64) {
	u, err := s.store.GetUsage(r.Context(), owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeError(w, http.StatusForbidden, codeQuotaExceeded, quotaMessage(s.quota(), u, charge))
}

// quotaMessage says which limit a file charging charge would break, e.g.
// "this upload needs 2.0 GiB, and you use 4.5 GiB of your 5.0 GiB quota".
func quotaMessage(q Quota, u Usage, charge int64) string {
	if q.Files > 0 && u.Files+1 > q.Files {
		return fmt.Sprintf("you have %d of your %d files (pending uploads included); delete some first", u.Files, q.Files)
	}
	return fmt.Sprintf("this upload needs %s, and you use %s of your %s quota (pending uploads included); delete some files first",
		humanBytes(charge), humanBytes(u.Bytes), humanBytes(q.Bytes))
}

// humanBytes writes n in binary units with one decimal: "512 B", "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// settleCharge makes a just-completed file count its real size. Another
// request that settled or deleted it first wins (ErrConflict, not an error).
func (s *server) settleCharge(ctx context.Context, f *File, size int64) {
	err := s.store.SettleCharge(ctx, f.Owner, f.ID, f.Charged, size)
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
		s.log.Warn("quota: settling a completed file's charge", "file", f.ID, "err", err)
	}
}

// ---- MongoDB ----

// usageColl is the collection of per-user usage documents.
func (s *mongoStore) usageColl() *mongo.Collection { return s.files.Database().Collection("usage") }

// InsertFileWithinQuota reserves f's charge on the owner's usage document,
// then inserts f, releasing the reservation if the insert fails.
func (s *mongoStore) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	if err := s.ensureUsage(ctx, f.Owner); err != nil {
		return err
	}
	if err := s.reserve(ctx, f.Owner, f.Charged, q); err != nil {
		return err
	}
	if err := s.InsertFile(ctx, f); err != nil {
		s.addUsage(context.WithoutCancel(ctx), f.Owner, -f.Charged, -1)
		return err
	}
	return nil
}

// reserve adds one file charging bytes to the owner's usage if that stays
// within q: one conditional update, atomic on its own.
func (s *mongoStore) reserve(ctx context.Context, owner string, bytes int64, q Quota) error {
	if q.Bytes > 0 && bytes > q.Bytes {
		return ErrQuotaExceeded
	}
	filter := bson.D{{Key: "_id", Value: owner}}
	if q.Bytes > 0 {
		filter = append(filter, bson.E{Key: "bytes", Value: bson.D{{Key: "$lte", Value: q.Bytes - bytes}}})
	}
	if q.Files > 0 {
		filter = append(filter, bson.E{Key: "files", Value: bson.D{{Key: "$lte", Value: q.Files - 1}}})
	}
	ctx, cancel := opContext(ctx)
	defer cancel()
	res, err := s.usageColl().UpdateOne(ctx, filter, incUsage(bytes, 1))
	if err != nil {
		return mongoErr("reserve quota", err)
	}
	if res.ModifiedCount != 1 {
		return ErrQuotaExceeded
	}
	return nil
}

// incUsage is the update that adds to a usage document.
func incUsage(bytes, files int64) bson.D {
	return bson.D{{Key: "$inc", Value: bson.D{{Key: "bytes", Value: bytes}, {Key: "files", Value: files}}}}
}

// addUsage changes the owner's usage unconditionally (a release or a
// settlement); a missing document is created later from the files.
func (s *mongoStore) addUsage(ctx context.Context, owner string, bytes, files int64) error {
	ctx, cancel := opContext(ctx)
	defer cancel()
	_, err := s.usageColl().UpdateOne(ctx, bson.D{{Key: "_id", Value: owner}}, incUsage(bytes, files))
	return mongoErr("update usage", err)
}

// ensureUsage creates the owner's usage document from the files the owner
// already has, the first time. Files stored before quotas existed get
// their charge set then (their size, or their declared size). Of two
// concurrent creations one inserts; the other's duplicate key is success.
func (s *mongoStore) ensureUsage(ctx context.Context, owner string) error {
	ctx, cancel := opContext(ctx)
	defer cancel()
	err := s.usageColl().FindOne(ctx, bson.D{{Key: "_id", Value: owner}}).Err()
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return mongoErr("find usage", err)
	}
	u, err := s.countUsage(ctx, owner)
	if err != nil {
		return err
	}
	_, err = s.usageColl().InsertOne(ctx, bson.D{{Key: "_id", Value: owner}, {Key: "bytes", Value: u.Bytes}, {Key: "files", Value: u.Files}})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return mongoErr("create usage", err)
}

// countUsage sums the owner's files, giving those without a charge one.
func (s *mongoStore) countUsage(ctx context.Context, owner string) (Usage, error) {
	cur, err := s.files.Find(ctx, bson.D{{Key: "owner", Value: owner}})
	if err != nil {
		return Usage{}, mongoErr("count usage", err)
	}
	var files []File
	if err := cur.All(ctx, &files); err != nil {
		return Usage{}, mongoErr("count usage", err)
	}
	var u Usage
	for i := range files {
		f := &files[i]
		if f.Charged == 0 && legacyCharge(f) > 0 {
			f.Charged = legacyCharge(f)
			_, err := s.files.UpdateOne(ctx, bson.D{{Key: "_id", Value: f.ID}, {Key: "charged", Value: bson.D{{Key: "$in", Value: bson.A{0, nil}}}}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "charged", Value: f.Charged}}}})
			if err != nil {
				return Usage{}, mongoErr("count usage", err)
			}
		}
		u.Bytes += f.Charged
		u.Files++
	}
	return u, nil
}

// legacyCharge is what a file stored before quotas existed counts: its
// real size, or its declared one while pending.
func legacyCharge(f *File) int64 {
	switch {
	case f.Size != nil:
		return *f.Size
	case f.DeclaredSize != nil:
		return *f.DeclaredSize
	}
	return 0
}

// chargedIs matches a file whose Charged is c; 0 also matches a file
// stored before the field existed.
func chargedIs(c int64) bson.E {
	if c == 0 {
		return bson.E{Key: "charged", Value: bson.D{{Key: "$in", Value: bson.A{0, nil}}}}
	}
	return bson.E{Key: "charged", Value: c}
}

// SettleCharge sets the file's charge from `from` to `to` if it still is
// `from`, and moves the owner's usage by the difference.
func (s *mongoStore) SettleCharge(ctx context.Context, owner, id string, from, to int64) error {
	if from == to {
		return nil
	}
	opCtx, cancel := opContext(ctx)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, chargedIs(from)}
	res, err := s.files.UpdateOne(opCtx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "charged", Value: to}}}})
	if err != nil {
		return mongoErr("settle charge", err)
	}
	if res.ModifiedCount != 1 {
		return ErrConflict
	}
	return s.addUsage(context.WithoutCancel(ctx), owner, to-from, 0)
}

// deleteFileReleasing deletes the owner's file and releases its charge:
// the delete matches the charge it read, so a concurrent settlement makes
// it read again rather than release a stale amount.
func (s *mongoStore) deleteFileReleasing(ctx context.Context, owner, id string) error {
	for range 5 {
		f, err := s.GetFile(ctx, owner, id)
		if err != nil {
			return err
		}
		opCtx, cancel := opContext(ctx)
		res, err := s.files.DeleteOne(opCtx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: owner}, chargedIs(f.Charged)})
		cancel()
		if err != nil {
			return mongoErr("delete file", err)
		}
		if res.DeletedCount == 1 {
			return s.addUsage(context.WithoutCancel(ctx), owner, -f.Charged, -1)
		}
	}
	return fmt.Errorf("%w: delete file: its charge keeps changing", ErrUnavailable)
}

// GetUsage returns the owner's usage, creating its document if needed.
func (s *mongoStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	if err := s.ensureUsage(ctx, owner); err != nil {
		return Usage{}, err
	}
	ctx, cancel := opContext(ctx)
	defer cancel()
	var u Usage
	err := s.usageColl().FindOne(ctx, bson.D{{Key: "_id", Value: owner}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 0}})).Decode(&u)
	return u, mongoErr("get usage", err)
}

func (m *indexedMongo) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	if err := m.ready(); err != nil {
		return err
	}
	return m.db.InsertFileWithinQuota(ctx, f, q)
}

func (m *indexedMongo) SettleCharge(ctx context.Context, owner, id string, from, to int64) error {
	if err := m.ready(); err != nil {
		return err
	}
	return m.db.SettleCharge(ctx, owner, id, from, to)
}

func (m *indexedMongo) GetUsage(ctx context.Context, owner string) (Usage, error) {
	if err := m.ready(); err != nil {
		return Usage{}, err
	}
	return m.db.GetUsage(ctx, owner)
}

// ---- Local store ----

// InsertFileWithinQuota checks the owner's usage and inserts f in one step
// under the write lock.
func (s *localStore) InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error {
	doc := normalizeLocalFile(f)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, dup := st.files[doc.ID]; dup {
			return nil, ErrConflict
		}
		if _, dup := st.objectKeys[doc.ObjectKey]; dup {
			return nil, ErrConflict
		}
		if !q.allows(st.usage(doc.Owner), doc.Charged) {
			return nil, ErrQuotaExceeded
		}
		return &localRecord{Op: opPutFile, File: &doc}, nil
	})
}

// SettleCharge sets the file's charge from `from` to `to`; the usage,
// derived from the files, follows.
func (s *localStore) SettleCharge(ctx context.Context, owner, id string, from, to int64) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		f, err := st.ownedFile(owner, id)
		if err != nil {
			return nil, err
		}
		if f.Charged != from {
			return nil, ErrConflict
		}
		doc := cloneLocalFile(f)
		doc.Charged = to
		return &localRecord{Op: opPutFile, File: &doc}, nil
	})
}

// GetUsage sums the owner's files.
func (s *localStore) GetUsage(ctx context.Context, owner string) (Usage, error) {
	var u Usage
	err := s.view(ctx, func(st *localState) error {
		u = st.usage(owner)
		return nil
	})
	return u, err
}

// usage sums the owner's files' charges; a user's files are a short walk.
func (st *localState) usage(owner string) Usage {
	var u Usage
	for _, f := range st.byOwner[owner] {
		u.Bytes += f.Charged
		u.Files++
	}
	return u
}
