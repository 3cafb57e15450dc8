package domain

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
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
	// "/.//host" and "/a/..//host" become "//host" once dot segments are
	// removed: no empty (but a trailing) and no dot segments at all.
	path := u.EscapedPath()
	if strings.Contains(path, "//") || slices.Contains(strings.Split(path, "/"), ".") || slices.Contains(strings.Split(path, "/"), "..") {
		return errors.New(`must not contain "//", "." or ".." segments`)
	}
	return nil
}

// url renders the template of typ for ev. Placeholder values keep only
// unreserved characters (RFC 3986), the rest percent-encoded, so an id adds
// no path segment, query parameter or fragment wherever it stands; a result
// that is still not a plain same-origin path (an empty id leaving "//")
// becomes the app's home.
func (l Links) url(typ NotificationType, ev ChargingEvent) string {
	t, ok := l[typ]
	if !ok {
		t = DefaultLinks[typ]
	}
	u := strings.NewReplacer(
		"{session_id}", escapeAll(ev.SessionID),
		"{station_id}", escapeAll(ev.StationID),
		"{connector_id}", strconv.Itoa(ev.ConnectorID),
	).Replace(t)
	if ValidateAppPath(u) != nil {
		return "/"
	}
	return u
}

// escapeAll percent-encodes every byte but RFC 3986's unreserved characters.
func escapeAll(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
