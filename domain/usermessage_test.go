package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

func validMessage() domain.UserMessage {
	return domain.UserMessage{
		UserID: "42", UserType: domain.UserTypeClient,
		Title: map[string]string{"ru": "Оплата получена", "en": "Payment received"},
		Body:  map[string]string{"ru": "Спасибо", "en": "Thank you"},
		TTL:   domain.DefaultUserMessageTTL, Urgency: domain.UrgencyNormal,
	}
}

func TestUserMessageValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(m *domain.UserMessage)
		field  string // "" means valid
	}{
		{"valid", func(*domain.UserMessage) {}, ""},
		{"no user", func(m *domain.UserMessage) { m.UserID = "" }, "user_id"},
		{"no role", func(m *domain.UserMessage) { m.UserType = "" }, "user_type"},
		{"no title", func(m *domain.UserMessage) { m.Title = nil }, "title"},
		{"blank body", func(m *domain.UserMessage) { m.Body["en"] = " \n" }, "body.en"},
		{"language key not a tag", func(m *domain.UserMessage) { m.Title["Русский"] = "x" }, "title.Русский"},
		{"upper-case language key", func(m *domain.UserMessage) { m.Title["EN"] = "x" }, "title.EN"},
		{"title of 200 characters", func(m *domain.UserMessage) { m.Title["ru"] = strings.Repeat("ж", 200) }, ""},
		{"title of 201 characters", func(m *domain.UserMessage) { m.Title["ru"] = strings.Repeat("ж", 201) }, "title.ru"},
		{"body of 1000 Cyrillic characters with a full title", func(m *domain.UserMessage) {
			m.Title["ru"], m.Body["ru"] = strings.Repeat("ж", 200), strings.Repeat("ж", 1000)
		}, ""},
		{"body of 1001 characters", func(m *domain.UserMessage) { m.Body["en"] = strings.Repeat("b", 1001) }, "body.en"},
		{"too many bytes (3-byte characters)", func(m *domain.UserMessage) { m.Body["en"] = strings.Repeat("€", 1000) }, "body"},
		{"quotes count escaped", func(m *domain.UserMessage) {
			m.Title["en"], m.Body["en"] = strings.Repeat(`"`, 200), strings.Repeat(`"`, 1000)
		}, ""}, // 2,400 bytes escaped: fits
		{"control characters count escaped", func(m *domain.UserMessage) { m.Body["en"] = strings.Repeat("\x01", 500) }, "body"},
		{"path url", func(m *domain.UserMessage) { m.URL = "/payments/1?x=y#z" }, ""},
		{"foreign url", func(m *domain.UserMessage) { m.URL = "https://evil.example/" }, "url"},
		{"scheme-relative url", func(m *domain.UserMessage) { m.URL = "//evil.example/" }, "url"},
		{"backslash url", func(m *domain.UserMessage) { m.URL = "/\\evil.example" }, "url"},
		{"javascript url", func(m *domain.UserMessage) { m.URL = "javascript:alert(1)" }, "url"},
		{"long url", func(m *domain.UserMessage) { m.URL = "/" + strings.Repeat("a", domain.MaxUserMessageURL) }, "url"},
		{"long tag", func(m *domain.UserMessage) { m.Tag = strings.Repeat("t", 65) }, "tag"},
		{"control character in dedupe key", func(m *domain.UserMessage) { m.DedupeKey = "a\nb" }, "dedupe_key"},
		{"ttl of 28 days", func(m *domain.UserMessage) { m.TTL = domain.MaxUserMessageTTL }, ""},
		{"ttl over 28 days", func(m *domain.UserMessage) { m.TTL = domain.MaxUserMessageTTL + time.Second }, "ttl_seconds"},
		{"ttl zero", func(m *domain.UserMessage) { m.TTL = 0 }, "ttl_seconds"},
		{"unknown urgency", func(m *domain.UserMessage) { m.Urgency = "urgent" }, "urgency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := validMessage()
			tt.modify(&m)
			err := m.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, domain.ErrInvalid)
			require.Contains(t, err.Error(), tt.field+":")
		})
	}
}

func TestUserMessageNotification(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	m := validMessage()
	m.Title["ru-kg"] = "Төлөм (ru-kg)"
	m.OccurredAt, m.Tag, m.URL = at, "payment-1", "/payments/1"
	tests := []struct{ locale, fallback, want string }{
		{"en", "ru", "Payment received"},
		{"en-GB", "ru", "Payment received"},
		{"ru-KG", "en", "Төлөм (ru-kg)"},
		{"ru-RU", "en", "Оплата получена"},
		{"ky", "en", "Payment received"},
		{"ky", "ru", "Оплата получена"},
		{"", "en", "Payment received"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, m.Notification(tt.locale, tt.fallback).Title, "%s/%s", tt.locale, tt.fallback)
	}
	n := m.Notification("uz", "ky")
	require.Equal(t, "Payment received", n.Title, "no device or default language: the first given, sorted")
	require.Equal(t, "payment-1", n.Tag)
	require.True(t, n.Renotify)
	require.Equal(t, at, n.Timestamp)
	require.Equal(t, "/payments/1", n.URL)
	require.Equal(t, string(domain.TypeUserNotification), n.Type)
	require.Len(t, n.Topic, 22)

	m.Tag, m.URL = "", ""
	n = m.Notification("en", "ru")
	require.False(t, n.Renotify)
	require.Empty(t, n.Topic)
	require.Equal(t, "/", n.URL)
}

func TestLinkTemplates(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"/", "/s/{session_id}", "/st/{station_id}/c/{connector_id}?s={session_id}#x"} {
		require.NoError(t, domain.ValidateLinkTemplate(ok), ok)
	}
	for _, bad := range []string{"", "s/{session_id}", "//{station_id}", "https://evil/{session_id}", "/{session}", "/a b",
		"{station_id}/x", "/.//evil.example", "/a/..//evil", "/a//b", "/a/./b"} {
		require.Error(t, domain.ValidateLinkTemplate(bad), bad)
	}
	for tpl := range domain.DefaultLinks {
		require.NoError(t, domain.ValidateLinkTemplate(domain.DefaultLinks[tpl]))
	}
}

// TestLinksEscapeEverythingAnIDCouldSmuggle: ids add no segment, query
// parameter or fragment, and never turn a link into another site's.
func TestLinksEscapeEverythingAnIDCouldSmuggle(t *testing.T) {
	t.Parallel()
	m := messages.Default()
	m.Links = domain.Links{
		domain.TypeChargingStarted:   "/s?x={session_id}&c={connector_id}",
		domain.TypeNewSession:        "/{station_id}/{session_id}",
		domain.TypeChargingCompleted: "/r/{session_id}",
	}
	ev := domain.ChargingEvent{Kind: domain.EventChargingStarted, SessionID: "a&admin=1#x/y?z", StationID: "", ConnectorID: 2, DriverID: "d"}
	require.Equal(t, "/s?x=a%26admin%3D1%23x%2Fy%3Fz&c=2", m.Event(ev, domain.UserTypeClient, "en").URL)
	ev.SessionID = "evil.example"
	require.Equal(t, "/", m.Event(ev, domain.UserTypeOwner, "en").URL, `an empty station id would leave "//evil.example"`)
	ev.Kind, ev.SessionID = domain.EventChargingCompleted, ".."
	require.Equal(t, "/", m.Event(ev, domain.UserTypeClient, "en").URL)
}
