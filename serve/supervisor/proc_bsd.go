//go:build unix && !linux

package supervisor

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a worker in its own process group (a terminal's Ctrl-C
// reaches the server, which stops its workers in order).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
