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

// eventTexts is one language's texts for one notification type. Placeholders:
// {station} {connector} {session} {energy} {amount}.
type eventTexts struct{ title, body string }

var eventCatalogs = map[string]map[NotificationType]eventTexts{
	"ru": {
		TypeChargingStarted:   {"Зарядка началась", "Станция {station}, коннектор {connector}. Следите за сессией в приложении."},
		TypeChargingCompleted: {"Зарядка завершена", "Получено {energy} кВт·ч, к оплате {amount} сом."},
		TypeNewSession:        {"Новая сессия на вашей станции", "Станция {station}, коннектор {connector}: началась зарядка."},
		TypeSessionCompleted:  {"Сессия на вашей станции завершена", "Станция {station}: {energy} кВт·ч, {amount} сом."},
	},
	"en": {
		TypeChargingStarted:   {"Charging started", "Station {station}, connector {connector}. Follow the session in the app."},
		TypeChargingCompleted: {"Charging completed", "{energy} kWh delivered, amount due {amount} KGS."},
		TypeNewSession:        {"New session at your station", "Station {station}, connector {connector}: charging started."},
		TypeSessionCompleted:  {"Session completed at your station", "Station {station}: {energy} kWh, {amount} KGS."},
	},
}

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

// EventNotification renders the notification that a subscription in role
// gets for ev, in locale's language (Russian when unknown). Tag and Topic are
// per session, so "completed" replaces "started" on the device and in the
// push service's queue for an offline device.
func EventNotification(ev ChargingEvent, role UserType, locale string) Notification {
	typ := TypeFor(ev.Kind, role)
	lang := baseLanguage(locale)
	cat, ok := eventCatalogs[lang]
	if !ok {
		lang, cat = DefaultLocale, eventCatalogs[DefaultLocale]
	}
	t := cat[typ]
	decimal := func(s string) string {
		if lang == "ru" {
			return strings.Replace(s, ".", ",", 1)
		}
		return s
	}
	r := strings.NewReplacer(
		"{station}", ev.StationID,
		"{connector}", strconv.Itoa(ev.ConnectorID),
		"{session}", ev.SessionID,
		"{energy}", decimal(strconv.FormatFloat(ev.EnergyKWh, 'f', -1, 64)),
		"{amount}", decimal(ev.Amount.String()),
	)
	n := Notification{
		Title:   t.title,
		Body:    r.Replace(t.body),
		Icon:    DefaultIcon,
		Badge:   DefaultBadge,
		Tag:     "session-" + ev.SessionID,
		Type:    string(typ),
		URL:     "/sessions/" + ev.SessionID,
		Urgency: UrgencyHigh, // session events are time-sensitive; iOS wants high to wake the device
		Topic:   SessionTopic(ev.SessionID),
		Data:    map[string]any{"session_id": ev.SessionID},
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
	if role == UserTypeOwner {
		n.URL = "/stations/" + ev.StationID + "/sessions/" + ev.SessionID
	}
	return n
}

// SessionTopic is the RFC 8030 Topic for a session: at most 32 base64url
// characters (22 here; Apple refuses lengths ≡ 1 mod 4), not revealing the id.
func SessionTopic(sessionID string) string {
	sum := sha256.Sum256([]byte("evpush-session:" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
