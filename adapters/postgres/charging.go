package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// EventOutbox inserts an event into the durable queue inside a database
// transaction; the queue adapter implements it.
type EventOutbox interface {
	EnqueueTx(ctx context.Context, tx *sql.Tx, ev domain.ChargingEvent) error
}

// ChargingStore implements ports.ChargingStore on gorm.
type ChargingStore struct {
	db     *gorm.DB
	outbox EventOutbox
}

var _ ports.ChargingStore = (*ChargingStore)(nil)

// NewChargingStore returns a ChargingStore whose transactions enqueue events
// through outbox.
func NewChargingStore(db *sql.DB, outbox EventOutbox) (*ChargingStore, error) {
	g, err := openGorm(db)
	if err != nil {
		return nil, err
	}
	return &ChargingStore{db: g, outbox: outbox}, nil
}

type stationRow struct {
	ID          string
	OwnerID     string
	PricePerKWh string `gorm:"column:price_per_kwh"`
}

func (stationRow) TableName() string { return "stations" }

type sessionRow struct {
	ID          string `gorm:"primaryKey;default:gen_random_uuid()"`
	UserID      string
	StationID   string
	ConnectorID int
	Status      string
	EnergyKWh   *float64 `gorm:"column:energy_kwh"`
	Amount      *string
	StartedAt   time.Time `gorm:"default:now()"`
	StoppedAt   *time.Time
}

func (sessionRow) TableName() string { return "charging_sessions" }

func (r sessionRow) toDomain() domain.ChargingSession {
	s := domain.ChargingSession{
		ID: r.ID, UserID: r.UserID, StationID: r.StationID, ConnectorID: r.ConnectorID,
		Status: domain.SessionStatus(r.Status), StartedAt: r.StartedAt, StoppedAt: r.StoppedAt,
	}
	if r.EnergyKWh != nil {
		s.EnergyKWh = *r.EnergyKWh
	}
	if r.Amount != nil {
		// numeric(14,2) reads back as an exact two-place decimal.
		s.Amount, _ = domain.ParseCents(*r.Amount)
	}
	return s
}

func station(db *gorm.DB, id string) (domain.Station, error) {
	var r stationRow
	if err := db.Select("id", "owner_id", "price_per_kwh::text AS price_per_kwh").Where("id = ?", id).Take(&r).Error; err != nil {
		return domain.Station{}, fmt.Errorf("error reading station: %w", translate(err))
	}
	return domain.Station{ID: r.ID, OwnerID: r.OwnerID, PricePerKWh: r.PricePerKWh}, nil
}

// DemoStation is the station the demo page (DEV_MODE) starts sessions at.
var DemoStation = domain.Station{ID: "demo-station", OwnerID: "demo-owner", PricePerKWh: "12.50"}

// SeedDemo inserts DemoStation unless it exists, so the demo page can start
// a session; DEV_MODE with REFERENCE_CHARGING calls it at start.
func (s *ChargingStore) SeedDemo(ctx context.Context) error {
	st := DemoStation
	err := s.db.WithContext(ctx).Exec(
		`INSERT INTO stations (id, owner_id, name, price_per_kwh) VALUES (?, ?, ?, ?::numeric) ON CONFLICT (id) DO NOTHING`,
		st.ID, st.OwnerID, st.ID, st.PricePerKWh).Error
	if err != nil {
		return fmt.Errorf("error creating station: %w", translate(err))
	}
	return nil
}

// InTx implements ports.ChargingStore.
func (s *ChargingStore) InTx(ctx context.Context, fn func(tx ports.ChargingTx) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&chargingTx{db: tx, outbox: s.outbox})
	})
	return translate(err)
}

type chargingTx struct {
	db     *gorm.DB
	outbox EventOutbox
}

func (t *chargingTx) Station(ctx context.Context, id string) (domain.Station, error) {
	return station(t.db.WithContext(ctx), id)
}

func (t *chargingTx) CreateSession(ctx context.Context, s domain.ChargingSession) (domain.ChargingSession, error) {
	r := sessionRow{UserID: s.UserID, StationID: s.StationID, ConnectorID: s.ConnectorID, Status: string(s.Status)}
	if err := t.db.WithContext(ctx).Create(&r).Error; err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation: connector busy
			return domain.ChargingSession{}, domain.ErrConflict
		}
		return domain.ChargingSession{}, fmt.Errorf("error creating session: %w", translate(err))
	}
	return r.toDomain(), nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (t *chargingTx) LockSession(ctx context.Context, id string) (domain.ChargingSession, error) {
	if !uuidRE.MatchString(id) {
		// Not an id this table could hold; answering "not found" beats a
		// database error on the uuid cast.
		return domain.ChargingSession{}, domain.ErrNotFound
	}
	var r sessionRow
	err := t.db.WithContext(ctx).Raw(
		`SELECT id, user_id, station_id, connector_id, status, energy_kwh::float8 AS energy_kwh,
		        amount::text AS amount, started_at, stopped_at
		   FROM charging_sessions WHERE id = ? FOR UPDATE`, id).Take(&r).Error
	if err != nil {
		return domain.ChargingSession{}, fmt.Errorf("error reading session: %w", translate(err))
	}
	return r.toDomain(), nil
}

func (t *chargingTx) CompleteSession(ctx context.Context, s domain.ChargingSession) error {
	err := t.db.WithContext(ctx).Exec(
		`UPDATE charging_sessions SET status = ?, energy_kwh = ?, amount = ?::numeric, stopped_at = ? WHERE id = ?`,
		string(s.Status), s.EnergyKWh, s.Amount.String(), s.StoppedAt, s.ID).Error
	if err != nil {
		return fmt.Errorf("error completing session: %w", translate(err))
	}
	return nil
}

func (t *chargingTx) Enqueue(ctx context.Context, ev domain.ChargingEvent) error {
	tx, err := SQLTx(t.db)
	if err != nil {
		return err
	}
	return t.outbox.EnqueueTx(ctx, tx, ev)
}

// SQLTx returns the *sql.Tx under a gorm transaction, so a River job can be
// inserted in it (queue.Outbox). It handles gorm's PrepareStmt mode too.
func SQLTx(tx *gorm.DB) (*sql.Tx, error) {
	switch p := tx.Statement.ConnPool.(type) {
	case *sql.Tx:
		return p, nil
	case *gorm.PreparedStmtTX:
		if t, ok := p.Tx.(*sql.Tx); ok {
			return t, nil
		}
	}
	return nil, errors.New("gorm: not inside a transaction")
}
