package main

// Per-user quotas: the server side (the API's view of usage, the refusal
// and its message) and, below, how they work. The records (Quota, Usage)
// and what a file counts (Usage.add) are in store.go.
//
// What counts toward a user's usage is each file's Charged bytes (the
// declared size of a pending upload, or MAX_UPLOAD_BYTES without one; the
// real size once complete) and one file per record. The reservation is
// atomic on each store: MongoDB (and FerretDB, which has no transactions
// and no atomic update) appends to a per-user ledger under a unique index
// (mongo_quota.go); the local store checks and inserts under its write lock,
// deriving the usage from the files it holds (localstore_quota.go). Completion settles a file's
// charge at its real size once, and deleting a file releases its charge
// once, however many requests race to do either.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// codeQuotaExceeded is the API error code of a refused reservation.
const codeQuotaExceeded = "quota_exceeded"

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
// size, or the largest size it could turn out to have (only a single
// upload may leave its size out: see singleUploadLimit).
func (s *server) chargeFor(declared *int64) int64 {
	if declared != nil {
		return *declared
	}
	return s.singleUploadLimit()
}

// writeQuotaExceeded answers 403 quota_exceeded for the upload f with the
// user's usage and the limits in human units. The refusal stands whatever
// the usage read after it says: if that read fails, the message leaves the
// usage out. An upload that gave no size is also told that giving it would
// charge only that (review 16: it was told only to delete files).
func (s *server) writeQuotaExceeded(w http.ResponseWriter, r *http.Request, f *File) {
	var usage *Usage
	if u, err := s.store.GetUsage(r.Context(), f.Owner); err == nil {
		usage = &u
	} else {
		s.log.Warn("quota: reading the usage of a refused upload", "owner", f.Owner, "err", err)
	}
	msg := quotaMessage(s.quota(), usage, f.Charged)
	if f.DeclaredSize == nil {
		msg += `, or send the file's "size": an upload without one is counted at the most a single upload may hold until it completes`
	}
	writeError(w, http.StatusForbidden, codeQuotaExceeded, msg)
}

// quotaMessage says which limit a file charging charge would break, e.g.
// "this upload needs 2.0 GiB, and you use 4.5 GiB of your 5.0 GiB quota".
// u is the usage read after the refusal, nil if unknown; when it no longer
// shows a limit broken (the usage changed since), the message names the
// limits only.
func quotaMessage(q Quota, u *Usage, charge int64) string {
	switch {
	case u != nil && q.Files > 0 && u.Files+1 > q.Files:
		return fmt.Sprintf("you have %d of your %d files (pending uploads included); delete some first", u.Files, q.Files)
	case u != nil && q.Bytes > 0 && u.Bytes+charge > q.Bytes:
		return fmt.Sprintf("this upload needs %s, and you use %s of your %s quota (pending uploads included); delete some files first",
			humanBytes(charge), humanBytes(u.Bytes), humanBytes(q.Bytes))
	}
	return fmt.Sprintf("this upload needs %s, which would take you over your quota of %s (pending uploads included); delete some files first",
		humanBytes(charge), quotaLimits(q))
}

// quotaLimits names the limits of q: "5.0 GiB", "4 files" or both.
func quotaLimits(q Quota) string {
	switch {
	case q.Bytes > 0 && q.Files > 0:
		return fmt.Sprintf("%s and %d files", humanBytes(q.Bytes), q.Files)
	case q.Files > 0:
		return fmt.Sprintf("%d files", q.Files)
	}
	return humanBytes(q.Bytes)
}

// settleCharge makes a just-completed file count its real size. Another
// request that settled or deleted it first wins (ErrConflict, not an error).
// The file is already stored complete and nothing retries a settlement, so
// it runs to the end even if the client goes away.
func (s *server) settleCharge(ctx context.Context, f *File, size int64) {
	err := s.store.SettleCharge(context.WithoutCancel(ctx), f.Owner, f.ID, f.Charged, size)
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
		s.log.Warn("quota: settling a completed file's charge", "file", f.ID, "err", err)
	}
}
