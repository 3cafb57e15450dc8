package e2e

// VAPID key rotation (issue 13): a device subscribed under key A keeps
// receiving, signed with A, after the rotation made B current, until it
// moves to B; running instances pick B up without a restart; a revoked key
// signs nothing; a retiring key goes once unused, or after
// VAPID_RETIRE_AFTER with the devices that never moved.

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/postgres"
	"github.com/evpower/evpush/app"
	"github.com/evpower/evpush/cmd/evpush/wiring"
	"github.com/evpower/evpush/domain"
	"github.com/evpower/evpush/test/pushservice"
	"github.com/evpower/evpush/test/testdb"
)

// fastReload makes instances read the keys every 200 ms: a rotation reaches
// them within a poll or two of a test's wait.
var fastReload = map[string]string{"VAPID_RELOAD_INTERVAL": "200ms"}

// cliConfig is the configuration `evpush vapid …` runs with against e's
// database; extra adds to it.
func (e *env) cliConfig(extra map[string]string) wiring.Config {
	e.t.Helper()
	vars := map[string]string{"DATABASE_URL": e.DBURL, "JWT_SECRET": testSecret}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := wiring.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(e.t, err)
	return cfg
}

// rotate runs `evpush vapid rotate [-revoke]`'s code and returns its output
// and the new current key.
func (e *env) rotate(revoke bool, extra map[string]string) (string, domain.VAPIDKey) {
	e.t.Helper()
	var out bytes.Buffer
	require.NoError(e.t, wiring.RotateVAPIDKey(context.Background(), e.cliConfig(extra), revoke, &out))
	usage := e.keyUsage()
	return out.String(), usage[len(usage)-1].Key
}

// vapidList runs `evpush vapid list`'s code.
func (e *env) vapidList() string {
	e.t.Helper()
	var out bytes.Buffer
	require.NoError(e.t, wiring.ListVAPIDKeys(context.Background(), e.cliConfig(nil), &out))
	return out.String()
}

// keyUsage is every stored key with the subscriptions it holds, by ID.
func (e *env) keyUsage() []domain.KeyUsage {
	e.t.Helper()
	usage, err := e.Svc.Store.KeyUsage(context.Background())
	require.NoError(e.t, err)
	return usage
}

// held is how many subscriptions key id holds; -1 when the key is gone.
func (e *env) held(id int) int {
	e.t.Helper()
	for _, u := range e.keyUsage() {
		if u.Key.ID == id {
			return u.Subscriptions
		}
	}
	return -1
}

// servesKey waits until GET /vapid-public-key answers key: within a minute,
// as the README promises (waitBudget is a minute too).
func (e *env) servesKey(key string) {
	e.t.Helper()
	deadline := time.Now().Add(waitBudget)
	for got := e.publicKey(); got != key; got = e.publicKey() {
		if time.Now().After(deadline) {
			e.t.Fatalf("GET /vapid-public-key still serves %.12s… after %v, want %.12s…", got, waitBudget, key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// subscribeWithKey posts d's subscription for the user naming the key it
// was made with, as the client script does.
func (e *env) subscribeWithKey(tok string, d *pushservice.Device, key string) response {
	e.t.Helper()
	body := subscribeBody(d, "client")
	body["application_server_key"] = key
	return e.call("POST", api+"/subscribe", tok, body)
}

// boundKey is the key ID the subscription on endpoint is bound to.
func (e *env) boundKey(endpoint string) int {
	e.t.Helper()
	var id int
	require.NoError(e.t, e.Svc.DB.QueryRow(`SELECT vapid_key_id FROM push_subscriptions WHERE endpoint = $1`, endpoint).Scan(&id))
	return id
}

// startCharging starts a session of driver at station and returns its id.
func (e *env) startCharging(tok, station string, connector int) string {
	e.t.Helper()
	r := e.call("POST", chargingAPI+"/start", tok, map[string]any{"station_id": station, "connector_id": connector})
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	return r.Body["session_id"].(string)
}

// driverOnCurrentKey subscribes a device of a new driver with the current
// key (the station's, for charging) and returns the driver's token, the key
// and the device, bound to that key as a browser's subscription is.
func (e *env) driverOnCurrentKey(driver, station string) (string, domain.VAPIDKey, *pushservice.Device) {
	e.t.Helper()
	e.station(station, "owner-of-"+station, "10")
	tok := driverToken(e.t, driver)
	a := e.Svc.VAPID.Ring().Current()
	d := e.Push.NewDevice(pushservice.WithKey(a.PublicKey))
	e.subscribe(tok, d, "client") // no application_server_key: the current key
	require.Equal(e.t, a.ID, e.boundKey(d.Endpoint))
	return tok, a, d
}

// TestRotationKeepsEveryDevice: the whole story of issue 13 on one
// instance, the client script's part played by hand.
func TestRotationKeepsEveryDevice(t *testing.T) {
	t.Parallel()
	e := setup(t, fastReload)
	e.station("st-r", "owner-r", "10")
	driver := driverToken(t, "driver-r")
	a := e.Svc.VAPID.Ring().Current()

	// Subscribed under key A (the browser used what GET served).
	phoneA := e.Push.NewDevice(pushservice.WithKey(a.PublicKey))
	r := e.subscribeWithKey(driver, phoneA, a.PublicKey)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	e.startCharging(driver, "st-r", 1)
	require.Equal(t, a.PublicKey, e.Push.WaitFor(t, phoneA, 1, waitBudget)[0].Key)

	// Rotate: B is current; A retires and still signs for the phone.
	out, b := e.rotate(false, nil)
	require.Contains(t, out, "is now current")
	require.Contains(t, out, "is retiring: it still signs for its 1 subscription(s)")
	require.NotContains(t, out, b.PublicKey[:20], "fingerprints, not keys")
	e.servesKey(b.PublicKey)
	e.startCharging(driver, "st-r", 2)
	msgs := e.Push.WaitFor(t, phoneA, 2, waitBudget)
	require.Equal(t, a.PublicKey, msgs[1].Key, "signed with the key the device subscribed with")
	require.Equal(t, "charging_started", payload(t, msgs[1])["data"].(map[string]any)["type"], "and it decrypts")

	// The client script moves the phone: a new subscription made with B,
	// posted with application_server_key B, then the old endpoint removed.
	phoneB := e.Push.NewDevice(pushservice.WithKey(b.PublicKey))
	r = e.subscribeWithKey(driver, phoneB, b.PublicKey)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, b.ID, e.boundKey(phoneB.Endpoint))
	list := e.vapidList()
	require.Regexp(t, `(?m)^`+strconv.Itoa(a.ID)+`\s+retiring\s+yes\s+1\s`, list)
	require.Regexp(t, `(?m)^`+strconv.Itoa(b.ID)+`\s+current\s+yes\s+1\s`, list)
	r = e.call("POST", api+"/unsubscribe", driver, map[string]any{"endpoint": phoneA.Endpoint})
	require.Equal(t, true, r.Body["success"], r.Raw)

	e.startCharging(driver, "st-r", 3)
	require.Equal(t, b.PublicKey, e.Push.WaitFor(t, phoneB, 1, waitBudget)[0].Key)
	e.idle()
	require.Len(t, e.Push.Messages(phoneA), 2, "the old endpoint hears nothing more")

	// The cleanup deletes A, unused (this call, or the periodic job if it
	// ran first: River runs it once when a leader is elected).
	_, err := e.Svc.App.RetireVAPIDKeys(context.Background())
	require.NoError(t, err)
	require.Equal(t, -1, e.held(a.ID))
	require.NotContains(t, e.vapidList(), "retiring")
	require.Empty(t, e.Push.Errors())
}

// TestRotationSignsEveryPathWithTheDevicesKey: after a rotation, a device
// on the retiring key gets every kind of push signed with its key: a
// charging event's first send and its push_delivery retry, /test, a
// user_notification and its push_message_delivery retry.
func TestRotationSignsEveryPathWithTheDevicesKey(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"VAPID_RELOAD_INTERVAL": "200ms", "DELIVERY_RETRY_BASE": "100ms"})
	driver, a, d := e.driverOnCurrentKey("driver-p", "st-p")

	_, b := e.rotate(false, nil)
	e.servesKey(b.PublicKey)

	// Event, first send refused 500, then the retry job.
	e.Push.Respond(d, pushservice.Response{Status: http.StatusInternalServerError}, pushservice.Response{})
	e.startCharging(driver, "st-p", 1)
	e.Push.WaitFor(t, d, 2, waitBudget)
	e.idle()
	// /test.
	r := e.call("POST", api+"/test", driver, nil)
	require.Equal(t, 1.0, r.Body["sent_to"], r.Raw)
	// user_notification, first send refused 500, then its retry job.
	e.Push.Respond(d, pushservice.Response{Status: http.StatusInternalServerError}, pushservice.Response{})
	insertJob(t, e, "user_notification", map[string]any{"user_id": "driver-p", "user_type": "client",
		"title": map[string]string{"en": "Payment received"}, "body": map[string]string{"en": "Thanks"}})
	msgs := e.Push.WaitFor(t, d, 5, waitBudget)
	e.idle()

	require.Equal(t, []int{500, 201, 201, 500, 201}, pushservice.Statuses(msgs))
	for i, m := range msgs {
		require.Equal(t, a.PublicKey, m.Key, "push %d", i)
	}
	var retries int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM river_job
		WHERE kind IN ('push_delivery', 'push_message_delivery') AND state = 'completed'`).Scan(&retries))
	require.Equal(t, 2, retries, "both retries went through retry jobs")
	require.Empty(t, e.Push.Errors())
}

// TestRotationReachesOtherInstances: two instances on one database; after
// a rotation, each serves the new key from GET /vapid-public-key within its
// reload interval, without a restart, and accepts subscriptions made with it.
func TestRotationReachesOtherInstances(t *testing.T) {
	t.Parallel()
	one := setup(t, fastReload)
	two := setupOn(t, one.DBURL, one.DBURL, fastReload, wiring.Options{})
	a := one.publicKey()
	require.Equal(t, a, two.publicKey())

	_, b := one.rotate(false, nil)
	require.NotEqual(t, a, b.PublicKey)
	one.servesKey(b.PublicKey)
	two.servesKey(b.PublicKey)

	d := two.Push.NewDevice(pushservice.WithKey(b.PublicKey))
	r := two.subscribeWithKey(driverToken(t, "driver-2"), d, b.PublicKey)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, b.ID, two.boundKey(d.Endpoint))
}

// TestSubscribeNamesItsKeyRightAfterARotation: an instance that has not
// reloaded yet (the default 30 s) finds a key rotated in a moment ago when
// a browser names it, instead of refusing the browser.
func TestSubscribeNamesItsKeyRightAfterARotation(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	_, b := e.rotate(false, nil)
	d := e.Push.NewDevice(pushservice.WithKey(b.PublicKey))
	r := e.subscribeWithKey(driverToken(t, "driver-n"), d, b.PublicKey)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, b.ID, e.boundKey(d.Endpoint))
	require.Equal(t, b.PublicKey, e.publicKey(), "the reload it took serves the new key too")
}

// TestSubscribeApplicationServerKey: the key a subscription is bound to.
func TestSubscribeApplicationServerKey(t *testing.T) {
	t.Parallel()
	e := setup(t, fastReload)
	tok := driverToken(t, "driver-k")
	a := e.Svc.VAPID.Ring().Current()

	// Absent: the current key.
	d := e.Push.NewDevice()
	e.subscribe(tok, d, "client")
	require.Equal(t, a.ID, e.boundKey(d.Endpoint))

	// A key the service does not know: 422 naming the field, nothing stored.
	stranger, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	unknown := e.Push.NewDevice()
	for _, key := range []string{stranger.PublicKey, "not-a-key", a.PrivateKey} {
		r := e.subscribeWithKey(tok, unknown, key)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status, r.Raw)
		require.Equal(t, false, r.Body["success"])
		errs := r.Body["errors"].([]any)
		require.Len(t, errs, 1)
		require.Equal(t, "application_server_key", errs[0].(map[string]any)["field"], r.Raw)
		require.NotContains(t, r.Raw, a.PrivateKey, "the body never echoes a key")
	}
	var n int
	require.NoError(t, e.Svc.DB.QueryRow(`SELECT count(*) FROM push_subscriptions WHERE endpoint = $1`, unknown.Endpoint).Scan(&n))
	require.Zero(t, n)

	// After a rotation: the current key binds to it; the retiring one,
	// named by a browser that has not moved yet, to the retiring one.
	_, b := e.rotate(false, nil)
	e.servesKey(b.PublicKey)
	onB, onA := e.Push.NewDevice(), e.Push.NewDevice()
	require.Equal(t, http.StatusOK, e.subscribeWithKey(tok, onB, b.PublicKey).Status)
	require.Equal(t, http.StatusOK, e.subscribeWithKey(tok, onA, a.PublicKey).Status)
	fresh := e.Push.NewDevice()
	e.subscribe(tok, fresh, "client")
	require.Equal(t, b.ID, e.boundKey(onB.Endpoint))
	require.Equal(t, a.ID, e.boundKey(onA.Endpoint))
	require.Equal(t, b.ID, e.boundKey(fresh.Endpoint))
}

// TestRevokedKeySignsNothing: after `rotate -revoke` the old key's devices
// get nothing (logged, counted) until they move; then they hear again.
func TestRevokedKeySignsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"VAPID_RELOAD_INTERVAL": "200ms", "LOG_LEVEL": "warn"})
	driver, a, d := e.driverOnCurrentKey("driver-v", "st-v")

	out, b := e.rotate(true, nil)
	require.Contains(t, out, "is revoked")
	require.Contains(t, out, "its 1 subscription(s) get nothing until their devices move")
	e.servesKey(b.PublicKey)
	require.Eventually(t, func() bool {
		k, ok := e.Svc.VAPID.Key(a.ID)
		return ok && k.Revoked()
	}, waitBudget, 20*time.Millisecond)

	r := e.call("POST", api+"/test", driver, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Equal(t, false, r.Body["success"], r.Raw)
	require.Equal(t, 1.0, r.Body["failed"], r.Raw)
	sessionID := e.startCharging(driver, "st-v", 1)
	state, _ := e.eventState("charging_started", sessionID)
	require.Equal(t, "completed", state)
	e.idle()
	require.Empty(t, e.Push.Messages(d), "nothing sent with any key")
	require.Contains(t, e.Logs.String(), "push withheld")
	require.NotContains(t, e.Logs.String(), a.PublicKey)
	rec := httptest.NewRecorder()
	e.Svc.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Contains(t, rec.Body.String(), `evpush_push_deliveries_total{outcome="withheld",push_service="other"} 2`)
	require.Contains(t, rec.Body.String(), `evpush_vapid_key_subscriptions{key_id="`+strconv.Itoa(a.ID)+`",state="revoked"} 1`)
	require.Zero(t, e.failureCount(d.Endpoint), "not the device's fault")

	// Moved to the new key, it hears again.
	moved := e.Push.NewDevice(pushservice.WithKey(b.PublicKey))
	require.Equal(t, http.StatusOK, e.subscribeWithKey(driver, moved, b.PublicKey).Status)
	r = e.call("POST", api+"/test", driver, nil)
	require.Equal(t, 1.0, r.Body["sent_to"], r.Raw)
	require.Equal(t, b.PublicKey, e.Push.WaitFor(t, moved, 1, waitBudget)[0].Key)
}

func (e *env) failureCount(endpoint string) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.Svc.DB.QueryRow(`SELECT failure_count FROM push_subscriptions WHERE endpoint = $1`, endpoint).Scan(&n))
	return n
}

// TestRetireAfterDeletesTheKeyWithItsDevices: a retiring key that still
// holds subscriptions after VAPID_RETIRE_AFTER is deleted by the cleanup
// together with them, logged with their count.
func TestRetireAfterDeletesTheKeyWithItsDevices(t *testing.T) {
	t.Parallel()
	e := setup(t, map[string]string{"VAPID_RETIRE_AFTER": "48h", "LOG_LEVEL": "info"})
	a := e.Svc.VAPID.Ring().Current()
	stale := []*pushservice.Device{e.Push.NewDevice(), e.Push.NewDevice(), e.Push.NewDevice()}
	for i, d := range stale {
		e.subscribe(driverToken(t, "driver-"+strconv.Itoa(i)), d, "client")
	}
	_, b := e.rotate(false, nil)
	_, err := e.Svc.DB.Exec(`UPDATE vapid_keys SET retiring_since = now() - interval '47 hours' WHERE id = $1`, a.ID)
	require.NoError(t, err)

	_, err = e.Svc.App.CleanupSubscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, e.held(a.ID), "within VAPID_RETIRE_AFTER: kept")

	_, err = e.Svc.DB.Exec(`UPDATE vapid_keys SET retiring_since = now() - interval '49 hours' WHERE id = $1`, a.ID)
	require.NoError(t, err)
	_, err = e.Svc.App.CleanupSubscriptions(context.Background())
	require.NoError(t, err)
	require.Equal(t, -1, e.held(a.ID))
	require.Zero(t, e.count(`SELECT count(*) FROM push_subscriptions`))
	require.Equal(t, 0, e.held(b.ID), "the current key stays")
	logs := e.Logs.String()
	require.Contains(t, logs, "retired VAPID key deleted with the subscriptions that never moved to the current key")
	require.Contains(t, logs, `"subscriptions_deleted":3`)
	require.Contains(t, logs, `"key_id":`+strconv.Itoa(a.ID))
}

func (e *env) count(query string) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.Svc.DB.QueryRow(query).Scan(&n))
	return n
}

// TestRotateRefusesConfiguredKeys: keys set by configuration stay
// authoritative; the command says so, and how to rotate them, and changes
// nothing.
func TestRotateRefusesConfiguredKeys(t *testing.T) {
	t.Parallel()
	k, err := domain.GenerateVAPIDKeys()
	require.NoError(t, err)
	e := setup(t, map[string]string{"VAPID_PUBLIC_KEY": k.PublicKey, "VAPID_PRIVATE_KEY": k.PrivateKey})
	before := e.keyUsage()

	var out bytes.Buffer
	err = wiring.RotateVAPIDKey(context.Background(),
		e.cliConfig(map[string]string{"VAPID_PUBLIC_KEY": k.PublicKey, "VAPID_PRIVATE_KEY": k.PrivateKey}), false, &out)
	require.ErrorIs(t, err, app.ErrKeysConfigured)
	require.Contains(t, err.Error(), "stay authoritative")
	require.Contains(t, err.Error(), "To rotate them")
	require.NotContains(t, err.Error(), k.PrivateKey)
	require.Empty(t, out.String())
	require.Equal(t, before, e.keyUsage())
	require.Contains(t, e.vapidList(), "yes (configured)")
}

// TestUpgradeKeepsEveryDevice: a database as the previous version left it,
// with its one key (stored, or configured and never stored) and devices
// subscribed with it: after the upgrade every device still hears, signed
// with that key.
func TestUpgradeKeepsEveryDevice(t *testing.T) {
	t.Parallel()
	for _, configured := range []bool{false, true} {
		name := map[bool]string{false: "stored key", true: "configured key"}[configured]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			old, err := domain.GenerateVAPIDKeys()
			require.NoError(t, err)
			push := pushservice.New(t)
			devices := []*pushservice.Device{push.NewDevice(pushservice.WithKey(old.PublicKey)),
				push.NewDevice(pushservice.WithKey(old.PublicKey))}
			dbURL := testdb.Empty(t)
			db := testdb.Open(t, dbURL)
			require.NoError(t, postgres.MigrateTo(context.Background(), db, 2))
			if !configured {
				_, err = db.Exec(`INSERT INTO vapid_keys (id, public_key, private_key) VALUES (1, $1, $2)`, old.PublicKey, old.PrivateKey)
				require.NoError(t, err)
			}
			for _, d := range devices {
				_, err = db.Exec(`INSERT INTO push_subscriptions (user_id, user_type, endpoint, p256dh, auth)
					VALUES ('driver-u', 'client', $1, $2, $3)`, d.Endpoint, d.P256dh, d.Auth)
				require.NoError(t, err)
			}

			extra := map[string]string{}
			if configured {
				extra = map[string]string{"VAPID_PUBLIC_KEY": old.PublicKey, "VAPID_PRIVATE_KEY": old.PrivateKey}
			}
			e := setupOn(t, dbURL, dbURL, extra, wiring.Options{})
			require.Equal(t, old.PublicKey, e.publicKey())
			r := e.call("POST", api+"/test", driverToken(t, "driver-u"), nil)
			require.Equal(t, 2.0, r.Body["sent_to"], r.Raw)
			for _, d := range devices {
				require.Equal(t, old.PublicKey, push.WaitFor(t, d, 1, waitBudget)[0].Key)
			}
			require.Empty(t, push.Errors())
			require.Len(t, e.keyUsage(), 1, "the upgrade's placeholder is settled")
		})
	}
}
