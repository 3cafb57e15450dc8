package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/evpower/evpush/adapters/messages"
	"github.com/evpower/evpush/adapters/webpush"
	"github.com/evpower/evpush/domain"
)

// chromium finds Debian's chromium (.ci/run installs it).
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: apt-get install chromium (.ci/run does)")
	return ""
}

// newBrowser starts headless Chromium as this machine allows it: root needs
// --no-sandbox, and with no internet every background fetch must be off.
// Per chromedp, the context has no timeout: it would stop the whole browser.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(412, 915), // a phone
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// grantNotifications grants the notification permission to origin, as a
// user's "Allow" does: no prompt is shown after it.
func grantNotifications(t testing.TB, ctx context.Context, origin string) {
	t.Helper()
	_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"},
		Setting:    "granted",
		Origin:     origin,
	})
	require.NoError(t, err)
}

// TestPWAInChromium drives the demo page in a real browser: the service
// worker registers and activates, the VAPID key decodes to 65 bytes, a push
// rendered by the service's own template code (delivered through DevTools,
// as no vendor push service is reachable here) becomes a notification with
// the right title and body, and clicking it opens data.url.
func TestPWAInChromium(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := setup(t, map[string]string{"DEV_MODE": "true"})
	ctx := newBrowser(t)
	origin := e.URL

	// Service worker registrations, as DevTools reports them.
	regs := make(chan string, 8)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if u, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range u.Registrations {
				if strings.HasPrefix(r.ScopeURL, origin) && !r.IsDeleted {
					select {
					case regs <- string(r.RegistrationID):
					default:
					}
				}
			}
		}
	}))
	grantNotifications(t, ctx, origin)
	_, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(origin+"/"),
		chromedp.WaitVisible(chromedp.ID("sign-in")),
	))

	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`navigator.serviceWorker.ready.then(r => r.active.state === 'activated' ? 'activated' :
		  new Promise(ok => r.active.addEventListener('statechange', e => e.target.state === 'activated' && ok('activated'))))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "activated", state)
	var regID string
	select {
	case regID = <-regs:
	case <-time.After(waitBudget):
		t.Fatal("DevTools reported no service worker registration")
	}

	keyLen, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`import('/static/evpush-client.js').then(async m => {
		   const r = await fetch('/api/v1/notifications/vapid-public-key');
		   const j = await r.json();
		   return m.urlBase64ToUint8Array(j.data.public_key).length;
		 })`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, 65, keyLen)

	// Sign in as a development user and start a session from the page.
	// The sign-in ends by showing the account's devices and preferences,
	// which moves the buttons below: click only once the page has settled
	// (its status says so), or the click can land where a button was.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("user-id"), "browser-driver"),
		chromedp.Click(chromedp.ID("sign-in")),
		waitText("#signed-in-as", "browser-driver"),
	))
	waitStatus(t, ctx, "Signed in as browser-driver")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("start-charging"))))
	waitStatus(t, ctx, "Charging started at")
	sessionID, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("session-id")))
	require.NoError(t, err)
	sessionID = strings.TrimSpace(sessionID)
	require.Len(t, sessionID, 36)

	// A push, rendered exactly as the delivery worker renders it.
	n := messages.Default().Event(domain.ChargingEvent{
		Kind: domain.EventChargingStarted, SessionID: sessionID, StationID: "demo-station", ConnectorID: 1,
		DriverID: "browser-driver",
	}, domain.UserTypeClient, "en")
	n.Timestamp = time.UnixMilli(1_767_225_600_000)
	payload, err := webpush.Payload(n)
	require.NoError(t, err)
	// With a button, as a payload from another sender may have (evpush
	// sends none): a click on it must do what a click on the body does.
	var withButton map[string]any
	require.NoError(t, json.Unmarshal(payload, &withButton))
	withButton["actions"] = []map[string]string{{"action": "open", "title": "Open session"}}
	payload, err = json.Marshal(withButton)
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: origin, RegistrationID: serviceworker.RegistrationID(regID), Data: string(payload),
	})
	require.NoError(t, err)

	// Wait for the worker's own word that the push was handled: it posts
	// 'evpush:push' to the page only after showNotification resolved, i.e.
	// once the notification is on display. Only then ask getNotifications():
	// Chromium syncs its notification database with what is on display on
	// every such call and deletes entries missing from its snapshot, so a
	// call racing showNotification could delete the new notification for
	// good (the old flake: getNotifications() empty for 15 s, under load).
	require.NoError(t, chromedp.Do(ctx, waitText("#last-notification", "Charging started")))
	type shownNote struct {
		Title, Body, Tag, URL string
		Renotify              bool
		Timestamp             int64
		Actions               []string
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]shownNote](
		`navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns =>
		   ns.map(n => ({Title: n.title, Body: n.body, Tag: n.tag, URL: (n.data || {}).url,
		     Renotify: n.renotify, Timestamp: n.timestamp, Actions: (n.actions || []).map(a => a.action)})))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Len(t, shown, 1, "%+v", shown)
	require.Equal(t, "Charging started", shown[0].Title)
	require.Equal(t, "Station demo-station, connector 1. Follow the session in the app.", shown[0].Body)
	require.Equal(t, "session-"+sessionID, shown[0].Tag)
	require.True(t, shown[0].Renotify, "completed replaces started and alerts again")
	require.Equal(t, int64(1_767_225_600_000), shown[0].Timestamp, "the event's time")
	require.Equal(t, []string{"open"}, shown[0].Actions)

	// Click its button: the worker shows data.url in the open app window,
	// as for a click on the body. No browser API clicks a notification, so
	// the page asks the worker's test hook to run its click handler (the same
	// function notificationclick runs), with the button's action.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`navigator.serviceWorker.ready.then(r => r.active.postMessage({type: 'evpush:test-click', tag: %q, action: 'open'}))`,
		shown[0].Tag), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	want := origin + "/sessions/" + sessionID
	require.Eventually(t, func() bool {
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			return false
		}
		for _, tg := range targets {
			if tg.Type == "page" && tg.URL == want {
				return true
			}
		}
		return false
	}, waitBudget, 100*time.Millisecond, "a window on %s", want)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("sign-in"))), "the app page at data.url")
	notes, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.length)`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Zero(t, notes, "the clicked notification was closed")

	// A screenshot of the demo page, for people; and proof it rendered.
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('button')].map(b => b.id)`))
	require.NoError(t, err)
	for _, id := range []string{"sign-in", "subscribe", "send-test", "start-charging", "stop-charging", "unsubscribe"} {
		require.Contains(t, buttons, id)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "demo.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	img, err := decodeImage(shot)
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 300)
	require.Greater(t, img.Bounds().Dy(), 300)
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if dir := os.Getenv("EVPUSH_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "demo.png"), shot, 0o644)
	}
}

// decodeImage reads the screenshot (JPEG at quality < 100, else PNG).
func decodeImage(b []byte) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').includes(%q)`, sel, want),
		chromedp.WithPollingTimeout(waitBudget))
}

func TestDevTokenOnlyInDevMode(t *testing.T) {
	t.Parallel()
	off := setup(t, nil)
	r := off.call("POST", "/api/v1/dev/token", "", map[string]any{"user_id": "x"})
	require.Equal(t, http.StatusNotFound, r.Status, "production never mints tokens")

	on := setup(t, map[string]string{"DEV_MODE": "true"})
	resp, err := http.Post(on.URL+"/api/v1/dev/token", "application/json", strings.NewReader(`{"user_id":"dev-1","user_type":"owner"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, 86400, body.ExpiresIn)
	// The token works on the API, with its role.
	d := on.Push.NewDevice()
	r = on.call("POST", api+"/subscribe", body.Token, subscribeBody(d, "client"))
	require.Equal(t, http.StatusForbidden, r.Status)
	on.subscribe(body.Token, d, "owner")
	// The demo station exists.
	var owner string
	require.NoError(t, on.Svc.DB.QueryRow(`SELECT owner_id FROM stations WHERE id = 'demo-station'`).Scan(&owner))
	require.Equal(t, "demo-owner", owner)
}
