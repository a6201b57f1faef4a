//go:build unix

package main

import (
	"os"
	"syscall"
)

// giveToStoreOwner hands paths to the owner of the store's directory dir
// when this process runs as root and the store belongs to another user.
// `dropp invite`, run by root beside a server that runs as a user of its
// own (systemd's DynamicUser in deploy/dropp.service), must leave
// invitation files that server can read and remove.
func giveToStoreOwner(dir string, paths ...string) error {
	if os.Geteuid() != 0 {
		return nil // the files are ours, as the store is, or we could not write there
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	owner, ok := info.Sys().(*syscall.Stat_t)
	if !ok || owner.Uid == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, int(owner.Uid), int(owner.Gid)); err != nil {
			return err
		}
	}
	return nil
}
