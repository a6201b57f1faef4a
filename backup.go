package main

// `dropp backup DIR`: a consistent copy of local mode's data, taken while
// the server runs, laid out as a DATA_DIR (restore: stop the server, put
// DIR in place of DATA_DIR, start it).
//
// Why this is consistent without the store's LOCK (which the running
// server holds): the metadata log only grows by whole records appended in
// order, and compaction swaps in a new file by rename. The backup opens
// meta.log once and reads it to its end; the file it opened is never
// rewritten (a compaction renames a new one over the name), and replay
// stops at the last whole, checksummed record, so what it reads is exactly
// the state after one record: a state the server itself passed through.
// Objects are written to a temporary name and linked into place whole, so
// an object is either absent or complete. A completed file whose object is
// gone by the time it is copied was deleted after the snapshot point: it
// is left out of the backup (and counted), which is the state that
// delete produced for that file. Each copied object's size is checked
// against its record, and its ETag is copied with it.
// Invitations, files of their own beside the log, are copied after the
// snapshot, so a link used meanwhile is never made to work again. The parts
// of a resumable upload in progress (a pending file's multipart upload)
// are copied before the objects: an upload completed meanwhile then has
// its parts, or its object, or both in the backup, and either lets the
// client complete it after a restore.

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// backupUsage is what `dropp backup -h`, or a wrong command line, shows.
const backupUsage = "usage: dropp backup DIR (a directory that does not exist yet), with the server's settings"

// runBackup is `dropp backup DIR`. DIR must not exist yet. Everything is
// checked before DIR is made, and DIR is removed again if the backup
// fails, so that the retry finds it free.
func runBackup(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	dest, err := parseBackupArgs(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if !cfg.localMetadata() || !cfg.localObjectStore() {
		return errors.New("backup: dropp backup copies local mode's DATA_DIR; with MongoDB and S3 use mongodump and bucket versioning (README: Deploying)")
	}
	st, err := readLocalSnapshot(filepath.Join(cfg.DataDir, "metadata"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: no local store in DATA_DIR=%s (no metadata/%s): run dropp backup with the server's settings", cfg.DataDir, localLogName)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Mkdir(dest, 0o700); err != nil {
		return fmt.Errorf("backup: %w (DIR must be a new directory)", err)
	}
	summary, err := writeBackup(st, cfg.DataDir, dest)
	if err != nil {
		os.RemoveAll(dest) // it is ours, made above: a half backup would only block the retry
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintln(stdout, summary)
	return nil
}

// parseBackupArgs reads DIR; -h (or --help) shows the usage, and any other
// argument that starts with "-" is a usage error rather than a directory
// (write ./-name for one).
func parseBackupArgs(args []string, stderr io.Writer) (string, error) {
	flags := flag.NewFlagSet("dropp backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprintln(stderr, backupUsage) }
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usageError{fmt.Errorf("%w; %s", err, backupUsage)}
	}
	if flags.NArg() != 1 || strings.HasPrefix(flags.Arg(0), "-") {
		return "", usageError{errors.New(backupUsage)}
	}
	return flags.Arg(0), nil
}

// writeBackup copies the snapshot st of dataDir, and what lives beside its
// log, into dest, in the order the top of this file explains, and returns
// the summary line.
func writeBackup(st *localState, dataDir, dest string) (string, error) {
	srcObjects, destObjects := filepath.Join(dataDir, "objects"), filepath.Join(dest, "objects")
	uploads, err := backupUploads(st, srcObjects, destObjects)
	if err != nil {
		return "", err
	}
	copied, dropped, bytes, err := backupObjects(st, srcObjects, destObjects)
	if err != nil {
		return "", err
	}
	// The tombstones after the objects: a file deleted while they were
	// copied has its tombstone by then, so its form stays refused.
	tombstones, err := backupTombstones(srcObjects, destObjects)
	if err != nil {
		return "", err
	}
	// The invitations after the snapshot: a link used since then is gone
	// from DATA_DIR, so a restore never makes a used link work again.
	invitations, err := backupInvitations(filepath.Join(dataDir, "metadata"), filepath.Join(dest, "metadata"), time.Now())
	if err != nil {
		return "", err
	}
	if err := backupSecretKey(dataDir, dest); err != nil {
		return "", err
	}
	// The metadata last: a backup with a meta.log is a finished one.
	if err := writeBackupMetadata(st, dest); err != nil {
		return "", err
	}
	summary := fmt.Sprintf("backup: %d files, %d objects (%d bytes), %d uploads in progress, %d tombstones, %d invitations into %s",
		len(st.files), copied, bytes, uploads, tombstones, invitations, dest)
	if dropped > 0 {
		summary += fmt.Sprintf("; %d files deleted while copying left out", dropped)
	}
	return summary, nil
}

// readLocalSnapshot replays the store's log, as it is now, into a state,
// without taking the store's lock (see the top of this file).
func readLocalSnapshot(dir string) (*localState, error) {
	f, err := os.Open(filepath.Join(dir, localLogName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := newLocalState()
	if _, _, err := replayLocalLog(f, st.apply); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	st.dropExpired(time.Now())
	return st, nil
}

// backupObjects copies the object of every file in st. A completed file
// whose object has gone was deleted after the snapshot: it is removed from
// st. Pending files' objects are copied when present.
func backupObjects(st *localState, srcDir, destDir string) (copied, dropped int, total int64, err error) {
	src, err := os.OpenRoot(srcDir)
	if errors.Is(err, fs.ErrNotExist) && len(st.files) == 0 {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, err
	}
	defer src.Close()
	for id, f := range st.files {
		n, err := backupObject(src, destDir, f.ObjectKey)
		switch {
		case errors.Is(err, fs.ErrNotExist) && f.Status == statusComplete:
			st.deleteFile(id)
			dropped++
			continue
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return 0, 0, 0, err
		case f.Status == statusComplete && f.Size != nil && *f.Size != n:
			return 0, 0, 0, fmt.Errorf("object %s is %d bytes, its record says %d", f.ObjectKey, n, *f.Size)
		}
		copied++
		total += n
	}
	st.buildOwnerIndex()
	return copied, dropped, total, nil
}

// backupObject copies one object and its ETag: the one the store
// recorded, which for an object joined from parts is not the MD5 of its
// bytes but S3's multipart form ("<md5 of the parts' MD5s>-<n>"), also in
// its file record. Only an object without a valid ETag gets the MD5 of
// the bytes copied, which is what the store's Head answers for it.
func backupObject(src *os.Root, destDir, key string) (int64, error) {
	n, etag, err := backupFile(src, localObjectPath(key), filepath.Join(destDir, localObjectPath(key)))
	if err != nil {
		return 0, err
	}
	// Read after the bytes: the store writes an object's ETag when it links
	// the object in, and never again (a key is written once).
	if recorded, err := src.ReadFile(localETagPath(key)); err == nil && validLocalETag(string(recorded)) {
		etag = string(recorded)
	}
	return n, writeBackupFile(filepath.Join(destDir, localETagPath(key)), []byte(etag))
}

// backupFile copies the file name under src to path, a new file, making
// the directories above it, and syncs it. It returns the size and the hex
// MD5 of the bytes copied. A missing source is fs.ErrNotExist, and then
// nothing is made.
func backupFile(src *os.Root, name, path string) (int64, string, error) {
	in, err := src.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, "", err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", err
	}
	sum := md5.New()
	n, err := io.Copy(io.MultiWriter(out, sum), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, hex.EncodeToString(sum.Sum(nil)), err
}

// backupUploads copies the multipart uploads in progress of the pending
// files in st (see localobjects_parts.go): their parts were acknowledged
// to the client, which resumes from them. An upload completed or aborted
// since the snapshot is left out, as that change left it.
func backupUploads(st *localState, srcDir, destDir string) (int, error) {
	src, err := os.OpenRoot(srcDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n := 0
	for _, f := range st.files {
		if f.Status != statusPending || !validLocalUploadID(f.UploadID) {
			continue
		}
		err := backupUpload(src, destDir, f.UploadID)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// backupUpload copies one upload's directory: upload.json first, then each
// part with its ETag. An upload that goes while it is copied is taken out
// of the backup again (fs.ErrNotExist), so no restore lists half its parts.
func backupUpload(src *os.Root, destDir, uploadID string) error {
	err := copyUpload(src, filepath.Join(destDir, localUploadPath(uploadID, "")), uploadID)
	if errors.Is(err, fs.ErrNotExist) {
		if rerr := os.RemoveAll(filepath.Join(destDir, localUploadPath(uploadID, ""))); rerr != nil {
			return rerr
		}
	}
	return err
}

// copyUpload is backupUpload's copy into dest. Each part's ETag is the
// MD5 of the bytes copied, which is what the store records for a part
// (receiveFile): a part sent again while it was read thus still has the
// ETag of the bytes the backup holds.
func copyUpload(src *os.Root, dest, uploadID string) error {
	if _, _, err := backupFile(src, localUploadPath(uploadID, localUploadMeta), filepath.Join(dest, localUploadMeta)); err != nil {
		return err
	}
	dir, err := src.Open(localUploadPath(uploadID, ""))
	if err != nil {
		return err
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if n, err := strconv.Atoi(name); err != nil || name != localPartName(n) {
			continue // upload.json and the .etag files
		}
		_, sum, err := backupFile(src, localUploadPath(uploadID, name), filepath.Join(dest, name))
		if err != nil {
			return err
		}
		if err := writeBackupFile(filepath.Join(dest, name+".etag"), []byte(sum)); err != nil {
			return err
		}
	}
	return nil
}

// backupTombstones copies the local object store's tombstones (see
// localTombstoneDir) with their times, which say when each may go: without
// them, a restored store would take again the forms of files deleted
// before the backup, still valid for up to UPLOAD_POST_TTL_SECONDS.
func backupTombstones(srcDir, destDir string) (int, error) {
	src := filepath.Join(srcDir, localTombstoneDir)
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	dest := filepath.Join(destDir, localTombstoneDir)
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // swept meanwhile: its forms have all expired
		}
		if err != nil {
			return n, err
		}
		key, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		path := filepath.Join(dest, e.Name())
		if err := writeBackupFile(path, key); err != nil {
			return n, err
		}
		// Should a crash lose this time, the tombstone has that of the
		// backup: it then lives longer than it must, never less.
		if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// backupInvitations copies the local store's unexpired invitations (files
// of their own beside the log, see localstore_accounts.go), each read and
// written whole. An invitation taken while the copy runs is left out; an
// expired one is not worth keeping.
func backupInvitations(srcDir, destDir string, now time.Time) (int, error) {
	n := 0
	err := eachLocalInvitation(srcDir, now, func(inv Invitation) error {
		if err := writeLocalInvitation(destDir, inv); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// backupSecretKey copies local mode's generated key, so that cookies and
// signed URLs stay valid after a restore.
func backupSecretKey(dataDir, dest string) error {
	key, err := os.ReadFile(filepath.Join(dataDir, secretKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // SECRET_KEY is set in the environment instead
	}
	if err != nil {
		return err
	}
	return writeBackupFile(filepath.Join(dest, secretKeyFile), key)
}

// writeBackupFile writes data to path, a new file, and syncs it: what a
// finished backup holds must survive a crash right after it (an empty
// secret.key would keep the restored server from starting).
func writeBackupFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return writeAndClose(f, data)
}

// syncBackupDirs syncs every directory of the backup in dest, and the one
// that holds dest, so that the names of the files copied into them, each
// synced itself, are on disk too.
func syncBackupDirs(dest string) error {
	if err := syncLocalDir(filepath.Dir(dest)); err != nil {
		return err
	}
	return filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = syncLocalDir(path)
		}
		return err
	})
}

// writeBackupMetadata writes st as a compacted log in dest's metadata
// directory, once everything else in dest is on disk (syncBackupDirs): a
// backup with a meta.log is a finished one.
func writeBackupMetadata(st *localState, dest string) error {
	dir := filepath.Join(dest, "metadata")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := syncBackupDirs(dest); err != nil {
		return err
	}
	f, _, err := writeLocalSnapshot(dir, st.eachRecord)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
