package supervisor

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr puts a worker in its own process group (a terminal's Ctrl-C
// reaches the server, which stops its workers in order) and has the kernel
// send it SIGTERM should the server die without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// The parent-death signal fires when the thread that forked the worker
// exits, not the process; so workers are forked from one goroutine locked
// to its thread for the life of the server.
var (
	spawnOnce sync.Once
	spawns    = make(chan spawn)
)

type spawn struct {
	cmd *exec.Cmd
	err chan error
}

// startCmd starts cmd from the spawning thread.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for s := range spawns {
				s.err <- s.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawns <- spawn{cmd, errc}
	return <-errc
}
