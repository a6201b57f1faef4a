package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestLocalStoreEventInTheChangesRecord: whatever a crash leaves of the
// local store's log (every prefix of it, cut at the end of a record or in
// the middle of one, which replay drops), a file's completion is never
// there without its file.completed delivery, nor its deletion without its
// file.deleted one. The change and its event are one record, so a crash
// keeps both or neither. (With them in two records, the cut between the
// two loses the event of a change that stays.)
func TestLocalStoreEventInTheChangesRecord(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	e := newLocalTestEnv(t, map[string]string{"DATA_DIR": data, "WEBHOOK_ALLOW_PRIVATE": "true"})
	a := apiTester{e}
	token := e.newUser("alice")
	// No worker runs: the deliveries stay pending, so the log holds
	// nothing but the changes and the events they wrote.
	hook := addWebhook(t, e, token, "", "http://127.0.0.1:9/hook", eventFileCompleted, eventFileDeleted)
	kept, _ := a.stored(token, map[string]any{"filename": "kept.txt", "size": 5}, []byte("hello"))
	gone, _ := a.stored(token, map[string]any{"filename": "gone.txt", "size": 5}, []byte("adieu"))
	resp, body := e.do(request{method: "DELETE", path: "/files/" + gone.ID, token: token})
	wantStatus(t, resp, body, http.StatusNoContent)

	log, err := os.ReadFile(filepath.Join(data, "metadata", localLogName))
	if err != nil {
		t.Fatal(err)
	}
	completedKept := deliveryID(hook.ID, eventFileCompleted, kept.ID)
	completedGone := deliveryID(hook.ID, eventFileCompleted, gone.ID)
	deletedGone := deliveryID(hook.ID, eventFileDeleted, gone.ID)
	goneSeen, cuts := false, 0
	for _, cut := range logCuts(log) {
		st := replayPrefix(t, log[:cut])
		cuts++
		if f := st.files[kept.ID]; f != nil && f.Status == statusComplete && !hasDelivery(st, completedKept) {
			t.Errorf("log cut at byte %d of %d: %s is complete, its file.completed event is lost", cut, len(log), kept.ID)
		}
		f := st.files[gone.ID]
		if f != nil && f.Status == statusComplete && !hasDelivery(st, completedGone) {
			t.Errorf("log cut at byte %d of %d: %s is complete, its file.completed event is lost", cut, len(log), gone.ID)
		}
		if goneSeen && (f == nil || f.Status == statusDeleted) && !hasDelivery(st, deletedGone) {
			t.Errorf("log cut at byte %d of %d: %s is deleted, its file.deleted event is lost", cut, len(log), gone.ID)
		}
		goneSeen = goneSeen || f != nil
	}
	st := replayPrefix(t, log)
	for _, id := range []string{completedKept, completedGone, deletedGone} {
		if !hasDelivery(st, id) {
			t.Errorf("the whole log lacks delivery %s", id)
		}
	}
	t.Logf("%d crash points replayed", cuts)
}

// logCuts returns where a crash may cut a log: after each record, and in
// the middle of each.
func logCuts(log []byte) []int {
	var cuts []int
	for start := 0; start < len(log); {
		end := start + bytes.IndexByte(log[start:], '\n') + 1
		cuts = append(cuts, start+(end-start)/2, end)
		start = end
	}
	return cuts
}

// replayPrefix opens a local store whose log is prefix, as after a crash
// that left only that much, and returns its state.
func replayPrefix(t *testing.T, prefix []byte) *localState {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, localLogName), prefix, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openLocalStore(dir)
	if err != nil {
		t.Fatalf("open a log cut at byte %d: %v", len(prefix), err)
	}
	defer s.Close(t.Context())
	return s.state
}

// hasDelivery tells whether the state's outbox holds the delivery.
func hasDelivery(st *localState, id string) bool {
	_, ok := st.deliveries[id]
	return ok
}
