package storecontract

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// Charging is one ports.ChargingStore under test, with the two things the
// port leaves to its implementation: putting a station in (stations belong
// to the charging service), and reading the events its transactions
// enqueued and committed.
type Charging struct {
	Store      ports.ChargingStore
	AddStation func(t *testing.T, st domain.Station)
	Enqueued   func(t *testing.T) []domain.ChargingEvent
}

// ChargingStore runs the charging port's suite; newStore returns an empty
// store of its own. Each subtest runs in parallel on its own store.
func ChargingStore(t *testing.T, newStore func(t *testing.T) Charging) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, c Charging)
	}{
		{"Station", chargingStation},
		{"CommitAndRollback", chargingCommitAndRollback},
		{"BusyConnector", chargingBusyConnector},
		{"Complete", chargingComplete},
		{"LockUnknown", chargingLockUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newStore(t)
			c.AddStation(t, contractStation)
			tt.run(t, c)
		})
	}
}

var contractStation = domain.Station{ID: "st-contract", OwnerID: "owner-1", PricePerKWh: "12.5"}

// inTx runs fn in one transaction of c and fails the test on its error.
func inTx(t *testing.T, c Charging, fn func(tx ports.ChargingTx) error) {
	t.Helper()
	require.NoError(t, c.Store.InTx(context.Background(), fn))
}

// start commits an active session at connector of the contract station.
func start(t *testing.T, c Charging, connector int) domain.ChargingSession {
	t.Helper()
	var s domain.ChargingSession
	inTx(t, c, func(tx ports.ChargingTx) (err error) {
		s, err = tx.CreateSession(context.Background(), domain.ChargingSession{
			UserID: "driver-1", StationID: contractStation.ID, ConnectorID: connector, Status: domain.SessionActive})
		return err
	})
	return s
}

// lock reads a session in a transaction of its own.
func lock(t *testing.T, c Charging, id string) (domain.ChargingSession, error) {
	t.Helper()
	var s domain.ChargingSession
	err := c.Store.InTx(context.Background(), func(tx ports.ChargingTx) (err error) {
		s, err = tx.LockSession(context.Background(), id)
		return err
	})
	return s, err
}

func chargingStation(t *testing.T, c Charging) {
	ctx := context.Background()
	inTx(t, c, func(tx ports.ChargingTx) error {
		st, err := tx.Station(ctx, contractStation.ID)
		require.NoError(t, err)
		require.Equal(t, contractStation.ID, st.ID)
		require.Equal(t, contractStation.OwnerID, st.OwnerID)
		price, err := domain.ParseCents(st.PricePerKWh)
		require.NoError(t, err, "price %q is a decimal", st.PricePerKWh)
		require.Equal(t, domain.Cents(1250), price)
		_, err = tx.Station(ctx, "no-such-station")
		require.ErrorIs(t, err, domain.ErrNotFound)
		return nil
	})
}

func chargingCommitAndRollback(t *testing.T, c Charging) {
	ctx := context.Background()
	ev := domain.ChargingEvent{Kind: domain.EventChargingStarted, StationID: contractStation.ID, ConnectorID: 1, DriverID: "driver-1"}

	// fn's error rolls back the session and the event together.
	var rolledBack domain.ChargingSession
	boom := errors.New("boom")
	err := c.Store.InTx(ctx, func(tx ports.ChargingTx) (err error) {
		rolledBack, err = tx.CreateSession(ctx, domain.ChargingSession{
			UserID: "driver-1", StationID: contractStation.ID, ConnectorID: 1, Status: domain.SessionActive})
		require.NoError(t, err)
		ev.SessionID = rolledBack.ID
		require.NoError(t, tx.Enqueue(ctx, ev))
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = lock(t, c, rolledBack.ID)
	require.ErrorIs(t, err, domain.ErrNotFound, "the session rolled back")
	require.Empty(t, c.Enqueued(t), "the event rolled back with it")

	// Committed: both are there.
	var s domain.ChargingSession
	inTx(t, c, func(tx ports.ChargingTx) (err error) {
		if s, err = tx.CreateSession(ctx, domain.ChargingSession{
			UserID: "driver-1", StationID: contractStation.ID, ConnectorID: 1, Status: domain.SessionActive}); err != nil {
			return err
		}
		ev.SessionID = s.ID
		return tx.Enqueue(ctx, ev)
	})
	require.NotEmpty(t, s.ID)
	require.False(t, s.StartedAt.IsZero(), "the store sets the start time")
	got, err := lock(t, c, s.ID)
	require.NoError(t, err)
	require.Equal(t, domain.SessionActive, got.Status)
	require.Equal(t, "driver-1", got.UserID)
	require.Equal(t, 1, got.ConnectorID)
	events := c.Enqueued(t)
	require.Len(t, events, 1)
	require.Equal(t, s.ID, events[0].SessionID)
	require.Equal(t, domain.EventChargingStarted, events[0].Kind)
}

func chargingBusyConnector(t *testing.T, c Charging) {
	ctx := context.Background()
	start(t, c, 1)
	err := c.Store.InTx(ctx, func(tx ports.ChargingTx) error {
		_, err := tx.CreateSession(ctx, domain.ChargingSession{
			UserID: "driver-2", StationID: contractStation.ID, ConnectorID: 1, Status: domain.SessionActive})
		return err
	})
	require.ErrorIs(t, err, domain.ErrConflict, "one active session per connector")
	require.NotEmpty(t, start(t, c, 2).ID, "another connector is free")
}

func chargingComplete(t *testing.T, c Charging) {
	ctx := context.Background()
	s := start(t, c, 1)
	stopped := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	inTx(t, c, func(tx ports.ChargingTx) error {
		locked, err := tx.LockSession(ctx, s.ID)
		if err != nil {
			return err
		}
		locked.Status, locked.EnergyKWh, locked.Amount, locked.StoppedAt = domain.SessionCompleted, 12.5, 15625, &stopped
		return tx.CompleteSession(ctx, locked)
	})
	got, err := lock(t, c, s.ID)
	require.NoError(t, err)
	require.Equal(t, domain.SessionCompleted, got.Status)
	require.InDelta(t, 12.5, got.EnergyKWh, 1e-9)
	require.Equal(t, domain.Cents(15625), got.Amount)
	require.NotNil(t, got.StoppedAt)
	require.True(t, stopped.Equal(*got.StoppedAt), "stopped %v, want %v", got.StoppedAt, stopped)
	require.NotEmpty(t, start(t, c, 1).ID, "a completed session frees its connector")
}

func chargingLockUnknown(t *testing.T, c Charging) {
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-session-id"} {
		_, err := lock(t, c, id)
		require.ErrorIs(t, err, domain.ErrNotFound, id)
	}
}
