package queue

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

// The job args are a contract with producers in any language: these pin
// how they decode, and that a malformed job is rejected, not retried.
func TestUserNotificationDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, args string
		wantUser   string
		wantErr    string // "" means it decodes
	}{
		{"string user", `{"user_id":"u-1","user_type":"client"}`, "u-1", ""},
		{"integer user", `{"user_id":42,"user_type":"client"}`, "42", ""},
		{"missing user", `{"user_type":"client"}`, "", ""}, // Validate names it
		{"fractional user", `{"user_id":4.2}`, "", "user_id: must be a string or an integer"},
		{"boolean user", `{"user_id":true}`, "", "user_id: must be a string or an integer"},
		{"title not an object", `{"user_id":"u","title":"T"}`, "", "title: must be an object, not string"},
		{"ttl not a number", `{"user_id":"u","ttl_seconds":"60"}`, "", "ttl_seconds: must be an integer, not string"},
		{"an array", `[1,2]`, "", "args are not a valid user_notification"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a UserNotification
			require.NoError(t, json.Unmarshal([]byte(tt.args), &a), "never fails: River would retry it")
			_, err := a.message(time.Now())
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tt.wantUser, a.UserID)
				return
			}
			require.ErrorIs(t, err, domain.ErrInvalid)
			require.ErrorContains(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "plain", "no internal names in the reason")
		})
	}
}

func TestUserNotificationDefaultsAndKey(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var a UserNotification
	require.NoError(t, json.Unmarshal([]byte(`{"user_id":"u","user_type":"owner","title":{"ru":"T"},"body":{"ru":"B"}}`), &a))
	m, err := a.message(at)
	require.NoError(t, err)
	require.Equal(t, domain.DefaultUserMessageTTL, m.TTL)
	require.Equal(t, domain.UrgencyNormal, m.Urgency)
	require.Equal(t, at, m.OccurredAt)
	require.NoError(t, m.Validate())
	require.Equal(t, "user_notification:job:7", a.key(7), "without a key, each job is its own message")
	a.DedupeKey = "payment-1"
	require.Equal(t, "user_notification:key:payment-1", a.key(7))
	require.Equal(t, a.key(8), a.key(7))

	for _, ttl := range []int{0, -5, 2419201, 1 << 62} {
		a.TTLSeconds = &ttl
		m, err := a.message(at)
		require.NoError(t, err)
		require.ErrorContains(t, m.Validate(), "ttl_seconds", "%d", ttl)
	}
}

// TestMessageDeliveryRoundTrip: what the fan-out writes, the delivery
// worker reads back whole, and it is a kind of its own (older workers,
// which know only push_delivery, leave it alone).
func TestMessageDeliveryRoundTrip(t *testing.T) {
	t.Parallel()
	ttl := 600
	d := MessageDelivery{Key: "user_notification:key:k", SubscriptionID: "sub-1", UserID: "42", UserType: "client",
		Message: UserNotification{UserID: "42", UserType: "client", Title: map[string]string{"en": "T"},
			Body: map[string]string{"en": "B"}, URL: "/x", Tag: "t", TTLSeconds: &ttl, Urgency: "high", DedupeKey: "k"},
		OccurredAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	var back MessageDelivery
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, d, back)
	require.NotContains(t, string(b), "decodeErr")
	require.Equal(t, "push_message_delivery", d.Kind())
	require.NotEqual(t, Delivery{}.Kind(), d.Kind())
}
