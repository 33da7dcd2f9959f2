package dispatch

import "github.com/parry-soar/parry/internal/store"

// SetBeforeCommit sets the hook that runs at the end of a batch's transaction (tests interleave dispatchers).
func SetBeforeCommit(d *Dispatcher, fn func(alerts []store.Alert) error) { d.beforeCommit = fn }

// SetBeforeLock sets the hook that runs in a batch's transaction before its alerts are locked.
func SetBeforeLock(d *Dispatcher, fn func()) { d.beforeLock = fn }
