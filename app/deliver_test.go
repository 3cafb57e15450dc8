package app_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

// withRecipientSubscriptions stores subscriptions of the driver and the owner
// in both roles, and one of a bystander.
func withRecipientSubscriptions(tb testing.TB, d *deps) {
	tb.Helper()
	d.store.seed([]domain.Subscription{
		{ID: "driver-client", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: "https://fcm.googleapis.com/fcm/send/dc"},
		{ID: "driver-owner", UserID: driverID, UserType: domain.UserTypeOwner, Endpoint: "https://fcm.googleapis.com/fcm/send/do"},
		{ID: "owner-owner", UserID: ownerID, UserType: domain.UserTypeOwner, Endpoint: "https://fcm.googleapis.com/fcm/send/oo"},
		{ID: "owner-client", UserID: ownerID, UserType: domain.UserTypeClient, Endpoint: "https://fcm.googleapis.com/fcm/send/oc"},
		{ID: "other-client", UserID: "other", UserType: domain.UserTypeClient, Endpoint: "https://fcm.googleapis.com/fcm/send/xc"},
	})
}

func startedEvent(tb testing.TB) domain.ChargingEvent {
	tb.Helper()
	return domain.ChargingEvent{
		Kind: domain.EventChargingStarted, SessionID: "sess-1", StationID: stationID, ConnectorID: 2,
		DriverID: driverID, OwnerID: ownerID, OccurredAt: testNow.Add(-10 * time.Minute),
	}
}

func completedEvent(tb testing.TB) domain.ChargingEvent {
	tb.Helper()
	ev := startedEvent(tb)
	ev.Kind, ev.EnergyKWh, ev.Amount = domain.EventChargingCompleted, 12.5, 16663
	return ev
}

func subIDs(tb testing.TB, subs []domain.Subscription) []string {
	tb.Helper()
	ids := make([]string, 0, len(subs))
	for _, s := range subs {
		ids = append(ids, s.ID)
	}
	return ids
}

// TestEventSubscriptionsHonourPreferences: the owner switched new_session
// off, so a start reaches the driver only (the owner's devices counted as
// skipped), while the completion's session_completed still reaches both.
func TestEventSubscriptionsHonourPreferences(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	withStation(t, d)
	withRecipientSubscriptions(t, d)
	require.NoError(t, d.store.SetPreferences(t.Context(), ownerID, domain.UserTypeOwner,
		[]domain.PrefSetting{{Pref: domain.KindPref(domain.TypeNewSession), Enabled: false}}))
	ev := startedEvent(t)

	subs, err := d.service(t).EventSubscriptions(t.Context(), ev)
	require.NoError(t, err)
	require.Equal(t, []string{"driver-client"}, subIDs(t, subs))
	require.Equal(t, []domain.Pref{domain.KindPref(domain.TypeNewSession)}, d.metrics.skippedByPreference())

	ev.Kind, ev.EnergyKWh, ev.Amount = domain.EventChargingCompleted, 12.5, 16663
	subs, err = d.service(t).EventSubscriptions(t.Context(), ev)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"driver-client", "owner-owner"}, subIDs(t, subs))
	require.Len(t, d.metrics.skippedByPreference(), 1, "nothing more skipped")
}

func TestEventSubscriptions(t *testing.T) {
	t.Parallel()

	// Each role is asked for under the kind it gets of the event.
	both := []domain.Recipient{
		{UserID: driverID, UserType: domain.UserTypeClient, Pref: domain.KindPref(domain.TypeChargingStarted)},
		{UserID: ownerID, UserType: domain.UserTypeOwner, Pref: domain.KindPref(domain.TypeNewSession)},
	}
	bothCompleted := []domain.Recipient{
		{UserID: driverID, UserType: domain.UserTypeClient, Pref: domain.KindPref(domain.TypeChargingCompleted)},
		{UserID: ownerID, UserType: domain.UserTypeOwner, Pref: domain.KindPref(domain.TypeSessionCompleted)},
	}
	driverOnly := both[:1]
	tests := []struct {
		name           string
		modify         func(ev *domain.ChargingEvent)
		setup          func(d *deps)
		wantIDs        []string
		wantRecipients []domain.Recipient
		wantNoOwner    bool // warned about and counted
	}{
		{
			name:           "owner in event",
			modify:         func(*domain.ChargingEvent) {},
			wantIDs:        []string{"driver-client", "owner-owner"},
			wantRecipients: both,
		},
		{
			name: "completed event",
			modify: func(ev *domain.ChargingEvent) {
				ev.Kind, ev.EnergyKWh, ev.Amount = domain.EventChargingCompleted, 12.5, 16663
			},
			wantIDs:        []string{"driver-client", "owner-owner"},
			wantRecipients: bothCompleted,
		},
		{
			name:           "no owner in the event: the owner is not notified",
			modify:         func(ev *domain.ChargingEvent) { ev.OwnerID = "" },
			wantIDs:        []string{"driver-client"},
			wantRecipients: driverOnly,
			wantNoOwner:    true,
		},
		{
			name:           "no owner and no station",
			modify:         func(ev *domain.ChargingEvent) { ev.OwnerID, ev.StationID = "", "" },
			wantIDs:        []string{"driver-client"},
			wantRecipients: driverOnly,
			wantNoOwner:    true,
		},
		{
			name:           "owner only",
			modify:         func(ev *domain.ChargingEvent) { ev.DriverID = "" },
			wantIDs:        []string{"owner-owner"},
			wantRecipients: both[1:],
		},
		{
			name:   "no subscriptions",
			modify: func(*domain.ChargingEvent) {},
			setup:  func(d *deps) { d.store.memStore = newMemStore(d.keyStore.has) }, // empty
			// wantIDs nil: empty result
			wantRecipients: both,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			withRecipientSubscriptions(t, d)
			if tt.setup != nil {
				tt.setup(d)
			}
			ev := startedEvent(t)
			tt.modify(&ev)

			subs, err := d.service(t).EventSubscriptions(t.Context(), ev)
			require.NoError(t, err)
			if tt.wantIDs == nil {
				require.Empty(t, subs)
			} else {
				require.ElementsMatch(t, tt.wantIDs, subIDs(t, subs))
			}
			require.NotContains(t, subIDs(t, subs), "driver-owner", "the driver hears as a client only")
			require.NotContains(t, subIDs(t, subs), "owner-client", "the owner hears as an owner only")

			require.Len(t, d.store.recipients, 1, "one query")
			require.ElementsMatch(t, tt.wantRecipients, d.store.recipients[0])

			require.Zero(t, d.charging.txs)
			require.Empty(t, d.metrics.skippedByPreference())
			if tt.wantNoOwner {
				require.Equal(t, []domain.EventKind{ev.Kind}, d.metrics.noOwner())
			} else {
				require.Empty(t, d.metrics.noOwner())
			}
		})
	}
}

func TestEventSubscriptions_Errors(t *testing.T) {
	t.Parallel()

	errDB := fmt.Errorf("connection reset: %w", domain.ErrUnavailable)
	tests := []struct {
		name      string
		modify    func(ev *domain.ChargingEvent)
		setup     func(d *deps)
		wantErr   error
		wantLists int
	}{
		{
			name:    "no session id",
			modify:  func(ev *domain.ChargingEvent) { ev.SessionID = "" },
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "unknown kind",
			modify:  func(ev *domain.ChargingEvent) { ev.Kind = "charging_paused" },
			wantErr: domain.ErrInvalid,
		},
		{
			name:    "no user",
			modify:  func(ev *domain.ChargingEvent) { ev.DriverID, ev.OwnerID = "", "" },
			wantErr: domain.ErrInvalid,
		},
		{
			name:      "listing fails",
			modify:    func(*domain.ChargingEvent) {},
			setup:     func(d *deps) { d.store.listErr = errDB },
			wantErr:   errDB,
			wantLists: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			withRecipientSubscriptions(t, d)
			if tt.setup != nil {
				tt.setup(d)
			}
			ev := startedEvent(t)
			tt.modify(&ev)

			subs, err := d.service(t).EventSubscriptions(t.Context(), ev)
			require.Nil(t, subs)
			require.ErrorIs(t, err, tt.wantErr)
			require.Len(t, d.store.recipients, tt.wantLists)
			if errors.Is(tt.wantErr, domain.ErrInvalid) {
			}
		})
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()

	const endpoint = "https://fcm.googleapis.com/fcm/send/dev"
	tests := []struct {
		name          string
		ev            func(tb testing.TB) domain.ChargingEvent
		role          domain.UserType
		subLocale     string
		defaultLocale string
		wantLocale    string // the locale the notification is rendered in
		wantTTL       time.Duration
	}{
		{
			name: "started, 10 minutes old", ev: startedEvent, role: domain.UserTypeClient,
			subLocale: "en", wantLocale: "en", wantTTL: 50 * time.Minute,
		},
		{
			name: "new session to owner", ev: startedEvent, role: domain.UserTypeOwner,
			subLocale: "ru", wantLocale: "ru", wantTTL: 50 * time.Minute,
		},
		{
			name: "completed, 10 minutes old", ev: completedEvent, role: domain.UserTypeClient,
			subLocale: "ru", wantLocale: "ru", wantTTL: 23*time.Hour + 50*time.Minute,
		},
		{
			name: "session completed to owner", ev: completedEvent, role: domain.UserTypeOwner,
			subLocale: "en-GB", wantLocale: "en", wantTTL: 23*time.Hour + 50*time.Minute,
		},
		{
			name: "completed 2 hours old is still relevant", role: domain.UserTypeClient,
			ev: func(tb testing.TB) domain.ChargingEvent {
				tb.Helper()
				ev := completedEvent(tb)
				ev.OccurredAt = testNow.Add(-2 * time.Hour)
				return ev
			},
			subLocale: "en", wantLocale: "en", wantTTL: 22 * time.Hour,
		},
		{
			name: "config default locale when the subscription has none", ev: startedEvent, role: domain.UserTypeClient,
			defaultLocale: "en", wantLocale: "en", wantTTL: 50 * time.Minute,
		},
		{
			name: "subscription locale beats config default", ev: startedEvent, role: domain.UserTypeClient,
			subLocale: "ru", defaultLocale: "en", wantLocale: "ru", wantTTL: 50 * time.Minute,
		},
		{
			name: "no locale anywhere is Russian", ev: startedEvent, role: domain.UserTypeClient,
			wantLocale: "ru", wantTTL: 50 * time.Minute,
		},
		{
			name: "no occurrence time keeps the full TTL", role: domain.UserTypeClient,
			ev: func(tb testing.TB) domain.ChargingEvent {
				tb.Helper()
				ev := startedEvent(tb)
				ev.OccurredAt = time.Time{}
				return ev
			},
			subLocale: "en", wantLocale: "en", wantTTL: time.Hour,
		},
		{
			name: "just happened", role: domain.UserTypeClient,
			ev: func(tb testing.TB) domain.ChargingEvent {
				tb.Helper()
				ev := startedEvent(tb)
				ev.OccurredAt = testNow
				return ev
			},
			subLocale: "en", wantLocale: "en", wantTTL: time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			d.defaultLocale = tt.defaultLocale
			sub := domain.Subscription{ID: "sub-1", UserID: driverID, UserType: tt.role, Endpoint: endpoint, Locale: tt.subLocale}
			d.store.seed([]domain.Subscription{sub})
			ev := tt.ev(t)

			res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, ev)
			require.NoError(t, err)
			require.Equal(t, domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201}, res)

			want := messages.Default().Event(ev, tt.role, tt.wantLocale)
			want.TTL = tt.wantTTL
			require.Equal(t, []sendCall{{Sub: sub, Notification: want}}, d.sender.calls())
			require.Equal(t, []recordCall{{ID: "sub-1", Success: true, At: testNow}}, d.store.records)
			require.Empty(t, d.store.deletes)
		})
	}
}

func TestDeliver_UnknownSubscription(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withRecipientSubscriptions(t, d)

	res, err := d.service(t).Deliver(t.Context(), "sub-missing", domain.Recipient{}, startedEvent(t))
	require.Zero(t, res)
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.Empty(t, d.sender.calls(), "nothing sent")
	_, _, deletes, records := d.store.calls()
	require.Zero(t, deletes)
	require.Zero(t, records)
}

func TestDeliver_Expired(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		kind domain.EventKind
		age  time.Duration
	}{
		{name: "started 2 hours ago", kind: domain.EventChargingStarted, age: 2 * time.Hour},
		{name: "started exactly an hour ago", kind: domain.EventChargingStarted, age: time.Hour},
		{name: "completed 25 hours ago", kind: domain.EventChargingCompleted, age: 25 * time.Hour},
		{name: "completed exactly a day ago", kind: domain.EventChargingCompleted, age: 24 * time.Hour},
	}
	for _, tt := range tests {
		for _, role := range []domain.UserType{domain.UserTypeClient, domain.UserTypeOwner} {
			t.Run(tt.name+"/"+string(role), func(t *testing.T) {
				t.Parallel()

				d := newDeps(t)
				d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: role, Endpoint: "https://fcm.googleapis.com/fcm/send/x"}})
				ev := startedEvent(t)
				if tt.kind == domain.EventChargingCompleted {
					ev = completedEvent(t)
				}
				ev.OccurredAt = testNow.Add(-tt.age)

				res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, ev)
				require.Zero(t, res)
				require.ErrorIs(t, err, domain.ErrExpired)
				require.Empty(t, d.sender.calls(), "nothing sent")
				_, _, deletes, records := d.store.calls()
				require.Zero(t, deletes)
				require.Zero(t, records)
			})
		}
	}
}

func TestDeliver_Outcomes(t *testing.T) {
	t.Parallel()

	const endpoint = "https://updates.push.services.mozilla.com/wpush/v2/dev"
	errSend := errors.New("push service unavailable")
	tests := []struct {
		name        string
		answer      sendAnswer
		wantDeletes []deleteCall
		wantRecords []recordCall
	}{
		{
			name:        "delivered",
			answer:      sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeDelivered, StatusCode: 201}},
			wantRecords: []recordCall{{ID: "sub-1", Success: true, At: testNow}},
		},
		{
			name:        "gone",
			answer:      sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410, Reason: "expired"}},
			wantDeletes: []deleteCall{{ID: "sub-1", Endpoint: endpoint}},
		},
		{
			name:        "not found is gone",
			answer:      sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 404}},
			wantDeletes: []deleteCall{{ID: "sub-1", Endpoint: endpoint}},
		},
		{
			name: "transient",
			answer: sendAnswer{
				result: domain.PushResult{Outcome: domain.OutcomeTransient, StatusCode: 503, RetryAfter: 30 * time.Second},
				err:    errSend,
			},
			wantRecords: []recordCall{{ID: "sub-1", Success: false, At: testNow}},
		},
		{
			name:        "rate limited",
			answer:      sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeRateLimited, StatusCode: 429, RetryAfter: time.Minute}},
			wantRecords: []recordCall{{ID: "sub-1", Success: false, At: testNow}},
		},
		{
			name:        "rejected",
			answer:      sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeRejected, StatusCode: 413, Reason: "payload too large"}},
			wantRecords: []recordCall{{ID: "sub-1", Success: false, At: testNow}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint}})
			d.sender.answers[endpoint] = tt.answer

			res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, completedEvent(t))
			require.Equal(t, tt.answer.result, res, "the push service's answer is returned unchanged")
			if tt.answer.err != nil {
				require.ErrorIs(t, err, tt.answer.err)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, d.sender.calls(), 1)
			require.Equal(t, tt.wantDeletes, d.store.deletes)
			require.Equal(t, tt.wantRecords, d.store.records)
		})
	}
}

// TestDeliver_ObservesThePushService: the metric names the push service,
// never the endpoint's host, which the subscriber chose.
func TestDeliver_ObservesThePushService(t *testing.T) {
	t.Parallel()

	tests := []struct {
		endpoint string
		want     domain.PushService
	}{
		{"https://fcm.googleapis.com/fcm/send/dev", domain.PushServiceFCM},
		{"https://x1234.googleapis.com/fcm/send/dev", domain.PushServiceOther},
		{"https://updates.push.services.mozilla.com/wpush/v2/dev", domain.PushServiceMozilla},
		{"https://web.push.apple.com/dev", domain.PushServiceApple},
		{"https://wns2-par02p.notify.windows.com/w/?token=dev", domain.PushServiceWNS},
		{"http://127.0.0.1:8080/push/dev", domain.PushServiceOther},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			d.policy = domain.EndpointPolicy{AllowedHosts: []string{"*"}, AllowLoopback: true}
			d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: tt.endpoint}})

			_, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, completedEvent(t))
			require.NoError(t, err)
			require.Equal(t, []pushObservation{{Service: tt.want, Outcome: domain.OutcomeDelivered}}, d.metrics.observedPushes())
		})
	}
}

func TestDeliver_BookkeepingErrorsAreNotReturned(t *testing.T) {
	t.Parallel()

	const endpoint = "https://fcm.googleapis.com/fcm/send/gone"
	d := newDeps(t)
	d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint}})
	d.store.deleteErr = errors.New("db down")
	answer := domain.PushResult{Outcome: domain.OutcomeGone, StatusCode: 410}
	d.sender.answers[endpoint] = sendAnswer{result: answer}

	res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, startedEvent(t))
	require.NoError(t, err, "the push happened; its bookkeeping failing must not trigger a retry")
	require.Equal(t, answer, res)
	require.Len(t, d.store.deletes, 1)
}

// TestDeliver_DeviceChangedHands: a device re-subscribed by another user (or
// in another role) after the event must not get the earlier user's message.
func TestDeliver_DeviceChangedHands(t *testing.T) {
	t.Parallel()
	for _, to := range []domain.Recipient{
		{UserID: "someone-else", UserType: domain.UserTypeClient},
		{UserID: driverID, UserType: domain.UserTypeOwner},
	} {
		d := newDeps(t)
		d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient,
			Endpoint: "https://fcm.googleapis.com/fcm/send/x"}})
		res, err := d.service(t).Deliver(t.Context(), "sub-1", to, startedEvent(t))
		require.Zero(t, res)
		require.ErrorIs(t, err, domain.ErrNotFound)
		require.Empty(t, d.sender.calls(), "nothing sent")
	}
	d := newDeps(t)
	d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient,
		Endpoint: "https://fcm.googleapis.com/fcm/send/x"}})
	res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{UserID: driverID, UserType: domain.UserTypeClient}, startedEvent(t))
	require.NoError(t, err)
	require.Equal(t, domain.OutcomeDelivered, res.Outcome)
}

// TestDeliver_StoredEndpointOutsideThePolicy: a row stored under an older,
// wider policy (another host, another port) is not sent to: it is deleted,
// as a gone subscription is.
func TestDeliver_StoredEndpointOutsideThePolicy(t *testing.T) {
	t.Parallel()
	for _, endpoint := range []string{"https://storage.googleapis.com/x", "https://fcm.googleapis.com:8443/fcm/send/x"} {
		d := newDeps(t)
		d.store.seed([]domain.Subscription{{ID: "sub-1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint}})
		res, err := d.service(t).Deliver(t.Context(), "sub-1", domain.Recipient{}, completedEvent(t))
		require.Error(t, err)
		require.Equal(t, domain.OutcomeGone, res.Outcome, endpoint)
		require.Empty(t, d.sender.calls(), "nothing sent to %s", endpoint)
		require.Equal(t, []deleteCall{{ID: "sub-1", Endpoint: endpoint}}, d.store.deletes)
	}
}
