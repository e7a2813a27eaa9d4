//go:build !unix

package supervisor

import (
	"os"
	"os/exec"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate asks the worker to stop (an interrupt where the platform has one).
func terminate(p *os.Process) {
	if p.Signal(os.Interrupt) != nil {
		p.Kill()
	}
}

func kill(p *os.Process) { p.Kill() }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
