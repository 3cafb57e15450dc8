// Tests of service-worker.js: the script runs in a `vm` context whose global
// is a fake ServiceWorkerGlobalScope (self, registration, clients, caches, fetch).
//   node --test adapters/http/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('./service-worker.js', import.meta.url), 'utf8');
const ORIGIN = 'https://evpush.example';
const KEY_BYTES = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 37) % 256));
const VAPID_KEY = Buffer.from(KEY_BYTES).toString('base64url');
// The key the service is retiring, that older subscriptions were made with.
const OLD_KEY = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 11) % 256));
const KEY_PATH = '/api/v1/notifications/vapid-public-key';

// Objects made inside the vm have the vm's prototypes: compare plain copies.
const plain = (value) => JSON.parse(JSON.stringify(value));

function fakeWindow(url, { controlled = true } = {}) {
  const w = { url, type: 'window', focused: 0, messages: [], navigated: [] };
  w.focus = async () => { w.focused++; return w; };
  w.navigate = async (to) => {
    if (!controlled) throw new TypeError('not controlled');
    w.navigated.push(to);
    w.url = to;
    return w;
  };
  w.postMessage = (message) => w.messages.push(plain(message));
  return w;
}

/**
 * Loads the worker in a fresh fake scope and returns the scope and its
 * recorders. The service's current key is KEY_BYTES unless routes say
 * otherwise; log records browser subscribes and every request, in order.
 */
function loadWorker({ windows = [], config, routes = {}, pushSubscription } = {}) {
  const handlers = {};
  const shown = [];
  const opened = [];
  const fetched = [];
  const logs = [];
  const resubscribed = [];
  const log = [];
  const cacheStore = new Map();

  const scope = {
    console: { info: (...a) => logs.push(a), warn: (...a) => logs.push(a), log: () => {}, error: (...a) => logs.push(a) },
    URL, Response, atob, btoa, Uint8Array,
    location: new URL(`${ORIGIN}/service-worker.js`),
    addEventListener(type, handler) { handlers[type] = handler; },
    skipWaiting: async () => {},
    registration: {
      async showNotification(title, options) { shown.push({ title, options: plain(options) }); },
      async getNotifications({ tag }) {
        return shown.filter((n) => n.options.tag === tag).map((n) => ({
          title: n.title, tag: n.options.tag, data: n.options.data, closed: false, close() { this.closed = true; },
        }));
      },
      pushManager: {
        async subscribe(options) {
          resubscribed.push(options);
          log.push('browser subscribe');
          return pushSubscription ?? {
            endpoint: 'https://fcm.googleapis.com/fcm/send/rotated',
            options: { userVisibleOnly: true, applicationServerKey: new Uint8Array(options.applicationServerKey).buffer },
            toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: 'BNew', auth: 'newAuth' } }; },
          };
        },
      },
    },
    clients: {
      async matchAll(options) { scope.matchAllOptions = plain(options); return windows; },
      async openWindow(url) { opened.push(url); return fakeWindow(url); },
      async claim() {},
    },
    caches: {
      async open(name) {
        return {
          async match(key) { const body = cacheStore.get(`${name}|${key}`); return body === undefined ? undefined : new Response(body); },
          async put(key, response) { cacheStore.set(`${name}|${key}`, await response.text()); },
          async delete(key) { return cacheStore.delete(`${name}|${key}`); },
        };
      },
    },
    async fetch(url, init = {}) {
      const method = init.method ?? 'GET';
      fetched.push({ url, method, headers: init.headers ?? {}, body: init.body === undefined ? undefined : JSON.parse(init.body) });
      log.push(`${method} ${url}`);
      const route = routes[`${method} ${url}`];
      if (route) return route();
      if (method === 'GET' && url.endsWith(KEY_PATH)) {
        return new Response(JSON.stringify({ success: true, data: { public_key: VAPID_KEY } }));
      }
      return new Response(JSON.stringify({ success: true }), { status: 200 });
    },
  };
  scope.self = scope;
  vm.createContext(scope);
  vm.runInContext(SOURCE, scope, { filename: 'service-worker.js' });
  if (config) cacheStore.set('evpush|evpush-config', JSON.stringify(config));
  return { scope, handlers, shown, opened, fetched, logs, resubscribed, log, cacheStore };
}

/** Dispatches an extendable event and waits for everything passed to waitUntil. */
async function dispatch(handler, event) {
  const pending = [];
  handler({ ...event, waitUntil: (p) => pending.push(p) });
  await Promise.all(pending);
}

function pushData(text) {
  return { json: () => JSON.parse(text), text: () => text };
}

// The payload evpush sends for "charging started" (API.md, README "Messages").
const STARTED = {
  title: 'Зарядка началась',
  body: 'Станция st-1, разъём 1',
  icon: '/logo-192.png',
  badge: '/logo-96.png',
  tag: 'session-s-42',
  requireInteraction: false,
  actions: [{ action: 'open', title: 'Открыть' }],
  data: { type: 'charging_started', url: '/sessions/s-42', session_id: 's-42', station_id: 'st-1', connector_id: 1 },
};

test('push shows the payload of API.md and tells every window', async () => {
  const page = fakeWindow(`${ORIGIN}/`);
  const other = fakeWindow(`${ORIGIN}/sessions/s-1`);
  const sw = loadWorker({ windows: [page, other] });
  await dispatch(sw.handlers.push, { data: pushData(JSON.stringify(STARTED)) });

  assert.deepEqual(sw.shown, [{
    title: 'Зарядка началась',
    options: {
      body: 'Станция st-1, разъём 1', icon: '/logo-192.png', badge: '/logo-96.png', data: STARTED.data,
      actions: STARTED.actions, tag: 'session-s-42', requireInteraction: false,
    },
  }]);
  assert.deepEqual(sw.scope.matchAllOptions, { type: 'window', includeUncontrolled: true });
  for (const w of [page, other]) {
    assert.equal(w.messages.length, 1);
    assert.equal(w.messages[0].type, 'evpush:push');
    assert.equal(w.messages[0].payload.title, 'Зарядка началась');
    assert.equal(w.messages[0].payload.body, 'Станция st-1, разъём 1');
    assert.equal(w.messages[0].payload.tag, 'session-s-42');
    assert.deepEqual(w.messages[0].payload.data, STARTED.data);
  }
});

const DEFAULTS = {
  title: 'EvPower Notification',
  options: {
    body: 'You have a new notification', icon: '/logo-192.png', badge: '/logo-96.png', data: {},
    actions: [], tag: 'default', requireInteraction: false,
  },
};

test('push without data uses the guide\'s defaults', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.push, { data: null });
  assert.deepEqual(sw.shown, [DEFAULTS]);
});

test('push with an empty JSON object uses the guide\'s defaults', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.push, { data: pushData('{}') });
  assert.deepEqual(sw.shown, [DEFAULTS]);
});

test('push passes renotify and timestamp through to showNotification and the pages', async () => {
  const page = fakeWindow(`${ORIGIN}/`);
  const sw = loadWorker({ windows: [page] });
  const timestamp = 1741964966535;
  await dispatch(sw.handlers.push, { data: pushData(JSON.stringify({ ...STARTED, renotify: true, timestamp })) });
  assert.equal(sw.shown.length, 1);
  assert.equal(sw.shown[0].options.renotify, true);
  assert.equal(sw.shown[0].options.timestamp, timestamp);
  assert.equal(sw.shown[0].options.tag, 'session-s-42');
  assert.equal(page.messages[0].payload.renotify, true);
  assert.equal(page.messages[0].payload.timestamp, timestamp);
});

test('push drops renotify without a tag and a timestamp that is not a finite number', async () => {
  const cases = [
    // renotify on the default tag would alert for every untagged message; Chrome throws for an empty one
    { renotify: true },
    { renotify: true, tag: '' },
    { renotify: false, tag: 'session-s-42' },
    { renotify: 'true', tag: 'session-s-42' },
    { timestamp: '1741964966535' },
    { timestamp: null },
    { timestamp: -1 },
  ];
  for (const extra of cases) {
    const sw = loadWorker();
    await dispatch(sw.handlers.push, { data: pushData(JSON.stringify({ title: 'T', ...extra })) });
    assert.equal('renotify' in sw.shown[0].options, false, JSON.stringify(extra));
    assert.equal('timestamp' in sw.shown[0].options, false, JSON.stringify(extra));
  }
  // Non-finite numbers never come out of JSON: call the function directly.
  const sw = loadWorker();
  for (const timestamp of [NaN, Infinity, -Infinity]) {
    assert.equal('timestamp' in sw.scope.notificationFromPayload({ timestamp }).options, false, String(timestamp));
  }
  assert.equal(sw.scope.notificationFromPayload({ timestamp: 0 }).options.timestamp, 0);
});

test('push with a plain-text body shows it as the body', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.push, { data: pushData('Charging finished') });
  assert.equal(sw.shown[0].title, 'EvPower Notification');
  assert.equal(sw.shown[0].options.body, 'Charging finished');
});

function notification(data) {
  return { data, closed: false, close() { this.closed = true; } };
}

test('notificationclick closes the notification and opens data.url on this origin', async () => {
  const sw = loadWorker();
  const n = notification({ url: '/sessions/s-42' });
  await dispatch(sw.handlers.notificationclick, { notification: n, action: '' });
  assert.equal(n.closed, true);
  assert.deepEqual(sw.opened, [`${ORIGIN}/sessions/s-42`]);
});

test('notificationclick shows data.url in the open app window instead of a second one', async () => {
  const home = fakeWindow(`${ORIGIN}/`);
  const sw = loadWorker({ windows: [home] });
  const result = await sw.scope.handleNotificationClick(notification({ url: '/sessions/s-42' }), '');
  assert.deepEqual(plain(result), { url: `${ORIGIN}/sessions/s-42`, via: 'navigate' });
  assert.deepEqual(home.navigated, [`${ORIGIN}/sessions/s-42`]);
  assert.equal(home.focused, 1);
  assert.deepEqual(sw.opened, []);
});

test('notificationclick opens a window when the open one is not controlled by the worker', async () => {
  const sw = loadWorker({ windows: [fakeWindow(`${ORIGIN}/`, { controlled: false })] });
  const result = await sw.scope.handleNotificationClick(notification({ url: '/sessions/s-42' }), '');
  assert.deepEqual(plain(result), { url: `${ORIGIN}/sessions/s-42`, via: 'open' });
  assert.deepEqual(sw.opened, [`${ORIGIN}/sessions/s-42`]);
});

test('notificationclick focuses a window already showing the URL instead of opening one', async () => {
  const home = fakeWindow(`${ORIGIN}/`);
  const session = fakeWindow(`${ORIGIN}/sessions/s-42`);
  const sw = loadWorker({ windows: [home, session] });
  const result = await sw.scope.handleNotificationClick(notification({ url: `${ORIGIN}/sessions/s-42` }), 'open');
  assert.deepEqual(plain(result), { url: `${ORIGIN}/sessions/s-42`, via: 'focus' });
  assert.equal(session.focused, 1);
  assert.equal(home.focused, 0);
  assert.deepEqual(sw.opened, []);
});

test('notificationclick on an action button does exactly what a click on the body does', async () => {
  // Each scenario runs twice, in a fresh worker: once on the body (action ''), once on the 'open' button.
  const scenarios = {
    open: () => [],
    navigate: () => [fakeWindow(`${ORIGIN}/`)],
    focus: () => [fakeWindow(`${ORIGIN}/`), fakeWindow(`${ORIGIN}/sessions/s-42`)],
    'open (uncontrolled window)': () => [fakeWindow(`${ORIGIN}/`, { controlled: false })],
  };
  for (const [name, makeWindows] of Object.entries(scenarios)) {
    const runs = {};
    for (const action of ['', 'open']) {
      const windows = makeWindows();
      const sw = loadWorker({ windows });
      const n = notification({ url: '/sessions/s-42' });
      let result;
      const realHandle = sw.scope.handleNotificationClick;
      sw.scope.handleNotificationClick = (...args) => (result = realHandle(...args));
      await dispatch(sw.handlers.notificationclick, { notification: n, action });
      runs[action] = {
        result: plain(await result),
        closed: n.closed,
        opened: sw.opened,
        windows: windows.map((w) => ({ url: w.url, focused: w.focused, navigated: w.navigated })),
      };
    }
    assert.equal(runs[''].closed, true, name);
    assert.deepEqual(runs.open, runs[''], name);
  }
});

test('notificationclick without a URL opens the home page', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.notificationclick, { notification: notification({}), action: '' });
  await dispatch(sw.handlers.notificationclick, { notification: notification(undefined), action: '' });
  assert.deepEqual(sw.opened, [`${ORIGIN}/`, `${ORIGIN}/`]);
});

test('notificationclick refuses another origin and opens / instead', async () => {
  const sw = loadWorker();
  for (const url of ['https://evil.example/phish', '//evil.example/x', 'javascript:alert(1)', 'http://evpush.example/']) {
    await dispatch(sw.handlers.notificationclick, { notification: notification({ url }), action: '' });
  }
  assert.deepEqual(sw.opened, Array(4).fill(`${ORIGIN}/`));
});

test('notificationclick reports a refused openWindow instead of failing', async () => {
  const sw = loadWorker();
  sw.scope.clients.openWindow = async () => {
    throw Object.assign(new Error('Not allowed to open a window.'), { name: 'InvalidAccessError' });
  };
  const result = await sw.scope.handleNotificationClick(notification({ url: '/x' }), '');
  assert.deepEqual(plain(result), {
    url: `${ORIGIN}/x`, via: 'open', error: 'InvalidAccessError: Not allowed to open a window.',
  });
});

test('test hook evpush:test-click runs the click handler on the notification with that tag', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.push, { data: pushData(JSON.stringify(STARTED)) });
  const replies = [];
  const port = { postMessage: (m) => replies.push(plain(m)) };
  await dispatch(sw.handlers.message, { data: { type: 'evpush:test-click', tag: 'session-s-42' }, ports: [port] });
  assert.deepEqual(replies, [{ ok: true, action: '', url: `${ORIGIN}/sessions/s-42`, via: 'open' }]);
  assert.deepEqual(sw.opened, [`${ORIGIN}/sessions/s-42`]);

  // no such tag; reply through event.source when no port is given
  const source = fakeWindow(`${ORIGIN}/`);
  await dispatch(sw.handlers.message, { data: { type: 'evpush:test-click', tag: 'nope' }, ports: [], source });
  assert.equal(source.messages.length, 1);
  assert.equal(source.messages[0].ok, false);
});

test('test hook evpush:test-click with an action clicks that button, like the body', async () => {
  const home = fakeWindow(`${ORIGIN}/`);
  const sw = loadWorker({ windows: [home] });
  await dispatch(sw.handlers.push, { data: pushData(JSON.stringify(STARTED)) });
  const seen = [];
  const realHandle = sw.scope.handleNotificationClick;
  sw.scope.handleNotificationClick = (n, action) => { seen.push(action); return realHandle(n, action); };
  const replies = [];
  const port = { postMessage: (m) => replies.push(plain(m)) };
  await dispatch(sw.handlers.message, { data: { type: 'evpush:test-click', tag: 'session-s-42', action: 'open' }, ports: [port] });
  assert.deepEqual(seen, ['open']);
  assert.deepEqual(replies, [{ ok: true, action: 'open', url: `${ORIGIN}/sessions/s-42`, via: 'navigate' }]);
  assert.deepEqual(home.navigated, [`${ORIGIN}/sessions/s-42`]);
  assert.equal(home.focused, 1);
  assert.deepEqual(sw.opened, []);
});

function oldSubscription(endpoint = 'https://fcm.googleapis.com/fcm/send/old', key = OLD_KEY) {
  return { endpoint, options: { applicationServerKey: key.buffer } };
}

/** A subscription the browser hands over as event.newSubscription, made with key. */
function browserSubscription(endpoint, key, log = []) {
  return {
    endpoint,
    options: { userVisibleOnly: true, applicationServerKey: key.buffer },
    unsubscribed: false,
    async unsubscribe() { this.unsubscribed = true; log.push(`browser unsubscribe ${endpoint}`); return true; },
    toJSON() { return { endpoint: this.endpoint, keys: { p256dh: 'BFresh', auth: 'freshAuth' } }; },
  };
}

const ROTATED = { endpoint: 'https://fcm.googleapis.com/fcm/send/rotated', expirationTime: null, keys: { p256dh: 'BNew', auth: 'newAuth' } };
const storedConfig = (sw) => JSON.parse(sw.cacheStore.get('evpush|evpush-config'));

test('evpush:config is stored in Cache Storage and evpush:config-clear removes it', async () => {
  const sw = loadWorker();
  const acks = [];
  const config = { token: 'jwt', userType: 'owner', locale: 'en', baseUrl: '', endpoint: 'https://fcm.googleapis.com/fcm/send/e1' };
  await dispatch(sw.handlers.message, {
    data: { type: 'evpush:config', ...config },
    ports: [{ postMessage: (m) => acks.push(plain(m)) }],
  });
  assert.deepEqual(storedConfig(sw), config);
  assert.deepEqual(acks, [{ ok: true }]);
  await dispatch(sw.handlers.message, { data: { type: 'evpush:config-clear' }, ports: [] });
  assert.equal(sw.cacheStore.has('evpush|evpush-config'), false);
});

test('pushsubscriptionchange without newSubscription subscribes with the current key, posts, then removes the old endpoint', async () => {
  const sw = loadWorker({ config: { token: 'stored-jwt', userType: 'owner', locale: 'ky', baseUrl: '' } });
  await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: oldSubscription(), newSubscription: null });

  assert.equal(sw.resubscribed.length, 1);
  assert.equal(sw.resubscribed[0].userVisibleOnly, true);
  assert.deepEqual([...sw.resubscribed[0].applicationServerKey], [...KEY_BYTES], 'the current key, not the old one');
  assert.deepEqual(sw.log, [
    `GET ${KEY_PATH}`,
    'browser subscribe',
    'POST /api/v1/notifications/subscribe',
    'POST /api/v1/notifications/unsubscribe',
  ]);
  const [, register, remove] = sw.fetched;
  assert.equal(register.headers.Authorization, 'Bearer stored-jwt');
  assert.deepEqual(register.body, { subscription: ROTATED, user_type: 'owner', locale: 'ky', application_server_key: VAPID_KEY });
  assert.equal(remove.headers.Authorization, 'Bearer stored-jwt');
  assert.deepEqual(remove.body, { endpoint: 'https://fcm.googleapis.com/fcm/send/old' });
  assert.equal(storedConfig(sw).endpoint, ROTATED.endpoint);
});

test('pushsubscriptionchange with neither subscription fetches the key from baseUrl and removes the remembered endpoint', async () => {
  const base = 'https://api.example';
  const sw = loadWorker({
    config: { token: 'stored-jwt', userType: 'client', locale: null, baseUrl: base, endpoint: 'https://fcm.googleapis.com/fcm/send/remembered' },
  });
  await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: null, newSubscription: null });
  assert.deepEqual([...sw.resubscribed[0].applicationServerKey], [...KEY_BYTES]);
  assert.deepEqual(sw.fetched.map((f) => `${f.method} ${f.url}`), [
    `GET ${base}${KEY_PATH}`,
    `POST ${base}/api/v1/notifications/subscribe`,
    `POST ${base}/api/v1/notifications/unsubscribe`,
  ]);
  assert.equal(sw.fetched[1].body.user_type, 'client');
  assert.equal(sw.fetched[1].body.application_server_key, VAPID_KEY);
  assert.equal('locale' in sw.fetched[1].body, false);
  assert.deepEqual(sw.fetched[2].body, { endpoint: 'https://fcm.googleapis.com/fcm/send/remembered' });
});

test('pushsubscriptionchange uses the browser\'s newSubscription when it has the current key', async () => {
  const sw = loadWorker({ config: { token: 't', userType: 'client', baseUrl: '' } });
  const fresh = browserSubscription('https://updates.push.services.mozilla.com/wpush/v2/new', KEY_BYTES);
  await dispatch(sw.handlers.pushsubscriptionchange, {
    oldSubscription: oldSubscription('https://updates.push.services.mozilla.com/wpush/v2/old', KEY_BYTES), newSubscription: fresh,
  });
  assert.equal(sw.resubscribed.length, 0);
  assert.equal(fresh.unsubscribed, false);
  assert.deepEqual(sw.fetched.map((f) => [f.method, f.url, f.body]), [
    ['GET', KEY_PATH, undefined],
    ['POST', '/api/v1/notifications/subscribe', {
      subscription: fresh.toJSON(), user_type: 'client', application_server_key: VAPID_KEY,
    }],
    ['POST', '/api/v1/notifications/unsubscribe', { endpoint: 'https://updates.push.services.mozilla.com/wpush/v2/old' }],
  ]);
});

test('pushsubscriptionchange replaces a newSubscription made with the retiring key', async () => {
  const sw = loadWorker({ config: { token: 't', userType: 'client', baseUrl: '' } });
  const fresh = browserSubscription('https://updates.push.services.mozilla.com/wpush/v2/new', OLD_KEY, sw.log);
  await dispatch(sw.handlers.pushsubscriptionchange, {
    oldSubscription: oldSubscription('https://updates.push.services.mozilla.com/wpush/v2/old'), newSubscription: fresh,
  });
  assert.deepEqual(sw.log, [
    `GET ${KEY_PATH}`,
    'browser unsubscribe https://updates.push.services.mozilla.com/wpush/v2/new',
    'browser subscribe',
    'POST /api/v1/notifications/subscribe',
    'POST /api/v1/notifications/unsubscribe',
  ]);
  assert.deepEqual([...sw.resubscribed[0].applicationServerKey], [...KEY_BYTES]);
  assert.equal(sw.fetched[1].body.subscription.endpoint, ROTATED.endpoint);
  assert.equal(sw.fetched[1].body.application_server_key, VAPID_KEY);
  assert.deepEqual(sw.fetched[2].body, { endpoint: 'https://updates.push.services.mozilla.com/wpush/v2/old' });
});

test('pushsubscriptionchange with no stored token re-subscribes but posts nothing', async () => {
  const sw = loadWorker();
  await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: oldSubscription(), newSubscription: null });
  assert.equal(sw.resubscribed.length, 1);
  assert.deepEqual(sw.fetched.map((f) => f.method), ['GET'], 'only the public key');
});

test('pushsubscriptionchange whose POST fails keeps the old endpoint on the server, with or without newSubscription', async () => {
  const answers = {
    401: () => new Response('{"detail":"Token has expired"}', { status: 401 }),
    503: () => new Response('{"detail":"Service temporarily unavailable"}', { status: 503 }),
    network: () => { throw new TypeError('Failed to fetch'); },
  };
  for (const [name, answer] of Object.entries(answers)) {
    for (const withNew of [false, true]) {
      const config = { token: 'jwt', userType: 'client', baseUrl: '', endpoint: 'https://fcm.googleapis.com/fcm/send/old' };
      const sw = loadWorker({ config, routes: { 'POST /api/v1/notifications/subscribe': answer } });
      const newSubscription = withNew ? browserSubscription('https://fcm.googleapis.com/fcm/send/new', KEY_BYTES) : null;
      await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: oldSubscription(), newSubscription });
      const label = `${name}, newSubscription: ${withNew}`;
      assert.deepEqual(sw.fetched.map((f) => `${f.method} ${f.url}`), [
        `GET ${KEY_PATH}`, 'POST /api/v1/notifications/subscribe',
      ], `${label}: no unsubscribe of the old endpoint after a failed subscribe`);
      assert.deepEqual(storedConfig(sw), config, label);
      assert.ok(sw.logs.some((line) => String(line[0]).includes('pushsubscriptionchange failed')), label);
    }
  }
});

test('pushsubscriptionchange whose key fetch fails subscribes and posts nothing', async () => {
  const sw = loadWorker({
    config: { token: 'jwt', userType: 'client', baseUrl: '' },
    routes: { [`GET ${KEY_PATH}`]: () => new Response('{}', { status: 503 }) },
  });
  await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: oldSubscription(), newSubscription: null });
  assert.equal(sw.resubscribed.length, 0);
  assert.deepEqual(sw.fetched.map((f) => f.method), ['GET']);
  assert.ok(sw.logs.some((line) => String(line[0]).includes('pushsubscriptionchange failed')));
});

test('pushsubscriptionchange whose removal of the old endpoint fails still keeps the new one', async () => {
  const sw = loadWorker({
    config: { token: 'jwt', userType: 'client', baseUrl: '' },
    routes: { 'POST /api/v1/notifications/unsubscribe': () => new Response('{}', { status: 500 }) },
  });
  await dispatch(sw.handlers.pushsubscriptionchange, { oldSubscription: oldSubscription(), newSubscription: null });
  assert.equal(storedConfig(sw).endpoint, ROTATED.endpoint);
  assert.equal(sw.logs.some((line) => String(line[0]).includes('pushsubscriptionchange failed')), false);
});

test('install skips waiting and activate claims the clients', async () => {
  const sw = loadWorker();
  let skipped = false;
  let claimed = false;
  sw.scope.skipWaiting = async () => { skipped = true; };
  sw.scope.clients.claim = async () => { claimed = true; };
  await dispatch(sw.handlers.install, {});
  await dispatch(sw.handlers.activate, {});
  assert.equal(skipped, true);
  assert.equal(claimed, true);
});
