package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
	"github.com/evpower/evpush/test/storecontract"
)

// TestSubscriptionStoreContract runs the port's suite on PostgreSQL, the
// same suite the app's in-memory store passes.
func TestSubscriptionStoreContract(t *testing.T) {
	t.Parallel()
	storecontract.SubscriptionStore(t, func(t *testing.T) ports.SubscriptionStore {
		return setup(t).store // settled: its current key is storecontract.KeyID
	})
}

// TestChargingStoreContract runs the charging port's suite on PostgreSQL
// (the reference module's tables), the same suite the app's fake passes.
// Its outbox writes each event into a table of the test in the caller's
// transaction, so what commits with the session is what the suite reads.
func TestChargingStoreContract(t *testing.T) {
	t.Parallel()
	storecontract.ChargingStore(t, func(t *testing.T) storecontract.Charging {
		b := setup(t)
		_, err := b.db.ExecContext(b.ctx, `CREATE TABLE contract_events (kind text, session_id text, station_id text)`)
		require.NoError(t, err)
		store, err := postgres.NewChargingStore(b.db, tableOutbox{})
		require.NoError(t, err)
		return storecontract.Charging{
			Store: store,
			AddStation: func(t *testing.T, st domain.Station) {
				_, err := b.db.ExecContext(b.ctx, `INSERT INTO stations (id, owner_id, price_per_kwh) VALUES ($1, $2, $3::numeric)`,
					st.ID, st.OwnerID, st.PricePerKWh)
				require.NoError(t, err)
			},
			Enqueued: func(t *testing.T) []domain.ChargingEvent {
				rows, err := b.db.QueryContext(b.ctx, `SELECT kind, session_id, station_id FROM contract_events`)
				require.NoError(t, err)
				defer rows.Close()
				var evs []domain.ChargingEvent
				for rows.Next() {
					var ev domain.ChargingEvent
					require.NoError(t, rows.Scan(&ev.Kind, &ev.SessionID, &ev.StationID))
					evs = append(evs, ev)
				}
				require.NoError(t, rows.Err())
				return evs
			},
		}
	})
}

// tableOutbox is an EventOutbox writing into contract_events.
type tableOutbox struct{}

func (tableOutbox) EnqueueTx(ctx context.Context, tx *sql.Tx, ev domain.ChargingEvent) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO contract_events VALUES ($1, $2, $3)`, string(ev.Kind), ev.SessionID, ev.StationID)
	return err
}
