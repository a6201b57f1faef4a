package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBackupAndRestore is the README's local-mode backup and restore, for
// real: a running server is filled through the API (files completed,
// one deleted, one left pending), `dropp backup DIR` runs beside it, more
// is uploaded afterwards, then DATA_DIR is wiped and replaced by DIR. The
// restored server lists exactly what was there at backup time, and every
// file downloads, byte for byte, with the token issued before the backup.
func TestBackupAndRestore(t *testing.T) {
	t.Parallel()
	dataDir, backupDir := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	env, base, stop, c, token := startSignedInRun(t, dataDir)
	contents := map[string][]byte{}
	for _, name := range []string{"a.txt", "b.txt", "gone.txt"} {
		contents[uploadFile(t, c, base, token, name, []byte("content of "+name+"\n"))] = []byte("content of " + name + "\n")
	}
	for id, body := range contents {
		if strings.Contains(string(body), "gone") {
			deleteFile(t, c, base, token, id)
			delete(contents, id)
		}
	}
	apiPost[uploadOut](t, c, base+"/upload/", token, `{"filename":"pending.txt","size":3}`, http.StatusCreated)
	before := apiGet[listOut](t, c, base+"/list/", token).Files

	out := backupTo(t, env, backupDir)
	t.Log(out)
	if !strings.Contains(out, "backup: 3 files, 2 objects") {
		t.Errorf("backup summary = %q, want 3 files (2 complete, 1 pending) and 2 objects", out)
	}
	uploadFile(t, c, base, token, "after.txt", []byte("after the backup\n"))
	base, stop = restartFromBackup(t, stop, backupDir, env)
	defer stop()
	after := apiGet[listOut](t, c, base+"/list/", token).Files
	if !slices.EqualFunc(before, after, func(a, b fileOut) bool {
		return a.ID == b.ID && a.Status == b.Status && a.Filename == b.Filename && a.CreatedAt.Equal(b.CreatedAt)
	}) {
		t.Fatalf("restored list differs:\nbefore %+v\nafter  %+v", before, after)
	}
	for id, want := range contents {
		dl := apiGet[downloadOut](t, c, base+"/download/"+id, token)
		if got := fetch(t, c, dl.URL); !bytes.Equal(got, want) {
			t.Errorf("restored %s = %q, want %q", id, got, want)
		}
	}
}

// TestBackupRefuses: an existing DIR, a missing DIR argument, and MongoDB
// metadata (which mongodump backs up) are refused.
func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	existing := t.TempDir()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"existing dir", []string{"dropp", "backup", existing}, map[string]string{"DATA_DIR": emptyLocalStore(t)}, "DIR must be a new directory"},
		{"no dir", []string{"dropp", "backup"}, map[string]string{"DATA_DIR": t.TempDir()}, "usage: dropp backup DIR"},
		{"mongodb", []string{"dropp", "backup", filepath.Join(t.TempDir(), "b")}, map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/", "SECRET_KEY": testSecretKey}, "use mongodump"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := runDropp(context.Background(), tc.args, testGetenv(tc.env), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestBackupChecksBeforeItMakesDIR: `dropp backup -h` (or --help) shows
// the usage and another argument starting with "-" is a usage error,
// neither made a directory of; a DATA_DIR without a local store is named
// before DIR is made; a backup that fails after making DIR removes it, so
// the retry with the right settings succeeds.
func TestBackupChecksBeforeItMakesDIR(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-x", "-"} {
		var stderr bytes.Buffer
		err := runDropp(context.Background(), []string{"dropp", "backup", arg}, testGetenv(map[string]string{"DATA_DIR": t.TempDir()}), io.Discard, &stderr)
		if want := map[bool]int{true: 0, false: 2}[arg == "-h" || arg == "--help"]; exitCode(err) != want || !strings.Contains(err.Error()+stderr.String(), "usage: dropp backup DIR") {
			t.Errorf("dropp backup %s: exit %d (%v), stderr %q; want exit %d and the usage", arg, exitCode(err), err, stderr.String(), want)
		}
		if _, err := os.Stat(arg); err == nil {
			os.RemoveAll(arg)
			t.Errorf("dropp backup %s made a directory named %s", arg, arg)
		}
	}

	dest := filepath.Join(t.TempDir(), "backup")
	backup := func(dataDir string) error {
		return runDropp(context.Background(), []string{"dropp", "backup", dest}, testGetenv(map[string]string{"DATA_DIR": dataDir}), io.Discard, io.Discard)
	}
	noStore := filepath.Join(t.TempDir(), "unset")
	if err := backup(noStore); err == nil || !strings.Contains(err.Error(), "no local store in DATA_DIR="+noStore) {
		t.Errorf("a DATA_DIR without a store: %v, want it named", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("a backup of a DATA_DIR without a store made DIR")
	}

	dataDir := emptyLocalStore(t)
	if err := os.WriteFile(filepath.Join(dataDir, "objects"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := backup(dataDir); err == nil {
		t.Fatal("a backup whose objects cannot be read succeeded")
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("a failed backup left DIR behind")
	}
	if err := os.Remove(filepath.Join(dataDir, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := backup(dataDir); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "metadata", localLogName)); err != nil {
		t.Errorf("the retry wrote no backup: %v", err)
	}
}

// emptyLocalStore is a DATA_DIR whose local store holds nothing yet: an
// empty metadata log.
func emptyLocalStore(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dataDir, "metadata"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "metadata", localLogName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

// backupTo runs `dropp backup dir` with env and returns what it printed.
func backupTo(t *testing.T, env map[string]string, dir string) string {
	t.Helper()
	var out bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "backup", dir}, testGetenv(env), &out, &out); err != nil {
		t.Fatalf("dropp backup: %v\n%s", err, out.String())
	}
	return out.String()
}

// restoreBackup restores the backup in dir as the README says: with the
// server stopped, dir takes dataDir's place.
func restoreBackup(t *testing.T, dir, dataDir string) {
	t.Helper()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dataDir, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
}

// restartFromBackup restores the backup in dir over a server run with env
// (startRun): it stops the server, restores (restoreBackup) and starts it
// again; it returns the new base URL and stop func.
func restartFromBackup(t *testing.T, stop func(), dir string, env map[string]string) (base string, restarted func()) {
	t.Helper()
	stop()
	restoreBackup(t, dir, env["DATA_DIR"])
	base, _, restarted = startRun(t, env)
	return base, restarted
}

// startRun starts runDropp in this process with env, and returns the base URL,
// the start-up lines printed before it, and a stop func that cancels runDropp
// and waits for it.
func startRun(t *testing.T, env map[string]string) (base string, lines []string, stop func()) {
	t.Helper()
	base, lines, _, stop = startLoggedRun(t, env)
	return base, lines, stop
}

// startSignedInRun starts runDropp in local mode on dataDir (startRun) and
// signs a desktop client in to it. It returns the server's environment (to
// start it again on the same data), its base URL, its stop func, the
// client (noRedirectClient) and its bearer token.
func startSignedInRun(t *testing.T, dataDir string) (env map[string]string, base string, stop func(), c *http.Client, token string) {
	t.Helper()
	env = map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": dataDir}
	base, _, stop = startRun(t, env)
	c = noRedirectClient()
	return env, base, stop, c, desktopSignIn(t, c, base)
}

// deleteFile deletes the file id over the API with the bearer token and
// expects 204.
func deleteFile(t *testing.T, c *http.Client, base, token, id string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", base+"/files/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
}

// startLoggedRun is startRun that also returns runDropp's log.
func startLoggedRun(t *testing.T, env map[string]string) (base string, lines []string, logs *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runDropp(ctx, []string{"dropp"}, testGetenv(env), outW, logs); outW.Close() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v\n%s", err, logs.String())
			}
		})
	}
	t.Cleanup(stop)
	sc := bufio.NewScanner(outR)
	for base == "" && sc.Scan() {
		lines = append(lines, sc.Text())
		if rest, ok := strings.CutPrefix(sc.Text(), "listening: "); ok {
			base = strings.TrimSuffix(rest, "/login/")
		}
	}
	go io.Copy(io.Discard, outR)
	if base == "" {
		stop()
		t.Fatalf("no listening line; log:\n%s", logs.String())
	}
	return base, lines, logs, stop
}

// TestBackupWhileWriting takes backups while a client keeps uploading and
// deleting, then restores each one: every complete
// file a restored server lists downloads, with its recorded size.
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	env, base, stop, c, token := startSignedInRun(t, t.TempDir())
	writing, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-writing:
				return
			default:
			}
			id := uploadFile(t, c, base, token, "f.txt", bytes.Repeat([]byte{'x'}, 1000+i))
			if i%2 == 0 {
				req, _ := http.NewRequest("DELETE", base+"/files/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				if resp, err := c.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	var backups []string
	for i := range 3 {
		time.Sleep(150 * time.Millisecond)
		dir := filepath.Join(t.TempDir(), "backup")
		t.Logf("backup %d: %s", i, strings.TrimSpace(backupTo(t, env, dir)))
		backups = append(backups, dir)
	}
	close(writing)
	<-done
	stop()
	for _, dir := range backups {
		env := map[string]string{"ADDR": "127.0.0.1:0", "DATA_DIR": dir}
		base, _, stop := startRun(t, env)
		for _, f := range apiGet[listOut](t, c, base+"/list/?limit=1000", token).Files {
			if f.Status != "complete" {
				continue
			}
			dl := apiGet[downloadOut](t, c, base+"/download/"+f.ID, token)
			if got := fetch(t, c, dl.URL); int64(len(got)) != *f.Size {
				t.Errorf("%s: restored %s is %d bytes, recorded %d", dir, f.ID, len(got), *f.Size)
			}
		}
		stop()
	}
}

// TestBackupKeepsTombstones (issue 18, section 4): the forms of files
// deleted before a backup (one never posted, one completed) stay refused
// by the restored server, as they were by the one backed up.
func TestBackupKeepsTombstones(t *testing.T) {
	t.Parallel()
	dataDir, backupDir := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	env, base, stop, c, token := startSignedInRun(t, dataDir)
	content := []byte("12345")
	var forms []uploadOut
	for i := range 2 {
		up := apiPost[uploadOut](t, c, base+"/upload/", token, `{"filename":"deleted.txt","size":5}`, http.StatusCreated)
		if i == 1 {
			if resp, body := postUploadForm(t, up.Upload.URL, up.Upload.Fields, content); resp.StatusCode/100 != 2 {
				t.Fatalf("upload form: %d %s", resp.StatusCode, body)
			}
			apiPost[fileResponseOut](t, c, base+"/upload/"+up.File.ID+"/complete", token, "", http.StatusOK)
		}
		deleteFile(t, c, base, token, up.File.ID)
		forms = append(forms, up)
	}
	if out := backupTo(t, env, backupDir); !strings.Contains(out, "2 tombstones") {
		t.Errorf("backup summary = %q, want 2 tombstones", out)
	}
	base, stop = restartFromBackup(t, stop, backupDir, env)
	defer stop()
	for i, up := range forms {
		resp, body := postUploadForm(t, base+"/objects/upload", up.Upload.Fields, content)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "AccessDenied") {
			t.Errorf("form %d of a file deleted before the backup, after the restore: %d %s, want 403 AccessDenied", i, resp.StatusCode, body)
		}
	}
}

// TestBackupKeepsInvitations: an invitation made with `dropp invite` and
// not yet used when the backup runs still works on the restored server
// (local mode keeps invitations as files beside the log, which a backup of
// the log alone would leave behind).
func TestBackupKeepsInvitations(t *testing.T) {
	t.Parallel()
	dataDir, backupDir := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	// The listening line names PUBLIC_URL; the test reaches ADDR.
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	env := map[string]string{"ADDR": "127.0.0.1:" + port, "DATA_DIR": dataDir, "SIGNIN": "accounts", "PUBLIC_URL": "http://dropp.test"}
	_, _, stop := startRun(t, env)
	var out bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "invite", "kept@example.com", "-admin"}, testGetenv(env), &out, &out); err != nil {
		t.Fatalf("dropp invite: %v\n%s", err, out.String())
	}
	_, path, ok := strings.Cut(strings.TrimSpace(out.String()), "http://dropp.test")
	if !ok {
		t.Fatalf("dropp invite printed no link: %q", out.String())
	}
	if out := backupTo(t, env, backupDir); !strings.Contains(out, "1 invitations") {
		t.Errorf("backup summary = %q, want 1 invitations", out)
	}
	_, stop = restartFromBackup(t, stop, backupDir, env)
	defer stop()
	c := noRedirectClient()
	if got := fetch(t, c, base+path); !bytes.Contains(got, []byte("kept@example.com")) {
		t.Fatalf("the invitation page after the restore does not name kept@example.com: %.300s", got)
	}
	// (Choosing the password would cost a full scrypt hash here, which
	// under -race on a busy machine outlasts the client's timeout; taking an
	// invitation file is TestInvitationSingleUse's.)
}

// TestBackupKeepsPartsOfUploadInProgress: the part of a resumable
// (multipart) upload that the server accepted before the backup is in the
// backup: after the restore the client lists it, completes the upload
// without sending it again, and downloads the file.
func TestBackupKeepsPartsOfUploadInProgress(t *testing.T) {
	t.Parallel()
	dataDir, backupDir := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	env, base, stop, c, token := startSignedInRun(t, dataDir)
	content := bytes.Repeat([]byte("part\n"), 2000)
	body := fmt.Sprintf(`{"filename":"resumable.bin","size":%d,"multipart":true}`, len(content))
	up := apiPost[multipartCreateOut](t, c, base+"/upload/", token, body, http.StatusCreated)
	parts := apiPost[partURLsOut](t, c, base+"/upload/"+up.File.ID+"/parts", token, `{"part_numbers":[1]}`, http.StatusOK).Parts
	if status, b := streamPut(t, parts[0], bytes.NewReader(content), int64(len(content))); status/100 != 2 {
		t.Fatalf("PUT part: %d %s", status, b)
	}
	if out := backupTo(t, env, backupDir); !strings.Contains(out, "1 uploads in progress") {
		t.Errorf("backup summary = %q, want 1 uploads in progress", out)
	}
	base, stop = restartFromBackup(t, stop, backupDir, env)
	defer stop()
	stored := apiGet[storedPartsOut](t, c, base+"/upload/"+up.File.ID+"/parts", token).Parts
	if len(stored) != 1 || stored[0].Size != int64(len(content)) || stored[0].ETag != localMD5(string(content)) {
		t.Fatalf("parts after the restore: %+v, want part 1 of %d bytes", stored, len(content))
	}
	apiPost[fileResponseOut](t, c, base+"/upload/"+up.File.ID+"/complete", token, "", http.StatusOK)
	dl := apiGet[downloadOut](t, c, base+"/download/"+up.File.ID, token)
	if got := fetch(t, c, dl.URL); !bytes.Equal(got, content) {
		t.Errorf("the file completed after the restore: %d bytes, want %d", len(got), len(content))
	}
}

// TestBackupKeepsMultipartETag: an object joined from parts keeps, in the
// backup, the ETag the store recorded for it and its file record holds
// ("<md5 of the parts' MD5s>-1"), not the plain MD5 of its bytes; after
// the restore Head answers it.
func TestBackupKeepsMultipartETag(t *testing.T) {
	t.Parallel()
	dataDir, backupDir := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	env, base, stop, c, token := startSignedInRun(t, dataDir)
	id := uploadInOnePart(t, c, base, token, "parts.bin", bytes.Repeat([]byte("part\n"), 2000))
	backupTo(t, env, backupDir)
	stop()
	key := objectKeyOf(t, dataDir, id)
	recorded, err := os.ReadFile(filepath.Join(dataDir, "objects", localETagPath(key)))
	if err != nil || !strings.HasSuffix(string(recorded), "-1") {
		t.Fatalf("the store's ETag of a multipart object: %q %v, want one ending -1", recorded, err)
	}
	restored, err := newLocalObjects(filepath.Join(backupDir, "objects"), []byte(testSecretKey), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	st, err := readLocalSnapshot(filepath.Join(backupDir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := restored.Head(t.Context(), key); err != nil || info.ETag != string(recorded) || st.files[id].ETag != string(recorded) {
		t.Errorf("after the restore: Head %+v %v, record's ETag %q; want both %q", info, err, st.files[id].ETag, recorded)
	}
}
