package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/test/testdb"
)

// setupBare starts the service on a database with nothing in it but what
// prepare puts there, with the environment as production has it: no
// reference charging module unless extra turns it on.
func setupBare(t *testing.T, prepare string, extra map[string]string) *env {
	t.Helper()
	db := testdb.Empty(t)
	if prepare != "" {
		_, err := testdb.Open(t, db).Exec(prepare)
		require.NoError(t, err)
	}
	vars := map[string]string{"REFERENCE_CHARGING": ""}
	for k, v := range extra {
		vars[k] = v
	}
	return setupOn(t, db, db, vars, wiring.Options{})
}

func tableExists(t *testing.T, e *env, name string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok))
	return ok
}

// TestReferenceChargingIsOffByDefault: without REFERENCE_CHARGING the demo
// module's routes answer 404 and its tables are never created, even in
// DEV_MODE (whose demo station lives in them).
func TestReferenceChargingIsOffByDefault(t *testing.T) {
	t.Parallel()
	e := setupBare(t, "", map[string]string{"DEV_MODE": "true"})
	tok := driverToken(t, "driver-1")
	r := e.call("POST", chargingAPI+"/start", tok, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusNotFound, r.Status, r.Raw)
	r = e.call("POST", chargingAPI+"/stop", tok, map[string]any{"session_id": "s-1", "energy_kwh": 1})
	require.Equal(t, http.StatusNotFound, r.Status, r.Raw)
	require.False(t, tableExists(t, e, "stations"))
	require.False(t, tableExists(t, e, "charging_sessions"))
	require.True(t, tableExists(t, e, "push_subscriptions"), "evpush's own tables are there")

	// The API works without the module.
	e.subscribe(tok, e.Push.NewDevice(), "client")
}

// TestStartsBesideTheChargingServicesTables: the charging service's own
// charging_sessions (other columns) and stations stay exactly as they are;
// evpush migrates, serves and delivers its events, the owner coming from
// the job's owner_id.
func TestStartsBesideTheChargingServicesTables(t *testing.T) {
	t.Parallel()
	e := setupBare(t, `
		CREATE TABLE stations (code text PRIMARY KEY, operator bigint NOT NULL);
		CREATE TABLE charging_sessions (id bigserial PRIMARY KEY, vehicle_vin text NOT NULL, kwh_total numeric);
		INSERT INTO charging_sessions (vehicle_vin, kwh_total) VALUES ('WVWZZZ1JZXW000001', 42.5);`, nil)
	var cols string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_name = 'charging_sessions'`).Scan(&cols))
	require.Equal(t, "id,vehicle_vin,kwh_total", cols, "untouched")
	var rows int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM charging_sessions`).Scan(&rows))
	require.Equal(t, 1, rows)

	d, o := e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "driver-7"), d, "client", "en")
	e.subscribeIn(token(t, jwt.MapClaims{"sub": "owner-7", "user_type": "owner"}), o, "owner", "en")
	insertJob(t, e, "charging_started", map[string]any{
		"session_id": "s-7", "station_id": "ST-7", "connector_id": 2, "user_id": "driver-7", "owner_id": "owner-7"})
	require.Equal(t, "Charging started", payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])["title"])
	require.Equal(t, "New session at your station", payload(t, e.Push.WaitFor(t, o, 1, waitBudget)[0])["title"])
}

// TestEventWithoutOwnerNotifiesTheDriverOnly: a job without owner_id still
// reaches the driver; the owner's copy is lost, logged and counted.
func TestEventWithoutOwnerNotifiesTheDriverOnly(t *testing.T) {
	t.Parallel()
	e := setupBare(t, "", map[string]string{"LOG_LEVEL": "warn"})
	d := e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "driver-8"), d, "client", "en")
	insertJob(t, e, "charging_started", map[string]any{
		"session_id": "s-8", "station_id": "ST-8", "connector_id": 1, "user_id": "driver-8"})
	require.Equal(t, "Charging started", payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])["title"])
	require.Contains(t, e.Logs.String(), "without owner_id")

	rec := httptest.NewRecorder()
	e.Svc.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Contains(t, rec.Body.String(), `evpush_events_without_owner_total{kind="charging_started"} 1`)
	require.Contains(t, rec.Body.String(), `evpush_events_without_owner_total{kind="charging_completed"} 0`)
}

// TestReferenceChargingGuards: with the module on, only client tokens may
// start and stop, both are rate limited per user, and energy is bounded.
// Role-less tokens are let in (JWT_REQUIRE_ROLE=false) to show that the
// module still refuses them.
func TestReferenceChargingGuards(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"RATE_LIMIT_CHARGING": "1/min,3", "JWT_REQUIRE_ROLE": "false"})
	e.station("st-1", "owner-1", "10")
	start := map[string]any{"station_id": "st-1", "connector_id": 1}

	for _, tok := range []string{
		token(t, jwt.MapClaims{"sub": "owner-1", "user_type": "owner"}),
		rolelessToken(t, "no-role"),
	} {
		r := e.call("POST", chargingAPI+"/start", tok, start)
		require.Equal(t, http.StatusForbidden, r.Status, r.Raw)
		r = e.call("POST", chargingAPI+"/stop", tok, map[string]any{"session_id": "s-1", "energy_kwh": 1})
		require.Equal(t, http.StatusForbidden, r.Status, r.Raw)
	}

	driver := driverToken(t, "driver-1")
	r := e.call("POST", chargingAPI+"/start", driver, start)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": r.Body["session_id"], "energy_kwh": 500.5})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
	require.Contains(t, r.Raw, "energy_kwh")
	r = e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 2})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	r = e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 3})
	require.Equal(t, http.StatusTooManyRequests, r.Status, "start and stop share one limit: %s", r.Raw)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": "s-1", "energy_kwh": 1})
	require.Equal(t, http.StatusTooManyRequests, r.Status, r.Raw)
	r = e.call("POST", chargingAPI+"/start", driverToken(t, "driver-2"), map[string]any{"station_id": "st-1", "connector_id": 3})
	require.Equal(t, http.StatusOK, r.Status, "limits are per user: %s", r.Raw)
}

// insertJob inserts an evpush job with plain SQL, as a producer in another
// language does (README), and wakes the workers.
func insertJob(t *testing.T, e *env, kind string, args any) int64 {
	t.Helper()
	raw, ok := args.(string)
	if !ok {
		b, err := json.Marshal(args)
		require.NoError(t, err)
		raw = string(b)
	}
	var id int64
	require.NoError(t, e.Svc.DB.QueryRow(`INSERT INTO river_job (kind, args, queue) VALUES ($1, $2, 'evpush_events') RETURNING id`,
		kind, raw).Scan(&id))
	_, err := e.Svc.DB.Exec(`SELECT pg_notify(current_schema() || '.river_insert', '{"queue":"evpush_events"}')`)
	require.NoError(t, err)
	return id
}

// TestPlainSQLDuplicatesSendOnce: a producer inserting with plain SQL gets
// no River uniqueness, so the event worker itself skips a job whose event an
// earlier job already carries: a charging event, or a user_notification with
// the same dedupe_key, inserted twice reaches each device once.
func TestPlainSQLDuplicatesSendOnce(t *testing.T) {
	t.Parallel()
	e := setupBare(t, "", nil)
	d := e.Push.NewDevice()
	e.subscribeIn(driverToken(t, "driver-5"), d, "client", "en")
	event := map[string]any{"session_id": "s-5", "station_id": "ST-5", "connector_id": 1, "user_id": "driver-5", "owner_id": "owner-5"}
	insertJob(t, e, "charging_started", event)
	insertJob(t, e, "charging_started", event)
	msg := `{"user_id": "driver-5", "user_type": "client", "title": {"en": "Paid"}, "body": {"en": "Thanks"}, "dedupe_key": "pay-5"}`
	insertJob(t, e, "user_notification", msg)
	insertJob(t, e, "user_notification", msg)
	// Without a key, two jobs are two messages.
	other := `{"user_id": "driver-5", "user_type": "client", "title": {"en": "Hi"}, "body": {"en": "Hi"}}`
	insertJob(t, e, "user_notification", other)
	insertJob(t, e, "user_notification", other)

	e.Push.WaitFor(t, d, 4, waitBudget)
	e.idle()
	titles := map[string]int{}
	for _, m := range e.Push.Messages(d) {
		titles[payload(t, m)["title"].(string)]++
	}
	require.Equal(t, map[string]int{"Charging started": 1, "Paid": 1, "Hi": 2}, titles)
	var completed int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job WHERE kind IN ('charging_started', 'user_notification') AND state = 'completed'`).Scan(&completed))
	require.Equal(t, 6, completed, "the duplicates completed without sending")
}
