package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/evpower/evpush/migrations"
)

// migrateLockKey is the advisory lock that serializes migrations across
// instances: River's migrator takes no lock of its own.
const migrateLockKey = 7_463_210_001

// Step is one extra migration run under the same lock (River's).
type Step func(ctx context.Context, db *sql.DB) error

// Migrate applies pending migrations: first each step (River's tables), then
// evpush's own SQL files. Safe when several instances start at once: they
// take turns on an advisory lock and the later ones find nothing to do.
func Migrate(ctx context.Context, db *sql.DB, steps ...Step) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("error connecting for migrations: %w", translate(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("error taking the migration lock: %w", translate(err))
	}
	defer func() {
		// A fresh context: the lock must be released even if ctx was cancelled.
		_, unlockErr := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLockKey)
		err = errors.Join(err, unlockErr)
	}()
	for _, step := range steps {
		if err := step(ctx, db); err != nil {
			return err
		}
	}
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("error applying evpush migrations: %w", err)
	}
	return nil
}

// MigrateTo applies evpush's own migrations up to version only, leaving a
// database as an older evpush left it: for upgrade tests, and for an
// operator staging an upgrade by hand. River's tables are not touched.
func MigrateTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("error applying evpush migrations up to %d: %w", version, err)
	}
	return nil
}

// HasPending reports whether some of evpush's own migrations are not
// applied yet: readiness waits until they are.
func HasPending(ctx context.Context, db *sql.DB) (bool, error) {
	p, err := provider(db)
	if err != nil {
		return false, err
	}
	return p.HasPending(ctx)
}

func provider(db *sql.DB) (*goose.Provider, error) {
	return newProvider(db, migrations.FS, "evpush_schema_migrations")
}

func newProvider(db *sql.DB, files fs.FS, table string) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithTableName(table),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("error loading migrations: %w", err)
	}
	return p, nil
}

// MigrateReference is the Step that creates the reference charging module's
// tables (stations, charging_sessions). Only `REFERENCE_CHARGING=true` runs
// it: otherwise those tables are the charging service's, and evpush neither
// creates, alters nor drops them.
func MigrateReference(ctx context.Context, db *sql.DB) error {
	files, err := fs.Sub(migrations.ReferenceFS, "reference")
	if err != nil {
		return fmt.Errorf("error loading reference migrations: %w", err)
	}
	p, err := newProvider(db, files, "evpush_reference_migrations")
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("error applying the reference charging module's migrations: %w", err)
	}
	return nil
}
