package e2e

// VAPID key rotation (issue 13) in a real browser: the demo page's client
// script moves a device to the new key on the next page load.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/test/pushservice"
)

// pushStubJS replaces the browser↔push-service leg of the Push API in the
// page, and nothing else: headless Chromium here has no internet, so the real
// pushManager.subscribe() never reaches a push service. It hands out the
// loopback push service's devices the test prepared (devices: JSON
// [{endpoint, p256dh, auth, key}], key being the application server key each
// is bound to), as a browser hands out what its push service made. It runs
// in the page only (service workers do not get it; this test's worker never
// subscribes), on the evpush origin only. The page, the client script, the
// service worker registration, the permission and every call to evpush stay
// real. pushStub.offer fills in origin (%[1]s) and devices (%[2]s).
const pushStubJS = `(function (origin, devices) {
  if (location.origin !== origin || !('PushManager' in self)) return; // about:blank and the like
  // The subscription survives reloads, as a browser's does: {sub: {endpoint,
  // p256dh, auth, key} or null, handedOut: [endpoint]} in localStorage.
  const STATE = 'evpush-test-push-stub';
  const load = () => JSON.parse(localStorage.getItem(STATE) || '{"sub": null, "handedOut": []}');
  const save = (s) => localStorage.setItem(STATE, JSON.stringify(s));
  const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const bytesOf = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  // The key subscribe() was given (a BufferSource or a base64url string), as base64url.
  const keyOf = (k) => typeof k === 'string' ? k.replace(/=+$/, '')
    : b64u(ArrayBuffer.isView(k) ? new Uint8Array(k.buffer, k.byteOffset, k.byteLength) : new Uint8Array(k));

  // A PushSubscription as Chromium's reads: options.applicationServerKey is
  // an ArrayBuffer of the key it was made with; toJSON() what a page posts.
  // Own properties: the native getters refuse objects they did not make.
  const subscription = (s) => Object.create(PushSubscription.prototype, {
    endpoint: { value: s.endpoint, enumerable: true },
    expirationTime: { value: null, enumerable: true },
    options: { value: Object.freeze({ userVisibleOnly: true, applicationServerKey: bytesOf(s.key).buffer }), enumerable: true },
    toJSON: { value: () => ({ endpoint: s.endpoint, expirationTime: null, keys: { p256dh: s.p256dh, auth: s.auth } }) },
  });

  PushManager.prototype.getSubscription = async function () {
    const { sub } = load();
    return sub && subscription(sub);
  };
  PushManager.prototype.subscribe = async function (options = {}) {
    if (Notification.permission !== 'granted') throw new DOMException('Registration failed - permission denied', 'NotAllowedError');
    const key = keyOf(options.applicationServerKey);
    const state = load();
    if (state.sub) { // Chromium: the same key gets the same subscription, another key an error
      if (state.sub.key === key) return subscription(state.sub);
      throw new DOMException('Registration failed - A subscription with a different applicationServerKey already exists', 'InvalidStateError');
    }
    // A new endpoint, bound to the key asked for: a device prepared for that key, never handed out before.
    const device = devices.find((d) => d.key === key && !state.handedOut.includes(d.endpoint));
    if (!device) throw new DOMException('push stub: no device prepared for applicationServerKey ' + key, 'AbortError');
    state.sub = { endpoint: device.endpoint, p256dh: device.p256dh, auth: device.auth, key };
    state.handedOut.push(device.endpoint);
    save(state);
    return subscription(state.sub);
  };
  PushSubscription.prototype.unsubscribe = async function () {
    const state = load();
    if (state.sub?.endpoint !== this.endpoint) return false;
    state.sub = null;
    save(state);
    return true;
  };
})(%[1]s, %[2]s);`

// pushStub installs pushStubJS in a browser tab, before the page's scripts.
type pushStub struct {
	t      testing.TB
	ctx    context.Context
	origin string
	id     page.ScriptIdentifier // the installed script, "" before the first offer
}

// offer (re)installs the stub, handing out these devices from the next page
// load on. The subscription it handed out before stays, in localStorage.
func (s *pushStub) offer(devices ...*pushservice.Device) {
	s.t.Helper()
	type device struct {
		Endpoint string `json:"endpoint"`
		P256dh   string `json:"p256dh"`
		Auth     string `json:"auth"`
		Key      string `json:"key"`
	}
	offered := make([]device, len(devices))
	for i, d := range devices {
		require.NotEmpty(s.t, d.Key, "a device bound to a key (pushservice.WithKey)")
		offered[i] = device{d.Endpoint, d.P256dh, d.Auth, d.Key}
	}
	list, err := json.Marshal(offered)
	require.NoError(s.t, err)
	origin, err := json.Marshal(s.origin)
	require.NoError(s.t, err)
	if s.id != "" {
		_, err = chromedp.Call(s.ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: s.id})
		require.NoError(s.t, err)
	}
	r, err := chromedp.Call(s.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: fmt.Sprintf(pushStubJS, origin, list),
	})
	require.NoError(s.t, err)
	s.id = r.Identifier
}

// waitStatus waits until the demo page's status line contains want, or
// reports an error, and returns it; the test fails, naming the line, unless
// it contains want.
func waitStatus(t testing.TB, ctx context.Context, want string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(
		`(s => (s.dataset.state === 'error' || s.textContent.includes(%q)) && s.textContent)(document.querySelector('#status'))`, want),
		chromedp.WithPollingTimeout(waitBudget)))
	if err != nil {
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("status line containing %q: %v; it reads %q", want, err, text)
	}
	require.Contains(t, text, want)
	return text
}

// storedSubscription is a push_subscriptions row, as a test compares them.
type storedSubscription struct {
	Endpoint, UserType, Locale string
	KeyID                      int
}

// subscriptionsOf lists the user's stored subscriptions.
func (e *env) subscriptionsOf(user string) []storedSubscription {
	e.t.Helper()
	rows, err := e.Svc.DB.Query(`SELECT endpoint, user_type, locale, vapid_key_id FROM push_subscriptions
		WHERE user_id = $1 ORDER BY created_at`, user)
	require.NoError(e.t, err)
	defer rows.Close()
	var subs []storedSubscription
	for rows.Next() {
		var s storedSubscription
		require.NoError(e.t, rows.Scan(&s.Endpoint, &s.UserType, &s.Locale, &s.KeyID))
		subs = append(subs, s)
	}
	require.NoError(e.t, rows.Err())
	return subs
}

// TestClientMovesToTheNewKeyInChromium: the end-to-end story of issue 13
// with the real client script. A device subscribed from the demo page under
// key A; rotate; a charging event still reaches it signed with A; on the
// next page load migrate() moves it to key B (same user, role and locale,
// the old endpoint gone); the next event is signed with B, and nothing more
// reaches A; the cleanup deletes A, unused. The push service behind the
// browser is the loopback one, through pushStubJS.
func TestClientMovesToTheNewKeyInChromium(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := setup(t, map[string]string{"DEV_MODE": "true", "VAPID_RELOAD_INTERVAL": "200ms"})
	e.station("st-m", "owner-m", "10")
	const user = "browser-mover"
	driver := driverToken(t, user) // the events' trigger; the page signs in by itself
	a := e.Svc.VAPID.Ring().Current()
	phoneA := e.Push.NewDevice(pushservice.WithKey(a.PublicKey))

	ctx := newBrowser(t)
	grantNotifications(t, ctx, e.URL)
	stub := &pushStub{t: t, ctx: ctx, origin: e.URL}
	stub.offer(phoneA)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.URL+"/")))
	waitStatus(t, ctx, "Ready.") // the worker is active and the load's migrate() found nothing to do

	// Sign in as a driver and subscribe through the page's buttons.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("user-id"), user),
		chromedp.Click(chromedp.ID("sign-in")),
		waitText("#signed-in-as", user),
	))
	waitStatus(t, ctx, "Signed in as "+user)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("subscribe"))))
	waitStatus(t, ctx, "Subscribed:")
	before := e.subscriptionsOf(user)
	require.Len(t, before, 1)
	require.Equal(t, phoneA.Endpoint, before[0].Endpoint)
	require.Equal(t, a.ID, before[0].KeyID, "bound to the key the page subscribed with")
	require.Equal(t, "client", before[0].UserType)
	require.NotEmpty(t, before[0].Locale, "the browser's language")

	// Rotate, as `evpush vapid rotate` does; the service serves B.
	_, b := e.rotate(false, nil)
	e.servesKey(b.PublicKey)
	e.startCharging(driver, "st-m", 1)
	msgs := e.Push.WaitFor(t, phoneA, 1, waitBudget)
	require.Equal(t, a.PublicKey, msgs[0].Key, "signed with the key the device subscribed with")
	require.Equal(t, "charging_started", payload(t, msgs[0])["data"].(map[string]any)["type"])

	// From the next page load on, the browser's push service hands out a
	// subscription bound to B when asked for one with B; the browser still
	// holds phone A's.
	phoneB := e.Push.NewDevice(pushservice.WithKey(b.PublicKey))
	stub.offer(phoneB)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload()))
	// "Ready." comes once the load's migrate() has settled, whatever it did.
	require.Contains(t, waitStatus(t, ctx, "Ready."), "It moved to the service's new VAPID key by itself.")
	want := []storedSubscription{{Endpoint: phoneB.Endpoint, UserType: before[0].UserType, Locale: before[0].Locale, KeyID: b.ID}}
	deadline := time.Now().Add(waitBudget)
	for got := e.subscriptionsOf(user); !slices.Equal(got, want); got = e.subscriptionsOf(user) {
		if time.Now().After(deadline) {
			require.Equal(t, want, got, "the user's subscriptions after the move, %v on", waitBudget)
		}
		time.Sleep(20 * time.Millisecond)
	}
	remembered, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(localStorage.getItem('evpush')).endpoint`))
	require.NoError(t, err)
	require.Equal(t, phoneB.Endpoint, remembered, "the client script knows its new endpoint")

	// The next event is signed with B and reaches B only.
	e.startCharging(driver, "st-m", 2)
	msgs = e.Push.WaitFor(t, phoneB, 1, waitBudget)
	require.Equal(t, b.PublicKey, msgs[0].Key)
	require.Equal(t, "charging_started", payload(t, msgs[0])["data"].(map[string]any)["type"])
	e.idle()
	require.Len(t, e.Push.Messages(phoneA), 1, "nothing more reaches the old endpoint")
	require.Len(t, e.Push.Messages(phoneB), 1)

	// The cleanup deletes A, unused (this call, or the periodic job if it ran first).
	_, err = e.Svc.App.RetireVAPIDKeys(context.Background())
	require.NoError(t, err)
	require.Equal(t, -1, e.held(a.ID), "key A deleted")
	require.Equal(t, 1, e.held(b.ID))
	require.Empty(t, e.Push.Errors())
}
