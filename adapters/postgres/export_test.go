package postgres

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
)

// WithPgx exposes withPgx to the tests.
func (s *Store) WithPgx(ctx context.Context, f func(*pgx.Conn) error) error { return s.withPgx(ctx, f) }

// Rollback reverts every evpush migration (River's tables are left alone),
// for the test that every migration has a working Down.
func Rollback(ctx context.Context, db *sql.DB) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, 0)
	return err
}

// BadConnTries exposes badConnTries to the tests.
const BadConnTries = badConnTries
