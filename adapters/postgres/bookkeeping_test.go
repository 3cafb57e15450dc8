package postgres_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/testdb"
)

// TestBookTx: an event's bookkeeping is written inside the caller's
// transaction, and only what it names changes.
func TestBookTx(t *testing.T) {
	t.Parallel()
	dsn := testdb.New(t)
	b := connect(t, dsn)
	conn, err := pgx.Connect(b.ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(b.ctx) })

	ok := b.upsert(t, newSub(t, "user-a", domain.UserTypeClient, newEndpoint()))
	failing := b.upsert(t, newSub(t, "user-a", domain.UserTypeClient, newEndpoint()))
	gone := b.upsert(t, newSub(t, "user-b", domain.UserTypeClient, newEndpoint()))
	moved := b.upsert(t, newSub(t, "user-b", domain.UserTypeClient, newEndpoint()))
	untouched := b.upsert(t, newSub(t, "user-c", domain.UserTypeClient, newEndpoint()))
	require.NoError(t, b.store.RecordResult(b.ctx, ok.ID, false, time.Now()))
	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond)

	// The moved device re-subscribed on another endpoint since it was
	// sent to: its row stays.
	stale := moved
	stale.Endpoint = newEndpoint()
	book := domain.Bookkeeping{Gone: []domain.Subscription{gone, stale}, Succeeded: []string{ok.ID}, Failed: []string{failing.ID}, At: at}

	// Rolled back: nothing is written.
	tx, err := conn.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.store.BookTx(b.ctx, tx, book))
	require.NoError(t, tx.Rollback(b.ctx))
	require.Equal(t, 5, b.count(t, "true"))
	require.Equal(t, 1, b.count(t, "failure_count = 1 AND id = $1", ok.ID))

	tx, err = conn.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.store.BookTx(b.ctx, tx, book))
	require.NoError(t, b.store.BookTx(b.ctx, tx, domain.Bookkeeping{}), "nothing to write is no statement")
	require.NoError(t, tx.Commit(b.ctx))

	require.Zero(t, b.count(t, "id = $1", gone.ID))
	require.Equal(t, 1, b.count(t, "id = $1", moved.ID))
	got, err := b.store.Get(b.ctx, ok.ID)
	require.NoError(t, err)
	require.Zero(t, got.FailureCount)
	require.NotNil(t, got.LastSuccessAt)
	require.True(t, at.Equal(*got.LastSuccessAt))
	require.Equal(t, 1, b.count(t, "failure_count = 1 AND last_success_at IS NULL AND id = $1", failing.ID))
	require.Equal(t, 1, b.count(t, "failure_count = 0 AND last_success_at IS NULL AND id = $1", untouched.ID))
}

// TestConcurrentBookTxDoesNotDeadlock: event jobs that finish at once write
// outcomes of overlapping devices (a station owner's, in a burst), each its
// own mix of successes and failures. None may fail: PostgreSQL aborts a
// deadlocked transaction, and River then resends that whole event to every
// device, a duplicate on each.
func TestConcurrentBookTxDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	dsn := testdb.New(t)
	b := connect(t, dsn)
	pool, err := pgxpool.New(b.ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var ids []string
	for range 8 {
		ids = append(ids, b.upsert(t, newSub(t, "owner-1", domain.UserTypeOwner, newEndpoint())).ID)
	}

	// Each deadlock costs PostgreSQL's deadlock_timeout (1 s) to find, so
	// the first error ends the test.
	const jobs, rounds = 8, 30
	errs := make(chan error, jobs*rounds)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			for range rounds {
				if stop.Load() {
					return
				}
				book := domain.Bookkeeping{At: time.Now()}
				for _, i := range rand.Perm(len(ids)) {
					if rand.IntN(2) == 0 {
						book.Succeeded = append(book.Succeeded, ids[i])
					} else {
						book.Failed = append(book.Failed, ids[i])
					}
				}
				tx, err := pool.Begin(b.ctx)
				if err == nil {
					if err = b.store.BookTx(b.ctx, tx, book); err == nil {
						err = tx.Commit(b.ctx)
					}
					_ = tx.Rollback(b.ctx)
				}
				if err != nil {
					stop.Store(true)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
