package domain_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

// chargingEvent returns a complete event of kind for session "sess-42" at
// connector 2 of station "ST-7": 12.5 kWh billed 166.63.
func chargingEvent(tb testing.TB, kind domain.EventKind) domain.ChargingEvent {
	tb.Helper()
	ev := domain.ChargingEvent{
		Kind: kind, SessionID: "sess-42", StationID: "ST-7", ConnectorID: 2,
		DriverID: "driver-1", OwnerID: "owner-1",
		OccurredAt: time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC),
	}
	if kind == domain.EventChargingCompleted {
		ev.EnergyKWh, ev.Amount = 12.5, 16663
	}
	return ev
}

func TestTypeFor(t *testing.T) {
	t.Parallel()

	tests := []struct {
		kind domain.EventKind
		role domain.UserType
		want domain.NotificationType
	}{
		{kind: domain.EventChargingStarted, role: domain.UserTypeClient, want: domain.TypeChargingStarted},
		{kind: domain.EventChargingStarted, role: domain.UserTypeOwner, want: domain.TypeNewSession},
		{kind: domain.EventChargingCompleted, role: domain.UserTypeClient, want: domain.TypeChargingCompleted},
		{kind: domain.EventChargingCompleted, role: domain.UserTypeOwner, want: domain.TypeSessionCompleted},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+string(tt.role), func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, domain.TypeFor(tt.kind, tt.role))
		})
	}
}

func TestNotificationTypeValues(t *testing.T) {
	t.Parallel()

	// data.type is what the PWA switches on: a wire contract.
	require.Equal(t, domain.NotificationType("charging_started"), domain.TypeChargingStarted)
	require.Equal(t, domain.NotificationType("charging_completed"), domain.TypeChargingCompleted)
	require.Equal(t, domain.NotificationType("new_session"), domain.TypeNewSession)
	require.Equal(t, domain.NotificationType("session_completed"), domain.TypeSessionCompleted)
}

func TestEventNotification(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		kind     domain.EventKind
		role     domain.UserType
		locale   string
		wantType domain.NotificationType
		wantBody []string // substrings of the body
		wantData map[string]any
		wantTTL  time.Duration
		wantURL  string
	}{
		{
			name: "started client ru", kind: domain.EventChargingStarted, role: domain.UserTypeClient, locale: "ru",
			wantType: domain.TypeChargingStarted,
			wantBody: []string{"ST-7", "коннектор 2"},
			wantData: map[string]any{"session_id": "sess-42", "station_id": "ST-7", "connector_id": 2},
			wantTTL:  time.Hour,
			wantURL:  "/sessions/sess-42",
		},
		{
			name: "started client en", kind: domain.EventChargingStarted, role: domain.UserTypeClient, locale: "en",
			wantType: domain.TypeChargingStarted,
			wantBody: []string{"ST-7", "connector 2"},
			wantData: map[string]any{"session_id": "sess-42", "station_id": "ST-7", "connector_id": 2},
			wantTTL:  time.Hour,
			wantURL:  "/sessions/sess-42",
		},
		{
			name: "new session owner ru", kind: domain.EventChargingStarted, role: domain.UserTypeOwner, locale: "ru",
			wantType: domain.TypeNewSession,
			wantBody: []string{"ST-7", "коннектор 2"},
			wantData: map[string]any{"session_id": "sess-42", "station_id": "ST-7", "connector_id": 2},
			wantTTL:  time.Hour,
			wantURL:  "/stations/ST-7/sessions/sess-42",
		},
		{
			name: "new session owner en", kind: domain.EventChargingStarted, role: domain.UserTypeOwner, locale: "en",
			wantType: domain.TypeNewSession,
			wantBody: []string{"ST-7", "connector 2"},
			wantData: map[string]any{"session_id": "sess-42", "station_id": "ST-7", "connector_id": 2},
			wantTTL:  time.Hour,
			wantURL:  "/stations/ST-7/sessions/sess-42",
		},
		{
			name: "completed client ru", kind: domain.EventChargingCompleted, role: domain.UserTypeClient, locale: "ru",
			wantType: domain.TypeChargingCompleted,
			wantBody: []string{"12,5", "166,63 сом"},
			wantData: map[string]any{"session_id": "sess-42", "energy_kwh": 12.5, "amount": 166.63, "currency": "KGS"},
			wantTTL:  24 * time.Hour,
			wantURL:  "/sessions/sess-42",
		},
		{
			name: "completed client en", kind: domain.EventChargingCompleted, role: domain.UserTypeClient, locale: "en",
			wantType: domain.TypeChargingCompleted,
			wantBody: []string{"12.5", "166.63 KGS"},
			wantData: map[string]any{"session_id": "sess-42", "energy_kwh": 12.5, "amount": 166.63, "currency": "KGS"},
			wantTTL:  24 * time.Hour,
			wantURL:  "/sessions/sess-42",
		},
		{
			name: "session completed owner ru", kind: domain.EventChargingCompleted, role: domain.UserTypeOwner, locale: "ru",
			wantType: domain.TypeSessionCompleted,
			wantBody: []string{"ST-7", "12,5", "166,63 сом"},
			wantData: map[string]any{
				"session_id": "sess-42", "station_id": "ST-7", "energy_kwh": 12.5, "amount": 166.63, "currency": "KGS",
			},
			wantTTL: 24 * time.Hour,
			wantURL: "/stations/ST-7/sessions/sess-42",
		},
		{
			name: "session completed owner en", kind: domain.EventChargingCompleted, role: domain.UserTypeOwner, locale: "en",
			wantType: domain.TypeSessionCompleted,
			wantBody: []string{"ST-7", "12.5", "166.63 KGS"},
			wantData: map[string]any{
				"session_id": "sess-42", "station_id": "ST-7", "energy_kwh": 12.5, "amount": 166.63, "currency": "KGS",
			},
			wantTTL: 24 * time.Hour,
			wantURL: "/stations/ST-7/sessions/sess-42",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			n := messages.Default().Event(chargingEvent(t, tt.kind), tt.role, tt.locale)

			require.Equal(t, string(tt.wantType), n.Type)
			require.NotEmpty(t, n.Title)
			for _, s := range tt.wantBody {
				require.Contains(t, n.Body, s)
			}
			if tt.locale == "ru" {
				require.NotContains(t, n.Body, "12.5", "ru uses a decimal comma")
				require.NotContains(t, n.Body, "KGS")
			} else {
				require.NotContains(t, n.Body, "12,5")
				require.NotContains(t, n.Body, "сом")
			}
			require.Equal(t, tt.wantData, n.Data)
			require.Equal(t, tt.wantTTL, n.TTL)
			require.Equal(t, tt.wantURL, n.URL)
			require.Equal(t, "session-sess-42", n.Tag)
			require.Equal(t, domain.SessionTopic("sess-42"), n.Topic)
			require.Equal(t, domain.UrgencyHigh, n.Urgency)
			require.Equal(t, domain.DefaultIcon, n.Icon)
			require.Equal(t, domain.DefaultBadge, n.Badge)
			require.Equal(t, tt.wantType == domain.TypeChargingCompleted, n.RequireInteraction,
				"only the driver's bill stays on screen until seen")
			require.NotContains(t, n.Body, "{", "unreplaced placeholder")
			require.NotContains(t, n.Title, "{", "unreplaced placeholder")
		})
	}
}

func TestEventNotification_TTLConstants(t *testing.T) {
	t.Parallel()

	require.Equal(t, time.Hour, domain.StartedTTL)
	require.Equal(t, 24*time.Hour, domain.CompletedTTL)
}

func TestEventNotification_Locale(t *testing.T) {
	t.Parallel()

	kinds := []domain.EventKind{domain.EventChargingStarted, domain.EventChargingCompleted}
	roles := []domain.UserType{domain.UserTypeClient, domain.UserTypeOwner}
	tests := []struct {
		locale string
		want   string // the locale whose texts must come out
	}{
		{locale: "ru", want: "ru"},
		{locale: "ru-RU", want: "ru"},
		{locale: "en", want: "en"},
		{locale: "en-GB", want: "en"},
		{locale: "EN_us", want: "en"},
		{locale: " en ", want: "en"},
		{locale: "ky", want: "ky"},
		{locale: "ky-KG", want: "ky"},
		{locale: "de", want: "ru"},
		{locale: "", want: "ru"},
		{locale: "not a locale", want: "ru"},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			t.Parallel()

			for _, kind := range kinds {
				for _, role := range roles {
					ev := chargingEvent(t, kind)
					got := messages.Default().Event(ev, role, tt.locale)
					want := messages.Default().Event(ev, role, tt.want)
					require.Equal(t, want, got, "%s/%s", kind, role)
				}
			}
		})
	}

	// The languages really differ, so the comparisons above mean something.
	for _, kind := range kinds {
		for _, role := range roles {
			ev := chargingEvent(t, kind)
			ru := messages.Default().Event(ev, role, "ru")
			en := messages.Default().Event(ev, role, "en")
			ky := messages.Default().Event(ev, role, "ky")
			require.NotEqual(t, ru.Title, en.Title)
			require.NotEqual(t, ru.Body, en.Body)
			require.NotEqual(t, ru.Title, ky.Title)
			require.NotEqual(t, ru.Body, ky.Body)
			require.True(t, hasCyrillic(ru.Title), ru.Title)
			require.False(t, hasCyrillic(en.Title+en.Body), en.Title+en.Body)
		}
	}
}

func hasCyrillic(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r >= 'А' && r <= 'я' })
}

func TestEventNotification_NumberFormats(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		energy  float64
		amount  domain.Cents
		locale  string
		wantIn  []string
		wantOut []string
	}{
		{name: "whole energy ru", energy: 12, amount: 1200, locale: "ru", wantIn: []string{"12 кВт·ч", "12,00 сом"}, wantOut: []string{"12,0 "}},
		{name: "whole energy en", energy: 12, amount: 1200, locale: "en", wantIn: []string{"12 kWh", "12.00 KGS"}},
		{name: "small amount ru", energy: 0.25, amount: 5, locale: "ru", wantIn: []string{"0,25 кВт·ч", "0,05 сом"}},
		{name: "small amount en", energy: 0.25, amount: 5, locale: "en", wantIn: []string{"0.25 kWh", "0.05 KGS"}},
		{name: "zero", energy: 0, amount: 0, locale: "en", wantIn: []string{"0 kWh", "0.00 KGS"}},
		{name: "large en", energy: 9999.125, amount: 1_000_000_000_000, locale: "en", wantIn: []string{"9999.125 kWh", "10000000000.00 KGS"}, wantOut: []string{"e+"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ev := chargingEvent(t, domain.EventChargingCompleted)
			ev.EnergyKWh, ev.Amount = tt.energy, tt.amount
			n := messages.Default().Event(ev, domain.UserTypeClient, tt.locale)
			for _, s := range tt.wantIn {
				require.Contains(t, n.Body, s)
			}
			for _, s := range tt.wantOut {
				require.NotContains(t, n.Body, s)
			}
			require.Equal(t, tt.energy, n.Data["energy_kwh"])
			require.Equal(t, tt.amount.Float(), n.Data["amount"])
		})
	}
}

func TestEventNotification_TagAndTopicPerSession(t *testing.T) {
	t.Parallel()

	started := chargingEvent(t, domain.EventChargingStarted)
	completed := chargingEvent(t, domain.EventChargingCompleted)

	var tags, topics []string
	for _, ev := range []domain.ChargingEvent{started, completed} {
		for _, role := range []domain.UserType{domain.UserTypeClient, domain.UserTypeOwner} {
			for _, locale := range []string{"ru", "en"} {
				n := messages.Default().Event(ev, role, locale)
				tags = append(tags, n.Tag)
				topics = append(topics, n.Topic)
			}
		}
	}
	for i := range tags {
		require.Equal(t, "session-sess-42", tags[i], "completed must replace started on the device")
		require.Equal(t, topics[0], topics[i], "completed must replace started in the push service")
	}

	other := chargingEvent(t, domain.EventChargingStarted)
	other.SessionID = "sess-43"
	n := messages.Default().Event(other, domain.UserTypeClient, "ru")
	require.Equal(t, "session-sess-43", n.Tag)
	require.NotEqual(t, topics[0], n.Topic)
}

var base64URL = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func TestSessionTopic(t *testing.T) {
	t.Parallel()

	ids := []string{
		"sess-42",
		"1",
		"",
		"0190f5f4-7b9e-7c2a-9d1e-3f4a5b6c7d8e",
		"сессия/с пробелами+и=знаками",
		strings.Repeat("x", 1000),
	}
	seen := map[string]string{}
	for _, id := range ids {
		topic := domain.SessionTopic(id)
		require.NotEmpty(t, topic, id)
		require.LessOrEqual(t, len(topic), 32, "RFC 8030 allows at most 32 characters")
		require.Regexp(t, base64URL, topic, "RFC 8030 allows the base64url alphabet only")
		require.NotEqual(t, 1, len(topic)%4, "Apple refuses lengths ≡ 1 mod 4")
		if len(id) >= 4 { // a short id may occur in any hash by chance
			require.NotContains(t, topic, id, "the topic must not reveal the session id")
		}
		require.Equal(t, topic, domain.SessionTopic(id), "deterministic")
		prev, dup := seen[topic]
		require.False(t, dup, "%q and %q share a topic", prev, id)
		seen[topic] = id
	}
}
