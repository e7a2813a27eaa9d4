package deltalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/sluice-io/sluice/deltawriter/objstore"
)

// EngineInfo is recorded in every commitInfo Sluice writes.
var EngineInfo = "sluice"

// ErrConflict is wrapped by every *ConflictError.
var ErrConflict = errors.New("concurrent modification")

// ErrTableExists is returned (wrapped) when creating a table whose version 0
// already exists.
var ErrTableExists = errors.New("table already exists")

// ConflictError reports that a concurrent commit made ours invalid: it
// changed the metadata or protocol, advanced one of our application
// transactions, or removed a file we remove. The caller must re-read the table
// and decide again; retrying the same actions would be wrong.
type ConflictError struct {
	Version int64  // the winning commit that conflicts
	Reason  string // what it changed
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("commit conflict with version %d: %s", e.Version, e.Reason)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Operation names a commit and its parameters for commitInfo.
type Operation struct {
	Name string // e.g. "WRITE", "CREATE TABLE", "OPTIMIZE"
	// Parameters are shown by history. Readers (Spark's DESCRIBE HISTORY
	// among them) decode commitInfo.operationParameters as a map of
	// strings, so a list or a number is written as its JSON text (see
	// JSONParam), as Spark does: "partitionBy":"[\"country\"]".
	Parameters map[string]string
}

// JSONParam renders an operation parameter that is not a string (a list of
// columns, a number) as the JSON text Spark writes for it.
func JSONParam(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// maxCommitAttempts bounds the optimistic-concurrency retry loop.
const maxCommitAttempts = 1000

// Commit writes actions as a new table version after read (the snapshot the
// actions were decided on; nil to create the table at version 0). When
// another writer wins the race for a version, Commit reads the winning
// commits, checks them for logical conflicts and retries at the next free
// version, or returns a *ConflictError. It returns the committed version.
func Commit(ctx context.Context, st objstore.Store, read *Snapshot, actions []Action, op Operation) (int64, error) {
	readVersion := int64(-1)
	if read != nil {
		readVersion = read.Version
	}
	body, err := encodeCommit(actions, op, readVersion)
	if err != nil {
		return 0, err
	}
	version := readVersion + 1
	for attempt := 0; ; attempt++ {
		err := st.PutIfAbsent(ctx, CommitKey(version), bytes.NewReader(body), objstore.PutOptions{ContentType: "application/json"})
		if err == nil {
			return version, nil
		}
		if !errors.Is(err, objstore.ErrExists) {
			return 0, fmt.Errorf("commit version %d: %w", version, err)
		}
		if read == nil {
			return 0, fmt.Errorf("create table at %s: %w", st.URI(), ErrTableExists)
		}
		if attempt >= maxCommitAttempts {
			return 0, fmt.Errorf("commit: gave up after %d attempts at versions %d..%d", attempt+1, readVersion+1, version)
		}
		b, err := objstore.ReadAll(ctx, st, CommitKey(version))
		if err != nil {
			return 0, fmt.Errorf("read winning commit %d: %w", version, err)
		}
		winner, err := ParseActions(b)
		if err != nil {
			return 0, fmt.Errorf("read winning commit %d: %w", version, err)
		}
		if err := checkConflict(version, winner, actions); err != nil {
			return 0, err
		}
		version++
		// A little jitter keeps many racing writers from colliding in lockstep.
		if attempt > 2 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Duration(rand.IntN(1+min(attempt, 50))) * time.Millisecond):
			}
		}
	}
}

// checkConflict decides whether winning commit version (already in the log)
// invalidates ours.
func checkConflict(version int64, winner, ours []Action) error {
	ourApps := map[string]bool{}
	ourRemoves := map[string]bool{}
	for _, a := range ours {
		if a.Txn != nil {
			ourApps[a.Txn.AppID] = true
		}
		if a.Remove != nil {
			// As the snapshot does: file:/ and file:/// name the same file.
			ourRemoves[canonicalPath(a.Remove.Path)] = true
		}
	}
	for _, w := range winner {
		switch {
		case w.Protocol != nil:
			return &ConflictError{Version: version, Reason: "the table protocol changed"}
		case w.MetaData != nil:
			return &ConflictError{Version: version, Reason: "the table metadata (schema, partitioning or configuration) changed"}
		case w.Txn != nil && ourApps[w.Txn.AppID]:
			return &ConflictError{Version: version, Reason: fmt.Sprintf("application transaction %q was advanced to version %d", w.Txn.AppID, w.Txn.Version)}
		case w.Remove != nil && ourRemoves[canonicalPath(w.Remove.Path)]:
			return &ConflictError{Version: version, Reason: fmt.Sprintf("file %s was removed concurrently", w.Remove.Path)}
		}
	}
	return nil
}

// encodeCommit renders a commit file: commitInfo first, then the actions.
func encodeCommit(actions []Action, op Operation, readVersion int64) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	blind := readVersion >= 0
	for _, a := range actions {
		if a.Remove != nil || a.MetaData != nil || a.Protocol != nil {
			blind = false
		}
	}
	ci := map[string]any{
		"timestamp":     time.Now().UnixMilli(),
		"operation":     op.Name,
		"engineInfo":    EngineInfo,
		"isBlindAppend": blind,
		"txnId":         uuid.NewString(),
	}
	if op.Parameters != nil {
		ci["operationParameters"] = op.Parameters
	} else {
		ci["operationParameters"] = map[string]string{}
	}
	if readVersion >= 0 {
		ci["readVersion"] = readVersion
		ci["isolationLevel"] = "Serializable"
	}
	if err := enc.Encode(Action{CommitInfo: ci}); err != nil {
		return nil, fmt.Errorf("encode commitInfo: %w", err)
	}
	for i, a := range actions {
		if a.CommitInfo != nil {
			continue
		}
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("action %d: %w", i, err)
		}
		if a.Add != nil && a.Add.PartitionValues == nil {
			// The protocol requires the map, even when empty.
			add := *a.Add
			add.PartitionValues = map[string]*string{}
			a.Add = &add
		}
		if err := enc.Encode(a); err != nil {
			return nil, fmt.Errorf("encode action %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// History returns the commitInfo of versions from..to (inclusive), newest
// first, as stored (Sluice adds "version").
func History(ctx context.Context, st objstore.Store, from, to int64) ([]map[string]any, error) {
	var out []map[string]any
	for v := to; v >= from && v >= 0; v-- {
		b, err := objstore.ReadAll(ctx, st, CommitKey(v))
		if errors.Is(err, objstore.ErrNotExist) {
			break // older commits were cleaned up
		}
		if err != nil {
			return nil, fmt.Errorf("history version %d: %w", v, err)
		}
		acts, err := ParseActions(b)
		if err != nil {
			return nil, fmt.Errorf("history version %d: %w", v, err)
		}
		ci := map[string]any{}
		for _, a := range acts {
			if a.CommitInfo != nil {
				ci = a.CommitInfo
				break
			}
		}
		ci["version"] = v
		out = append(out, ci)
	}
	return out, nil
}
