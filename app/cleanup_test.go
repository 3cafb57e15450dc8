package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/domain"
)

func TestCleanupSubscriptionsUsesPolicy(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	failing := domain.Subscription{UserID: "u1", FailureCount: 2, CreatedAt: testNow.Add(-49 * time.Hour)}
	for i, sub := range []domain.Subscription{failing, failing, failing, {UserID: "u1", FailureCount: 1}} {
		sub.ID = fmt.Sprintf("s%d", i)
		d.store.seed([]domain.Subscription{sub})
	}
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
