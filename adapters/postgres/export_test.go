package postgres

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
)

// WithPgx exposes withPgx to the tests.
func (s *Store) WithPgx(ctx context.Context, f func(*pgx.Conn) error) error { return s.withPgx(ctx, f) }

// BadConnTries exposes badConnTries to the tests.
const BadConnTries = badConnTries

// MigrateTo applies evpush's migrations up to version only: a database as
// an older evpush left it, to test what a later migration does to it.
func MigrateTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
