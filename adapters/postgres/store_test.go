package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/storecontract"
	"github.com/evpower/evpush/test/testdb"
)

// bundle is one test's store on a database of its own.
type bundle struct {
	store *postgres.Store
	db    *sql.DB
	ctx   context.Context
}

// setup opens a fresh migrated database through database/sql (testdb.Open).
func setup(tb testing.TB) bundle {
	tb.Helper()
	db := testdb.Open(tb, testdb.New(tb))
	store, err := postgres.NewStore(db)
	require.NoError(tb, err)
	b := bundle{store: store, db: db, ctx: context.Background()}
	b.settle(tb)
	return b
}

// settle stores a current VAPID key, testKeyID, for subscriptions to bind to.
func (b bundle) settle(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, b.store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(tb)))
}

// testKeyID is the current key's ID in a settled test database: the
// placeholder row migration 0003 makes on an empty table, filled (until
// settled the placeholder, so subscriptions can bind to it either way).
const testKeyID = storecontract.KeyID

// setupConnect opens a fresh migrated database the way the service does
// (postgres.Connect: one pgx pool shared with database/sql).
func setupConnect(tb testing.TB) bundle {
	tb.Helper()
	b := connect(tb, testdb.New(tb))
	b.settle(tb)
	return b
}

func connect(tb testing.TB, dsn string) bundle {
	tb.Helper()
	pool, db, err := postgres.Connect(context.Background(), dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = db.Close()
		pool.Close()
	})
	store, err := postgres.NewStore(db)
	require.NoError(tb, err)
	return bundle{store: store, db: db, ctx: context.Background()}
}

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(tb, err)
	return b
}

// newEndpoint and newSub are the contract suite's, so both build
// subscriptions one way.
var (
	newEndpoint = storecontract.NewEndpoint
	newSub      = storecontract.NewSub
)

func (b bundle) upsert(tb testing.TB, s domain.Subscription) domain.Subscription {
	tb.Helper()
	stored, _, err := b.store.Upsert(b.ctx, s, 0)
	require.NoError(tb, err)
	return stored
}

func (b bundle) count(tb testing.TB, where string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, b.db.QueryRowContext(b.ctx, "SELECT count(*) FROM push_subscriptions WHERE "+where, args...).Scan(&n))
	return n
}

// retryable is an error pgx reports when nothing was sent (pgconn.SafeToRetry).
type retryable struct{}

func (retryable) Error() string     { return "connection broke before the statement was sent" }
func (retryable) SafeToRetry() bool { return true }

// TestWithPgxRetriesBrokenConnections: a statement whose connection broke
// before it was sent is tried again on another connection, as database/sql
// does, and the broken ones are dropped; past the tries the error means
// the database is unavailable (503).
func TestWithPgxRetriesBrokenConnections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var conns []*pgx.Conn
	err := b.store.WithPgx(b.ctx, func(c *pgx.Conn) error {
		conns = append(conns, c)
		if len(conns) < postgres.BadConnTries {
			return retryable{}
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, conns, postgres.BadConnTries)
	require.NotSame(t, conns[0], conns[1], "the broken connection is not used again")

	tries := 0
	err = b.store.WithPgx(b.ctx, func(*pgx.Conn) error { tries++; return retryable{} })
	require.ErrorIs(t, err, driver.ErrBadConn)
	require.Equal(t, postgres.BadConnTries, tries)
	_, _, err = b.store.Upsert(b.ctx, newSub(t, "u", domain.UserTypeClient, newEndpoint()), 0)
	require.NoError(t, err, "the store works on fresh connections")
}

// TestUpsertConcurrentOneRow: many users subscribing one endpoint at once with
// its keys (the same browser profile) end in one row that all of them saw.
func TestUpsertConcurrentOneRow(t *testing.T) {
	t.Parallel()
	b := setupConnect(t)
	endpoint := newEndpoint()
	keys := newSub(t, "", domain.UserTypeClient, endpoint)

	const n = 20
	ids := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		s := newSub(t, fmt.Sprintf("user-%d", i), domain.UserTypeClient, endpoint)
		s.P256dh, s.Auth = keys.P256dh, keys.Auth
		wg.Go(func() {
			var st domain.Subscription
			st, created[i], errs[i] = b.store.Upsert(b.ctx, s, 0)
			ids[i] = st.ID
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], ids[i])
		if created[i] {
			nCreated++
		}
	}
	require.Equal(t, 1, nCreated, "exactly one upsert creates the row")
	require.Equal(t, 1, b.count(t, "endpoint = $1", endpoint))
	require.Equal(t, 1, b.count(t, "true"))
}

// TestUpsertConcurrentFightOverOneEndpoint: users with keys of their own race
// for one fresh endpoint. The first to insert keeps it; everyone else is
// refused, and the row holds the winner's keys.
func TestUpsertConcurrentFightOverOneEndpoint(t *testing.T) {
	t.Parallel()
	b := setupConnect(t)
	endpoint := newEndpoint()

	const n = 20
	subs := make([]domain.Subscription, n)
	stored := make([]domain.Subscription, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		subs[i] = newSub(t, fmt.Sprintf("user-%d", i), domain.UserTypeClient, endpoint)
		wg.Go(func() { stored[i], created[i], errs[i] = b.store.Upsert(b.ctx, subs[i], 0) })
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] == nil {
			require.Equal(t, -1, winner, "one winner only")
			require.True(t, created[i])
			winner = i
			continue
		}
		require.ErrorIs(t, errs[i], domain.ErrEndpointTaken)
	}
	require.NotEqual(t, -1, winner)
	got, err := b.store.Get(b.ctx, stored[winner].ID)
	require.NoError(t, err)
	require.Equal(t, subs[winner].UserID, got.UserID)
	require.Equal(t, subs[winner].P256dh, got.P256dh)
	require.Equal(t, subs[winner].Auth, got.Auth)
	require.Equal(t, 1, b.count(t, "true"))
}

func TestPing(t *testing.T) {
	t.Parallel()
	require.NoError(t, setup(t).store.Ping(context.Background()))
}

// proxy is a loopback TCP relay to the test database that can be cut, so a
// Store built while the database answered can lose it afterwards.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(tb testing.TB, target string) *proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	p := &proxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	tb.Cleanup(p.cut)
	return p
}

// cut closes the listener and every relayed connection: the port is closed.
func (p *proxy) cut() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func requireAllUnavailable(tb testing.TB, store *postgres.Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := store.ListByUser(ctx, "user-a")
	require.ErrorIs(tb, err, domain.ErrUnavailable)
	_, _, err = store.ListForRecipients(ctx, []domain.Recipient{{UserID: "user-a", UserType: domain.UserTypeClient}})
	require.ErrorIs(tb, err, domain.ErrUnavailable)
	_, err = store.Preferences(ctx, "user-a", domain.UserTypeClient)
	require.ErrorIs(tb, err, domain.ErrUnavailable)
	require.ErrorIs(tb, store.SetPreferences(ctx, "user-a", domain.UserTypeClient,
		[]domain.PrefSetting{{Pref: domain.KindPref(domain.TypeChargingStarted)}}), domain.ErrUnavailable)
	_, err = store.Get(ctx, "00000000-0000-0000-0000-000000000000")
	require.ErrorIs(tb, err, domain.ErrUnavailable)

	_, _, err = store.Upsert(ctx, newSub(tb, "user-a", domain.UserTypeClient, newEndpoint()), 0)
	require.ErrorIs(tb, err, domain.ErrUnavailable)

	require.ErrorIs(tb, store.DeleteForUser(ctx, "user-a", "https://x"), domain.ErrUnavailable)
	require.ErrorIs(tb, store.Delete(ctx, "00000000-0000-0000-0000-000000000000", "https://x"), domain.ErrUnavailable)
	require.ErrorIs(tb, store.RecordResult(ctx, "00000000-0000-0000-0000-000000000000", true, time.Now()), domain.ErrUnavailable)

	require.ErrorIs(tb, store.Settle(ctx, domain.VAPIDKeys{}, domain.VAPIDKeys{PublicKey: "p", PrivateKey: "k"}), domain.ErrUnavailable)
	_, err = store.Keys(ctx)
	require.ErrorIs(tb, err, domain.ErrUnavailable)
	_, err = store.KeyUsage(ctx)
	require.ErrorIs(tb, err, domain.ErrUnavailable)

	require.ErrorIs(tb, store.Ping(ctx), domain.ErrUnavailable)
}

// proxied returns a DSN for a fresh test database reached through a proxy.
func proxied(tb testing.TB) (string, *proxy) {
	tb.Helper()
	u, err := url.Parse(testdb.New(tb))
	require.NoError(tb, err)
	p := newProxy(tb, u.Host)
	u.Host = p.addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String(), p
}

// TestUnavailableClosedPort: a Store whose database port is closed answers
// domain.ErrUnavailable from every method, so the API says 503.
//
// The Store is built while the port is still open and keeps no idle
// connection: postgres.NewStore itself cannot be built on a closed port (gorm
// pings on open; see the report), so the literal "postgres.Connect to
// 127.0.0.1:1, then NewStore" case is left out.
func TestUnavailableClosedPort(t *testing.T) {
	t.Parallel()
	t.Run("Connect", func(t *testing.T) {
		t.Parallel()
		dsn, p := proxied(t)
		pool, db, err := postgres.Connect(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = db.Close()
			pool.Close()
		})
		db.SetMaxIdleConns(0)
		store, err := postgres.NewStore(db)
		require.NoError(t, err)
		pool.Reset()
		p.cut()
		requireAllUnavailable(t, store)
	})
	t.Run("sql.Open", func(t *testing.T) {
		t.Parallel()
		dsn, p := proxied(t)
		db := testdb.Open(t, dsn)
		db.SetMaxIdleConns(0)
		store, err := postgres.NewStore(db)
		require.NoError(t, err)
		p.cut()
		requireAllUnavailable(t, store)
	})
}

// TestUnavailableConnectionDropped: the database goes away while the pool
// holds open connections. Every call fails, and once the dead connections
// are gone the errors are domain.ErrUnavailable. (The first call currently
// reports a bare "unexpected EOF", not ErrUnavailable: see the report.)
func TestUnavailableConnectionDropped(t *testing.T) {
	t.Parallel()
	dsn, p := proxied(t)
	b := connect(t, dsn)
	require.NoError(t, b.store.Ping(b.ctx))
	_, err := b.store.ListByUser(b.ctx, "user-a")
	require.NoError(t, err)

	p.cut()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unavailable := false
	for range 5 {
		_, err := b.store.ListByUser(ctx, "user-a")
		require.Error(t, err)
		if errors.Is(err, domain.ErrUnavailable) {
			unavailable = true
			break
		}
	}
	require.True(t, unavailable, "never reported domain.ErrUnavailable")
	requireAllUnavailable(t, b.store)
}

func TestMigrateConcurrentIdempotent(t *testing.T) {
	t.Parallel()
	b := setupConnect(t)
	pending, err := postgres.HasPending(b.ctx, b.db)
	require.NoError(t, err)
	require.False(t, pending, "testdb databases are migrated")

	migrateTwice(t, b.db)
	b.settle(t)

	pending, err = postgres.HasPending(b.ctx, b.db)
	require.NoError(t, err)
	require.False(t, pending)
	require.NoError(t, b.store.Ping(b.ctx))
}

// TestMigrateEmptyDatabase migrates a database that has no tables yet, from
// two callers at once, as two instances starting together would.
func TestMigrateEmptyDatabase(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	admin := testdb.Open(t, testdb.AdminURL())
	name := fmt.Sprintf("evpush_migtest_%d", time.Now().UnixNano())
	_, err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %q`, name))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name))
		require.NoError(t, err)
	})
	u, err := url.Parse(testdb.AdminURL())
	require.NoError(t, err)
	u.Path = "/" + name
	b := connect(t, u.String())

	pending, err := postgres.HasPending(b.ctx, b.db)
	require.NoError(t, err)
	require.True(t, pending)

	migrateTwice(t, b.db)

	pending, err = postgres.HasPending(b.ctx, b.db)
	require.NoError(t, err)
	require.False(t, pending)
	s := b.upsert(t, newSub(t, "user-a", domain.UserTypeClient, newEndpoint()))
	require.NotEmpty(t, s.ID)
	var riverTables int
	require.NoError(t, b.db.QueryRowContext(b.ctx,
		`SELECT count(*) FROM information_schema.tables WHERE table_name = 'river_job'`).Scan(&riverTables))
	require.Equal(t, 1, riverTables)
}

func migrateTwice(tb testing.TB, db *sql.DB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, db, queue.Migrate) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(tb, err)
	}
}

// BenchmarkUpsert is the subscribe path's one statement, through a Store
// built as the service builds it (postgres.Connect): a new device of one of
// many users each time, as in the benchmark harness's api phase.
func BenchmarkUpsert(b *testing.B) {
	bb := setupConnect(b)
	sub := newSub(b, "", domain.UserTypeClient, "")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sub.UserID = "user-" + strconv.Itoa(i%20000)
		sub.Endpoint = "https://fcm.googleapis.com/fcm/send/bench-" + strconv.Itoa(i)
		if _, _, err := bb.store.Upsert(bb.ctx, sub, 20); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMigrationsAreReversible: every evpush migration has a working Down,
// and rolling evpush back leaves the charging service's tables alone.
func TestMigrationsAreReversible(t *testing.T) {
	t.Parallel()
	b := setup(t)
	db, ctx := b.db, b.ctx
	require.NoError(t, postgres.Rollback(ctx, db))
	var exists, stations bool
	require.NoError(t, db.QueryRow(`SELECT to_regclass('push_subscriptions') IS NOT NULL, to_regclass('stations') IS NOT NULL`).Scan(&exists, &stations))
	require.False(t, exists)
	require.True(t, stations, "stations belong to the charging service (or the reference module): never dropped")
	require.NoError(t, postgres.Migrate(ctx, db))
	require.NoError(t, db.QueryRow(`SELECT to_regclass('push_subscriptions') IS NOT NULL`).Scan(&exists))
	require.True(t, exists)
	pending, err := postgres.HasPending(ctx, db)
	require.NoError(t, err)
	require.False(t, pending)
}
