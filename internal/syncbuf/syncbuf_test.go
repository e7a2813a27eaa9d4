package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	b.Write([]byte("hello "))
	off := b.Len()
	b.Write([]byte("world"))
	if got := b.Since(off); got != "world" {
		t.Errorf("Since(%d) = %q, want world", off, got)
	}
	if got := b.String(); got != "hello world" {
		t.Errorf("String = %q", got)
	}
	if got := b.Tail(3); got != "rld" {
		t.Errorf("Tail(3) = %q", got)
	}
	if got := b.Tail(100); got != "hello world" {
		t.Errorf("Tail(100) = %q", got)
	}
}

// TestBufferMax: past Max the oldest output goes, offsets still count every
// byte written, and an offset into what was dropped yields what is left.
func TestBufferMax(t *testing.T) {
	b := Buffer{Max: 10}
	b.Write([]byte("0123456789"))
	b.Write([]byte("abcd"))
	if b.Len() != 14 {
		t.Fatalf("Len = %d, want 14", b.Len())
	}
	held := b.String()
	if len(held) > 10 || !strings.HasSuffix(held, "abcd") {
		t.Fatalf("held %q: want at most 10 bytes ending in abcd", held)
	}
	if got := b.Since(12); got != "cd" {
		t.Errorf("Since(12) = %q, want cd", got)
	}
	if got := b.Since(0); got != held {
		t.Errorf("Since(0) = %q, want all that is held (%q)", got, held)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if b.Len() != 800 {
		t.Fatalf("Len = %d, want 800", b.Len())
	}
}
