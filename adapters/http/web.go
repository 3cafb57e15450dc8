package http

import (
	"embed"
	"io/fs"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/evpower/evpush/domain"
)

// web holds the PWA side: the drop-in client script, the service worker, the
// demo page, its manifest and icons. Plain files, no build step.
//
//go:embed web/*.html web/*.js web/*.css web/*.webmanifest web/*.png
var web embed.FS

// webFiles maps each public path to its file in web/.
var webFiles = map[string]string{
	"/":                        "index.html",
	"/service-worker.js":       "service-worker.js",
	"/manifest.webmanifest":    "manifest.webmanifest",
	"/logo-192.png":            "logo-192.png",
	"/logo-96.png":             "logo-96.png",
	"/static/evpush-client.js": "evpush-client.js",
	"/static/app.js":           "app.js",
	"/static/app.css":          "app.css",
}

// contentSecurityPolicy allows the page its own scripts, styles and API only:
// no inline script, nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// appRoutes are the PWA's own pages (the data.url of notifications): they
// serve the page, which shows what the path names.
var appRoutes = []string{"/sessions/:id", "/stations/:station/sessions/:id"}

func mountWeb(r *gin.Engine) {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	routes := maps.Clone(webFiles)
	for _, route := range appRoutes {
		routes[route] = webFiles["/"]
	}
	for route, file := range routes {
		body, err := fs.ReadFile(sub, file)
		if err != nil {
			panic("web: missing " + file)
		}
		ctype := contentType(file)
		r.GET(route, func(c *gin.Context) {
			h := c.Writer.Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			// The worker and the page must update promptly; icons may be cached.
			if strings.HasSuffix(file, ".png") {
				h.Set("Cache-Control", "public, max-age=86400")
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			c.Data(http.StatusOK, ctype, body)
		})
	}
}

func contentType(file string) string {
	switch {
	case strings.HasSuffix(file, ".html"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(file, ".js"):
		return "text/javascript; charset=utf-8"
	case strings.HasSuffix(file, ".css"):
		return "text/css; charset=utf-8"
	case strings.HasSuffix(file, ".webmanifest"):
		return "application/manifest+json"
	case strings.HasSuffix(file, ".png"):
		return "image/png"
	}
	return "application/octet-stream"
}

// DevTokens mints development tokens for the demo page's sign-in. It exists
// only with DEV_MODE=true; production never serves the route.
type DevTokens interface {
	Mint(userID string, userType domain.UserType) (token string, ttl time.Duration, err error)
}

type devTokenRequest struct {
	UserID   string `json:"user_id"`
	UserType string `json:"user_type"`
}

type devTokenResponse struct {
	Success   bool   `json:"success"`
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

func (s *server) devToken(c *gin.Context) error {
	var req devTokenRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		return err
	}
	v := &domain.ValidationError{}
	if req.UserID == "" || len(req.UserID) > 128 {
		v.Add("user_id", "is required (at most 128 characters)")
	}
	var role domain.UserType // none: the token may act in either role
	if req.UserType != "" {
		var err error
		if role, err = domain.ParseUserType(req.UserType); err != nil {
			v.Add(domain.FieldUserType, err.Error())
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	tok, ttl, err := s.devTokens.Mint(req.UserID, role)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, devTokenResponse{Success: true, Token: tok, ExpiresIn: int(ttl / time.Second)})
	return nil
}
