// Package trickle is a client that sends a request body slowly, for the
// tests of servers' body deadlines.
package trickle

import (
	"net"
	"sync"
	"time"
)

// Start writes n spaces to c, one every interval, in the background (until
// a write fails). The returned function stops it and waits for it.
func Start(c net.Conn, n int, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for range n {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
