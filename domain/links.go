package domain

import (
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Links are the click targets (data.url) of the charging notifications, one
// template per notification type. A template is a path on the PWA's own
// origin with the placeholders {session_id}, {station_id} and {connector_id}.
type Links map[NotificationType]string

// DefaultLinks are the targets when the operator sets none.
var DefaultLinks = Links{
	TypeChargingStarted:   "/sessions/{session_id}",
	TypeChargingCompleted: "/sessions/{session_id}",
	TypeNewSession:        "/stations/{station_id}/sessions/{session_id}",
	TypeSessionCompleted:  "/stations/{station_id}/sessions/{session_id}",
}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// ValidateLinkTemplate checks that t is a same-origin path whatever the
// placeholders become, and uses only known placeholders.
func ValidateLinkTemplate(t string) error {
	for _, p := range placeholderRE.FindAllString(t, -1) {
		switch p {
		case "{session_id}", "{station_id}", "{connector_id}":
		default:
			return errors.New("unknown placeholder " + p + ": use {session_id}, {station_id} or {connector_id}")
		}
	}
	return ValidateAppPath(placeholderRE.ReplaceAllString(t, "x"))
}

// MaxAppPathLength bounds a notification's click target.
const MaxAppPathLength = 1024

// ValidateAppPath checks that p is a path on the PWA's own origin ("/x?y#z"):
// never a URL of another site, a scheme-relative "//host", or a backslash
// that some browsers read as a slash. A push must not send users elsewhere.
func ValidateAppPath(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case len(p) > MaxAppPathLength:
		return errors.New("is longer than " + strconv.Itoa(MaxAppPathLength) + " characters")
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return errors.New(`must be a path on the app's own origin, starting with a single "/"`)
	case strings.ContainsAny(p, "\\ \t\r\n") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("must not contain backslashes, spaces or control characters")
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return errors.New("must be a path on the app's own origin")
	}
	return nil
}

// url renders the template of typ for ev; placeholder values are
// path-escaped, so an id cannot add path segments or a query.
func (l Links) url(typ NotificationType, ev ChargingEvent) string {
	t, ok := l[typ]
	if !ok {
		t = DefaultLinks[typ]
	}
	return strings.NewReplacer(
		"{session_id}", url.PathEscape(ev.SessionID),
		"{station_id}", url.PathEscape(ev.StationID),
		"{connector_id}", strconv.Itoa(ev.ConnectorID),
	).Replace(t)
}
