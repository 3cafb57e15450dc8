package http

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

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

// Transport-level error kinds, which only this adapter can meet; the
// product's kinds are in domain/errors.go. Both are mapped in writeError.
var (
	// errBodyTooLarge is returned by decoding when the body passes MaxBodyBytes.
	errBodyTooLarge = errors.New("request body larger than 64 KiB")
	// errMethodNotAllowed answers a known path asked with another method.
	errMethodNotAllowed = errors.New("method not allowed")
)

// opsAuthError refuses operator credentials; the challenge names the realm
// a browser prompts for.
type opsAuthError struct{}

func (opsAuthError) Error() string { return "operator credentials required" }

// Unwrap makes errors.Is(err, domain.ErrUnauthenticated) true: a 401.
func (opsAuthError) Unwrap() error { return domain.ErrUnauthenticated }

// kindText is what a client reads for an error of a known kind that carries
// no message meant for it: a wrapped chain carries context for the logs
// (and sometimes internals), never for the client.
var kindText = map[error]string{
	domain.ErrInvalid:         "Invalid request",
	domain.ErrNotFound:        "Not found",
	domain.ErrUnauthenticated: "Authentication required",
	domain.ErrForbidden:       "Forbidden",
	domain.ErrConflict:        "Conflict with the current state",
	domain.ErrExpired:         "Expired",
	domain.ErrRateLimited:     "Too many requests",
	domain.ErrUnavailable:     "Service temporarily unavailable, retry shortly",
	errBodyTooLarge:           "Request body larger than 64 KiB",
	errMethodNotAllowed:       "Method not allowed",
}

// statusOf is the HTTP status of each kind; anything else is a 500.
var statusOf = []struct {
	kind   error
	status int
}{
	{domain.ErrInvalid, http.StatusUnprocessableEntity},
	{domain.ErrUnauthenticated, http.StatusUnauthorized},
	{domain.ErrForbidden, http.StatusForbidden},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge},
	{domain.ErrNotFound, http.StatusNotFound},
	{errMethodNotAllowed, http.StatusMethodNotAllowed},
	{domain.ErrConflict, http.StatusConflict},
	{domain.ErrExpired, http.StatusGone},
	{domain.ErrRateLimited, http.StatusTooManyRequests},
	{domain.ErrUnavailable, http.StatusServiceUnavailable},
}

// writeError is the one place that picks a status and a body for an error.
// The client reads a *domain.Error's message, a validation error's fields,
// an auth error's reason, or the kind's fixed text; never err.Error() of a
// wrapped chain.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	status, kind := http.StatusInternalServerError, error(nil)
	for _, k := range statusOf {
		if errors.Is(err, k.kind) {
			status, kind = k.status, k.kind
			break
		}
	}
	body := errorBody{Detail: kindText[kind]}
	var (
		known   *domain.Error
		verr    *domain.ValidationError
		authErr *domain.AuthError
		limited *domain.RateLimitError
		opsAuth opsAuthError
	)
	switch {
	case errors.As(err, &verr):
		body.Detail = verr.Error()
		for _, f := range verr.Fields {
			body.Errors = append(body.Errors, fieldError{Field: f.Field, Message: f.Message})
		}
	case errors.As(err, &opsAuth):
		body.Detail = opsAuth.Error()
		c.Header("WWW-Authenticate", `Basic realm="evpush operations", charset="UTF-8"`)
	case errors.As(err, &authErr):
		body.Detail = authErr.Reason
		c.Header("WWW-Authenticate", `Bearer realm="evpush"`)
	case errors.As(err, &limited):
		body.Detail = limited.Msg
		c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(limited.RetryAfter.Seconds())), 1)))
	case errors.As(err, &known) && kind != nil:
		body.Detail = known.Msg // without the wrapping context, which is for logs
	}
	switch {
	case kind == domain.ErrUnavailable:
		c.Header("Retry-After", "5")
		log.Warn("dependency unavailable", "route", c.FullPath(), "error", err)
	case kind == nil:
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
