package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/app"
)

func TestCleanupSubscriptionsUsesPolicy(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	d.store.deleteFailingN = 3
	svc := app.New(app.Deps{Subscriptions: d.store, Clock: fakeClock{now: testNow},
		Cleanup: app.CleanupPolicy{After: 48 * time.Hour, MinFailures: 2}})
	n, err := svc.CleanupSubscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []deleteFailingCall{{Before: testNow.Add(-48 * time.Hour), MinFailures: 2}}, d.store.deleteFailing)
}

func TestCleanupSubscriptionsDefaults(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	svc := app.New(app.Deps{Subscriptions: d.store, Clock: fakeClock{now: testNow}})
	_, err := svc.CleanupSubscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, []deleteFailingCall{{Before: testNow.Add(-30 * 24 * time.Hour), MinFailures: 5}}, d.store.deleteFailing)
}
