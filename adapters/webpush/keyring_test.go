package webpush_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

// oneKey is a keyring holding keys as key 0, the key ID of the tests'
// subscriptions.
func oneKey(tb testing.TB, keys domain.VAPIDKeys) *domain.Keyring {
	tb.Helper()
	ring, err := domain.NewKeyring([]domain.VAPIDKey{{VAPIDKeys: keys, State: domain.VAPIDKeyCurrent}}, domain.VAPIDKeys{})
	require.NoError(tb, err)
	return ring
}

// TestSendSignsWithTheSubscriptionsKey: each subscription's push is signed
// with the key it was made with, found by its key ID; a push service bound
// to that key (as FCM is) accepts it. A key that may not sign sends nothing.
func TestSendSignsWithTheSubscriptionsKey(t *testing.T) {
	t.Parallel()
	a, b, revoked, elsewhere := newPair(t), newPair(t), newPair(t), newPair(t)
	ring, err := domain.NewKeyring([]domain.VAPIDKey{
		{ID: 1, VAPIDKeys: a, State: domain.VAPIDKeyRetiring, RetiringSince: time.Now()},
		{ID: 2, VAPIDKeys: b, State: domain.VAPIDKeyCurrent},
		{ID: 3, VAPIDKeys: domain.VAPIDKeys{PublicKey: revoked.PublicKey}, State: domain.VAPIDKeyRetiring,
			RetiringSince: time.Now(), RevokedAt: time.Now()},
		{ID: 4, VAPIDKeys: domain.VAPIDKeys{PublicKey: elsewhere.PublicKey}, State: domain.VAPIDKeyRetiring,
			RetiringSince: time.Now(), Configured: true},
	}, domain.VAPIDKeys{})
	require.NoError(t, err)
	srv := pushservice.New(t)
	sender := webpush.NewSender(webpush.Config{Keys: ring, Subject: subject, AllowLoopback: true})

	for id, key := range map[int]domain.VAPIDKeys{1: a, 2: b} {
		d := srv.NewDevice(pushservice.WithKey(key.PublicKey))
		sub := subscriptionOf(t, d.Endpoint, d.P256dh, d.Auth)
		sub.VAPIDKeyID = id
		res, err := sender.Send(t.Context(), sub, sessionNotification())
		require.NoError(t, err)
		require.Equal(t, domain.OutcomeDelivered, res.Outcome, "key %d", id)

		other := sub
		other.VAPIDKeyID = 3 - id // the other key: refused as FCM refuses it
		res, err = sender.Send(t.Context(), other, sessionNotification())
		require.NoError(t, err)
		require.Equal(t, domain.OutcomeRejected, res.Outcome)
		require.Equal(t, 403, res.StatusCode)
	}
	require.Len(t, srv.All(), 4)

	for id, reason := range map[int]string{3: domain.WithheldRevoked, 4: domain.WithheldNoPrivateKey, 5: domain.WithheldUnknownKey} {
		d := srv.NewDevice()
		sub := subscriptionOf(t, d.Endpoint, d.P256dh, d.Auth)
		sub.VAPIDKeyID = id
		res, err := sender.Send(t.Context(), sub, sessionNotification())
		require.NoError(t, err)
		require.Equal(t, domain.PushResult{Outcome: domain.OutcomeWithheld, Reason: reason}, res)
	}
	require.Len(t, srv.All(), 4, "nothing sent for a key that may not sign")
}

func newPair(tb testing.TB) domain.VAPIDKeys {
	tb.Helper()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(tb, err)
	return k
}
