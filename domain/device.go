package domain

import "strings"

// UnknownDevice is the label of a device whose User-Agent is empty or names
// no browser this service tells apart.
const UnknownDevice = "Unknown device"

// uaRule recognises one browser or OS by a token of the User-Agent.
type uaRule struct {
	token string
	name  string
}

// browserRules are checked in order, because every Chromium browser also
// says "Chrome" and every browser but Firefox says "Safari": the specific
// tokens come before the generic ones. On iOS every browser is WebKit, but
// each still adds its own token (CriOS, FxiOS, EdgiOS).
var browserRules = []uaRule{
	{"edg/", "Edge"}, {"edga/", "Edge"}, {"edgios/", "Edge"},
	{"samsungbrowser/", "Samsung Internet"},
	{"opr/", "Opera"}, {"opera", "Opera"}, {"opt/", "Opera"},
	{"firefox/", "Firefox"}, {"fxios/", "Firefox"},
	{"crios/", "Chrome"}, {"chrome/", "Chrome"}, {"chromium/", "Chrome"},
	{"safari/", "Safari"},
}

// osRules likewise: Android says "Linux", iPadOS may say "Macintosh" only
// when it asks for desktop sites (then it is labelled macOS, as Safari
// itself pretends).
var osRules = []uaRule{
	{"android", "Android"},
	{"iphone", "iOS"}, {"ipad", "iOS"}, {"ipod", "iOS"},
	{"cros", "ChromeOS"},
	{"windows", "Windows"},
	{"macintosh", "macOS"}, {"mac os x", "macOS"},
	{"linux", "Linux"},
}

// DeviceLabel is a readable name for the device a subscription was made on,
// "Chrome on Android", from the User-Agent stored with it: a user listing
// their devices needs to tell the old phone from the laptop, and the
// endpoint (a capability URL) must never be shown. Only what the browser
// says of itself is used; a browser or an OS alone is labelled alone.
func DeviceLabel(userAgent string) string {
	ua := strings.ToLower(userAgent)
	browser, os := matchUA(ua, browserRules), matchUA(ua, osRules)
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "Browser on " + os
	}
	return UnknownDevice
}

func matchUA(ua string, rules []uaRule) string {
	for _, r := range rules {
		if strings.Contains(ua, r.token) {
			return r.name
		}
	}
	return ""
}
