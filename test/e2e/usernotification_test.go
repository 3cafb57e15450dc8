package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/queue"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

// TestUserNotificationPlainSQL: a user_notification inserted with plain SQL
// reaches every device of the user in the role, each in its language, with
// the options the job gave; the user's devices in the other role and other
// users' devices hear nothing.
func TestUserNotificationPlainSQL(t *testing.T) {
	t.Parallel()
	e := setupBare(t, "", map[string]string{"DEFAULT_LOCALE": "en"})
	client := driverToken(t, "42")
	ru, en, ky, other := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribeIn(client, ru, "client", "ru-RU")
	e.subscribeIn(client, en, "client", "en")
	e.subscribeIn(client, ky, "client", "ky")
	e.subscribeIn(client, other, "client", "de") // no German text: DEFAULT_LOCALE's
	asOwner, bystander := e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribeIn(token(t, jwt.MapClaims{"sub": "42", "user_type": "owner"}), asOwner, "owner", "ru")
	e.subscribeIn(driverToken(t, "43"), bystander, "client", "ru")

	insertJob(t, e, "user_notification", `{"user_id": 42, "user_type": "client",
		"title": {"ru": "Оплата получена", "en": "Payment received", "ky": "Төлөм алынды"},
		"body": {"ru": "Спасибо! 100 сом", "en": "Thank you! 100 KGS", "ky": "Рахмат! 100 сом"},
		"url": "/payments/981?tab=receipt", "tag": "payment-981", "ttl_seconds": 3600, "urgency": "high"}`)

	want := map[*pushservice.Device]string{ru: "Оплата получена", en: "Payment received", ky: "Төлөм алынды", other: "Payment received"}
	for d, title := range want {
		m := e.Push.WaitFor(t, d, 1, waitBudget)[0]
		p := payload(t, m)
		require.Equal(t, title, p["title"])
		require.Equal(t, "payment-981", p["tag"])
		require.Equal(t, true, p["renotify"], "a replaced notification alerts again")
		require.NotZero(t, p["timestamp"])
		data := p["data"].(map[string]any)
		require.Equal(t, "/payments/981?tab=receipt", data["url"])
		require.Equal(t, "user_notification", data["type"])
		require.Equal(t, "high", m.Urgency)
		require.NotEmpty(t, m.Topic)
		ttl := mustAtoi(t, m.TTL)
		require.LessOrEqual(t, ttl, 3600)
		require.Greater(t, ttl, 3000)
	}
	require.Equal(t, "Спасибо! 100 сом", payload(t, e.Push.Messages(ru)[0])["body"])
	e.idle()
	require.Empty(t, e.Push.Messages(asOwner), "the user's owner devices are not the client's")
	require.Empty(t, e.Push.Messages(bystander))
	require.Empty(t, e.Push.Errors())
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestUserNotificationDefaults: only the required args; TTL one day,
// urgency normal, the app's home as the link, no tag.
func TestUserNotificationDefaults(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := e.Push.NewDevice()
	e.subscribeIn(token(t, jwt.MapClaims{"sub": "owner-5", "user_type": "owner"}), d, "owner", "en")
	insertJob(t, e, "user_notification", map[string]any{"user_id": "owner-5", "user_type": "owner",
		"title": map[string]string{"ru": "Станция офлайн"}, "body": map[string]string{"ru": "ST-1 не отвечает"}})
	m := e.Push.WaitFor(t, d, 1, waitBudget)[0]
	p := payload(t, m)
	require.Equal(t, "Станция офлайн", p["title"], "the only language given")
	require.Equal(t, "/", p["data"].(map[string]any)["url"])
	require.NotContains(t, p, "renotify")
	require.Equal(t, "normal", m.Urgency)
	require.Greater(t, mustAtoi(t, m.TTL), 86000)
	require.Empty(t, m.Topic)
}

// TestUserNotificationBadArgs: each malformed job is cancelled at once (one
// attempt, never retried) with the reason in its errors, where River UI
// shows it; nothing is sent and the workers carry on.
func TestUserNotificationBadArgs(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"LOG_LEVEL": "warn"})
	d := e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "u1"), d, "client", "en")
	texts := `"title": {"en": "T"}, "body": {"en": "B"}`
	tests := []struct {
		name, args, reason string
	}{
		{"no user", `{"user_type": "client", ` + texts + `}`, "user_id: is required"},
		{"user id of the wrong type", `{"user_id": true, "user_type": "client", ` + texts + `}`, "user_id: must be a string or an integer"},
		{"no role", `{"user_id": "u1", ` + texts + `}`, "user_type"},
		{"unknown role", `{"user_id": "u1", "user_type": "admin", ` + texts + `}`, "user_type"},
		{"no title", `{"user_id": "u1", "user_type": "client", "body": {"en": "B"}}`, "title: needs a text"},
		{"empty body", `{"user_id": "u1", "user_type": "client", "title": {"en": "T"}, "body": {"en": "  "}}`, "body.en: is empty"},
		{"title not an object", `{"user_id": "u1", "user_type": "client", "title": "T", "body": {"en": "B"}}`, "title"},
		{"title too long", `{"user_id": "u1", "user_type": "client", "title": {"en": "` + strings.Repeat("x", 201) + `"}, "body": {"en": "B"}}`, "title.en: is 201 characters long"},
		{"foreign url", `{"user_id": "u1", "user_type": "client", ` + texts + `, "url": "https://evil.example/x"}`, "url:"},
		{"scheme-relative url", `{"user_id": "u1", "user_type": "client", ` + texts + `, "url": "//evil.example/x"}`, "url:"},
		{"ttl too long", `{"user_id": "u1", "user_type": "client", ` + texts + `, "ttl_seconds": 2419201}`, "ttl_seconds"},
		{"ttl zero", `{"user_id": "u1", "user_type": "client", ` + texts + `, "ttl_seconds": 0}`, "ttl_seconds"},
		{"unknown urgency", `{"user_id": "u1", "user_type": "client", ` + texts + `, "urgency": "urgent"}`, "urgency"},
		{"not JSON object", `[1, 2]`, "args are not a valid user_notification"},
	}
	ids := make([]int64, len(tests))
	for i, tt := range tests {
		ids[i] = insertJob(t, e, "user_notification", tt.args)
	}
	for i, tt := range tests {
		var state, errs string
		var attempt int
		deadline := time.Now().Add(waitBudget)
		for {
			require.NoError(t, e.Svc.DB.QueryRow(`SELECT state, attempt, coalesce(errors::text, '') FROM river_job WHERE id = $1`, ids[i]).
				Scan(&state, &attempt, &errs))
			if state != "available" && state != "running" {
				break
			}
			require.False(t, time.Now().After(deadline), "%s: still %s", tt.name, state)
			time.Sleep(20 * time.Millisecond)
		}
		require.Equal(t, "cancelled", state, tt.name)
		require.Equal(t, 1, attempt, "%s: never retried", tt.name)
		require.Contains(t, errs, tt.reason, tt.name)
	}
	require.Contains(t, e.Logs.String(), "job with invalid args cancelled")

	// The workers carry on: a good job after the bad ones is delivered.
	insertJob(t, e, "user_notification", `{"user_id": "u1", "user_type": "client", `+texts+`}`)
	require.Equal(t, "T", payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])["title"])
	require.Len(t, e.Push.Messages(d), 1, "nothing from the bad jobs")
}

// TestUserNotificationDedupeKey: a job with a dedupe_key is unique per user,
// role and key: a second one is not inserted, so nothing is sent twice (not
// even to a device that subscribed in between: the message is one event).
// Without a key, every job is a message of its own.
func TestUserNotificationDedupeKey(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := driverToken(t, "u1")
	first := e.Push.NewDevice()
	e.subscribeIn(tok, first, "client", "en")
	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(t, err)
	send := func(n queue.UserNotification) {
		t.Helper()
		tx, err := e.Svc.DB.Begin()
		require.NoError(t, err)
		require.NoError(t, outbox.UserNotification(context.Background(), tx, n))
		require.NoError(t, tx.Commit())
	}
	keyed := queue.UserNotification{UserID: "u1", UserType: "client", Title: map[string]string{"en": "Paid"},
		Body: map[string]string{"en": "Thanks"}, DedupeKey: "payment-7"}
	send(keyed)
	e.Push.WaitFor(t, first, 1, waitBudget)
	e.idle()

	second := e.Push.NewDevice()
	e.subscribeIn(tok, second, "client", "en")
	send(keyed)
	var n int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'user_notification'
		AND args->>'dedupe_key' = 'payment-7'`).Scan(&n))
	require.Equal(t, 1, n, "the duplicate was not inserted")

	insertJob(t, e, "user_notification", `{"user_id": "u1", "user_type": "client", "title": {"en": "Hi"}, "body": {"en": "Hi"}}`)
	insertJob(t, e, "user_notification", `{"user_id": "u1", "user_type": "client", "title": {"en": "Hi"}, "body": {"en": "Hi"}}`)
	msgs := e.Push.WaitFor(t, first, 3, waitBudget)
	require.Equal(t, http.StatusCreated, msgs[2].Status)
	for _, m := range e.Push.WaitFor(t, second, 2, waitBudget) {
		require.Equal(t, "Hi", payload(t, m)["title"], "the keyed message was sent once, before this device")
	}
	e.idle()
	require.Len(t, e.Push.Messages(first), 3, "sent once per device")
}

// TestUserNotificationGoOutbox: the Go API enqueues in the caller's
// transaction (rolled back: nothing sent), and refuses bad args at once,
// naming the field, before anything is inserted.
func TestUserNotificationGoOutbox(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "u9"), d, "client", "ky")
	outbox, err := queue.NewOutbox(e.Svc.DB)
	require.NoError(t, err)
	ctx := context.Background()
	msg := func(title string) queue.UserNotification {
		return queue.UserNotification{UserID: "u9", UserType: "client",
			Title: map[string]string{"ky": title}, Body: map[string]string{"ky": "Рахмат"}, URL: "/payments/1"}
	}

	tx, err := e.Svc.DB.Begin()
	require.NoError(t, err)
	require.NoError(t, outbox.UserNotification(ctx, tx, msg("rolled back")))
	require.NoError(t, tx.Rollback())

	bad := msg("x")
	bad.URL = "https://evil.example/"
	tx, err = e.Svc.DB.Begin()
	require.NoError(t, err)
	err = outbox.UserNotification(ctx, tx, bad)
	require.ErrorIs(t, err, domain.ErrInvalid)
	require.ErrorContains(t, err, "url:")
	require.NoError(t, outbox.UserNotification(ctx, tx, msg("Төлөм алынды")))
	require.NoError(t, tx.Commit())

	require.Equal(t, "Төлөм алынды", payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])["title"])
	e.idle()
	require.Len(t, e.Push.Messages(d), 1, "the rolled-back one was never sent")
}
