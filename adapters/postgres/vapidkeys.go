package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/evpower/evpush/domain"
)

// VAPIDKeyPurpose is the additional data the VAPID private key is sealed
// with: a ciphertext made for anything else does not open as this key.
const VAPIDKeyPurpose = "evpush vapid_keys private_key"

// vapidLockKey serializes changes to vapid_keys across processes (instances
// starting together, `evpush vapid rotate` beside them): each change reads
// the rows, decides and writes, and must see the previous one's result.
const vapidLockKey = 7_463_210_002

// keyRow is one vapid_keys row as stored.
type keyRow struct {
	id            int
	public        sql.NullString // NULL: the placeholder of migration 0003
	private       sql.NullString // NULL: configured, not stored (or the placeholder)
	state         string
	createdAt     time.Time
	retiringSince sql.NullTime
	revokedAt     sql.NullTime
}

func (r keyRow) domain(private string) domain.VAPIDKey {
	return domain.VAPIDKey{
		ID:            r.id,
		VAPIDKeys:     domain.VAPIDKeys{PublicKey: r.public.String, PrivateKey: private},
		State:         domain.VAPIDKeyState(r.state),
		CreatedAt:     r.createdAt,
		RetiringSince: r.retiringSince.Time,
		RevokedAt:     r.revokedAt.Time,
		Configured:    r.public.Valid && !r.private.Valid,
	}
}

// querier is what reading keys needs: the pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readKeys returns every row, by id.
func readKeys(ctx context.Context, q querier) ([]keyRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, public_key, private_key, state, created_at, retiring_since, revoked_at
		FROM vapid_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("error reading VAPID keys: %w", translate(err))
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var r keyRow
		if err := rows.Scan(&r.id, &r.public, &r.private, &r.state, &r.createdAt, &r.retiringSince, &r.revokedAt); err != nil {
			return nil, fmt.Errorf("error reading VAPID keys: %w", translate(err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading VAPID keys: %w", translate(err))
	}
	return out, nil
}

// open returns a row's private key in plain text ("" for a configured key).
func (s *Store) open(r keyRow) (plain string, sealed bool, err error) {
	if !r.private.Valid {
		return "", false, nil
	}
	plain, sealed, err = s.vapidSealer.Open(r.private.String)
	if err != nil {
		return "", sealed, fmt.Errorf("error decrypting the private key of VAPID key %d (table vapid_keys): %w", r.id, err)
	}
	return plain, sealed, nil
}

// seal is how a private key is stored: sealed when a key is configured.
func (s *Store) seal(plain string) (string, error) {
	if s.vapidSealer == nil {
		return plain, nil
	}
	sealed, err := s.vapidSealer.Seal(plain)
	if err != nil {
		return "", fmt.Errorf("error encrypting the VAPID private key: %w", err)
	}
	return sealed, nil
}

// inKeyTx runs fn in a transaction holding vapidLockKey.
func (s *Store) inKeyTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("error changing VAPID keys: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, vapidLockKey); err != nil {
		return fmt.Errorf("error locking VAPID keys: %w", translate(err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("error changing VAPID keys: %w", translate(err))
	}
	return nil
}

// exec runs statements in order in tx, stopping at the first error.
func exec(ctx context.Context, tx *sql.Tx, stmts ...stmt) error {
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("error changing VAPID keys: %w", translate(err))
		}
	}
	return nil
}

type stmt struct {
	sql  string
	args []any
}

// makeCurrent turns the current key (if another) retiring and id current.
func makeCurrent(id int) []stmt {
	return []stmt{
		{`UPDATE vapid_keys SET state = 'retiring', retiring_since = now() WHERE state = 'current' AND id <> $1`, []any{id}},
		{`UPDATE vapid_keys SET state = 'current', retiring_since = NULL, revoked_at = NULL WHERE id = $1`, []any{id}},
	}
}

// merge moves from's subscriptions to into and deletes from.
func merge(from, into int) []stmt {
	return []stmt{
		{`UPDATE push_subscriptions SET vapid_key_id = $2 WHERE vapid_key_id = $1`, []any{from, into}},
		{`DELETE FROM vapid_keys WHERE id = $1`, []any{from}},
	}
}

// Settle implements ports.VAPIDKeyStore, under vapidLockKey: of several
// instances starting together the first settles and the others find it
// done. With WithVAPIDKeyEncryption, private keys stored in plain text
// (before the key was configured) are sealed on the way. A sealed key errors
// with keyseal.ErrNoKey without the option, and with keyseal.ErrWrongKey when
// the configured key is not the one it was sealed with.
func (s *Store) Settle(ctx context.Context, configured, candidate domain.VAPIDKeys) error {
	return s.inKeyTx(ctx, func(tx *sql.Tx) error {
		rows, err := readKeys(ctx, tx)
		if err != nil {
			return err
		}
		var plan []stmt
		if configured != (domain.VAPIDKeys{}) {
			plan, err = s.settleConfigured(ctx, tx, rows, configured)
		} else {
			plan, err = s.settleStored(rows, candidate)
		}
		if err != nil {
			return err
		}
		if err := exec(ctx, tx, plan...); err != nil {
			return err
		}
		if rows, err = readKeys(ctx, tx); err != nil {
			return err
		}
		return s.sealPlain(ctx, tx, rows)
	})
}

// settleConfigured makes the configured key current, storing its public
// half: in the placeholder when there is one (the subscriptions of before
// the upgrade were made with the configured key, which signed everything
// then), else in a row of its own.
func (s *Store) settleConfigured(ctx context.Context, tx *sql.Tx, rows []keyRow, configured domain.VAPIDKeys) ([]stmt, error) {
	placeholder, target := -1, -1
	for _, r := range rows {
		switch {
		case !r.public.Valid:
			placeholder = r.id
		case r.public.String == configured.PublicKey:
			target = r.id
		}
	}
	var plan []stmt
	switch {
	case target >= 0 && placeholder >= 0:
		plan = merge(placeholder, target)
	case placeholder >= 0:
		target = placeholder
		plan = []stmt{{`UPDATE vapid_keys SET public_key = $2 WHERE id = $1`, []any{target, configured.PublicKey}}}
	case target < 0:
		err := tx.QueryRowContext(ctx, `INSERT INTO vapid_keys (public_key, state, retiring_since)
			VALUES ($1, 'retiring', now()) RETURNING id`, configured.PublicKey).Scan(&target)
		if err != nil {
			return nil, fmt.Errorf("error storing the configured VAPID public key: %w", translate(err))
		}
	}
	return append(plan, makeCurrent(target)...), nil
}

// settleStored keeps the stored current key, or stores candidate as the
// current one. The placeholder's subscriptions were made with the stored
// current key when there is one (it signed everything before the upgrade);
// otherwise the placeholder becomes candidate.
func (s *Store) settleStored(rows []keyRow, candidate domain.VAPIDKeys) ([]stmt, error) {
	placeholder, current := -1, -1
	for _, r := range rows {
		if !r.public.Valid {
			placeholder = r.id
		} else if r.state == string(domain.VAPIDKeyCurrent) {
			current = r.id
			if !r.private.Valid {
				return nil, fmt.Errorf("%w: the current VAPID key (id %d) is configured (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY), "+
					"which is not set here: set both as before, or make a stored key current with `evpush vapid rotate`",
					domain.ErrNoCurrentKey, r.id)
			}
		}
	}
	if current >= 0 && placeholder >= 0 {
		return merge(placeholder, current), nil
	}
	if current >= 0 {
		return nil, nil
	}
	private, err := s.seal(candidate.PrivateKey)
	if err != nil {
		return nil, err
	}
	if placeholder >= 0 {
		return append([]stmt{{`UPDATE vapid_keys SET public_key = $2, private_key = $3 WHERE id = $1`,
			[]any{placeholder, candidate.PublicKey, private}}}, makeCurrent(placeholder)...), nil
	}
	return []stmt{
		{`UPDATE vapid_keys SET state = 'retiring', retiring_since = now() WHERE state = 'current'`, nil},
		{`INSERT INTO vapid_keys (public_key, private_key, state) VALUES ($1, $2, 'current')`, []any{candidate.PublicKey, private}},
	}, nil
}

// sealPlain opens every key that signs (the current one must open, or
// nothing may start) and seals those stored in plain text. Revoked keys are
// left alone: they never sign again, and their encryption key may be the
// lost one that made an operator revoke them.
func (s *Store) sealPlain(ctx context.Context, tx *sql.Tx, rows []keyRow) error {
	for _, r := range rows {
		if r.revokedAt.Valid || !r.private.Valid {
			continue
		}
		plain, sealed, err := s.open(r)
		if err != nil {
			return err
		}
		if sealed || s.vapidSealer == nil {
			continue
		}
		enc, err := s.seal(plain)
		if err != nil {
			return err
		}
		if err := exec(ctx, tx, stmt{`UPDATE vapid_keys SET private_key = $2 WHERE id = $1`, []any{r.id, enc}}); err != nil {
			return err
		}
	}
	return nil
}

// Keys implements ports.VAPIDKeyStore. A key that signs and does not open
// is an error: signing with what is left would silently fail its devices.
func (s *Store) Keys(ctx context.Context) ([]domain.VAPIDKey, error) {
	rows, err := readKeys(ctx, s.sql)
	if err != nil {
		return nil, err
	}
	keys := make([]domain.VAPIDKey, 0, len(rows))
	for _, r := range rows {
		if !r.public.Valid {
			continue // the placeholder, until the first start settles it
		}
		var plain string
		if !r.revokedAt.Valid {
			if plain, _, err = s.open(r); err != nil {
				return nil, err
			}
		}
		keys = append(keys, r.domain(plain))
	}
	return keys, nil
}

// Rotate implements ports.VAPIDKeyStore.
func (s *Store) Rotate(ctx context.Context, next domain.VAPIDKeys, revoke bool) (domain.Rotation, error) {
	var res domain.Rotation
	err := s.inKeyTx(ctx, func(tx *sql.Tx) error {
		rows, err := readKeys(ctx, tx)
		if err != nil {
			return err
		}
		old := -1
		for i, r := range rows {
			switch {
			case !r.public.Valid:
				// Rotating now would leave the placeholder's devices to be
				// bound to the new key by the first start.
				return fmt.Errorf("%w: the keys of before key rotation are not settled yet: start this version of "+
					"the service once, then rotate", domain.ErrNoCurrentKey)
			case r.state == string(domain.VAPIDKeyCurrent):
				old = i
			}
		}
		if old < 0 {
			return fmt.Errorf("%w: nothing to rotate; start the service once to make one", domain.ErrNoCurrentKey)
		}
		plan, err := s.rotation(rows, old, next, revoke)
		if err != nil {
			return err
		}
		if err := exec(ctx, tx, plan...); err != nil {
			return err
		}
		after, err := readKeys(ctx, tx)
		if err != nil {
			return err
		}
		res = rotated(rows, after, old)
		return nil
	})
	return res, err
}

// rotation plans a rotation away from rows[old].
func (s *Store) rotation(rows []keyRow, old int, next domain.VAPIDKeys, revoke bool) ([]stmt, error) {
	var plan []stmt
	for i, r := range rows {
		_, _, openErr := s.open(r)
		switch {
		case i == old && !revoke && openErr != nil:
			// Stored where the running services cannot open it, the new
			// key would stop them at the next reload or restart.
			return nil, openErr
		case i != old && revoke && openErr != nil && !r.revokedAt.Valid && r.state == string(domain.VAPIDKeyRetiring):
			plan = append(plan, stmt{`UPDATE vapid_keys SET revoked_at = now() WHERE id = $1`, []any{r.id}})
		}
	}
	private, err := s.seal(next.PrivateKey)
	if err != nil {
		return nil, err
	}
	revokedAt := sql.NullTime{Time: time.Now(), Valid: revoke}
	return append(plan,
		stmt{`UPDATE vapid_keys SET state = 'retiring', retiring_since = now(), revoked_at = $2 WHERE id = $1`,
			[]any{rows[old].id, revokedAt}},
		stmt{`INSERT INTO vapid_keys (public_key, private_key, state) VALUES ($1, $2, 'current')`,
			[]any{next.PublicKey, private}}), nil
}

// rotated reads what a rotation did from the rows before and after it.
func rotated(before, after []keyRow, old int) domain.Rotation {
	var res domain.Rotation
	wasRevoked := map[int]bool{}
	for _, r := range before {
		wasRevoked[r.id] = r.revokedAt.Valid
	}
	for _, r := range after {
		switch {
		case r.id == before[old].id:
			res.Retired = r.domain("")
		case r.state == string(domain.VAPIDKeyCurrent):
			res.Current = r.domain("")
		case r.revokedAt.Valid && !wasRevoked[r.id]:
			res.AlsoRevoked = append(res.AlsoRevoked, r.domain(""))
		}
	}
	return res
}

// KeyUsage implements ports.VAPIDKeyStore in one statement: the count
// runs on push_subscriptions_vapid_key_idx.
func (s *Store) KeyUsage(ctx context.Context) ([]domain.KeyUsage, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT k.id, k.public_key, k.private_key IS NOT NULL, k.state, k.created_at,
		k.retiring_since, k.revoked_at, (SELECT count(*) FROM push_subscriptions p WHERE p.vapid_key_id = k.id)
		FROM vapid_keys k ORDER BY k.id`)
	if err != nil {
		return nil, fmt.Errorf("error counting subscriptions per VAPID key: %w", translate(err))
	}
	defer rows.Close()
	var out []domain.KeyUsage
	for rows.Next() {
		var r keyRow
		var n int
		if err := rows.Scan(&r.id, &r.public, &r.private.Valid, &r.state, &r.createdAt, &r.retiringSince, &r.revokedAt, &n); err != nil {
			return nil, fmt.Errorf("error counting subscriptions per VAPID key: %w", translate(err))
		}
		out = append(out, domain.KeyUsage{Key: r.domain(""), Subscriptions: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error counting subscriptions per VAPID key: %w", translate(err))
	}
	return out, nil
}

// DeleteRetired implements ports.VAPIDKeyStore, in one transaction: the
// subscriptions of a key past its time and the key go together. A
// subscribe that binds to a retiring key while it is deleted fails on the
// foreign key (see Upsert) rather than leave a row no key can sign.
func (s *Store) DeleteRetired(ctx context.Context, before time.Time) ([]domain.RetiredKey, error) {
	var out []domain.RetiredKey
	err := s.inKeyTx(ctx, func(tx *sql.Tx) error {
		rows, err := readKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.state != string(domain.VAPIDKeyRetiring) {
				continue
			}
			var n int64
			if r.retiringSince.Time.Before(before) {
				res, err := tx.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE vapid_key_id = $1`, r.id)
				if err != nil {
					return fmt.Errorf("error deleting the subscriptions of VAPID key %d: %w", r.id, translate(err))
				}
				n, _ = res.RowsAffected()
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM vapid_keys k WHERE id = $1
				AND NOT EXISTS (SELECT 1 FROM push_subscriptions WHERE vapid_key_id = k.id)`, r.id)
			if err != nil {
				return fmt.Errorf("error deleting VAPID key %d: %w", r.id, translate(err))
			}
			if gone, _ := res.RowsAffected(); gone == 1 {
				out = append(out, domain.RetiredKey{Key: r.domain(""), Subscriptions: int(n)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errKeyGone is what Upsert answers when the key it binds to was deleted
// meanwhile (the cleanup retired it).
var errKeyGone = domain.Invalid(domain.FieldApplicationServerKey, "is no longer a key of this service: subscribe with the current key (GET /vapid-public-key)")

// isForeignKeyViolation reports PostgreSQL's 23503.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
