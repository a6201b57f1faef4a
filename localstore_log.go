package main

// The local store's files on disk, all in its data directory:
//
//	LOCK          locked (localstore_lock*.go) while a server has the store open
//	meta.log      the state: one record per line, replayed in order at start
//	meta.log.tmp  a snapshot being written by compaction (deleted at start)
//
// A line is "<CRC-32C of the JSON, 8 hex digits> <JSON record>\n". A record
// puts a whole document (file, credential, user, auth state, auth code) or
// deletes one by key. Compaction rewrites the log as one put per live
// document, so a snapshot is itself a log and there is a single reader.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// Names of the local store's files inside its directory.
const (
	localLogName  = "meta.log"
	localTempName = "meta.log.tmp"
	localLockName = "LOCK"
)

// Record operations: put_* carries the whole document, del_* its key.
const (
	opPutFile  = "put_file"
	opDelFile  = "del_file"
	opPutCred  = "put_cred"
	opDelCred  = "del_cred"
	opPutUser  = "put_user"
	opPutState = "put_state"
	opDelState = "del_state"
	opPutCode  = "put_code"
	opDelCode  = "del_code"
	opPutShare = "put_share"
	opDelShare = "del_share"
	// Webhooks (localstore_webhooks.go).
	opPutWebhook  = "put_webhook"
	opDelWebhook  = "del_webhook"
	opPutDelivery = "put_delivery"
	// File requests (localstore_requests.go).
	opPutReq    = "put_request"
	opDelReq    = "del_request"
	localCRCLen = 8 // hex digits of the checksum at the start of a line
)

// localCRCTable is CRC-32C, which the CPU computes in hardware on amd64 and arm64.
var localCRCTable = crc32.MakeTable(crc32.Castagnoli)

// localRecord is one line of the log. Exactly one document pointer is set
// for a put; Kind and Key name the document for a delete. The documents'
// field names are the json tags of the record types (store.go).
type localRecord struct {
	Op    string           `json:"op"`
	File  *File            `json:"file,omitempty"`
	Cred  *Credential      `json:"cred,omitempty"`
	User  *User            `json:"user,omitempty"`
	State *AuthState       `json:"state,omitempty"`
	Code  *AuthCode        `json:"code,omitempty"`
	Share *Share           `json:"share,omitempty"`
	Hook  *Webhook         `json:"webhook,omitempty"`
	Deliv *WebhookDelivery `json:"delivery,omitempty"`
	Req   *FileRequest     `json:"request,omitempty"` // localstore_requests.go
	Pass  *Passkey         `json:"pass,omitempty"`    // localstore_passkeys.go
	Kind  string           `json:"kind,omitempty"`    // credential kind, for del_cred
	Key   string           `json:"key,omitempty"`     // file ID or hash, for del_*

	// Outbox holds the webhook deliveries the record's change causes,
	// applied with it (localstore_outbox.go).
	Outbox []WebhookDelivery `json:"outbox,omitempty"`
}

// encodeLocalRecord renders rec as one log line, newline included. JSON
// escapes control characters, so the only newline is the terminator.
func encodeLocalRecord(rec *localRecord) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode %s record: %w", rec.Op, err)
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(body, localCRCTable))
	line := make([]byte, 0, localCRCLen+len(body)+2)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, ' ')
	line = append(line, body...)
	return append(line, '\n'), nil
}

// checkLocalLine returns the JSON body of a line (without its newline), or
// false if the checksum does not match: what a torn write leaves behind.
func checkLocalLine(line []byte) ([]byte, bool) {
	if len(line) <= localCRCLen+1 || line[localCRCLen] != ' ' {
		return nil, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:localCRCLen]); err != nil {
		return nil, false
	}
	body := line[localCRCLen+1:]
	return body, crc32.Checksum(body, localCRCTable) == binary.BigEndian.Uint32(sum[:])
}

// replayLocalLog applies every whole record of r, in order, and returns the
// offset just past the last one and how many there were. It stops at the
// first line that is cut short or fails its checksum: a write that never
// completed, so never acknowledged, and everything after it is dropped. A
// line whose checksum holds but which does not decode is an error instead:
// that is a record this code cannot read, not a torn write.
//
// Decoding JSON is most of the work of opening a large store, so lines are
// read a chunk at a time and each chunk is decoded on every CPU; applying
// stays sequential, in file order.
func replayLocalLog(r io.Reader, apply func(*localRecord) error) (good int64, records int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		lines, readErr := readLocalChunk(br, 4<<20)
		for i, d := range decodeLocalLines(lines) {
			if d.torn {
				return good, records, checkTornTail(good, lines[i+1:], br)
			}
			if d.err == nil {
				d.err = apply(&d.rec)
			}
			if d.err != nil {
				return good, records, fmt.Errorf("record at offset %d: %w", good, d.err)
			}
			good += int64(len(lines[i]))
			records++
		}
		if readErr == io.EOF {
			return good, records, nil // a trailing line without its newline is torn too
		}
		if readErr != nil {
			return good, records, readErr
		}
	}
}

// checkTornTail tells a torn tail from corruption. A crash can only leave
// the last, unsynced write incomplete, so no whole record may follow a bad
// line. If one does, the log was damaged in the middle: cutting it off there
// could silently drop acknowledged records, so the store refuses to open and
// leaves the choice to the operator. One case looks the same and is safe to
// cut: after a power loss the disk may have kept a later page of the last
// unsynced group of records and lost an earlier one, and no record of that
// group was acknowledged. The message says both, since only the operator
// knows whether the power went.
func checkTornTail(offset int64, rest [][]byte, br *bufio.Reader) error {
	for {
		for _, line := range rest {
			if _, ok := checkLocalLine(bytes.TrimSuffix(line, []byte("\n"))); ok {
				return fmt.Errorf("%s is corrupt at byte %d: a damaged record is followed by intact ones "+
					"(after a power loss these can be the last records written, never synced and never acknowledged); "+
					"keep a copy of the file, then truncate it to %d bytes to drop everything from there on", localLogName, offset, offset)
			}
		}
		var err error
		if rest, err = readLocalChunk(br, 4<<20); len(rest) == 0 && err != nil {
			return nil
		}
	}
}

// readLocalChunk reads whole lines, newline included, until they add up to
// at least size bytes or the reader ends (io.EOF).
func readLocalChunk(br *bufio.Reader, size int) ([][]byte, error) {
	var lines [][]byte
	for n := 0; n < size; {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return lines, err
		}
		lines = append(lines, line)
		n += len(line)
	}
	return lines, nil
}

// localDecoded is one line of the log, decoded.
type localDecoded struct {
	rec  localRecord
	torn bool  // the checksum does not match
	err  error // the checksum matches but the JSON does not decode
}

// decodeLocalLines checks and decodes lines, spread over all CPUs.
func decodeLocalLines(lines [][]byte) []localDecoded {
	out := make([]localDecoded, len(lines))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(lines); i += workers {
				body, ok := checkLocalLine(lines[i][:len(lines[i])-1])
				if !ok {
					out[i].torn = true
					continue
				}
				out[i].err = json.Unmarshal(body, &out[i].rec)
			}
		})
	}
	wg.Wait()
	return out
}

// writeLocalSnapshot writes records to a new log beside the current one,
// makes it durable and renames it over the current one. It returns the new
// log, open for appending, and its record count. If it returns an error with
// a nil file, the current log is untouched.
func writeLocalSnapshot(dir string, records func(emit func(*localRecord) error) error) (*os.File, int, error) {
	tmp := filepath.Join(dir, localTempName)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	n, err := writeLocalRecords(f, records)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, localLogName))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, 0, err
	}
	// From here on the new log is in place; if the rename cannot be made
	// durable the caller must stop, since a crash could bring back the old one.
	return f, n, syncLocalDir(dir)
}

// writeLocalRecords writes every record that records emits to f, buffered.
func writeLocalRecords(f *os.File, records func(emit func(*localRecord) error) error) (int, error) {
	w := bufio.NewWriterSize(f, 256<<10)
	n := 0
	err := records(func(rec *localRecord) error {
		line, err := encodeLocalRecord(rec)
		if err == nil {
			_, err = w.Write(line)
		}
		n++
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, w.Flush()
}

// syncLocalDir makes the creation or renaming of files in dir durable.
func syncLocalDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockLocalDir takes the exclusive lock that keeps a second server off the
// store. The kernel drops it when the returned file is closed or the process
// dies, so a crash never leaves a stale lock behind.
func lockLocalDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, localLockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// localLog is the open log file with group commit: writers append under the
// store's write lock, then wait outside it until an fsync covers their
// record. Whoever finds no fsync running starts one for everything written
// so far, so concurrent writers share one fsync.
type localLog struct {
	written atomic.Uint64 // sequence number of the last record handed to the OS
	durable atomic.Uint64 // sequence number of the last record known to be on disk
	records int           // lines in f, for the compaction rule; guarded by the store's lock

	mu      sync.Mutex // guards f, syncing and err
	done    *sync.Cond // broadcast when an fsync finishes
	f       *os.File
	syncing bool
	err     error // first write, sync or compaction failure; the log refuses writes after it
}

// newLocalLog wraps f, which holds records lines, all already on disk.
func newLocalLog(f *os.File, records int) *localLog {
	l := &localLog{f: f, records: records}
	l.done = sync.NewCond(&l.mu)
	return l
}

// append writes one line at the end of the log and returns its sequence
// number. Callers hold the store's write lock, so lines land in the order
// the state changes.
func (l *localLog) append(line []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	if _, err := l.f.Write(line); err != nil {
		// A partial line may be on disk: the next open drops it.
		l.err = fmt.Errorf("append to log: %w", err)
		return 0, l.err
	}
	l.records++
	return l.written.Add(1), nil
}

// waitDurable returns once every record up to seq is on disk.
func (l *localLog) waitDurable(seq uint64) error {
	if l.durable.Load() >= seq {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.durable.Load() < seq {
		if l.err != nil {
			return l.err
		}
		if l.syncing {
			l.done.Wait()
			continue
		}
		l.syncOnce()
	}
	return nil
}

// syncOnce fsyncs everything written so far, without holding mu during the
// fsync so that more writers can append meanwhile. Called with mu held.
func (l *localLog) syncOnce() {
	l.syncing = true
	f, target := l.f, l.written.Load()
	l.mu.Unlock()
	err := f.Sync()
	l.mu.Lock()
	l.syncing = false
	if err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages,
		// so no later fsync can vouch for them: stop for good.
		l.err = fmt.Errorf("sync log: %w", err)
	} else if target > l.durable.Load() {
		l.durable.Store(target)
	}
	l.done.Broadcast()
}

// replace swaps in a compacted log written by snapshot, which must hold
// everything appended so far. Callers hold the store's write lock.
func (l *localLog) replace(snapshot func() (*os.File, int, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.syncing {
		l.done.Wait()
	}
	if l.err != nil {
		return l.err
	}
	f, n, err := snapshot()
	if f != nil {
		l.f.Close()
		l.f, l.records = f, n
	}
	if err != nil {
		l.err = fmt.Errorf("compact log: %w", err)
		return l.err
	}
	l.durable.Store(l.written.Load())
	l.done.Broadcast()
	return nil
}

// failure returns the error that stopped the log, if any.
func (l *localLog) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// close syncs what is left and closes the file.
func (l *localLog) close() error {
	err := l.waitDurable(l.written.Load())
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.syncing {
		l.done.Wait()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
