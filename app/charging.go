package app

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/ports"
)

// errNoReferenceCharging: the reference charging module is off (its routes
// are not even mounted then; this keeps a stray call from panicking).
var errNoReferenceCharging = domain.Errorf(domain.ErrNotFound, "the reference charging module is off")

// StartSession starts charging for the caller at a station's connector and,
// in the same transaction, enqueues the ChargingStarted event. The push
// itself happens later, on a worker: it can neither fail nor slow this call.
func (s *Service) StartSession(ctx context.Context, caller domain.Principal, stationID string, connectorID int) (domain.ChargingSession, error) {
	v := &domain.ValidationError{}
	if stationID == "" {
		v.Add("station_id", "is required")
	}
	if connectorID < 1 || connectorID > math.MaxInt32 {
		v.Add("connector_id", "must be a positive integer")
	}
	if err := v.Err(); err != nil {
		return domain.ChargingSession{}, err
	}
	if s.charging == nil {
		return domain.ChargingSession{}, errNoReferenceCharging
	}
	var session domain.ChargingSession
	err := s.charging.InTx(ctx, func(tx ports.ChargingTx) error {
		st, err := tx.Station(ctx, stationID)
		if errors.Is(err, domain.ErrNotFound) {
			return domain.Errorf(domain.ErrNotFound, "station %q not found", stationID)
		}
		if err != nil {
			return err
		}
		session, err = tx.CreateSession(ctx, domain.ChargingSession{
			UserID: caller.UserID, StationID: st.ID, ConnectorID: connectorID, Status: domain.SessionActive,
		})
		if errors.Is(err, domain.ErrConflict) {
			return domain.Errorf(domain.ErrConflict, "connector %d of station %q already has an active session", connectorID, stationID)
		}
		if err != nil {
			return err
		}
		return tx.Enqueue(ctx, domain.ChargingEvent{
			Kind: domain.EventChargingStarted, SessionID: session.ID, StationID: st.ID,
			ConnectorID: connectorID, DriverID: caller.UserID, OwnerID: st.OwnerID,
			OccurredAt: session.StartedAt,
		})
	})
	if err != nil {
		return domain.ChargingSession{}, fmt.Errorf("error starting session: %w", err)
	}
	return session, nil
}

// StopSession stops the caller's session, bills energy × the station's price
// and, in the same transaction, enqueues the ChargingCompleted event.
func (s *Service) StopSession(ctx context.Context, caller domain.Principal, sessionID string, energyKWh float64) (domain.ChargingSession, error) {
	if sessionID == "" {
		return domain.ChargingSession{}, domain.Invalid("session_id", "is required")
	}
	if s.charging == nil {
		return domain.ChargingSession{}, errNoReferenceCharging
	}
	var session domain.ChargingSession
	err := s.charging.InTx(ctx, func(tx ports.ChargingTx) error {
		var err error
		session, err = tx.LockSession(ctx, sessionID)
		if errors.Is(err, domain.ErrNotFound) {
			return domain.Errorf(domain.ErrNotFound, "session %q not found", sessionID)
		}
		if err != nil {
			return err
		}
		if session.UserID != caller.UserID {
			return domain.Errorf(domain.ErrForbidden, "only the session's driver may stop it")
		}
		if session.Status != domain.SessionActive {
			return domain.Errorf(domain.ErrConflict, "session %q is already %s", sessionID, session.Status)
		}
		st, err := tx.Station(ctx, session.StationID)
		if err != nil {
			return err
		}
		amount, err := domain.ChargeAmount(energyKWh, st.PricePerKWh)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		session.Status, session.EnergyKWh, session.Amount, session.StoppedAt = domain.SessionCompleted, energyKWh, amount, &now
		if err := tx.CompleteSession(ctx, session); err != nil {
			return err
		}
		return tx.Enqueue(ctx, domain.ChargingEvent{
			Kind: domain.EventChargingCompleted, SessionID: session.ID, StationID: st.ID,
			ConnectorID: session.ConnectorID, DriverID: session.UserID, OwnerID: st.OwnerID,
			EnergyKWh: energyKWh, Amount: amount, OccurredAt: now,
		})
	})
	if err != nil {
		return domain.ChargingSession{}, fmt.Errorf("error stopping session: %w", err)
	}
	return session, nil
}
