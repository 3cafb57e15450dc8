// Package e2e drives evpush over HTTP on its real wiring: real PostgreSQL (a
// database per test), real webpush-go sends to a loopback push service that
// verifies VAPID and decrypts every message with its own RFC 8291 code.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
)

func TestVAPIDPublicKey(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)

	r := e.call("GET", api+"/vapid-public-key", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, true, r.Body["success"])
	key := r.Body["data"].(map[string]any)["public_key"].(string)
	require.Len(t, key, 87, "65-byte point, base64url without padding")
	raw, err := base64.RawURLEncoding.DecodeString(key)
	require.NoError(t, err)
	require.Len(t, raw, 65)
	require.Equal(t, byte(0x04), raw[0])

	// A restart (a second instance on the same database) keeps the key.
	again := start(t, map[string]string{"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret})
	require.Equal(t, key, again.CurrentKey().PublicKey)
}

func TestVAPIDKeysAgreeWhenInstancesStartTogether(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	// Wipe the stored pair so the instances below race to create it.
	_, err := e.Svc.DB.Exec("DELETE FROM vapid_keys")
	require.NoError(t, err)

	keys := make([]string, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			svc := start(t, map[string]string{"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret})
			keys[i] = svc.CurrentKey().PublicKey
		})
	}
	wg.Wait()
	for _, k := range keys {
		require.Equal(t, keys[0], k)
	}
}

func TestVAPIDKeysFromConfig(t *testing.T) {
	t.Parallel()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	e := setup(t, map[string]string{"VAPID_PUBLIC_KEY": k.PublicKey, "VAPID_PRIVATE_KEY": k.PrivateKey})
	r := e.call("GET", api+"/vapid-public-key", "", nil)
	require.Equal(t, k.PublicKey, r.Body["data"].(map[string]any)["public_key"])
}

func TestSubscribeUpdateUnsubscribe(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	alice, bob := driverToken(t, "alice"), ownerToken(t, "bob")
	d := e.Push.NewDevice()

	r := e.call("POST", api+"/subscribe", alice, subscribeBody(d, "client"))
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{
		"success":         true,
		"message":         "Push subscription registered successfully",
		"subscription_id": r.Body["subscription_id"],
	}, r.Body)
	id := r.Body["subscription_id"].(string)
	require.Len(t, id, 36, "a uuid")

	// The same endpoint again: updated in place, same id.
	r = e.call("POST", api+"/subscribe", alice, subscribeBody(d, "client"))
	require.Equal(t, "Push subscription updated successfully", r.Body["message"])
	require.Equal(t, id, r.Body["subscription_id"])

	// The device moves to bob when he subscribes on it.
	r = e.call("POST", api+"/subscribe", bob, subscribeBody(d, "owner"))
	require.Equal(t, "Push subscription updated successfully", r.Body["message"])
	require.Equal(t, id, r.Body["subscription_id"])

	// Alice can no longer remove it: answered exactly like an unknown endpoint.
	unsub := map[string]any{"endpoint": d.Endpoint}
	r = e.call("POST", api+"/unsubscribe", alice, unsub)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"success": false, "message": "Push subscription not found"}, r.Body)

	r = e.call("POST", api+"/unsubscribe", bob, unsub)
	require.Equal(t, map[string]any{"success": true, "message": "Push subscription removed successfully"}, r.Body)
	r = e.call("POST", api+"/unsubscribe", bob, unsub)
	require.Equal(t, map[string]any{"success": false, "message": "Push subscription not found"}, r.Body)

	var n int
	require.NoError(t, e.Svc.DB.QueryRow("SELECT count(*) FROM push_subscriptions").Scan(&n))
	require.Zero(t, n)
}

func TestSubscribeStoresLocaleAndAcceptsStdBase64(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := e.Push.NewDevice()
	body := subscribeBody(d, "client")
	// Standard alphabet with padding, as some client libraries send keys.
	p, _ := base64.RawURLEncoding.DecodeString(d.P256dh)
	a, _ := base64.RawURLEncoding.DecodeString(d.Auth)
	body["subscription"].(map[string]any)["keys"] = map[string]any{
		"p256dh": base64.StdEncoding.EncodeToString(p),
		"auth":   base64.StdEncoding.EncodeToString(a),
	}
	body["locale"] = "en_US"
	e.subscribe(driverToken(t, "u1"), d, "client") // registered first with no locale
	r := e.call("POST", api+"/subscribe", driverToken(t, "u1"), body)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)

	var locale string
	require.NoError(t, e.Svc.DB.QueryRow("SELECT locale FROM push_subscriptions").Scan(&locale))
	require.Equal(t, "en-us", locale)
}

func TestSubscribeValidation(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := driverToken(t, "u1")
	d := e.Push.NewDevice()
	good := func() map[string]any { return subscribeBody(d, "client") }
	with := func(path string, v any) map[string]any {
		b := good()
		parts := strings.Split(path, ".")
		m := b
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)
		}
		m[parts[len(parts)-1]] = v
		return b
	}
	offCurve := make([]byte, 65)
	offCurve[0], offCurve[1] = 0x04, 0x01

	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"malformed JSON", `{"subscription": {`, "body"},
		{"empty body", "", "body"},
		{"array body", `[]`, "body"},
		{"endpoint of wrong type", with("subscription.endpoint", 42), "subscription.endpoint"},
		{"missing endpoint", with("subscription.endpoint", ""), "subscription.endpoint"},
		{"relative endpoint", with("subscription.endpoint", "/push/1"), "subscription.endpoint"},
		{"http endpoint", with("subscription.endpoint", "http://fcm.googleapis.com/fcm/send/x"), "subscription.endpoint"},
		{"host not allowed", with("subscription.endpoint", "https://evil.example.com/push"), "subscription.endpoint"},
		{"other host of a push vendor's domain", with("subscription.endpoint", "https://storage.googleapis.com/bucket/o"), "subscription.endpoint"},
		{"port other than 443", with("subscription.endpoint", "https://fcm.googleapis.com:8443/fcm/send/x"), "subscription.endpoint"},
		{"private IP", with("subscription.endpoint", "https://10.0.0.5/push"), "subscription.endpoint"},
		{"metadata IP", with("subscription.endpoint", "https://169.254.169.254/latest"), "subscription.endpoint"},
		{"endpoint too long", with("subscription.endpoint", "https://fcm.googleapis.com/"+strings.Repeat("a", 2048)), "subscription.endpoint"},
		{"missing p256dh", with("subscription.keys.p256dh", ""), "subscription.keys.p256dh"},
		{"p256dh not base64", with("subscription.keys.p256dh", "***"), "subscription.keys.p256dh"},
		{"p256dh too short", with("subscription.keys.p256dh", base64.RawURLEncoding.EncodeToString(offCurve[:33])), "subscription.keys.p256dh"},
		{"p256dh off the curve", with("subscription.keys.p256dh", base64.RawURLEncoding.EncodeToString(offCurve)), "subscription.keys.p256dh"},
		{"missing auth", with("subscription.keys.auth", ""), "subscription.keys.auth"},
		{"auth 15 bytes", with("subscription.keys.auth", base64.RawURLEncoding.EncodeToString(make([]byte, 15))), "subscription.keys.auth"},
		{"missing keys", with("subscription.keys", nil), "subscription.keys.p256dh"},
		{"missing subscription", map[string]any{"user_type": "client"}, "subscription.endpoint"},
		{"missing user_type", with("user_type", ""), "user_type"},
		{"unknown user_type", with("user_type", "admin"), "user_type"},
		{"bad locale", with("locale", "not a locale!"), "locale"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", api+"/subscribe", tok, tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
			require.Equal(t, false, r.Body["success"])
			require.NotEmpty(t, r.Body["detail"])
			errs := r.Body["errors"].([]any)
			require.Equal(t, tt.field, errs[0].(map[string]any)["field"], r.Raw)
			require.NotEmpty(t, errs[0].(map[string]any)["message"])
		})
	}

	var n int
	require.NoError(t, e.Svc.DB.QueryRow("SELECT count(*) FROM push_subscriptions").Scan(&n))
	require.Zero(t, n, "nothing half-written")

	r := e.call("POST", api+"/unsubscribe", tok, map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "endpoint", r.Body["errors"].([]any)[0].(map[string]any)["field"])
	// A NUL character cannot be stored: a 422, not a database error.
	r = e.call("POST", api+"/unsubscribe", tok, `{"endpoint":"https://fcm.googleapis.com/x\u0000"}`)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
}

// TestEndpointTakeoverNeedsTheKeys: knowing a device's endpoint is not
// owning it. Without the subscription's keys a second user gets the answer of
// a new subscription and the device keeps notifying its owner; with them (the
// same browser profile, signed in as someone else) the device moves.
func TestEndpointTakeoverNeedsTheKeys(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	// Bob holds a token for each role (the backend may issue both).
	alice, bob, bobOwner := driverToken(t, "alice"), driverToken(t, "bob"), ownerToken(t, "bob")
	bobAs := map[string]string{"client": bob, "owner": bobOwner}
	d := e.Push.NewDevice()
	aliceID := e.subscribe(alice, d, "client")

	// Bob sends alice's endpoint with keys of his own, in either role.
	bobs := e.Push.NewDevice()
	stolen := func(userType string) map[string]any {
		b := subscribeBody(bobs, userType)
		b["subscription"].(map[string]any)["endpoint"] = d.Endpoint
		return b
	}
	var decoys []any
	for _, role := range []string{"client", "owner", "client"} {
		r := e.call("POST", api+"/subscribe", bobAs[role], stolen(role))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		require.Equal(t, map[string]any{
			"success":         true,
			"message":         "Push subscription registered successfully",
			"subscription_id": r.Body["subscription_id"],
		}, r.Body, "answered as a new subscription: nothing says the endpoint exists")
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, r.Body["subscription_id"])
		require.NotEqual(t, aliceID, r.Body["subscription_id"], "alice's id is not handed out")
		decoys = append(decoys, r.Body["subscription_id"])
	}
	require.Equal(t, decoys[0], decoys[2], "a retry gets the same id, as a stored row would")
	require.NotEqual(t, decoys[0], decoys[1])
	var owner, p256dh, auth string
	row := `SELECT user_id, p256dh, auth FROM push_subscriptions WHERE endpoint = $1`
	require.NoError(t, e.Svc.DB.QueryRow(row, d.Endpoint).Scan(&owner, &p256dh, &auth))
	require.Equal(t, []string{"alice", d.P256dh, d.Auth}, []string{owner, p256dh, auth})
	var n int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM push_subscriptions`).Scan(&n))
	require.Equal(t, 1, n, "no row for bob either")

	// Alice still receives, encrypted for her browser's keys.
	r := e.call("POST", api+"/test", alice, nil)
	require.Equal(t, 1.0, r.Body["sent_to"], r.Raw)
	msgs := e.Push.Messages(d)
	require.Len(t, msgs, 1)
	require.Equal(t, http.StatusCreated, msgs[0].Status)
	require.Empty(t, msgs[0].Err, "decrypted with alice's keys")
	// Bob has no device and cannot remove alice's.
	r = e.call("POST", api+"/test", bob, nil)
	require.Equal(t, "No active subscriptions found", r.Body["message"])
	r = e.call("POST", api+"/unsubscribe", bob, map[string]any{"endpoint": d.Endpoint})
	require.Equal(t, map[string]any{"success": false, "message": "Push subscription not found"}, r.Body)

	// The same browser profile (alice's keys) signed in as bob: it moves.
	r = e.call("POST", api+"/subscribe", bobOwner, subscribeBody(d, "owner"))
	require.Equal(t, "Push subscription updated successfully", r.Body["message"], r.Raw)
	require.Equal(t, aliceID, r.Body["subscription_id"])
	r = e.call("POST", api+"/test", alice, nil)
	require.Equal(t, "No active subscriptions found", r.Body["message"])

	// Now bob's, his browser may rotate its keys: updated in place.
	r = e.call("POST", api+"/subscribe", bobOwner, stolen("owner"))
	require.Equal(t, "Push subscription updated successfully", r.Body["message"], r.Raw)
	require.Equal(t, aliceID, r.Body["subscription_id"])
	require.NoError(t, e.Svc.DB.QueryRow(row, d.Endpoint).Scan(&owner, &p256dh, &auth))
	require.Equal(t, []string{"bob", bobs.P256dh, bobs.Auth}, []string{owner, p256dh, auth})
}

// TestEndpointSpellingsAreOneSubscription: scheme and host case, a trailing
// dot and the default port do not make another device; the path's case does
// (it is the device's token).
func TestEndpointSpellingsAreOneSubscription(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := driverToken(t, "u1")
	d := e.Push.NewDevice() // for its keys; nothing is pushed to FCM here
	const canonical = "https://fcm.googleapis.com/fcm/send/AbC-dEf:APA91b"
	at := func(endpoint string) map[string]any {
		b := subscribeBody(d, "client")
		b["subscription"].(map[string]any)["endpoint"] = endpoint
		return b
	}

	r := e.call("POST", api+"/subscribe", tok, at("HTTPS://FCM.GOOGLEAPIS.COM.:443/fcm/send/AbC-dEf:APA91b"))
	require.Equal(t, "Push subscription registered successfully", r.Body["message"], r.Raw)
	id := r.Body["subscription_id"]
	for _, spelling := range []string{canonical, "https://Fcm.GoogleApis.com:443/fcm/send/AbC-dEf:APA91b", "https://fcm.googleapis.com./fcm/send/AbC-dEf:APA91b"} {
		r = e.call("POST", api+"/subscribe", tok, at(spelling))
		require.Equal(t, "Push subscription updated successfully", r.Body["message"], spelling)
		require.Equal(t, id, r.Body["subscription_id"], spelling)
	}
	var stored string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT endpoint FROM push_subscriptions WHERE id = $1`, id).Scan(&stored))
	require.Equal(t, canonical, stored)

	r = e.call("POST", api+"/subscribe", tok, at("https://fcm.googleapis.com/fcm/send/abc-def:apa91b"))
	require.Equal(t, "Push subscription registered successfully", r.Body["message"], "another token, another device")
	require.NotEqual(t, id, r.Body["subscription_id"])

	// Unsubscribe finds the row by any spelling too.
	r = e.call("POST", api+"/unsubscribe", tok, map[string]any{"endpoint": "HTTPS://FCM.googleapis.com.:443/fcm/send/AbC-dEf:APA91b"})
	require.Equal(t, map[string]any{"success": true, "message": "Push subscription removed successfully"}, r.Body)
	var n int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM push_subscriptions WHERE endpoint = $1`, canonical).Scan(&n))
	require.Zero(t, n)
}

// TestUserAgentThatIsNotUTF8: HTTP allows any octet in a header, PostgreSQL
// text only UTF-8. The User-Agent is informational: stored with its bad bytes
// replaced, never a reason to refuse the subscription.
func TestUserAgentThatIsNotUTF8(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := e.Push.NewDevice()
	body, err := json.Marshal(subscribeBody(d, "client"))
	require.NoError(t, err)
	req, err := http.NewRequest("POST", e.URL+api+"/subscribe", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+driverToken(t, "u1"))
	req.Header.Set("User-Agent", "Mozilla/5.0 (caf\xe9; \xff\xfe) Chrome")

	r := e.do(req)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, "Push subscription registered successfully", r.Body["message"])
	var ua string
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT user_agent FROM push_subscriptions WHERE id = $1`, r.Body["subscription_id"]).Scan(&ua))
	require.Equal(t, "Mozilla/5.0 (caf\uFFFD; \uFFFD) Chrome", ua)
}

func TestLoopbackEndpointsNeedTheSwitch(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"PUSH_ALLOW_LOOPBACK": "false"})
	r := e.call("POST", api+"/subscribe", driverToken(t, "u1"), subscribeBody(e.Push.NewDevice(), "client"))
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Contains(t, r.Body["detail"], "loopback")
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	big := `{"user_type":"client","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, path := range []string{api + "/subscribe", api + "/unsubscribe", api + "/test", chargingAPI + "/start", chargingAPI + "/stop"} {
		r := e.call("POST", path, driverToken(t, "u1"), big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, path)
		require.NotEmpty(t, r.Body["detail"])
	}
	r := e.call("PUT", api+"/preferences", driverToken(t, "u1"), big)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status, r.Raw)

	// The same without a Content-Length (chunked) is cut off while reading.
	req, err := http.NewRequest("POST", e.URL+api+"/subscribe", strings.NewReader(big))
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+driverToken(t, "u1"))
	r = e.do(req)
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	none := func() string {
		enc := base64.RawURLEncoding.EncodeToString
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
		c, _ := json.Marshal(map[string]any{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
		return enc(h) + "." + enc(c) + "."
	}()
	other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte("some-other-secret-0123456789abcdef"))
	require.NoError(t, err)
	// Well signed, with a role, but asking for an extension (RFC 7515
	// §4.1.11) that the service does not implement.
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "u1", "user_type": "client", "exp": time.Now().Add(time.Hour).Unix()})
	crit.Header["crit"] = []string{"exp"}
	critToken, err := crit.SignedString([]byte(testSecret))
	require.NoError(t, err)

	tests := []struct {
		name   string
		header string
		detail string
	}{
		{"missing", "", "missing bearer token"},
		{"not bearer", "Basic dXNlcjpwYXNz", "missing bearer token"},
		{"malformed", "Bearer not.a.jwt", "malformed token"},
		{"expired", "Bearer " + token(t, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(-time.Hour).Unix()}), "token expired"},
		{"not yet valid", "Bearer " + token(t, jwt.MapClaims{"sub": "u1", "nbf": time.Now().Add(time.Hour).Unix()}), "token not valid yet"},
		{"no exp", "Bearer " + token(t, jwt.MapClaims{"sub": "u1", "exp": nil}), "token has no exp claim"},
		{"no sub", "Bearer " + token(t, jwt.MapClaims{"user_type": "client"}), "token has no sub claim"},
		{"wrong key", "Bearer " + other, "invalid token signature"},
		{"alg none", "Bearer " + none, "signing algorithm not accepted"},
		// JWT_REQUIRE_ROLE is on by default: a token that names no role
		// could otherwise subscribe as a station owner.
		{"no role", "Bearer " + rolelessToken(t, "u1"), "token has no user_type or role claim"},
		{"crit header", "Bearer " + critToken, "token uses critical extensions (crit) this service does not support"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{api + "/subscribe", api + "/unsubscribe", api + "/test", chargingAPI + "/start", chargingAPI + "/stop"} {
				req, err := http.NewRequest("POST", e.URL+path, strings.NewReader(`{}`))
				require.NoError(t, err)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				r := e.do(req)
				require.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
				require.Equal(t, map[string]any{"success": false, "detail": tt.detail}, r.Body)
				require.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer"))
			}
		})
	}

	// A token in the query string is not looked at.
	r := e.call("POST", api+"/test?access_token="+driverToken(t, "u1"), "", nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
}

// TestRolelessTokensOnlyWhenAllowed: a token without a role claim is refused
// by default, even for the owner's role it used to be able to take; with
// JWT_REQUIRE_ROLE=false it may subscribe in either role.
func TestRolelessTokensOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	strict, lax := setup(t, nil), setup(t, map[string]string{"JWT_REQUIRE_ROLE": "false"})
	tok := rolelessToken(t, "u1")
	for _, role := range []string{"owner", "client"} {
		r := strict.call("POST", api+"/subscribe", tok, subscribeBody(strict.Push.NewDevice(), role))
		require.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
		require.Equal(t, "token has no user_type or role claim", r.Body["detail"])
		lax.subscribe(tok, lax.Push.NewDevice(), role)
	}
	r := strict.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusUnauthorized, r.Status, r.Raw)
	var n int
	require.NoError(t, strict.Svc.DB.QueryRow("SELECT count(*) FROM push_subscriptions").Scan(&n))
	require.Zero(t, n)
}

func TestRoleClaimLimitsUserType(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	d := e.Push.NewDevice()
	for _, claim := range []string{"user_type", "role"} {
		tok := token(t, jwt.MapClaims{"sub": "u1", claim: "client"})
		r := e.call("POST", api+"/subscribe", tok, subscribeBody(d, "owner"))
		require.Equal(t, http.StatusForbidden, r.Status, r.Raw)
		require.Equal(t, false, r.Body["success"])
		require.Contains(t, r.Body["detail"], "owner")
		e.subscribe(tok, d, "client")
	}
	e.subscribe(token(t, jwt.MapClaims{"sub": "u2", "user_type": "owner"}), d, "owner")
}

func TestSendTestReport(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := driverToken(t, "driver-1")

	r := e.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, map[string]any{"success": false, "sent_to": 0.0, "message": "No active subscriptions found"}, r.Body)

	good, gone, broken := e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()
	e.Push.Respond(gone, pushservice.Response{Status: http.StatusGone})
	e.Push.Respond(broken, pushservice.Response{Status: http.StatusInternalServerError})
	e.subscribe(tok, good, "client")
	e.subscribe(tok, gone, "client")
	e.subscribe(tok, broken, "client")
	// Another user's device gets nothing.
	bystander := e.Push.NewDevice()
	e.subscribe(driverToken(t, "someone-else"), bystander, "client")

	r = e.call("POST", api+"/test", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, map[string]any{
		"success": true, "sent_to": 1.0, "failed": 2.0,
		"message": "Test notification sent to 1 device(s)",
	}, r.Body)

	// The push service verified VAPID and decrypted the message.
	require.Empty(t, e.Push.Errors())
	msgs := e.Push.Messages(good)
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.Equal(t, http.StatusCreated, m.Status)
	require.Equal(t, "mailto:ops@evpower.example", m.Claims["sub"])
	require.Equal(t, "300", m.TTL)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(m.Payload, &payload))
	require.Equal(t, "EvPower: тестовое уведомление", payload["title"])
	require.Equal(t, "/logo-192.png", payload["icon"])
	require.Equal(t, "test", payload["data"].(map[string]any)["type"])
	require.Empty(t, e.Push.Messages(bystander))

	// The 410 device was deleted; the 500 one kept, with a failure counted.
	rows, err := e.Svc.DB.QueryContext(context.Background(),
		"SELECT endpoint, failure_count, last_success_at IS NOT NULL FROM push_subscriptions WHERE user_id = 'driver-1' ORDER BY endpoint")
	require.NoError(t, err)
	defer rows.Close()
	got := map[string][2]any{}
	for rows.Next() {
		var ep string
		var failures int
		var succeeded bool
		require.NoError(t, rows.Scan(&ep, &failures, &succeeded))
		got[ep] = [2]any{failures, succeeded}
	}
	require.Equal(t, map[string][2]any{
		good.Endpoint:   {0, true},
		broken.Endpoint: {1, false},
	}, got)

	// Only the 500 device left failing: nothing reached, success false.
	_, err = e.Svc.DB.Exec("DELETE FROM push_subscriptions WHERE endpoint = $1", good.Endpoint)
	require.NoError(t, err)
	r = e.call("POST", api+"/test", tok, nil)
	require.Equal(t, map[string]any{
		"success": false, "sent_to": 0.0, "failed": 1.0,
		"message": "Test notification sent to 0 device(s)",
	}, r.Body)
}

func TestSendTestInSubscriptionLocale(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	tok := driverToken(t, "u1")
	d := e.Push.NewDevice()
	body := subscribeBody(d, "client")
	body["locale"] = "en"
	r := e.call("POST", api+"/subscribe", tok, body)
	require.Equal(t, http.StatusOK, r.Status)
	r = e.call("POST", api+"/test", tok, nil)
	require.Equal(t, 1.0, r.Body["sent_to"])
	var payload map[string]any
	require.NoError(t, json.Unmarshal(e.Push.Messages(d)[0].Payload, &payload))
	require.Equal(t, "EvPower: test notification", payload["title"])
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	r := e.call("GET", "/nope", "", nil)
	require.Equal(t, http.StatusNotFound, r.Status)
	require.NotEmpty(t, r.Body["detail"])
	r = e.call("DELETE", api+"/vapid-public-key", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.Status)
	require.NotEmpty(t, r.Body["detail"])
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.evpower.example"})
	pre := func(origin string) *http.Response {
		req, err := http.NewRequest("OPTIONS", e.URL+api+"/subscribe", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	ok := pre("https://app.evpower.example")
	require.Less(t, ok.StatusCode, 300)
	require.Equal(t, "https://app.evpower.example", ok.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(ok.Header.Get("Access-Control-Allow-Headers")), "authorization")

	bad := pre("https://evil.example")
	require.Empty(t, bad.Header.Get("Access-Control-Allow-Origin"))

	// Without the setting, no CORS headers at all: same origin only.
	plain := setup(t, nil)
	req, _ := http.NewRequest("GET", plain.URL+api+"/vapid-public-key", nil)
	req.Header.Set("Origin", "https://app.evpower.example")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	r := e.call("GET", "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "3.0.3", r.Body["openapi"])
	paths := r.Body["paths"].(map[string]any)
	for _, p := range []string{api + "/vapid-public-key", api + "/subscribe", api + "/unsubscribe", api + "/test",
		chargingAPI + "/start", chargingAPI + "/stop", "/healthz", "/readyz"} {
		require.Contains(t, paths, p)
	}
}
