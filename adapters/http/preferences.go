package http

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

// preferencesRequest is a partial change: only the kinds and categories
// named change; user_type defaults to the token's role.
type preferencesRequest struct {
	UserType   string          `json:"user_type"`
	Kinds      map[string]bool `json:"kinds"`
	Categories map[string]bool `json:"categories"`
}

type preferencesView struct {
	UserType   string          `json:"user_type"`
	Kinds      map[string]bool `json:"kinds"`
	Categories map[string]bool `json:"categories"`
}

type preferencesResponse struct {
	Success bool            `json:"success"`
	Data    preferencesView `json:"data"`
}

func (s *server) getPreferences(c *gin.Context) error {
	p, err := s.app.Preferences(c.Request.Context(), principal(c), c.Query("user_type"))
	if err != nil {
		return err
	}
	writePreferences(c, p)
	return nil
}

func (s *server) putPreferences(c *gin.Context) error {
	var req preferencesRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	p, err := s.app.SetPreferences(c.Request.Context(), principal(c), req.UserType, req.Kinds, req.Categories)
	if err != nil {
		return err
	}
	writePreferences(c, p)
	return nil
}

func writePreferences(c *gin.Context, p domain.Preferences) {
	c.JSON(http.StatusOK, preferencesResponse{Success: true, Data: preferencesView{
		UserType: string(p.UserType), Kinds: p.Kinds, Categories: p.Categories}})
}
