//go:build !unix

package main

// giveToStoreOwner does nothing where files have no Unix owner (Windows):
// see localstore_owner_unix.go.
func giveToStoreOwner(dir string, paths ...string) error { return nil }
