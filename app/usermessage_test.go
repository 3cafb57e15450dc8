package app_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func userMessage() domain.UserMessage {
	return domain.UserMessage{
		UserID: driverID, UserType: domain.UserTypeClient,
		Title: map[string]string{"ru": "Оплата получена", "en": "Payment received"},
		Body:  map[string]string{"ru": "Спасибо", "en": "Thank you"},
		TTL:   time.Hour, Urgency: domain.UrgencyNormal, Tag: "payment-1",
		OccurredAt: testNow.Add(-10 * time.Minute),
	}
}

func TestMessageSubscriptions(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	withRecipientSubscriptions(t, d)
	subs, err := d.service(t).MessageSubscriptions(t.Context(), userMessage())
	require.NoError(t, err)
	require.Len(t, d.store.recipients, 1)
	require.Equal(t, []domain.Recipient{{UserID: driverID, UserType: domain.UserTypeClient}}, d.store.recipients[0])
	require.NotEmpty(t, subs)

	bad := userMessage()
	bad.URL = "//evil.example"
	_, err = d.service(t).MessageSubscriptions(t.Context(), bad)
	require.ErrorIs(t, err, domain.ErrInvalid)
	require.Len(t, d.store.recipients, 1, "an invalid message lists nobody")
}

func TestDeliverMessage(t *testing.T) {
	t.Parallel()
	const endpoint = "https://fcm.googleapis.com/fcm/send/m"
	tests := []struct {
		name, locale, wantTitle string
	}{
		{"the device's language", "en-US", "Payment received"},
		{"the default language otherwise", "ky", "Оплата получена"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDeps(t)
			d.store.seed([]domain.Subscription{{ID: "s1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint, Locale: tt.locale}})
			to := domain.Recipient{UserID: driverID, UserType: domain.UserTypeClient}
			res, err := d.service(t).DeliverMessage(t.Context(), "s1", to, userMessage())
			require.NoError(t, err)
			require.Equal(t, domain.OutcomeDelivered, res.Outcome)
			sent := d.sender.calls()
			require.Len(t, sent, 1)
			n := sent[0].Notification
			require.Equal(t, tt.wantTitle, n.Title)
			require.Equal(t, 50*time.Minute, n.TTL, "what is left of the TTL")
			require.True(t, n.Renotify)
			require.Equal(t, "/", n.URL)
		})
	}

	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		d := newDeps(t)
		d.store.seed([]domain.Subscription{{ID: "s1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint}})
		m := userMessage()
		m.OccurredAt = testNow.Add(-2 * time.Hour)
		_, err := d.service(t).DeliverMessage(t.Context(), "s1", domain.Recipient{UserID: driverID, UserType: domain.UserTypeClient}, m)
		require.True(t, errors.Is(err, domain.ErrExpired))
		require.Empty(t, d.sender.calls())
	})

	t.Run("refused before sending: the device is not blamed", func(t *testing.T) {
		t.Parallel()
		d := newDeps(t)
		d.store.seed([]domain.Subscription{{ID: "s1", UserID: driverID, UserType: domain.UserTypeClient, Endpoint: endpoint}})
		d.sender.answers[endpoint] = sendAnswer{result: domain.PushResult{Outcome: domain.OutcomeRejected, Reason: "payload too large"},
			err: errors.New("payload of 4000 bytes exceeds the limit")}
		res, _ := d.service(t).DeliverMessage(t.Context(), "s1", domain.Recipient{UserID: driverID, UserType: domain.UserTypeClient}, userMessage())
		require.Equal(t, domain.OutcomeRejected, res.Outcome)
		require.Empty(t, d.store.records, "no failure recorded against the subscription")
	})
}
