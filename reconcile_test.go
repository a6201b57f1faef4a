package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReconcile, on each backend pair: an object whose record is gone is
// reported once it is a day old, and deleted only with -delete; objects
// with a record, and younger ones, are left alone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	onEachEnv(t, nil, func(t *testing.T, a apiTester) {
		tok := a.newUser("reconcile")
		_, keptKey := a.stored(tok, map[string]any{"filename": "kept.bin"}, []byte("kept"))
		// A file's object whose record is gone (what the form stored
		// under its staging key on S3 is the sweeper's, not reconcile's).
		orphan, orphanKey := a.stored(tok, map[string]any{"filename": "orphan.bin"}, []byte("no record"))
		ctMust(t, "delete record", errOf(a.srv.store.DeleteFile(t.Context(), a.userID(tok), orphan.ID)))
		store, objects := a.srv.store, a.srv.objects

		var out bytes.Buffer
		sum, err := reconcile(t.Context(), store, objects, time.Now(), true, &out)
		if err != nil || sum.objects != 2 || sum.orphans != 0 {
			t.Fatalf("today: %+v, %v; want 2 objects and no orphan (too young)", sum, err)
		}
		later := time.Now().Add(orphanMinAge + time.Hour)
		sum, err = reconcile(t.Context(), store, objects, later, false, &out)
		if err != nil || sum.orphans != 1 || sum.orphanBytes != 9 || sum.deleted != 0 || !strings.Contains(out.String(), "orphan "+orphanKey+" 9 bytes") {
			t.Fatalf("report: %+v, %v, output %q; want the orphan reported", sum, err, out.String())
		}
		if _, err := objects.Head(t.Context(), orphanKey); err != nil {
			t.Fatalf("a report deleted the orphan: %v", err)
		}
		out.Reset()
		sum, err = reconcile(t.Context(), store, objects, later, true, &out)
		if err != nil || sum.deleted != 1 || !strings.Contains(out.String(), "deleted "+orphanKey) {
			t.Fatalf("-delete: %+v, %v, output %q", sum, err, out.String())
		}
		if _, err := objects.Head(t.Context(), orphanKey); !errors.Is(err, ErrObjectNotFound) {
			t.Errorf("orphan after -delete: %v, want it gone", err)
		}
		if _, err := objects.Head(t.Context(), keptKey); err != nil {
			t.Errorf("object with a record after -delete: %v", err)
		}
	})
}

// storedKey is the object key of a file, read from its record.
func (a apiTester) storedKey(owner, id string) string {
	a.t.Helper()
	f, err := a.srv.store.GetFile(context.Background(), owner, id)
	if err != nil {
		a.t.Fatal(err)
	}
	return f.ObjectKey
}

// TestCLIReconcile: `dropp reconcile` prints its summary; a stray argument
// is a usage error (exit status 2).
func TestCLIReconcile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := runDropp(t.Context(), []string{"dropp", "reconcile", "-delete"}, configGetenv("DATA_DIR", dir), &stdout, &stderr)
	if err != nil || !strings.Contains(stdout.String(), "reconcile: 0 objects under users/, 0 without a record") {
		t.Errorf("dropp reconcile -delete = %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	for _, args := range [][]string{{"reconcile", "now"}, {"reconcile", "-bogus"}} {
		err := runDropp(t.Context(), append([]string{"dropp"}, args...), configGetenv("DATA_DIR", dir), &stdout, &stderr)
		if exitCode(err) != 2 {
			t.Errorf("dropp %v = %v (exit status %d), want a usage error", args, err, exitCode(err))
		}
	}
}
