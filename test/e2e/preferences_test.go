package e2e

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func TestPreferencesRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	owner := ownerToken(t, "olga")

	r := e.call("GET", api+"/preferences", owner, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{"success": true, "data": map[string]any{"user_type": "owner",
		"kinds": map[string]any{"new_session": true, "session_completed": true}, "categories": map[string]any{}}}, r.Body,
		"every kind on by default")

	r = e.call("PUT", api+"/preferences", owner, map[string]any{
		"kinds": map[string]any{"new_session": false}, "categories": map[string]any{"marketing": false}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	want := map[string]any{"user_type": "owner",
		"kinds":      map[string]any{"new_session": false, "session_completed": true},
		"categories": map[string]any{"marketing": false}}
	require.Equal(t, want, r.Body["data"])
	r = e.call("GET", api+"/preferences?user_type=owner", owner, nil)
	require.Equal(t, want, r.Body["data"], "stored")

	// Only what is named changes.
	r = e.call("PUT", api+"/preferences", owner, map[string]any{"user_type": "owner", "categories": map[string]any{"news.daily": true}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{"marketing": false, "news.daily": true}, r.Body["data"].(map[string]any)["categories"])
	require.Equal(t, false, r.Body["data"].(map[string]any)["kinds"].(map[string]any)["new_session"])

	// The same user as a driver has preferences of its own.
	r = e.call("GET", api+"/preferences", driverToken(t, "olga"), nil)
	require.Equal(t, map[string]any{"user_type": "client", "categories": map[string]any{},
		"kinds": map[string]any{"charging_started": true, "charging_completed": true}}, r.Body["data"])
}

func TestPreferencesErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	owner := ownerToken(t, "olga")

	// Every unknown kind is named (a driver's kind is unknown to an owner),
	// and nothing of the change is stored.
	r := e.call("PUT", api+"/preferences", owner, map[string]any{
		"kinds": map[string]any{"new_session": false, "charging_started": false, "bogus": true}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
	require.Equal(t, []any{
		map[string]any{"field": "kinds.bogus", "message": "unknown notification kind"},
		map[string]any{"field": "kinds.charging_started", "message": "unknown notification kind"},
	}, r.Body["errors"])
	r = e.call("GET", api+"/preferences", owner, nil)
	require.Equal(t, true, r.Body["data"].(map[string]any)["kinds"].(map[string]any)["new_session"], "nothing stored")

	r = e.call("PUT", api+"/preferences", owner, map[string]any{"categories": map[string]any{"Bad name": false, "ok": false}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
	require.Len(t, r.Body["errors"], 1)
	require.Equal(t, "categories.Bad name", r.Body["errors"].([]any)[0].(map[string]any)["field"])

	r = e.call("PUT", api+"/preferences", owner, map[string]any{"kinds": map[string]any{"new_session": "off"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
	require.Equal(t, http.StatusUnprocessableEntity, e.call("GET", api+"/preferences?user_type=driver", owner, nil).Status)

	// Another role than the token's: 403, as for subscribe.
	r = e.call("GET", api+"/preferences?user_type=client", owner, nil)
	require.Equal(t, http.StatusForbidden, r.Status, r.Raw)
	r = e.call("PUT", api+"/preferences", owner, map[string]any{"user_type": "client", "kinds": map[string]any{"charging_started": false}})
	require.Equal(t, http.StatusForbidden, r.Status, r.Raw)

	require.Equal(t, http.StatusUnauthorized, e.call("GET", api+"/preferences", "", nil).Status)
	require.Equal(t, http.StatusUnauthorized, e.call("PUT", api+"/preferences", "", map[string]any{}).Status)
}

// TestRolelessTokenNamesTheRole: a token without a role may read either
// role's preferences, but must say which.
func TestRolelessTokenNamesTheRole(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"JWT_REQUIRE_ROLE": "false"})
	tok := rolelessToken(t, "u1")
	r := e.call("GET", api+"/preferences", tok, nil)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
	require.Equal(t, "user_type", r.Body["errors"].([]any)[0].(map[string]any)["field"])
	r = e.call("GET", api+"/preferences?user_type=owner", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
}

// TestPreferencesFilterChargingEvents: the owner switched new_session off,
// so a start reaches the driver only, while the stop's session_completed
// still reaches the owner; the test message ignores preferences.
func TestPreferencesFilterChargingEvents(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	e.station("st-1", "owner-1", "10")
	driver, owner := driverToken(t, "driver-1"), ownerToken(t, "owner-1")
	phone, ownerPhone := e.Push.NewDevice(), e.Push.NewDevice()
	e.subscribe(driver, phone, "client")
	e.subscribe(owner, ownerPhone, "owner")
	r := e.call("PUT", api+"/preferences", owner, map[string]any{"kinds": map[string]any{"new_session": false}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)

	r = e.call("POST", chargingAPI+"/start", driver, map[string]any{"station_id": "st-1", "connector_id": 1})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	sessionID := r.Body["session_id"].(string)
	require.Equal(t, "charging_started", payload(t, e.Push.WaitFor(t, phone, 1, waitBudget)[0])["data"].(map[string]any)["type"])
	state, _ := e.eventState("charging_started", sessionID)
	require.Equal(t, "completed", state)
	require.Empty(t, e.Push.Messages(ownerPhone), "new_session is off")

	r = e.call("POST", chargingAPI+"/stop", driver, map[string]any{"session_id": sessionID, "energy_kwh": 2})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	m := e.Push.WaitFor(t, ownerPhone, 1, waitBudget)[0]
	require.Equal(t, "session_completed", payload(t, m)["data"].(map[string]any)["type"], "session_completed is on")
	e.Push.WaitFor(t, phone, 2, waitBudget)

	r = e.call("POST", api+"/test", owner, nil)
	require.Equal(t, 1.0, r.Body["sent_to"], "the test message ignores preferences")
	e.idle()
	require.Len(t, e.Push.Messages(ownerPhone), 2)
	require.Len(t, e.Push.Messages(phone), 2)
}

// TestPreferencesFilterUserNotifications: a user_notification in a
// category the user switched off sends nothing; one in another category,
// or none, is sent.
func TestPreferencesFilterUserNotifications(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := token(t, jwt.MapClaims{"sub": "42", "user_type": "client"})
	d := e.Push.NewDevice()
	e.subscribe(tok, d, "client")
	r := e.call("PUT", api+"/preferences", tok, map[string]any{"categories": map[string]any{"marketing": false}})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)

	muted := insertJob(t, e, "user_notification", `{"user_id": "42", "user_type": "client", "category": "marketing",
		"title": {"en": "Half price tonight"}, "body": {"en": "Charge for less after 22:00"}}`)
	insertJob(t, e, "user_notification", `{"user_id": "42", "user_type": "client", "category": "payments",
		"title": {"en": "Payment received"}, "body": {"en": "Thank you"}}`)
	require.Equal(t, "Payment received", payload(t, e.Push.WaitFor(t, d, 1, waitBudget)[0])["title"])
	e.idle()
	var state string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT state FROM river_job WHERE id = $1`, muted).Scan(&state))
	require.Equal(t, "completed", state, "done, with nothing to send")
	require.Len(t, e.Push.Messages(d), 1, "the marketing message was not sent")

	// A malformed category is refused like any other bad arg.
	bad := insertJob(t, e, "user_notification", `{"user_id": "42", "user_type": "client", "category": "Not OK",
		"title": {"en": "x"}, "body": {"en": "y"}}`)
	e.idle()
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT state FROM river_job WHERE id = $1`, bad).Scan(&state))
	require.Equal(t, "cancelled", state)
}
