//go:build unix && !linux

package supervisor

import "syscall"

// sysProcAttr puts a worker in its own process group (a terminal's Ctrl-C
// reaches the server, which stops its workers in order).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
