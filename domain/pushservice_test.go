package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

func TestClassifyPushHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want domain.PushService
	}{
		{"fcm.googleapis.com", domain.PushServiceFCM},
		{"FCM.googleapis.com.", domain.PushServiceFCM}, // case and trailing dot name the same host
		{"android.googleapis.com", domain.PushServiceFCM},
		{"x1.googleapis.com", domain.PushServiceOther}, // allowed by *.googleapis.com, but not FCM
		{"storage.googleapis.com", domain.PushServiceOther},
		{"googleapis.com", domain.PushServiceOther},
		{"fcm.googleapis.com.evil.example", domain.PushServiceOther},
		{"updates.push.services.mozilla.com", domain.PushServiceMozilla},
		{"x7.push.services.mozilla.com", domain.PushServiceMozilla},
		{"push.services.mozilla.com.evil.example", domain.PushServiceOther},
		{"web.push.apple.com", domain.PushServiceApple},
		{"api.push.apple.com", domain.PushServiceApple},
		{"push.apple.com", domain.PushServiceOther}, // the allowlist wants a subdomain too
		{"wns2-par02p.notify.windows.com", domain.PushServiceWNS},
		{"db5.notify.windows.com", domain.PushServiceWNS},
		{"notify.windows.com.evil.example", domain.PushServiceOther},
		{"127.0.0.1", domain.PushServiceOther},
		{"localhost", domain.PushServiceOther},
		{"", domain.PushServiceOther},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, domain.ClassifyPushHost(tt.host), tt.host)
	}
	// The endpoint's host, as the app passes it.
	require.Equal(t, domain.PushServiceFCM,
		domain.ClassifyPushHost(domain.EndpointHost("https://fcm.googleapis.com:443/fcm/send/abc")))
}

func TestPushServiceLabels(t *testing.T) {
	t.Parallel()
	got := map[string]bool{}
	for p := domain.PushService(-3); p < 50; p++ {
		got[p.String()] = true
	}
	require.Equal(t, map[string]bool{"fcm": true, "mozilla": true, "apple": true, "wns": true, "other": true}, got,
		"a closed label set, whatever the value")
}
