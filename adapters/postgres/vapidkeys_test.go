package postgres_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/keyseal"
	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/testdb"
)

func newVAPID(tb testing.TB) domain.VAPIDKeys {
	tb.Helper()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	return k
}

// fresh is a migrated database nobody has started on: vapid_keys holds only
// migration 0003's placeholder.
func fresh(tb testing.TB) bundle {
	tb.Helper()
	db := testdb.Open(tb, testdb.New(tb))
	store, err := postgres.NewStore(db)
	require.NoError(tb, err)
	return bundle{store: store, db: db, ctx: context.Background()}
}

// sealer is a VAPID key sealer with a fresh random key.
func sealer(tb testing.TB) *keyseal.Sealer {
	tb.Helper()
	s, err := keyseal.New(randomBytes(tb, keyseal.KeySize), postgres.VAPIDKeyPurpose)
	require.NoError(tb, err)
	return s
}

func (b bundle) withOptions(tb testing.TB, opts ...postgres.Option) *postgres.Store {
	tb.Helper()
	store, err := postgres.NewStore(b.db, opts...)
	require.NoError(tb, err)
	return store
}

// storedPrivateKey is key id's private_key as it is at rest.
func (b bundle) storedPrivateKey(tb testing.TB, id int) string {
	tb.Helper()
	var v string
	require.NoError(tb, b.db.QueryRowContext(b.ctx, "SELECT private_key FROM vapid_keys WHERE id = $1", id).Scan(&v))
	return v
}

// keys returns the stored keys through store.
func keys(tb testing.TB, store *postgres.Store) []domain.VAPIDKey {
	tb.Helper()
	ks, err := store.Keys(context.Background())
	require.NoError(tb, err)
	return ks
}

// pairs is the key pairs of ks, in order.
func pairs(ks []domain.VAPIDKey) []domain.VAPIDKeys {
	out := make([]domain.VAPIDKeys, len(ks))
	for i, k := range ks {
		out[i] = k.VAPIDKeys
	}
	return out
}

func TestSettleConcurrent(t *testing.T) {
	t.Parallel()
	b := fresh(t)
	const n = 10
	candidates := make([]domain.VAPIDKeys, n)
	for i := range candidates {
		candidates[i] = newVAPID(t)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.store.Settle(b.ctx, domain.VAPIDKeys{}, candidates[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got := keys(t, b.store)
	require.Len(t, got, 1, "one key, whoever came first")
	require.Contains(t, candidates, got[0].VAPIDKeys)
	require.Equal(t, domain.VAPIDKeyCurrent, got[0].State)
	require.Equal(t, 1, got[0].ID, "the placeholder's row")

	// Later starts keep the stored pair.
	require.NoError(t, b.store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)))
	require.Equal(t, got, keys(t, b.store))
}

func TestSettleEncrypted(t *testing.T) {
	t.Parallel()
	b := fresh(t)
	key := sealer(t)
	store := b.withOptions(t, postgres.WithVAPIDKeyEncryption(key))

	candidate := newVAPID(t)
	require.NoError(t, store.Settle(b.ctx, domain.VAPIDKeys{}, candidate))
	require.Equal(t, []domain.VAPIDKeys{candidate}, pairs(keys(t, store)), "returned decrypted")

	stored := b.storedPrivateKey(t, 1)
	require.True(t, strings.HasPrefix(stored, keyseal.Prefix), "stored sealed: %.10s…", stored)
	require.NotContains(t, stored, candidate.PrivateKey)
	plain, sealed, err := key.Open(stored)
	require.NoError(t, err)
	require.True(t, sealed)
	require.Equal(t, candidate.PrivateKey, plain)

	// Later starts decrypt the stored pair and leave the row alone.
	require.NoError(t, store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)))
	require.Equal(t, []domain.VAPIDKeys{candidate}, pairs(keys(t, store)))
	require.Equal(t, stored, b.storedPrivateKey(t, 1))

	// Without the key, or with another one, the keys cannot be used.
	require.ErrorIs(t, b.store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)), keyseal.ErrNoKey)
	_, err = b.store.Keys(b.ctx)
	require.ErrorIs(t, err, keyseal.ErrNoKey)
	other := b.withOptions(t, postgres.WithVAPIDKeyEncryption(sealer(t)))
	require.ErrorIs(t, other.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)), keyseal.ErrWrongKey)
	require.Equal(t, stored, b.storedPrivateKey(t, 1), "a failed start changes nothing")

	// An altered ciphertext does not open either.
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(stored, keyseal.Prefix))
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0x01
	_, err = b.db.ExecContext(b.ctx, "UPDATE vapid_keys SET private_key = $1",
		keyseal.Prefix+base64.RawURLEncoding.EncodeToString(raw))
	require.NoError(t, err)
	_, err = store.Keys(b.ctx)
	require.ErrorIs(t, err, keyseal.ErrWrongKey)
}

func TestSettleSealsPlainRowsOnce(t *testing.T) {
	t.Parallel()
	b := fresh(t)
	first := newVAPID(t)
	require.NoError(t, b.store.Settle(b.ctx, domain.VAPIDKeys{}, first))
	_, err := b.store.Rotate(b.ctx, newVAPID(t), false)
	require.NoError(t, err)
	plainKeys := pairs(keys(t, b.store))
	require.Equal(t, first.PrivateKey, b.storedPrivateKey(t, 1), "no key: stored in plain text")

	// Several instances with the key start together on the plain rows: one
	// seals them, and all of them read the same pairs.
	key := sealer(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		store := b.withOptions(t, postgres.WithVAPIDKeyEncryption(key))
		wg.Go(func() { errs[i] = store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, plainKeys, pairs(keys(t, b.withOptions(t, postgres.WithVAPIDKeyEncryption(key)))))
	for i, k := range plainKeys {
		stored := b.storedPrivateKey(t, i+1)
		require.True(t, keyseal.IsSealed(stored), "key %d", i+1)
		plain, _, err := key.Open(stored)
		require.NoError(t, err)
		require.Equal(t, k.PrivateKey, plain)
	}
}

// preUpgrade is a database as evpush left it before key rotation existed
// (migrations 0001 and 0002): row is vapid_keys' one row, if any, and each
// endpoint a subscription. Then the current migrations are applied.
func preUpgrade(tb testing.TB, row *domain.VAPIDKeys, endpoints ...string) bundle {
	tb.Helper()
	db := testdb.Open(tb, testdb.Empty(tb))
	ctx := context.Background()
	require.NoError(tb, postgres.MigrateTo(ctx, db, 2))
	if row != nil {
		_, err := db.ExecContext(ctx, `INSERT INTO vapid_keys (id, public_key, private_key) VALUES (1, $1, $2)`,
			row.PublicKey, row.PrivateKey)
		require.NoError(tb, err)
	}
	for _, e := range endpoints {
		_, err := db.ExecContext(ctx, `INSERT INTO push_subscriptions (user_id, user_type, endpoint, p256dh, auth)
			VALUES ('u', 'client', $1, 'p', 'a')`, e)
		require.NoError(tb, err)
	}
	require.NoError(tb, postgres.Migrate(ctx, db))
	store, err := postgres.NewStore(db)
	require.NoError(tb, err)
	return bundle{store: store, db: db, ctx: ctx}
}

// boundTo is the public key each subscription's key has, by endpoint.
func (b bundle) boundTo(tb testing.TB) map[string]string {
	tb.Helper()
	rows, err := b.db.QueryContext(b.ctx, `SELECT p.endpoint, COALESCE(k.public_key, '')
		FROM push_subscriptions p JOIN vapid_keys k ON k.id = p.vapid_key_id`)
	require.NoError(tb, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var e, k string
		require.NoError(tb, rows.Scan(&e, &k))
		out[e] = k
	}
	require.NoError(tb, rows.Err())
	return out
}

// TestMigration0003KeepsEveryDevice: every subscription of before the
// upgrade stays bound to the key that signed its pushes then: the stored
// one, or the configured one, which the database never saw.
func TestMigration0003KeepsEveryDevice(t *testing.T) {
	t.Parallel()
	stored, configured := newVAPID(t), newVAPID(t)
	both := map[string]string{"e1": "", "e2": ""}
	bound := func(k string) map[string]string { return map[string]string{"e1": k, "e2": k} }

	t.Run("stored key", func(t *testing.T) {
		t.Parallel()
		b := preUpgrade(t, &stored, "e1", "e2")
		require.Equal(t, both, b.boundTo(t), "before the first start: the placeholder")
		_, err := b.store.Rotate(b.ctx, newVAPID(t), false)
		require.ErrorContains(t, err, "start this version of the service once, then rotate")
		require.NoError(t, b.store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)))
		require.Equal(t, bound(stored.PublicKey), b.boundTo(t))
		got := keys(t, b.store)
		require.Len(t, got, 1, "the placeholder is gone")
		require.Equal(t, domain.VAPIDKey{ID: 1, VAPIDKeys: stored, State: domain.VAPIDKeyCurrent, CreatedAt: got[0].CreatedAt}, got[0])
	})
	t.Run("configured key", func(t *testing.T) {
		t.Parallel()
		b := preUpgrade(t, nil, "e1", "e2")
		require.NoError(t, b.store.Settle(b.ctx, configured, newVAPID(t)))
		require.Equal(t, bound(configured.PublicKey), b.boundTo(t))
		got := keys(t, b.store)
		require.Len(t, got, 1)
		require.True(t, got[0].Configured)
		require.Equal(t, configured.PublicKey, got[0].PublicKey)
		require.Empty(t, got[0].PrivateKey, "never stored")
		var private sql.NullString
		require.NoError(t, b.db.QueryRow(`SELECT private_key FROM vapid_keys`).Scan(&private))
		require.False(t, private.Valid)
	})
	t.Run("configured key over a stored one", func(t *testing.T) {
		t.Parallel()
		// The configuration signed everything then, the stored row nothing.
		b := preUpgrade(t, &stored, "e1", "e2")
		require.NoError(t, b.store.Settle(b.ctx, configured, newVAPID(t)))
		require.Equal(t, bound(configured.PublicKey), b.boundTo(t))
		got := keys(t, b.store)
		require.Len(t, got, 2)
		require.Equal(t, stored, got[0].VAPIDKeys)
		require.Equal(t, domain.VAPIDKeyRetiring, got[0].State, "holds nothing: the cleanup deletes it")
		require.Equal(t, domain.VAPIDKeyCurrent, got[1].State)
		require.Equal(t, configured.PublicKey, got[1].PublicKey)
	})
	t.Run("stored key deleted by hand", func(t *testing.T) {
		t.Parallel()
		// As the README once advised for a lost encryption key: the old
		// devices were lost then; they move to the new key by themselves.
		b := preUpgrade(t, nil, "e1", "e2")
		candidate := newVAPID(t)
		require.NoError(t, b.store.Settle(b.ctx, domain.VAPIDKeys{}, candidate))
		require.Equal(t, bound(candidate.PublicKey), b.boundTo(t))
	})
}

func TestSettleConfiguredKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := keys(t, b.store)[0]
	configured := newVAPID(t)

	require.NoError(t, b.store.Settle(b.ctx, configured, newVAPID(t)))
	got := keys(t, b.store)
	require.Len(t, got, 2)
	require.Equal(t, domain.VAPIDKeyRetiring, got[0].State, "the configuration is authoritative")
	require.Equal(t, first.VAPIDKeys, got[0].VAPIDKeys, "still signs for its devices")
	require.Equal(t, domain.VAPIDKeyCurrent, got[1].State)
	require.True(t, got[1].Configured)

	// A start without the configuration cannot sign with the current key.
	err := b.store.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t))
	require.ErrorIs(t, err, domain.ErrNoCurrentKey)
	require.Contains(t, err.Error(), "evpush vapid rotate")

	// The stored key configured later: current again, one row still.
	require.NoError(t, b.store.Settle(b.ctx, first.VAPIDKeys, newVAPID(t)))
	got = keys(t, b.store)
	require.Len(t, got, 2)
	require.Equal(t, domain.VAPIDKeyCurrent, got[0].State)
	require.Equal(t, first.VAPIDKeys, got[0].VAPIDKeys, "its stored private key stays")
}

func TestRotate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	before := keys(t, b.store)[0]
	holder := b.upsert(t, newSub(t, "u", domain.UserTypeClient, newEndpoint()))

	next := newVAPID(t)
	start := time.Now()
	rot, err := b.store.Rotate(b.ctx, next, false)
	require.NoError(t, err)
	retired, current := rot.Retired, rot.Current
	require.Empty(t, rot.AlsoRevoked)
	require.Equal(t, before.ID, retired.ID)
	require.Equal(t, domain.VAPIDKeyRetiring, retired.State)
	require.False(t, retired.Revoked())
	require.WithinDuration(t, start, retired.RetiringSince, time.Minute)
	require.Equal(t, next.PublicKey, current.PublicKey)
	require.Equal(t, domain.VAPIDKeyCurrent, current.State)
	require.Greater(t, current.ID, retired.ID)

	got := keys(t, b.store)
	require.Equal(t, []domain.VAPIDKeys{before.VAPIDKeys, next}, pairs(got), "the retiring key still signs")
	sub, err := b.store.Get(b.ctx, holder.ID)
	require.NoError(t, err)
	require.Equal(t, before.ID, sub.VAPIDKeyID, "a rotation moves no subscription")

	// Revoking: the key stops signing at once, its private key is not even
	// opened any more (its encryption key may be the lost one).
	rot, err = b.store.Rotate(b.ctx, newVAPID(t), true)
	require.NoError(t, err)
	retired2 := rot.Retired
	require.Empty(t, rot.AlsoRevoked, "the older key opens: it signs on")
	require.Equal(t, current.ID, retired2.ID)
	require.True(t, retired2.Revoked())
	got = keys(t, b.store)
	require.Len(t, got, 3)
	require.True(t, got[1].Revoked())
	require.Empty(t, got[1].PrivateKey)
	require.False(t, got[1].CanSign())
	require.True(t, got[0].CanSign(), "the older retiring key still signs")
}

func TestRotateNeedsTheEncryptionKeyUnlessRevoking(t *testing.T) {
	t.Parallel()
	b := fresh(t)
	key := sealer(t)
	sealed := b.withOptions(t, postgres.WithVAPIDKeyEncryption(key))
	require.NoError(t, sealed.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)))

	_, err := b.store.Rotate(b.ctx, newVAPID(t), false)
	require.ErrorIs(t, err, keyseal.ErrNoKey)
	_, err = b.withOptions(t, postgres.WithVAPIDKeyEncryption(sealer(t))).Rotate(b.ctx, newVAPID(t), false)
	require.ErrorIs(t, err, keyseal.ErrWrongKey)
	require.Len(t, keys(t, sealed), 1, "nothing stored")

	// The encryption key is lost: revoke with a new one. The services then
	// start with the new encryption key: the revoked key is never opened.
	// A key retiring before (sealed with the lost key too) is revoked with
	// it: otherwise nothing could start.
	_, err = sealed.Rotate(b.ctx, newVAPID(t), false)
	require.NoError(t, err)
	lost := b.withOptions(t, postgres.WithVAPIDKeyEncryption(sealer(t)))
	rot, err := lost.Rotate(b.ctx, newVAPID(t), true)
	require.NoError(t, err)
	require.Equal(t, 2, rot.Retired.ID)
	require.Len(t, rot.AlsoRevoked, 1)
	require.Equal(t, 1, rot.AlsoRevoked[0].ID)
	require.NoError(t, lost.Settle(b.ctx, domain.VAPIDKeys{}, newVAPID(t)))
	got := keys(t, lost)
	require.Len(t, got, 3)
	require.Equal(t, rot.Current.ID, got[2].ID)
	require.True(t, got[2].CanSign())
	require.True(t, got[0].Revoked())
	require.True(t, got[1].Revoked())
}

func TestKeyUsageAndUpsertBinding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	endpoint := newEndpoint()
	b.upsert(t, newSub(t, "u", domain.UserTypeClient, endpoint))
	b.upsert(t, newSub(t, "u", domain.UserTypeClient, newEndpoint()))
	rot, err := b.store.Rotate(b.ctx, newVAPID(t), false)
	require.NoError(t, err)
	next := rot.Current

	// A re-subscribe of a known endpoint takes the key it names now.
	moved := newSub(t, "u", domain.UserTypeClient, endpoint)
	moved.VAPIDKeyID = next.ID
	stored := b.upsert(t, moved)
	require.Equal(t, next.ID, stored.VAPIDKeyID)
	got, err := b.store.Get(b.ctx, stored.ID)
	require.NoError(t, err)
	require.Equal(t, next.ID, got.VAPIDKeyID)
	subs, err := b.store.ListByUser(b.ctx, "u")
	require.NoError(t, err)
	require.ElementsMatch(t, []int{testKeyID, next.ID}, []int{subs[0].VAPIDKeyID, subs[1].VAPIDKeyID})
	recipients, _, err := b.store.ListForRecipients(b.ctx, []domain.Recipient{{UserID: "u", UserType: domain.UserTypeClient}})
	require.NoError(t, err)
	require.ElementsMatch(t, []int{testKeyID, next.ID}, []int{recipients[0].VAPIDKeyID, recipients[1].VAPIDKeyID})

	usage, err := b.store.KeyUsage(b.ctx)
	require.NoError(t, err)
	require.Len(t, usage, 2)
	require.Equal(t, testKeyID, usage[0].Key.ID)
	require.Equal(t, 1, usage[0].Subscriptions)
	require.Equal(t, domain.VAPIDKeyRetiring, usage[0].Key.State)
	require.Empty(t, usage[0].Key.PrivateKey, "a listing opens no private key")
	require.Equal(t, 1, usage[1].Subscriptions)
}

func TestDeleteRetired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Key 1 retires holding two devices, key 2 holding none, key 3 (after
	// a revoke) holding one; key 4 is current.
	b.upsert(t, newSub(t, "u", domain.UserTypeClient, newEndpoint()))
	b.upsert(t, newSub(t, "u", domain.UserTypeClient, newEndpoint()))
	rot, err := b.store.Rotate(b.ctx, newVAPID(t), false)
	require.NoError(t, err)
	k2 := rot.Current
	rot, err = b.store.Rotate(b.ctx, newVAPID(t), false)
	require.NoError(t, err)
	k3 := rot.Current
	on3 := newSub(t, "v", domain.UserTypeOwner, newEndpoint())
	on3.VAPIDKeyID = k3.ID
	b.upsert(t, on3)
	rot, err = b.store.Rotate(b.ctx, newVAPID(t), true)
	require.NoError(t, err)
	k4 := rot.Current
	_, err = b.db.ExecContext(b.ctx, `UPDATE vapid_keys SET retiring_since = now() - interval '100 days' WHERE id = $1`, testKeyID)
	require.NoError(t, err)

	retired, err := b.store.DeleteRetired(b.ctx, time.Now().Add(-90*24*time.Hour))
	require.NoError(t, err)
	require.Len(t, retired, 2)
	require.Equal(t, testKeyID, retired[0].Key.ID)
	require.Equal(t, 2, retired[0].Subscriptions, "past VAPID_RETIRE_AFTER: deleted with its devices")
	require.Equal(t, k2.ID, retired[1].Key.ID)
	require.Zero(t, retired[1].Subscriptions, "unused: deleted at once")

	usage, err := b.store.KeyUsage(b.ctx)
	require.NoError(t, err)
	require.Len(t, usage, 2)
	require.Equal(t, k3.ID, usage[0].Key.ID, "revoked but within its time: kept")
	require.Equal(t, 1, usage[0].Subscriptions)
	require.Equal(t, k4.ID, usage[1].Key.ID, "the current key is never retired")
	require.Zero(t, b.count(t, "user_id = 'u'"))
	require.Equal(t, 1, b.count(t, "user_id = 'v'"))

	again, err := b.store.DeleteRetired(b.ctx, time.Now().Add(-90*24*time.Hour))
	require.NoError(t, err)
	require.Empty(t, again)
}
