package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/evpower/evpush/domain"
)

// Outbox enqueues charging events inside the caller's own transaction: if
// the transaction rolls back nothing is sent; once it commits the event is
// durable and delivered even if the process dies right after.
//
// A charging service written in Go uses it like this:
//
//	outbox, _ := queue.NewOutbox(sqlDB) // the *sql.DB under gorm: db.DB()
//	err := gormDB.Transaction(func(tx *gorm.DB) error {
//		if err := tx.Create(&session).Error; err != nil {
//			return err
//		}
//		sqlTx, err := postgres.SQLTx(tx)
//		if err != nil {
//			return err
//		}
//		return outbox.ChargingStarted(ctx, sqlTx, queue.ChargingStarted{
//			SessionID: session.ID, StationID: session.StationID,
//			ConnectorID: session.ConnectorID, UserID: session.UserID,
//		})
//	})
type Outbox struct {
	client *river.Client[*sql.Tx]
}

// NewOutbox returns an insert-only Outbox over db. It never works jobs: the
// evpush service does.
func NewOutbox(db *sql.DB) (*Outbox, error) {
	// FetchCooldown here only spaces the NOTIFYs that wake the workers; the
	// default 100ms would leave events committed close together waiting.
	c, err := river.NewClient(riverdatabasesql.New(db), &river.Config{FetchCooldown: fetchCooldown})
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}
	return &Outbox{client: c}, nil
}

// ChargingStarted enqueues a ChargingStarted event in tx.
func (o *Outbox) ChargingStarted(ctx context.Context, tx *sql.Tx, ev ChargingStarted) error {
	return o.insert(ctx, tx, ev)
}

// ChargingCompleted enqueues a ChargingCompleted event in tx.
func (o *Outbox) ChargingCompleted(ctx context.Context, tx *sql.Tx, ev ChargingCompleted) error {
	return o.insert(ctx, tx, ev)
}

// UserNotification enqueues a message to one user in tx. Its args are
// checked first, so a Go producer hears of a mistake at once (an error
// unwrapping to domain.ErrInvalid, naming the field) rather than from a
// cancelled job.
//
//	err := outbox.UserNotification(ctx, sqlTx, queue.UserNotification{
//		UserID: "42", UserType: "client",
//		Title:  map[string]string{"ru": "Оплата получена", "en": "Payment received"},
//		Body:   map[string]string{"ru": "Спасибо!", "en": "Thank you!"},
//		URL:    "/payments/981", DedupeKey: "payment-981",
//	})
func (o *Outbox) UserNotification(ctx context.Context, tx *sql.Tx, n UserNotification) error {
	m, err := n.message(time.Now())
	if err == nil {
		err = m.Validate()
	}
	if err != nil {
		return fmt.Errorf("error enqueueing %s: %w", n.Kind(), err)
	}
	return o.insert(ctx, tx, n)
}

// EnqueueTx enqueues a domain event in tx; the reference charging flow's
// store calls it (postgres.EventOutbox).
func (o *Outbox) EnqueueTx(ctx context.Context, tx *sql.Tx, ev domain.ChargingEvent) error {
	switch ev.Kind {
	case domain.EventChargingStarted:
		return o.ChargingStarted(ctx, tx, ChargingStarted{
			SessionID: ev.SessionID, StationID: ev.StationID, ConnectorID: ev.ConnectorID,
			UserID: ev.DriverID, OwnerID: ev.OwnerID, OccurredAt: ev.OccurredAt,
		})
	case domain.EventChargingCompleted:
		return o.ChargingCompleted(ctx, tx, ChargingCompleted{
			SessionID: ev.SessionID, StationID: ev.StationID, ConnectorID: ev.ConnectorID,
			UserID: ev.DriverID, OwnerID: ev.OwnerID, EnergyKWh: ev.EnergyKWh,
			Amount: ev.Amount.Float(), OccurredAt: ev.OccurredAt,
		})
	}
	return fmt.Errorf("unknown event kind %q", ev.Kind)
}

func (o *Outbox) insert(ctx context.Context, tx *sql.Tx, args river.JobArgs) error {
	if _, err := o.client.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("error enqueueing %s: %w", args.Kind(), err)
	}
	return nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
