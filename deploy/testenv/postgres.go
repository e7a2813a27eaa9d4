package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables of the test PostgreSQL server.
const (
	EnvPostgres    = "SLUICE_TEST_POSTGRES"     // postgres://sluice:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable, a superuser
	EnvPostgresPID = "SLUICE_TEST_POSTGRES_PID" // to pause/kill the server in failure tests
)

// PostgresEnv is the test PostgreSQL server.
type PostgresEnv struct {
	// AdminURL connects as the superuser to the maintenance database.
	AdminURL string
}

// Postgres returns the test PostgreSQL server. It fails the test when the
// environment is not set up (skips it under -short).
func Postgres(t testing.TB) *PostgresEnv {
	t.Helper()
	return &PostgresEnv{AdminURL: need(t, EnvPostgres)}
}

// NewDatabase creates a database of its own for the test (so tests can run
// in parallel) and returns its URL, with the password in it. The database
// is dropped at cleanup, closing connections left open.
func (e *PostgresEnv) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "sluice_test_" + hex.EncodeToString(b[:])
	if err := e.admin(fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := e.admin(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Logf("cleanup: drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(e.AdminURL)
	if err != nil {
		t.Fatalf("%s is not a URL: %v; run deploy/testenv/test.sh", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the maintenance database.
func (e *PostgresEnv) admin(stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.AdminURL)
	if err != nil {
		return fmt.Errorf("connect to the test PostgreSQL (%s): %w", EnvPostgres, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}
