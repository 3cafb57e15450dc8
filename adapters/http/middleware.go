package http

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

const principalKey = "evpush.principal"

// authenticate verifies the bearer token. Only the Authorization header is
// read: tokens in query strings end up in access logs and browser history.
func (s *server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			writeError(c, s.log, &domain.AuthError{Reason: "missing bearer token"})
			return
		}
		p, err := s.tokens.Verify(c.Request.Context(), token)
		if err != nil {
			writeError(c, s.log, err)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// requireRole lets through only tokens that name role t explicitly: the
// charging demo is a driver's action, not something any token may do.
func (s *server) requireRole(t domain.UserType) gin.HandlerFunc {
	return func(c *gin.Context) {
		if principal(c).UserType != t {
			writeError(c, s.log, domain.Errorf(domain.ErrForbidden, "only %s tokens may do this", t))
			return
		}
		c.Next()
	}
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func principal(c *gin.Context) domain.Principal {
	p, _ := c.Get(principalKey)
	return p.(domain.Principal) // set by authenticate on every route that calls this
}

func (s *server) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := limitBody(c.Writer, c.Request); err != nil {
			writeError(c, s.log, err)
			return
		}
		c.Next()
	}
}

// requestLog gives each request an id (the caller's X-Request-ID if sane) and
// logs one line per request. It logs the route pattern, never the query or
// headers, so tokens and endpoints stay out of logs.
func (s *server) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Header("X-Request-ID", id)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched" // bounded label set: never the raw path
		}
		if s.observer != nil {
			s.observer.ObserveHTTP(route, c.Request.Method, c.Writer.Status(), time.Since(start))
		}
		s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "http request",
			slog.String("request_id", id),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)))
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recover turns a panic into the contract's 500 body.
func (s *server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(c, s.log, fmt.Errorf("panic: %v", v))
			}
		}()
		c.Next()
	}
}
