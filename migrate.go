package main

// `dropp migrate`: copies local mode's data (DATA_DIR) into the MongoDB and
// S3 bucket the environment configures, so that a trial run becomes the
// production one without losing what was dropped. Users with their
// passkeys, completed files and their objects, bearer tokens, sessions,
// share links (with their download counts), file requests, webhook
// endpoints with their deliveries (pending and finished) and unused
// invitations move; sign-ins in progress and unfinished uploads do not:
// they are minutes old and the apps start them again. Every kind the
// local store keeps has a step here or a reason to stay behind
// (TestMigrateHasAStepForEveryKind).
//
// It holds the local store's lock throughout, so it refuses to run beside
// a server using DATA_DIR and nothing changes while it copies. Every record
// keeps its id, and an insert that meets an existing one counts as done,
// so running it again (after an interruption, or twice) only copies what
// is missing. Objects go first and their records after, each object's size
// checked on disk and in the bucket, so a record never points at a
// missing or truncated object.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// migrateSummary counts what a migration did; "skipped" is what the
// destination already held.
type migrateSummary struct {
	users, usersSkipped     int
	files, filesSkipped     int
	pendingLeft             int
	copied, objectsSkipped  int
	bytes                   int64
	credentials, credsKnown int
	shares, sharesSkipped   int
	passkeys, passkeysKnown int
	webhooks, webhooksKnown int
	deliveries              int // copied or already there: InsertDeliveries keeps either quietly
	invitations, invsKnown  int
}

// runMigrate is `dropp migrate`: args are what follows the word.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: dropp migrate takes none (it reads DATA_DIR, MONGODB_URI and AWS_S3_BUCKET)", args[0])}
	}
	cfg, err := migrateConfig(getenv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	local, err := openMigrationSource(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer local.Close(context.Background())
	logger := newLogger(getenv("LOG_FORMAT"), stderr)
	dest, objects, err := openMigrationDestination(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dest.Close(context.Background())
	m := &migration{src: local.state, srcDir: local.dir, dest: dest, objects: objects, out: stdout, singleLimit: maxSingleBytes, partSize: cfg.PartSize}
	m.src.dropExpired(time.Now()) // in memory only: the local store is never written
	if m.srcObjects, err = os.OpenRoot(filepath.Join(cfg.DataDir, "objects")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrate: %w", err)
	}
	if m.srcObjects != nil {
		defer m.srcObjects.Close()
	}
	err = m.copyAll(ctx)
	m.printSummary(cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w (run dropp migrate again to resume: what is done is skipped)", err)
	}
	return nil
}

// migrateConfig reads the configuration the way the production server
// will, with one difference: an unset SECRET_KEY is local mode's own key,
// which is what production must be given for cookie sessions to survive.
// A SECRET_KEY set to another key is refused, unless SECRET_KEY_PREVIOUS
// is local mode's key (a rotation, which keeps sessions too).
func migrateConfig(getenv func(string) string) (*config, error) {
	dataDir := cmp.Or(getenv("DATA_DIR"), settingDefault("DATA_DIR"))
	localKey, err := os.ReadFile(filepath.Join(dataDir, secretKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("DATA_DIR: %w", err)
	}
	cfg, err := loadConfig(func(name string) string {
		if name == "SECRET_KEY" && localKey != nil {
			return cmp.Or(getenv(name), string(localKey))
		}
		return getenv(name)
	})
	if err != nil {
		return nil, err
	}
	if cfg.localMetadata() || cfg.localObjectStore() {
		return nil, errors.New("set MONGODB_URI and AWS_S3_BUCKET (with the rest of the S3 settings) to the destination: dropp migrate copies DATA_DIR into them")
	}
	if localKey != nil && !bytes.Equal(cfg.SecretKey, localKey) && !bytes.Equal(cfg.SecretKeyPrevious, localKey) {
		return nil, fmt.Errorf("SECRET_KEY differs from local mode's key (%s): signed-in browsers would be signed out. Give production SECRET_KEY=$(cat %[1]s), or leave SECRET_KEY unset for the migration, or keep the new key and set SECRET_KEY_PREVIOUS to the old one",
			filepath.Join(dataDir, secretKeyFile))
	}
	return cfg, nil
}

// openMigrationSource opens local mode's store, taking its lock: a server
// still using DATA_DIR holds it, and is named as the reason.
func openMigrationSource(dataDir string) (*localStore, error) {
	dir := filepath.Join(dataDir, "metadata")
	if _, err := os.Stat(filepath.Join(dir, localLogName)); err != nil {
		return nil, fmt.Errorf("no local store to migrate in DATA_DIR %s: %w", dataDir, err)
	}
	local, err := openLocalStore(dir)
	if errors.Is(err, errLocalStoreLocked) {
		return nil, fmt.Errorf("the local store in DATA_DIR %s is in use: stop the Dropp server that runs on it first", dataDir)
	}
	return local, err
}

// openMigrationDestination connects MongoDB and the bucket and checks
// that both answer now: a migration cannot wait for them in the background.
func openMigrationDestination(ctx context.Context, cfg *config, logger *slog.Logger) (*mongoStore, *s3Objects, error) {
	dest, err := openMongoStore(ctx, cfg.MongoURI, cfg.MongoDB, logger)
	if err != nil {
		return nil, nil, err
	}
	if err := dest.ready(); err != nil {
		dest.Close(context.Background())
		return nil, nil, fmt.Errorf("MongoDB does not answer: %w", err)
	}
	objects, err := newS3Objects(ctx, cfg, logger)
	if err == nil {
		if p := objects.check(ctx); p != nil {
			err = fmt.Errorf("bucket %s: %s (%s)", cfg.Bucket, p.cause, p.hint)
		}
	}
	if err != nil {
		dest.Close(context.Background())
		return nil, nil, err
	}
	return dest, objects, nil
}

// migration is one run of dropp migrate.
type migration struct {
	src        *localState
	srcDir     string   // the local store's directory, whose invitations are files beside its log
	srcObjects *os.Root // nil: local mode never stored an object
	dest       *mongoStore
	objects    *s3Objects
	out        io.Writer
	sum        migrateSummary
	// Objects over singleLimit go in parts of at least partSize, as the
	// server's own uploads do (multipart.go).
	singleLimit, partSize int64
}

// copyAll copies every kind of record (steps).
func (m *migration) copyAll(ctx context.Context) error {
	for _, step := range m.steps() {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// steps are the migration's steps, one per kind of record, in order: users
// first so that whatever follows has its owner, shares after files so
// that their files are there, and deliveries after their endpoints.
func (m *migration) steps() []func(context.Context) error {
	return []func(context.Context) error{m.migrateUsers, m.migratePasskeys, m.migrateFiles, m.migrateCredentials,
		m.migrateShares, m.migrateRequests, m.migrateWebhooks, m.migrateDeliveries, m.migrateInvitations}
}

// countInsert adds one outcome of an insert to done or, if the destination
// already held the record, to skipped.
func countInsert(err error, done, skipped *int) error {
	switch {
	case err == nil:
		*done++
	case errors.Is(err, ErrConflict):
		*skipped++
	default:
		return err
	}
	return nil
}

// migrateUsers copies every user, disabled ones too, under the same id.
func (m *migration) migrateUsers(ctx context.Context) error {
	for _, u := range sortedBy(m.src.users, func(u User) string { return u.ID }) {
		if err := countInsert(m.dest.insertUser(ctx, u), &m.sum.users, &m.sum.usersSkipped); err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: users: %d copied, %d already there\n", m.sum.users, m.sum.usersSkipped)
	return nil
}

// migratePasskeys copies every passkey: an account created with one has
// no password, and could not sign in without it.
func (m *migration) migratePasskeys(ctx context.Context) error {
	for _, p := range sortedBy(m.src.passkeys, func(p Passkey) string { return p.ID }) {
		if err := countInsert(m.dest.InsertPasskey(ctx, p), &m.sum.passkeys, &m.sum.passkeysKnown); err != nil {
			return fmt.Errorf("passkey of %s: %w", p.UserID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: passkeys: %d copied, %d already there\n", m.sum.passkeys, m.sum.passkeysKnown)
	return nil
}

// migrateFiles copies each completed file, object first, then settles
// each owner's quota usage from the records now in MongoDB.
func (m *migration) migrateFiles(ctx context.Context) error {
	files := sortedBy(m.src.files, func(f *File) string { return f.ID })
	owners := map[string]bool{}
	for i, f := range files {
		step := fmt.Sprintf("[%d/%d]", i+1, len(files))
		if f.Status != statusComplete {
			m.sum.pendingLeft++
			fmt.Fprintf(m.out, "migrate: %s %s %q: left behind, an unfinished upload\n", step, f.ObjectKey, f.Filename)
			continue
		}
		if err := m.migrateFile(ctx, *f, step); err != nil {
			return fmt.Errorf("file %s (%s): %w", f.ID, f.ObjectKey, err)
		}
		owners[f.Owner] = true
	}
	for _, owner := range slices.Sorted(maps.Keys(owners)) {
		if err := m.dest.settleMigratedUsage(ctx, owner); err != nil {
			return fmt.Errorf("quota usage of %s: %w", owner, err)
		}
	}
	return nil
}

// migrateFile copies one completed file's object, unless the bucket
// already holds it at its size, then inserts its record with the ETag the
// bucket reports.
func (m *migration) migrateFile(ctx context.Context, f File, step string) error {
	if f.Size == nil {
		return errors.New("complete file without a size")
	}
	action := "already in the bucket"
	info, err := m.objects.Head(ctx, f.ObjectKey)
	switch {
	case err == nil && info.Size == *f.Size:
		m.sum.objectsSkipped++
	case err == nil, errors.Is(err, ErrObjectNotFound):
		if info, err = m.copyObject(ctx, &f); err != nil {
			return err
		}
		action = "copied"
	default:
		return err
	}
	f.ETag = info.ETag
	// A local multipart upload's id means nothing to the bucket: the file
	// is complete, and its object is there whole.
	f.UploadID, f.PartSize, f.PartCount, f.UploadExpiresAt = "", 0, 0, nil
	if err := countInsert(m.dest.InsertFile(ctx, &f), &m.sum.files, &m.sum.filesSkipped); err != nil {
		return err
	}
	fmt.Fprintf(m.out, "migrate: %s %s %q %s: %s\n", step, f.ObjectKey, f.Filename, humanBytes(*f.Size), action)
	return nil
}

// copyObject streams one object from DATA_DIR to the bucket, checking its
// size on disk before and in the bucket after.
func (m *migration) copyObject(ctx context.Context, f *File) (ObjectInfo, error) {
	if m.srcObjects == nil {
		return ObjectInfo{}, fmt.Errorf("object missing from DATA_DIR: %w", fs.ErrNotExist)
	}
	in, err := m.srcObjects.Open(localObjectPath(f.ObjectKey))
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("object missing from DATA_DIR: restore it, or delete the file in local mode, then run dropp migrate again: %w", err)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	defer in.Close()
	st, err := in.Stat()
	switch {
	case err != nil:
		return ObjectInfo{}, err
	case st.Size() != *f.Size:
		return ObjectInfo{}, fmt.Errorf("object in DATA_DIR is %d bytes, its record says %d", st.Size(), *f.Size)
	}
	contentType := cmp.Or(f.ContentType, "application/octet-stream")
	if st.Size() > m.singleLimit {
		err = m.uploadInParts(ctx, f.ObjectKey, contentType, in, st.Size())
	} else {
		_, err = m.objects.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(m.objects.bucket), Key: aws.String(f.ObjectKey), Body: in,
			ContentLength: aws.Int64(st.Size()), ContentType: aws.String(contentType),
		})
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("upload: %w", err)
	}
	info, err := m.objects.Head(ctx, f.ObjectKey)
	if err == nil && info.Size != *f.Size {
		err = fmt.Errorf("the bucket holds %d bytes after the upload, want %d", info.Size, *f.Size)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	m.sum.copied++
	m.sum.bytes += info.Size
	return info, nil
}

// uploadInParts uploads an object too large for one request as a
// multipart upload, each part streamed from its section of the file, and
// aborts it on failure so that no parts are left in the bucket.
func (m *migration) uploadInParts(ctx context.Context, key, contentType string, in *os.File, size int64) error {
	uploadID, err := m.objects.CreateMultipart(ctx, key, contentType, time.Time{})
	if err != nil {
		return err
	}
	partSize, count := choosePartSize(size, m.partSize)
	parts := make([]PartInfo, 0, count)
	for n := 1; n <= count && err == nil; n++ {
		offset := int64(n-1) * partSize
		length := min(partSize, size-offset)
		var out *s3.UploadPartOutput
		out, err = m.objects.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(m.objects.bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
			PartNumber: aws.Int32(int32(n)), Body: io.NewSectionReader(in, offset, length), ContentLength: aws.Int64(length),
		})
		if err == nil {
			parts = append(parts, PartInfo{PartNumber: n, Size: length, ETag: strings.Trim(aws.ToString(out.ETag), `"`)})
		}
	}
	if err == nil {
		err = m.objects.CompleteMultipart(ctx, key, uploadID, parts)
	}
	if err != nil {
		m.objects.AbortMultipart(context.WithoutCancel(ctx), key, uploadID)
	}
	return err
}

// migrateCredentials copies the unexpired bearer tokens and sessions: only
// their hashes are stored, so the apps' tokens work against MongoDB as is.
func (m *migration) migrateCredentials(ctx context.Context) error {
	for _, c := range sortedBy(m.src.creds, func(c Credential) string { return c.Kind + c.Hash }) {
		if err := countInsert(m.dest.InsertCredential(ctx, c), &m.sum.credentials, &m.sum.credsKnown); err != nil {
			return fmt.Errorf("credential of %s: %w", c.UserID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: tokens and sessions: %d copied, %d already there\n", m.sum.credentials, m.sum.credsKnown)
	return nil
}

// migrateShares copies the unexpired share links of migrated files, with
// their download counts, each part by itself (insertMigratedShare): a run
// interrupted inside a share leaves nothing the next one skips.
func (m *migration) migrateShares(ctx context.Context) error {
	for _, sh := range sortedBy(m.src.shares, func(sh Share) string { return sh.ID }) {
		sh.Files = slices.DeleteFunc(slices.Clone(sh.Files), func(sf ShareFile) bool {
			f := m.src.files[sf.FileID]
			return f == nil || f.Status != statusComplete
		})
		if len(sh.Files) == 0 {
			continue
		}
		if err := countInsert(m.dest.insertMigratedShare(ctx, sh), &m.sum.shares, &m.sum.sharesSkipped); err != nil {
			return fmt.Errorf("share %s: %w", sh.ID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: share links: %d copied, %d already there\n", m.sum.shares, m.sum.sharesSkipped)
	return nil
}

// migrateRequests copies the unexpired file requests, open or closed;
// the files they received went with migrateFiles, still marked with them.
func (m *migration) migrateRequests(ctx context.Context) error {
	var copied, known int
	now := time.Now()
	for _, fr := range sortedBy(m.src.requests, func(fr FileRequest) string { return fr.ID }) {
		if localExpired(fr.ExpiresAt, now) {
			continue
		}
		if err := countInsert(m.dest.InsertRequest(ctx, fr), &copied, &known); err != nil {
			return fmt.Errorf("file request %s: %w", fr.ID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: file requests: %d copied, %d already there\n", copied, known)
	return nil
}

// migrateWebhooks copies every webhook endpoint, users' and server-wide,
// with its secrets as they are (a rotation's old one too, until its
// OldUntil), so receivers keep verifying what production signs.
func (m *migration) migrateWebhooks(ctx context.Context) error {
	for _, h := range sortedBy(m.src.webhooks, func(h Webhook) string { return h.ID }) {
		if err := countInsert(m.dest.InsertWebhook(ctx, h), &m.sum.webhooks, &m.sum.webhooksKnown); err != nil {
			return fmt.Errorf("webhook %s: %w", h.ID, err)
		}
	}
	fmt.Fprintf(m.out, "migrate: webhook endpoints: %d copied, %d already there\n", m.sum.webhooks, m.sum.webhooksKnown)
	return nil
}

// migrateDeliveries copies the unexpired webhook deliveries (runMigrate
// dropped the rest): the pending ones, already promised to their
// receivers, which production goes on sending, and the finished ones,
// which an endpoint's list shows.
func (m *migration) migrateDeliveries(ctx context.Context) error {
	for _, d := range sortedBy(m.src.deliveries, func(d WebhookDelivery) string { return d.ID }) {
		if err := m.dest.InsertDeliveries(ctx, []WebhookDelivery{d}); err != nil {
			return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
		}
		m.sum.deliveries++
	}
	fmt.Fprintf(m.out, "migrate: webhook deliveries: %d in place (copied, or already there)\n", m.sum.deliveries)
	return nil
}

// migrateInvitations copies the unused, unexpired invitations, files of
// their own beside the local store's log (localstore_accounts.go).
func (m *migration) migrateInvitations(ctx context.Context) error {
	err := eachLocalInvitation(m.srcDir, time.Now(), func(inv Invitation) error {
		return countInsert(m.dest.InsertInvitation(ctx, inv), &m.sum.invitations, &m.sum.invsKnown)
	})
	if err != nil {
		return fmt.Errorf("invitations: %w", err)
	}
	fmt.Fprintf(m.out, "migrate: invitations: %d copied, %d already there\n", m.sum.invitations, m.sum.invsKnown)
	return nil
}

// printSummary is the last line, printed whether the run finished or not.
func (m *migration) printSummary(cfg *config) {
	s := m.sum
	fmt.Fprintf(m.out, "migrate: %d users (%d already there), %d files (%d already there), %d objects copied (%s), %d already in bucket %s, %d tokens and sessions (%d already there), %d share links (%d already there)",
		s.users, s.usersSkipped, s.files, s.filesSkipped, s.copied, humanBytes(s.bytes), s.objectsSkipped, cfg.Bucket, s.credentials, s.credsKnown, s.shares, s.sharesSkipped)
	fmt.Fprintf(m.out, ", %d passkeys (%d already there), %d webhook endpoints (%d already there), %d webhook deliveries in place, %d invitations (%d already there)",
		s.passkeys, s.passkeysKnown, s.webhooks, s.webhooksKnown, s.deliveries, s.invitations, s.invsKnown)
	if s.pendingLeft > 0 {
		fmt.Fprintf(m.out, "; %d unfinished uploads left behind", s.pendingLeft)
	}
	fmt.Fprintln(m.out)
}

// sortedBy returns the values of rows ordered by key, so that a migration
// walks in the same order each time and its progress reads the same.
func sortedBy[K comparable, V any](rows map[K]V, key func(V) string) []V {
	return slices.SortedFunc(maps.Values(rows), func(a, b V) int { return cmp.Compare(key(a), key(b)) })
}
