// Package syncbuf is a byte buffer that one goroutine may read while
// others write to it: a server's log or a process's output under test.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes. Offsets (Len, Since) count every byte ever
// written, so they stay valid when Max drops old output. The zero value is
// ready to use and keeps everything.
type Buffer struct {
	// Max, when positive, bounds what is kept: once more than Max bytes are
	// held, the older half is dropped.
	Max int

	mu      sync.Mutex
	b       bytes.Buffer
	dropped int // bytes dropped from the front
}

// Write appends p. It never fails.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.Max > 0 && s.b.Len() > s.Max {
		n := s.b.Len() - s.Max/2
		s.b.Next(n)
		s.dropped += n
	}
	return len(p), nil
}

// Len is the number of bytes written so far.
func (s *Buffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped + s.b.Len()
}

// String returns what the buffer holds.
func (s *Buffer) String() string { return s.Since(0) }

// Since returns the output from offset start (a value of Len) on, or what
// is still held of it.
func (s *Buffer) Since(start int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	start = min(max(start-s.dropped, 0), s.b.Len())
	return string(s.b.Bytes()[start:])
}

// Tail returns the last n bytes held.
func (s *Buffer) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return string(b[max(0, len(b)-n):])
}
