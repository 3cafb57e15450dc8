// Tests of evpush-client.js with Node's test runner and small fakes of the
// browser: navigator.serviceWorker, PushManager, Notification, fetch, localStorage.
//   node --test adapters/http/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { restoreGlobalsAfterEach, setGlobal } from './fake-globals.mjs';
import {
  isSupported, subscribe, unsubscribe, migrate, sendTest, status, urlBase64ToUint8Array,
  devices, removeDevice, preferences, setPreferences,
  EvpushError, UnsupportedError, PermissionDeniedError, AuthError, ValidationError,
  RateLimitError, ServerError, NotFoundError,
} from './evpush-client.js';

// A VAPID public key as the server sends it: 65 bytes, base64url, no padding.
const KEY_BYTES = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 37) % 256));
const VAPID_KEY = Buffer.from(KEY_BYTES).toString('base64url');
const OTHER_KEY = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 11) % 256));
const OTHER_KEY_B64 = Buffer.from(OTHER_KEY).toString('base64url');
const TOKEN = 'header.payload.signature';
const OLD_ENDPOINT = 'https://fcm.googleapis.com/fcm/send/old-endpoint';
const NEW_ENDPOINT = 'https://fcm.googleapis.com/fcm/send/new-endpoint';

restoreGlobalsAfterEach(['navigator', 'window', 'PushManager', 'Notification', 'fetch', 'localStorage']);

class FakeSubscription {
  constructor(endpoint, key, pushManager) {
    this.endpoint = endpoint;
    this.options = { applicationServerKey: key == null ? null : Uint8Array.from(key).buffer, userVisibleOnly: true };
    this.unsubscribed = false;
    this.pushManager = pushManager;
  }

  toJSON() {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: 'BP256dh-key', auth: 'auth-secret' } };
  }

  async unsubscribe() {
    this.pushManager.log.push(`browser unsubscribe ${this.endpoint}`);
    this.unsubscribed = true;
    if (this.pushManager.current === this) this.pushManager.current = null;
    return true;
  }
}

function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/**
 * Installs a fake browser. routes maps "METHOD path" to a Response (or a
 * function returning one); unrouted calls answer 404. stored: the settings
 * evpush-client.js remembered in localStorage. calls.log records browser
 * unsubscribe/subscribe and every request, in order.
 */
function fakeBrowser({
  permission = 'granted', existingKey, routes = {}, serviceWorker = true, pushManager = true, language = 'ru-RU',
  stored,
} = {}) {
  const calls = { fetch: [], register: [], subscribe: [], permissionAsked: 0, workerMessages: [], log: [] };
  const pm = {
    current: null,
    log: calls.log,
    async getSubscription() { return this.current; },
    async subscribe(options) {
      calls.subscribe.push(options);
      calls.log.push('browser subscribe');
      // What Chrome does: one subscription per registration, bound to its key.
      if (this.current && Buffer.compare(Buffer.from(this.current.options.applicationServerKey), Buffer.from(options.applicationServerKey)) !== 0) {
        throw new DOMException('A subscription with a different applicationServerKey already exists', 'InvalidStateError');
      }
      this.current = new FakeSubscription(NEW_ENDPOINT, options.applicationServerKey, this);
      return this.current;
    },
  };
  if (existingKey !== undefined) {
    pm.current = new FakeSubscription(OLD_ENDPOINT, existingKey, pm);
  }
  const registration = {
    pushManager: pm,
    active: { postMessage: (message) => calls.workerMessages.push(message) },
  };
  const nav = { language };
  if (serviceWorker) {
    nav.serviceWorker = {
      async register(url) { calls.register.push(url); return registration; },
      ready: Promise.resolve(registration),
      async getRegistration() { return registration; },
    };
  }
  setGlobal('navigator', nav);
  setGlobal('window', globalThis);
  if (pushManager) setGlobal('PushManager', function PushManager() {});
  else delete globalThis.PushManager;
  setGlobal('Notification', {
    permission,
    async requestPermission() { calls.permissionAsked++; return permission; },
  });
  const store = new Map();
  if (stored) store.set('evpush', JSON.stringify(stored));
  setGlobal('localStorage', {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
  });
  const allRoutes = {
    'GET /api/v1/notifications/vapid-public-key': () => json({ success: true, data: { public_key: VAPID_KEY } }),
    'POST /api/v1/notifications/subscribe': () => json({
      success: true, message: 'Push subscription registered successfully', subscription_id: 'sub-uuid-1',
    }),
    ...routes,
  };
  setGlobal('fetch', async (url, init = {}) => {
    const method = init.method ?? 'GET';
    const path = new URL(url, 'https://app.example').pathname;
    calls.fetch.push({ url, method, headers: init.headers ?? {}, body: init.body === undefined ? undefined : JSON.parse(init.body) });
    calls.log.push(`${method} ${path}`);
    const route = allRoutes[`${method} ${path}`];
    if (!route) return json({ success: false, detail: 'Not found' }, 404);
    return typeof route === 'function' ? route() : route;
  });
  return { calls, pm, store };
}

const posts = (calls) => calls.fetch.filter((c) => c.method === 'POST');

// --- urlBase64ToUint8Array ---

test('urlBase64ToUint8Array decodes an 87-character VAPID key into 65 bytes', () => {
  assert.equal(VAPID_KEY.length, 87);
  const bytes = urlBase64ToUint8Array(VAPID_KEY);
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(bytes.length, 65);
  assert.deepEqual(bytes, KEY_BYTES);
});

test('urlBase64ToUint8Array adds the missing padding and accepts it when present', () => {
  assert.deepEqual([...urlBase64ToUint8Array('YQ')], [0x61]); // 'a'
  assert.deepEqual([...urlBase64ToUint8Array('YWI')], [0x61, 0x62]);
  assert.deepEqual([...urlBase64ToUint8Array('YQ==')], [0x61]);
  assert.deepEqual([...urlBase64ToUint8Array('YWJj')], [0x61, 0x62, 0x63]);
});

test('urlBase64ToUint8Array reads the -_ alphabet like +/', () => {
  assert.deepEqual([...urlBase64ToUint8Array('-_8')], [0xfb, 0xff]);
  assert.deepEqual([...urlBase64ToUint8Array('-_8')], [...urlBase64ToUint8Array('+/8=')]);
  assert.throws(() => urlBase64ToUint8Array('not base64!'), EvpushError);
});

// --- isSupported ---

test('isSupported is true with serviceWorker, PushManager and Notification', () => {
  fakeBrowser();
  assert.equal(isSupported(), true);
});

test('isSupported is false without serviceWorker', () => {
  fakeBrowser({ serviceWorker: false });
  assert.equal(isSupported(), false);
});

test('isSupported is false without PushManager', () => {
  fakeBrowser({ pushManager: false });
  assert.equal(isSupported(), false);
});

test('isSupported is false without Notification, and without any browser globals', () => {
  fakeBrowser();
  delete globalThis.Notification;
  assert.equal(isSupported(), false);
  delete globalThis.navigator;
  delete globalThis.window;
  assert.equal(isSupported(), false);
});

// --- subscribe ---

test('subscribe registers the worker, subscribes with the VAPID key and posts the subscription', async () => {
  const { calls, store } = fakeBrowser();
  const { subscriptionId, subscription } = await subscribe({ token: TOKEN, userType: 'owner', locale: 'en' });

  assert.equal(subscriptionId, 'sub-uuid-1');
  assert.equal(subscription.endpoint, 'https://fcm.googleapis.com/fcm/send/new-endpoint');
  assert.deepEqual(calls.register, ['/service-worker.js']);
  assert.equal(calls.permissionAsked, 1);
  assert.equal(calls.subscribe.length, 1);
  assert.equal(calls.subscribe[0].userVisibleOnly, true);
  assert.deepEqual(calls.subscribe[0].applicationServerKey, KEY_BYTES);

  assert.deepEqual(calls.fetch.map((c) => `${c.method} ${c.url}`), [
    'GET /api/v1/notifications/vapid-public-key',
    'POST /api/v1/notifications/subscribe',
  ]);
  const post = calls.fetch[1];
  assert.equal(post.headers.Authorization, `Bearer ${TOKEN}`);
  assert.equal(post.headers['Content-Type'], 'application/json');
  assert.deepEqual(post.body, {
    subscription: subscription.toJSON(), user_type: 'owner', locale: 'en', application_server_key: VAPID_KEY,
  });
  assert.equal(calls.fetch[0].headers.Authorization, undefined, 'the VAPID key is public');

  const settings = { token: TOKEN, userType: 'owner', locale: 'en', baseUrl: '', endpoint: NEW_ENDPOINT };
  assert.deepEqual(JSON.parse(store.get('evpush')), { ...settings, subscriptionId: 'sub-uuid-1' }, 'the id marks devices()');
  assert.deepEqual(calls.workerMessages, [{ type: 'evpush:config', ...settings }], 'the worker needs no id');
});

test('subscribe defaults: user_type client, locale from navigator.language, baseUrl and worker URL honoured', async () => {
  const { calls } = fakeBrowser({ language: 'ky-KG' });
  await subscribe({ token: TOKEN, baseUrl: 'https://push.example/', serviceWorkerUrl: '/sw.js' });
  assert.deepEqual(calls.register, ['/sw.js']);
  assert.deepEqual(calls.fetch.map((c) => c.url), [
    'https://push.example/api/v1/notifications/vapid-public-key',
    'https://push.example/api/v1/notifications/subscribe',
  ]);
  assert.equal(calls.fetch[1].body.user_type, 'client');
  assert.equal(calls.fetch[1].body.locale, 'ky-KG');
});

test('subscribe omits locale when none is known', async () => {
  const { calls } = fakeBrowser();
  delete globalThis.navigator.language;
  await subscribe({ token: TOKEN });
  assert.deepEqual(Object.keys(calls.fetch[1].body), ['subscription', 'user_type', 'application_server_key']);
});

test('subscribe reuses an existing subscription made with the same key', async () => {
  const { calls, pm } = fakeBrowser({ existingKey: KEY_BYTES });
  const existing = pm.current;
  const { subscription } = await subscribe({ token: TOKEN });
  assert.equal(subscription, existing);
  assert.equal(existing.unsubscribed, false);
  assert.equal(calls.subscribe.length, 0);
  assert.equal(calls.fetch[1].body.subscription.endpoint, OLD_ENDPOINT);
  assert.equal(calls.fetch[1].body.application_server_key, VAPID_KEY);
  assert.equal(posts(calls).length, 1, 'nothing to remove on the server');
});

test('subscribe replaces a subscription made with another key, and removes its endpoint only after the POST', async () => {
  const { calls, pm, store } = fakeBrowser({ existingKey: OTHER_KEY });
  const stale = pm.current;
  const { subscription } = await subscribe({ token: TOKEN, locale: 'en' });
  assert.equal(stale.unsubscribed, true);
  assert.equal(calls.subscribe.length, 1);
  assert.notEqual(subscription, stale);
  assert.deepEqual(calls.log, [
    'GET /api/v1/notifications/vapid-public-key',
    `browser unsubscribe ${OLD_ENDPOINT}`,
    'browser subscribe',
    'POST /api/v1/notifications/subscribe',
    'POST /api/v1/notifications/unsubscribe',
  ]);
  const [register, remove] = posts(calls);
  assert.equal(register.body.subscription.endpoint, NEW_ENDPOINT);
  assert.equal(register.body.application_server_key, VAPID_KEY);
  assert.deepEqual(remove.body, { endpoint: OLD_ENDPOINT });
  assert.equal(JSON.parse(store.get('evpush')).endpoint, NEW_ENDPOINT);
});

test('subscribe whose POST fails keeps the old endpoint on the server and remembers it for migrate()', async () => {
  const { calls, store } = fakeBrowser({
    existingKey: OTHER_KEY,
    routes: { 'POST /api/v1/notifications/subscribe': () => json({ success: false, detail: 'Service temporarily unavailable' }, 503) },
  });
  await assert.rejects(subscribe({ token: TOKEN }), ServerError);
  assert.deepEqual(posts(calls).map((c) => c.url), ['/api/v1/notifications/subscribe']);
  assert.equal(JSON.parse(store.get('evpush')).endpoint, OLD_ENDPOINT);
});

test('subscribe replaces an existing subscription that has no key', async () => {
  const { calls, pm } = fakeBrowser({ existingKey: null });
  const stale = pm.current;
  await subscribe({ token: TOKEN });
  assert.equal(stale.unsubscribed, true);
  assert.equal(calls.subscribe.length, 1);
});

test('a push service that never answers: EvpushError after pushTimeoutMs, no POST', async () => {
  const { calls, pm } = fakeBrowser();
  pm.subscribe = () => new Promise(() => {}); // what Chromium does offline
  await assert.rejects(subscribe({ token: TOKEN, pushTimeoutMs: 20 }), (err) => {
    assert.equal(err.constructor, EvpushError);
    assert.match(err.message, /push service did not answer/);
    return true;
  });
  assert.equal(posts(calls).length, 0);
});

test('permission denied: PermissionDeniedError, no push subscription, no POST', async () => {
  const { calls } = fakeBrowser({ permission: 'denied' });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.ok(err instanceof PermissionDeniedError);
    assert.ok(err instanceof EvpushError);
    assert.equal(err.permission, 'denied');
    assert.equal(err.message, 'Permission not granted for notifications');
    return true;
  });
  assert.equal(calls.subscribe.length, 0);
  assert.equal(posts(calls).length, 0);
});

test('permission prompt dismissed ("default") is refused too', async () => {
  fakeBrowser({ permission: 'default' });
  await assert.rejects(subscribe({ token: TOKEN }), PermissionDeniedError);
});

test('unsupported browser: UnsupportedError naming what is missing, nothing called', async () => {
  const { calls } = fakeBrowser({ pushManager: false });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.ok(err instanceof UnsupportedError);
    assert.deepEqual(err.missing, ['PushManager']);
    assert.match(err.message, /Push API not supported/);
    return true;
  });
  assert.equal(calls.fetch.length, 0);
  assert.equal(calls.permissionAsked, 0);

  fakeBrowser({ serviceWorker: false, pushManager: false });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.deepEqual(err.missing, ['serviceWorker', 'PushManager']);
    assert.match(err.message, /Service Workers not supported/);
    return true;
  });
});

test('no token: AuthError before any prompt', async () => {
  const { calls } = fakeBrowser();
  await assert.rejects(subscribe({}), AuthError);
  assert.equal(calls.permissionAsked, 0);
  assert.equal(calls.fetch.length, 0);
});

test('401: AuthError with the server detail, seed-style message', async () => {
  fakeBrowser({
    routes: {
      'POST /api/v1/notifications/subscribe': () => json({ success: false, detail: 'Token has expired' }, 401, { 'WWW-Authenticate': 'Bearer' }),
    },
  });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.ok(err instanceof AuthError);
    assert.equal(err.status, 401);
    assert.equal(err.detail, 'Token has expired');
    assert.equal(err.message, 'HTTP 401: Token has expired');
    return true;
  });
});

test('422: ValidationError with the field errors', async () => {
  const errors = [{ field: 'subscription.keys.p256dh', message: 'must be a P-256 point' }];
  fakeBrowser({
    routes: {
      'POST /api/v1/notifications/subscribe': () => json({ success: false, detail: 'Invalid subscription', errors }, 422),
    },
  });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.ok(err instanceof ValidationError);
    assert.equal(err.status, 422);
    assert.equal(err.detail, 'Invalid subscription');
    assert.deepEqual(err.errors, errors);
    return true;
  });
});

test('detail falls back to message, as the seed reads errorData.detail || errorData.message', async () => {
  fakeBrowser({
    routes: { 'POST /api/v1/notifications/subscribe': () => json({ message: 'legacy message' }, 422) },
  });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.equal(err.detail, 'legacy message');
    assert.deepEqual(err.errors, []);
    return true;
  });
});

test('429: RateLimitError with retryAfter from the header', async () => {
  fakeBrowser({
    routes: {
      'POST /api/v1/notifications/test': () => json({ success: false, detail: 'Too many test notifications' }, 429, { 'Retry-After': '42' }),
    },
  });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => {
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.retryAfter, 42);
    assert.equal(err.detail, 'Too many test notifications');
    return true;
  });
});

test('429 with an HTTP-date Retry-After, and without one', async () => {
  const inOneMinute = new Date(Date.now() + 60_000).toUTCString();
  fakeBrowser({
    routes: { 'POST /api/v1/notifications/test': () => json({ detail: 'slow down' }, 429, { 'Retry-After': inOneMinute }) },
  });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => err.retryAfter > 55 && err.retryAfter <= 60);
  fakeBrowser({ routes: { 'POST /api/v1/notifications/test': () => json({ detail: 'slow down' }, 429) } });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => err.retryAfter === null);
});

test('500: ServerError with the detail; a non-JSON body still gives an error', async () => {
  fakeBrowser({
    routes: { 'POST /api/v1/notifications/subscribe': () => json({ success: false, detail: 'Internal server error' }, 500) },
  });
  await assert.rejects(subscribe({ token: TOKEN }), (err) => {
    assert.ok(err instanceof ServerError);
    assert.equal(err.status, 500);
    assert.equal(err.detail, 'Internal server error');
    return true;
  });
  fakeBrowser({
    routes: { 'POST /api/v1/notifications/test': () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }) },
  });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => err instanceof ServerError && err.status === 502 && err.detail === 'Bad Gateway');
});

test('503: ServerError carries Retry-After too', async () => {
  fakeBrowser({
    routes: { 'POST /api/v1/notifications/test': () => json({ detail: 'Service temporarily unavailable' }, 503, { 'Retry-After': '5' }) },
  });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => err instanceof ServerError && err.retryAfter === 5);
});

test('network failure: EvpushError with the cause', async () => {
  fakeBrowser();
  const cause = new TypeError('Failed to fetch');
  setGlobal('fetch', async () => { throw cause; });
  await assert.rejects(sendTest({ token: TOKEN }), (err) => {
    assert.equal(err.constructor, EvpushError);
    assert.equal(err.status, 0);
    assert.equal(err.cause, cause);
    assert.match(err.message, /Failed to fetch/);
    return true;
  });
});

// --- migrate: moving to the service's current VAPID key ---

// What subscribe() remembered for a driver who subscribed in Kyrgyz with the old key.
const REGISTERED = { token: TOKEN, userType: 'owner', locale: 'ky', baseUrl: '', endpoint: OLD_ENDPOINT };

test('migrate with the current key does nothing but read the key', async () => {
  const { calls, pm, store } = fakeBrowser({ existingKey: KEY_BYTES, stored: REGISTERED });
  const sub = pm.current;
  assert.deepEqual(await migrate(), { state: 'current' });
  assert.deepEqual(calls.log, ['GET /api/v1/notifications/vapid-public-key']);
  assert.equal(sub.unsubscribed, false);
  assert.equal(calls.workerMessages.length, 0);
  assert.deepEqual(JSON.parse(store.get('evpush')), REGISTERED);
});

test('migrate with another key: unsubscribe, subscribe with the current key, POST as before, then remove the old endpoint', async () => {
  const { calls, pm, store } = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED, language: 'en-US' });
  const old = pm.current;
  const result = await migrate();

  assert.deepEqual(result, { state: 'migrated', subscriptionId: 'sub-uuid-1' });
  assert.deepEqual(calls.log, [
    'GET /api/v1/notifications/vapid-public-key',
    `browser unsubscribe ${OLD_ENDPOINT}`,
    'browser subscribe',
    'POST /api/v1/notifications/subscribe',
    'POST /api/v1/notifications/unsubscribe',
  ]);
  assert.equal(old.unsubscribed, true);
  assert.equal(calls.permissionAsked, 0, 'no prompt');
  assert.equal(calls.subscribe[0].userVisibleOnly, true);
  assert.deepEqual(calls.subscribe[0].applicationServerKey, KEY_BYTES);

  const [register, remove] = posts(calls);
  assert.equal(register.headers.Authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(register.body, {
    subscription: pm.current.toJSON(), user_type: 'owner', locale: 'ky', application_server_key: VAPID_KEY,
  });
  assert.equal(remove.headers.Authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(remove.body, { endpoint: OLD_ENDPOINT });

  const now = { ...REGISTERED, endpoint: NEW_ENDPOINT };
  assert.deepEqual(JSON.parse(store.get('evpush')), { ...now, subscriptionId: 'sub-uuid-1' });
  assert.deepEqual(calls.workerMessages, [{ type: 'evpush:config', ...now }]);
});

test('migrate of settings an older client stored (no endpoint) removes the subscription\'s own endpoint', async () => {
  const { token, userType, locale, baseUrl } = REGISTERED;
  const { calls } = fakeBrowser({ existingKey: OTHER_KEY, stored: { token, userType, locale, baseUrl } });
  assert.equal((await migrate()).state, 'migrated');
  assert.deepEqual(posts(calls)[1].body, { endpoint: OLD_ENDPOINT });
});

test('migrate registers a subscription the worker replaced but could not post, then removes the old endpoint', async () => {
  // pushsubscriptionchange while offline: the browser holds a new subscription
  // on the current key; the server and this page still know the old endpoint.
  const { calls, pm, store } = fakeBrowser({ stored: REGISTERED });
  pm.current = new FakeSubscription(NEW_ENDPOINT, KEY_BYTES, pm);
  assert.equal((await migrate()).state, 'migrated');
  assert.deepEqual(calls.log, [
    'GET /api/v1/notifications/vapid-public-key',
    'POST /api/v1/notifications/subscribe',
    'POST /api/v1/notifications/unsubscribe',
  ]);
  assert.equal(posts(calls)[0].body.subscription.endpoint, NEW_ENDPOINT);
  assert.deepEqual(posts(calls)[1].body, { endpoint: OLD_ENDPOINT });
  assert.equal(JSON.parse(store.get('evpush')).endpoint, NEW_ENDPOINT);
});

test('migrate of current settings an older client stored (no endpoint) remembers the endpoint', async () => {
  const { endpoint, ...older } = REGISTERED;
  const { calls, store } = fakeBrowser({ existingKey: KEY_BYTES, stored: older });
  assert.deepEqual(await migrate(), { state: 'current' });
  assert.equal(posts(calls).length, 0);
  assert.deepEqual(JSON.parse(store.get('evpush')), { ...older, endpoint: OLD_ENDPOINT });
});

test('migrate takes a fresher token and another baseUrl from its options', async () => {
  const { calls } = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED });
  assert.equal((await migrate({ token: 'fresh-jwt', baseUrl: 'https://push.example' })).state, 'migrated');
  assert.deepEqual(calls.fetch.map((c) => [c.method, c.url, c.headers.Authorization]), [
    ['GET', 'https://push.example/api/v1/notifications/vapid-public-key', undefined],
    ['POST', 'https://push.example/api/v1/notifications/subscribe', 'Bearer fresh-jwt'],
    ['POST', 'https://push.example/api/v1/notifications/unsubscribe', 'Bearer fresh-jwt'],
  ]);
});

test('migrate whose POST fails keeps the old endpoint on the server, reports the error, and finishes on the next call', async () => {
  const failures = {
    503: [() => json({ success: false, detail: 'Service temporarily unavailable' }, 503, { 'Retry-After': '5' }), ServerError],
    401: [() => json({ success: false, detail: 'Token has expired' }, 401), AuthError],
    422: [() => json({ success: false, detail: 'Unknown key', errors: [{ field: 'application_server_key', message: 'unknown' }] }, 422), ValidationError],
    network: [() => { throw new TypeError('Failed to fetch'); }, EvpushError],
  };
  for (const [name, [answer, errorClass]] of Object.entries(failures)) {
    let down = true;
    const ok = () => json({ success: true, message: 'Push subscription registered successfully', subscription_id: 'sub-uuid-2' });
    const { calls, pm, store } = fakeBrowser({
      existingKey: OTHER_KEY,
      stored: REGISTERED,
      routes: { 'POST /api/v1/notifications/subscribe': () => (down ? answer() : ok()) },
    });
    await assert.rejects(migrate(), (err) => err instanceof errorClass, name);
    assert.equal(posts(calls).some((c) => c.url.endsWith('/unsubscribe')), false, `${name}: old endpoint removed`);
    assert.equal(JSON.parse(store.get('evpush')).endpoint, OLD_ENDPOINT, `${name}: old endpoint forgotten`);
    assert.equal(calls.workerMessages.length, 0, name);

    // Next page load, the server is back: the browser already holds a
    // subscription on the current key; it is registered, then the old endpoint removed.
    down = false;
    calls.log.length = 0;
    assert.deepEqual(await migrate(), { state: 'migrated', subscriptionId: 'sub-uuid-2' }, name);
    assert.deepEqual(calls.log, [
      'GET /api/v1/notifications/vapid-public-key',
      'POST /api/v1/notifications/subscribe',
      'POST /api/v1/notifications/unsubscribe',
    ], name);
    assert.equal(posts(calls).at(-2).body.subscription.endpoint, NEW_ENDPOINT);
    assert.deepEqual(posts(calls).at(-1).body, { endpoint: OLD_ENDPOINT });
    assert.equal(JSON.parse(store.get('evpush')).endpoint, NEW_ENDPOINT);
    assert.equal(pm.current.endpoint, NEW_ENDPOINT);
    assert.deepEqual(await migrate(), { state: 'current' }, name);
  }
});

test('migrate whose browser subscribe fails keeps the old endpoint and subscribes on the next call', async () => {
  const { calls, pm, store } = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED });
  const realSubscribe = pm.subscribe;
  pm.subscribe = () => Promise.reject(new DOMException('Registration failed - push service error', 'AbortError'));
  await assert.rejects(migrate(), (err) => err instanceof EvpushError && err.cause.name === 'AbortError');
  assert.equal(pm.current, null);
  assert.equal(posts(calls).length, 0);
  assert.equal(JSON.parse(store.get('evpush')).endpoint, OLD_ENDPOINT);

  pm.subscribe = realSubscribe;
  assert.equal((await migrate()).state, 'migrated');
  assert.deepEqual(posts(calls).map((c) => c.body.endpoint ?? c.body.subscription.endpoint), [NEW_ENDPOINT, OLD_ENDPOINT]);
});

test('migrate whose removal of the old endpoint fails still succeeds: the new one is stored', async () => {
  const { store } = fakeBrowser({
    existingKey: OTHER_KEY,
    stored: REGISTERED,
    routes: { 'POST /api/v1/notifications/unsubscribe': () => json({ success: false, detail: 'Internal server error' }, 500) },
  });
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal((await migrate()).state, 'migrated');
  } finally {
    console.warn = warn;
  }
  assert.equal(JSON.parse(store.get('evpush')).endpoint, NEW_ENDPOINT);
});

test('migrate without a token does nothing and says so', async () => {
  const { token, ...withoutToken } = REGISTERED;
  const { calls, pm, store } = fakeBrowser({ existingKey: OTHER_KEY, stored: withoutToken });
  const old = pm.current;
  assert.deepEqual(await migrate(), { state: 'no-token' });
  assert.equal(old.unsubscribed, false);
  assert.equal(calls.subscribe.length, 0);
  assert.equal(posts(calls).length, 0);
  assert.deepEqual(JSON.parse(store.get('evpush')), withoutToken);

  fakeBrowser({ existingKey: OTHER_KEY });
  assert.deepEqual(await migrate(), { state: 'no-token' }, 'nothing stored at all');
});

test('migrate does nothing when the user type is not remembered, or the permission is not granted', async () => {
  let browser = fakeBrowser({ existingKey: OTHER_KEY, stored: { token: TOKEN, endpoint: OLD_ENDPOINT } });
  assert.deepEqual(await migrate(), { state: 'no-settings' });
  assert.equal(browser.calls.subscribe.length, 0);

  // pushManager.subscribe() would show a prompt: a move never does.
  browser = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED, permission: 'default' });
  assert.deepEqual(await migrate(), { state: 'no-permission' });
  assert.equal(browser.calls.subscribe.length, 0);
  assert.equal(browser.calls.permissionAsked, 0);
  assert.equal(browser.pm.current.unsubscribed, false);
});

test('migrate without a subscription asks nothing of the server', async () => {
  const { calls } = fakeBrowser();
  assert.deepEqual(await migrate({ token: TOKEN }), { state: 'no-subscription' });
  assert.equal(calls.fetch.length, 0);

  fakeBrowser({ serviceWorker: false });
  assert.deepEqual(await migrate({ token: TOKEN }), { state: 'unsupported' });
});

test('status() migrates too, and reports a failed move instead of throwing', async () => {
  let browser = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED });
  const s = await status();
  assert.deepEqual(s.migration, { state: 'migrated', subscriptionId: 'sub-uuid-1' });
  assert.equal(s.subscribed, true);
  assert.deepEqual(posts(browser.calls).map((c) => c.url), ['/api/v1/notifications/subscribe', '/api/v1/notifications/unsubscribe']);

  browser = fakeBrowser({
    existingKey: OTHER_KEY,
    stored: REGISTERED,
    routes: { 'POST /api/v1/notifications/subscribe': () => json({ success: false, detail: 'Token has expired' }, 401) },
  });
  const failed = await status();
  assert.equal(failed.migration.state, 'failed');
  assert.ok(failed.migration.error instanceof AuthError);
  assert.equal(failed.migration.error.detail, 'Token has expired');
  assert.equal(posts(browser.calls).some((c) => c.url.endsWith('/unsubscribe')), false);
});

test('migrate and status at once move the subscription once', async () => {
  const { calls } = fakeBrowser({ existingKey: OTHER_KEY, stored: REGISTERED });
  const [moved, s] = await Promise.all([migrate(), status()]);
  assert.equal(moved.state, 'migrated');
  assert.equal(s.migration.state, 'current');
  assert.equal(calls.subscribe.length, 1);
  assert.equal(posts(calls).length, 2);
});

// --- unsubscribe, sendTest, status ---

test('unsubscribe posts {endpoint}, then unsubscribes locally and forgets the settings', async () => {
  const order = [];
  const { calls, pm, store } = fakeBrowser({
    existingKey: KEY_BYTES,
    routes: {
      'POST /api/v1/notifications/unsubscribe': () => {
        order.push(`server (local unsubscribed: ${pm.current === null})`);
        return json({ success: true, message: 'Push subscription removed successfully' });
      },
    },
  });
  store.set('evpush', '{}');
  const sub = pm.current;
  const origUnsubscribe = sub.unsubscribe.bind(sub);
  sub.unsubscribe = () => { order.push('local'); return origUnsubscribe(); };

  assert.equal(await unsubscribe({ token: TOKEN }), true);
  assert.deepEqual(order, ['server (local unsubscribed: false)', 'local']);
  assert.deepEqual(posts(calls).map((c) => [c.url, c.body, c.headers.Authorization]), [
    ['/api/v1/notifications/unsubscribe', { endpoint: 'https://fcm.googleapis.com/fcm/send/old-endpoint' }, `Bearer ${TOKEN}`],
  ]);
  assert.equal(sub.unsubscribed, true);
  assert.equal(store.has('evpush'), false);
  assert.deepEqual(calls.workerMessages, [{ type: 'evpush:config-clear' }]);
});

test('unsubscribe returns the server success false (unknown endpoint) and still unsubscribes locally', async () => {
  const { pm } = fakeBrowser({
    existingKey: KEY_BYTES,
    routes: { 'POST /api/v1/notifications/unsubscribe': () => json({ success: false, message: 'Push subscription not found' }) },
  });
  const sub = pm.current;
  assert.equal(await unsubscribe({ token: TOKEN }), false);
  assert.equal(sub.unsubscribed, true);
});

test('unsubscribe keeps the local subscription when the server refuses (retry after re-login)', async () => {
  const { pm } = fakeBrowser({
    existingKey: KEY_BYTES,
    routes: { 'POST /api/v1/notifications/unsubscribe': () => json({ success: false, detail: 'Invalid token' }, 401) },
  });
  const sub = pm.current;
  await assert.rejects(unsubscribe({ token: TOKEN }), AuthError);
  assert.equal(sub.unsubscribed, false);
});

test('unsubscribe without a subscription sends nothing and returns false', async () => {
  const { calls } = fakeBrowser();
  assert.equal(await unsubscribe({ token: TOKEN }), false);
  assert.equal(calls.fetch.length, 0);
});

test('sendTest posts to /test with the token and returns the report', async () => {
  const report = { success: true, sent_to: 2, failed: 1, message: 'Test notification sent to 2 device(s)' };
  const { calls } = fakeBrowser({ routes: { 'POST /api/v1/notifications/test': () => json(report) } });
  assert.deepEqual(await sendTest({ token: TOKEN, baseUrl: 'https://push.example' }), report);
  assert.equal(calls.fetch[0].url, 'https://push.example/api/v1/notifications/test');
  assert.equal(calls.fetch[0].headers.Authorization, `Bearer ${TOKEN}`);
  assert.equal(calls.fetch[0].body, undefined);
});

test('sendTest with no device returns the server report, not an error', async () => {
  const report = { success: false, sent_to: 0, message: 'No active subscriptions found' };
  fakeBrowser({ routes: { 'POST /api/v1/notifications/test': () => json(report) } });
  assert.deepEqual(await sendTest({ token: TOKEN }), report);
});

test('status shape: subscribed, not subscribed, unsupported', async () => {
  fakeBrowser({ existingKey: KEY_BYTES });
  assert.deepEqual(await status(), {
    supported: true, permission: 'granted', subscribed: true, endpoint: 'https://fcm.googleapis.com…',
    migration: { state: 'current' },
  });

  fakeBrowser({ permission: 'denied' });
  assert.deepEqual(await status(), {
    supported: true, permission: 'denied', subscribed: false, endpoint: null, migration: { state: 'no-subscription' },
  });

  fakeBrowser({ serviceWorker: false, permission: 'default' });
  assert.deepEqual(await status(), {
    supported: false, permission: 'default', subscribed: false, endpoint: null, migration: { state: 'unsupported' },
  });

  delete globalThis.Notification;
  assert.equal((await status()).permission, 'unsupported');
});

// --- devices, removeDevice, preferences, setPreferences ---

const SUBSCRIPTIONS = '/api/v1/notifications/subscriptions';
const PREFERENCES = '/api/v1/notifications/preferences';
const DEVICE = (id, extra = {}) => ({
  subscription_id: id, user_type: 'owner', locale: 'ru', device: 'Chrome on Android', push_service: 'fcm',
  created_at: '2024-05-01T10:00:00Z', last_success_at: null, failure_count: 0, ...extra,
});
const LISTED = { success: true, data: [DEVICE('sub-uuid-1'), DEVICE('sub-old-phone', { device: 'Safari on iOS', push_service: 'apple' })] };
const OWNER_PREFS = { user_type: 'owner', kinds: { new_session: false, session_completed: true }, categories: {} };
const SUBSCRIBED = { ...REGISTERED, endpoint: OLD_ENDPOINT, subscriptionId: 'sub-uuid-1' };

test('devices lists the server\'s devices and marks this browser\'s own as current', async () => {
  const { calls } = fakeBrowser({ routes: { [`GET ${SUBSCRIPTIONS}`]: () => json(LISTED) }, stored: SUBSCRIBED });
  const list = await devices({ token: 'fresh.jwt.token' });
  assert.deepEqual(list, [{ ...LISTED.data[0], current: true }, { ...LISTED.data[1], current: false }]);
  assert.equal(calls.fetch[0].headers.Authorization, 'Bearer fresh.jwt.token');
});

test('devices marks the subscription subscribe() just registered', async () => {
  fakeBrowser({ routes: { [`GET ${SUBSCRIPTIONS}`]: () => json(LISTED) } });
  await subscribe({ token: TOKEN, userType: 'owner' });
  assert.deepEqual((await devices()).map((d) => [d.subscription_id, d.current]), [['sub-uuid-1', true], ['sub-old-phone', false]]);
});

test('devices marks none current when this browser is not subscribed', async () => {
  fakeBrowser({ routes: { [`GET ${SUBSCRIPTIONS}`]: () => json(LISTED) } });
  assert.deepEqual((await devices({ token: TOKEN })).map((d) => d.current), [false, false]);
});

test('the account functions take the remembered token and baseUrl, and need one', async () => {
  const { calls } = fakeBrowser({
    routes: { [`GET ${SUBSCRIPTIONS}`]: () => json(LISTED) },
    stored: { ...SUBSCRIBED, baseUrl: 'https://push.example' },
  });
  await devices();
  assert.equal(calls.fetch[0].url, `https://push.example${SUBSCRIPTIONS}`);
  assert.equal(calls.fetch[0].headers.Authorization, `Bearer ${TOKEN}`);

  const { calls: none } = fakeBrowser();
  await assert.rejects(devices(), AuthError);
  await assert.rejects(removeDevice('sub-uuid-1'), AuthError);
  await assert.rejects(preferences(), AuthError);
  await assert.rejects(setPreferences({ kinds: { new_session: false } }), AuthError);
  assert.equal(none.fetch.length, 0);
});

test('removeDevice of another device deletes it on the server and leaves this browser subscribed', async () => {
  const { calls, pm, store } = fakeBrowser({
    existingKey: KEY_BYTES,
    stored: SUBSCRIBED,
    routes: { [`DELETE ${SUBSCRIPTIONS}/sub%2Fold`]: () => json({ success: true, message: 'Push subscription removed successfully' }) },
  });
  assert.deepEqual(await removeDevice('sub/old', { token: TOKEN }), { current: false });
  assert.deepEqual(calls.log, [`DELETE ${SUBSCRIPTIONS}/sub%2Fold`]);
  assert.equal(calls.fetch[0].headers.Authorization, `Bearer ${TOKEN}`);
  assert.equal(pm.current.unsubscribed, false);
  assert.deepEqual(JSON.parse(store.get('evpush')), SUBSCRIBED);
  assert.deepEqual(calls.workerMessages, []);
});

test('removeDevice of this browser\'s own device also unsubscribes the browser and forgets the settings', async () => {
  const { calls, pm, store } = fakeBrowser({
    existingKey: KEY_BYTES,
    stored: SUBSCRIBED,
    routes: { [`DELETE ${SUBSCRIPTIONS}/sub-uuid-1`]: () => json({ success: true, message: 'Push subscription removed successfully' }) },
  });
  const sub = pm.current;
  assert.deepEqual(await removeDevice('sub-uuid-1'), { current: true });
  assert.deepEqual(calls.log, [`DELETE ${SUBSCRIPTIONS}/sub-uuid-1`, `browser unsubscribe ${OLD_ENDPOINT}`], 'server first');
  assert.equal(sub.unsubscribed, true);
  assert.equal(store.has('evpush'), false);
  assert.deepEqual(calls.workerMessages, [{ type: 'evpush:config-clear' }]);
});

test('removeDevice of an unknown or another user\'s id: NotFoundError, and this browser stays subscribed', async () => {
  const { pm, store } = fakeBrowser({ existingKey: KEY_BYTES, stored: SUBSCRIBED }); // unrouted: 404
  const err = await removeDevice('sub-uuid-1').catch((e) => e);
  assert.ok(err instanceof NotFoundError);
  assert.ok(err instanceof ServerError, 'a ServerError still, for code that tests status 404');
  assert.equal(err.name, 'NotFoundError');
  assert.equal(err.status, 404);
  assert.equal(err.detail, 'Not found');
  assert.equal(pm.current.unsubscribed, false);
  assert.deepEqual(JSON.parse(store.get('evpush')), SUBSCRIBED);
});

test('preferences gets the user\'s preferences, for the token\'s role or the one named', async () => {
  const { calls } = fakeBrowser({ routes: { [`GET ${PREFERENCES}`]: () => json({ success: true, data: OWNER_PREFS }) } });
  assert.deepEqual(await preferences({ token: TOKEN }), OWNER_PREFS);
  assert.deepEqual(await preferences({ token: TOKEN, userType: 'owner', baseUrl: 'https://push.example' }), OWNER_PREFS);
  assert.deepEqual(calls.fetch.map((c) => `${c.method} ${c.url} ${c.headers.Authorization}`), [
    `GET ${PREFERENCES} Bearer ${TOKEN}`,
    `GET https://push.example${PREFERENCES}?user_type=owner Bearer ${TOKEN}`,
  ]);
});

test('setPreferences puts only what changes and answers all the preferences', async () => {
  const { calls } = fakeBrowser({ routes: { [`PUT ${PREFERENCES}`]: () => json({ success: true, data: OWNER_PREFS }) } });
  assert.deepEqual(await setPreferences({ userType: 'owner', kinds: { new_session: false } }, { token: TOKEN }), OWNER_PREFS);
  await setPreferences({ categories: { marketing: false } }, { token: TOKEN });
  assert.deepEqual(calls.fetch.map((c) => [c.method, c.url, c.headers.Authorization, c.body]), [
    ['PUT', PREFERENCES, `Bearer ${TOKEN}`, { user_type: 'owner', kinds: { new_session: false } }],
    ['PUT', PREFERENCES, `Bearer ${TOKEN}`, { categories: { marketing: false } }],
  ]);
});

test('the account functions map 401/403/404/422/429/5xx to the typed errors', async () => {
  const calls = {
    devices: () => devices({ token: TOKEN }),
    removeDevice: () => removeDevice('sub-x', { token: TOKEN }),
    preferences: () => preferences({ token: TOKEN, userType: 'client' }),
    setPreferences: () => setPreferences({ kinds: { foo: false } }, { token: TOKEN }),
  };
  const unknownKind = { success: false, detail: 'Invalid preferences', errors: [{ field: 'kinds.foo', message: 'unknown notification kind' }] };
  const answers = [
    [json({ success: false, detail: 'Token expired' }, 401), AuthError, {}],
    [json({ success: false, detail: 'user_type does not match the token' }, 403), ServerError, {}],
    [json({ success: false, detail: 'Push subscription not found' }, 404), NotFoundError, {}],
    [json(unknownKind, 422), ValidationError, { errors: unknownKind.errors }],
    [json({ success: false, detail: 'Slow down' }, 429, { 'Retry-After': '7' }), RateLimitError, { retryAfter: 7 }],
    [json({ success: false, detail: 'internal error' }, 500), ServerError, {}],
    [json({ success: false, detail: 'Service unavailable' }, 503, { 'Retry-After': '3' }), ServerError, { retryAfter: 3 }],
  ];
  for (const [name, call] of Object.entries(calls)) {
    for (const [response, ErrorClass, fields] of answers) {
      fakeBrowser();
      setGlobal('fetch', async () => response.clone());
      const err = await call().catch((e) => e);
      const label = `${name} ${response.status}`;
      assert.equal(err.constructor, ErrorClass, label);
      assert.equal(err.status, response.status, label);
      assert.equal(err.detail, (await response.clone().json()).detail, label);
      for (const [field, value] of Object.entries(fields)) assert.deepEqual(err[field], value, label);
    }
  }
});

test('the module imports in Node without browser globals', async () => {
  delete globalThis.navigator;
  delete globalThis.window;
  const mod = await import(`./evpush-client.js?fresh=${Date.now()}`);
  assert.equal(mod.isSupported(), false);
  assert.deepEqual(await mod.status(), {
    supported: false, permission: 'unsupported', subscribed: false, endpoint: null, migration: { state: 'unsupported' },
  });
});
