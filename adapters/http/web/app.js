// The demo page: sign in with a development token, subscribe this device,
// send a test notification, start and stop a charging session, and watch the
// notifications arrive; once signed in, list the user's devices (remove one)
// and switch each kind of notification on or off. On load it calls migrate(), which moves this device's
// subscription to the service's current VAPID key after a rotation, without a
// prompt. Every piece of text from the server or a push goes through
// textContent, never innerHTML.

import {
  isSupported, subscribe, unsubscribe, migrate, sendTest, status, apiFetch,
  devices, removeDevice, preferences, setPreferences,
  UnsupportedError, PermissionDeniedError, AuthError, ValidationError,
  RateLimitError, ServerError,
} from './evpush-client.js';

const TOKEN_KEY = 'evpush-demo-token';
const SESSION_KEY = 'evpush-demo-session';
const SUBSCRIPTION_KEY = 'evpush-demo-subscription-id';

const $ = (id) => document.getElementById(id);

/** The kinds of notification each role gets, with the label of their checkbox. */
const KINDS = {
  client: { charging_started: 'Charging started', charging_completed: 'Charging completed' },
  owner: { new_session: 'New session at my station', session_completed: 'Session completed at my station' },
};

const PUSH_SERVICES = { fcm: 'Google FCM', mozilla: 'Mozilla', apple: 'Apple', wns: 'Windows WNS' };

// --- small storage helpers (storage may be blocked: the page still works) ---

function load(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}
function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch { /* blocked storage: keep it in memory only */ }
}

let token = load(TOKEN_KEY);
let sessionId = load(SESSION_KEY);

/** The JWT's claims, for display only (the server verifies the token). */
function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** The role the token was issued for: the server refuses to subscribe in another one. */
function tokenUserType() {
  const c = token ? claims(token) : null;
  const role = c?.user_type ?? c?.role;
  return role === 'client' || role === 'owner' ? role : $('user-type').value;
}

// --- rendering ---

/**
 * The status line. data-state ('idle', 'busy', 'ok', 'error') and, for errors,
 * data-error (the error class name) are there for the browser test too.
 */
function setStatus(text, state = 'ok', errorName = '') {
  const el = $('status');
  el.textContent = text;
  el.dataset.state = state;
  if (errorName) el.dataset.error = errorName;
  else delete el.dataset.error;
}

function showSignedIn() {
  const el = $('signed-in-as');
  const c = token ? claims(token) : null;
  if (!c) {
    el.textContent = 'nobody';
    return;
  }
  const role = c.user_type ?? c.role ?? 'unknown role';
  const expired = typeof c.exp === 'number' && c.exp * 1000 <= Date.now();
  el.textContent = `${c.sub} (${role})${expired ? ', token expired: sign in again' : ''}`;
}

function showSession() {
  $('session-id').textContent = sessionId || '—';
}

function showSubscriptionId(id) {
  $('subscription-id').textContent = id || '—';
}

function showLastNotification(payload) {
  const el = $('last-notification');
  const title = document.createElement('strong');
  title.textContent = payload?.title ?? '';
  el.replaceChildren(title, document.createTextNode(payload?.body ?? ''));
  el.classList.remove('muted');
}

/** A server date for people: 'never' when there is none. */
function formatDate(iso) {
  if (!iso) return 'never';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Why push is unavailable here, in words a user can act on. */
function unsupportedMessage(err) {
  const parts = [`Push notifications are not supported in this browser${err ? ` (${err.message})` : ''}.`];
  if (!window.isSecureContext) {
    parts.push('Service workers need HTTPS (or http://localhost).');
  }
  const ios = /iPad|iPhone|iPod/.test(navigator.userAgent)
    || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1);
  const standalone = window.matchMedia?.('(display-mode: standalone)').matches || navigator.standalone;
  if (ios && !standalone) {
    parts.push('On iPhone and iPad (iOS 16.4+), add this page to the Home Screen and open it from there.');
  }
  return parts.join(' ');
}

/** One friendly sentence per error class (the guide's section 6, made precise). */
function describeError(err) {
  if (err instanceof UnsupportedError) return unsupportedMessage(err);
  if (err instanceof PermissionDeniedError) {
    return 'Notifications are blocked (permission denied). Allow them for this site in the browser settings, then try again.';
  }
  if (err instanceof AuthError) return `Please sign in again (re-login): ${err.detail}`;
  if (err instanceof ValidationError) {
    const fields = err.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return `Invalid data: ${fields || err.detail}`;
  }
  if (err instanceof RateLimitError) {
    return `Too many requests: try again${err.retryAfter != null ? ` in ${err.retryAfter} s` : ' later'}.`;
  }
  if (err instanceof ServerError) {
    if (err.status === 403) return `Not allowed: ${err.detail}`;
    if (err.status >= 500) return `Server error (HTTP ${err.status}): ${err.detail}. Try again later.`;
    return `${err.detail} (HTTP ${err.status})`;
  }
  return err?.message ?? String(err);
}

/** Runs a button's action: busy state, then the result or the error in #status. */
async function run(button, busyText, action) {
  button.disabled = true;
  setStatus(busyText, 'busy');
  try {
    const result = await action();
    if (typeof result === 'string') setStatus(result, 'ok');
    else if (result) setStatus(result.text, result.state ?? 'ok');
  } catch (err) {
    console.error(err);
    setStatus(describeError(err), 'error', err?.name ?? 'Error');
  } finally {
    button.disabled = false;
  }
}

function needToken() {
  if (!token) throw new AuthError('Not signed in', { detail: 'sign in first (step 1)' });
  return token;
}

/** What a move to the service's current VAPID key did, as a sentence ('' when nothing is worth saying). */
function describeMigration(migration) {
  switch (migration?.state) {
    case 'migrated': return ' It moved to the service\'s new VAPID key by itself.';
    case 'no-token': return ' The service has a new VAPID key: sign in so that this device moves to it.';
    case 'no-settings': return ' The service has a new VAPID key: subscribe again so that this device moves to it.';
    case 'no-permission': return ' The service has a new VAPID key: allow notifications and subscribe again.';
    case 'failed': return ` Moving it to the service's new VAPID key failed, the next visit tries again: ${describeError(migration.error)}`;
    default: return '';
  }
}

/**
 * The status line on load. moved: what the page's migrate() call did (status()
 * migrates too, but would only find the work done).
 */
async function describeStatus(moved) {
  const s = await status({ token });
  if (!s.supported) return unsupportedMessage();
  const permission = { granted: 'allowed', denied: 'blocked', default: 'not asked yet' }[s.permission] ?? s.permission;
  const sub = s.subscribed ? `subscribed via ${s.endpoint}` : 'not subscribed';
  return `Ready. Notifications ${permission}; this device is ${sub}.${describeMigration(moved ?? s.migration)}`;
}

// --- my devices and preferences (signed in only) ---

/** One line of "My devices": what the device is, its dates, and its Remove button. */
function deviceItem(device) {
  const item = document.createElement('li');
  item.dataset.subscriptionId = device.subscription_id;
  const title = document.createElement('span');
  const name = document.createElement('strong');
  name.textContent = device.device || 'Unknown browser';
  title.append(name);
  if (device.current) {
    item.classList.add('current');
    const mark = document.createElement('span');
    mark.className = 'this-device';
    mark.textContent = 'this device';
    title.append(' ', mark);
  }
  const facts = document.createElement('span');
  facts.className = 'device-facts';
  const service = PUSH_SERVICES[device.push_service] ?? device.push_service;
  facts.textContent = `${service} · added ${formatDate(device.created_at)} · last delivered ${formatDate(device.last_success_at)}`;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove secondary';
  remove.textContent = 'Remove';
  remove.addEventListener('click', () => run(remove, 'Removing the device…', async () => {
    const { current } = await removeDevice(device.subscription_id, { token: needToken() });
    if (current) {
      save(SUBSCRIPTION_KEY, null);
      showSubscriptionId(null);
    }
    await showDevices();
    return `Removed ${current ? 'this device' : name.textContent}: it gets no more notifications.`;
  }));
  item.append(title, facts, remove);
  return item;
}

async function showDevices() {
  const list = await devices({ token: needToken() });
  const empty = document.createElement('li');
  empty.className = 'muted';
  empty.textContent = 'No device receives notifications yet.';
  $('devices').replaceChildren(...(list.length > 0 ? list.map(deviceItem) : [empty]));
}

/** The checkbox of one kind: a change is saved at once, and undone when the server refuses it. */
function kindCheckbox(userType, kind, label, on) {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = `pref-${kind}`;
  box.checked = on;
  box.addEventListener('change', () => run(box, 'Saving…', async () => {
    try {
      const saved = await setPreferences({ userType, kinds: { [kind]: box.checked } }, { token: needToken() });
      box.checked = saved.kinds?.[kind] !== false;
    } catch (err) {
      box.checked = !box.checked;
      throw err;
    }
    return `${label}: notifications ${box.checked ? 'on' : 'off'}.`;
  }));
  const row = document.createElement('label');
  row.className = 'check';
  row.append(box, ` ${label}`);
  return row;
}

async function showPreferences() {
  const userType = tokenUserType();
  const prefs = await preferences({ token: needToken(), userType });
  const kinds = Object.entries(KINDS[userType] ?? {});
  $('preference-kinds').replaceChildren(
    ...kinds.map(([kind, label]) => kindCheckbox(userType, kind, label, prefs.kinds?.[kind] !== false)),
  );
}

/** A part that could not load says why in its own place, not in the status line other actions use. */
function showLoadError(container, what, err) {
  const note = document.createElement(container.tagName === 'UL' ? 'li' : 'p');
  note.className = 'load-error';
  note.textContent = `Could not load ${what}: ${describeError(err)}`;
  container.replaceChildren(note);
}

/** Shows the signed-in user's devices and preferences; hides both when nobody is signed in. */
async function showAccount() {
  $('my-devices').hidden = !token;
  $('preferences').hidden = !token;
  if (!token) return;
  await Promise.all([
    showDevices().catch((err) => showLoadError($('devices'), 'your devices', err)),
    showPreferences().catch((err) => showLoadError($('preference-kinds'), 'your preferences', err)),
  ]);
}

// --- actions ---

$('sign-in').addEventListener('click', (e) => run(e.currentTarget, 'Signing in…', async () => {
  const userId = $('user-id').value.trim();
  const userType = $('user-type').value;
  let result;
  try {
    result = await apiFetch('/api/v1/dev/token', { method: 'POST', body: { user_id: userId, user_type: userType } });
  } catch (err) {
    if (err instanceof ServerError && err.status === 404) {
      return { text: 'Dev sign-in is off (DEV_MODE=false)', state: 'error' };
    }
    throw err;
  }
  token = result.token;
  save(TOKEN_KEY, token);
  showSignedIn();
  await showAccount();
  const hours = Math.round((result.expires_in ?? 0) / 360) / 10;
  let text = `Signed in as ${userId} (${userType})${hours ? `, token valid ${hours} h` : ''}.`;
  if (isSupported() && (await status({ token })).subscribed) {
    text += ' Subscribe again so this device receives this user\'s notifications.';
  }
  return text;
}));

$('subscribe').addEventListener('click', (e) => run(e.currentTarget, 'Subscribing…', async () => {
  const { subscriptionId } = await subscribe({ token: needToken(), userType: tokenUserType() });
  save(SUBSCRIPTION_KEY, subscriptionId);
  showSubscriptionId(subscriptionId);
  await showAccount();
  const s = await status({ token });
  return `Subscribed: notifications will arrive on this device (${s.endpoint}).`;
}));

$('send-test').addEventListener('click', (e) => run(e.currentTarget, 'Sending a test notification…', async () => {
  const report = await sendTest({ token: needToken() });
  const failed = report.failed ? `, ${report.failed} failed` : '';
  return { text: `${report.message}${failed}.`, state: report.success ? 'ok' : 'error' };
}));

$('unsubscribe').addEventListener('click', (e) => run(e.currentTarget, 'Unsubscribing…', async () => {
  const removed = await unsubscribe({ token: needToken() });
  save(SUBSCRIPTION_KEY, null);
  showSubscriptionId(null);
  await showAccount();
  return removed ? 'Unsubscribed: this device gets no more notifications.' : 'This device was not subscribed.';
}));

$('start-charging').addEventListener('click', (e) => run(e.currentTarget, 'Starting a charging session…', async () => {
  const stationId = $('station-id').value.trim();
  const result = await apiFetch('/api/v1/charging/start', {
    method: 'POST', token: needToken(), body: { station_id: stationId, connector_id: 1 },
  });
  sessionId = result.session_id;
  save(SESSION_KEY, sessionId);
  showSession();
  return `Charging started at ${result.station_id}, connector ${result.connector_id}. A notification is on its way.`;
}));

$('stop-charging').addEventListener('click', (e) => run(e.currentTarget, 'Stopping the charging session…', async () => {
  if (!sessionId) return { text: 'No charging session: start one first.', state: 'error' };
  const result = await apiFetch('/api/v1/charging/stop', {
    method: 'POST', token: needToken(), body: { session_id: sessionId, energy_kwh: Number($('energy').value) },
  });
  return `Charging completed: ${result.energy_kwh} kWh, ${result.amount} ${result.currency ?? ''}`.trim() + '.';
}));

// --- start-up ---

showSignedIn();
showSession();
showSubscriptionId(load(SUBSCRIPTION_KEY));
showAccount();

if (isSupported()) {
  const sw = navigator.serviceWorker;
  sw.addEventListener('message', (event) => {
    if (event.data?.type === 'evpush:push') showLastNotification(event.data.payload);
  });
  sw.startMessages?.();
  // Register now, not on the first click: the worker is active by the time the
  // user subscribes, and the permission prompt comes while the click still
  // counts as a user gesture. Then follow a VAPID key rotation: migrate() does
  // nothing unless this device's subscription uses a retiring key.
  sw.register('/service-worker.js')
    .then(() => sw.ready)
    .then(async () => {
      document.documentElement.dataset.sw = 'ready';
      const moved = await migrate({ token }).catch((error) => ({ state: 'failed', error }));
      if ($('status').dataset.state === 'idle') setStatus(await describeStatus(moved), 'idle');
    })
    .catch((err) => setStatus(`Service worker registration failed: ${err.message}`, 'error', err.name));
} else {
  setStatus(unsupportedMessage(), 'error', 'UnsupportedError');
}
