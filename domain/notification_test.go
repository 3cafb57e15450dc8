package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/domain"
)

const (
	ruTestTitle = "EvPower: тестовое уведомление"
	enTestTitle = "EvPower: test notification"
)

func TestTestNotification(t *testing.T) {
	t.Parallel()

	tests := []struct {
		locale    string
		wantTitle string
		wantBody  string
	}{
		{locale: "ru", wantTitle: ruTestTitle, wantBody: "Push-уведомления работают на этом устройстве."},
		{locale: "ru-ru", wantTitle: ruTestTitle},
		{locale: "en", wantTitle: enTestTitle, wantBody: "Push notifications work on this device."},
		{locale: "en-us", wantTitle: enTestTitle},
		{locale: "en-gb", wantTitle: enTestTitle},
		{locale: "ky", wantTitle: "EvPower: сыноо билдирмеси", wantBody: "Бул түзмөктө push-билдирмелер иштеп жатат."},
		{locale: "de", wantTitle: ruTestTitle},
		{locale: "", wantTitle: ruTestTitle},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			t.Parallel()

			n := messages.Default().Test(tt.locale)
			require.Equal(t, tt.wantTitle, n.Title)
			if tt.wantBody != "" {
				require.Equal(t, tt.wantBody, n.Body)
			}
			require.NotEmpty(t, n.Body)
			require.Equal(t, domain.DefaultIcon, n.Icon)
			require.Equal(t, domain.DefaultBadge, n.Badge)
			require.Equal(t, "test", n.Type)
			require.Equal(t, "/", n.URL)
			require.NotEmpty(t, n.Tag)
			require.Equal(t, domain.UrgencyNormal, n.Urgency)
			require.Positive(t, n.TTL)
			require.LessOrEqual(t, n.TTL, time.Hour)
		})
	}
}

func TestCatalogHas(t *testing.T) {
	t.Parallel()

	cat := messages.Default().Catalog
	tests := []struct {
		locale string
		want   bool
	}{
		{locale: "ru", want: true},
		{locale: "en", want: true},
		{locale: "en-us", want: true},
		{locale: "ru-kg", want: true},
		{locale: "ky", want: true},
		{locale: "ky-kg", want: true},
		{locale: "uz", want: false},
		{locale: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, cat.Has(tt.locale))
		})
	}
	require.True(t, cat.Has(domain.DefaultLocale))
}
