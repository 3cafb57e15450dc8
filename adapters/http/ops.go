package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Ops is the operators' surface: River UI and metrics behind credentials.
type Ops struct {
	Username, Password string
	// UI is River UI, built for the prefix UIPrefix.
	UI http.Handler
	// Metrics, when set, is served at /metrics behind the same credentials
	// (nil when METRICS_ADDR serves it on a listener of its own).
	Metrics http.Handler
}

// UIPrefix is where River UI is mounted.
const UIPrefix = "/riverui"

// Readiness reports each dependency's state: "ok", "disabled", or what is
// wrong. The service is ready when none is wrong.
type Readiness func(ctx context.Context) map[string]string

// HTTPObserver records HTTP traffic (metrics).
type HTTPObserver interface {
	ObserveHTTP(route, method string, status int, d time.Duration)
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the machine-readable contract served at /openapi.json.
func OpenAPI() []byte { return openAPI }

type healthBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, healthBody{Status: "ok"})
}

// readyz answers 503 while any dependency is wrong, so a load balancer sends
// traffic elsewhere; the process itself stays up and recovers by itself.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := s.ready(ctx)
	body := healthBody{Status: "ready", Checks: checks}
	status := http.StatusOK
	for _, v := range checks {
		if v != "ok" && v != "disabled" {
			body.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	if status != http.StatusOK {
		c.Header("Retry-After", "5")
	}
	c.JSON(status, body)
}

func (s *server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}

// requireOps asks for the operators' credentials (HTTP Basic).
func requireOps(user, pass string, next http.Handler) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		// Compare hashes in constant time: no length or prefix leaks.
		if !ok || subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="evpush operations", charset="UTF-8"`)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"success":false,"detail":"operator credentials required"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mountOps adds River UI and metrics. Cross-origin protection refuses
// state-changing requests that a browser sends from another site (River
// UI's cancel, retry, delete, pause…), since Basic credentials would be
// attached to them automatically.
func mountOps(r *gin.Engine, ops Ops) {
	cop := http.NewCrossOriginProtection()
	ui := gin.WrapH(requireOps(ops.Username, ops.Password, cop.Handler(ops.UI)))
	r.Any(UIPrefix+"/*path", ui)
	r.GET(UIPrefix, func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, UIPrefix+"/") })
	if ops.Metrics != nil {
		r.GET("/metrics", gin.WrapH(requireOps(ops.Username, ops.Password, ops.Metrics)))
	}
}
