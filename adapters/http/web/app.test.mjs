// Tests of the demo page's devices list and preferences (app.js), with a
// small fake DOM built from index.html's ids and a fake fetch.
//   node --test adapters/http/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { restoreGlobalsAfterEach, setGlobal } from './fake-globals.mjs';

const HTML = readFileSync(new URL('./index.html', import.meta.url), 'utf8');
const API = '/api/v1/notifications';

restoreGlobalsAfterEach(['document', 'window', 'navigator', 'localStorage', 'fetch', 'console']);

/** A signed token for display: app.js only reads its claims. */
function jwt(claims) {
  return `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.signature`;
}
const OWNER = jwt({ sub: 'owner-1', user_type: 'owner', exp: 4102444800 });

class FakeElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.id = '';
    this.childNodes = [];
    this.dataset = {};
    this.hidden = false;
    this.disabled = false;
    this.checked = false;
    this.value = '';
    this.listeners = {};
    const classes = new Set();
    this.classList = {
      add: (...names) => names.forEach((n) => classes.add(n)),
      remove: (...names) => names.forEach((n) => classes.delete(n)),
      contains: (name) => classes.has(name),
    };
    this.classes = classes;
  }

  get className() { return [...this.classes].join(' '); }
  set className(value) { this.classes.clear(); this.classList.add(...String(value).split(/\s+/).filter(Boolean)); }
  get textContent() { return this.childNodes.map((c) => c.textContent).join(''); }
  set textContent(value) { this.childNodes = [{ textContent: String(value) }]; }
  get children() { return this.childNodes.filter((c) => c instanceof FakeElement); }

  append(...nodes) {
    for (const node of nodes) this.childNodes.push(typeof node === 'string' ? { textContent: node } : node);
  }

  replaceChildren(...nodes) {
    this.childNodes = [];
    this.append(...nodes);
  }

  addEventListener(type, listener) { (this.listeners[type] ??= []).push(listener); }

  /** Runs the listeners as a user action would, and answers what they return (run()'s promise). */
  fire(type) {
    return Promise.all((this.listeners[type] ?? []).map((l) => l({ type, target: this, currentTarget: this })));
  }

  /** Every element below this one, depth first. */
  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }
}

/**
 * A document holding one element per id of index.html (with its `value`,
 * `hidden` and `data-state`); getElementById also finds elements app.js
 * created and attached below them.
 */
function fakeDocument() {
  const roots = new Map();
  for (const [, tag, attrs] of HTML.matchAll(/<(\w+)([^>]*\sid="[^"]+"[^>]*)>/g)) {
    const el = new FakeElement(tag);
    el.id = attrs.match(/\sid="([^"]+)"/)[1];
    el.value = attrs.match(/\svalue="([^"]*)"/)?.[1] ?? (tag === 'select' ? 'client' : '');
    el.hidden = /\shidden(\s|$|=)/.test(attrs);
    const state = attrs.match(/\sdata-state="([^"]*)"/);
    if (state) el.dataset.state = state[1];
    roots.set(el.id, el);
  }
  return {
    documentElement: new FakeElement('html'),
    createElement: (tag) => new FakeElement(tag),
    createTextNode: (text) => ({ textContent: text }),
    getElementById(id) {
      if (roots.has(id)) return roots.get(id);
      for (const root of roots.values()) {
        for (const el of root.descendants()) if (el.id === id) return el;
      }
      return null;
    },
  };
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const DEVICE = (id, extra = {}) => ({
  subscription_id: id, user_type: 'owner', locale: 'en', device: 'Chrome on Android', push_service: 'fcm',
  created_at: '2024-05-01T10:00:00Z', last_success_at: '2024-05-02T08:30:00Z', failure_count: 0, ...extra,
});

/**
 * Loads a fresh copy of the page in a browser without push (so no service
 * worker starts), signed in with token when given and, when subscribed, with
 * the client script's settings remembering that subscription id. The server
 * holds `server.devices` and `server.kinds`; `server.refuse` answers the
 * PUTs with that response instead; down: every call answers 503.
 */
async function loadPage({ token, subscribed, devices = [], kinds = {}, down = false } = {}) {
  const server = { devices, kinds, refuse: null, calls: [] };
  const store = new Map();
  if (token) store.set('evpush-demo-token', token);
  if (subscribed) store.set('evpush', JSON.stringify({ token, userType: 'owner', endpoint: 'https://fcm.example/x', subscriptionId: subscribed }));
  setGlobal('localStorage', {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: (k) => store.delete(k),
  });
  setGlobal('document', fakeDocument());
  setGlobal('window', { isSecureContext: true });
  setGlobal('navigator', { userAgent: 'node', platform: 'Linux' });
  setGlobal('console', { ...console, error: () => {} }); // run() logs the errors it shows
  setGlobal('fetch', async (url, init = {}) => {
    const method = init.method ?? 'GET';
    const { pathname, search } = new URL(url, 'https://app.example');
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    server.calls.push({ method, path: pathname + search, body, auth: init.headers?.Authorization });
    if (down) return json({ success: false, detail: 'database unreachable' }, 503);
    if (method === 'GET' && pathname === `${API}/subscriptions`) return json({ success: true, data: server.devices });
    if (method === 'DELETE' && pathname.startsWith(`${API}/subscriptions/`)) {
      const id = decodeURIComponent(pathname.split('/').pop());
      server.devices = server.devices.filter((d) => d.subscription_id !== id);
      return json({ success: true, message: 'Push subscription removed successfully' });
    }
    if (pathname === `${API}/preferences` && method === 'GET') {
      return json({ success: true, data: { user_type: 'owner', kinds: server.kinds, categories: {} } });
    }
    if (pathname === `${API}/preferences` && method === 'PUT') {
      if (server.refuse) return server.refuse;
      Object.assign(server.kinds, body.kinds);
      return json({ success: true, data: { user_type: 'owner', kinds: server.kinds, categories: {} } });
    }
    return json({ success: false, detail: 'Not found' }, 404);
  });
  await import(`./app.js?page=${Math.random()}`);
  const $ = (id) => document.getElementById(id);
  await until(() => !token || $('devices').children.length > 0);
  return { $, server, store };
}

/** Waits (a few event-loop turns at most) until check() holds. */
async function until(check) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(check(), 'the page did not get there');
}

const items = ($) => $('devices').children.filter((li) => 'subscriptionId' in li.dataset);

test('signed out: no devices and no preferences, nothing asked of the server', async () => {
  const { $, server } = await loadPage();
  assert.equal($('my-devices').hidden, true);
  assert.equal($('preferences').hidden, true);
  assert.deepEqual(server.calls, []);
});

test('signed in: my devices, this one marked, each with a Remove button', async () => {
  const { $, server } = await loadPage({
    token: OWNER,
    subscribed: 'sub-here',
    devices: [DEVICE('sub-here'), DEVICE('sub-old', { device: 'Safari on iOS', push_service: 'apple', last_success_at: null })],
  });
  assert.equal($('my-devices').hidden, false);
  const [here, old] = items($);
  assert.deepEqual([here.dataset.subscriptionId, old.dataset.subscriptionId], ['sub-here', 'sub-old']);
  assert.equal(here.classList.contains('current'), true);
  assert.equal(old.classList.contains('current'), false);
  assert.match(here.textContent, /^Chrome on Android this device/);
  assert.match(old.textContent, /^Safari on iOS/);
  assert.doesNotMatch(old.textContent, /this device/);
  assert.match(old.textContent, /Apple · added .*2024.* · last delivered never/);
  for (const item of [here, old]) assert.ok(item.children.some((c) => c.classList.contains('remove')));
  assert.ok(server.calls.every((c) => c.auth === `Bearer ${OWNER}`));
});

test('Remove deletes that device and lists the others; removing this one clears the subscription shown', async () => {
  const { $, server, store } = await loadPage({
    token: OWNER, subscribed: 'sub-here', devices: [DEVICE('sub-here'), DEVICE('sub-old')],
  });
  store.set('evpush-demo-subscription-id', 'sub-here');
  $('subscription-id').textContent = 'sub-here';
  const removeButton = (li) => li.children.find((c) => c.classList.contains('remove'));

  await removeButton(items($)[1]).fire('click');
  assert.deepEqual(items($).map((li) => li.dataset.subscriptionId), ['sub-here']);
  assert.equal($('status').dataset.state, 'ok');
  assert.match($('status').textContent, /Removed Chrome on Android/);
  assert.equal($('subscription-id').textContent, 'sub-here');

  await removeButton(items($)[0]).fire('click');
  assert.deepEqual(items($), []);
  assert.match($('devices').textContent, /No device/);
  assert.match($('status').textContent, /Removed this device/);
  assert.equal($('subscription-id').textContent, '—');
  assert.equal(store.has('evpush'), false, 'the client script forgot this device');
  assert.deepEqual(server.calls.filter((c) => c.method === 'DELETE').map((c) => c.path), [
    `${API}/subscriptions/sub-old`, `${API}/subscriptions/sub-here`,
  ]);
});

test('Notifications: a checkbox per kind of the role, as the server has them', async () => {
  const { $ } = await loadPage({ token: OWNER, kinds: { new_session: false, session_completed: true } });
  await until(() => $('pref-new_session'));
  assert.equal($('preferences').hidden, false);
  assert.equal($('pref-new_session').checked, false);
  assert.equal($('pref-session_completed').checked, true);
  assert.equal($('pref-charging_started'), null, 'a driver\'s kind is not an owner\'s');
  assert.match($('preference-kinds').textContent, /New session at my station.*Session completed at my station/);
});

test('toggling a kind saves it; a refusal puts the checkbox back and shows the error in the status line', async () => {
  const { $, server } = await loadPage({ token: OWNER, kinds: { new_session: true, session_completed: true } });
  await until(() => $('pref-new_session'));
  const box = $('pref-new_session');

  box.checked = false;
  await box.fire('change');
  assert.deepEqual(server.calls.at(-1), {
    method: 'PUT', path: `${API}/preferences`, body: { user_type: 'owner', kinds: { new_session: false } }, auth: `Bearer ${OWNER}`,
  });
  assert.equal(box.checked, false);
  assert.equal($('status').dataset.state, 'ok');
  assert.match($('status').textContent, /New session at my station: notifications off/);

  server.refuse = json({ success: false, detail: 'Invalid', errors: [{ field: 'kinds.new_session', message: 'unknown notification kind' }] }, 422);
  box.checked = true;
  await box.fire('change');
  assert.equal(box.checked, false, 'put back as the server has it');
  assert.equal(box.disabled, false);
  assert.equal($('status').dataset.state, 'error');
  assert.equal($('status').dataset.error, 'ValidationError');
  assert.match($('status').textContent, /kinds\.new_session: unknown notification kind/);
});

test('a list that cannot load says so in its place, and the status line stays free', async () => {
  const { $ } = await loadPage({ token: OWNER, down: true });
  await until(() => $('preference-kinds').children.length > 0);
  for (const id of ['devices', 'preference-kinds']) {
    const [note] = $(id).children;
    assert.ok(note.classList.contains('load-error'), id);
    assert.match(note.textContent, /Could not load your .*Server error \(HTTP 503\)/, id);
  }
  assert.equal($('status').dataset.error, 'UnsupportedError', 'what the status line said before is still there');
});
