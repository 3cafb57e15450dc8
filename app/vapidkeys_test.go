package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

// TestSubscribeBindsToTheNamedKey: a subscription is bound to the key the
// browser names, else to the current one; a key the service does not know
// is refused naming the field.
func TestSubscribeBindsToTheNamedKey(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	first := d.keyStore.keys[0]
	second := d.keyStore.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	require.NoError(t, d.keys.Load(t.Context()))
	svc := d.service(t)
	caller := domain.Principal{UserID: "u1"}

	for name, tt := range map[string]struct {
		named string
		want  int
	}{
		"absent: the current key":  {named: "", want: second.ID},
		"the current key":          {named: second.PublicKey, want: second.ID},
		"a retiring key: it stays": {named: first.PublicKey, want: first.ID},
		"padded":                   {named: first.PublicKey + "=", want: first.ID},
	} {
		t.Run(name, func(t *testing.T) {
			in := validSubscriptionInput(t)
			in.ApplicationServerKey = tt.named
			_, err := svc.Subscribe(t.Context(), caller, in)
			require.NoError(t, err)
			d.store.mu.Lock()
			got := d.store.upserts[len(d.store.upserts)-1]
			d.store.mu.Unlock()
			require.Equal(t, tt.want, got.VAPIDKeyID)
		})
	}

	in := validSubscriptionInput(t)
	in.ApplicationServerKey = newPair(t).PublicKey
	_, err := svc.Subscribe(t.Context(), caller, in)
	var verr *domain.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, domain.FieldApplicationServerKey, verr.Fields[0].Field)
	require.Contains(t, verr.Fields[0].Message, "not a VAPID key of this service")
}

// TestUnknownKeyReloadsOnce: a key rotated in on another instance a moment
// ago is found by reloading; made-up keys cost one reload a second at most.
func TestUnknownKeyReloadsOnce(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore(t)
	clock := &steppedClock{now: testNow}
	keys := app.NewKeys(store, domain.VAPIDKeys{}, clock, slog.New(slog.DiscardHandler))
	require.NoError(t, keys.Load(t.Context()))
	loads := func() int { store.mu.Lock(); defer store.mu.Unlock(); return store.loads }

	elsewhere := store.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	got, ok, err := keys.ByPublicKey(t.Context(), elsewhere.PublicKey)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, elsewhere.ID, got.ID)
	require.Equal(t, 2, loads())
	require.Equal(t, elsewhere.PublicKey, keys.Ring().Current().PublicKey, "the reload also brings the new current key")

	for range 5 {
		_, ok, err = keys.ByPublicKey(t.Context(), newPair(t).PublicKey)
		require.NoError(t, err)
		require.False(t, ok)
	}
	require.Equal(t, 2, loads(), "within a second of the last reload: none")
	clock.now = clock.now.Add(time.Second)
	_, ok, err = keys.ByPublicKey(t.Context(), newPair(t).PublicKey)
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, 3, loads())
}

type steppedClock struct{ now time.Time }

func (c *steppedClock) Now() time.Time { return c.now }

// TestKeysLoadFailureKeepsTheKeysInUse: a reload that fails (database
// away, a key that does not open) leaves the previous keys serving.
func TestKeysLoadFailureKeepsTheKeysInUse(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore(t)
	keys := loadedKeys(t, store, domain.VAPIDKeys{})
	before := keys.Ring()

	store.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	store.loadErr = domain.ErrUnavailable
	require.ErrorIs(t, keys.Load(t.Context()), domain.ErrUnavailable)
	require.Same(t, before, keys.Ring())

	// Nothing current that can sign is refused too.
	store.loadErr = nil
	store.keys[len(store.keys)-1].PrivateKey = ""
	require.ErrorIs(t, keys.Load(t.Context()), domain.ErrNoCurrentKey)
	require.Same(t, before, keys.Ring())
}

// TestKeysRunReloads: a rotation made elsewhere reaches the keyring at the
// next tick.
func TestKeysRunReloads(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore(t)
	keys := loadedKeys(t, store, domain.VAPIDKeys{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { keys.Run(ctx, 5*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	next := store.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	require.Eventually(t, func() bool { return keys.Ring().Current().ID == next.ID }, 30*time.Second, 5*time.Millisecond)
}

// TestKeysLoadLogsARotation: a reload that finds another current key says
// so, naming keys by id and fingerprint only.
func TestKeysLoadLogsARotation(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore(t)
	var logs bytes.Buffer
	keys := app.NewKeys(store, domain.VAPIDKeys{}, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, keys.Load(t.Context()))
	require.NoError(t, keys.Load(t.Context()))
	require.Empty(t, logs.String(), "nothing changed")

	next := store.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	require.NoError(t, keys.Load(t.Context()))
	require.Contains(t, logs.String(), "VAPID key rotated")
	require.Contains(t, logs.String(), "fingerprint="+next.Fingerprint())
	require.NotContains(t, logs.String(), next.PublicKey)
	require.NotContains(t, logs.String(), next.PrivateKey)
}

func TestRotateVAPIDKey(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore(t)
	first := store.keys[0]
	store.holds[first.ID] = 7

	_, err := app.RotateVAPIDKey(t.Context(), store, true, false)
	require.ErrorIs(t, err, app.ErrKeysConfigured)
	require.Len(t, store.keys, 1, "nothing changed")

	res, err := app.RotateVAPIDKey(t.Context(), store, false, false)
	require.NoError(t, err)
	require.Equal(t, first.ID, res.Retired.ID)
	require.False(t, res.Retired.Revoked())
	require.Equal(t, 7, res.RetiredHeldBy)
	require.NotEqual(t, first.PublicKey, res.Current.PublicKey)
	require.NoError(t, res.Current.Validate(), "a fresh, valid pair")

	res, err = app.RotateVAPIDKey(t.Context(), store, false, true)
	require.NoError(t, err)
	require.True(t, res.Retired.Revoked())

	usage, err := app.ListVAPIDKeys(t.Context(), store)
	require.NoError(t, err)
	require.Len(t, usage, 3)
	require.Equal(t, 7, usage[0].Subscriptions)
}

// TestRetireVAPIDKeys: the cleanup deletes retiring keys that are unused or
// past RetireAfter, and logs each with the subscriptions deleted with it.
func TestRetireVAPIDKeys(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	var logs bytes.Buffer
	old := d.keyStore.keys[0]
	d.keyStore.holds[old.ID] = 4
	d.keyStore.add(domain.VAPIDKey{VAPIDKeys: newPair(t), State: domain.VAPIDKeyCurrent})
	svc := app.New(app.Deps{Subscriptions: d.store, Keys: d.keys, Clock: fakeClock{now: testNow},
		Cleanup: app.CleanupPolicy{RetireAfter: 24 * time.Hour}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	// RetiringSince is testNow (fake store): within its day, kept.
	_, err := svc.CleanupSubscriptions(t.Context())
	require.NoError(t, err)
	require.Equal(t, []time.Time{testNow.Add(-24 * time.Hour)}, d.keyStore.retireBefore)
	require.Len(t, d.keyStore.keys, 2)

	d.keyStore.keys[0].RetiringSince = testNow.Add(-25 * time.Hour)
	retired, err := svc.RetireVAPIDKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, retired, 1)
	require.Equal(t, 4, retired[0].Subscriptions)
	require.Contains(t, logs.String(), "retired VAPID key deleted with the subscriptions that never moved")
	require.Contains(t, logs.String(), "subscriptions_deleted=4")
	require.Contains(t, logs.String(), "fingerprint="+old.Fingerprint())
	require.NotContains(t, logs.String(), old.PublicKey)
}

func TestRetireVAPIDKeysDefault(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	_, err := d.service(t).RetireVAPIDKeys(t.Context())
	require.NoError(t, err)
	require.Equal(t, []time.Time{testNow.Add(-90 * 24 * time.Hour)}, d.keyStore.retireBefore)
}

// TestPushWithheld: a subscription whose key does not sign gets nothing:
// the sender says so, and the app drops the message without counting a
// failure against the device, logging why.
func TestPushWithheld(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	sub := domain.Subscription{ID: "s1", UserID: "u1", UserType: domain.UserTypeClient,
		Endpoint: "https://fcm.googleapis.com/fcm/send/1", VAPIDKeyID: 9}
	d.store.seed([]domain.Subscription{sub})
	d.sender.answers[sub.Endpoint] = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeWithheld, Reason: domain.WithheldRevoked}}

	rep, err := d.service(t).SendTest(t.Context(), domain.Principal{UserID: "u1"})
	require.NoError(t, err)
	require.Equal(t, app.TestReport{Found: 1, Failed: 1}, rep)
	require.Empty(t, d.store.records, "not the device's fault")
	require.Empty(t, d.store.deletes)
	obs := d.metrics.observedPushes()
	require.Len(t, obs, 1)
	require.Equal(t, domain.OutcomeWithheld, obs[0].Outcome, "counted")
}
