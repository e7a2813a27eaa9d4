package supervisor

import "syscall"

// sysProcAttr puts a worker in its own process group (a terminal's Ctrl-C
// reaches the server, which stops its workers in order) and has the kernel
// send it SIGTERM should the server die without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
