package http

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

type vapidKeyResponse struct {
	Success bool `json:"success"`
	Data    struct {
		PublicKey string `json:"public_key"`
	} `json:"data"`
}

func (s *server) vapidPublicKey(c *gin.Context) {
	var resp vapidKeyResponse
	resp.Success = true
	resp.Data.PublicKey = s.app.PublicKey()
	c.JSON(http.StatusOK, resp)
}

// subscribeRequest is PushSubscription.toJSON() plus the role, as the seed's
// PWA posts it, and the VAPID key the browser subscribed with.
type subscribeRequest struct {
	Subscription struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	} `json:"subscription"`
	UserType             string `json:"user_type"`
	Locale               string `json:"locale"`
	ApplicationServerKey string `json:"application_server_key"`
}

type subscribeResponse struct {
	Success        bool   `json:"success"`
	Message        string `json:"message"`
	SubscriptionID string `json:"subscription_id"`
}

func (s *server) subscribe(c *gin.Context) error {
	var req subscribeRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	res, err := s.app.Subscribe(c.Request.Context(), principal(c), domain.SubscriptionInput{
		UserType:  req.UserType,
		Endpoint:  req.Subscription.Endpoint,
		P256dh:    req.Subscription.Keys.P256dh,
		Auth:      req.Subscription.Keys.Auth,
		Locale:    req.Locale,
		UserAgent: c.Request.UserAgent(),

		ApplicationServerKey: req.ApplicationServerKey,
	})
	if err != nil {
		return err
	}
	msg := "Push subscription updated successfully"
	if res.Created {
		msg = "Push subscription registered successfully"
	}
	c.JSON(http.StatusOK, subscribeResponse{Success: true, Message: msg, SubscriptionID: res.SubscriptionID})
	return nil
}

type unsubscribeRequest struct {
	Endpoint string `json:"endpoint"`
}

type messageResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func (s *server) unsubscribe(c *gin.Context) error {
	var req unsubscribeRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	removed, err := s.app.Unsubscribe(c.Request.Context(), principal(c), req.Endpoint)
	if err != nil {
		return err
	}
	if !removed {
		c.JSON(http.StatusOK, messageResponse{Success: false, Message: "Push subscription not found"})
		return nil
	}
	c.JSON(http.StatusOK, messageResponse{Success: true, Message: "Push subscription removed successfully"})
	return nil
}

type testResponse struct {
	Success bool   `json:"success"`
	SentTo  int    `json:"sent_to"`
	Failed  *int   `json:"failed,omitempty"` // (ext) only when some device failed
	Message string `json:"message"`
}

// sendTest takes no body; whatever the client sends is ignored.
func (s *server) sendTest(c *gin.Context) error {
	rep, err := s.app.SendTest(c.Request.Context(), principal(c))
	if err != nil {
		return err
	}
	if rep.Found == 0 {
		c.JSON(http.StatusOK, testResponse{Success: false, SentTo: 0, Message: "No active subscriptions found"})
		return nil
	}
	resp := testResponse{
		Success: rep.SentTo > 0,
		SentTo:  rep.SentTo,
		Message: fmt.Sprintf("Test notification sent to %d device(s)", rep.SentTo),
	}
	if rep.Failed > 0 {
		resp.Failed = &rep.Failed
	}
	c.JSON(http.StatusOK, resp)
	return nil
}
