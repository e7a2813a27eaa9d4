package leader

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-io/sluice/deploy/testenv"
)

func pgElector(t *testing.T, dbURL string) *Postgres {
	return &Postgres{Dial: func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, dbURL) },
		Retry: 100 * time.Millisecond, Check: 200 * time.Millisecond}
}

// TestPostgresOneLeader: of two electors on one database exactly one
// leads; when the leader's session ends (its backend terminated, as when
// the connection breaks), its term is lost within the check interval and
// the other leads within its retry; a resigned term hands over at once.
func TestPostgresOneLeader(t *testing.T) {
	dbURL := testenv.Postgres(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := pgElector(t, dbURL), pgElector(t, dbURL)
	ta, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Term, 1)
	go func() {
		tb, err := b.Campaign(ctx)
		if err == nil {
			got <- tb
		}
	}()
	select {
	case <-got:
		t.Fatal("a second elector leads while the first holds the lock")
	case <-time.After(time.Second):
	}

	// The leader's session is ended from outside.
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	start := time.Now()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid::bigint = $1 AND granted`, LockKey&0xffffffff); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ta.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the terminated leader's term was not lost within 5s")
	}
	var tb Term
	select {
	case tb = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the other elector did not lead within 5s of the leader's session ending")
	}
	t.Logf("lost and taken over in %v", time.Since(start).Round(time.Millisecond))
	if err := ta.Resign(ctx); err != nil {
		t.Errorf("resign a lost term: %v", err)
	}

	// b resigns: a leads again at once.
	if err := tb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	ta2, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ta2.Resign(ctx)
}

// TestRunStopsWorkOnLoss: Run's work gets a context canceled with cause
// ErrLost when the term is lost, and with context.Canceled when Run's
// context ends; Status follows.
func TestRunStopsWorkOnLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose bool
		want error
	}{
		{"term lost", true, ErrLost},
		{"server stops", false, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &fakeElector{terms: make(chan *fakeTerm, 2)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			causes := make(chan error, 2)
			var st Status
			started := make(chan struct{}, 2)
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, e, func(ctx context.Context) error {
					started <- struct{}{}
					<-ctx.Done()
					causes <- context.Cause(ctx)
					return nil
				}, &st, nil)
			}()
			term := &fakeTerm{lost: make(chan struct{})}
			e.terms <- term
			<-started
			if st.State() != Leading {
				t.Errorf("state %s while working, want leader", st.State())
			}
			if tc.lose {
				close(term.lost)
			} else {
				cancel()
			}
			if got := <-causes; got != tc.want {
				t.Errorf("work's cause %v, want %v", got, tc.want)
			}
			if tc.lose {
				// Campaigning again: a follower until the next term.
				time.Sleep(50 * time.Millisecond)
				if st.State() != Follower {
					t.Errorf("state %s after the loss, want follower", st.State())
				}
				cancel()
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if term.resigned == tc.lose {
				t.Errorf("resigned %v, want %v (a lost term is not resigned)", term.resigned, !tc.lose)
			}
		})
	}
}

type fakeElector struct{ terms chan *fakeTerm }

func (e *fakeElector) Campaign(ctx context.Context) (Term, error) {
	select {
	case t := <-e.terms:
		return t, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type fakeTerm struct {
	lost     chan struct{}
	resigned bool
}

func (t *fakeTerm) Lost() <-chan struct{}        { return t.lost }
func (t *fakeTerm) Resign(context.Context) error { t.resigned = true; return nil }
