//go:build !linux

package main

import "syscall"

// dieWithParent has no portable equivalent outside Linux; there a killed
// test run may leave its rig servers behind.
func dieWithParent() *syscall.SysProcAttr { return nil }
