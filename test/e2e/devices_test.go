package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

const chromeOnAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"

// subscribeAs subscribes d with the User-Agent a browser would send.
func (e *env) subscribeAs(tok, userAgent string, body map[string]any) string {
	e.t.Helper()
	j, err := json.Marshal(body)
	require.NoError(e.t, err)
	req, err := http.NewRequest("POST", e.URL+api+"/subscribe", bytes.NewReader(j))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", userAgent)
	r := e.do(req)
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	return r.Body["subscription_id"].(string)
}

// deviceIDs lists the caller's devices through the API, in its order.
func (e *env) deviceIDs(tok string) []string {
	e.t.Helper()
	r := e.call("GET", api+"/subscriptions", tok, nil)
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	ids := []string{}
	for _, d := range r.Body["data"].([]any) {
		ids = append(ids, d.(map[string]any)["subscription_id"].(string))
	}
	return ids
}

func TestDevicesListShowsOnlyTheCallersOwn(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	phone, laptop, other := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	phoneID := e.subscribeAs(driverToken(t, "dana"), chromeOnAndroid, subscribeBody(phone, "client"))
	laptopID := e.subscribe(ownerToken(t, "dana"), laptop, "owner") // the same person in the other role
	e.subscribe(driverToken(t, "eve"), other, "client")

	r := e.call("GET", api+"/subscriptions", driverToken(t, "dana"), nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, true, r.Body["success"])
	list := r.Body["data"].([]any)
	require.Len(t, list, 2, "every role of the caller, nobody else's")
	first, second := list[0].(map[string]any), list[1].(map[string]any)
	require.Equal(t, phoneID, first["subscription_id"], "oldest first")
	require.Equal(t, "client", first["user_type"])
	require.Equal(t, "Chrome on Android", first["device"])
	require.Equal(t, "other", first["push_service"], "the loopback push service")
	require.Nil(t, first["last_success_at"])
	require.EqualValues(t, 0, first["failure_count"])
	require.NotEmpty(t, first["created_at"])
	require.Equal(t, laptopID, second["subscription_id"])
	require.Equal(t, "owner", second["user_type"])
	require.Equal(t, "Unknown device", second["device"], "Go's User-Agent")
	for _, d := range []string{phone.Endpoint, phone.P256dh, phone.Auth, laptop.Endpoint, other.Endpoint} {
		require.NotContains(t, r.Raw, d, "never an endpoint or a key")
	}
	require.NotContains(t, r.Raw, "endpoint")

	require.Empty(t, e.deviceIDs(driverToken(t, "nobody")))
	require.Equal(t, http.StatusUnauthorized, e.call("GET", api+"/subscriptions", "", nil).Status)
}

func TestRemoveDevice(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	dana, eve := driverToken(t, "dana"), driverToken(t, "eve")
	mine := e.subscribe(dana, e.Push.NewDevice(), "client")
	kept := e.subscribe(dana, e.Push.NewDevice(), "client")
	theirs := e.subscribe(eve, e.Push.NewDevice(), "client")

	// Another user's id, an unknown one and a malformed one: one answer.
	for _, id := range []string{theirs, "00000000-0000-4000-8000-000000000000", "not-an-id"} {
		r := e.call("DELETE", api+"/subscriptions/"+id, dana, nil)
		require.Equal(t, http.StatusNotFound, r.Status, "%s: %s", id, r.Raw)
		require.Equal(t, "Push subscription not found", r.Body["detail"])
	}
	require.Equal(t, []string{theirs}, e.deviceIDs(eve), "untouched")

	r := e.call("DELETE", api+"/subscriptions/"+mine, dana, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{"success": true, "message": "Push subscription removed successfully"}, r.Body)
	require.Equal(t, []string{kept}, e.deviceIDs(dana))
	require.Equal(t, http.StatusNotFound, e.call("DELETE", api+"/subscriptions/"+mine, dana, nil).Status, "already gone")
	require.Equal(t, http.StatusUnauthorized, e.call("DELETE", api+"/subscriptions/"+kept, "", nil).Status)
}
