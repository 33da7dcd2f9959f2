package cli

import "syscall"

// chaosSysProcAttr makes a soak's server and worker processes die with the bench (Linux: the parent-death
// signal), so an interrupted soak leaves nothing running.
func chaosSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
