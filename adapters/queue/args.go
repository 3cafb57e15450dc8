package queue

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/evpower/evpush/domain"
)

// Queues of their own: the database is shared with the charging service,
// which may run River workers of its own on River's default queue.
const (
	QueueEvents     = "evpush_events"
	QueueDeliveries = "evpush_deliveries"
)

// ChargingStarted is the job a charging service inserts when a session
// starts. Kind "charging_started"; its JSON is a stable contract (README,
// "Outbox job contract").
type ChargingStarted struct {
	// SessionID makes the job unique (with its kind): a duplicate event is
	// not inserted while River keeps the first.
	SessionID   string `json:"session_id" river:"unique"`
	StationID   string `json:"station_id"`
	ConnectorID int    `json:"connector_id"`
	// UserID is the driver.
	UserID string `json:"user_id"`
	// OwnerID is the station's owner; empty: the owner is not notified
	// (logged and counted: evpush reads no table of the charging service).
	OwnerID string `json:"owner_id,omitempty"`
	// OccurredAt defaults to the job's creation time.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
}

// Kind implements river.JobArgs.
func (ChargingStarted) Kind() string { return string(domain.EventChargingStarted) }

// InsertOpts puts the job in the events queue.
func (ChargingStarted) InsertOpts() river.InsertOpts { return eventInsertOpts }

// ChargingCompleted is the job a charging service inserts when a session
// stops. Kind "charging_completed".
type ChargingCompleted struct {
	SessionID   string    `json:"session_id" river:"unique"`
	StationID   string    `json:"station_id"`
	ConnectorID int       `json:"connector_id,omitempty"`
	UserID      string    `json:"user_id"`
	OwnerID     string    `json:"owner_id,omitempty"`
	EnergyKWh   float64   `json:"energy_kwh"`
	Amount      float64   `json:"amount"` // in KGS, two decimals
	OccurredAt  time.Time `json:"occurred_at,omitzero"`
}

// Kind implements river.JobArgs.
func (ChargingCompleted) Kind() string { return string(domain.EventChargingCompleted) }

// InsertOpts puts the job in the events queue.
func (ChargingCompleted) InsertOpts() river.InsertOpts { return eventInsertOpts }

// eventInsertOpts: an event job only fails when the database does (a push
// that fails becomes a retry job of its own), so it keeps trying for long.
// Event jobs are unique by kind and their unique-tagged args, for as long as
// River keeps the finished job (CompletedJobRetentionPeriod).
var eventInsertOpts = river.InsertOpts{Queue: QueueEvents, MaxAttempts: eventMaxAttempts,
	UniqueOpts: river.UniqueOpts{ByArgs: true}}

const eventMaxAttempts = 25

// Delivery is one notification to one subscription, retried: the event
// job made the first attempt. It carries ids and the
// event's facts, never an endpoint or key: job args are visible in River UI.
type Delivery struct {
	// EventKey and SubscriptionID make the job unique: a re-run fan-out or a
	// duplicate event sends nothing twice.
	EventKey       string `json:"event_key" river:"unique"`
	SubscriptionID string `json:"subscription_id" river:"unique"`
	// UserID and UserType are whom the subscription belonged to at fan-out:
	// if the device has moved to someone else since, nothing is sent.
	UserID   string       `json:"user_id"`
	UserType string       `json:"user_type"`
	Event    eventPayload `json:"event"`
}

// Kind implements river.JobArgs.
func (Delivery) Kind() string { return KindDelivery }

// KindDelivery is the job kind of Delivery: since one job per event, the
// retry of one device whose push failed transiently.
const KindDelivery = "push_delivery"

// InsertOpts makes deliveries unique per event and subscription, for as long
// as River keeps the finished job (CompletedJobRetentionPeriod).
func (Delivery) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueDeliveries,
		MaxAttempts: DeliveryMaxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	}
}

// DeliveryMaxAttempts bounds retries of a transient failure: with the default
// backoff the last try comes about 10 minutes after the first, past which a
// session event is stale.
const DeliveryMaxAttempts = 8

// eventPayload is the event inside a Delivery.
type eventPayload struct {
	Kind        string    `json:"kind"`
	SessionID   string    `json:"session_id"`
	StationID   string    `json:"station_id,omitempty"`
	ConnectorID int       `json:"connector_id,omitempty"`
	DriverID    string    `json:"user_id,omitempty"`
	OwnerID     string    `json:"owner_id,omitempty"`
	EnergyKWh   float64   `json:"energy_kwh,omitempty"`
	AmountCents int64     `json:"amount_cents,omitempty"`
	OccurredAt  time.Time `json:"occurred_at"`
}

func payloadOf(ev domain.ChargingEvent) eventPayload {
	return eventPayload{
		Kind: string(ev.Kind), SessionID: ev.SessionID, StationID: ev.StationID, ConnectorID: ev.ConnectorID,
		DriverID: ev.DriverID, OwnerID: ev.OwnerID, EnergyKWh: ev.EnergyKWh, AmountCents: int64(ev.Amount),
		OccurredAt: ev.OccurredAt,
	}
}

func (p eventPayload) event() domain.ChargingEvent {
	return domain.ChargingEvent{
		Kind: domain.EventKind(p.Kind), SessionID: p.SessionID, StationID: p.StationID, ConnectorID: p.ConnectorID,
		DriverID: p.DriverID, OwnerID: p.OwnerID, EnergyKWh: p.EnergyKWh, Amount: domain.Cents(p.AmountCents),
		OccurredAt: p.OccurredAt,
	}
}

func (a ChargingStarted) event(createdAt time.Time) domain.ChargingEvent {
	return domain.ChargingEvent{
		Kind: domain.EventChargingStarted, SessionID: a.SessionID, StationID: a.StationID,
		ConnectorID: a.ConnectorID, DriverID: a.UserID, OwnerID: a.OwnerID,
		OccurredAt: occurred(a.OccurredAt, createdAt),
	}
}

func (a ChargingCompleted) event(createdAt time.Time) domain.ChargingEvent {
	// The amount is display-only here (the bill lives in charging_sessions);
	// rounding the float to cents is exact for two-decimal inputs.
	amount, _ := domain.ParseCents(formatFloat(a.Amount))
	return domain.ChargingEvent{
		Kind: domain.EventChargingCompleted, SessionID: a.SessionID, StationID: a.StationID,
		ConnectorID: a.ConnectorID, DriverID: a.UserID, OwnerID: a.OwnerID,
		EnergyKWh: a.EnergyKWh, Amount: amount, OccurredAt: occurred(a.OccurredAt, createdAt),
	}
}

func occurred(t, createdAt time.Time) time.Time {
	if t.IsZero() {
		return createdAt
	}
	return t
}
