//go:build unix

package supervisor

import (
	"os"
	"syscall"
)

// terminate sends SIGTERM to the worker's process group.
func terminate(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill sends SIGKILL to the worker's process group.
func kill(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGKILL) }
