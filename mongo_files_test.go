package main

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPagedFindsAreSingleBatch: every find behind a page (files: first and
// deep pages, with and without ?status=; a file's shares and drops; a
// link's lookup; requests) is sent singleBatch with its limit as the batch
// size (onePage), and no page sends a getMore or a killCursors; an event's
// webhooks (every counted share download looks them up) are found with no
// sort and sorted in Dropp. On
// MongoDB and FerretDB 1.24 that answers what a limit does; FerretDB 2
// closes its PostgreSQL connection after any other sorted or limited find,
// and opens a new one for the next query (about 20 ms of database CPU,
// docs/scale.md).
func TestPagedFindsAreSingleBatch(t *testing.T) {
	t.Parallel()
	db := testDatabaseName(t)
	s := openMongoStoreAt(t, db)
	ctx := t.Context()
	now := ctNow()
	owner := "paged-owner"
	var files []*File
	for i := range 25 {
		f := ctFile(owner, now.Add(-time.Hour+time.Duration(i)*time.Second))
		if i%2 == 0 {
			f.Status = statusComplete
		}
		ctMust(t, "insert file", s.InsertFile(ctx, f))
		files = append(files, f)
	}
	shared := files[0]
	for i := range 3 {
		sh := Share{ID: newID(), TokenHash: hashSecret(fmt.Sprint("paged-share-", i)), Owner: owner, FileID: shared.ID,
			Files: []ShareFile{{FileID: shared.ID}}, CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: now.Add(time.Hour)}
		ctMust(t, "insert share", s.InsertShare(ctx, sh, 10))
	}
	for i := range 3 {
		ctMust(t, "insert request", s.InsertRequest(ctx, FileRequest{ID: newID(), TokenHash: hashSecret(fmt.Sprint("paged-request-", i)),
			Owner: owner, Title: "request", MaxFiles: 5, MaxBytes: 1 << 20, CreatedAt: now.Add(time.Duration(i) * time.Second), ExpiresAt: now.Add(time.Hour)}))
	}

	for i := range 2 {
		ctMust(t, "insert webhook", s.InsertWebhook(ctx, Webhook{ID: newID(), Owner: owner, URL: "https://hooks.example/" + fmt.Sprint(i),
			Events: []string{eventShareDownloaded}, Secret: "whsec_x", CreatedAt: now.Add(time.Duration(i) * time.Second)}))
	}

	rec := new(commandLog)
	watchStore(t, s, requireRig(t).mongoURI, rec)

	pages := []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"first page", func() (int, error) {
			p, err := s.ListFiles(ctx, ListQuery{Owner: owner, Limit: 11})
			return len(p), err
		}, 11},
		{"deep page", func() (int, error) {
			p, err := s.ListFiles(ctx, ListQuery{Owner: owner, Limit: 11, After: &Cursor{CreatedAt: files[5].CreatedAt, ID: files[5].ID}})
			return len(p), err
		}, 5},
		{"status page", func() (int, error) {
			p, err := s.ListFiles(ctx, ListQuery{Owner: owner, Status: statusComplete, Limit: 20})
			return len(p), err
		}, 13},
		{"a file's shares", func() (int, error) {
			p, err := s.ListShares(ctx, ShareQuery{Owner: owner, FileID: shared.ID, Now: now, Limit: 2})
			return len(p), err
		}, 2},
		{"a link's lookup", func() (int, error) {
			_, err := s.ShareLink(ctx, hashSecret("paged-share-1"), now)
			return 1, err
		}, 1},
		{"requests", func() (int, error) {
			p, err := s.ListRequests(ctx, RequestQuery{Owner: owner, Now: now, Limit: 2})
			return len(p), err
		}, 2},
		{"an event's webhooks (not paged: sorted in Dropp)", func() (int, error) {
			h, err := s.WebhooksFor(ctx, owner, eventShareDownloaded)
			return len(h), err
		}, 2},
	}
	for _, p := range pages {
		rec.take()
		n, err := p.got()
		ctMust(t, p.name, err)
		if n != p.want {
			t.Errorf("%s: %d documents, want %d", p.name, n, p.want)
		}
		cmds := rec.take()
		if len(cmds) == 0 {
			t.Fatalf("%s: no command recorded", p.name)
		}
		for _, cmd := range cmds {
			if problem := pagedFindProblem(cmd); problem != "" {
				t.Errorf("%s: %s\n%s", p.name, problem, cmd)
			}
		}
	}
}

// pagedFindProblem says what is wrong with a command a page sent: a
// getMore or a killCursors, or a find with a sort or a limit that is not
// one batch of its limit.
func pagedFindProblem(cmd bson.Raw) string {
	name := cmd.Index(0).Key()
	switch name {
	case "getMore", "killCursors":
		return "a page sent " + name
	case "find":
	default:
		return ""
	}
	_, sorted := cmd.Lookup("sort").DocumentOK()
	limit, limited := cmd.Lookup("limit").AsInt64OK()
	if !sorted && !limited {
		return ""
	}
	single, _ := cmd.Lookup("singleBatch").BooleanOK()
	batch, _ := cmd.Lookup("batchSize").AsInt64OK()
	if !single || limit < 1 || batch != limit {
		return fmt.Sprintf("find sent singleBatch %v, limit %d, batchSize %d: want singleBatch with batchSize = limit", single, limit, batch)
	}
	return ""
}

// TestCountsAreCountCommands: what the store counts on a request path (a
// file's live shares, twice at each share's insert; the owner's live files
// for GET /me; an object key's file; the downloads of each file of a link
// of up to countEachFileUpTo files, at its page and at each counted
// download) it counts with the count command (countOf), never with an
// aggregate: FerretDB 2 serves any $group, and so the driver's
// CountDocuments, from a persistent cursor and then closes its PostgreSQL
// connection (about 18 ms of database CPU a count, docs/scale.md). A link
// of more files, and a page of many shares, count their downloads with one
// $group.
func TestCountsAreCountCommands(t *testing.T) {
	t.Parallel()
	db := testDatabaseName(t)
	s := openMongoStoreAt(t, db)
	ctx := t.Context()
	now := ctNow()
	owner := "counted-owner"
	f := ctFile(owner, now.Add(-time.Hour))
	ctMust(t, "insert file", s.InsertFile(ctx, f))
	// Drops of countEachFileUpTo files and of one more, each file
	// downloaded as often as its place in its drop; each drop's last file
	// is added after it was made (its downloads numbered under a member).
	drops := make([]Share, 2)
	var want []int64 // the downloads of the larger drop's files
	for d := range drops {
		drops[d] = Share{ID: newID(), TokenHash: hashSecret(fmt.Sprint("counted-drop-", d)), Owner: owner, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		want = want[:0]
		for i := range countEachFileUpTo + d {
			g := ctFile(owner, now.Add(-time.Hour))
			ctMust(t, "insert file", s.InsertFile(ctx, g))
			drops[d].Files = append(drops[d].Files, ShareFile{FileID: g.ID})
			want = append(want, int64(i))
		}
		last := drops[d].Files[len(drops[d].Files)-1]
		made := drops[d]
		made.Files = made.Files[:len(made.Files)-1]
		ctMust(t, "insert drop", s.InsertShare(ctx, made, 0))
		ctMust(t, "add file", s.AddShareFiles(ctx, owner, made.ID, []string{last.FileID}, 0, time.Now().Add(time.Second))) // listed last
		for i, df := range drops[d].Files {
			for range i {
				read, err := s.ShareLink(ctx, drops[d].TokenHash, now)
				ctMust(t, "read link", err)
				_, err = s.CountShareDownload(ctx, read, df.FileID, now)
				ctMust(t, "count download", err)
			}
		}
	}

	rec := new(commandLog)
	watchStore(t, s, requireRig(t).mongoURI, rec)

	share := Share{ID: newID(), TokenHash: hashSecret("counted-share"), Owner: owner, FileID: f.ID,
		Files: []ShareFile{{FileID: f.ID}}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	counts := []struct {
		name       string
		count      func() error
		aggregates int // 0: counts, sent as count commands; else the one $group of many files, and no count
	}{
		{"a share's insert", func() error { return s.InsertShare(ctx, share, 10) }, 0},
		{"a file's live shares", func() error { return wantCount(s.countLiveShares(ctx, owner, f.ID, now))(1) }, 0},
		{"the owner's live files", func() error { return wantCount(s.countLiveFiles(ctx, owner))(int64(2 + 2*countEachFileUpTo)) }, 0},
		{"an object key's file", func() error {
			known, err := s.HasObjectKey(ctx, f.ObjectKey)
			if err == nil && !known {
				err = fmt.Errorf("object key %q not found", f.ObjectKey)
			}
			return err
		}, 0},
		{"a one-file link's read", func() error { return wantDownloads(s.ShareLink(ctx, share.TokenHash, now))(0) }, 0},
		{"a one-file link's counted download, then its read", func() error {
			sh, err := s.ShareLink(ctx, share.TokenHash, now)
			if err == nil {
				_, err = s.CountShareDownload(ctx, sh, f.ID, now)
			}
			if err != nil {
				return err
			}
			return wantDownloads(s.ShareLink(ctx, share.TokenHash, now))(1)
		}, 0},
		{fmt.Sprintf("a %d-file drop's read", countEachFileUpTo), func() error {
			return wantDownloads(s.ShareLink(ctx, drops[0].TokenHash, now))(want[:countEachFileUpTo]...)
		}, 0},
		{fmt.Sprintf("a %d-file drop's read", countEachFileUpTo+1), func() error {
			return wantDownloads(s.ShareLink(ctx, drops[1].TokenHash, now))(want...)
		}, 1},
		{"the owner's page of shares", func() error {
			shares, err := s.ListShares(ctx, ShareQuery{Owner: owner, Now: now, Limit: 10})
			if err == nil && len(shares) != 3 {
				err = fmt.Errorf("listed %d shares, want 3", len(shares))
			}
			return err
		}, 1},
	}
	for _, c := range counts {
		rec.take()
		ctMust(t, c.name, c.count())
		var names []string
		for _, cmd := range rec.take() {
			names = append(names, cmd.Index(0).Key())
		}
		aggregates := len(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n != "aggregate" }))
		switch {
		case c.aggregates == 0 && (!slices.Contains(names, "count") || aggregates > 0):
			t.Errorf("%s sent %v: want its counts sent as count commands, and no aggregate", c.name, names)
		case c.aggregates > 0 && (aggregates != c.aggregates || slices.Contains(names, "count")):
			t.Errorf("%s sent %v: want %d aggregate and no count", c.name, names, c.aggregates)
		}
	}
}

// wantDownloads checks the downloads of a share's files, in order,
// against want.
func wantDownloads(sh Share, err error) func(want ...int64) error {
	return func(want ...int64) error {
		var got []int64
		for _, f := range sh.Files {
			got = append(got, f.Downloads)
		}
		if err == nil && !slices.Equal(got, want) {
			err = fmt.Errorf("downloads %v, want %v", got, want)
		}
		return err
	}
}

// wantCount checks a count's answer against want.
func wantCount(n int64, err error) func(want int64) error {
	return func(want int64) error {
		if err == nil && n != want {
			err = fmt.Errorf("counted %d, want %d", n, want)
		}
		return err
	}
}

// TestHoldRacingCompleteKeepsTheDelete: an owner deletes a pending upload
// whose form may still be posted (its record is held, marked deleted)
// just as its complete goes through: the complete is started as the hold
// writes its mark, many times. On FerretDB 1.x each is a read then a
// write, and before the hold's claim the complete wrote the file back as
// complete over the hold in 45 of 80 rounds (review 8): a file deleted,
// and told so, came back downloadable, and the usage's file count ended
// one low. Now the delete stands whichever answers first, a complete that
// answers the file is one the owner deleted after, and the usage counts
// the held file's bytes and no file.
func TestHoldRacingCompleteKeepsTheDelete(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	countStoreCalls(s)
	notAcknowledged := 0
	for range 80 {
		f := insertStagedFile(t, s, q)
		var done *File
		var cerr error
		var wg sync.WaitGroup
		promoted := f.ObjectKey + "-etag"
		atMark := newAtStoreCall(t.Context(), 6, func() { // the hold's 6th call: its mark (after the holding mark, the shares and the ledger's head)
			wg.Go(func() {
				done, _, cerr = s.CompleteFile(t.Context(), f.Owner, f.ID, promoted, 5, "etag", ctNow())
			})
		})
		held, herr := s.HoldDeletedFile(atMark, f.Owner, f.ID)
		wg.Wait()
		ctMust(t, "HoldDeletedFile", herr)
		if cerr == nil && held.ObjectKey != done.ObjectKey {
			// handleDelete deletes the promoted copy only if the record
			// the hold answers names it (review 11: 40 of 80 leaked).
			t.Errorf("the complete was answered with %s, and the hold answers the record with %s", done.ObjectKey, held.ObjectKey)
		}
		if !atMark.reached() {
			t.Fatal("the hold made fewer than 6 store calls: the call numbers changed")
		}
		if errors.Is(cerr, ErrNotFound) {
			notAcknowledged++
		} else {
			ctMust(t, "CompleteFile", cerr)
		}
		if got, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the file deleted reads %+v, %v", got, err)
		}
		if u, _ := s.GetUsage(t.Context(), f.Owner); u != (Usage{Bytes: 5}) {
			t.Errorf("with the file held the usage is %+v, want its 5 bytes and no file", u)
		}
	}
	t.Logf("of 80 races, %d completes were not acknowledged", notAcknowledged)
}

// TestTakeBackRacingCompleteOneWins: a sender's take-back of a pending
// upload whose form may still be posted (HoldPendingFile) races the same
// upload's complete, started at each of the take-back's first store
// calls, many times. On FerretDB 1.x each conditional update is a read
// then a write, so both can read the file pending. Exactly one must win:
// a complete acknowledged leaves the file complete and the take-back
// refused, a take-back that held the file leaves the complete refused.
// Before, the hold was not conditional: a complete acknowledged first was
// held deleted after.
func TestTakeBackRacingCompleteOneWins(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	countStoreCalls(s)
	wins := map[string]int{}
	for round := range 60 {
		f := insertStagedFile(t, s, q)
		var cerr error
		var wg sync.WaitGroup
		at := newAtStoreCall(t.Context(), int64(1+round%6), func() {
			wg.Go(func() { _, _, cerr = s.CompleteFile(t.Context(), f.Owner, f.ID, "", 5, "etag", ctNow()) })
		})
		_, herr := s.HoldPendingFile(at, f.Owner, f.ID)
		wg.Wait()
		got, gerr := s.GetFile(t.Context(), f.Owner, f.ID)
		u, _ := s.GetUsage(t.Context(), f.Owner)
		switch {
		case cerr == nil && errors.Is(herr, ErrNotFound):
			wins["complete"]++
			if gerr != nil || got.Status != statusComplete || u != (Usage{Bytes: 5, Files: 1}) {
				t.Errorf("round %d: the complete was acknowledged, and the file reads %+v, %v; the usage %+v", round, got, gerr, u)
			}
		case herr == nil && errors.Is(cerr, ErrNotFound):
			wins["take-back"]++
			if !errors.Is(gerr, ErrNotFound) || u != (Usage{Bytes: 5}) {
				t.Errorf("round %d: the take-back held the file, and it reads %+v, %v; the usage %+v, want its 5 bytes and no file", round, got, gerr, u)
			}
		default:
			t.Errorf("round %d: the complete answered %v, the take-back %v: want exactly one to win", round, cerr, herr)
		}
	}
	t.Logf("wins: %v", wins)
}

// TestCompleteRetriedAfterHoldIsNotAcknowledged: on FerretDB 1.x a
// complete can write a held file back as complete, and finishing the hold
// can then fail (503). The client's retry finds the file complete: it must
// find the hold's claim too, and finish it, not acknowledge the file
// (review 11: the retry answered 200 and the file the owner deleted was
// listed). The write-back is stood in for by setting the status.
func TestCompleteRetriedAfterHoldIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	q := Quota{Files: 1 << 40}
	s := openMongoStoreAt(t, testDatabaseName(t), withQuota(q))
	f := insertStagedFile(t, s, q)
	ctMust(t, "HoldDeletedFile", errOf(s.HoldDeletedFile(t.Context(), f.Owner, f.ID)))
	_, err := s.files.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: f.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: statusComplete}}}})
	ctMust(t, "write the file back", err)
	if done, _, err := s.CompleteFile(t.Context(), f.Owner, f.ID, "", 5, "etag", ctNow()); !errors.Is(err, ErrNotFound) {
		t.Errorf("the retried complete answered %+v, %v, want ErrNotFound", done, err)
	}
	if got, err := s.GetFile(t.Context(), f.Owner, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the file held reads %+v, %v", got, err)
	}
}

// TestRetriedCompleteAfterHoldThroughTheAPI: the same as
// TestCompleteRetriedAfterHoldIsNotAcknowledged, through the API: the
// handler, reading the file complete, must still ask the store, not answer
// 200 (review 12: the retry was answered 200 and the file deleted was
// listed again).
func TestRetriedCompleteAfterHoldThroughTheAPI(t *testing.T) {
	t.Parallel()
	a := apiTester{startTestEnv(t, backendEnv(t, "mongodb", "s3", nil))}
	s := a.srv.store.(*mongoStore)
	tok := a.newUser("held")
	up := a.create(tok, map[string]any{"filename": "x.bin", "size": 5})
	a.upload(up, []byte("hello"))
	resp, body := a.do(request{method: "DELETE", path: "/files/" + up.File.ID, token: tok})
	wantStatus(t, resp, body, http.StatusNoContent)
	// The complete's write-back over the hold (FerretDB 1.x), whose
	// finishHold then failed: 503 to the client.
	_, err := s.files.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: up.File.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: statusComplete}, {Key: "size", Value: 5}, {Key: "etag", Value: "etag"}, {Key: "completed_at", Value: time.Now()},
	}}})
	ctMust(t, "write the file back", err)
	resp, body = a.complete(tok, up.File.ID, nil)
	wantStatus(t, resp, body, http.StatusNotFound)
	if listed := a.listIDs(tok, ""); len(listed) != 0 {
		t.Errorf("the file deleted is listed: %v", listed)
	}
}

// insertStagedFile inserts, for a new owner, a pending file of 5 bytes
// charged 5 whose form may still be posted (it names a staging key): one
// a delete holds.
func insertStagedFile(t *testing.T, s *mongoStore, q Quota) *File {
	t.Helper()
	f := ctFile(ctNewID(), ctNow())
	f.Charged, f.StagingKey = 5, "staging/"+f.ID
	ctMust(t, "insert", s.InsertFileWithinQuota(t.Context(), f, q))
	return f
}
