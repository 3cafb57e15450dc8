// Package testdb gives each test its own PostgreSQL database, cloned from a
// template that is migrated once per set of migrations, so packages can run
// in parallel (`go test ./...`) without seeing each other's rows.
//
// The server comes from TEST_DATABASE_URL (default: the local cluster as
// user postgres). With -short, tests that need it are skipped.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/migrations"
)

// DefaultAdminURL is used when TEST_DATABASE_URL is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// New creates an empty-of-rows, fully migrated database for tb, dropped when
// tb ends, and returns its URL.
func New(tb testing.TB) string {
	tb.Helper()
	return create(tb, func(ctx context.Context, admin *sql.DB) string { return ensureTemplate(ctx, tb, admin) })
}

// Empty creates a database with nothing in it, not even evpush's tables, for
// tb, dropped when tb ends: for tests of what a first start creates, or of
// starting beside another service's tables.
func Empty(tb testing.TB) string {
	tb.Helper()
	return create(tb, func(context.Context, *sql.DB) string { return "template0" })
}

// create makes a database from the template that template names, and drops
// it when tb ends.
func create(tb testing.TB, template func(context.Context, *sql.DB) string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs PostgreSQL; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := open(tb, AdminURL())
	defer admin.Close()
	tpl := template(ctx, admin)
	name := fmt.Sprintf("evpush_t_%d_%s", time.Now().UnixNano(), randHex(3))
	stmt := fmt.Sprintf(`CREATE DATABASE %q TEMPLATE %q`, name, tpl)
	for attempt := 0; ; attempt++ {
		_, err := admin.ExecContext(ctx, stmt)
		if err == nil {
			break
		}
		// 55006: another test is copying the same template right now.
		if !isCode(err, "55006") || attempt > 50 {
			tb.Fatalf("testdb: %s: %v", stmt, err)
		}
		time.Sleep(time.Duration(20+attempt*10) * time.Millisecond)
	}
	tb.Cleanup(func() {
		a := open(tb, AdminURL())
		defer a.Close()
		if _, err := a.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			tb.Errorf("testdb: dropping %s: %v", name, err)
		}
	})
	return withDatabase(tb, AdminURL(), name)
}

// Open returns a *sql.DB for url, closed when tb ends.
func Open(tb testing.TB, url string) *sql.DB {
	tb.Helper()
	db := open(tb, url)
	tb.Cleanup(func() { db.Close() })
	return db
}

func open(tb testing.TB, url string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	if err := db.Ping(); err != nil {
		tb.Fatalf("testdb: PostgreSQL at TEST_DATABASE_URL is not reachable (start it, or use -short): %v", err)
	}
	return db
}

// ensureTemplate builds the migrated template once per migration set. The
// name carries a hash of the migrations, so a changed migration gets a new
// template; an advisory lock makes concurrent test binaries take turns.
func ensureTemplate(ctx context.Context, tb testing.TB, admin *sql.DB) string {
	tb.Helper()
	tpl := "evpush_tpl_" + migrationsHash(tb)
	conn, err := admin.Conn(ctx)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, tpl); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, tpl)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, tpl).Scan(&exists); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	if exists {
		dropStale(ctx, conn, tpl)
		return tpl
	}
	// Build under another name and rename when done, so a crash half-way
	// never leaves a template that looks finished.
	building := tpl + "_building"
	for _, q := range []string{
		fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, building),
		fmt.Sprintf(`CREATE DATABASE %q`, building),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			tb.Fatalf("testdb: %s: %v", q, err)
		}
	}
	db := open(tb, withDatabase(tb, AdminURL(), building))
	// With the reference charging module's tables: most end-to-end tests
	// drive the flow through it (the tests of running without it use Empty).
	err = postgres.Migrate(ctx, db, queue.Migrate, postgres.MigrateReference)
	db.Close()
	if err != nil {
		tb.Fatalf("testdb: migrating template: %v", err)
	}
	// The comment dates the template: dropStale leaves a template another
	// checkout (another migration set) built recently, since its tests may
	// be running right now.
	for _, q := range []string{
		fmt.Sprintf(`ALTER DATABASE %q RENAME TO %q`, building, tpl),
		fmt.Sprintf(`COMMENT ON DATABASE %q IS 'evpush test template, built %d'`, tpl, time.Now().Unix()),
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			tb.Fatalf("testdb: %s: %v", q, err)
		}
	}
	dropStale(ctx, conn, tpl)
	return tpl
}

// dropStale removes templates of other migration sets built over an hour ago, and test databases
// that an interrupted run (a killed go test) left behind more than a day ago.
// Best effort: a database in use is skipped.
func dropStale(ctx context.Context, conn *sql.Conn, current string) {
	rows, err := conn.QueryContext(ctx, `SELECT datname FROM pg_database d
		WHERE (datname LIKE 'evpush\_tpl\_%' AND datname <> $1 AND datname NOT LIKE '%\_building'
		       AND coalesce(substring(shobj_description(d.oid, 'pg_database') FROM 'built ([0-9]+)$')::bigint, 0) < $3)
		   OR (datname LIKE 'evpush\_t\_%' AND split_part(datname, '_', 3)::numeric < $2)`,
		current, time.Now().Add(-24*time.Hour).UnixNano(), time.Now().Add(-time.Hour).Unix())
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		_, _ = conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q`, n))
	}
}

// migrationsHash fingerprints evpush's SQL files and River's migrations.
func migrationsHash(tb testing.TB) string {
	h := sha256.New()
	for _, files := range []fs.FS{migrations.FS, migrations.ReferenceFS} {
		err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(files, path)
			h.Write([]byte(path))
			h.Write(b)
			return err
		})
		if err != nil {
			tb.Fatalf("testdb: %v", err)
		}
	}
	m, err := rivermigrate.New(riverdatabasesql.New(nil), nil)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	for _, v := range m.AllVersions() {
		fmt.Fprintf(h, "river:%d:%s", v.Version, v.SQLUp)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(tb testing.TB, rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("testdb: TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
