// Package postgres is the persistence adapter: gorm repositories for the
// ports, row↔domain mapping, error translation and migrations.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/evpower/evpush/domain"
)

// DefaultMaxConns is the pool size unless DATABASE_URL sets pool_max_conns.
const DefaultMaxConns = 32

// Connect opens one pgx pool and a database/sql view of the same pool. gorm
// and River's database/sql driver share the *sql.DB, so a gorm transaction
// can carry a River insert; River's listener uses the pgx pool.
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, *sql.DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("error parsing DATABASE_URL: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (4 on 2 cores) starves a hundred delivery workers
		// and River's own queries: every job would queue for a connection.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("error creating database pool: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// database/sql holds on to the pgx connections it uses, idle or not: cap
	// it at half the pool so River's workers (on pgx directly) always find
	// connections. Keep its connections idle rather than closing them after
	// each burst (its default keeps 2).
	half := max(int(cfg.MaxConns)/2, 1)
	db.SetMaxOpenConns(half)
	db.SetMaxIdleConns(half)
	return pool, db, nil
}

// openGorm wraps an existing *sql.DB; gorm never opens connections of its own.
func openGorm(db *sql.DB) (*gorm.DB, error) {
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: db}), &gorm.Config{
		// Errors are returned and logged by the caller with context; gorm's
		// own logger would print SQL with arguments (endpoints, keys).
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		// The caller pings; an unreachable database must surface as
		// domain.ErrUnavailable from the methods, not fail construction.
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("error opening gorm: %w", err)
	}
	return g, nil
}

// translate maps driver errors to domain error kinds at the adapter's edge.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", domain.ErrNotFound, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		// Data exception: input the database cannot store (a NUL character,
		// a number out of range). The caller sent it; it is not our fault.
		return domain.Invalid("body", "holds a value that cannot be stored (e.g. a NUL character or a number out of range)")
	}
	return err
}

// isUnavailable reports errors that mean "the database cannot be reached
// now", as opposed to a bad query: the API answers those with 503.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, crash, starting up
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// A connection cut under an idle pool surfaces as an unexpected EOF.
	return errors.As(err, &connErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.SafeToRetry(err)
}
