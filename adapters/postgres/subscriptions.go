package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Store is evpush's tables in PostgreSQL, push_subscriptions and
// vapid_keys: it implements ports.SubscriptionStore and ports.VAPIDKeyStore
// for the app, BookTx for the queue (outcomes written in the transaction
// that completes an event job), and CountByType and Ping for the operators'
// metrics and health check. The reference charging module's tables are
// ChargingStore's, apart.
type Store struct {
	db *gorm.DB
	// sql is db's pool, for the hot paths without gorm's reflection: the
	// per-event reads (delivery path, once per event) and the subscribe
	// statement (Upsert, on pgx: see withPgx), where gorm would rebuild its
	// SQL text from named arguments, render it with the arguments for its
	// logger even when nothing logs, and scan the row by reflection on every
	// call: a quarter of the service's CPU per subscribe.
	sql         *sql.DB
	vapidSealer *keyseal.Sealer // nil: the VAPID private key is stored in plain text
}

// Option configures a Store.
type Option func(*Store)

// WithVAPIDKeyEncryption keeps the stored VAPID private key sealed by s (made
// with VAPIDKeyPurpose), so the database alone does not give it away.
func WithVAPIDKeyEncryption(s *keyseal.Sealer) Option {
	return func(st *Store) { st.vapidSealer = s }
}

var (
	_ ports.SubscriptionStore = (*Store)(nil)
	_ ports.VAPIDKeyStore     = (*Store)(nil)
)

// NewStore returns a Store over db (see Connect).
func NewStore(db *sql.DB, opts ...Option) (*Store, error) {
	g, err := openGorm(db)
	if err != nil {
		return nil, err
	}
	s := &Store{db: g, sql: db}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// subscriptionRow is the push_subscriptions row; keys are stored as
// base64url text so an operator can read and copy them.
type subscriptionRow struct {
	ID            string `gorm:"primaryKey;default:gen_random_uuid()"`
	UserID        string
	UserType      string
	Endpoint      string
	P256dh        string
	Auth          string
	Locale        string
	UserAgent     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastSuccessAt *time.Time
	FailureCount  int
	VAPIDKeyID    int `gorm:"column:vapid_key_id"`
}

func (subscriptionRow) TableName() string { return "push_subscriptions" }

func (r subscriptionRow) toDomain() domain.Subscription {
	// Keys were validated on the way in; a row that fails to decode was
	// edited by hand and will be answered 4xx by the push service.
	p256dh, _ := domain.DecodeBase64(r.P256dh)
	auth, _ := domain.DecodeBase64(r.Auth)
	return domain.Subscription{
		ID:            r.ID,
		UserID:        r.UserID,
		UserType:      domain.UserType(r.UserType),
		Endpoint:      r.Endpoint,
		P256dh:        p256dh,
		Auth:          auth,
		Locale:        r.Locale,
		UserAgent:     r.UserAgent,
		CreatedAt:     r.CreatedAt,
		UpdatedAt:     r.UpdatedAt,
		LastSuccessAt: r.LastSuccessAt,
		FailureCount:  r.FailureCount,
		VAPIDKeyID:    r.VAPIDKeyID,
	}
}

// upsertSQL stores a subscription in one statement (one round trip), so two
// concurrent subscribes of one device end in one consistent row.
//
// Ownership: a known endpoint is updated in place (keeping its id) when the
// caller already holds it in this role (a browser rotating its keys), or when
// the caller sends the stored keys (the same browser profile, signed in as
// someone else or in the other role): then it moves to the caller. Anyone else
// only knows the endpoint, not the keys, and must not take the device over:
// the WHERE of DO UPDATE leaves the row alone and nothing is returned. The
// condition is evaluated on the row as last committed, under its lock, so a
// concurrent fight over one endpoint is decided one subscribe at a time.
// Keys are compared as stored text, which is canonical (base64url, no
// padding), so equal bytes are equal text.
//
// xmax = 0 only for a fresh insert. The cap is applied in the same statement:
// the DELETE sees the table as before the upsert, so it keeps maxPerUser-1 of the
// user's others, and only when the upsert stored something (a refused
// takeover must not cost the caller a device). It joins the rows past the
// cap (USING) rather than testing id IN (…): the semi-join PostgreSQL plans
// for IN builds a hash table on every call, some 15 % of the statement's
// cost for a user under the cap, which is nearly every subscribe.
//
// The VAPID key follows the latest subscribe: it is the key the browser's
// subscription on this endpoint was made with.
//
// Arguments: $1 user, $2 type, $3 endpoint, $4 p256dh, $5 auth, $6 locale,
// $7 user agent, $8 maxPerUser, $9 VAPID key id.
const upsertSQL = `
WITH up AS (
INSERT INTO push_subscriptions (user_id, user_type, endpoint, p256dh, auth, locale, user_agent, vapid_key_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $9)
ON CONFLICT (endpoint) DO UPDATE SET
    user_id = EXCLUDED.user_id,
    user_type = EXCLUDED.user_type,
    p256dh = EXCLUDED.p256dh,
    auth = EXCLUDED.auth,
    locale = EXCLUDED.locale,
    user_agent = EXCLUDED.user_agent,
    vapid_key_id = EXCLUDED.vapid_key_id,
    updated_at = now(),
    failure_count = 0
WHERE (push_subscriptions.user_id = EXCLUDED.user_id AND push_subscriptions.user_type = EXCLUDED.user_type)
   OR (push_subscriptions.p256dh = EXCLUDED.p256dh AND push_subscriptions.auth = EXCLUDED.auth)
RETURNING id, created_at, updated_at, last_success_at, failure_count, (xmax = 0) AS created
), trimmed AS (
DELETE FROM push_subscriptions USING (
    SELECT id FROM push_subscriptions
    WHERE user_id = $1 AND endpoint <> $3
    ORDER BY updated_at DESC, id DESC
    OFFSET GREATEST($8 - 1, 0)) AS past_cap
WHERE $8 > 0 AND EXISTS (SELECT 1 FROM up) AND push_subscriptions.id = past_cap.id
)
SELECT * FROM up`

// Upsert implements ports.SubscriptionStore: see upsertSQL for when a known
// endpoint moves to the caller; when it does not, the answer is
// domain.ErrEndpointTaken and nothing is written.
func (s *Store) Upsert(ctx context.Context, sub domain.Subscription, maxPerUser int) (domain.Subscription, bool, error) {
	args := []any{sub.UserID, string(sub.UserType), sub.Endpoint,
		domain.EncodeBase64URL(sub.P256dh), domain.EncodeBase64URL(sub.Auth), sub.Locale, sub.UserAgent, maxPerUser, sub.VAPIDKeyID}
	var created bool
	err := s.withPgx(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, upsertSQL, args...).
			Scan(&sub.ID, &sub.CreatedAt, &sub.UpdatedAt, &sub.LastSuccessAt, &sub.FailureCount, &created)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Subscription{}, false, domain.ErrEndpointTaken
	}
	if isForeignKeyViolation(err) {
		return domain.Subscription{}, false, errKeyGone
	}
	if err != nil {
		return domain.Subscription{}, false, fmt.Errorf("error upserting subscription: %w", translate(err))
	}
	return sub, created, nil
}

// badConnTries is how often withPgx tries a statement whose connection
// broke before the statement was sent: as often as database/sql's own
// methods try.
const badConnTries = 3

// withPgx runs f on a pgx connection of the pool, for the hot path. Going
// through database/sql's QueryRowContext instead would start a goroutine per
// statement to watch the context, and convert every argument and column
// through driver.Value: some 7 % of the service's CPU per subscribe once gorm
// is gone. Like database/sql's own methods it retries, on another
// connection, a statement that failed before anything was sent, and drops
// that connection.
func (s *Store) withPgx(ctx context.Context, f func(*pgx.Conn) error) error {
	var err error
	for range badConnTries {
		if err = s.tryPgx(ctx, f); !errors.Is(err, driver.ErrBadConn) {
			return err
		}
	}
	return err
}

func (s *Store) tryPgx(ctx context.Context, f func(*pgx.Conn) error) error {
	conn, err := s.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("database/sql driver %T is not pgx's", dc)
		}
		if c.Conn().IsClosed() {
			return driver.ErrBadConn
		}
		err := f(c.Conn())
		if pgconn.SafeToRetry(err) {
			return driver.ErrBadConn // Raw then drops the connection
		}
		return err
	})
}

// DeleteForUser implements ports.SubscriptionStore.
func (s *Store) DeleteForUser(ctx context.Context, userID, endpoint string) error {
	res := s.db.WithContext(ctx).
		Where("endpoint = ? AND user_id = ?", endpoint, userID).
		Delete(&subscriptionRow{})
	if res.Error != nil {
		return fmt.Errorf("error deleting subscription: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// DeleteByIDForUser implements ports.SubscriptionStore.
func (s *Store) DeleteByIDForUser(ctx context.Context, userID, id string) error {
	if !uuidRE.MatchString(id) {
		return domain.ErrNotFound // ids come from URLs: not every one is a uuid
	}
	res := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&subscriptionRow{})
	if res.Error != nil {
		return fmt.Errorf("error deleting subscription: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// ListByUser implements ports.SubscriptionStore.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]domain.Subscription, error) {
	var rows []subscriptionRow
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("error listing subscriptions: %w", translate(err))
	}
	return toDomainAll(rows), nil
}

// subscriptionColumns are what scanSubscription reads, in its order.
const subscriptionColumns = `id, user_id, user_type, endpoint, p256dh, auth, locale, user_agent,
	created_at, updated_at, last_success_at, failure_count, vapid_key_id`

// scanSubscription reads one row of subscriptionColumns.
func scanSubscription(scan func(dest ...any) error) (domain.Subscription, error) {
	var r subscriptionRow
	err := scan(&r.ID, &r.UserID, &r.UserType, &r.Endpoint, &r.P256dh, &r.Auth, &r.Locale, &r.UserAgent,
		&r.CreatedAt, &r.UpdatedAt, &r.LastSuccessAt, &r.FailureCount, &r.VAPIDKeyID)
	return r.toDomain(), err
}

// recipientsSQL lists the recipients' devices in one statement, whatever
// their number (the recipients go in as arrays, each (user, role) once),
// each with whether its user switched the recipient's preference off in
// that role: the flag, not a second query, lets the caller count what
// preferences skip. An empty class and name match no row: nothing silences
// it. A plain join with a lookup by primary key per device: the statement
// runs once per event, so its planning and sorting count.
var recipientsSQL = `SELECT ` + subscriptionColumnsOf("s") + `, EXISTS (
		SELECT 1 FROM notification_preferences p
		WHERE p.user_id = s.user_id AND p.user_type = s.user_type
		  AND p.class = r.class AND p.name = r.name AND NOT p.enabled) AS muted
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(user_id, user_type, class, name)
	JOIN push_subscriptions s ON s.user_id = r.user_id AND s.user_type = r.user_type
	ORDER BY s.created_at, s.id`

// subscriptionColumnsOf is subscriptionColumns qualified by a table alias.
func subscriptionColumnsOf(alias string) string {
	cols := strings.Split(subscriptionColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// distinctRecipients names each (user, role) once, so that a device is
// listed once: of two entries, the one with a preference to check wins
// (a recipient named twice is muted if either says so).
func distinctRecipients(rs []domain.Recipient) []domain.Recipient {
	out := make([]domain.Recipient, 0, len(rs))
	seen := make(map[[2]string]int, len(rs))
	for _, r := range rs {
		k := [2]string{r.UserID, string(r.UserType)}
		if i, ok := seen[k]; ok {
			if out[i].Pref.Name == "" {
				out[i] = r
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	return out
}

// ListForRecipients implements ports.SubscriptionStore.
func (s *Store) ListForRecipients(ctx context.Context, rs []domain.Recipient) ([]domain.Subscription, []domain.Recipient, error) {
	if len(rs) == 0 {
		return nil, nil, nil
	}
	rs = distinctRecipients(rs)
	n := len(rs)
	users, types, classes, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rs {
		users[i], types[i], classes[i], names[i] = r.UserID, string(r.UserType), string(r.Pref.Class), r.Pref.Name
	}
	rows, err := s.sql.QueryContext(ctx, recipientsSQL, users, types, classes, names)
	if err != nil {
		return nil, nil, fmt.Errorf("error listing subscriptions: %w", translate(err))
	}
	defer rows.Close()
	var (
		subs    []domain.Subscription
		skipped []domain.Recipient
	)
	for rows.Next() {
		var muted bool
		sub, err := scanSubscription(func(dest ...any) error { return rows.Scan(append(dest, &muted)...) })
		if err != nil {
			return nil, nil, fmt.Errorf("error listing subscriptions: %w", translate(err))
		}
		if muted {
			skipped = append(skipped, recipientOf(rs, sub))
			continue
		}
		subs = append(subs, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("error listing subscriptions: %w", translate(err))
	}
	return subs, skipped, nil
}

// recipientOf is the recipient rs names sub's user and role as (rs holds
// each user and role once: distinctRecipients).
func recipientOf(rs []domain.Recipient, sub domain.Subscription) domain.Recipient {
	for _, r := range rs {
		if r.UserID == sub.UserID && r.UserType == sub.UserType {
			return r
		}
	}
	return domain.Recipient{}
}

// Get returns one subscription by ID, or domain.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (domain.Subscription, error) {
	if !uuidRE.MatchString(id) {
		return domain.Subscription{}, domain.ErrNotFound
	}
	sub, err := scanSubscription(s.sql.QueryRowContext(ctx,
		`SELECT `+subscriptionColumns+` FROM push_subscriptions WHERE id = $1`, id).Scan)
	if err != nil {
		return domain.Subscription{}, fmt.Errorf("error reading subscription: %w", translate(err))
	}
	return sub, nil
}

// Delete implements ports.SubscriptionStore.
func (s *Store) Delete(ctx context.Context, id, endpoint string) error {
	err := s.db.WithContext(ctx).Where("id = ? AND endpoint = ?", id, endpoint).Delete(&subscriptionRow{}).Error
	if err != nil {
		return fmt.Errorf("error deleting subscription: %w", translate(err))
	}
	return nil
}

// RecordResult implements ports.SubscriptionStore.
func (s *Store) RecordResult(ctx context.Context, id string, success bool, at time.Time) error {
	updates := map[string]any{"failure_count": gorm.Expr("failure_count + 1")}
	if success {
		updates = map[string]any{"failure_count": 0, "last_success_at": at}
	}
	err := s.db.WithContext(ctx).Model(&subscriptionRow{}).Where("id = ?", id).UpdateColumns(updates).Error
	if err != nil {
		return fmt.Errorf("error recording delivery result: %w", translate(err))
	}
	return nil
}

// DeleteFailing implements ports.SubscriptionStore.
func (s *Store) DeleteFailing(ctx context.Context, before time.Time, minFailures int) (int, error) {
	// The rows are locked in id order first, as BookTx does: an event job
	// writing some of them at the same time must not deadlock with this
	// (PostgreSQL would abort one, and an aborted event is sent again).
	res := s.db.WithContext(ctx).Exec(`DELETE FROM push_subscriptions WHERE id IN (
		SELECT id FROM push_subscriptions
		WHERE failure_count >= ? AND COALESCE(last_success_at, created_at) < ?
		ORDER BY id FOR UPDATE)`, minFailures, before)
	if res.Error != nil {
		return 0, fmt.Errorf("error deleting failing subscriptions: %w", translate(res.Error))
	}
	return int(res.RowsAffected), nil
}

// CountByType counts subscriptions per user type (for metrics).
func (s *Store) CountByType(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		UserType string
		N        int
	}
	if err := s.db.WithContext(ctx).Model(&subscriptionRow{}).Select("user_type, count(*) AS n").Group("user_type").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("error counting subscriptions: %w", translate(err))
	}
	counts := map[string]int{string(domain.UserTypeClient): 0, string(domain.UserTypeOwner): 0}
	for _, r := range rows {
		counts[r.UserType] = r.N
	}
	return counts, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.db.WithContext(ctx).Exec("SELECT 1").Error)
}

func toDomainAll(rows []subscriptionRow) []domain.Subscription {
	subs := make([]domain.Subscription, len(rows))
	for i, r := range rows {
		subs[i] = r.toDomain()
	}
	return subs
}
