package domain

import (
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

// Notification is what a device shows, plus how the push service should
// treat it on the way (TTL, Urgency, Topic). The service worker reads the
// visible part as JSON: see the webpush adapter for the wire shape.
type Notification struct {
	Title string
	Body  string
	Icon  string
	Badge string
	Tag   string
	// RequireInteraction keeps the notification on screen until the user
	// acts on it (desktop browsers; phones keep every one in their tray).
	RequireInteraction bool
	// Renotify makes the device alert again when this notification replaces
	// one with the same Tag (Notifications API); meaningless without a Tag.
	Renotify bool
	// Timestamp is when the event happened, shown by the device instead of
	// the arrival time; zero: not sent.
	Timestamp time.Time
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

// DefaultLocale is used when neither the subscription nor the config names one.
const DefaultLocale = "ru"
