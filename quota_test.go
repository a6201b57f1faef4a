package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// envStarters start a server on each metadata store: MongoDB with S3, and
// the local stores.
var envStarters = map[string]func(t *testing.T, env map[string]string) *testEnv{
	"mongo": newTestEnv,
	"local": newLocalTestEnv,
}

// onEachEnv runs test in a parallel subtest per store of envStarters, on
// a server started with env.
func onEachEnv(t *testing.T, env map[string]string, test func(t *testing.T, a apiTester)) {
	for name, start := range envStarters {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, apiTester{start(t, env)})
		})
	}
}

// quotaFile is a new pending file of owner charging charge bytes.
func quotaFile(owner string, charge int64) *File {
	f := ctFile(owner, ctNow())
	f.Charged = charge
	return f
}

// TestQuotaConcurrentReservations: 20 concurrent inserts at the edge of a
// byte quota, then of a file quota, never end above it, on either store.
func TestQuotaConcurrentReservations(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		cases := []struct {
			name   string
			quota  Quota
			charge int64
			want   Usage
		}{
			{"bytes", Quota{Bytes: 105}, 10, Usage{Bytes: 100, Files: 10}},
			{"files", Quota{Files: 7}, 1, Usage{Bytes: 7, Files: 7}},
			{"both", Quota{Bytes: 1000, Files: 3}, 100, Usage{Bytes: 300, Files: 3}},
		}
		for _, tc := range cases {
			owner := ctNewID()
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() { errs <- s.InsertFileWithinQuota(t.Context(), quotaFile(owner, tc.charge), tc.quota) })
			}
			wg.Wait()
			close(errs)
			ok := 0
			for err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, ErrQuotaExceeded):
					t.Errorf("%s: insert: %v", tc.name, err)
				}
			}
			u, err := s.GetUsage(t.Context(), owner)
			ctMust(t, "usage", err)
			files := ctList(t, s, ListQuery{Owner: owner, Limit: 100})
			if int64(ok) != tc.want.Files || u != tc.want || int64(len(files)) != tc.want.Files {
				t.Errorf("%s: %d inserts succeeded, %d files stored, usage %+v; want %+v", tc.name, ok, len(files), u, tc.want)
			}
		}
	})
}

// TestQuotaSettleAndRelease: completing settles a file's charge once,
// deleting releases it, and each is done once however many race.
func TestQuotaSettleAndRelease(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		owner := ctNewID()
		f := quotaFile(owner, 1000)
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, Quota{}))
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), quotaFile(owner, 5), Quota{}))
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				err := s.SettleCharge(t.Context(), owner, f.ID, 1000, 40)
				if err != nil && !errors.Is(err, ErrConflict) {
					t.Errorf("settle: %v", err)
				}
			})
		}
		wg.Wait()
		wantUsage(t, s, owner, Usage{Bytes: 45, Files: 2})
		for range 5 {
			wg.Go(func() {
				if err := errOf(s.DeleteFile(t.Context(), owner, f.ID)); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("delete: %v", err)
				}
			})
		}
		wg.Wait()
		wantUsage(t, s, owner, Usage{Bytes: 5, Files: 1})
		if err := s.SettleCharge(t.Context(), owner, f.ID, 40, 1); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
			t.Errorf("settling a deleted file: %v", err)
		}
	})
}

// wantUsage checks the owner's usage.
func wantUsage(t *testing.T, s Store, owner string, want Usage) {
	t.Helper()
	u, err := s.GetUsage(t.Context(), owner)
	ctMust(t, "usage", err)
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

// usageOut is a user's usage and quota as the API shows it (in GET /me
// and GET /admin/users), as a client reads it.
type usageOut struct {
	Bytes      int64  `json:"bytes"`
	Files      int64  `json:"files"`
	QuotaBytes *int64 `json:"quota_bytes"`
	QuotaFiles *int64 `json:"quota_files"`
}

// meUsageOut is the body of GET /me, as a client reads it.
type meUsageOut struct {
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
	Usage usageOut `json:"usage"`
}

// me calls GET /me.
func (a apiTester) me(token string) meUsageOut {
	a.t.Helper()
	resp, body := a.do(request{method: "GET", path: "/me", token: token})
	wantStatus(a.t, resp, body, http.StatusOK)
	return decode[meUsageOut](a.t, body)
}

// wantMeUsage checks the usage GET /me reports.
func (a apiTester) wantMeUsage(token string, bytes, files int64) {
	a.t.Helper()
	if u := a.me(token).Usage; u.Bytes != bytes || u.Files != files {
		a.t.Fatalf("GET /me usage %d bytes, %d files; want %d, %d", u.Bytes, u.Files, bytes, files)
	}
}

// wantQuotaExceeded expects the 403 quota_exceeded answer with a message
// holding each of the words.
func wantQuotaExceeded(t *testing.T, resp *http.Response, body []byte, words ...string) {
	t.Helper()
	var e apiErrorJSON
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusForbidden || e.Error != "quota_exceeded" {
		t.Fatalf("status %d %s, want 403 quota_exceeded", resp.StatusCode, body)
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not say %q", e.Message, w)
		}
	}
}

// TestQuotaAPI: over HTTP on each metadata store, the edge of the byte and
// file quotas, pending reservations (declared or MAX_UPLOAD_BYTES),
// completion at the real size, release on delete, GET /me, and 20
// concurrent creates at the edge.
func TestQuotaAPI(t *testing.T) {
	t.Parallel()
	onEachEnv(t, map[string]string{
		"QUOTA_BYTES_PER_USER": "4096", "QUOTA_FILES_PER_USER": "4", "MAX_UPLOAD_BYTES": "2048",
	}, func(t *testing.T, a apiTester) {
		tok := a.newUser("quota")
		me := a.me(tok)
		if q := me.Usage; q.QuotaBytes == nil || *q.QuotaBytes != 4096 || q.QuotaFiles == nil || *q.QuotaFiles != 4 || q.Bytes != 0 {
			t.Fatalf("GET /me usage %+v", q)
		}

		// A pending upload without a size reserves MAX_UPLOAD_BYTES.
		open := a.create(tok, map[string]any{"filename": "open.bin"})
		a.wantMeUsage(tok, 2048, 1)
		declared := a.create(tok, map[string]any{"filename": "a.bin", "size": 2000})
		a.wantMeUsage(tok, 4048, 2)
		resp, body := a.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "b.bin", "size": 49}})
		wantQuotaExceeded(t, resp, body, "49 B", "4.0 KiB of your 4.0 KiB")
		a.create(tok, map[string]any{"filename": "edge.bin", "size": 48}) // exactly at the quota
		a.wantMeUsage(tok, 4096, 3)

		// Completing counts the real size: 100 bytes, not 2048. On S3,
		// only once the form has expired: until then it may store up
		// to 2048 bytes again (see sweepStaged), which stay reserved.
		var held int64
		if _, staged := a.srv.objects.(stagingObjects); staged {
			held = 2048 - 100
		}
		a.upload(open, make([]byte, 100))
		resp, body = a.complete(tok, open.File.ID, nil)
		wantStatus(t, resp, body, http.StatusOK)
		a.wantMeUsage(tok, 2148+held, 3)
		resp, body = a.complete(tok, open.File.ID, nil) // again: settled once
		wantStatus(t, resp, body, http.StatusOK)
		a.wantMeUsage(tok, 2148+held, 3)

		a.create(tok, map[string]any{"filename": "four.bin", "size": 0})
		resp, body = a.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "five.bin", "size": 0}})
		wantQuotaExceeded(t, resp, body, "4 of your 4 files")

		// Deleting releases what the file counted. On S3, its bytes
		// only at the staged sweep: its form may still store them.
		resp, body = a.do(request{method: "DELETE", path: "/files/" + declared.File.ID, token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		raceSize := 1000
		if held != 0 {
			held += 2000
			resp, body = a.do(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "b.bin", "size": 1}})
			wantQuotaExceeded(t, resp, body, "4.0 KiB of your 4.0 KiB")
			raceSize = 0 // no byte left: the race below is at the file edge only
		}
		a.wantMeUsage(tok, 148+held, 3)

		// 20 concurrent creates of 1000 bytes with 3948 (or 2000) left
		// and one file left: exactly one succeeds.
		var wg sync.WaitGroup
		statuses := make(chan int, 20)
		for range 20 {
			wg.Go(func() {
				code, _, err := a.try(request{method: "POST", path: "/upload/", token: tok, body: map[string]any{"filename": "race.bin", "size": raceSize}})
				if err != nil {
					t.Error(err)
				}
				statuses <- code
			})
		}
		wg.Wait()
		close(statuses)
		created := 0
		for code := range statuses {
			switch code {
			case http.StatusCreated:
				created++
			case http.StatusForbidden:
			default:
				t.Errorf("concurrent create: status %d", code)
			}
		}
		if created != 1 {
			t.Errorf("%d concurrent creates succeeded with one file left, want 1", created)
		}
		a.wantMeUsage(tok, int64(148+raceSize)+held, 4)
	})
}

// TestQuotaUnlimitedByDefault: without quotas, /me shows null limits.
func TestQuotaUnlimitedByDefault(t *testing.T) {
	t.Parallel()
	a := apiTester{newLocalTestEnv(t, nil)}
	tok := a.newUser("free")
	a.create(tok, map[string]any{"filename": "a.bin", "size": 10})
	me := a.me(tok)
	if me.Usage.QuotaBytes != nil || me.Usage.QuotaFiles != nil || me.Usage.Bytes != 10 || me.Usage.Files != 1 {
		t.Errorf("GET /me usage %+v, want 10 bytes, 1 file, null quotas", me.Usage)
	}
}

// TestQuotaLedgerPruned: the sweep's DeleteExpired keeps only each user's
// latest MongoDB ledger entry once the others are a day old, and the usage
// stays right.
func TestQuotaLedgerPruned(t *testing.T) {
	t.Parallel()
	s := storeOpeners["mongo"](t).(*mongoStore)
	owner := ctNewID()
	for range 5 {
		ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), quotaFile(owner, 10), Quota{}))
	}
	count := func() int64 {
		n, err := s.usageColl().CountDocuments(t.Context(), bson.D{{Key: "owner", Value: owner}})
		ctMust(t, "count", err)
		return n
	}
	if n := count(); n != 6 {
		t.Fatalf("%d ledger entries, want 6 (start and 5 reservations)", n)
	}
	if _, err := s.DeleteExpired(t.Context(), time.Now()); err != nil || count() != 6 {
		t.Fatalf("pruned entries younger than a day: %d left, %v", count(), err)
	}
	if _, err := s.DeleteExpired(t.Context(), time.Now().Add(usageKeep+time.Minute)); err != nil || count() != 1 {
		t.Fatalf("after a day: %d entries left, %v; want 1", count(), err)
	}
	wantUsage(t, s, owner, Usage{Bytes: 50, Files: 5})
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), quotaFile(owner, 1), Quota{Files: 6}))
	wantUsage(t, s, owner, Usage{Bytes: 51, Files: 6})
}

// TestQuotaSettleOutlivesRequest: on each store, a completion whose client
// went away still settles the file at its real size.
func TestQuotaSettleOutlivesRequest(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		srv := &server{store: s, log: testLogger(t)}
		owner := ctNewID()
		f := quotaFile(owner, 2048)
		ctMust(t, "insert", srv.store.InsertFileWithinQuota(t.Context(), f, Quota{}))
		gone, cancel := context.WithCancel(t.Context())
		cancel()
		srv.settleCharge(gone, f, 100)
		wantUsage(t, srv.store, owner, Usage{Bytes: 100, Files: 1})
	})
}

// legacyFiles stores, as before quotas existed (no charge), a pending file
// declaring 300 bytes and a complete one of 50 bytes, and returns them.
func legacyFiles(t *testing.T, s Store, owner string) (pending, complete *File) {
	t.Helper()
	pending = ctFile(owner, ctNow())
	declared := int64(300)
	pending.DeclaredSize = &declared
	complete = ctFile(owner, ctNow())
	size := int64(50)
	complete.DeclaredSize, complete.Size, complete.Status = nil, &size, statusComplete
	for _, f := range []*File{pending, complete} {
		if f.Charged != 0 {
			t.Fatalf("legacy file charged %d", f.Charged)
		}
		ctMust(t, "insert legacy file", s.InsertFile(t.Context(), f))
	}
	return pending, complete
}

// TestQuotaLegacyFilesCount: on each store, files stored before quotas
// existed count their real size, or their declared one while pending.
func TestQuotaLegacyFilesCount(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		owner := ctNewID()
		legacyFiles(t, s, owner)
		wantUsage(t, s, owner, Usage{Bytes: 350, Files: 2})
		err := s.InsertFileWithinQuota(t.Context(), quotaFile(owner, 51), Quota{Bytes: 400})
		if !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("a reservation past the quota with legacy files counted: %v, want ErrQuotaExceeded", err)
		}
	})
}

// TestQuotaLegacyFileDeleteReleases: on each store, deleting a file stored
// before quotas existed, as the first quota operation of its owner,
// releases what it counts.
func TestQuotaLegacyFileDeleteReleases(t *testing.T) {
	t.Parallel()
	onEachStore(t, func(t *testing.T, s Store) {
		owner := ctNewID()
		pending, complete := legacyFiles(t, s, owner)
		ctMust(t, "delete", errOf(s.DeleteFile(t.Context(), owner, pending.ID)))
		wantUsage(t, s, owner, Usage{Bytes: 50, Files: 1})
		ctMust(t, "delete", errOf(s.DeleteFile(t.Context(), owner, complete.ID)))
		wantUsage(t, s, owner, Usage{})
	})
}

// TestSizelessUploadOverQuotaIsToldOfSize: an upload that gave no size is
// counted at the single-upload limit until it completes, so a refusal
// tells it that sending its size would count only that; one that gave its
// size is not told so.
func TestSizelessUploadOverQuotaIsToldOfSize(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, map[string]string{"QUOTA_BYTES_PER_USER": "100"})
	token := e.newUser("alice")
	for _, c := range []struct {
		body     map[string]any
		sizeHint bool
	}{
		{map[string]any{"filename": "a.txt"}, true},
		{map[string]any{"filename": "a.txt", "size": 101}, false},
	} {
		resp, body := e.do(request{method: "POST", path: "/upload/", token: token, body: c.body})
		wantQuotaExceeded(t, resp, body)
		if got := strings.Contains(string(body), `send the file's \"size\"`); got != c.sizeHint {
			t.Errorf("%v: %s; want the size named: %v", c.body, body, c.sizeHint)
		}
	}
}

// TestQuotaExceededWithoutUsage: a refusal stays 403 quota_exceeded when
// the usage cannot be read after it, and never shows an unset limit.
func TestQuotaExceededWithoutUsage(t *testing.T) {
	t.Parallel()
	q := Quota{Bytes: 4096, Files: 4}
	srv := &server{store: storeOpeners["local"](t), log: testLogger(t), cfg: &config{QuotaBytes: q.Bytes, QuotaFiles: q.Files}}
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := srv.store.GetUsage(gone, "someone"); err == nil {
		t.Fatal("reading the usage with a cancelled context succeeded: the test proves nothing")
	}
	w := httptest.NewRecorder()
	declared := int64(100)
	srv.writeQuotaExceeded(w, httptest.NewRequestWithContext(gone, "POST", "/upload/", nil), &File{Owner: "someone", DeclaredSize: &declared, Charged: declared})
	wantQuotaExceeded(t, w.Result(), w.Body.Bytes(), "100 B", "4.0 KiB and 4 files")

	// The usage read after the refusal no longer breaks a limit (a file
	// was deleted in between): the message names the limit, not "0 B".
	for _, tc := range []struct {
		quota Quota
		usage Usage
		want  string
	}{
		{Quota{Files: 4}, Usage{Bytes: 10, Files: 2}, "over your quota of 4 files"},
		{Quota{Bytes: 4096}, Usage{Bytes: 10, Files: 2}, "over your quota of 4.0 KiB"},
		{Quota{Files: 4}, Usage{Files: 4}, "you have 4 of your 4 files"},
		{Quota{Bytes: 4096}, Usage{Bytes: 4000}, "you use 3.9 KiB of your 4.0 KiB quota"},
	} {
		msg := quotaMessage(tc.quota, &tc.usage, 100)
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "0 B quota") {
			t.Errorf("quotaMessage(%+v, %+v) = %q, want it to say %q", tc.quota, tc.usage, msg, tc.want)
		}
	}
}
