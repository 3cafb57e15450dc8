package app_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

const (
	stationID = "st-1"
	ownerID   = "owner-1"
	driverID  = "driver-1"
)

// withStation adds station st-1 of owner-1 at 13.33 per kWh.
func withStation(tb testing.TB, d *deps) {
	tb.Helper()
	d.charging.stations[stationID] = domain.Station{ID: stationID, OwnerID: ownerID, PricePerKWh: "13.33"}
}

// withSession adds an active session of driver-1 at connector 2 of st-1.
func withSession(tb testing.TB, d *deps, id string) domain.ChargingSession {
	tb.Helper()
	s := domain.ChargingSession{
		ID: id, UserID: driverID, StationID: stationID, ConnectorID: 2,
		Status: domain.SessionActive, StartedAt: d.charging.startedAt,
	}
	d.charging.sessions[id] = s
	return s
}

// requireValidation asserts err is a *ValidationError naming exactly fields.
func requireValidation(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	require.ErrorIs(tb, err, domain.ErrInvalid)
	var verr *domain.ValidationError
	require.ErrorAs(tb, err, &verr)
	got := make([]string, 0, len(verr.Fields))
	for _, f := range verr.Fields {
		got = append(got, f.Field)
	}
	require.ElementsMatch(tb, fields, got, "error: %v", err)
}

// opNames lists the operations of the recorded charging calls.
func opNames(tb testing.TB, calls []chargingCall) []string {
	tb.Helper()
	names := make([]string, 0, len(calls))
	for _, c := range calls {
		names = append(names, c.Op)
	}
	return names
}

func TestStartSession(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withStation(t, d)
	caller := domain.Principal{UserID: driverID, UserType: domain.UserTypeClient}

	got, err := d.service(t).StartSession(t.Context(), caller, stationID, 2)
	require.NoError(t, err)

	want := domain.ChargingSession{
		ID: "sess-1", UserID: driverID, StationID: stationID, ConnectorID: 2,
		Status: domain.SessionActive, StartedAt: d.charging.startedAt,
	}
	require.Equal(t, want, got)

	sessions, events := d.charging.committed()
	require.Equal(t, map[string]domain.ChargingSession{"sess-1": want}, sessions)
	require.Equal(t, []domain.ChargingEvent{{
		Kind: domain.EventChargingStarted, SessionID: "sess-1", StationID: stationID, ConnectorID: 2,
		DriverID: driverID, OwnerID: ownerID, OccurredAt: d.charging.startedAt,
	}}, events)

	// Session and event are written in one transaction.
	calls := d.charging.ops()
	require.Equal(t, []string{"Station", "CreateSession", "Enqueue"}, opNames(t, calls))
	for _, c := range calls {
		require.Equal(t, 1, c.Tx, "%s must run inside the transaction", c.Op)
	}
	require.Equal(t, 1, d.charging.txs)
	require.Zero(t, d.charging.rollbacks)
	require.Equal(t, domain.ChargingSession{
		UserID: driverID, StationID: stationID, ConnectorID: 2, Status: domain.SessionActive,
	}, calls[1].Arg, "the session is created for the caller")

	// Nothing is pushed synchronously.
	require.Empty(t, d.sender.calls())
}

func TestStartSession_Invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		station   string
		connector int
		fields    []string
	}{
		{name: "no station", station: "", connector: 1, fields: []string{"station_id"}},
		{name: "connector zero", station: stationID, connector: 0, fields: []string{"connector_id"}},
		{name: "connector negative", station: stationID, connector: -3, fields: []string{"connector_id"}},
		{name: "both", station: "", connector: 0, fields: []string{"station_id", "connector_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)

			got, err := d.service(t).StartSession(t.Context(), domain.Principal{UserID: driverID}, tt.station, tt.connector)
			require.Zero(t, got)
			requireValidation(t, err, tt.fields...)
			require.Zero(t, d.charging.txs, "no transaction for invalid input")
			require.Empty(t, d.charging.ops())
		})
	}
}

func TestStartSession_UnknownStation(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withStation(t, d)

	got, err := d.service(t).StartSession(t.Context(), domain.Principal{UserID: driverID}, "st-missing", 1)
	require.Zero(t, got)
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.NotErrorIs(t, err, domain.ErrInvalid)
	require.Contains(t, err.Error(), "st-missing")

	require.Equal(t, []string{"Station"}, opNames(t, d.charging.ops()))
	sessions, events := d.charging.committed()
	require.Empty(t, sessions)
	require.Empty(t, events, "nothing enqueued")
}

func TestStartSession_ConnectorBusy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		createErr error // nil: an active session at the connector causes the conflict
	}{
		{name: "active session at connector"},
		{name: "store reports conflict", createErr: domain.ErrConflict},
		{name: "store reports wrapped conflict", createErr: fmt.Errorf("unique violation: %w", domain.ErrConflict)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			existing := map[string]domain.ChargingSession{}
			if tt.createErr == nil {
				s := withSession(t, d, "sess-busy")
				existing[s.ID] = s
			}
			d.charging.createErr = tt.createErr

			got, err := d.service(t).StartSession(t.Context(), domain.Principal{UserID: "driver-2"}, stationID, 2)
			require.Zero(t, got)
			require.ErrorIs(t, err, domain.ErrConflict)
			require.Contains(t, err.Error(), stationID)

			require.Equal(t, []string{"Station", "CreateSession"}, opNames(t, d.charging.ops()))
			sessions, events := d.charging.committed()
			require.Equal(t, existing, sessions)
			require.Empty(t, events, "nothing enqueued")
			require.Equal(t, 1, d.charging.rollbacks)
		})
	}
}

func TestStartSession_OtherConnectorIsFree(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withStation(t, d)
	withSession(t, d, "sess-busy") // connector 2

	got, err := d.service(t).StartSession(t.Context(), domain.Principal{UserID: "driver-2"}, stationID, 3)
	require.NoError(t, err)
	require.Equal(t, 3, got.ConnectorID)
	_, events := d.charging.committed()
	require.Len(t, events, 1)
}

func TestStartSession_StoreErrors(t *testing.T) {
	t.Parallel()

	errDB := fmt.Errorf("connection reset: %w", domain.ErrUnavailable)
	tests := []struct {
		name    string
		setup   func(f *fakeCharging)
		wantOps []string
	}{
		{
			name:    "station",
			setup:   func(f *fakeCharging) { f.stationErr = errDB },
			wantOps: []string{"Station"},
		},
		{
			name:    "create",
			setup:   func(f *fakeCharging) { f.createErr = errDB },
			wantOps: []string{"Station", "CreateSession"},
		},
		{
			// The session row was written in the transaction; the failed
			// enqueue must roll it back, so no session exists without its event.
			name:    "enqueue",
			setup:   func(f *fakeCharging) { f.enqueueErr = errDB },
			wantOps: []string{"Station", "CreateSession", "Enqueue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			tt.setup(d.charging)

			got, err := d.service(t).StartSession(t.Context(), domain.Principal{UserID: driverID}, stationID, 2)
			require.Zero(t, got)
			require.ErrorIs(t, err, errDB)
			require.Contains(t, err.Error(), "error starting session")

			require.Equal(t, tt.wantOps, opNames(t, d.charging.ops()))
			sessions, events := d.charging.committed()
			require.Empty(t, sessions, "the session write is rolled back")
			require.Empty(t, events)
			require.Equal(t, 1, d.charging.rollbacks)
		})
	}
}

func TestStopSession(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withStation(t, d)
	started := withSession(t, d, "sess-1")

	got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: driverID}, "sess-1", 12.5)
	require.NoError(t, err)

	want := started
	want.Status = domain.SessionCompleted
	want.EnergyKWh = 12.5
	want.Amount = 16663 // 12.5 × 13.33 = 166.625, half-up
	require.NotNil(t, got.StoppedAt)
	require.Equal(t, testNow, *got.StoppedAt, "stopped at the clock's now")
	want.StoppedAt = got.StoppedAt
	require.Equal(t, want, got)

	sessions, events := d.charging.committed()
	require.Equal(t, map[string]domain.ChargingSession{"sess-1": want}, sessions)
	require.Equal(t, []domain.ChargingEvent{{
		Kind: domain.EventChargingCompleted, SessionID: "sess-1", StationID: stationID, ConnectorID: 2,
		DriverID: driverID, OwnerID: ownerID, EnergyKWh: 12.5, Amount: 16663, OccurredAt: testNow,
	}}, events)

	calls := d.charging.ops()
	require.Equal(t, []string{"LockSession", "Station", "CompleteSession", "Enqueue"}, opNames(t, calls))
	for _, c := range calls {
		require.Equal(t, 1, c.Tx, "%s must run inside the transaction", c.Op)
	}
	require.Equal(t, 1, d.charging.txs)
	require.Zero(t, d.charging.rollbacks)
	require.Empty(t, d.sender.calls(), "nothing is pushed synchronously")
}

func TestStopSession_Amounts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		price  string
		energy float64
		want   domain.Cents
	}{
		{name: "zero energy", price: "13.33", energy: 0, want: 0},
		{name: "float-unfriendly", price: "0.1", energy: 3, want: 30},
		{name: "half a cent", price: "0.005", energy: 1, want: 1},
		{name: "max energy", price: "13.33", energy: domain.MaxEnergyKWh, want: 666_500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			st := d.charging.stations[stationID]
			st.PricePerKWh = tt.price
			d.charging.stations[stationID] = st
			withSession(t, d, "sess-1")

			got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: driverID}, "sess-1", tt.energy)
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Amount)
			_, events := d.charging.committed()
			require.Len(t, events, 1)
			require.Equal(t, tt.want, events[0].Amount)
			require.Equal(t, tt.energy, events[0].EnergyKWh)
		})
	}
}

func TestStopSession_EmptyID(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: driverID}, "", 12.5)
	require.Zero(t, got)
	requireValidation(t, err, "session_id")
	require.Zero(t, d.charging.txs)
	require.Empty(t, d.charging.ops())
}

func TestStopSession_Refused(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		caller    string
		sessionID string
		setup     func(tb testing.TB, d *deps)
		wantErr   error
		wantMsg   string
		wantOps   []string
	}{
		{
			name: "unknown session", caller: driverID, sessionID: "sess-missing",
			wantErr: domain.ErrNotFound, wantMsg: "sess-missing",
			wantOps: []string{"LockSession"},
		},
		{
			name: "another user's session", caller: "driver-2", sessionID: "sess-1",
			wantErr: domain.ErrForbidden,
			wantOps: []string{"LockSession"},
		},
		{
			name: "owner of the station is not the driver", caller: ownerID, sessionID: "sess-1",
			wantErr: domain.ErrForbidden,
			wantOps: []string{"LockSession"},
		},
		{
			name: "already completed", caller: driverID, sessionID: "sess-1",
			setup: func(tb testing.TB, d *deps) {
				tb.Helper()
				s := d.charging.sessions["sess-1"]
				stopped := testNow.Add(-5 * time.Minute)
				s.Status, s.EnergyKWh, s.Amount, s.StoppedAt = domain.SessionCompleted, 10, 13330, &stopped
				d.charging.sessions["sess-1"] = s
			},
			wantErr: domain.ErrConflict, wantMsg: "sess-1",
			wantOps: []string{"LockSession"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			withSession(t, d, "sess-1")
			if tt.setup != nil {
				tt.setup(t, d)
			}
			before, _ := d.charging.committed()

			got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: tt.caller}, tt.sessionID, 12.5)
			require.Zero(t, got)
			require.ErrorIs(t, err, tt.wantErr)
			require.NotErrorIs(t, err, domain.ErrInvalid)
			if tt.wantMsg != "" {
				require.Contains(t, err.Error(), tt.wantMsg)
			}

			require.Equal(t, tt.wantOps, opNames(t, d.charging.ops()), "nothing written")
			after, events := d.charging.committed()
			require.Equal(t, before, after)
			require.Empty(t, events)
		})
	}
}

func TestStopSession_InvalidEnergy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		energy float64
	}{
		{name: "negative", energy: -1},
		{name: "NaN", energy: math.NaN()},
		{name: "above max", energy: domain.MaxEnergyKWh + 1},
		{name: "infinite", energy: math.Inf(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			withSession(t, d, "sess-1")
			before, _ := d.charging.committed()

			got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: driverID}, "sess-1", tt.energy)
			require.Zero(t, got)
			requireValidation(t, err, "energy_kwh")

			ops := opNames(t, d.charging.ops())
			require.NotContains(t, ops, "CompleteSession", "nothing written")
			require.NotContains(t, ops, "Enqueue", "nothing enqueued")
			after, events := d.charging.committed()
			require.Equal(t, before, after)
			require.Empty(t, events)
		})
	}
}

func TestStopSession_StoreErrors(t *testing.T) {
	t.Parallel()

	errDB := fmt.Errorf("connection reset: %w", domain.ErrUnavailable)
	tests := []struct {
		name    string
		setup   func(d *deps)
		wantErr error // nil: any error
		wantOps []string
	}{
		{
			name:    "lock",
			setup:   func(d *deps) { d.charging.lockErr = errDB },
			wantErr: errDB,
			wantOps: []string{"LockSession"},
		},
		{
			name:    "station",
			setup:   func(d *deps) { d.charging.stationErr = errDB },
			wantErr: errDB,
			wantOps: []string{"LockSession", "Station"},
		},
		{
			name:    "station gone",
			setup:   func(d *deps) { delete(d.charging.stations, stationID) },
			wantErr: domain.ErrNotFound,
			wantOps: []string{"LockSession", "Station"},
		},
		{
			name: "bad station price",
			setup: func(d *deps) {
				st := d.charging.stations[stationID]
				st.PricePerKWh = "n/a"
				d.charging.stations[stationID] = st
			},
			wantOps: []string{"LockSession", "Station"},
		},
		{
			name:    "complete",
			setup:   func(d *deps) { d.charging.completeErr = errDB },
			wantErr: errDB,
			wantOps: []string{"LockSession", "Station", "CompleteSession"},
		},
		{
			// The completed session was written in the transaction; the
			// failed enqueue must roll it back.
			name:    "enqueue",
			setup:   func(d *deps) { d.charging.enqueueErr = errDB },
			wantErr: errDB,
			wantOps: []string{"LockSession", "Station", "CompleteSession", "Enqueue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			d := newDeps(t)
			withStation(t, d)
			started := withSession(t, d, "sess-1")
			tt.setup(d)

			got, err := d.service(t).StopSession(t.Context(), domain.Principal{UserID: driverID}, "sess-1", 12.5)
			require.Zero(t, got)
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			require.Contains(t, err.Error(), "error stopping session")

			require.Equal(t, tt.wantOps, opNames(t, d.charging.ops()))
			sessions, events := d.charging.committed()
			require.Equal(t, map[string]domain.ChargingSession{"sess-1": started}, sessions, "rolled back: still active")
			require.Empty(t, events)
			require.Equal(t, 1, d.charging.rollbacks)
		})
	}
}

func TestStartThenStop(t *testing.T) {
	t.Parallel()

	d := newDeps(t)
	withStation(t, d)
	svc := d.service(t)
	caller := domain.Principal{UserID: driverID}

	started, err := svc.StartSession(t.Context(), caller, stationID, 1)
	require.NoError(t, err)
	stopped, err := svc.StopSession(t.Context(), caller, started.ID, 12.5)
	require.NoError(t, err)
	require.Equal(t, started.ID, stopped.ID)
	require.Equal(t, domain.SessionCompleted, stopped.Status)

	_, err = svc.StopSession(t.Context(), caller, started.ID, 12.5)
	require.ErrorIs(t, err, domain.ErrConflict, "a session stops once")

	_, events := d.charging.committed()
	require.Len(t, events, 2)
	require.Equal(t, domain.EventChargingStarted, events[0].Kind)
	require.Equal(t, domain.EventChargingCompleted, events[1].Kind)
	require.Equal(t, events[0].SessionID, events[1].SessionID)
	require.NotEqual(t, events[0].Key(), events[1].Key())

	// The connector is free again.
	_, err = svc.StartSession(t.Context(), caller, stationID, 1)
	require.NoError(t, err)
}
