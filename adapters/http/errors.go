package http

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

// errorBody is the contract's error shape; clients read `detail`.
type errorBody struct {
	Success bool         `json:"success"`
	Detail  string       `json:"detail"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// errBodyTooLarge is returned by decoding when the body passes MaxBodyBytes.
var errBodyTooLarge = errors.New("request body larger than 64 KiB")

// writeError is the one place that picks a status for an error.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	var verr *domain.ValidationError
	var authErr *domain.AuthError
	var status int
	body := errorBody{Detail: err.Error()}
	var known *domain.Error
	if errors.As(err, &known) {
		body.Detail = known.Msg // without the wrapping context, which is for logs
	}
	switch {
	case errors.As(err, &verr):
		status = http.StatusUnprocessableEntity
		body.Detail = verr.Error()
		for _, f := range verr.Fields {
			body.Errors = append(body.Errors, fieldError{Field: f.Field, Message: f.Message})
		}
	case errors.As(err, &authErr):
		status = http.StatusUnauthorized
		body.Detail = authErr.Reason
		c.Header("WWW-Authenticate", `Bearer realm="evpush"`)
	case errors.Is(err, domain.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, errBodyTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, domain.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, domain.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, domain.ErrUnavailable):
		status = http.StatusServiceUnavailable
		body.Detail = "Service temporarily unavailable, retry shortly"
		c.Header("Retry-After", "5")
		log.Warn("dependency unavailable", "route", c.FullPath(), "error", err)
	default:
		status = http.StatusInternalServerError
		body.Detail = "Internal server error" // no internals leak to clients
		log.Error("request failed", "route", c.FullPath(), "error", err)
	}
	c.AbortWithStatusJSON(status, body)
}

// handle adapts a handler that returns an error to gin, so handlers never
// write error statuses themselves.
func (s *server) handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			writeError(c, s.log, err)
		}
	}
}
