package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog/object"
)

func TestJSONLSinkConcurrentAppend(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond, DefaultSyncInterval} {
		t.Run(interval.String(), func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(file, []byte(`{"earlier":"line"}`+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			sink, err := NewJSONLSink(file, WithSyncInterval(interval))
			if err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 50
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						sink.Record(Event{Time: time.Unix(int64(i), 0).UTC(), Principal: "user:alice", Action: ActionSelect,
							Path: "sales.eu.orders", Reason: "missing SELECT on table sales.eu.orders (or an ancestor)", Revision: "r", LatencyMicros: int64(w)})
					}
				}()
			}
			wg.Wait()
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
			sink.Record(Event{}) // after Close: dropped, no panic
			if sink.Dropped() != 1 || sink.Err() != nil {
				t.Fatalf("dropped %d, err %v", sink.Dropped(), sink.Err())
			}

			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			lines := 0
			for sc.Scan() {
				lines++
				if lines == 1 {
					continue // appended to, not truncated
				}
				var e Event
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Path != "sales.eu.orders" {
					t.Fatalf("line %d: %q: %v", lines, sc.Text(), err)
				}
			}
			if lines != 1+writers*each {
				t.Fatalf("%d lines, want %d", lines, 1+writers*each)
			}
			if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v", fi.Mode())
			}
		})
	}
}

// TestAuditEventCarriesNoSecrets: an event's JSON has exactly the documented
// keys; roles, grants and anything else in the request stay out.
func TestAuditEventCarriesNoSecrets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	sink, err := NewJSONLSink(file)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(context.Background(), WithSink(sink))
	if err != nil {
		t.Fatal(err)
	}
	req := Request{
		Principal: Principal{Kind: PrincipalRecipient, Name: "acme", Roles: []string{"secret-role-name"}},
		Action:    ActionSelect,
		Path: []Node{{Kind: object.KindShare, Name: "q3", Recipients: []string{"acme"}, Grants: []Grant{
			{Role: "secret-role-name", Privilege: "SELECT"}, {Role: "hidden-grantee", Privilege: "ALL"},
		}}},
	}
	if d, err := eng.Decide(context.Background(), req); err != nil || !d.Allow {
		t.Fatalf("%+v, %v", d, err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"action", "allow", "latency_us", "path", "principal", "revision", "time"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, s := range []string{"secret-role-name", "hidden-grantee"} {
		if strings.Contains(string(b), s) {
			t.Fatalf("audit line holds %q: %s", s, b)
		}
	}
	if m["principal"] != "recipient:acme" || m["path"] != "q3" {
		t.Fatalf("event %s", b)
	}
}

func TestJSONLSinkOpenError(t *testing.T) {
	if _, err := NewJSONLSink(filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")); err == nil {
		t.Fatal("opened a file in a missing directory")
	}
}
