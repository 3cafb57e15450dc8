package http

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

type startRequest struct {
	StationID   string `json:"station_id"`
	ConnectorID *int   `json:"connector_id"`
}

type startResponse struct {
	Success     bool      `json:"success"`
	SessionID   string    `json:"session_id"`
	StationID   string    `json:"station_id"`
	ConnectorID int       `json:"connector_id"`
	Status      string    `json:"status"`
	StartedAt   time.Time `json:"started_at"`
}

func (s *server) startCharging(c *gin.Context) error {
	var req startRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	if req.ConnectorID == nil {
		return domain.Invalid("connector_id", "is required")
	}
	sess, err := s.charging.StartSession(c.Request.Context(), principal(c), req.StationID, *req.ConnectorID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, startResponse{
		Success: true, SessionID: sess.ID, StationID: sess.StationID, ConnectorID: sess.ConnectorID,
		Status: string(sess.Status), StartedAt: sess.StartedAt,
	})
	return nil
}

type stopRequest struct {
	SessionID string   `json:"session_id"`
	EnergyKWh *float64 `json:"energy_kwh"`
}

type stopResponse struct {
	Success   bool      `json:"success"`
	SessionID string    `json:"session_id"`
	StationID string    `json:"station_id"`
	EnergyKWh float64   `json:"energy_kwh"`
	Amount    float64   `json:"amount"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	StoppedAt time.Time `json:"stopped_at"`
}

func (s *server) stopCharging(c *gin.Context) error {
	var req stopRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	if req.EnergyKWh == nil {
		return domain.Invalid("energy_kwh", "is required")
	}
	sess, err := s.charging.StopSession(c.Request.Context(), principal(c), req.SessionID, *req.EnergyKWh)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, stopResponse{
		Success: true, SessionID: sess.ID, StationID: sess.StationID, EnergyKWh: sess.EnergyKWh,
		Amount: sess.Amount.Float(), Currency: domain.Currency, Status: string(sess.Status), StoppedAt: *sess.StoppedAt,
	})
	return nil
}
