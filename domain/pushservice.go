package domain

import "strings"

// PushService is the operator behind a push endpoint. Metrics are labelled
// by it rather than by the endpoint's host: the host comes from the
// subscriber, and an allowlist entry such as "*.googleapis.com" admits any
// number of invented subdomains, each of which would become a new series.
type PushService int

// The push services evpush tells apart; everything else is PushServiceOther.
const (
	// PushServiceOther: any host not below, loopback test endpoints included.
	PushServiceOther PushService = iota
	// PushServiceFCM: Firebase Cloud Messaging (Chrome and other Chromium browsers).
	PushServiceFCM
	// PushServiceMozilla: Mozilla's autopush (Firefox).
	PushServiceMozilla
	// PushServiceApple: Apple's web push (Safari).
	PushServiceApple
	// PushServiceWNS: Windows Push Notification Services (legacy Edge).
	PushServiceWNS
)

var pushServiceNames = map[PushService]string{
	PushServiceOther:   "other",
	PushServiceFCM:     "fcm",
	PushServiceMozilla: "mozilla",
	PushServiceApple:   "apple",
	PushServiceWNS:     "wns",
}

// String is the push service's label in metrics; a value outside the
// constants is "other", so the label set stays closed whatever is passed.
func (p PushService) String() string {
	if n, ok := pushServiceNames[p]; ok {
		return n
	}
	return "other"
}

// ClassifyPushHost names the push service of an endpoint host (as
// EndpointHost returns it). FCM is matched by its exact hosts: other
// googleapis.com names are Google APIs, not push.
func ClassifyPushHost(host string) PushService {
	// A trailing dot names the same host, as in EndpointPolicy.Check.
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case host == "fcm.googleapis.com", host == "android.googleapis.com": // android: legacy GCM endpoints
		return PushServiceFCM
	case strings.HasSuffix(host, ".push.services.mozilla.com"):
		return PushServiceMozilla
	case strings.HasSuffix(host, ".push.apple.com"):
		return PushServiceApple
	case strings.HasSuffix(host, ".notify.windows.com"):
		return PushServiceWNS
	}
	return PushServiceOther
}
