//go:build unix

package sqlite

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with this id runs on this host:
// an import it left pending can be cleared at once.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
