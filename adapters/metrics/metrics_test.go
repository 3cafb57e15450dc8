package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/metrics"
	"github.com/evpower/evpush/domain"
)

// exposition is one scrape of the handler, read by family and label.
type exposition struct {
	// values collects the values label takes across family's series.
	values func(family, label string) map[string]bool
	// series counts family's series.
	series func(family string) int
}

func scrape(tb testing.TB, m *metrics.Metrics) exposition {
	tb.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(tb, http.StatusOK, rec.Code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	require.NoError(tb, err)
	return exposition{
		values: func(family, label string) map[string]bool {
			f, ok := families[family]
			require.True(tb, ok, "metric %s exported", family)
			values := map[string]bool{}
			for _, s := range f.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == label {
						values[l.GetValue()] = true
					}
				}
			}
			return values
		},
		series: func(family string) int { return len(families[family].GetMetric()) },
	}
}

func TestPushLabelIsThePushServiceNotTheHost(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Sources{})
	// An allowlist entry such as *.googleapis.com admits any subdomain: a
	// thousand of them must not make a thousand series.
	for i := range 1000 {
		host := "x" + strconv.Itoa(i) + ".googleapis.com"
		m.ObservePush(domain.ClassifyPushHost(host), domain.OutcomeDelivered, time.Millisecond)
	}
	for _, host := range []string{"fcm.googleapis.com", "updates.push.services.mozilla.com",
		"web.push.apple.com", "wns2-par02p.notify.windows.com", "127.0.0.1"} {
		m.ObservePush(domain.ClassifyPushHost(host), domain.OutcomeTransient, time.Millisecond)
	}
	m.ObservePush(domain.PushService(99), domain.OutcomeRejected, time.Millisecond) // out of range: still closed

	got := scrape(t, m)
	want := map[string]bool{"fcm": true, "mozilla": true, "apple": true, "wns": true, "other": true}
	for _, family := range []string{"evpush_push_deliveries_total", "evpush_push_request_duration_seconds"} {
		require.Equal(t, want, got.values(family, "push_service"), family)
		require.Empty(t, got.values(family, "host"), "no host label on %s", family)
	}
	require.Equal(t, 7, got.series("evpush_push_deliveries_total"),
		"other×delivered, each service×retry, other×rejected")
}

func TestHTTPMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Sources{})
	// Go's server hands any token through as the method.
	for i := range 500 {
		m.ObserveHTTP("unmatched", "X"+strconv.Itoa(i), http.StatusNotFound, time.Millisecond)
	}
	for _, method := range []string{"get", "PROPFIND", ""} {
		m.ObserveHTTP("unmatched", method, http.StatusNotFound, time.Millisecond)
	}
	standard := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace}
	want := map[string]bool{"other": true}
	for _, method := range standard {
		m.ObserveHTTP("/healthz", method, http.StatusOK, time.Millisecond)
		want[method] = true
	}

	got := scrape(t, m)
	for _, family := range []string{"evpush_http_requests_total", "evpush_http_request_duration_seconds"} {
		require.Equal(t, want, got.values(family, "method"), family)
	}
	require.Equal(t, len(standard)+1, got.series("evpush_http_requests_total"))
}

// TestSubscriptionsPerKey: a gauge per VAPID key, labelled with its id and
// state, never the key; a withheld push is counted without a round trip.
func TestSubscriptionsPerKey(t *testing.T) {
	t.Parallel()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	usage := []domain.KeyUsage{
		{Key: domain.VAPIDKey{ID: 1, VAPIDKeys: domain.VAPIDKeys{PublicKey: k.PublicKey}, State: domain.VAPIDKeyRetiring, RevokedAt: time.Now()}, Subscriptions: 3},
		{Key: domain.VAPIDKey{ID: 2, State: domain.VAPIDKeyRetiring}, Subscriptions: 5},
		{Key: domain.VAPIDKey{ID: 4, State: domain.VAPIDKeyCurrent}, Subscriptions: 40},
	}
	m := metrics.New(metrics.Sources{SubscriptionsByKey: func(context.Context) ([]domain.KeyUsage, error) { return usage, nil }})
	m.ObservePush(domain.PushServiceFCM, domain.OutcomeWithheld, 0)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	require.Contains(t, body, `evpush_vapid_key_subscriptions{key_id="1",state="revoked"} 3`)
	require.Contains(t, body, `evpush_vapid_key_subscriptions{key_id="2",state="retiring"} 5`)
	require.Contains(t, body, `evpush_vapid_key_subscriptions{key_id="4",state="current"} 40`)
	require.NotContains(t, body, k.PublicKey)
	require.Contains(t, body, `evpush_push_deliveries_total{outcome="withheld",push_service="fcm"} 1`)
	require.NotContains(t, body, `evpush_push_request_duration_seconds_count{push_service="fcm"}`, "no request, no round trip")
}

// TestSkippedByPreferenceLabels: kinds by name, every category as one
// value, whatever names producers give categories.
func TestSkippedByPreferenceLabels(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Sources{})
	for i := range 100 {
		m.CountSkippedByPreference(domain.Pref{Class: domain.PrefCategory, Name: "promo-" + strconv.Itoa(i)})
	}
	m.CountSkippedByPreference(domain.KindPref(domain.TypeNewSession))
	e := scrape(t, m)
	require.Equal(t, map[string]bool{"charging_started": true, "charging_completed": true, "new_session": true,
		"session_completed": true, "category": true}, e.values("evpush_notifications_skipped_by_preference_total", "kind"))
}
