// Package queue is the River adapter: River's migrations, job args (a stable
// JSON contract), workers, and the enqueue-in-your-transaction API for the
// charging service.
package queue

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// Migrate applies River's own migrations (river_job and friends). It is
// idempotent; run it under postgres.Migrate's lock, as River takes none.
func Migrate(ctx context.Context, db *sql.DB) error {
	m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		return fmt.Errorf("error creating River migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error applying River migrations: %w", err)
	}
	return nil
}
