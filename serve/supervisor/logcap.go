package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	maxLineBytes  = 64 << 10 // longer lines are cut for error detection (the file keeps them)
	maxErrorBytes = 1000     // LastError is cut to this
)

// logCapture is a worker's stdout and stderr: written to its log file
// (rotated to .1 past a size) and read line by line for the last error.
// Writes never fail, so a full disk cannot kill the worker through its pipe.
type logCapture struct {
	mu      sync.Mutex
	path    string
	max     int64
	f       *os.File
	size    int64
	partial []byte
	last    string
	inError bool // the previous line was a plain-text error, so indented lines continue it
}

func openLog(path string, max int64) (*logCapture, error) {
	l := &logCapture{path: path, max: max}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logCapture) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("worker log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("worker log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p to the log file and scans it for error lines.
func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	l.writeFile(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = appendCapped(l.partial, p)
			break
		}
		l.partial = appendCapped(l.partial, p[:i])
		l.line(l.partial)
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func appendCapped(dst, p []byte) []byte {
	if room := maxLineBytes - len(dst); len(p) > room {
		p = p[:max(room, 0)]
	}
	return append(dst, p...)
}

// writeFile writes to the log file, rotating it first when it would pass
// max. Errors are dropped: the log is best effort.
func (l *logCapture) writeFile(p []byte) {
	if l.f == nil {
		return
	}
	if l.max > 0 && l.size > 0 && l.size+int64(len(p)) > l.max {
		l.f.Close()
		l.f = nil
		os.Rename(l.path, l.path+".1")
		if l.open() != nil {
			return
		}
	}
	n, _ := l.f.Write(p)
	l.size += int64(n)
}

// note writes a line of the supervisor's own into the log file (not read as
// an error).
func (l *logCapture) note(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeFile([]byte(time.Now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, args...) + "\n"))
}

// line looks at one complete line: a JSON log record at level ERROR, or a
// plain-text line (what `sluice worker` prints when it exits with an error,
// or a panic), is an error line; indented plain lines continue one.
func (l *logCapture) line(b []byte) {
	s := strings.TrimRight(string(b), "\r")
	if strings.TrimSpace(s) == "" {
		return
	}
	if s[0] == '{' {
		l.inError = false
		var rec map[string]any
		if json.Unmarshal([]byte(s), &rec) != nil {
			l.setLast(s)
			return
		}
		if lv, _ := rec["level"].(string); lv != "ERROR" {
			return
		}
		msg, _ := rec["msg"].(string)
		for _, k := range []string{"err", "error"} {
			if e, ok := rec[k]; ok {
				msg += ": " + fmt.Sprint(e)
				break
			}
		}
		l.setLast(msg)
		return
	}
	if (s[0] == ' ' || s[0] == '\t') && l.inError {
		l.setLast(l.last + " " + strings.TrimSpace(s))
		return
	}
	l.setLast(strings.TrimSpace(s))
	l.inError = true
}

func (l *logCapture) setLast(s string) {
	if len(s) > maxErrorBytes {
		s = strings.ToValidUTF8(s[:maxErrorBytes], "") + "..."
	}
	l.last = s
}

// lastError returns the last error line seen.
func (l *logCapture) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 { // an unterminated last line counts too
		l.line(l.partial)
		l.partial = l.partial[:0]
	}
	return l.last
}

// Close closes the log file.
func (l *logCapture) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
