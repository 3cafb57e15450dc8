package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// WithPgx exposes withPgx to the tests.
func (s *Store) WithPgx(ctx context.Context, f func(*pgx.Conn) error) error { return s.withPgx(ctx, f) }

// BadConnTries exposes badConnTries to the tests.
const BadConnTries = badConnTries
