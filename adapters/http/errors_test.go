package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
)

// TestWriteErrorEveryKind walks every error kind through writeError, each
// wrapped in context that must stay in the logs: the client gets the
// kind's status and only the intended text.
func TestWriteErrorEveryKind(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.0.0.7:5432: secret internals"
	wrap := func(err error) error { return fmt.Errorf("error doing something (%s): %w", secret, err) }
	cases := []struct {
		name   string
		err    error
		status int
		detail string
		header [2]string
	}{
		{"invalid kind", wrap(domain.ErrInvalid), 422, "Invalid request", [2]string{}},
		{"validation", wrap(domain.Invalid("endpoint", "must be https")), 422, "endpoint: must be https", [2]string{}},
		{"not found kind", wrap(domain.ErrNotFound), 404, "Not found", [2]string{}},
		{"not found message", wrap(domain.Errorf(domain.ErrNotFound, "station %q not found", "st-1")), 404, `station "st-1" not found`, [2]string{}},
		{"unauthenticated kind", wrap(domain.ErrUnauthenticated), 401, "Authentication required", [2]string{}},
		{"auth reason", wrap(&domain.AuthError{Reason: "token expired"}), 401, "token expired", [2]string{"WWW-Authenticate", `Bearer realm="evpush"`}},
		{"operator login", opsAuthError{}, 401, "operator credentials required", [2]string{"WWW-Authenticate", `Basic realm="evpush operations", charset="UTF-8"`}},
		{"forbidden", wrap(domain.ErrForbidden), 403, "Forbidden", [2]string{}},
		{"conflict", wrap(domain.Errorf(domain.ErrConflict, "session %q is already completed", "s-1")), 409, `session "s-1" is already completed`, [2]string{}},
		{"conflict kind", wrap(domain.ErrConflict), 409, "Conflict with the current state", [2]string{}},
		{"expired", wrap(domain.ErrExpired), 410, "Expired", [2]string{}},
		{"rate limited", wrap(&domain.RateLimitError{RetryAfter: 2500 * time.Millisecond, Msg: "Too many requests; retry in 3 s"}), 429, "Too many requests; retry in 3 s", [2]string{"Retry-After", "3"}},
		{"rate limited kind", wrap(domain.ErrRateLimited), 429, "Too many requests", [2]string{}},
		{"unavailable", wrap(domain.ErrUnavailable), 503, "Service temporarily unavailable, retry shortly", [2]string{"Retry-After", "5"}},
		{"body too large", wrap(errBodyTooLarge), 413, "Request body larger than 64 KiB", [2]string{}},
		{"method not allowed", errMethodNotAllowed, 405, "Method not allowed", [2]string{}},
		{"unknown", wrap(errors.New("boom")), 500, "Internal server error", [2]string{}},
		// A *domain.Error of no known kind is still a 500: its message is
		// for a kind the client was promised, not for any error.
		{"message of no kind", wrap(domain.Errorf(errors.New("odd"), "odd thing")), 500, "Internal server error", [2]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/x", nil)
			writeError(c, slog.New(slog.DiscardHandler), tc.err)

			require.Equal(t, tc.status, w.Code)
			require.NotContains(t, w.Body.String(), secret)
			var body map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			require.Equal(t, tc.detail, body["detail"])
			require.Equal(t, false, body["success"])
			if tc.header[0] != "" {
				require.Equal(t, tc.header[1], w.Header().Get(tc.header[0]))
			}
			if _, hasFields := body["errors"]; hasFields {
				require.Equal(t, "validation", tc.name, "only validation errors list fields")
			}
		})
	}
	// Every kind writeError maps has its test above.
	for _, k := range statusOf {
		_, ok := kindText[k.kind]
		require.True(t, ok, "%v has a fixed text", k.kind)
	}
	require.Len(t, kindText, len(statusOf))
}
