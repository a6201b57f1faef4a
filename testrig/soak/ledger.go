//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ledgerResult is what the check of acknowledged writes found.
type ledgerResult struct {
	files, complete, pending, deleted, maybe, unanswered int // ledger entries by what the client was told
	downloaded                                           int // complete files fetched and compared
	problems                                             []string
}

// checkLedger checks every acknowledged write against the server: a file
// whose create or complete was acknowledged is listed with that status
// (complete ones are downloaded and their bytes compared), and a file whose
// delete was acknowledged is gone. Writes whose answer was lost are only
// counted.
func checkLedger(t *target, files []*fileRecord, conns int) ledgerResult {
	var res ledgerResult
	res.files = len(files)
	listed, err := listAll(t)
	if err != nil {
		res.problems = append(res.problems, "listing: "+err.Error())
		return res
	}
	var toFetch []*fileRecord
	for _, f := range files {
		status, found := listed[f.id]
		switch f.state {
		case statePending:
			res.pending++
			if status != "pending" {
				res.problems = append(res.problems, fmt.Sprintf("file %s: create acknowledged, listed as %q", f.id, status))
			}
		case stateComplete:
			res.complete++
			if status != "complete" {
				res.problems = append(res.problems, fmt.Sprintf("file %s: completion acknowledged, listed as %q", f.id, status))
			}
			toFetch = append(toFetch, f)
		case stateMaybeComplete:
			res.maybe++
			if !found {
				res.problems = append(res.problems, fmt.Sprintf("file %s: create acknowledged, not listed", f.id))
			}
		case stateDeleted:
			res.deleted++
			if found {
				res.problems = append(res.problems, fmt.Sprintf("file %s: delete acknowledged, still listed", f.id))
			}
		case stateUnknown:
			res.unanswered++
		}
	}
	res.downloaded, res.problems = fetchAll(t, toFetch, conns, res.problems)
	return res
}

// fetchAll downloads every file through the API with conns workers and
// compares the bytes.
func fetchAll(t *target, files []*fileRecord, conns int, problems []string) (int, []string) {
	l := &load{t: t, until: time.Now().Add(time.Hour)}
	next := make(chan *fileRecord)
	var mu sync.Mutex
	var wg sync.WaitGroup
	downloaded := 0
	for i := range conns {
		w := newWorker(l, i)
		wg.Go(func() {
			for f := range next {
				ok := w.download(f)
				mu.Lock()
				if ok {
					downloaded++
				} else {
					problems = append(problems, fmt.Sprintf("file %s: completion acknowledged; %s: %s", f.id, w.last().op, w.last().problem))
				}
				mu.Unlock()
			}
		})
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	return downloaded, problems
}

// listAll pages through GET /list/ and returns each file's status by id.
func listAll(t *target) (map[string]string, error) {
	listed := map[string]string{}
	cursor := ""
	for {
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		req, _ := http.NewRequest("GET", t.base+"/list/?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+t.token)
		resp, err := t.http.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Files []struct {
				ID, Status string
			}
			NextCursor *string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("GET /list/: %s (%v)", resp.Status, err)
		}
		for _, f := range page.Files {
			listed[f.ID] = f.Status
		}
		if page.NextCursor == nil {
			return listed, nil
		}
		cursor = *page.NextCursor
	}
}
