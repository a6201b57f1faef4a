package main

import "errors"

// errLocalStoreLocked: another process has the store's directory open.
// lockFile returns it on every platform, so the message is the same.
var errLocalStoreLocked = errors.New("in use by another Dropp process: stop that server, or give this one its own DATA_DIR")
