package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// NotificationType is data.type in the payload: what the PWA switches on.
type NotificationType string

// The four notifications of API.md, and the test one.
const (
	TypeChargingStarted   NotificationType = "charging_started"   // to the driver
	TypeChargingCompleted NotificationType = "charging_completed" // to the driver
	TypeNewSession        NotificationType = "new_session"        // to the station owner
	TypeSessionCompleted  NotificationType = "session_completed"  // to the station owner
)

// How long a push service keeps a message for an offline device. "Started"
// is stale within the hour; the bill of a completed session stays relevant.
const (
	StartedTTL   = time.Hour
	CompletedTTL = 24 * time.Hour
)

// Currency is the ISO code of amounts (Kyrgyz som).
const Currency = "KGS"

// TypeFor says which notification a recipient in role gets for an event.
func TypeFor(kind EventKind, role UserType) NotificationType {
	switch {
	case kind == EventChargingStarted && role == UserTypeOwner:
		return TypeNewSession
	case kind == EventChargingStarted:
		return TypeChargingStarted
	case role == UserTypeOwner:
		return TypeSessionCompleted
	default:
		return TypeChargingCompleted
	}
}

// Messages renders what devices show: texts from the catalogue, click
// targets from the link templates.
type Messages struct {
	Catalog *Catalog
	Links   Links // nil: DefaultLinks
}

// titleKeys and bodyKeys are the catalogue keys of each notification type.
var (
	titleKeys = map[NotificationType]string{
		TypeChargingStarted: KeyChargingStartedTitle, TypeChargingCompleted: KeyChargingCompleteTitle,
		TypeNewSession: KeyNewSessionTitle, TypeSessionCompleted: KeySessionCompleteTitle,
	}
	bodyKeys = map[NotificationType]string{
		TypeChargingStarted: KeyChargingStartedBody, TypeChargingCompleted: KeyChargingCompleteBody,
		TypeNewSession: KeyNewSessionBody, TypeSessionCompleted: KeySessionCompleteBody,
	}
)

// Event renders the notification that a subscription in role gets for ev,
// in locale's language (the catalogue's fallback language when it has none).
// Tag and Topic are per session, so "completed" replaces "started" on the
// device and in the push service's queue for an offline device; a
// replacement alerts again (Renotify), since the bill is news.
// Placeholders in the texts: {station} {connector} {session} {energy} {amount}.
func (m Messages) Event(ev ChargingEvent, role UserType, locale string) Notification {
	typ := TypeFor(ev.Kind, role)
	text := func(key string) string { return m.Catalog.Text(locale, key) }
	decimal := func(s string) string { return strings.Replace(s, ".", text(KeyDecimalSeparator), 1) }
	r := strings.NewReplacer(
		"{station}", ev.StationID,
		"{connector}", strconv.Itoa(ev.ConnectorID),
		"{session}", ev.SessionID,
		"{energy}", decimal(strconv.FormatFloat(ev.EnergyKWh, 'f', -1, 64)),
		"{amount}", decimal(ev.Amount.String()),
	)
	n := Notification{
		Title:     r.Replace(text(titleKeys[typ])),
		Body:      r.Replace(text(bodyKeys[typ])),
		Icon:      DefaultIcon,
		Badge:     DefaultBadge,
		Tag:       "session-" + ev.SessionID,
		Renotify:  true,
		Timestamp: ev.OccurredAt,
		Type:      string(typ),
		URL:       m.Links.url(typ, ev),
		Urgency:   UrgencyHigh, // session events are time-sensitive; iOS wants high to wake the device
		Topic:     SessionTopic(ev.SessionID),
		Data:      map[string]any{"session_id": ev.SessionID},
	}
	switch typ {
	case TypeChargingStarted, TypeNewSession:
		n.TTL = StartedTTL
		n.Data["station_id"] = ev.StationID
		n.Data["connector_id"] = ev.ConnectorID
	case TypeSessionCompleted:
		n.Data["station_id"] = ev.StationID
		fallthrough
	case TypeChargingCompleted:
		n.TTL = CompletedTTL
		n.Data["energy_kwh"] = ev.EnergyKWh
		n.Data["amount"] = ev.Amount.Float()
		n.Data["currency"] = Currency
	}
	// The driver's bill stays on screen until they see it.
	n.RequireInteraction = typ == TypeChargingCompleted
	return n
}

// Test is what POST /test sends, in locale's language.
func (m Messages) Test(locale string) Notification {
	return Notification{
		Title:   m.Catalog.Text(locale, KeyTestTitle),
		Body:    m.Catalog.Text(locale, KeyTestBody),
		Icon:    DefaultIcon,
		Badge:   DefaultBadge,
		Tag:     "evpower-test",
		Type:    "test",
		URL:     "/",
		TTL:     5 * time.Minute, // a test nobody sees within minutes is worthless
		Urgency: UrgencyNormal,
	}
}

// SessionTopic is the RFC 8030 Topic for a session: at most 32 base64url
// characters (22 here; Apple refuses lengths ≡ 1 mod 4), not revealing the id.
func SessionTopic(sessionID string) string {
	sum := sha256.Sum256([]byte("evpush-session:" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
