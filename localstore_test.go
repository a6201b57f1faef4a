package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTestLocalStore opens the local store in dir and closes it when the
// test ends.
func openTestLocalStore(tb testing.TB, dir string) *localStore {
	tb.Helper()
	s, err := openLocalStore(dir)
	if err != nil {
		tb.Fatalf("openLocalStore: %v", err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// reopenLocalStore closes s and opens its directory again. The open is
// retried briefly while the lock still looks taken: a child process that
// another test forks at that moment holds a copy of every descriptor,
// LOCK's included, until its exec closes them, and so the flock too.
// A restarted server is a new process and never meets this.
func reopenLocalStore(tb testing.TB, s *localStore) *localStore {
	tb.Helper()
	if err := s.Close(context.Background()); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		again, err := openLocalStore(s.dir)
		if errors.Is(err, errLocalStoreLocked) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatalf("openLocalStore: %v", err)
		}
		tb.Cleanup(func() { again.Close(context.Background()) })
		return again
	}
}

// localFixture is a little of everything, written to a store, with what
// the store should answer afterwards.
type localFixture struct {
	files   map[string][]File // owner → files, newest first
	deleted []File
	creds   []Credential
	user    User
	states  []AuthState // still there
	codes   []AuthCode  // still there
	taken   []string    // hashes of taken states and codes
}

// writeLocalFixture fills s with files (some completed, some deleted),
// credentials, a refreshed user, and states and codes (some taken).
func writeLocalFixture(t *testing.T, s Store) *localFixture {
	t.Helper()
	ctx := t.Context()
	fx := &localFixture{files: map[string][]File{}}
	now := ctNow()
	for _, owner := range []string{ctNewID(), ctNewID()} {
		for i := range 30 {
			f := ctFile(owner, now.Add(time.Duration(i/2)*time.Millisecond))
			ctInsert(t, s, f)
			switch i % 5 {
			case 1:
				done, _, err := s.CompleteFile(ctx, owner, f.ID, "", int64(i), fmt.Sprintf(`"%d"`, i), now)
				ctMust(t, "CompleteFile", err)
				f = done
			case 2:
				ctMust(t, "DeleteFile", errOf(s.DeleteFile(ctx, owner, f.ID)))
				fx.deleted = append(fx.deleted, *f)
				continue
			}
			fx.files[owner] = append(fx.files[owner], *f)
		}
		ctNewestFirst(fx.files[owner])
	}
	for i := range 3 {
		c := Credential{Hash: ctNewID(), Kind: kindBearer, UserID: ctNewID(), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "InsertCredential", s.InsertCredential(ctx, c))
		if i == 0 {
			ctMust(t, "DeleteCredential", s.DeleteCredential(ctx, c.Kind, c.Hash))
			fx.taken = append(fx.taken, c.Hash)
			continue
		}
		fx.creds = append(fx.creds, c)
	}
	u, err := s.UpsertUser(ctx, User{Issuer: "https://iss", Subject: "s", Email: "old@example.com"})
	ctMust(t, "UpsertUser", err)
	u.Email = "new@example.com"
	fx.user, err = s.UpsertUser(ctx, u)
	ctMust(t, "UpsertUser", err)
	for i := range 4 {
		a := AuthState{Hash: ctNewID(), Nonce: "n", Verifier: "v", ExpiresAt: now.Add(time.Hour)}
		c := AuthCode{Hash: ctNewID(), UserID: u.ID, RedirectURI: "http://127.0.0.1:1/", ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "InsertAuthState", s.InsertAuthState(ctx, a))
		ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, c))
		if i%2 == 0 {
			_, err := s.TakeAuthState(ctx, a.Hash, now)
			ctMust(t, "TakeAuthState", err)
			_, err = s.TakeAuthCode(ctx, c.Hash, now)
			ctMust(t, "TakeAuthCode", err)
			fx.taken = append(fx.taken, a.Hash, c.Hash)
			continue
		}
		fx.states, fx.codes = append(fx.states, a), append(fx.codes, c)
	}
	return fx
}

// check asserts that s holds exactly what the fixture wrote. It looks
// without taking anything, so it can run again after another reopen.
func (fx *localFixture) check(t *testing.T, s *localStore) {
	t.Helper()
	ctx := t.Context()
	for owner, want := range fx.files {
		ctSameIDs(t, "files of "+owner, ctList(t, s, ListQuery{Owner: owner, Limit: 1000}), want)
	}
	for _, f := range fx.deleted {
		if _, err := s.GetFile(ctx, f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted file %s: GetFile = %v, want ErrNotFound", f.ID, err)
		}
	}
	for _, c := range fx.creds {
		got, err := s.FindCredential(ctx, c.Kind, c.Hash, c.CreatedAt)
		if err != nil || ctDescribe(got) != ctDescribe(c) {
			t.Errorf("FindCredential = %s, %v; want %s", ctDescribe(got), err, ctDescribe(c))
		}
	}
	got, err := s.GetUser(ctx, fx.user.ID)
	if err != nil || !reflect.DeepEqual(got, fx.user) {
		t.Errorf("GetUser = %+v, %v; want %+v", got, err, fx.user)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range fx.states {
		if ctDescribe(s.state.states[a.Hash]) != ctDescribe(a) {
			t.Errorf("auth state %s = %s, want %s", a.Hash, ctDescribe(s.state.states[a.Hash]), ctDescribe(a))
		}
	}
	for _, c := range fx.codes {
		if ctDescribe(s.state.codes[c.Hash]) != ctDescribe(c) {
			t.Errorf("auth code %s = %s, want %s", c.Hash, ctDescribe(s.state.codes[c.Hash]), ctDescribe(c))
		}
	}
	for _, h := range fx.taken {
		_, state := s.state.states[h]
		_, code := s.state.codes[h]
		_, cred := s.state.creds[localCredKey{kindBearer, h}]
		if state || code || cred {
			t.Errorf("%s was taken or deleted but is back", h)
		}
	}
}

// TestLocalStoreReopen: closing and opening again keeps everything.
func TestLocalStoreReopen(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	fx := writeLocalFixture(t, s)
	fx.check(t, s)
	s = reopenLocalStore(t, s)
	fx.check(t, s)
	s = reopenLocalStore(t, s)
	fx.check(t, s)
}

// TestLocalStoreTornTail: whatever a crash leaves after the last whole
// record is cut off at the next open, acknowledged records all survive,
// and new records go on a clean line.
func TestLocalStoreTornTail(t *testing.T) {
	t.Parallel()
	line := func(id string) []byte {
		f := ctFile("torn", ctNow())
		f.ID = id
		doc := *f
		b, err := encodeLocalRecord(&localRecord{Op: opPutFile, File: &doc})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	badCRC := line("torn-crc")
	badCRC[0] ^= 1
	tests := []struct {
		name string
		tail []byte
	}{
		{"garbage", []byte("not a record\x00\xff")},
		{"half a line", line("torn-half")[:60]},
		{"line without newline", bytes.TrimSuffix(line("torn-nonl"), []byte("\n"))},
		{"bad checksum", badCRC},
		{"zeroed block", make([]byte, 4096)},
		{"whole line after a torn one", append(line("torn-first")[:40], line("torn-after")...)},
		{"newline only", []byte("\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openTestLocalStore(t, t.TempDir())
			fx := writeLocalFixture(t, s)
			ctMust(t, "Close", s.Close(t.Context()))
			clean := localLogSize(t, s.dir)
			appendLocalLog(t, s.dir, tt.tail)

			s = openTestLocalStore(t, s.dir)
			fx.check(t, s)
			if got := localLogSize(t, s.dir); got != clean {
				t.Errorf("log is %d bytes after open, want %d (the torn tail cut off)", got, clean)
			}
			if n := len(s.state.byOwner["torn"]); n != 0 {
				t.Errorf("%d files from the torn tail were loaded", n)
			}
			f := ctFile(ctNewID(), ctNow())
			ctInsert(t, s, f)
			s = reopenLocalStore(t, s)
			fx.check(t, s)
			if _, err := s.GetFile(t.Context(), f.Owner, f.ID); err != nil {
				t.Errorf("file written after the repair: %v", err)
			}
		})
	}
}

// TestLocalStoreUnreadableRecord: a record whose checksum holds was written
// whole; if it cannot be read the store refuses to open rather than drop it
// and everything after it.
func TestLocalStoreUnreadableRecord(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	writeLocalFixture(t, s)
	ctMust(t, "Close", s.Close(t.Context()))
	future, err := encodeLocalRecord(&localRecord{Op: "put_something_new"})
	if err != nil {
		t.Fatal(err)
	}
	appendLocalLog(t, s.dir, future)
	if s, err := openLocalStore(s.dir); err == nil {
		s.Close(t.Context())
		t.Fatal("openLocalStore accepted a log with a record it cannot apply")
	}
}

// TestLocalStoreCorruptMiddle: a damaged record followed by intact ones is
// not a torn write (a crash only tears the unsynced end), so the store
// refuses to open and leaves the log as it was, instead of cutting off the
// acknowledged records after the damage.
func TestLocalStoreCorruptMiddle(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	writeLocalFixture(t, s)
	ctMust(t, "Close", s.Close(t.Context()))
	path := filepath.Join(s.dir, localLogName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[localCRCLen+5] ^= 0x01 // one bit of the first record's JSON
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := openLocalStore(s.dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		if s != nil {
			s.Close(t.Context())
		}
		t.Fatalf("openLocalStore on a log damaged in the middle: err = %v, want a corruption error", err)
	}
	if got := localLogSize(t, s.dir); got != int64(len(data)) {
		t.Errorf("log is %d bytes after the refused open, want it untouched at %d", got, len(data))
	}
}

// TestLocalStoreCompaction: compaction at least halves a log full of
// garbage, drops expired records and keeps everything else.
func TestLocalStoreCompaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTestLocalStore(t, t.TempDir())
	fx := writeLocalFixture(t, s)
	now := ctNow()
	for range 200 { // garbage: codes inserted and taken
		c := AuthCode{Hash: ctNewID(), ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, c))
		_, err := s.TakeAuthCode(ctx, c.Hash, now)
		ctMust(t, "TakeAuthCode", err)
	}
	expired := Credential{Hash: ctNewID(), Kind: kindSession, ExpiresAt: now.Add(-time.Minute)}
	ctMust(t, "InsertCredential", s.InsertCredential(ctx, expired))

	before := localLogSize(t, s.dir)
	s.mu.Lock()
	err := s.compact()
	records, live := s.log.records, s.state.live()
	s.mu.Unlock()
	ctMust(t, "compact", err)
	after := localLogSize(t, s.dir)
	if after >= before/2 {
		t.Errorf("log went from %d to %d bytes, want under half", before, after)
	}
	if records != live {
		t.Errorf("compacted log has %d records for %d live documents", records, live)
	}
	if _, ok := s.state.creds[localCredKey{expired.Kind, expired.Hash}]; ok {
		t.Error("compaction kept an expired credential")
	}
	fx.check(t, s)
	s = reopenLocalStore(t, s)
	fx.check(t, s)
	t.Logf("log: %d bytes before compaction, %d after", before, after)
}

// TestLocalStoreCompactsItself: a store with constant churn keeps its log
// within bounds without being asked.
func TestLocalStoreCompactsItself(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTestLocalStore(t, t.TempDir())
	s.compactMin = 100
	fx := writeLocalFixture(t, s)
	now := ctNow()
	for i := range 1000 {
		a := AuthState{Hash: ctNewID(), ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "InsertAuthState", s.InsertAuthState(ctx, a))
		_, err := s.TakeAuthState(ctx, a.Hash, now)
		ctMust(t, "TakeAuthState", err)
		s.mu.RLock()
		records, limit := s.log.records, max(s.compactMin, 2*s.state.live()+1)
		s.mu.RUnlock()
		if records > limit {
			t.Fatalf("after %d cycles the log has %d records, over %d", i, records, limit)
		}
	}
	s = reopenLocalStore(t, s)
	fx.check(t, s)
}

// TestLocalStoreSkipsExpiredAtLoad: expired credentials, states and codes
// are not even loaded.
func TestLocalStoreSkipsExpiredAtLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTestLocalStore(t, t.TempDir())
	past := ctNow().Add(-time.Second)
	ctMust(t, "InsertCredential", s.InsertCredential(ctx, Credential{Hash: "c", Kind: kindBearer, ExpiresAt: past}))
	ctMust(t, "InsertAuthState", s.InsertAuthState(ctx, AuthState{Hash: "s", ExpiresAt: past}))
	ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, AuthCode{Hash: "c", ExpiresAt: past}))
	s = reopenLocalStore(t, s)
	if n := len(s.state.creds) + len(s.state.states) + len(s.state.codes); n != 0 {
		t.Errorf("%d expired records loaded", n)
	}
}

// TestLocalStoreLock: a second open of one directory is refused until the
// first store is closed.
func TestLocalStoreLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTestLocalStore(t, dir)
	if second, err := openLocalStore(dir); !errors.Is(err, errLocalStoreLocked) {
		if second != nil {
			second.Close(t.Context())
		}
		t.Fatalf("second openLocalStore = %v, want errLocalStoreLocked", err)
	}
	ctMust(t, "Close", s.Close(t.Context()))
	openTestLocalStore(t, dir)
}

// TestLocalStoreClosed: a closed store says so rather than serve stale data.
func TestLocalStoreClosed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTestLocalStore(t, t.TempDir())
	ctMust(t, "Close", s.Close(ctx))
	ctMust(t, "second Close", s.Close(ctx))
	if err := s.Ping(ctx); !errors.Is(err, errLocalStoreClosed) {
		t.Errorf("Ping = %v, want errLocalStoreClosed", err)
	}
	if err := s.InsertFile(ctx, ctFile("o", ctNow())); !errors.Is(err, errLocalStoreClosed) {
		t.Errorf("InsertFile = %v, want errLocalStoreClosed", err)
	}
	if _, err := s.GetFile(ctx, "o", "x"); !errors.Is(err, errLocalStoreClosed) {
		t.Errorf("GetFile = %v, want errLocalStoreClosed", err)
	}
}

// TestLocalStorePermissions: the data is readable by the server's user only.
func TestLocalStorePermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "meta")
	openTestLocalStore(t, dir)
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, localLogName): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
	}
}

// TestLocalStoreConcurrentTakeAuthCode: many goroutines race for many codes;
// each code is taken exactly once, and stays taken after a reopen.
func TestLocalStoreConcurrentTakeAuthCode(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openTestLocalStore(t, t.TempDir())
	now := ctNow()
	hashes := make([]string, 100)
	for i := range hashes {
		hashes[i] = ctNewID()
		ctMust(t, "InsertAuthCode", s.InsertAuthCode(ctx, AuthCode{Hash: hashes[i], ExpiresAt: now.Add(time.Hour)}))
	}
	var mu sync.Mutex
	wins := map[string]int{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for _, i := range rand.Perm(len(hashes)) {
				_, err := s.TakeAuthCode(ctx, hashes[i], now)
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("TakeAuthCode: %v", err)
				}
				if err == nil {
					mu.Lock()
					wins[hashes[i]]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, h := range hashes {
		if wins[h] != 1 {
			t.Errorf("code %s taken %d times, want 1", h, wins[h])
		}
	}
	s = reopenLocalStore(t, s)
	if n := len(s.state.codes); n != 0 {
		t.Errorf("%d taken codes back after reopen", n)
	}
}

// TestLocalStoreConcurrentWriters drives the group commit: writers and
// readers at once, then everything acknowledged is there after a reopen.
func TestLocalStoreConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := openTestLocalStore(t, t.TempDir())
	s.compactMin = 50 // compact during the run too
	owner := ctNewID()
	var mu sync.Mutex
	var written []File
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				f := ctFile(owner, ctNow())
				if err := s.InsertFile(context.Background(), f); err != nil {
					t.Errorf("InsertFile: %v", err)
					return
				}
				if i%2 == w%2 {
					done, _, err := s.CompleteFile(context.Background(), owner, f.ID, "", 1, "e", ctNow())
					if err != nil {
						t.Errorf("CompleteFile: %v", err)
						return
					}
					f = done
				}
				if _, err := s.ListFiles(context.Background(), ListQuery{Owner: owner, Limit: 10}); err != nil {
					t.Errorf("ListFiles: %v", err)
				}
				mu.Lock()
				written = append(written, *f)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ctNewestFirst(written)
	s = reopenLocalStore(t, s)
	ctSameIDs(t, "after reopen", ctList(t, s, ListQuery{Owner: owner, Limit: 1000}), written)
}

// localLogSize returns the size of the log in dir.
func localLogSize(t *testing.T, dir string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, localLogName))
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// appendLocalLog appends b to the log in dir, as a crash might have.
func appendLocalLog(t *testing.T, dir string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, localLogName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// benchLocalFile returns file i of owner, completed like most files are.
func benchLocalFile(owner string, i int, base time.Time) *File {
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	created := base.Add(time.Duration(i) * time.Millisecond)
	declared, size := int64(1000+i), int64(1000+i)
	done := created.Add(time.Second)
	return &File{ID: id, Owner: owner, Filename: fmt.Sprintf("holiday photo %d.jpg", i), DeclaredSize: &declared,
		Size: &size, ContentType: "image/jpeg", Status: statusComplete, ObjectKey: owner + "/" + id,
		ETag: `"0123456789abcdef0123456789abcdef"`, CreatedAt: created, CompletedAt: &done}
}

// fillLocalStore writes n files spread over owners straight into a new
// store's state and compacts it, which is much faster than n fsyncs and
// leaves the log a compacted store has. It returns the files as it made
// them (the store keeps them normalised).
func fillLocalStore(b *testing.B, dir string, n int, owners []string) []*File {
	b.Helper()
	s, err := openLocalStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	files := make([]*File, n)
	s.mu.Lock()
	for i := range n {
		files[i] = benchLocalFile(owners[i%len(owners)], i, base)
		doc := normalizeLocalFile(files[i])
		if err := s.state.apply(&localRecord{Op: opPutFile, File: &doc}); err != nil {
			b.Fatal(err)
		}
	}
	err = s.compact()
	s.mu.Unlock()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	return files
}

// benchLocalOwners returns n owner ids.
func benchLocalOwners(n int) []string {
	owners := make([]string, n)
	for i := range owners {
		owners[i] = fmt.Sprintf("%08x-1111-4111-8111-%012x", i, i)
	}
	return owners
}

// BenchmarkLocalStoreInsert: one writer, so one fsync per insert.
func BenchmarkLocalStoreInsert(b *testing.B) {
	s := openTestLocalStore(b, b.TempDir())
	base := ctNow()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.InsertFile(context.Background(), benchLocalFile("owner", i, base)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLocalStoreInsertParallel: many writers share each fsync.
func BenchmarkLocalStoreInsertParallel(b *testing.B) {
	s := openTestLocalStore(b, b.TempDir())
	base := ctNow()
	var mu sync.Mutex
	next := 0
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i := next
			next++
			mu.Unlock()
			if err := s.InsertFile(context.Background(), benchLocalFile("owner", i, base)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLocalStoreGet reads random files among 10,000.
func BenchmarkLocalStoreGet(b *testing.B) {
	dir := b.TempDir()
	files := fillLocalStore(b, dir, 10_000, benchLocalOwners(10))
	s := openTestLocalStore(b, dir)
	b.ReportAllocs()
	for b.Loop() {
		f := files[rand.IntN(len(files))]
		if _, err := s.GetFile(context.Background(), f.Owner, f.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalStoreList100 reads a page of 100 from a random place among
// one owner's 10,000 files.
func BenchmarkLocalStoreList100(b *testing.B) {
	dir := b.TempDir()
	owners := benchLocalOwners(1)
	files := fillLocalStore(b, dir, 10_000, owners)
	s := openTestLocalStore(b, dir)
	cursors := make([]Cursor, len(files))
	for i, f := range files {
		cursors[i] = Cursor{CreatedAt: f.CreatedAt, ID: f.ID}
	}
	b.ReportAllocs()
	for b.Loop() {
		q := ListQuery{Owner: owners[0], Limit: 100, After: &cursors[100+rand.IntN(9_900)]}
		page, err := s.ListFiles(context.Background(), q)
		if err != nil || len(page) != 100 {
			b.Fatalf("ListFiles = %d files, %v", len(page), err)
		}
	}
}

// BenchmarkLocalStoreOpen100k opens a store of 100,000 files (100 owners)
// and reports the heap the open store holds and the size of its log.
func BenchmarkLocalStoreOpen100k(b *testing.B) {
	dir := b.TempDir()
	fillLocalStore(b, dir, 100_000, benchLocalOwners(100))
	info, err := os.Stat(filepath.Join(dir, localLogName))
	if err != nil {
		b.Fatal(err)
	}
	heap := localHeapOf(b, dir)
	b.ReportAllocs()
	for b.Loop() {
		s, err := openLocalStore(dir)
		if err != nil {
			b.Fatal(err)
		}
		s.Close(context.Background())
	}
	b.ReportMetric(heap/1e6, "MB-heap")
	b.ReportMetric(float64(info.Size())/1e6, "MB-log")
}

// BenchmarkLocalStoreCompact100k rewrites the log of a store of 100,000
// files: the time writers and readers wait when a compaction comes due.
func BenchmarkLocalStoreCompact100k(b *testing.B) {
	dir := b.TempDir()
	fillLocalStore(b, dir, 100_000, benchLocalOwners(100))
	s := openTestLocalStore(b, dir)
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		err := s.compact()
		s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// localHeapOf returns how many bytes of heap the store in dir holds once open.
func localHeapOf(b *testing.B, dir string) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := openLocalStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	s.Close(context.Background())
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}
