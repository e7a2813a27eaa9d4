package upkeep

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// clockStore is a store whose objects' modification times follow a fake
// clock: an object's time is the clock's when its Put started. With it,
// every retention comparison — log cleanup's of commit files, VACUUM's of
// data files — is in the clock's time, as the tombstones' deletion times
// already are, so compressed time neither keeps everything (real times
// look young) nor deletes files a writer has not committed yet. It does
// not pass on the local store's sweep of hidden temporary files (their
// real times would all look stale): uploads in flight stay safe.
type clockStore struct {
	objstore.Store
	now func() time.Time

	mu  sync.Mutex
	mod map[string]time.Time
}

func newClockStore(st objstore.Store, now func() time.Time) *clockStore {
	return &clockStore{Store: st, now: now, mod: map[string]time.Time{}}
}

func (s *clockStore) Put(ctx context.Context, key string, r io.Reader, o objstore.PutOptions) error {
	prev, had := s.stamp(key)
	err := s.Store.Put(ctx, key, r, o)
	if err != nil {
		s.unstamp(key, prev, had)
	}
	return err
}

func (s *clockStore) PutIfAbsent(ctx context.Context, key string, r io.Reader, o objstore.PutOptions) error {
	prev, had := s.stamp(key)
	err := s.Store.PutIfAbsent(ctx, key, r, o)
	if err != nil {
		s.unstamp(key, prev, had)
	}
	return err
}

func (s *clockStore) Delete(ctx context.Context, key string) error {
	err := s.Store.Delete(ctx, key)
	if err == nil {
		s.mu.Lock()
		delete(s.mod, key)
		s.mu.Unlock()
	}
	return err
}

func (s *clockStore) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	in, err := s.Store.Stat(ctx, key)
	if err == nil {
		in.ModTime = s.modTime(key, in.ModTime)
	}
	return in, err
}

func (s *clockStore) List(ctx context.Context, prefix, startAfter string) ([]objstore.ObjectInfo, error) {
	infos, err := s.Store.List(ctx, prefix, startAfter)
	for i := range infos {
		infos[i].ModTime = s.modTime(infos[i].Key, infos[i].ModTime)
	}
	return infos, err
}

// stamp dates key now, before its Put: a listing may show the object
// before Put returns, and must not see it undated (real times look old).
// It returns the previous date, for unstamp.
func (s *clockStore) stamp(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, had := s.mod[key]
	s.mod[key] = s.now()
	return prev, had
}

// unstamp restores key's date after a failed Put.
func (s *clockStore) unstamp(key string, prev time.Time, had bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if had {
		s.mod[key] = prev
	} else {
		delete(s.mod, key)
	}
}

// modTime is the clock's time of key, or real for an object written
// around the wrapper.
func (s *clockStore) modTime(key string, real time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.mod[key]; ok {
		return t
	}
	return real
}

// logFiles counts the _delta_log files and their bytes.
func logFiles(ctx context.Context, st objstore.Store) (int, int64, error) {
	infos, err := deltalog.ListLog(ctx, st)
	var n int64
	for _, in := range infos {
		n += in.Size
	}
	return len(infos), n, err
}
