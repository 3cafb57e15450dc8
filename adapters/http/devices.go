package http

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

// deviceView is one device as its user sees it: what it is and how it
// fares, never its endpoint or keys (capabilities to push to it).
type deviceView struct {
	SubscriptionID string     `json:"subscription_id"`
	UserType       string     `json:"user_type"`
	Locale         string     `json:"locale"`
	Device         string     `json:"device"`
	PushService    string     `json:"push_service"`
	CreatedAt      time.Time  `json:"created_at"`
	LastSuccessAt  *time.Time `json:"last_success_at"`
	FailureCount   int        `json:"failure_count"`
}

type devicesResponse struct {
	Success bool         `json:"success"`
	Data    []deviceView `json:"data"`
}

func (s *server) listDevices(c *gin.Context) error {
	subs, err := s.app.Devices(c.Request.Context(), principal(c))
	if err != nil {
		return err
	}
	resp := devicesResponse{Success: true, Data: make([]deviceView, len(subs))}
	for i, sub := range subs {
		resp.Data[i] = deviceView{
			SubscriptionID: sub.ID,
			UserType:       string(sub.UserType),
			Locale:         sub.Locale,
			Device:         domain.DeviceLabel(sub.UserAgent),
			PushService:    domain.ClassifyPushHost(domain.EndpointHost(sub.Endpoint)).String(),
			CreatedAt:      sub.CreatedAt,
			LastSuccessAt:  sub.LastSuccessAt,
			FailureCount:   sub.FailureCount,
		}
	}
	c.JSON(http.StatusOK, resp)
	return nil
}

func (s *server) removeDevice(c *gin.Context) error {
	if err := s.app.RemoveDevice(c.Request.Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	c.JSON(http.StatusOK, messageResponse{Success: true, Message: "Push subscription removed successfully"})
	return nil
}
