package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestDevicesAndPreferencesInChromium drives the demo page's account part
// in a real browser against the real server: once signed in it lists the
// user's devices (only theirs, this one marked) and a checkbox per kind of
// the role; an unchecked box switches the kind off on the server, and
// Remove deletes the device there.
func TestDevicesAndPreferencesInChromium(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := setup(t, map[string]string{"DEV_MODE": "true"})
	owner := ownerToken(t, "browser-owner")
	phone := e.subscribeAs(owner, chromeOnAndroid, subscribeBody(e.Push.NewDevice(), "owner"))
	laptop := e.subscribe(owner, e.Push.NewDevice(), "owner")
	e.subscribe(ownerToken(t, "someone-else"), e.Push.NewDevice(), "owner")

	ctx := newBrowser(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("sign-in")),
	))
	// This browser cannot subscribe (no vendor push service here): the phone
	// plays this device, remembered as the client script remembers its own.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](
		`localStorage.setItem('evpush', JSON.stringify({subscriptionId: '`+phone+`'}))`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("user-id"), "browser-owner"),
		chromedp.SetValue(chromedp.ID("user-type"), "owner"),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("pref-new_session")),
		waitText("#devices", "Chrome on Android"),
	))
	listed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#devices li[data-subscription-id]')].map(li => li.dataset.subscriptionId)`))
	require.NoError(t, err)
	require.Equal(t, []string{phone, laptop}, listed, "the user's devices, oldest first, nobody else's")
	current, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#devices li.current')].map(li => li.dataset.subscriptionId)`))
	require.NoError(t, err)
	require.Equal(t, []string{phone}, current, "this device marked")
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]bool](
		`Object.fromEntries([...document.querySelectorAll('#preference-kinds input[type=checkbox]')].map(b => [b.id, b.checked]))`))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"pref-new_session": true, "pref-session_completed": true}, checked, "every kind on by default")

	// Uncheck "new session": the server's preferences change.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("pref-new_session"))))
	require.Eventually(t, func() bool {
		r := e.call("GET", api+"/preferences", owner, nil)
		kinds := r.Body["data"].(map[string]any)["kinds"].(map[string]any)
		return kinds["new_session"] == false && kinds["session_completed"] == true
	}, waitBudget, 100*time.Millisecond, "new_session switched off on the server")

	// Remove the laptop from the page: gone on the server.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#devices li[data-subscription-id="`+laptop+`"] .remove`)),
	))
	require.Eventually(t, func() bool {
		r := e.call("GET", api+"/subscriptions", owner, nil)
		return r.Status == http.StatusOK && len(r.Body["data"].([]any)) == 1
	}, waitBudget, 100*time.Millisecond, "the laptop removed on the server")
	require.Equal(t, []string{phone}, e.deviceIDs(owner))
}
