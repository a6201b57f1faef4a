package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors every store implementation returns so that handlers can map them
// once, with errors.Is, whatever the backend.
var (
	// ErrNotFound: no record matches (or it belongs to someone else, or it
	// expired, or it was already used).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write would break a uniqueness rule or a state rule.
	ErrConflict = errors.New("conflict")
	// ErrTooManyShares: the file already has as many live share links as
	// MAX_SHARES_PER_FILE allows.
	ErrTooManyShares = errors.New("too many share links")
	// ErrDropFull: the share link would hold more than maxDropFiles files.
	ErrDropFull = errors.New("share link full")
	// ErrUnavailable: the backend did not answer in time.
	ErrUnavailable = errors.New("storage unavailable")
)

// sweptError is ErrNotFound for a complete the sweeper beat to the file
// (mongoStore's claimCompletion): the record the complete then deleted,
// if it did, whose objects the caller deletes, since the sweeper's own
// delete found nothing to delete them for.
type sweptError struct{ deleted *File }

func (e *sweptError) Error() string { return "not found: the upload was swept as abandoned" }
func (e *sweptError) Unwrap() error { return ErrNotFound }

// unavailableError is ErrUnavailable with a reason a client may read: which
// dependency cannot be used and why (`object store: no such bucket "x"`).
// The backend's own error stays in err, for the log only.
type unavailableError struct {
	reason string
	err    error
}

func (e *unavailableError) Error() string   { return e.reason + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// File statuses.
const (
	statusPending  = "pending"
	statusComplete = "complete"
	// statusDeleted: deleted by its owner while its staging key may still
	// be written (a form S3 cannot revoke, stagingObjects). Every read but
	// the sweeper's treats it as missing; its charge counts until
	// sweepStaged has deleted what the form stored, then the record goes.
	statusDeleted = "deleted"
)

// The five records below (File, Credential, User, AuthState, AuthCode) are
// each one type for every backend. Their bson tags are the MongoDB field
// names and their json tags the local log's (localstore_log.go): both name
// stored data, so renaming a tag orphans what is already stored. Clients
// never see these names; the API has its own views (fileJSON, userJSON).
// Times are in UTC: the driver decodes BSON dates as UTC unless a client is
// told to use local time, which openMongoStore never does.

// File is the metadata record of one uploaded (or announced) object.
type File struct {
	ID           string     `bson:"_id" json:"id"`
	Owner        string     `bson:"owner" json:"owner"`
	Filename     string     `bson:"filename" json:"name"`
	DeclaredSize *int64     `bson:"declared_size" json:"declared_size,omitempty"` // size the client announced, if any
	Size         *int64     `bson:"size" json:"size,omitempty"`                   // size S3 reported at completion
	ContentType  string     `bson:"content_type" json:"type,omitempty"`
	Status       string     `bson:"status" json:"status"`
	ObjectKey    string     `bson:"object_key" json:"object"`
	ETag         string     `bson:"etag" json:"etag,omitempty"`
	CreatedAt    time.Time  `bson:"created_at" json:"created"` // millisecond precision, UTC
	CompletedAt  *time.Time `bson:"completed_at" json:"completed,omitempty"`
	// Charged is the bytes counted against the owner's quota (quota.go):
	// the declared size, or MAX_UPLOAD_BYTES, until completion, then the
	// real size. Files stored before quotas existed have none.
	Charged int64 `bson:"charged,omitempty" json:"charged,omitempty"`
	// A multipart upload (see multipart.go): its id in the object store, the
	// size of every part but the last, how many parts, and until when it
	// may be resumed. Empty for a single upload.
	UploadID        string     `bson:"upload_id,omitempty" json:"upload_id,omitempty"`
	PartSize        int64      `bson:"part_size,omitempty" json:"part_size,omitempty"`
	PartCount       int        `bson:"part_count,omitempty" json:"part_count,omitempty"`
	UploadExpiresAt *time.Time `bson:"upload_expires_at,omitempty" json:"upload_expires,omitempty"`
	// StagingKey is where a single upload's form or PUT URL writes, when
	// the object store cannot revoke them (S3: see stagingObjects);
	// completion copies it to ObjectKey, which no client can write. Empty
	// on stores whose forms are single-use, and on files stored before it;
	// cleared once the form has expired and the file's charge is settled.
	StagingKey string `bson:"staging_key,omitempty" json:"staging,omitempty"`
	// A file a stranger sent through a file request (requests.go): the
	// request's ID, and the name and note they left (plain text, capped).
	RequestID  string `bson:"request_id,omitempty" json:"request,omitempty"`
	SenderName string `bson:"sender_name,omitempty" json:"sender,omitempty"`
	SenderNote string `bson:"sender_note,omitempty" json:"note,omitempty"`
}

// uploadKey is the key the file's single-upload form or PUT URL writes.
func (f *File) uploadKey() string { return cmp.Or(f.StagingKey, f.ObjectKey) }

// ListQuery selects one page of a user's files, newest first.
type ListQuery struct {
	Owner  string
	Status string // "" for any
	Limit  int    // rows to return; the store returns at most this many
	After  *Cursor
}

// Cursor is the position after which a page starts: the (CreatedAt, ID) of
// the last file of the previous page. Files sort by CreatedAt desc, ID desc,
// so files inserted later never shift a page that is being walked.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Credential kinds kept in the credentials collection.
const (
	kindBearer  = "bearer"
	kindSession = "session"
	kindPAT     = "pat" // a personal access token (tokens.go)
)

// Credential is the server-side record of a bearer token, a cookie session
// or a personal access token. Only the SHA-256 of the secret is stored.
// MongoDB gives each document an _id of its own, which reads ignore.
type Credential struct {
	Hash      string    `bson:"hash" json:"hash"` // hex SHA-256 of the secret
	Kind      string    `bson:"kind" json:"kind"` // kindBearer, kindSession or kindPAT
	UserID    string    `bson:"user_id" json:"user"`
	CreatedAt time.Time `bson:"created_at" json:"created"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires"`
	// A personal access token's own fields (tokens.go); empty for the
	// other kinds, which act with the user's full scope.
	TokenID    string    `bson:"token_id,omitempty" json:"token_id,omitempty"` // what the API names it by: the hash never leaves the store
	Name       string    `bson:"name,omitempty" json:"name,omitempty"`
	Scope      string    `bson:"scope,omitempty" json:"scope,omitempty"`           // its scopes, space-separated as OAuth writes them (RFC 6749 §3.3)
	LastUsedAt time.Time `bson:"last_used_at,omitempty" json:"last_used,omitzero"` // at most patTouchInterval old
	// UserDisabled: its user is disabled (SetUserDisabled), as
	// FindCredential reports it, so that the one lookup a request makes
	// also refuses a disabled user. MongoDB keeps it on each of the user's
	// credentials (mongo_admin.go); the local store reads it from the user
	// at each lookup and never stores it.
	UserDisabled bool `bson:"user_disabled,omitempty" json:"user_disabled,omitempty"`
}

// User is a person who signed in, keyed by (Issuer, Subject), never by email.
type User struct {
	ID      string `bson:"_id" json:"id"`
	Issuer  string `bson:"issuer" json:"iss"`
	Subject string `bson:"subject" json:"sub"`
	Email   string `bson:"email" json:"email,omitempty"`
	// EmailVerified: the provider vouched for Email at the last sign-in.
	// Only a verified email can name an administrator.
	EmailVerified bool   `bson:"email_verified,omitempty" json:"email_verified,omitempty"`
	Name          string `bson:"name" json:"name,omitempty"`
	Picture       string `bson:"picture" json:"picture,omitempty"`
	// Groups: the provider's groups claim (OIDC_GROUPS_CLAIM) at the last
	// sign-in, sorted, all of them: ALLOWED_GROUPS and ADMIN_GROUPS are
	// applied to it at every request, so a change to those lists applies
	// at once.
	Groups []string `bson:"groups,omitempty" json:"groups,omitempty"`
	// Disabled: an administrator removed the user (admin.go); their
	// credentials are deleted and sign-in is refused.
	Disabled   bool      `bson:"disabled,omitempty" json:"disabled,omitempty"`
	CreatedAt  time.Time `bson:"created_at,omitempty" json:"created,omitzero"` // zero for users stored before it was recorded
	LastSeenAt time.Time `bson:"last_seen_at,omitempty" json:"seen,omitzero"`  // at most touchInterval old
	// An account (Issuer accountsIssuer, Subject its lowercased email;
	// accounts.go) signs in with what it has set: a password, as a PHC
	// string (password.go), or none yet. Passkeys will be records of
	// their own, keyed by the user's ID, so an account may have either,
	// both or none.
	PasswordHash string `bson:"password_hash,omitempty" json:"password,omitempty"`
	// Admin: made an administrator by an invitation (dropp invite -admin),
	// in addition to ADMIN_EMAILS.
	Admin bool `bson:"admin,omitempty" json:"admin,omitempty"`
	// CredentialsResetAt: when an invitation last reset the account's
	// credentials (accounts.go). Whatever was issued on the strength of a
	// credential or a sign-in from before it is void: a request that
	// authenticated before the reset and mints something after it reads
	// this once its new credential exists and takes it back.
	CredentialsResetAt time.Time `bson:"credentials_reset_at,omitempty" json:"reset,omitzero"`
}

// resetSince tells whether the user's credentials were reset after t, so
// that what was proven at t no longer holds.
func (u User) resetSince(t time.Time) bool { return u.CredentialsResetAt.After(t) }

// accountsIssuer is the Issuer of accounts' users (accounts.go); their
// Subject is the lowercased email, which is what they sign in with.
const accountsIssuer = "accounts"

// Invitation is a one-time link that lets its holder set the password of
// the account of Email, creating it if need be (accounts.go). Only the
// SHA-256 of the link's token is stored.
type Invitation struct {
	Hash      string    `bson:"_id" json:"hash"`    // hex SHA-256 of the token
	Email     string    `bson:"email" json:"email"` // lowercased
	Admin     bool      `bson:"admin,omitempty" json:"admin,omitempty"`
	CreatedAt time.Time `bson:"created_at" json:"created"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires"`
}

// AuthState is the server-side half of one sign-in attempt toward the
// provider, kept until the callback (single use, short-lived).
type AuthState struct {
	Hash          string    `bson:"_id" json:"hash"`             // hex SHA-256 of the state sent to the provider
	BrowserHash   string    `bson:"browser_hash" json:"browser"` // hex SHA-256 of the value in the browser's state cookie
	Nonce         string    `bson:"nonce" json:"nonce"`
	Verifier      string    `bson:"verifier" json:"verifier"`                   // PKCE verifier toward the provider
	AppRedirect   string    `bson:"app_redirect" json:"app_redirect,omitempty"` // desktop app's redirect URI; "" for a browser sign-in
	AppState      string    `bson:"app_state" json:"app_state,omitempty"`       // desktop app's own state, echoed back
	CodeChallenge string    `bson:"code_challenge" json:"challenge,omitempty"`  // desktop app's S256 challenge; "" for a browser sign-in
	ExpiresAt     time.Time `bson:"expires_at" json:"expires"`
	// Purpose: "" for a provider attempt; for a passkey ceremony's
	// challenge (webauthn.go), what it was issued for, checked when taken.
	Purpose string `bson:"purpose,omitempty" json:"purpose,omitempty"`
}

// AuthCode is a one-time code handed to a desktop app, redeemed at /auth/token.
type AuthCode struct {
	Hash          string    `bson:"_id" json:"hash"` // hex SHA-256 of the code
	UserID        string    `bson:"user_id" json:"user"`
	CodeChallenge string    `bson:"code_challenge" json:"challenge"`
	RedirectURI   string    `bson:"redirect_uri" json:"redirect"`
	ExpiresAt     time.Time `bson:"expires_at" json:"expires"`
}

// Share is a link that lets anyone who holds its token download its files
// (a drop: one file or several, drops.go) until it expires, is revoked
// (deleted) or is used up. Only the SHA-256 of the token is stored, so the
// link itself exists only in the answer that created it.
type Share struct {
	ID        string `bson:"_id" json:"id"`
	TokenHash string `bson:"token_hash" json:"hash"` // hex SHA-256 of the link's token
	Owner     string `bson:"owner" json:"owner"`
	// FileID is the file the link was made with (the first, for a drop).
	// A link stored before drops names only it: it reads as a drop of one.
	FileID string `bson:"file_id" json:"file"`
	// Files are the link's files, in the order they were added, each with
	// the downloads counted of it. The local store keeps them in the
	// share's record; MongoDB as documents of their own (mongo_drops.go),
	// never in the share's document, so it never writes "files" there.
	// Stores return only the files that still exist. nil only in a share
	// stored before drops (a drop left with no file has an empty list).
	Files        []ShareFile `bson:"files,omitempty" json:"files"`
	MaxDownloads *int64      `bson:"max_downloads" json:"max,omitempty"` // nil: unlimited; a limit applies to each file
	// Downloads: the count of a local share stored before drops, moved to
	// its one file when read (Files[0].Downloads); zero otherwise.
	Downloads int64     `bson:"downloads" json:"downloads,omitempty"`
	CreatedAt time.Time `bson:"created_at" json:"created"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires"`
	// AllowPreview: the owner let a link with a download limit show
	// previews (a link without a limit always may).
	AllowPreview bool `bson:"allow_preview,omitempty" json:"preview,omitempty"`
	// Protection: a password and/or members only (linkprotect.go); the
	// zero value (every share stored before it) protects nothing.
	Protection LinkProtection `bson:"protection,omitempty" json:"protection,omitzero"`
}

// ShareFile is one file of a share link and the downloads counted of it.
type ShareFile struct {
	FileID    string `json:"id"`
	Downloads int64  `json:"downloads,omitempty"`
	// Member is MongoDB's: which time the file was put in the drop (see
	// mongo_drops.go's shareFile). Empty elsewhere.
	Member string `json:"-" bson:"-"`
}

// ShareQuery selects a page of the owner's live shares of one file.
type ShareQuery struct {
	Owner, FileID string
	Now           time.Time // shares expired by then are left out
	After         *Cursor   // the last share of the previous page; nil for the first
	Limit         int
}

// usedUp reports whether every download the share allows has been made,
// of each of its files: a link with no file left is used up too.
func (sh *Share) usedUp() bool {
	for i := range sh.Files {
		if !sh.fileUsedUp(&sh.Files[i]) {
			return false
		}
	}
	return true
}

// fileUsedUp reports whether f, one of the share's files, has had every
// download the share allows.
func (sh *Share) fileUsedUp(f *ShareFile) bool {
	return sh.MaxDownloads != nil && f.Downloads >= *sh.MaxDownloads
}

// withLegacyFiles makes a share whose Files are nil (stored before drops,
// or built with only FileID) a drop of its one file, with its count.
func (sh *Share) withLegacyFiles() {
	if sh.Files == nil && sh.FileID != "" {
		sh.Files, sh.Downloads = []ShareFile{{FileID: sh.FileID, Downloads: sh.Downloads}}, 0
	}
}

// file returns the share's entry for the file with that ID, or nil.
func (sh *Share) file(id string) *ShareFile {
	for i := range sh.Files {
		if sh.Files[i].FileID == id {
			return &sh.Files[i]
		}
	}
	return nil
}

// totalDownloads is the downloads counted of all the share's files.
func (sh *Share) totalDownloads() int64 {
	var n int64
	for _, f := range sh.Files {
		n += f.Downloads
	}
	return n
}

// Store is what the server needs from its metadata backend. MongoDB
// (mongoStore) and the embedded local store (localStore) implement it.
//
// Every file method takes the owner and matches on it: another user's id is
// indistinguishable from a missing one (ErrNotFound). Methods that find
// expiring records treat an expired record as missing, so backends without
// TTL indexes stay correct.
type Store interface {
	Ping(ctx context.Context) error
	Close(ctx context.Context) error

	InsertFile(ctx context.Context, f *File) error
	GetFile(ctx context.Context, owner, id string) (*File, error)
	ListFiles(ctx context.Context, q ListQuery) ([]File, error)
	// CompleteFile marks a pending file complete with the size and ETag the
	// object store reported, and, unless key is "", the key its object was
	// promoted to (stagingObjects). A file that is already complete is returned
	// unchanged. completed tells whether this call made it complete: of
	// concurrent calls on one pending file, at most one. A sweptError says
	// the sweeper took the file as abandoned first (on MongoDB).
	CompleteFile(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time) (f *File, completed bool, err error)
	// DeleteFile deletes the owner's file and returns the record it
	// deleted: its object keys are the ones to delete, whatever a complete
	// made of the file since the caller read it.
	DeleteFile(ctx context.Context, owner, id string) (*File, error)
	// HoldDeletedFile marks the owner's file that names a staging key
	// statusDeleted (ending its shares) and returns it as it was: from
	// then on it is missing to GetFile, ListFiles and CompleteFile, and
	// still counts in the owner's usage. ErrNotFound if the file is gone,
	// already held, or names no staging key.
	HoldDeletedFile(ctx context.Context, owner, id string) (*File, error)
	// HoldPendingFile is HoldDeletedFile for a sender's take-back: it holds
	// the file only if it is still pending at the hold itself, so that of
	// a take-back and a complete racing on one file only one wins. A
	// complete that came first keeps the file (ErrNotFound here); one that
	// comes after is not acknowledged (ErrNotFound there).
	HoldPendingFile(ctx context.Context, owner, id string) (*File, error)

	InsertCredential(ctx context.Context, c Credential) error
	// FindCredential returns the unexpired credential of that kind and
	// hash, with UserDisabled telling whether its user is disabled now,
	// whether the credential was stored before or after the disable.
	FindCredential(ctx context.Context, kind, hash string, now time.Time) (Credential, error)
	DeleteCredential(ctx context.Context, kind, hash string) error

	// UpsertUser creates the user for (Issuer, Subject) or refreshes its
	// email, name and picture; it returns the stored user with its ID.
	// A user stored under another spelling of the issuer (issuerSpellings)
	// is the same user. Concurrent first calls for one subject all succeed,
	// with one user.
	UpsertUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id string) (User, error)

	InsertAuthState(ctx context.Context, s AuthState) error
	// TakeAuthState atomically removes and returns an unexpired state.
	TakeAuthState(ctx context.Context, hash string, now time.Time) (AuthState, error)
	InsertAuthCode(ctx context.Context, c AuthCode) error
	// TakeAuthCode atomically removes and returns an unexpired code: of two
	// concurrent calls with the same hash, exactly one succeeds.
	TakeAuthCode(ctx context.Context, hash string, now time.Time) (AuthCode, error)

	// Shares (share links, each a drop of one file or several). A file
	// is in a share while it exists: deleting the file takes it out of
	// every share, and every read returns only the files still there (in
	// Share.Files, with their counts). A share with no file left, like an
	// expired one, is missing everywhere but the owner's list (which the
	// local store may forget it from when it compacts); a used-up
	// one (each file used up) is missing to ShareLink and
	// CountShareDownload but still listed, with its counts.
	//
	// InsertShare stores sh with the files sh.Files names (their counts
	// ignored) unless one of them would then be in more than maxLive
	// unexpired shares (ErrTooManyShares; 0 checks nothing). The check
	// holds under concurrent inserts, on every instance: they never leave
	// more than maxLive (MongoDB inserts, counts, and takes its share back
	// when over, so racing inserts at the edge may all be refused).
	InsertShare(ctx context.Context, sh Share, maxLive int) error
	// ListShares returns a page of the owner's unexpired shares of a file
	// (every share of the owner when q.FileID is ""), oldest first
	// (CreatedAt, then ID), after q.After, at most q.Limit.
	ListShares(ctx context.Context, q ShareQuery) ([]Share, error)
	// DeleteShare revokes the owner's share with that ID at once.
	DeleteShare(ctx context.Context, owner, id string) error
	// ShareLink returns the share of that token hash if it can still be
	// used to download: unexpired, not used up.
	ShareLink(ctx context.Context, hash string, now time.Time) (Share, error)
	// CountShareDownload atomically counts one download of the file of sh,
	// the share as ShareLink returned it moments before (its counts may
	// be stale: low, or high for a file put back in a drop meanwhile), and
	// returns the share, counted, unless by now it has expired or was
	// revoked, the file is not in it (or gone, or was taken out and put
	// back since sh was read) or has been used up: of N concurrent calls
	// for one file with k downloads left, k succeed, across instances
	// (fewer only where a refused download's number could not be given
	// back: mongoStore's giveBackNumber), never more. A revocation that
	// comes before the count is stored wins (the count is missing).
	CountShareDownload(ctx context.Context, sh Share, fileID string, now time.Time) (Share, error)
	dropStore

	// Quotas (quota.go). InsertFileWithinQuota inserts f, whose Charged is
	// set, only if the owner's usage plus f stays within q, atomically:
	// otherwise ErrQuotaExceeded. DeleteFile releases what the file counted.
	InsertFileWithinQuota(ctx context.Context, f *File, q Quota) error
	// SettleCharge changes a file's Charged from `from` to `to` and the
	// owner's usage by the difference, once: ErrConflict if it is no longer `from`.
	SettleCharge(ctx context.Context, owner, id string, from, to int64) error
	GetUsage(ctx context.Context, owner string) (Usage, error)
	// UsageByOwner returns every owner's usage, as GetUsage gives each, in
	// a query or two whatever the number of owners; an owner it lacks uses
	// nothing.
	UsageByOwner(ctx context.Context) (map[string]Usage, error)

	// Administration (admin.go).
	ListUsers(ctx context.Context) ([]User, error)
	SetUserDisabled(ctx context.Context, id string, disabled bool) error
	// DeleteUserCredentials deletes every token, personal access token and
	// session of the user and returns how many there were.
	DeleteUserCredentials(ctx context.Context, userID string) (int, error)
	// MarkCredentialsReset sets the user's CredentialsResetAt to at.
	MarkCredentialsReset(ctx context.Context, id string, at time.Time) error
	// TouchUser records that the user was seen at at, which ListUsers
	// gives as LastSeenAt. It must never write back any other field of
	// the user: it is the write a user gets most often.
	TouchUser(ctx context.Context, id string, at time.Time) error

	// Accounts (accounts.go).
	InsertInvitation(ctx context.Context, inv Invitation) error
	// GetInvitation returns the unexpired invitation of that token hash.
	GetInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error)
	// TakeInvitation atomically removes and returns an unexpired
	// invitation: of concurrent calls with one hash, exactly one succeeds.
	TakeInvitation(ctx context.Context, hash string, now time.Time) (Invitation, error)
	// DeleteInvitations deletes every invitation for the lowercased email,
	// expired or not, and returns how many there were.
	DeleteInvitations(ctx context.Context, email string) (int, error)
	// FindAccount returns the account of a lowercased email.
	FindAccount(ctx context.Context, email string) (User, error)
	// SetAccountPassword replaces the account's password hash and, if
	// admin, makes it an administrator (never the reverse).
	SetAccountPassword(ctx context.Context, id, passwordHash string, admin bool) error
	passkeyStore // webauthn.go

	// Cleanup (sweeper.go).
	// DeleteAbandonedFile deletes the owner's file, releasing its charge,
	// only if it is still pending and was created before t, checked in the
	// store itself: a file completed since the sweeper read it stays
	// (ErrNotFound). It is the sweeper's claim on a file, made before its
	// objects go, which are those of the record it returns.
	DeleteAbandonedFile(ctx context.Context, owner, id string, createdBefore time.Time) (*File, error)
	// PendingFilesBefore returns up to limit pending files created before
	// t, oldest first by (CreatedAt, ID), from just after the position
	// after (nil: from the oldest), so that a sweep can walk them in batches.
	PendingFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error)
	// StagedFilesBefore is PendingFilesBefore for the complete and the
	// held deleted files that still name a staging key (stagingObjects):
	// once their form has expired, a complete one's charge is settled and
	// a deleted one goes.
	StagedFilesBefore(ctx context.Context, t time.Time, after *Cursor, limit int) ([]File, error)
	// ClearStagingKey forgets the staging key of the owner's complete file.
	ClearStagingKey(ctx context.Context, owner, id string) error
	// DeleteExpired deletes credentials, sign-in states, codes and shares
	// expired by now, and returns how many.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// HasObjectKey tells whether a file record names the object key
	// (`dropp reconcile`, reconcile.go).
	HasObjectKey(ctx context.Context, key string) (bool, error)

	tokenStore
	webhookStore // webhooks' endpoints and outbox (end of this file)
	outboxStore  // file changes with their events in one step (end of this file)
	requestStore // file requests (requests.go)
}

// ---- Quotas (quota.go; each store keeps them its own way) ----

// ErrQuotaExceeded: the file would take its owner over a quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// Quota is the limit of one user; a zero field is unlimited.
type Quota struct {
	Bytes int64
	Files int64
}

// allows tells whether a user at usage u may add one file charging bytes.
func (q Quota) allows(u Usage, bytes int64) bool {
	return (q.Bytes == 0 || u.Bytes+bytes <= q.Bytes) && (q.Files == 0 || u.Files+1 <= q.Files)
}

// Usage is what a user's files count toward the quota. On MongoDB it is
// the totals of the user's latest usage ledger entry (usageEntry), or with
// no quota set, the sum of the files (usageFromFiles).
type Usage struct {
	Bytes int64 `bson:"bytes" json:"bytes"`
	Files int64 `bson:"files" json:"files"`
}

// sumCharges is what files count toward the quota: each one's charge (a
// file stored before quotas, without one, as legacyCharge says) and one
// file each.
func sumCharges(files []File) Usage {
	var u Usage
	for i := range files {
		u.add(&files[i])
	}
	return u
}

// add counts f in u: its charge and one file. A file held deleted
// (statusDeleted) counts its charge only: its form may still store that
// much, but its owner no longer has it.
func (u *Usage) add(f *File) {
	u.Bytes += cmp.Or(f.Charged, legacyCharge(f))
	if f.Status != statusDeleted {
		u.Files++
	}
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

// newID returns a random (version 4) UUID, the form of file and user ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// issuerSpellings are the names under which users of issuer may be
// stored, the canonical one first. Sign-in stores the configured issuer,
// but Google users were once stored under the spelling their token had.
func issuerSpellings(issuer string) []string {
	if issuer == googleIssuer {
		return []string{googleIssuer, googleIssuerBare}
	}
	return []string{issuer}
}

// ---- Personal access tokens (tokens.go) ----

// tokenStore is what personal access tokens need beyond the credential
// methods: they are credentials of kind kindPAT, found, expired, swept and
// deleted with a disabled user's credentials like the others.
type tokenStore interface {
	// ListTokens returns the user's unexpired personal access tokens,
	// oldest first (CreatedAt, then TokenID).
	ListTokens(ctx context.Context, userID string, now time.Time) ([]Credential, error)
	// DeleteToken revokes the user's personal access token with that
	// TokenID at once; ErrNotFound if the user has no such token.
	DeleteToken(ctx context.Context, userID, tokenID string) error
	// TouchToken sets the LastUsedAt of the personal access token of that
	// hash to at, only if it is unset or at least every older than at,
	// checked in the store itself (one conditional update), so that the
	// requests of every instance write it at most once per interval;
	// calls at one instant all leave the same value. It reports whether
	// it wrote; a missing token is (false, nil).
	TouchToken(ctx context.Context, hash string, at time.Time, every time.Duration) (bool, error)
}

// ---- Drops: editing a share's files (drops.go) ----

// dropStore is what editing a share link's files needs of a store.
type dropStore interface {
	// GetShare returns the owner's unexpired share with that ID, with its
	// files as ShareLink gives them (even when used up or left without a
	// file).
	GetShare(ctx context.Context, owner, id string, now time.Time) (Share, error)
	// AddShareFiles adds the owner's files, in order, to the end of the
	// owner's unexpired share, all or none: none if a file would then be
	// in more than maxLive unexpired shares (ErrTooManyShares, as
	// InsertShare checks it), or the share would hold more than
	// maxDropFiles files (ErrDropFull). A file already in the share stays
	// where it is. ErrNotFound if no such share. The caller has checked
	// that the files are complete.
	AddShareFiles(ctx context.Context, owner, shareID string, fileIDs []string, maxLive int, now time.Time) error
	// RemoveShareFile takes the file out of the owner's share; its
	// downloads counted so far are forgotten. ErrNotFound if no such
	// share, or the file is not in it.
	RemoveShareFile(ctx context.Context, owner, shareID, fileID string, now time.Time) error
}

// ---- Protected links (linkprotect.go) ----

// LinkProtection is what guards a link a stranger opens, beyond its token:
// a password, kept as its PHC string (password.go, never shown), and/or
// members only (only users signed in to this Dropp). The zero value guards
// nothing, which is every link stored before it existed. Share links
// and file requests carry it.
type LinkProtection struct {
	PasswordHash string `bson:"password_hash,omitempty" json:"password,omitempty"`
	MembersOnly  bool   `bson:"members_only,omitempty" json:"members_only,omitempty"`
}

// IsZero tells a protection that guards nothing; both stores then leave
// it out of the record (bson omitempty and json omitzero ask it).
func (p LinkProtection) IsZero() bool { return p == LinkProtection{} }

// ---- Webhooks (webhooks.go, webhook_delivery.go) ----

// webhookStore keeps webhook endpoints and their outbox of deliveries.
// Every endpoint method takes the owner (a user's ID, or serverWideOwner
// for an administrator's endpoint) and matches on it, as file methods do.
type webhookStore interface {
	// InsertWebhook stores a new endpoint.
	InsertWebhook(ctx context.Context, h Webhook) error
	// ListWebhooks returns the owner's endpoints, oldest first.
	ListWebhooks(ctx context.Context, owner string) ([]Webhook, error)
	GetWebhook(ctx context.Context, owner, id string) (Webhook, error)
	// DeleteWebhook deletes the owner's endpoint; its pending deliveries
	// then fail when their turn comes.
	DeleteWebhook(ctx context.Context, owner, id string) error
	// RotateWebhookSecret makes secret the endpoint's secret and keeps
	// the one it replaces valid until oldUntil; it returns the endpoint.
	RotateWebhookSecret(ctx context.Context, owner, id, secret string, oldUntil time.Time) (Webhook, error)
	// WebhooksFor returns the endpoints of owner, and the server-wide
	// ones, that subscribe to event.
	WebhooksFor(ctx context.Context, owner, event string) ([]Webhook, error)

	// InsertDeliveries adds deliveries to the outbox. One whose ID is
	// already there is left as it is: its event was emitted before (a
	// retried request), so emitting is idempotent.
	InsertDeliveries(ctx context.Context, ds []WebhookDelivery) error
	// DueDeliveries returns up to limit pending deliveries whose next
	// attempt is due by now, the earliest first, leaving out those busy
	// names.
	DueDeliveries(ctx context.Context, now time.Time, limit int, busy BusyEndpoints) ([]WebhookDelivery, error)
	// ClaimDelivery takes attempt number `attempt` of a delivery until
	// `until`: of concurrent claims of one attempt, across instances, at
	// most one succeeds while its claim lasts; once expired (its holder
	// died mid-delivery), the attempt may be claimed again.
	ClaimDelivery(ctx context.Context, id string, attempt int, now, until time.Time) (bool, error)
	// ReleaseClaim drops the claim of that attempt, if any.
	ReleaseClaim(ctx context.Context, id string, attempt int) error
	GetDelivery(ctx context.Context, id string) (WebhookDelivery, error)
	// RecordAttempt stores d's outcome (status, attempts, next try, last
	// answer) unless another attempt was recorded since d.Attempts-1.
	RecordAttempt(ctx context.Context, d WebhookDelivery) error
	// ListDeliveries returns the endpoint's last limit deliveries, newest first.
	ListDeliveries(ctx context.Context, webhookID string, limit int) ([]WebhookDelivery, error)
}

// serverWideOwner owns the endpoints administrators register under
// /admin/webhooks, which receive every user's events. No user may have
// this ID: stored users' IDs are newID's (UpsertUser), and authenticate
// refuses it from a trusted proxy and in a stored credential.
const serverWideOwner = "*"

// Webhook is an endpoint that receives signed events (Standard Webhooks).
// Its secret is kept as it is, not hashed: signing needs it.
type Webhook struct {
	ID     string   `bson:"_id" json:"id"`
	Owner  string   `bson:"owner" json:"owner"`
	URL    string   `bson:"url" json:"url"`
	Events []string `bson:"events" json:"events"`
	Secret string   `bson:"secret" json:"secret"` // whsec_ + base64 of the HMAC key
	// OldSecret is the secret a rotation replaced, still signed with
	// until OldUntil, so receivers can switch without losing events.
	OldSecret string    `bson:"old_secret,omitempty" json:"old_secret,omitempty"`
	OldUntil  time.Time `bson:"old_until,omitempty" json:"old_until,omitzero"`
	CreatedAt time.Time `bson:"created_at" json:"created"`
}

// BusyEndpoints names the endpoints, and the owners, that have as many
// attempts in flight on an instance as its worker lets them
// (webhookPerEndpoint, webhookPerOwner): DueDeliveries leaves their
// deliveries out, so that one endpoint's backlog does not fill the page the
// worker reads and hide everyone else's.
type BusyEndpoints struct {
	Webhooks, Owners []string
}

// holds tells whether d is one of the busy ones.
func (b BusyEndpoints) holds(d *WebhookDelivery) bool {
	return slices.Contains(b.Webhooks, d.WebhookID) || slices.Contains(b.Owners, d.Owner)
}

// Delivery statuses.
const (
	deliveryPending   = "pending"
	deliveryDelivered = "delivered"
	deliveryFailed    = "failed"
)

// WebhookDelivery is one event for one endpoint, in the outbox until it is
// delivered or given up, then kept for the endpoint's list until ExpiresAt.
type WebhookDelivery struct {
	ID        string    `bson:"_id" json:"id"` // the webhook-id header, the same on every attempt
	WebhookID string    `bson:"webhook_id" json:"webhook"`
	Owner     string    `bson:"owner" json:"owner"` // the endpoint's owner
	Event     string    `bson:"event" json:"event"`
	Payload   string    `bson:"payload" json:"payload"` // the body sent, fixed when the event happened
	CreatedAt time.Time `bson:"created_at" json:"created"`
	Status    string    `bson:"status" json:"status"`
	Attempts  int       `bson:"attempts" json:"attempts"`
	NextAt    time.Time `bson:"next_at" json:"next"`
	LastCode  int       `bson:"last_code,omitempty" json:"code,omitempty"` // HTTP status of the last attempt
	LastError string    `bson:"last_error,omitempty" json:"error,omitempty"`
	ExpiresAt time.Time `bson:"expires_at" json:"expires"`
}

// ---- File requests (requests.go) ----

// ErrRequestFull: the file would take a file request over its most files
// or most bytes.
var ErrRequestFull = errors.New("file request full")

// FileRequest is an upload link: anyone who holds its token may send files
// into its owner's account, up to MaxFiles files and MaxBytes bytes in
// all, until it expires or its owner closes it. Only the SHA-256 of the
// token is stored, as for a Share.
type FileRequest struct {
	ID           string    `bson:"_id" json:"id"`
	TokenHash    string    `bson:"token_hash" json:"hash"` // hex SHA-256 of the link's token
	Owner        string    `bson:"owner" json:"owner"`
	Title        string    `bson:"title" json:"title"`
	Message      string    `bson:"message,omitempty" json:"message,omitempty"`
	MaxFiles     int64     `bson:"max_files" json:"max_files"`
	MaxBytes     int64     `bson:"max_bytes" json:"max_bytes"`
	ContentTypes []string  `bson:"content_types,omitempty" json:"types,omitempty"` // media types, or "type/*"; none: any
	Closed       bool      `bson:"closed" json:"closed"`
	CreatedAt    time.Time `bson:"created_at" json:"created"`
	ExpiresAt    time.Time `bson:"expires_at" json:"expires"`
	// Protection: a password and/or members only, as a share link's
	// (linkprotect.go); the zero value (every request stored before it)
	// protects nothing.
	Protection LinkProtection `bson:"protection,omitempty" json:"protection,omitzero"`
}

// ReceivedRequest is a FileRequest with what it holds now: its pending
// and complete files and their charges, counted from the files at each
// read, never stored (one source of truth: a file the owner deletes, or
// the sweeper abandons, gives its room back, a held one once settled:
// heldInRequest).
type ReceivedRequest struct {
	FileRequest
	Received Usage
}

// heldInRequest tells whether a file sent through a request and then
// deleted still holds its room: it is held (S3) while its upload form may
// still write its staging key, charged to the owner until the sweeper
// settles it, and so it counts in the request until then, as it does in
// the quota. Else a stranger could create and take back uploads over and
// over, each leaving its charge on the owner's quota, and fill it through
// a request of any size (review 17).
func heldInRequest(f *File) bool {
	return f.Status == statusDeleted && f.StagingKey != ""
}

// room tells whether the request can take one more file charging bytes.
func (fr *ReceivedRequest) room(bytes int64) bool {
	return fr.Received.Files+1 <= fr.MaxFiles && fr.Received.Bytes+bytes <= fr.MaxBytes
}

// RequestQuery selects a page of the owner's unexpired file requests.
type RequestQuery struct {
	Owner string
	Now   time.Time // requests expired by then are left out
	After *Cursor   // the last request of the previous page; nil for the first
	Limit int
}

// requestStore is what file requests need from a Store. A request lives
// until it expires or its owner deletes it; an expired one is missing
// everywhere, a closed one only to RequestLink and InsertRequestFile.
// Every read counts what the request received.
type requestStore interface {
	// InsertRequest stores a new request; a taken token hash is ErrConflict.
	InsertRequest(ctx context.Context, fr FileRequest) error
	// ListRequests returns a page of the owner's unexpired requests,
	// oldest first (CreatedAt, then ID), after q.After, at most q.Limit.
	ListRequests(ctx context.Context, q RequestQuery) ([]ReceivedRequest, error)
	// SetRequestClosed closes or reopens the owner's unexpired request and
	// returns it as it now is.
	SetRequestClosed(ctx context.Context, owner, id string, closed bool, now time.Time) (ReceivedRequest, error)
	// DeleteRequest ends the owner's request at once; the files it
	// received stay the owner's.
	DeleteRequest(ctx context.Context, owner, id string) error
	// RequestLink returns the request of that token hash if strangers may
	// still send to it: unexpired and open.
	RequestLink(ctx context.Context, hash string, now time.Time) (ReceivedRequest, error)
	// InsertRequestFile inserts f, whose Owner, RequestID and Charged are
	// set, only if its request is still open and unexpired at now
	// (ErrNotFound), has room for it (ErrRequestFull) and the owner's
	// quota q allows it (ErrQuotaExceeded). The caps hold under concurrent
	// inserts on every instance: a request never holds more than its
	// MaxFiles files or MaxBytes bytes.
	InsertRequestFile(ctx context.Context, f *File, q Quota, now time.Time) error
}

// ---- Passkeys (webauthn.go) ----

// Passkey is a WebAuthn credential registered to a user: the key with
// which its authenticator signs sign-ins. An account may have several.
type Passkey struct {
	ID        string `bson:"_id" json:"id"` // the credential ID, base64url without padding
	UserID    string `bson:"user_id" json:"user"`
	PublicKey []byte `bson:"public_key" json:"key"` // the COSE_Key, as registered
	Alg       int64  `bson:"alg" json:"alg"`        // its COSE algorithm
	// UserHandle is the user handle the authenticator was given, base64url:
	// the user's ID, or for an account created with this passkey, the ID
	// chosen before the account was (webauthn.go).
	UserHandle string `bson:"user_handle" json:"handle"`
	// SignCount is the authenticator's signature counter at the last use
	// (0: the authenticator keeps none).
	SignCount  int64     `bson:"sign_count" json:"count"`
	Name       string    `bson:"name" json:"name"`
	CreatedAt  time.Time `bson:"created_at" json:"created"`
	LastUsedAt time.Time `bson:"last_used_at,omitempty" json:"used,omitzero"`
	// ProvenAt is when the credential that added this passkey was issued
	// (a session's creation); zero for one an invitation gave, which the
	// reset itself proves. A reset after it refuses the passkey's sign-in
	// (passkeyStillProven): a passkey added by a request that authenticated
	// before a reset, and stored after it, signs no one in while it waits
	// to be taken back (review 17).
	ProvenAt time.Time `bson:"proven_at,omitempty" json:"proven,omitzero"`
}

// passkeyStore keeps passkeys, on every backend.
type passkeyStore interface {
	// InsertPasskey stores a new passkey; ErrConflict if its credential
	// ID is registered already (to anyone).
	InsertPasskey(ctx context.Context, p Passkey) error
	// GetPasskey returns the passkey of that credential ID.
	GetPasskey(ctx context.Context, id string) (Passkey, error)
	// UserPasskeys returns the user's passkeys, oldest first.
	UserPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// UsePasskey records a sign-in: it sets the counter to count and the
	// last use to at, only if the stored counter is still from, checked in
	// the store itself, so that of two sign-ins racing with one counter
	// value only one passes (ErrNotFound for the other).
	UsePasskey(ctx context.Context, id string, from, count int64, at time.Time) error
	// DeletePasskey deletes one passkey; a missing one is not an error.
	DeletePasskey(ctx context.Context, id string) error
	// DeleteUserPasskeys deletes the user's passkeys (a reset) and returns
	// how many there were.
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
}

// ---- Shared rate limits (ratelimit.go) ----

// rateBudgetStore keeps rate budgets shared by every instance. Only a store
// that several instances share implements it (MongoDB); for the others the
// instance's own limiter is the whole budget.
type rateBudgetStore interface {
	// SpendRateBudget takes the lowest free unit of bucket numbered from
	// from to budget and returns its number, 0 when all are taken. Of
	// concurrent spends, however many instances make them, at most budget
	// succeed; the bucket may be forgotten after expires.
	SpendRateBudget(ctx context.Context, bucket string, from, budget int, expires time.Time) (int, error)
}

// googleIssuer is Google's OpenID issuer, the default OIDC_ISSUER;
// googleIssuerBare is the other spelling Google documents in ID tokens.
const (
	googleIssuer     = "https://accounts.google.com"
	googleIssuerBare = "accounts.google.com"
)

// validID accepts exactly the lowercase canonical UUID form newID makes.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// localTime rounds t down to the millisecond, in UTC, the way MongoDB
// stores it, so that both backends hand back the same values.
func localTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

// compareShares orders shares as they are listed: by CreatedAt, then ID.
func compareShares(a, b Share) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// claimKey names the claim of one attempt of a delivery, in both stores.
func claimKey(id string, attempt int) string { return fmt.Sprintf("%s/%d", id, attempt) }

// ---- Events in the change's own step (webhooks.go, localstore_outbox.go) ----

// fileEvents builds the webhook deliveries a change to a file causes, from
// the file as the change leaves it (as it was, for a delete).
type fileEvents func(f *File) ([]WebhookDelivery, error)

// outboxStore makes the file changes that cause webhook events, and writes
// their deliveries to the outbox in the same step where the store allows:
// the local store writes the change and its deliveries as one log record,
// so a crash keeps both or neither; MongoDB (FerretDB has no transactions)
// inserts them after the change, before returning (docs/webhooks.md says
// what a crash between the two can lose). A nil events writes none;
// deliveries already in the outbox are kept, as InsertDeliveries does; a
// change that fails writes none.
type outboxStore interface {
	// CompleteFileEmitting is CompleteFile, writing events(f) with the
	// completion, or on their own for a file already complete (whose
	// events may be missing on MongoDB).
	CompleteFileEmitting(ctx context.Context, owner, id, key string, size int64, etag string, at time.Time, events fileEvents) (f *File, completed bool, err error)
	// DeleteFileEmitting is DeleteFile, writing events(f) with the deletion.
	DeleteFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error)
	// HoldDeletedFileEmitting is HoldDeletedFile, writing events(f) with
	// the hold.
	HoldDeletedFileEmitting(ctx context.Context, owner, id string, events fileEvents) (*File, error)
}
