package main

import "syscall"

// dieWithParent makes the kernel kill a rig server when the test binary
// dies, even by SIGKILL or a -timeout panic that skips TestMain's cleanup.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
