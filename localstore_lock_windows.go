package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// Windows constants for LockFileEx, which the syscall package does not
// export (and golang.org/x/sys is not a dependency of the server).
const (
	lockfileFailImmediately = 0x00000001
	lockfileExclusiveLock   = 0x00000002
	errorLockViolation      = syscall.Errno(33) // ERROR_LOCK_VIOLATION
)

// lockFile takes an exclusive lock on the first byte of f without waiting,
// or returns errLocalStoreLocked if another process holds it. Windows drops
// the lock when f's handle is closed or the process dies. kernel32.dll is
// one of Windows' KnownDLLs, so it always loads from the system directory.
func lockFile(f *os.File) error {
	lockFileEx := syscall.NewLazyDLL("kernel32.dll").NewProc("LockFileEx")
	var overlapped syscall.Overlapped // offset 0
	r, _, err := lockFileEx.Call(f.Fd(), lockfileExclusiveLock|lockfileFailImmediately, 0, 1, 0,
		uintptr(unsafe.Pointer(&overlapped)))
	if r != 0 {
		return nil
	}
	if errors.Is(err, errorLockViolation) {
		return errLocalStoreLocked
	}
	return fmt.Errorf("lock: %w", err)
}
