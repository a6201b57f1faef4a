//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestInviteAsRootLeavesFilesToTheStoreOwner: `dropp invite` run by root
// (the README's team server: `dropp invite` beside a service running as
// systemd's DynamicUser) leaves the invitations directory and file owned
// by the store's owner, so that the server can read and take them.
func TestInviteAsRootLeavesFilesToTheStoreOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root can give files to another user; this runs as root in CI's container")
	}
	const nobody = 65534
	dataDir := t.TempDir()
	metadata := filepath.Join(dataDir, "metadata")
	if err := os.Mkdir(metadata, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(metadata, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATA_DIR": dataDir, "SIGNIN": "accounts", "PUBLIC_URL": "https://dropp.example.com"}
	var out bytes.Buffer
	if err := runDropp(context.Background(), []string{"dropp", "invite", "you@example.com", "-admin"}, testGetenv(env), &out, &out); err != nil {
		t.Fatalf("dropp invite: %v\n%s", err, out.String())
	}
	invDir := filepath.Join(metadata, localInvitationsDir)
	files, err := os.ReadDir(invDir)
	if err != nil || len(files) != 1 {
		t.Fatalf("invitations: %v, %v; want one file", files, err)
	}
	for _, path := range []string{invDir, filepath.Join(invDir, files[0].Name())} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s is owned by %d:%d, want the store's owner %d:%d", path, st.Uid, st.Gid, nobody, nobody)
		}
	}
}
