//go:build !linux

package cli

import "syscall"

// chaosSysProcAttr: without a parent-death signal, the bench kills its processes itself when it ends.
func chaosSysProcAttr() *syscall.SysProcAttr { return nil }
