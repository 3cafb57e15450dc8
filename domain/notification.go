package domain

import (
	"strings"
	"time"
)

// Urgency is the RFC 8030 Urgency header value.
type Urgency string

// The four urgencies of RFC 8030 §5.3.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// Action is a notification button, as the Notifications API defines it.
type Action struct {
	Action string
	Title  string
}

// Notification is what a device shows, plus how the push service should
// treat it on the way (TTL, Urgency, Topic). The service worker reads the
// visible part as JSON: see the webpush adapter for the wire shape.
type Notification struct {
	Title              string
	Body               string
	Icon               string
	Badge              string
	Tag                string
	RequireInteraction bool
	Actions            []Action
	// Type and URL go into the payload's data object, with Data.
	Type string
	URL  string
	Data map[string]any

	TTL     time.Duration // how long the push service keeps it for an offline device
	Urgency Urgency
	Topic   string // RFC 8030 Topic: a newer message with the same topic replaces an undelivered one
}

// Default icons of the seed's service worker.
const (
	DefaultIcon  = "/logo-192.png"
	DefaultBadge = "/logo-96.png"
)

// TestNotification is what POST /test sends, in the subscription's language.
func TestNotification(locale string) Notification {
	t := catalog(locale)
	return Notification{
		Title:   t.testTitle,
		Body:    t.testBody,
		Icon:    DefaultIcon,
		Badge:   DefaultBadge,
		Tag:     "evpower-test",
		Type:    "test",
		URL:     "/",
		TTL:     5 * time.Minute, // a test nobody sees within minutes is worthless
		Urgency: UrgencyNormal,
	}
}

// texts holds one language's message catalogue.
type texts struct {
	testTitle, testBody string
}

var catalogs = map[string]texts{
	"ru": {
		testTitle: "EvPower: тестовое уведомление",
		testBody:  "Push-уведомления работают на этом устройстве.",
	},
	"en": {
		testTitle: "EvPower: test notification",
		testBody:  "Push notifications work on this device.",
	},
}

// DefaultLocale is used when neither the subscription nor the config names one.
const DefaultLocale = "ru"

// SupportedLocale reports whether messages exist in the language of locale.
func SupportedLocale(locale string) bool {
	_, ok := catalogs[baseLanguage(locale)]
	return ok
}

// catalog picks the texts for locale's base language, falling back to Russian,
// the language of the user's own documents.
func catalog(locale string) texts {
	if t, ok := catalogs[baseLanguage(locale)]; ok {
		return t
	}
	return catalogs[DefaultLocale]
}

func baseLanguage(locale string) string {
	l, _ := NormalizeLocale(locale)
	base, _, _ := strings.Cut(l, "-")
	return base
}
